import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { PlumError } from './errors.ts';
import { isDuration, parseDuration } from './duration.ts';
import { parseNmapArgs, validateHostTimeout, validateNmapArgs } from './nmap-args.ts';
import { NMAP_SCRIPT_CATEGORIES, installedScriptDb, judgeScripts, type ScriptDb } from './nmap/script-db.ts';
import { parseQuery } from './query/parse.ts';
import { parseLabel } from './targets.ts';

/**
 * Scan profiles: what to scan and how often. One zod schema validates what a
 * user types (CLI, API) and what is stored; everything is normalised here so
 * the planner and the runner receive clean values.
 */

// ---- ports ---------------------------------------------------------------

export interface PortRange {
  from: number;
  to: number;
}

/**
 * Parses `22,80,443,8000-8100` into sorted, merged ranges: what a user may give a profile, so strict (ports
 * 1-65535, bounded ranges, no protocol prefix). nmap's own port lists, read back from its XML, have a wider
 * grammar (`T:`/`U:` prefixes, open ranges, port 0): core/coverage.ts parsePortSpec reads those.
 */
export function parsePortList(text: string, what = 'ports'): PortRange[] {
  const src = String(text ?? '').trim();
  if (!src) throw new PlumError('invalid_input', `empty ${what} list`, { hint: 'give ports like 22,80,443 or 8000-8100' });
  const ranges: PortRange[] = [];
  for (const raw of src.split(',')) {
    const part = raw.trim();
    const m = part.match(/^(\d{1,5})(?:-(\d{1,5}))?$/);
    if (!m) {
      throw new PlumError('invalid_input', `invalid ${what} "${part}" in "${src}"`, {
        hint: 'give ports as numbers 1-65535 or ranges a-b, separated by commas',
      });
    }
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from < 1 || to > 65535 || from > 65535) {
      throw new PlumError('invalid_input', `port ${from > 65535 || from < 1 ? from : to} out of range in ${what} "${src}"`, {
        hint: 'ports go from 1 to 65535',
      });
    }
    if (to < from) throw new PlumError('invalid_input', `port range ${part} ends before it starts`, { hint: `did you mean ${to}-${from}?` });
    ranges.push({ from, to });
  }
  ranges.sort((a, b) => a.from - b.from);
  const merged: PortRange[] = [];
  for (const r of ranges) {
    const prev = merged[merged.length - 1];
    if (prev && r.from <= prev.to + 1) prev.to = Math.max(prev.to, r.to);
    else merged.push({ ...r });
  }
  return merged;
}

export function formatPortList(ranges: PortRange[]): string {
  return ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(',');
}

export function countPorts(text: string | undefined): number {
  if (!text) return 0;
  return parsePortList(text).reduce((n, r) => n + r.to - r.from + 1, 0);
}

/** Normalised port list text (sorted, merged). */
export function normalisePortList(text: string, what = 'ports'): string {
  return formatPortList(parsePortList(text, what));
}

// ---- scripts -------------------------------------------------------------

/** NSE script names: stock names (`http-title`) or the project's (`plum-favicon`); never paths or categories expressions. */
const SCRIPT_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
/** The project's own NSE scripts, shipped in nse/. */
export const PROJECT_SCRIPTS = ['plum-banner', 'plum-favicon'] as const;

/** nmap script categories: they expand to many scripts (some intrusive), so profiles name scripts one by one. */
const SCRIPT_CATEGORIES = new Set(['all', ...NMAP_SCRIPT_CATEGORIES]);

export function isProjectScript(name: string): boolean {
  return (PROJECT_SCRIPTS as readonly string[]).includes(name);
}

export function parseScriptList(input: string | string[] | undefined): string[] {
  const items = (Array.isArray(input) ? input : String(input ?? '').split(',')).map((s) => s.trim().replace(/\.nse$/, '')).filter((s) => s !== '');
  const out: string[] = [];
  for (const s of items) {
    if (!SCRIPT_NAME.test(s) || s.includes('..')) {
      throw new PlumError('invalid_input', `invalid NSE script name "${s}"`, {
        hint: 'give stock nmap script names (http-title), project scripts (plum-banner, plum-favicon) or custom ones (plum nse list), comma-separated',
      });
    }
    if (SCRIPT_CATEGORIES.has(s)) {
      throw new PlumError('invalid_input', `"${s}" is an nmap script category, not a script`, {
        hint: 'name the scripts one by one, e.g. http-title,ssl-cert',
      });
    }
    if (s.startsWith('plum-') && !isProjectScript(s)) {
      throw new PlumError('invalid_input', `unknown project script "${s}"`, { hint: `project scripts are ${PROJECT_SCRIPTS.join(', ')}` });
    }
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

/**
 * Refuses scripts the installed nmap does not know, and scripts in a refused
 * category (broadcast, external, dos, exploit, brute, intrusive) that an admin
 * did not allow by name. Runs where scripts enter (profile save, investigations)
 * and, for known-ness, in the runner; not when a stored profile is read, so a
 * server without nmap can still list profiles. Custom scripts (`plum nse add`)
 * are judged by the categories they declare: pass `db` with them added
 * (core/nmap/custom-scripts.ts withCustomScripts).
 */
export function enforceScriptPolicy(scripts: readonly string[], allowed: readonly string[] = [], db?: ScriptDb): void {
  const judged = scripts.filter((s) => !isProjectScript(s));
  // nmap's catalogue is read only when there is a script to judge: a server without nmap (distributed
  // mode: nmap runs on the agents) still saves profiles without scripts or with Plum's own.
  if (judged.length === 0) return;
  const verdict = judgeScripts(judged, db ?? installedScriptDb(), allowed);
  if (verdict.ok) return;
  if (verdict.unknown) {
    throw new PlumError('invalid_input', `unknown NSE script "${verdict.script}": it ${verdict.reason}`, {
      hint: 'check the name against `nmap --script-help NAME` or `plum nse list`; project scripts are plum-banner, plum-favicon',
    });
  }
  throw new PlumError('unsafe_argument', `refused NSE script "${verdict.script}": it ${verdict.reason}`, {
    hint: 'scripts that broadcast, contact third parties or attack targets need an admin: plum profile add ... --allow-script NAME',
    details: { script: verdict.script },
  });
}

// ---- cycle ---------------------------------------------------------------

export type Cycle = { kind: 'interval'; ms: number; text: string } | { kind: 'cron'; expression: string; text: string };

const MIN_CYCLE_MS = 5 * 60_000;

/**
 * The shortest time between two firings of a 5-field cron expression. Minute and hour fields repeat
 * daily, so two days of firings (at most 2,880) hold the shortest gap, the wrap at midnight included.
 */
function shortestCronGapMs(expression: string): number {
  const it = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: new Date(Date.UTC(2026, 0, 1)) });
  let prev = it.next().getTime();
  let shortest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 2880 && it.hasNext(); i++) {
    const t = it.next().getTime();
    shortest = Math.min(shortest, t - prev);
    if (shortest < MIN_CYCLE_MS) break;
    prev = t;
  }
  return shortest;
}

/** `12h`, `30m`, `7d`, `2w`, or a 5-field cron expression (UTC) firing at most every 5 minutes. */
export function parseCycle(text: string): Cycle {
  const src = String(text ?? '').trim();
  if (isDuration(src)) {
    const ms = parseDuration(src, 'cycle');
    if (ms < MIN_CYCLE_MS) throw new PlumError('invalid_input', `cycle "${src}" is shorter than 5 minutes`, { hint: 'use at least 5m' });
    return { kind: 'interval', ms, text: src.replace(/\s+/g, '').toLowerCase() };
  }
  const fields = src.split(/\s+/).length;
  if (fields > 5) {
    throw new PlumError('invalid_input', `cron expression "${src}" has ${fields} fields`, {
      hint: 'use 5 fields: minute hour day-of-month month day-of-week, e.g. "0 3 * * *" (no seconds field)',
    });
  }
  if (fields === 5) {
    let gap: number;
    try {
      gap = shortestCronGapMs(src);
    } catch (e) {
      throw new PlumError('invalid_input', `invalid cron expression "${src}": ${(e as Error).message}`, {
        hint: 'use 5 fields: minute hour day-of-month month day-of-week, e.g. "0 3 * * *"',
      });
    }
    // The same floor as a duration: a cron firing every minute is as much load as a 1m cycle.
    if (gap < MIN_CYCLE_MS) {
      throw new PlumError('invalid_input', `cron expression "${src}" fires ${gap / 60_000} minute${gap === 60_000 ? '' : 's'} apart`, {
        hint: 'scans may start at most every 5 minutes, e.g. "*/5 * * * *"',
      });
    }
    return { kind: 'cron', expression: src, text: src };
  }
  throw new PlumError('invalid_input', `invalid cycle "${src}"`, {
    hint: 'use a duration like 12h, 7d, 30m, 2w or a cron expression like "0 3 * * *"',
  });
}

/** When a profile is next due, given its last start (or never). */
export function nextDue(cycle: Cycle | string, lastStart: Date | null, now = new Date()): Date {
  const c = typeof cycle === 'string' ? parseCycle(cycle) : cycle;
  if (c.kind === 'interval') return lastStart ? new Date(lastStart.getTime() + c.ms) : now;
  const from = lastStart ?? new Date(now.getTime() - 1);
  return CronExpressionParser.parse(c.expression, { tz: 'UTC', currentDate: from }).next().toDate();
}

/** Approximate cycle length in ms (for cron: the gap between the next two occurrences). */
export function cycleMs(cycle: Cycle | string, now = new Date()): number {
  const c = typeof cycle === 'string' ? parseCycle(cycle) : cycle;
  if (c.kind === 'interval') return c.ms;
  const it = CronExpressionParser.parse(c.expression, { tz: 'UTC', currentDate: now });
  const a = it.next().getTime();
  const b = it.next().getTime();
  return b - a;
}

// ---- profile schema ------------------------------------------------------

export type TargetSelection = 'all' | `label:${string}`;

export function parseTargetSelection(text: string): TargetSelection {
  const src = String(text ?? '')
    .trim()
    .toLowerCase();
  if (src === 'all' || src === '') return 'all';
  const m = src.match(/^label:(.+)$/);
  if (!m) throw new PlumError('invalid_input', `invalid target selection "${text}"`, { hint: 'use all or label:NAME' });
  return `label:${parseLabel(m[1]!)}`;
}

/** Wraps a PlumError thrown by a parser into a zod issue so one schema reports everything. */
function refineWith<I, T>(fn: (v: I) => T) {
  return (v: I, ctx: z.RefinementCtx): T => {
    try {
      return fn(v);
    } catch (e) {
      ctx.addIssue({
        code: 'custom',
        message: e instanceof Error ? e.message : String(e),
        ...(e instanceof PlumError && e.hint ? { params: { hint: e.hint } } : {}),
      });
      return z.NEVER;
    }
  };
}

/**
 * A trigger query (the language of `plum search`): checked with the real parser so a typo is refused when the
 * profile is saved (its position in the message), not discovered at the first ingest.
 */
export function parseTrigger(text: string | null | undefined): string | undefined {
  if (text === undefined || text === null || text.trim() === '') return undefined;
  parseQuery(text);
  return text.trim();
}
/** Fastest scouting rate a profile may ask for; each scanner also has its own maximum (PLUM_MASSCAN_MAX_RATE). */
export const MAX_SCOUT_RATE = 10_000_000;

export const scoutingSchema = z
  .object({
    rate: z.coerce
      .number()
      .int('the scouting rate must be a whole number of packets a second')
      .min(1, 'the scouting rate is at least 1 packet a second')
      .max(MAX_SCOUT_RATE, `the scouting rate is at most ${MAX_SCOUT_RATE} packets a second`),
  })
  .strict();
export type Scouting = z.output<typeof scoutingSchema>;

export const PROFILE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** The scanners a profile may choose. */
export const PROFILE_SCANNERS = ['nmap', 'sslscan'] as const;
export type ProfileScanner = (typeof PROFILE_SCANNERS)[number];

function parseScanner(name: string): ProfileScanner {
  if ((PROFILE_SCANNERS as readonly string[]).includes(name)) return name as ProfileScanner;
  throw new PlumError('invalid_input', `unknown scanner "${name}"`, { hint: `use ${PROFILE_SCANNERS.join(' or ')}` });
}

/** What only nmap takes: refused on a TLS profile, with the field named. */
function checkScanner(p: z.output<typeof profileInputSchema>): void {
  if (p.scanner !== 'sslscan') return;
  const bad = (
    [
      ['scripts', p.scripts.length > 0],
      ['allowScripts', p.allowScripts.length > 0],
      ['nmapArgs', p.nmapArgs.length > 0],
      ['udpPorts', Boolean(p.udpPorts)],
    ] as const
  )
    .filter(([, set]) => set)
    .map(([name]) => name);
  if (bad.length === 0) return;
  throw new PlumError('invalid_input', `invalid profile ${bad[0]}: a TLS profile (scanner sslscan) takes no ${bad.join(', ')}`, {
    hint: 'drop them, or use scanner nmap (the ssl-cert and ssl-enum-ciphers scripts) for this profile',
    details: { field: bad[0] },
  });
}

/** What a user gives (CLI flags, API body, stored row). Lists may be comma text or arrays. */
export const profileInputSchema = z.object({
  name: z.string().trim().toLowerCase().regex(PROFILE_NAME, 'use 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit'),
  description: z.string().trim().max(500).optional(),
  /** Empty only on a trigger profile (its runs scan the port of each finding); parseProfile requires ports otherwise. */
  tcpPorts: z
    .string()
    .default('')
    .transform(refineWith((v) => (v === '' ? '' : normalisePortList(v, 'TCP ports')))),
  udpPorts: z
    .string()
    .optional()
    .nullable()
    .transform(
      refineWith((v: string | null | undefined) => (v === undefined || v === null || v.trim() === '' ? undefined : normalisePortList(v, 'UDP ports'))),
    ),
  scripts: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform(refineWith(parseScriptList)),
  /** Scripts of refused categories an admin allowed for this profile (by name). */
  allowScripts: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform(refineWith(parseScriptList)),
  nmapArgs: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform(refineWith((v: string | string[] | undefined) => (Array.isArray(v) ? validateNmapArgs(v) : parseNmapArgs(v)))),
  every: z
    .string()
    .default('12h')
    .transform(refineWith((x: string) => parseCycle(x).text)),
  priority: z.coerce.number().int('priority must be a whole number').min(0, 'priority goes from 0 to 4').max(4, 'priority goes from 0 to 4').default(2),
  targets: z.string().default('all').transform(refineWith(parseTargetSelection)),
  hostTimeout: z.string().trim().default('40s').transform(refineWith(validateHostTimeout)),
  /** The scanner that runs the profile (core/scanner/contract.ts): nmap, or sslscan, the TLS scanner. */
  scanner: z.string().trim().toLowerCase().default('nmap').transform(refineWith(parseScanner)),
  /**
   * A trigger profile scans what its query newly matches after each ingest (store/triggers.ts), instead of
   * targets on a cycle: it has no schedule, no target selection and no ports of its own.
   */
  trigger: z.string().max(2000).optional().nullable().transform(refineWith(parseTrigger)),
  /**
   * Two-stage profile: masscan first sweeps the targets × TCP ports at `rate` packets a second, then nmap
   * scans, with the profile's scripts, only the (address, port) pairs that answered. null: nmap alone.
   */
  scouting: scoutingSchema
    .nullable()
    .optional()
    .transform((v) => v ?? null),
});

export type ProfileInput = z.input<typeof profileInputSchema>;
export type ScanProfile = z.output<typeof profileInputSchema>;

/** Validates a profile; throws one PlumError('invalid_input') naming the field. */
/** What a trigger profile refuses, with the option that sets it. */
const NOT_ON_TRIGGER = [
  ['every', '--every', 'schedule: it runs when its query matches a new finding'],
  ['targets', '--targets', 'target selection: it scans the address of each finding'],
  ['tcpPorts', '--ports', 'ports: it scans the port of each finding'],
  ['udpPorts', '--udp-ports', 'ports: it scans the port of each finding'],
] as const;

export function parseProfile(input: ProfileInput): ScanProfile {
  const hasTrigger = typeof input.trigger === 'string' && input.trigger.trim() !== '';
  if (hasTrigger) {
    for (const [field, flag, what] of NOT_ON_TRIGGER) {
      const v = input[field];
      if (v === undefined || v === null || v === '') continue;
      throw new PlumError('invalid_input', `invalid profile ${field}: a trigger profile has no ${what}`, {
        hint: `remove ${flag} (the API's ${field}), or drop the trigger for a scheduled profile`,
        details: { field },
      });
    }
  }
  const r = profileInputSchema.safeParse(input);
  if (r.success && r.data.scouting && r.data.udpPorts) {
    // masscan's UDP probes need a payload per protocol and miss most services: scouting is TCP only.
    throw new PlumError('invalid_input', 'invalid profile scouting: a scouting profile scans TCP ports only', {
      hint: 'drop the UDP ports, or scan them in a profile without scouting',
      details: { field: 'scouting' },
    });
  }
  if (r.success && r.data.scouting && (r.data.scanner !== 'nmap' || r.data.trigger)) {
    // The scouting stage hands nmap what answered; a TLS profile or a trigger profile has no nmap stage of that kind.
    throw new PlumError(
      'invalid_input',
      `invalid profile scouting: a ${r.data.trigger ? 'trigger profile' : `profile with scanner ${r.data.scanner}`} has no scouting stage`,
      {
        hint: 'drop --scout-rate, or scout in an nmap profile with targets',
        details: { field: 'scouting' },
      },
    );
  }
  if (r.success) {
    checkScanner(r.data);
    if (!r.data.trigger && r.data.tcpPorts === '') {
      throw new PlumError('invalid_input', 'invalid profile tcpPorts: empty TCP ports list', {
        hint: 'give ports like 22,80,443 or 8000-8100, or a --trigger query for a profile that scans what a query finds',
        details: { field: 'tcpPorts' },
      });
    }
    return r.data;
  }
  const issue = r.error.issues[0]!;
  const field = issue.path.join('.') || 'profile';
  const inner = (issue as { params?: { hint?: unknown } }).params?.hint;
  throw new PlumError('invalid_input', `invalid profile ${field}: ${issue.message}`, {
    hint: typeof inner === 'string' ? inner : 'fix the value and try again; see `plum profile add --help`',
    details: { field },
  });
}

/** The predecessor's default "banner scan" (reference §2), with the verbosity-independent banner script. */
export const BANNER_PROFILE: ScanProfile = parseProfile({
  name: 'banner',
  description: "Banner scan: SSH, HTTP and HTTPS ports with the full service banner (the predecessor's default)",
  tcpPorts: '22,80,443',
  scripts: ['plum-banner'],
  every: '12h',
  priority: 2,
  targets: 'all',
  hostTimeout: '40s',
});

/** Web exposure: HTTP/TLS ports with title, headers, server, favicon and certificate. */
export const WEB_PROFILE: ScanProfile = parseProfile({
  name: 'web',
  description: 'Web scan: HTTP/TLS ports with title, headers, server header, favicon hashes and certificate',
  tcpPorts: '80,443,8080,8443',
  scripts: ['http-title', 'http-headers', 'http-server-header', 'plum-favicon', 'ssl-cert'],
  every: '1d',
  priority: 2,
  targets: 'all',
  hostTimeout: '60s',
});

export const DEFAULT_PROFILES: readonly ScanProfile[] = [BANNER_PROFILE, WEB_PROFILE];

/** Does a target with these labels belong to the profile's selection? */
export function selectsTarget(selection: TargetSelection, labels: readonly string[]): boolean {
  if (selection === 'all') return true;
  return labels.includes(selection.slice('label:'.length));
}
