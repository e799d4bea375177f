import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../store/index.ts';
import { runPlum } from './helpers/cli.ts';
import { cliEnvOf, makeTestConfig, storeKinds } from './helpers/db.ts';

/*
 * A real nmap scan of 2013 imported today with `plum ingest` (tag rules and
 * scores, as every ingest): its ports are years old, so the "newly appeared"
 * feature adds nothing to their stored scores, and `plum explain`, judging now,
 * gives the same scores as stored.
 */

const OLD_XML = fileURLToPath(new URL('./fixtures/nmap/libnmap-1_os_banner_scripts.xml', import.meta.url));
const IP = '127.0.0.1';

interface Feature {
  name: string;
  value: unknown;
  contribution: number;
}

describe.each(storeKinds)('an old scan imported today is not new (%s)', (kind) => {
  let t: Awaited<ReturnType<typeof makeTestConfig>>;
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await makeTestConfig(kind);
    env = cliEnvOf(t.config);
  }, 60_000);
  afterAll(async () => {
    await t?.drop();
  });

  it('stores no newly_appeared contribution, and plum explain agrees with the stored scores', async () => {
    const ing = await runPlum(['ingest', OLD_XML], env);
    expect(ing.code, ing.stderr).toBe(0);
    const ex = await runPlum(['explain', IP, '--format', 'json'], env);
    expect(ex.code, ex.stderr).toBe(0);
    const explained = JSON.parse(ex.stdout) as {
      score: number;
      features: Feature[];
      ports: Array<{ protocol: string; port: number; score: number; features: Feature[] }>;
    };

    const store = await openStore(t.config);
    try {
      const ports = await store.query<{ protocol: string; port: number; score: number; score_features: Record<string, unknown>; first_seen: Date }>(
        `select protocol, port, score, score_features, first_seen from port_observations
          where ip = $1::inet and current and state = 'open' order by protocol, port`,
        [IP],
      );
      expect(ports.length).toBeGreaterThan(0);
      // Scan times, not the import's clock.
      expect(ports.every((p) => p.first_seen.getUTCFullYear() === 2013)).toBe(true);
      const [hostScore] = await store.query<{ score: number }>('select score from host_scores where ip = $1::inet', [IP]);

      const newly = (fs: Feature[]) => fs.find((f) => f.name === 'newly_appeared')!;
      expect(newly(explained.features)).toMatchObject({ value: null, contribution: 0 });
      for (const p of explained.ports) expect(newly(p.features)).toMatchObject({ value: null, contribution: 0 });
      for (const p of ports) expect(JSON.stringify(p.score_features)).not.toMatch(/"newly_appeared":\s*\{[^}]*"contribution":\s*[1-9]/);

      expect(explained.score).toBe(hostScore!.score);
      expect(explained.ports.map((p) => [p.protocol, p.port, p.score])).toEqual(ports.map((p) => [p.protocol, p.port, p.score]));
    } finally {
      await store.close();
    }
  }, 120_000);
});
