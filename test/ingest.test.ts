import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlumError } from '../core/errors.ts';
import { ingestScanResult } from '../store/ingest.ts';
import { getJobRawXml, getRawXml, purgeExpiredRawResults } from '../store/repos/raw-results.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { host, port, scan } from './helpers/scan.ts';

interface Obs {
  id: string;
  ip: string;
  protocol: string;
  port: number;
  hsh256: string;
  state: string;
  current: boolean;
  first_seen: Date;
  last_seen: Date;
  times_seen: number;
  tags: string[];
  last_job_id: string;
}
interface Evt {
  type: string;
  ip: string;
  port: number;
  at: Date;
  hsh256: string;
  previous_hsh256: string | null;
  observation_id: string;
  previous_observation_id: string | null;
  job_id: string;
}

const T1 = '2026-03-01T10:00:00.000Z';
const T2 = '2026-03-02T10:00:00.000Z';
const T3 = '2026-03-03T10:00:00.000Z';
const T4 = '2026-03-04T10:00:00.000Z';
const T5 = '2026-03-05T10:00:00.000Z';

describe.each(storeKinds)('ingest on %s', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
  });
  afterAll(async () => {
    await t?.cleanup();
  });
  const obs = (ip: string) =>
    t.store.query<Obs>(
      'select id, host(ip) as ip, protocol, port, hsh256, state, current, first_seen, last_seen, times_seen, tags, last_job_id from port_observations join observation_sightings using (id) where ip = $1::inet order by port, first_seen',
      [ip],
    );
  const evts = (ip: string) =>
    t.store.query<Evt>(
      'select type, host(ip) as ip, port, at, hsh256, previous_hsh256, observation_id, previous_observation_id, job_id from observation_events where ip = $1::inet order by at, port',
      [ip],
    );
  const ingest = (hosts: ReturnType<typeof host>[], extra: { services?: string; tcpPorts?: string; jobId?: string } = {}) =>
    ingestScanResult(t.store, {
      scan: scan(hosts, extra.services),
      source: 'test',
      jobId: extra.jobId,
      scope: extra.tcpPorts ? { targets: hosts.map((h) => h.ip), tcpPorts: extra.tcpPorts } : undefined,
    });

  it('records appeared, stable, changed, gone and reappeared with scan times', async () => {
    const ip = '127.1.0.1';
    const ssh = port(22, 'SSH-2.0-OpenSSH_9.2');
    const web = port(80, 'nginx title A');
    const tls = port(443, 'tls cert A');
    const s1 = await ingest([host(ip, T1, [ssh, web, tls])]);
    expect(s1).toMatchObject({ hosts: 1, hostsUp: 1, ports: 3, appeared: 3, stable: 0, changed: 0, gone: 0, reappeared: 0, errors: [] });
    let rows = await obs(ip);
    expect(rows.map((r) => [r.port, r.state, r.current, r.first_seen.toISOString(), r.last_seen.toISOString(), r.times_seen])).toEqual([
      [22, 'open', true, T1, T1, 1],
      [80, 'open', true, T1, T1, 1],
      [443, 'open', true, T1, T1, 1],
    ]);

    // stable
    const s2 = await ingest([host(ip, T2, [ssh, web, tls])]);
    expect(s2).toMatchObject({ appeared: 0, stable: 3, changed: 0, gone: 0 });
    rows = await obs(ip);
    expect(rows.every((r) => r.first_seen.toISOString() === T1 && r.last_seen.toISOString() === T2 && r.times_seen === 2)).toBe(true);

    // changed title on 80; 443 absent while covered → gone
    const web2 = port(80, 'nginx title B');
    const s3 = await ingest([host(ip, T3, [ssh, web2])]);
    expect(s3).toMatchObject({ appeared: 0, stable: 1, changed: 1, gone: 1, reappeared: 0 });
    rows = await obs(ip);
    const r80 = rows.filter((r) => r.port === 80);
    expect(r80.map((r) => [r.hsh256, r.current, r.state])).toEqual([
      [web.hsh256, false, 'open'],
      [web2.hsh256, true, 'open'],
    ]);
    const r443 = rows.find((r) => r.port === 443)!;
    expect([r443.state, r443.current, r443.last_seen.toISOString()]).toEqual(['closed', true, T2]);

    // 443 opens again with the same fingerprint → reappeared (not stable)
    const s4 = await ingest([host(ip, T4, [ssh, web2, tls])]);
    expect(s4).toMatchObject({ appeared: 0, stable: 2, changed: 0, gone: 0, reappeared: 1 });
    const back = (await obs(ip)).find((r) => r.port === 443)!;
    expect([back.state, back.current, back.first_seen.toISOString(), back.last_seen.toISOString(), back.times_seen]).toEqual(['open', true, T1, T4, 3]);

    const events = await evts(ip);
    expect(events.map((e) => [e.type, e.port, e.at.toISOString()])).toEqual([
      ['appeared', 22, T1],
      ['appeared', 80, T1],
      ['appeared', 443, T1],
      ['changed', 80, T3],
      ['gone', 443, T3],
      ['reappeared', 443, T4],
    ]);
    const changed = events.find((e) => e.type === 'changed')!;
    expect([changed.hsh256, changed.previous_hsh256]).toEqual([web2.hsh256, web.hsh256]);
    expect(changed.previous_observation_id).toBe(r80[0]!.id);
    expect(changed.observation_id).toBe(r80[1]!.id);
    expect(events.find((e) => e.type === 'gone')!.hsh256).toBe(tls.hsh256);
  });

  it('never declares gone for a host that did not answer, a timed-out host, or an uncovered port', async () => {
    const ip = '127.1.1.1';
    await ingest([host(ip, T1, [port(22, 'a'), port(8080, 'b')])], { services: '22,8080' });
    expect(await ingest([host(ip, T2, [], { status: 'down' })])).toMatchObject({ hostsUp: 0, gone: 0 });
    expect(await ingest([host(ip, T3, [], { timedOut: true })])).toMatchObject({ hostsUp: 0, gone: 0 });
    // The job covered only 22: 8080 was not looked at.
    const s = await ingest([host(ip, T4, [])], { tcpPorts: '22,80,443' });
    expect(s).toMatchObject({ hostsUp: 1, gone: 1 });
    const rows = await obs(ip);
    expect(rows.map((r) => [r.port, r.state])).toEqual([
      [22, 'closed'],
      [8080, 'open'],
    ]);
  });

  it('is idempotent per job: the same result twice changes nothing', async () => {
    const ip = '127.1.2.1';
    const h1 = host(ip, T1, [port(22, 'x'), port(80, 'y')]);
    const first = await ingest([h1]);
    const again = await ingest([h1], { jobId: first.jobId });
    expect(again).toMatchObject({ appeared: 0, stable: 0, changed: 0, gone: 0, alreadyIngested: 2, jobId: first.jobId });
    // A later job changes 80 and closes 22; replaying it is a no-op too.
    const h2 = host(ip, T2, [port(80, 'z')]);
    const second = await ingest([h2]);
    expect(second).toMatchObject({ changed: 1, gone: 1 });
    const snapshot = JSON.stringify(await obs(ip));
    const eventCount = (await evts(ip)).length;
    const replay = await ingest([h2], { jobId: second.jobId });
    expect(replay).toMatchObject({ appeared: 0, changed: 0, gone: 0, reappeared: 0, stable: 0 });
    expect(JSON.stringify(await obs(ip))).toBe(snapshot);
    expect((await evts(ip)).length).toBe(eventCount);
  });

  it('re-importing the same XML file reuses its import job and changes nothing', async () => {
    const ip = '127.1.3.1';
    const rawXml = Buffer.from(`<nmaprun><!-- ${ip} --></nmaprun>`);
    const input = { scan: scan([host(ip, T1, [port(22, 'x')])]), source: 'file.xml', rawXml };
    const a = await ingestScanResult(t.store, input);
    const b = await ingestScanResult(t.store, input);
    expect(b.jobId).toBe(a.jobId);
    expect(b).toMatchObject({ appeared: 0, stable: 0, alreadyIngested: 1 });
    const raw = await t.store.query<{ xml_gz: Buffer; size: number; sha256: string }>('select xml_gz, size, sha256 from raw_results where job_id = $1', [
      a.jobId,
    ]);
    expect(raw).toHaveLength(1);
    expect(gunzipSync(raw[0]!.xml_gz).toString()).toBe(rawXml.toString());
    expect(raw[0]!.size).toBe(rawXml.length);
    expect((await getRawXml(t.store, a.jobId))!.xml.toString()).toBe(rawXml.toString());
    expect(await getJobRawXml(t.store, a.jobId)).toMatchObject({ found: 'xml', xml: rawXml, sha256: raw[0]!.sha256 });
    expect(await getJobRawXml(t.store, 'job_01jd0000000000000000000000')).toEqual({ found: 'no-job' });
    // Bytes that no longer match their digest are a damaged database, never handed out as the scan's result.
    await t.store.query('update raw_results set sha256 = $1 where job_id = $2', ['0'.repeat(64), a.jobId]);
    await expect(getJobRawXml(t.store, a.jobId)).rejects.toThrow(/does not match its SHA-256/);
    await t.store.query('update raw_results set sha256 = $1 where job_id = $2', [raw[0]!.sha256, a.jobId]);
    // Retention: kept 90 days by default, then purged; the observations stay.
    expect(await purgeExpiredRawResults(t.store, new Date(Date.now() + 89 * 86_400_000))).toBe(0);
    expect(await purgeExpiredRawResults(t.store, new Date(Date.now() + 91 * 86_400_000))).toBeGreaterThanOrEqual(1);
    expect(await getRawXml(t.store, a.jobId)).toBeUndefined();
    expect(await getJobRawXml(t.store, a.jobId)).toEqual({ found: 'not-kept' });
    expect(await obs(ip)).toHaveLength(1);
    // Still recognised after its raw XML is gone.
    expect(await ingestScanResult(t.store, input)).toMatchObject({ jobId: a.jobId, appeared: 0, stable: 0, alreadyIngested: 1 });
    const [job] = await t.store.query<{ status: string; ingested_at: Date }>('select status, ingested_at from jobs where id = $1', [a.jobId]);
    expect(job!.status).toBe('succeeded');
    expect(job!.ingested_at).toBeInstanceOf(Date);
  });

  it('keeps first/last seen right when an older scan is imported after a newer one', async () => {
    const ip = '127.1.4.1';
    const ssh = port(22, 'ssh');
    await ingest([host(ip, T3, [ssh, port(80, 'web new')])]);
    // Older scan: 22 same, 80 with an older fingerprint, 443 open back then; nothing is gone or changed now.
    const old = await ingest([host(ip, T1, [ssh, port(80, 'web old')])], { tcpPorts: '22,80,443' });
    expect(old).toMatchObject({ appeared: 0, changed: 0, gone: 0, reappeared: 0, historic: 2 });
    const rows = await obs(ip);
    const r22 = rows.find((r) => r.port === 22)!;
    expect([r22.first_seen.toISOString(), r22.last_seen.toISOString(), r22.times_seen, r22.state, r22.current]).toEqual([T1, T3, 2, 'open', true]);
    const r80 = rows.filter((r) => r.port === 80);
    expect(r80.map((r) => [r.current, r.first_seen.toISOString()])).toEqual([
      [false, T1],
      [true, T3],
    ]);
    // A newer scan after both still compares with the newest state.
    expect(await ingest([host(ip, T4, [ssh])], { tcpPorts: '22,80' })).toMatchObject({ stable: 1, gone: 1 });
  });

  it('tells a flip back to an earlier fingerprint (changed) from a port coming back (reappeared)', async () => {
    const ip = '127.1.5.1';
    const a = port(80, 'A');
    const b = port(80, 'B');
    const c = port(80, 'C');
    await ingest([host(ip, T1, [a])]);
    expect(await ingest([host(ip, T2, [b])])).toMatchObject({ changed: 1 });
    expect(await ingest([host(ip, T3, [a])])).toMatchObject({ changed: 1 });
    expect(await ingest([host(ip, T4, [])])).toMatchObject({ gone: 1 });
    // Back with a fingerprint never seen at the slot: the port came back, and it changed.
    expect(await ingest([host(ip, T5, [c])])).toMatchObject({ appeared: 0, reappeared: 1, changed: 1 });
    const events = await evts(ip);
    expect(events.slice(0, 4).map((e) => e.type)).toEqual(['appeared', 'changed', 'changed', 'gone']);
    // The last two share their time: compare them as a set.
    expect(
      events
        .slice(4)
        .map((e) => `${e.type} ${e.previous_hsh256 === a.hsh256}`)
        .sort(),
    ).toEqual(['changed true', 'reappeared true']);
    expect(events[2]!.hsh256).toBe(a.hsh256);
    expect(events[2]!.previous_hsh256).toBe(b.hsh256);
    const rows = await obs(ip);
    expect(rows).toHaveLength(3);
    expect(rows.filter((r) => r.current).map((r) => r.hsh256)).toEqual([c.hsh256]);
  });

  it('stores the valid part of a truncated result and marks the job', async () => {
    const ip = '127.1.6.1';
    const err = new PlumError('truncated', 'nmap XML ends before </nmaprun> (after 1 host)');
    const s = await ingestScanResult(t.store, {
      scan: scan([host(ip, T1, [port(22, 'x')])], '22', err),
      source: 'cut.xml',
      rawXml: Buffer.from('<nmaprun><host>'),
    });
    expect(s.appeared).toBe(1);
    expect(s.errors).toEqual(['nmap XML ends before </nmaprun> (after 1 host)']);
    const [job] = await t.store.query<{ status: string; error: string }>('select status, error from jobs where id = $1', [s.jobId]);
    expect(job).toEqual({ status: 'partial', error: 'nmap XML ends before </nmaprun> (after 1 host)' });
    const [raw] = await t.store.query<{ error: string }>('select error from raw_results where job_id = $1', [s.jobId]);
    expect(raw!.error).toContain('ends before');
  });

  it('never half-applies a batch', async () => {
    const ip = '127.1.7.1';
    const ok = port(22, 'ok');
    await ingest([host(ip, T1, [ok])]);
    // The second statement of the batch fails (port out of int range) after the first updated 22.
    const bad = { ...port(81, 'bad'), port: 2 ** 31 };
    await expect(ingest([host(ip, T2, [ok, bad])])).rejects.toMatchObject({ code: 'database' });
    const rows = await obs(ip);
    expect(rows.map((r) => [r.port, r.times_seen, r.last_seen.toISOString()])).toEqual([[22, 1, T1]]);
  });

  it('stops with a clear error, storing nothing, when an observation has lost its sightings row', async () => {
    const ip = '127.1.7.2';
    const a = port(22, 'A');
    const b = port(22, 'B');
    await ingest([host(ip, T1, [a])]);
    await ingest([host(ip, T2, [b])]); // a is now an earlier, not current, fingerprint of the slot
    const [cur, old] = [(await obs(ip)).find((r) => r.hsh256 === b.hsh256)!, (await obs(ip)).find((r) => r.hsh256 === a.hsh256)!];
    // The earlier fingerprint's row (read only when the current one differs), then the current row.
    await t.store.query('delete from observation_sightings where id = $1', [old.id]);
    await expect(ingest([host(ip, T3, [a])])).rejects.toMatchObject({ code: 'database', message: `observation ${old.id} has no sightings row` });
    await t.store.query('delete from observation_sightings where id = $1', [cur.id]);
    await expect(ingest([host(ip, T3, [b])])).rejects.toMatchObject({ code: 'database', message: `observation ${cur.id} has no sightings row` });
    const events = await evts(ip);
    expect(events.map((e) => e.type)).toEqual(['appeared', 'changed']);
  });

  it('stores tags from the tag rules and reports committed batches', async () => {
    const ip = '127.1.8.1';
    const committed: number[] = [];
    await ingestScanResult(
      t.store,
      { scan: scan([host(ip, T1, [port(22, 'SSH-2.0-OpenSSH')])]), source: 'test' },
      {
        tagPort: (p) => (p.fields.banner.some((b) => b.includes('OpenSSH')) ? { tags: ['product:openssh'], rules: ['openssh'] } : { tags: [], rules: [] }),
        afterCommit: async (c) => {
          committed.push(c.events.length);
        },
      },
    );
    expect((await obs(ip))[0]!.tags).toEqual(['product:openssh']);
    const [st] = await t.store.query<{ search_text: string }>('select search_text from port_observations where ip = $1::inet', [ip]);
    expect(st!.search_text).toContain('\u0001banner=ssh-2.0-openssh\u0001');
    expect(committed).toEqual([1]);
  });

  it('stores a plain stable sighting in one statement, and leaves every other case to the full decision', async () => {
    const ip = '127.1.20.1';
    const ssh = port(22, 'SSH-2.0-OpenSSH_9.2');
    const web = port(80, 'nginx title A');
    await ingest([host(ip, T1, [ssh, web])]);
    const seen: Array<{ port: number; firstSeen: string; lastSeen: string }> = [];
    const record = {
      afterCommit: async (c: { observations: Array<{ port: number; firstSeen: string; lastSeen: string }> }) => {
        seen.push(...c.observations.map((o) => ({ port: o.port, firstSeen: o.firstSeen, lastSeen: o.lastSeen })));
      },
    };
    // Plain stable: sightings move, the document row does not (its xmin stays).
    const xmin = async () =>
      (await t.store.query<{ x: string }>('select xmin::text as x from port_observations where ip = $1::inet order by port', [ip])).map((r) => r.x);
    const before = await xmin();
    const s2 = await ingestScanResult(t.store, { scan: scan([host(ip, T2, [ssh, web])]), source: 'test' }, record);
    expect(s2).toMatchObject({ stable: 2, appeared: 0, alreadyIngested: 0 });
    expect(await xmin()).toEqual(before);
    expect(seen).toEqual([
      { port: 22, firstSeen: T1, lastSeen: T2 },
      { port: 80, firstSeen: T1, lastSeen: T2 },
    ]);
    let rows = await obs(ip);
    expect(rows.map((r) => [r.port, r.last_seen.toISOString(), r.times_seen, r.last_job_id === rows[0]!.last_job_id])).toEqual([
      [22, T2, 2, true],
      [80, T2, 2, true],
    ]);
    // New names for the host: still stable, and the document row takes the names.
    const renamed = { ...host(ip, T3, [ssh, web]), hostnames: [{ name: 'renamed.example.test', type: 'PTR' }] };
    expect(await ingestScanResult(t.store, { scan: scan([renamed]), source: 'test' })).toMatchObject({ stable: 2 });
    const names = await t.store.query<{ hostnames: string[] }>('select hostnames from port_observations where ip = $1::inet and current', [ip]);
    expect(names.map((r) => r.hostnames)).toEqual([['renamed.example.test'], ['renamed.example.test']]);
    // The same host twice in one batch, listed identically: one sighting, the second entry already ingested.
    const twice = { ...host(ip, T4, [ssh, web]), hostnames: renamed.hostnames };
    expect(await ingestScanResult(t.store, { scan: scan([twice, twice]), source: 'test' })).toMatchObject({ stable: 2, alreadyIngested: 2 });
    rows = await obs(ip);
    expect(rows.map((r) => [r.port, r.last_seen.toISOString(), r.times_seen])).toEqual([
      [22, T4, 4],
      [80, T4, 4],
    ]);
    // An older scan of the same fingerprints: historic, first seen moves back, last seen stays.
    const old = { ...host(ip, '2026-02-01T10:00:00.000Z', [ssh, web]), hostnames: renamed.hostnames };
    expect(await ingestScanResult(t.store, { scan: scan([old]), source: 'test' })).toMatchObject({ stable: 0, historic: 2 });
    rows = await obs(ip);
    expect(rows.map((r) => [r.port, r.first_seen.toISOString(), r.last_seen.toISOString(), r.times_seen])).toEqual([
      [22, '2026-02-01T10:00:00.000Z', T4, 5],
      [80, '2026-02-01T10:00:00.000Z', T4, 5],
    ]);
    // A scan between first and last seen: historic too; the slot's checked time stays the newest.
    const mid = { ...host(ip, '2026-03-02T22:00:00.000Z', [ssh, web]), hostnames: renamed.hostnames };
    expect(await ingestScanResult(t.store, { scan: scan([mid]), source: 'test' })).toMatchObject({ stable: 0, historic: 2 });
    const checked = await t.store.query<{ checked_at: Date; times_seen: number }>(
      'select checked_at, times_seen from observation_sightings join port_observations using (id) where ip = $1::inet order by port',
      [ip],
    );
    expect(checked.map((r) => [r.checked_at.toISOString(), r.times_seen])).toEqual([
      [T4, 6],
      [T4, 6],
    ]);
    // New tags from the rules: stable, and the document row takes them.
    const tagPort = () => ({ tags: ['t:new'], rules: ['r'] });
    expect(
      await ingestScanResult(t.store, { scan: scan([{ ...host(ip, T5, [ssh, web]), hostnames: renamed.hostnames }]), source: 'test' }, { tagPort }),
    ).toMatchObject({ stable: 2 });
    expect((await obs(ip)).map((r) => r.tags)).toEqual([['t:new'], ['t:new']]);
  });

  it('neither duplicates nor loses updates under concurrent ingests of the same hosts', async () => {
    const hosts = (at: string) => Array.from({ length: 40 }, (_, i) => host(`127.1.9.${i + 1}`, at, [port(22, `s${i}`), port(80, `w${i}`)]));
    // Two jobs with the same findings, and a third with the same hosts at another time, all at once.
    const results = await Promise.all([
      ingestScanResult(t.store, { scan: scan(hosts(T1)), source: 'a' }, { batchHosts: 7 }),
      ingestScanResult(t.store, { scan: scan(hosts(T1)), source: 'b' }, { batchHosts: 5 }),
      ingestScanResult(t.store, { scan: scan(hosts(T2)), source: 'c' }, { batchHosts: 11 }),
    ]);
    expect(results.reduce((n, r) => n + r.appeared, 0)).toBe(80);
    const [agg] = await t.store.query<{ rows: number; slots: number; seen: number; minf: Date; maxl: Date }>(
      `select count(*) as rows, count(distinct (ip, port)) as slots, sum(times_seen)::int8 as seen, min(first_seen) as minf, max(last_seen) as maxl
       from port_observations join observation_sightings using (id) where ip << '127.1.9.0/24'::inet`,
    );
    expect(agg).toEqual({ rows: 80, slots: 80, seen: 240, minf: new Date(T1), maxl: new Date(T2) });
    const [ev] = await t.store.query<{ n: number }>(`select count(*) as n from observation_events where ip << '127.1.9.0/24'::inet`);
    expect(ev!.n).toBe(80);
  });
});
