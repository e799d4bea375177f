import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseNmapString } from '../core/nmap/parse.ts';
import { formatIngestSummary, ingestScanResult } from '../store/ingest.ts';
import { runPlum } from './helpers/cli.ts';
import { cliEnvOf, openTestStore, storeKinds } from './helpers/db.ts';

/**
 * A real nmap result (loopback-ssh.xml) with its host listed twice, the second
 * time with another banner: what nmap writes when a target is given twice and
 * the service changed between the two looks.
 */
const ORIGINAL = fs.readFileSync(new URL('./fixtures/nmap/loopback-ssh.xml', import.meta.url), 'utf8');
const HOST = ORIGINAL.slice(ORIGINAL.indexOf('<host '), ORIGINAL.indexOf('</host>') + '</host>\n'.length);
const end = ORIGINAL.indexOf('</host>') + '</host>\n'.length;
const TWICE = ORIGINAL.slice(0, end) + HOST.replaceAll('OpenSSH_8.9p1', 'OpenSSH_9.9p1') + ORIGINAL.slice(end);

describe.each(storeKinds)('a host listed twice in one result (%s)', (kind) => {
  it.each([
    ['in one batch', undefined],
    ['in two batches', 1],
  ])(
    '%s: imported, the last listing kept, and the summary says so',
    async (_label, batchHosts) => {
      const fresh = await openTestStore(kind);
      try {
        const scan = parseNmapString(TWICE);
        expect(scan.hosts.map((h) => h.ip)).toEqual(['127.176.69.3', '127.176.69.3']);
        const summary = await ingestScanResult(fresh.store, { scan, source: 'twice', rawXml: Buffer.from(TWICE) }, { batchHosts });
        expect(summary.errors).toEqual([]);
        expect(summary.warnings).toEqual([
          'the result lists a host more than once: 127.176.69.3 (2 times); the last listing of each was kept (a target given twice to nmap is scanned twice)',
        ]);
        expect(formatIngestSummary(summary)).toContain('; note: the result lists a host more than once: 127.176.69.3 (2 times)');
        const current = await fresh.store.query<{ hsh256: string; state: string }>(
          "select hsh256, state from port_observations where host(ip) = '127.176.69.3' and port = 22 and current",
        );
        expect(current).toEqual([{ hsh256: scan.hosts[1]!.ports[0]!.hsh256, state: 'open' }]);
      } finally {
        await fresh.cleanup();
      }
    },
    120_000,
  );
});

describe.each(storeKinds)("an import's warnings stay with its job (%s)", (kind) => {
  it('plum runs RUN_ID and its JSON show them after the import', async () => {
    const fresh = await openTestStore(kind);
    try {
      const summary = await ingestScanResult(fresh.store, { scan: parseNmapString(TWICE), source: 'twice', rawXml: Buffer.from(TWICE) });
      const [job] = await fresh.store.query<{ progress: { warnings?: string[] } }>('select progress from jobs where id = $1', [summary.jobId]);
      expect(job!.progress.warnings).toEqual(summary.warnings);
      await fresh.store.close();
      const env = cliEnvOf(fresh.config);
      const shown = await runPlum(['runs', summary.runId], env);
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout).toContain(`note: ${summary.jobId}: the result lists a host more than once: 127.176.69.3 (2 times)`);
      const json = JSON.parse((await runPlum(['runs', summary.runId, '--format', 'json'], env)).stdout) as { jobs: { progress: { warnings: string[] } }[] };
      expect(json.jobs[0]!.progress.warnings).toEqual(summary.warnings);
    } finally {
      await fresh.cleanup();
    }
  }, 120_000);
});
