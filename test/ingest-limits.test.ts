import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PORTS_PER_HOST } from '../core/nmap/host.ts';
import { parseNmapString } from '../core/nmap/parse.ts';
import { runPlum } from './helpers/cli.ts';
import { makeTestConfig, storeKinds } from './helpers/db.ts';
import { writeNmapXml } from './helpers/nmap-xml.ts';
import { followPeakRss } from './helpers/rss.ts';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-limits-'));
afterAll(() => fs.rmSync(DIR, { recursive: true, force: true }));

describe('ports per host (parser limit)', () => {
  it(`keeps the first ${MAX_PORTS_PER_HOST} ports of a host, counts the rest, and marks the host incomplete`, () => {
    const xml = fs.readFileSync(writeNmapXml(path.join(DIR, 'over.xml'), { hosts: 2, ports: MAX_PORTS_PER_HOST + 5 }), 'utf8');
    const scan = parseNmapString(xml);
    expect(scan.hosts).toHaveLength(2);
    for (const h of scan.hosts) {
      expect(h.ports).toHaveLength(MAX_PORTS_PER_HOST);
      expect(h.ports.at(-1)!.port).toBe(MAX_PORTS_PER_HOST);
      expect(h.portsOmitted).toBe(5);
      expect(h.doc.portsOmitted).toBe(5);
      expect(h.timedOut).toBe(true);
    }
    const under = parseNmapString(fs.readFileSync(writeNmapXml(path.join(DIR, 'under.xml'), { hosts: 1, ports: 10 }), 'utf8'));
    expect(under.hosts[0]!.portsOmitted).toBeUndefined();
    expect(under.hosts[0]!.timedOut).toBe(false);
  });
});

describe.each(storeKinds)('plum ingest of a host with 100,000 ports (%s)', (kind) => {
  let env: Record<string, string>;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const t = await makeTestConfig(kind);
    drop = t.drop;
    env = { PLUM_HOME: t.config.home, PLUM_DATABASE_URL: t.config.PLUM_DATABASE_URL ?? '' };
  });
  afterAll(() => drop?.());

  it('stores the first ports, says the rest were dropped, and stays under 1.5 GB', async () => {
    // 65,535 tcp ports and 34,465 more: what a host answering on every port looks like to nmap -p- -sTU.
    const file = writeNmapXml(path.join(DIR, `huge-${kind}.xml`), { hosts: 1, ports: 100_000 });
    let rss: ReturnType<typeof followPeakRss> | undefined;
    const r = await runPlum(['ingest', file], env, undefined, (child) => (rss = followPeakRss(child)));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`ingested 1 host \\(0 up\\), ${MAX_PORTS_PER_HOST} open ports`));
    expect(r.stderr).toMatch(new RegExp(`the result was incomplete: host 127\\.0\\.1\\.1 listed 100000 ports; only the first ${MAX_PORTS_PER_HOST} were kept`));
    expect(rss!.peak()).toBeGreaterThan(0);
    expect(rss!.peak()).toBeLessThan(1.5 * 1024 ** 3);
  }, 400_000);
});
