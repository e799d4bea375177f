import { PlumError } from '../errors.ts';
import { validateHostTimeout, validateNmapArgs } from '../nmap-args.ts';
import { withCustomScripts, type CustomScriptRef } from '../nmap/custom-scripts.ts';
import type { ScriptDb } from '../nmap/script-db.ts';
import { enforceScriptPolicy, isProjectScript, parseScriptList } from '../profiles.ts';

/*
 * What a job handed to a predecessor agent may ask of its nmap: the same
 * checks as Plum's own runner applies before starting nmap (activities/nmap.ts
 * buildArgs), since the agent runs whatever it is given. The options travel as
 * the agent's `nmap_additional_params`: one string the agent splits like a
 * POSIX shell (shlex) without running one, overriding its own defaults of
 * the same name; it refuses more than 4096 characters.
 */

/** The predecessor agent's own --host-timeout (docs/migration.md, "Agents"): sent only when the profile differs. */
const AGENT_HOST_TIMEOUT = '40s';
const AGENT_PARAMS_MAX = 4096;

export interface LegacyJobInput {
  scripts: readonly string[];
  allowScripts?: readonly string[];
  customScripts?: readonly CustomScriptRef[];
  extraArgs: readonly string[];
  hostTimeout?: string;
}

/**
 * Python's shlex.quote: plain tokens as they are (validated options are almost always plain), others in
 * single quotes. shell-quote's backslash escapes (`--a\=b`) would look like shell syntax to the agent's checks.
 */
const shlexQuote = (t: string) => (/^[\w@%+=:,./-]+$/.test(t) ? t : `'${t.replace(/'/g, `'"'"'`)}'`);

/**
 * Checks a job's scripts and options (throws PlumError like the runner) and returns its
 * `nmap_additional_params`. nmap's catalogue is read only for stock script names: a server whose
 * agents do the scanning may have no nmap, and jobs with only Plum's or custom scripts need none.
 */
export function legacyJobParams(job: LegacyJobInput, catalogue: () => ScriptDb): string {
  const scripts = parseScriptList([...job.scripts]);
  const custom = new Set((job.customScripts ?? []).map((c) => c.name));
  const stock = scripts.filter((s) => !isProjectScript(s) && !custom.has(s));
  enforceScriptPolicy(scripts, job.allowScripts ?? [], withCustomScripts(stock.length ? catalogue() : new Map(), job.customScripts));
  const tokens = validateNmapArgs([...job.extraArgs]);
  const hostTimeout = validateHostTimeout(job.hostTimeout ?? AGENT_HOST_TIMEOUT);
  const setsTimeout = tokens.some((t) => /^--?host-timeout(=|$)/.test(t));
  const all = hostTimeout !== AGENT_HOST_TIMEOUT && !setsTimeout ? ['--host-timeout', hostTimeout, ...tokens] : tokens;
  const params = all.map(shlexQuote).join(' ');
  if (params.length > AGENT_PARAMS_MAX) {
    throw new PlumError('unsafe_argument', `the job's nmap options are ${params.length} characters; predecessor agents accept at most ${AGENT_PARAMS_MAX}`, {
      hint: "shorten the profile's --nmap-args",
    });
  }
  return params;
}
