import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPlum } from './helpers/cli.ts';
import { cliEnvOf, makeTestConfig, storeKinds } from './helpers/db.ts';
import { createTestNet, scratchDir, type TestNet } from './helpers/netns.ts';

/*
 * masscan's own output into the history, from real masscan scans: masscan needs raw packets and does not
 * scan the loopback interface, so the test services run in a network namespace of their own, joined to the
 * scanner's namespace by a veth pair on 198.18.0.0/15 with no route out (test/helpers/netns.ts).
 */

let net: TestNet;
let dir: string;
let scans = 0;

/** The page title the test services serve now. */
let title = '';
const serve = async (t: string) => {
  title = t;
  await net.startServices(t);
};

/**
 * One masscan scan of the test services with banners. Banner grabbing is best effort (masscan runs its own TCP
 * stack and gives up on a slow answer, and on this veth pair it sometimes misses the web pages for a while), so a
 * scan that missed a page title is taken again after restarting the services, from a new source address.
 */
async function masscan(format: 'X' | 'J' | 'D', expectBanners = true): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const file = path.join(dir, `scan-${++scans}.${format}`);
    const finished = net.tryRun(
      'scan',
      'masscan',
      [
        net.serviceIps.join(','),
        '-p22,80',
        '--rate',
        '1000',
        '--wait',
        '4',
        '--banners',
        '--source-ip',
        `${net.serviceIps[0]!.split('.').slice(0, 3).join('.')}.${100 + scans}`,
        '--interface',
        net.scanIf,
        '--router-mac',
        net.serviceMac,
        `-o${format}`,
        file,
      ],
      60_000,
    );
    const text = fs.readFileSync(file, 'utf8');
    const titles = (text.match(/"?title"?/g) ?? []).length;
    if (finished && (!expectBanners || titles >= net.serviceIps.length)) return file;
    if (attempt === 4) throw new Error(`masscan ${finished ? `found ${titles} page titles of ${net.serviceIps.length}` : 'did not finish'} in four attempts`);
    if (expectBanners) await serve(title);
  }
}

beforeAll(async () => {
  net = await createTestNet();
  dir = scratchDir();
}, 60_000);
afterAll(async () => {
  await net?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.each(storeKinds)('plum ingest of masscan output (%s)', (kind) => {
  let env: Record<string, string>;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const t = await makeTestConfig(kind);
    env = cliEnvOf(t.config);
    drop = t.drop;
  });
  afterAll(async () => drop?.());

  const plum = async (...args: string[]) => {
    const r = await runPlum(args, env);
    expect(r.code, r.stderr).toBe(0);
    return r;
  };
  const events = async () => JSON.parse((await plum('history', '--since', 'all', '--format', 'json')).stdout) as Array<Record<string, unknown>>;

  it("imports a scan's ports with their banners, merges masscan's lines per port, and repeats nothing", async () => {
    await serve('plum masscan one');
    const file = await masscan('X');
    const r = await plum('ingest', file);
    expect(r.stderr).toMatch(/2 hosts \(2 up\), 4 open ports, 4 appeared, 0 changed, 0 gone/);
    const found = await plum('search', 'http_title:"plum masscan one"', '--format', 'json');
    expect(
      JSON.parse(found.stdout)
        .map((h: { ip: string }) => h.ip)
        .sort(),
    ).toEqual(net.serviceIps);
    const ssh = JSON.parse((await plum('search', 'port:22 banner:"SSH-2.0-OpenSSH_9.2p1 Debian-2"', '--format', 'json')).stdout);
    expect(ssh).toHaveLength(2);
    expect((await plum('ingest', file)).stderr).toMatch(/4 already ingested/);
  }, 120_000);

  it('a later scan of the same services (another format, another Date header) is stable; a new title is one change per port', async () => {
    const later = await masscan('D');
    const same = await plum('ingest', '--format', 'masscan', later);
    expect(same.stderr).toMatch(/0 appeared, 0 changed, 0 gone, 0 reappeared, 4 stable/);
    // The same scan had masscan missed the SSH greetings (banner grabbing is best effort): no change either.
    const missed = path.join(dir, 'missed-ssh.D');
    fs.writeFileSync(
      missed,
      fs
        .readFileSync(later, 'utf8')
        .split('\n')
        .filter((l) => !/"port":22,.*"rec_type":"banner"/.test(l))
        .join('\n'),
    );
    expect(fs.readFileSync(missed, 'utf8')).not.toMatch(/SSH-2\.0/);
    const r = await plum('ingest', '--format', 'masscan', missed);
    expect(r.stderr).toMatch(/2 hosts \(2 up\), 4 open ports, 0 appeared, 0 changed, 0 gone, 0 reappeared, 4 stable/);
    await serve('plum masscan two');
    const changed = await plum('ingest', '--format', 'masscan', await masscan('J'));
    expect(changed.stderr).toMatch(/0 appeared, 2 changed, 0 gone, 0 reappeared, 2 stable/);
    const diffs = (await events()).filter((e) => e.type === 'changed');
    expect(diffs).toHaveLength(2);
    expect(JSON.stringify(diffs[0])).toMatch(/plum masscan one/);
    expect(JSON.stringify(diffs[0])).toMatch(/plum masscan two/);
  }, 180_000);

  it('a scan that found nothing declares nothing gone (masscan lists only what answered)', async () => {
    await net.stopServices();
    const file = await masscan('X', false);
    // masscan leaves the file empty: nothing says it is masscan's but the format named.
    const r = await plum('ingest', '--format', 'masscan', file);
    expect(r.stderr).toMatch(/0 hosts/);
    expect((await events()).filter((e) => e.type === 'gone')).toEqual([]);
  }, 120_000);

  it('refuses what is not masscan output, and nmap files mixed with masscan files, before writing anything', async () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, '[\n{ "ip": "198.18.0.999", "timestamp": "1", "ports": [] }\n]\n');
    const r = await runPlum(['ingest', '--format', 'masscan', bad], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/bad\.json:2: "198\.18\.0\.999" is not an IP address/);
    const mixed = await runPlum(['ingest', path.join(dir, 'scan-1.X'), path.join(import.meta.dirname, 'fixtures', 'nmap', 'circl.xml')], env);
    expect(mixed.code).not.toBe(0);
    expect(mixed.stderr).toMatch(/was written by masscan, other files by nmap/);
    const json = await runPlum(['ingest', path.join(import.meta.dirname, 'fixtures', 'masscan', 'banners.json')], env);
    expect(json.stderr).toMatch(/it looks like masscan output: add --format masscan/);
  }, 60_000);
});
