import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PORTS_PER_HOST } from '../core/nmap/host.ts';
import { parseNmapString } from '../core/nmap/parse.ts';
import { runPlum } from './helpers/cli.ts';
import { makeTestConfig, storeKinds, cliEnvOf } from './helpers/db.ts';
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

describe('a 100 MB value (attribute) in a host', () => {
  it('is refused as soon as it passes 16 MB, in bounded memory and time (plum parse, a child process)', async () => {
    // The loopback-ssh.xml fixture with its banner attribute grown to 100 MB, written as a stream.
    const fixture = fs.readFileSync(path.join(import.meta.dirname, 'fixtures', 'nmap', 'loopback-ssh.xml'), 'utf8');
    const at = fixture.indexOf('<script id="banner" output="') + '<script id="banner" output="'.length;
    const file = path.join(DIR, 'huge-value.xml');
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, fixture.slice(0, at));
    const mb = Buffer.alloc(1024 * 1024, 'A');
    for (let i = 0; i < 100; i++) fs.writeSync(fd, mb);
    fs.writeSync(fd, fixture.slice(at));
    fs.closeSync(fd);

    let rss: ReturnType<typeof followPeakRss> | undefined;
    const t0 = Date.now();
    const r = await runPlum(['parse', file], {}, undefined, (child) => (rss = followPeakRss(child)));
    const took = Date.now() - t0;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/a value in the <host> element starting at line 8 is longer than 16777216 characters/);
    expect(rss!.peak()).toBeGreaterThan(0);
    expect(rss!.peak()).toBeLessThan(400 * 1024 * 1024);
    expect(took).toBeLessThan(20_000);
  }, 120_000);
});

describe.each(storeKinds)('plum ingest of a host with 100,000 ports (%s)', (kind) => {
  let env: Record<string, string>;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const t = await makeTestConfig(kind);
    drop = t.drop;
    env = cliEnvOf(t.config);
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
