import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { isProjectScript, parseScriptList } from '../../../core/profiles.ts';
import { PROJECT_NSE_DIR } from '../../../activities/nmap.ts';
import { claimLegacyJob, jobUid, knownLegacyAgent } from '../../../store/repos/legacy-agents.ts';
import type { RouteModule } from '../index.ts';
import { botApiEnabled, forbidden, invalid, keyOf, notFound, readBotRequest } from './input.ts';

/**
 * POST /bot_api/getjob: claims one waiting job for a registered agent (weighted
 * round-robin over priorities, oldest first) and answers it in §8's shape. The
 * project's own NSE scripts a job uses are sent with their SHA-256, and their
 * content only when the agent's cached hash differs.
 */
export default {
  register(app) {
    app.post('/bot_api/getjob', async (c) => {
      if (!botApiEnabled(c)) return notFound(c);
      const body = await readBotRequest(c, { NSE_HASHES: z.record(z.string(), z.string()).optional() });
      if (typeof body === 'string') return invalid(c, body);
      const { store, config } = c.var.deps;
      const keyId = await keyOf(c, body);
      if (!keyId || !await knownLegacyAgent(store, keyId, body.UID.toLowerCase())) return forbidden(c);
      const job = await claimLegacyJob(store, body.UID.toLowerCase(), config.PLUM_LEGACY_JOB_TIMEOUT);
      if (!job) return c.json({ message: { message: 'ready', job: '' } }, 200);
      const scripts = parseScriptList(job.scripts);
      const nseScripts = [];
      for (const name of scripts.filter(isProjectScript)) {
        const file = `${name}.nse`;
        const content = await readFile(path.join(PROJECT_NSE_DIR, file));
        const hash = createHash('sha256').update(content).digest('hex');
        nseScripts.push(body.NSE_HASHES?.[file] === hash ? { name: file, hash } : { name: file, hash, content_b64: content.toString('base64') });
      }
      return c.json({
        message: {
          message: 'ready',
          job: job.targets.join(','),
          job_uid: jobUid(job.id),
          nmap_ports: job.tcpPorts.split(',').map((p) => p.trim()).filter(Boolean),
          nmap_nse: scripts.map((s) => (isProjectScript(s) ? `${s}.nse` : s)),
          nse_scripts: nseScripts,
        },
      }, 200);
    });
  },
} satisfies RouteModule;
