import { createHash } from 'node:crypto';
import { z } from 'zod';
import { legacyHostOf } from '../../../core/nmap2json/map.ts';
import { readNmap2jsonText } from '../../../core/nmap2json/read.ts';
import { ingestScanResult } from '../../../store/ingest.ts';
import { jobForResult, jobIdOfUid, knownLegacyAgent } from '../../../store/repos/legacy-agents.ts';
import { createRuleIngestDeps, openRuleContext } from '../../../store/rules/index.ts';
import type { RouteModule } from '../index.ts';
import { answerError, botApiEnabled, forbidden, invalid, keyOf, notFound, readBotRequest } from './input.ts';

/**
 * POST /bot_api/sndjob: a predecessor agent's result (RESULT: a JSON string of
 * nmap2json host documents, open ports only) for the job it claimed, ingested
 * into the history with the job's scope, as Plum's own results are. A repeat of
 * a stored result by the same agent is an idempotent 200. In distributed mode
 * the ingest then completes the job's nmap activity (workers/legacy-bridge.ts).
 */
export default {
  register(app) {
    app.post('/bot_api/sndjob', async (c) => {
      if (!botApiEnabled(c)) return notFound(c);
      const body = await readBotRequest(c, { JOB_UID: z.string().max(100), RESULT: z.string({ error: 'RESULT is missing' }) });
      if (typeof body === 'string') return invalid(c, body);
      const { store, config } = c.var.deps;
      const keyId = await keyOf(c, body);
      const uid = body.UID.toLowerCase();
      if (!keyId || !(await knownLegacyAgent(store, keyId, uid))) return forbidden(c);
      const bridge = c.var.deps.services?.legacyBridge;
      bridge?.touch();
      try {
        const job = await jobForResult(store, jobIdOfUid(body.JOB_UID), uid);
        if (job.done) {
          // A repeat: the attempt may still wait for its completion if the first one could not reach Temporal.
          await bridge?.resultStored(job.id, body.RESULT.length);
          return c.json({ message: 'ready' }, 200);
        }
        const hosts = readNmap2jsonText(body.RESULT, 'RESULT').map((d) => legacyHostOf(d.doc));
        const rules = await openRuleContext(store, config);
        await ingestScanResult(
          store,
          {
            scan: { run: {}, hosts },
            scope: { targets: job.targets, tcpPorts: job.tcpPorts, ...(job.udpPorts ? { udpPorts: job.udpPorts } : {}) },
            runId: job.runId,
            jobId: job.id,
            resultSha256: createHash('sha256').update(body.RESULT).digest('hex'),
            source: `legacy agent ${uid}`,
          },
          createRuleIngestDeps(store, { set: rules.set, score: rules.score }),
        );
        // On Temporal: the job's nmap activity completes now; if that fails (the attempt timed out meanwhile),
        // the ingest stands and the next attempt finds the job ingested.
        await bridge?.resultStored(job.id, body.RESULT.length);
        return c.json({ message: 'ready' }, 200);
      } catch (e) {
        return answerError(c, e);
      }
    });
  },
} satisfies RouteModule;
