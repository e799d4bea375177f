import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateReport } from '../activities/report.ts';
import { silentLogger } from '../core/log.ts';
import { DEFAULT_SCORE_FILE, loadScoreConfig } from '../core/score.ts';
import { reportFor } from '../mcp/http.ts';
import { ingestScanResult } from '../store/ingest.ts';
import { createReportDefinition } from '../store/repos/reports.ts';
import { createRuleIngestDeps, loadStoredRuleSet } from '../store/rules/index.ts';
import { createEmbeddedScheduler } from '../workers/scheduler.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { host, port, scan } from './helpers/scan.ts';

/*
 * Every way a report is built scores hosts with the weights PLUM_SCORE_FILE names (core/score.ts scoreHost),
 * not with the highest port score: `plum report`, a report definition run by the embedded scheduler (as `plum
 * serve` wires it) and MCP's report. The score file here counts open ports only, so the host score cannot be
 * a port's score.
 */

const IP = '127.0.9.7';
const hostScore = (markdown: string) => Number(markdown.match(new RegExp(`${IP.replace(/\./g, '\\.')} — score (\\d+)`))?.[1]);

describe.each(storeKinds)('one host score whatever builds the report (%s)', (kind) => {
  let t: TestStore;
  let dir: string;
  let scoreFile: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-report-score-'));
    scoreFile = path.join(dir, 'score.yaml');
    const weights = (await fs.readFile(DEFAULT_SCORE_FILE, 'utf8')).replace(
      /^(host:\n  weights:\n)([\s\S]*?)(\n\n)/m,
      (_m, head: string, body: string, tail: string) => head + body.replace(/: \d+/g, ': 0').replace('open_ports: 0', 'open_ports: 100') + tail,
    );
    await fs.writeFile(scoreFile, weights);
    t = await openTestStore(kind, { PLUM_SCORE_FILE: scoreFile });
    const deps = createRuleIngestDeps(t.store, { set: await loadStoredRuleSet(t.store), score: await loadScoreConfig(scoreFile) });
    const at = new Date(Date.now() - 3_600_000).toISOString();
    await ingestScanResult(
      t.store,
      { source: 'test', scan: scan([host(IP, at, [port(22, 'SSH-2.0-OpenSSH_9.2'), port(8080, 'Jenkins'), port(3306, 'mysql')])], '22,3306,8080') },
      deps,
    );
  });
  afterAll(async () => {
    await t?.cleanup();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('the scheduler, MCP and `plum report` agree, and none of them is the highest port score', async () => {
    expect(t.config.PLUM_SCORE_FILE).toBe(scoreFile);
    // What `plum report` builds (it passes the configured weights).
    const { model, markdown } = await generateReport(t.store, { query: `ip:${IP}`, since: '30d', scoreConfig: await loadScoreConfig(scoreFile) });
    const expected = model.hosts.find((h) => h.ip === IP)!;
    const highestPort = Math.max(...expected.services.map((s) => s.score ?? 0));
    expect(expected.score).not.toBe(highestPort);
    expect(hostScore(markdown)).toBe(expected.score);

    // A report definition run by the embedded scheduler, wired as `plum serve` wires it (config only).
    const out = path.join(dir, 'out');
    await createReportDefinition(t.store, {
      name: 'score-check',
      query: `ip:${IP}`,
      every: '1d',
      destinations: [`dir:${out}`],
      nextRunAt: new Date(Date.now() - 1000),
    });
    const scheduler = createEmbeddedScheduler({
      store: t.store,
      log: silentLogger,
      reports: { config: t.config },
      startRun: () => Promise.reject(new Error('no profile should run')),
    });
    await scheduler.tick();
    expect(scheduler.lastHousekeeping()).toMatchObject({ reports: [{ report: 'score-check', status: 'ok' }], errors: [] });
    const [file] = await fs.readdir(out);
    expect(hostScore(await fs.readFile(path.join(out, file!), 'utf8'))).toBe(expected.score);

    // MCP's report tool.
    const mcp = await reportFor({ store: t.store, config: t.config, log: silentLogger })({ query: `ip:${IP}`, since: '30d', hostLimit: 0 });
    expect(hostScore(mcp)).toBe(expected.score);
  });
});
