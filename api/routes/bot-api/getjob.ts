import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { legacyJobParams } from '../../../core/bot-api/job-options.ts';
import { PlumError } from '../../../core/errors.ts';
import { installedScriptDb } from '../../../core/nmap/script-db.ts';
import { isProjectScript, parseScriptList } from '../../../core/profiles.ts';
import { PROJECT_NSE_DIR } from '../../../activities/nmap.ts';
import { claimLegacyJob, failLegacyJob, jobUid, knownLegacyAgent, type LegacyJob } from '../../../store/repos/legacy-agents.ts';
import { nseScriptByHash } from '../../../store/repos/nse-scripts.ts';
import type { Store } from '../../../store/index.ts';
import type { RouteModule } from '../index.ts';
import { botApiEnabled, forbidden, invalid, keyOf, notFound, readBotRequest } from './input.ts';

/**
 * POST /bot_api/getjob: claims one waiting job for a registered agent (weighted
 * round-robin over priorities, oldest first) and answers it in §8's shape. The
 * NSE scripts a job uses that the agent cannot have (the project's own, and
 * custom ones at the hash the run was planned with) are sent with their
 * SHA-256, and their content only when the agent's cached hash differs. The
 * profile's extra nmap options go in `nmap_additional_params`, checked as the
 * runner checks them; a job failing those checks is failed, never handed out.
 */

interface NseFile {
  name: string;
  hash: string;
  content_b64?: string;
}

async function scriptFiles(store: Store, job: LegacyJob, scripts: string[], cached: Record<string, string> | undefined): Promise<NseFile[]> {
  const out: NseFile[] = [];
  const entry = (file: string, content: Buffer): NseFile => {
    const hash = createHash('sha256').update(content).digest('hex');
    return cached?.[file] === hash ? { name: file, hash } : { name: file, hash, content_b64: content.toString('base64') };
  };
  for (const name of scripts) {
    if (isProjectScript(name)) {
      out.push(entry(`${name}.nse`, await readFile(path.join(PROJECT_NSE_DIR, `${name}.nse`))));
      continue;
    }
    const ref = job.customScripts.find((c) => c.name === name);
    if (!ref) continue;
    const found = await nseScriptByHash(store, ref.sha256);
    if (!found) {
      throw new PlumError('not_found', `custom NSE script ${name} changed or was removed after the run was planned`, { hint: 'start a new run' });
    }
    out.push(entry(`${name}.nse`, found.content));
  }
  return out;
}

export default {
  register(app) {
    app.post('/bot_api/getjob', async (c) => {
      if (!botApiEnabled(c)) return notFound(c);
      const body = await readBotRequest(c, { NSE_HASHES: z.record(z.string(), z.string()).optional() });
      if (typeof body === 'string') return invalid(c, body);
      const { store, config } = c.var.deps;
      const keyId = await keyOf(c, body);
      if (!keyId || !(await knownLegacyAgent(store, keyId, body.UID.toLowerCase()))) return forbidden(c);
      const bridge = c.var.deps.services?.legacyBridge;
      bridge?.touch();
      for (;;) {
        const job = await claimLegacyJob(store, body.UID.toLowerCase(), config.PLUM_LEGACY_JOB_TIMEOUT);
        if (!job) return c.json({ message: { message: 'ready', job: '' } }, 200);
        let scripts: string[];
        let params: string;
        let nseScripts: NseFile[];
        try {
          scripts = parseScriptList(job.scripts);
          params = legacyJobParams({ ...job, extraArgs: job.nmapArgs }, () => installedScriptDb());
          nseScripts = await scriptFiles(store, job, scripts, body.NSE_HASHES);
        } catch (e) {
          if (!(e instanceof PlumError)) throw e;
          // The run waiting for this job sees it failed (workers/legacy-handoff.ts, or the bridge's attempt fails); the agent gets the next one.
          await failLegacyJob(store, job.id, e.message);
          // On Temporal, the attempt the bridge holds fails too (not retried: the same checks would fail again).
          await bridge?.jobRefused(job.id, e.message);
          continue;
        }
        const custom = new Set(job.customScripts.map((s) => s.name));
        return c.json(
          {
            message: {
              message: 'ready',
              job: job.targets.join(','),
              job_uid: jobUid(job.id),
              nmap_ports: job.tcpPorts
                .split(',')
                .map((p) => p.trim())
                .filter(Boolean),
              nmap_nse: scripts.map((s) => (isProjectScript(s) || custom.has(s) ? `${s}.nse` : s)),
              nse_scripts: nseScripts,
              ...(params ? { nmap_additional_params: params } : {}),
            },
          },
          200,
        );
      }
    });
  },
} satisfies RouteModule;
