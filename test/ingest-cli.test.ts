import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStdinInput, readXmlInput } from '../cli/commands/ingest.ts';
import { openStore } from '../store/index.ts';
import { runPlum } from './helpers/cli.ts';
import { makeTestConfig, storeKinds, cliEnvOf } from './helpers/db.ts';

const CIRCL = new URL('./fixtures/nmap/circl.xml', import.meta.url).pathname;

const plum = (args: string[], env: Record<string, string>) => runPlum(args, env);

/** Each command fails with its exit code and one line on standard error that matches, and prints nothing on standard output. */
async function expectOneLineErrors(cases: Array<[string[], number, RegExp]>, env: Record<string, string>): Promise<void> {
  for (const [args, code, message] of cases) {
    const r = await plum(args, env);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  }
}

/*
 * A real nmap result larger than the largest JavaScript string (V8: 2^29 - 24 characters): circl.xml with
 * 600 MB of spaces after its host (valid XML, nothing for the parser to build). Written once, in 1 MB
 * writes, for both stores.
 */
const BIG_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-ingest-big-'));
let bigFile: { path: string; sha256: string } | undefined;
function bigResult(): { path: string; sha256: string } {
  if (bigFile) return bigFile;
  const xml = fs.readFileSync(CIRCL, 'utf8');
  const cut = xml.indexOf('<runstats>');
  const file = path.join(BIG_DIR, 'big.xml');
  const fd = fs.openSync(file, 'w');
  const digest = createHash('sha256');
  const write = (b: Buffer) => {
    fs.writeSync(fd, b);
    digest.update(b);
  };
  write(Buffer.from(xml.slice(0, cut)));
  const blank = Buffer.alloc(1024 * 1024, ' ');
  for (let i = 0; i < 600; i++) write(blank);
  write(Buffer.from(xml.slice(cut)));
  fs.closeSync(fd);
  return (bigFile = { path: file, sha256: digest.digest('hex') });
}
afterAll(() => fs.rmSync(BIG_DIR, { recursive: true, force: true }));

describe("readXmlInput (plum ingest's reading)", () => {
  const bytes = async (chunks: Iterable<Buffer> | AsyncIterable<Buffer>) => {
    const all: Buffer[] = [];
    for await (const c of chunks) all.push(Buffer.from(c));
    return { n: all.length, buf: Buffer.concat(all) };
  };
  it('keeps a file up to the raw limit and hands it to the parser in chunks; streams a larger one with its digest', async () => {
    const file = path.join(BIG_DIR, 'small.xml');
    const xml = fs.readFileSync(CIRCL, 'utf8') + ' '.repeat(200 * 1024);
    fs.writeFileSync(file, xml);
    const kept = readXmlInput(file);
    expect(kept.raw?.toString()).toBe(xml);
    expect(kept.sha256).toBeUndefined();
    const keptChunks = await bytes(kept.chunks);
    expect(keptChunks.buf.toString()).toBe(xml);
    // Chunks, not one string for the whole file.
    expect(keptChunks.n).toBeGreaterThan(3);
    expect(kept.head).toBe(xml.slice(0, 64 * 1024));
    const streamed = readXmlInput(file, 100 * 1024);
    expect(streamed.raw).toBeUndefined();
    expect(streamed.sha256).toBe(createHash('sha256').update(xml).digest('hex'));
    expect(streamed.head).toBe(xml.slice(0, 64 * 1024));
    expect((await bytes(streamed.chunks)).buf.toString()).toBe(xml);
    // A large file that is not nmap XML is not read past its head (the caller refuses it on the head).
    const other = path.join(BIG_DIR, 'other.txt');
    fs.writeFileSync(other, 'x'.repeat(200 * 1024));
    const refused = readXmlInput(other, 100 * 1024);
    expect(refused.head).toBe('x'.repeat(64 * 1024));
    expect(refused.sha256).toBeUndefined();
  });
});

describe('readStdinInput (plum ingest -)', () => {
  async function* pieces(n: number, size: number) {
    for (let i = 0; i < n; i++) yield Buffer.alloc(size, i % 2 ? 'b' : 'a');
  }
  it('keeps standard input whole as the raw XML, handed to the parser in chunks; refuses more than the limit', async () => {
    const got = await readStdinInput(pieces(5, 40 * 1024), 1024 * 1024);
    expect(got.raw!.length).toBe(200 * 1024);
    expect(got.head.length).toBe(64 * 1024);
    const chunks: Buffer[] = [];
    for await (const c of got.chunks) chunks.push(c);
    expect(Buffer.concat(chunks).equals(got.raw!)).toBe(true);
    expect(chunks.length).toBeGreaterThan(1);
    await expect(readStdinInput(pieces(5, 256 * 1024), 1024 * 1024)).rejects.toThrow(/^standard input is over 1 MB$/);
  });
});

describe.each(storeKinds)('plum ingest / host / history on %s', (kind) => {
  let env: Record<string, string>;
  let drop: () => Promise<void>;
  let home: string;
  beforeAll(async () => {
    const t = await makeTestConfig(kind);
    drop = t.drop;
    home = t.config.home;
    env = cliEnvOf(t.config);
  });
  afterAll(async () => {
    await drop?.();
  });

  it('imports a file, then shows the host and the change feed as JSON', async () => {
    const ing = await plum(['ingest', CIRCL], env);
    expect(ing.code, ing.stderr).toBe(0);
    expect(ing.stdout).toBe('');
    expect(ing.stderr.trim().split('\n')).toHaveLength(1);
    expect(ing.stderr).toMatch(/^plum: ingested 1 host \(1 up\), 2 open ports, 2 appeared, 0 changed, 0 gone, 0 reappeared, 0 stable/);

    const host = await plum(['host', '185.194.93.14', '--format', 'json'], env);
    expect(host.code, host.stderr).toBe(0);
    const h = JSON.parse(host.stdout);
    expect(h.ip).toBe('185.194.93.14');
    expect(h.services.map((s: { port: number }) => s.port)).toEqual([80, 443]);
    for (const s of h.services) {
      expect(Object.keys(s)).toEqual(expect.arrayContaining(['protocol', 'port', 'hsh256', 'first_seen', 'last_seen', 'state', 'fields', 'tags']));
      expect(s).toMatchObject({ protocol: 'tcp', state: 'open', first_seen: '2025-09-17T07:06:57.000Z', last_seen: '2025-09-17T07:06:57.000Z' });
      expect(s.hsh256).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(h.services[1].fields.http_title[0]).toContain('CIRCL');
    expect(h.events.map((e: { type: string; port: number }) => [e.type, e.port])).toEqual([
      ['appeared', 80],
      ['appeared', 443],
    ]);

    const hist = await plum(['history', '--since', '2025-01-01', '--format', 'json'], env);
    expect(hist.code, hist.stderr).toBe(0);
    const events = JSON.parse(hist.stdout);
    expect(events).toHaveLength(2);
    for (const e of events) {
      expect(e).toMatchObject({ type: 'appeared', ip: '185.194.93.14', protocol: 'tcp', at: '2025-09-17T07:06:57.000Z', previous_hsh256: null });
      expect(e.hsh256).toEqual(h.services.find((s: { port: number }) => s.port === e.port).hsh256);
    }
    // The feed as an export: NDJSON (the JSON's objects, one a line) and CSV (one event a line).
    const nd = await plum(['history', '--since', '2025-01-01', '--format', 'ndjson'], env);
    expect(
      nd.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(events);
    const csv = (await plum(['history', '--since', '2025-01-01', '--format', 'csv'], env)).stdout.trim().split('\r\n');
    expect(csv[0]).toBe('at,type,ip,protocol,port,hsh256,previous_hsh256,changes,run_id,observation_id,flapping');
    expect(csv.slice(1).map((l) => l.split(',').slice(1, 5).join(' '))).toEqual(events.map((e: { port: number }) => `appeared 185.194.93.14 tcp ${e.port}`));
    // By tag: the events of the services carrying it, and none for an unknown tag.
    const tag = h.services[1].tags[0] as string;
    expect(tag).toBeTruthy();
    const tagged = JSON.parse((await plum(['history', '--since', '2025-01-01', '--tag', tag, '--format', 'json'], env)).stdout);
    const carrying = h.services.filter((s: { tags: string[] }) => s.tags.includes(tag)).map((s: { port: number }) => s.port);
    expect(tagged.map((e: { port: number }) => e.port).sort()).toEqual(carrying.sort());
    expect(JSON.parse((await plum(['history', '--since', '2025-01-01', '--tag', 'no:such-tag', '--format', 'json'], env)).stdout)).toEqual([]);
    const none = await plum(['history', '--since', '2025-01-01', '--event', 'gone,changed', '--format', 'json'], env);
    expect(JSON.parse(none.stdout)).toEqual([]);
    // The default window (7 days) does not reach back to 2025: the output stays an empty array, and standard
    // error says where the events are.
    const recent = await plum(['history', '--format', 'json'], env);
    expect(JSON.parse(recent.stdout)).toEqual([]);
    expect(recent.stderr).toMatch(/no events since .*; the newest matching event is from 2025-09-17 .*use --since 2025-09-17 or --since all\n$/);
    expect((await plum(['history', '--event', 'gone'], env)).stderr).not.toMatch(/newest matching event/);
    const all = await plum(['history', '--since', 'all', '--format', 'json'], env);
    expect(JSON.parse(all.stdout)).toEqual(events);
    expect(all.stderr).toBe('');
    const cut = await plum(['history', '--since', 'all', '--limit', '1', '--format', 'json'], env);
    expect(JSON.parse(cut.stdout)).toEqual(events.slice(0, 1));
    expect(cut.stderr).toMatch(/showing the newest 1 events; raise --limit/);
    expect((await plum(['history', '--since', 'all', '--limit', '2'], env)).stderr).not.toMatch(/raise --limit/);

    const table = await plum(['host', '185.194.93.14'], env);
    expect(table.stdout).toMatch(/443\/tcp\s+open\s+2025-09-17T07:06:57Z/);
    // Re-importing the same file changes nothing.
    const again = await plum(['ingest', CIRCL], env);
    expect(again.stderr).toMatch(/0 appeared, 0 changed, 0 gone, 0 reappeared, 0 stable, 2 already ingested/);
  }, 240_000);

  it("stores the parser's documents and fields (parsed with documents on demand, rebuilt for the new rows)", async () => {
    const { parseNmapString } = await import('../core/nmap/parse.ts');
    const parsed = parseNmapString(fs.readFileSync(CIRCL, 'utf8')).hosts.flatMap((h) => h.ports.filter((p) => p.state === 'open'));
    const store = await openStore((await import('../core/config.ts')).loadConfig(env));
    try {
      const rows = await store.query<{ port: number; hsh256: string; doc: unknown; fields: unknown }>(
        'select port, hsh256, doc, fields from port_observations order by port',
      );
      expect(rows.map((r) => r.port)).toEqual([80, 443]);
      expect(rows).toEqual(parsed.map((p) => ({ port: p.port, hsh256: p.hsh256, doc: p.doc, fields: p.fields })));
    } finally {
      await store.close();
    }
  });

  it('refuses bad input with one line and writes nothing', async () => {
    const notXml = path.join(home, 'notes.txt');
    fs.writeFileSync(notXml, 'hello, not a scan\n');
    const cases: Array<[string[], number, RegExp]> = [
      [['ingest', notXml], 1, /is not nmap XML/],
      [['ingest', path.join(home, 'missing.xml')], 1, /no such file/],
      [['ingest', CIRCL, '--profile', 'nope'], 1, /no scan profile named "nope"/],
      [['history', '--event', 'vanished'], 2, /unknown event type "vanished"/],
      [['history', '--since', 'yesterday'], 2, /invalid --since/],
      [['host', '999.1.1.1'], 2, /is not an IP address/],
      [['host', '127.77.0.1', '--format', 'json'], 1, /nothing is known about 127\.77\.0\.1/],
    ];
    await expectOneLineErrors(cases, env);
    const store = await openStore((await import('../core/config.ts')).loadConfig(env));
    const runs = await store.query<{ n: number }>('select count(*) as n from runs');
    await store.close();
    expect(runs[0]!.n).toBe(1); // only the successful import of the first test
  });

  it('imports nmap XML from standard input (plum ingest -), kept like a file: a repeat changes nothing', async () => {
    const xml = fs.readFileSync(CIRCL, 'utf8').replaceAll('185.194.93.14', '127.66.0.2');
    const first = await runPlum(['ingest', '-'], env, xml);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/^plum: ingested 1 host \(1 up\), 2 open ports, 2 appeared/);
    const jobId = /job (job_[0-9A-Za-z]+)/.exec(first.stderr)?.[1];
    const again = await runPlum(['ingest', '-'], env, xml);
    expect(again.stderr).toMatch(/0 appeared, 0 changed, 0 gone, 0 reappeared, 0 stable, 2 already ingested/);
    expect(again.stderr).toContain(`job ${jobId}`);
    expect((await plum(['raw', jobId!], env)).stdout).toBe(xml);
    for (const [args, input, code, message] of [
      [['ingest', '-', CIRCL], xml, 2, /'-' \(standard input\) cannot be combined with files/],
      [['ingest', '-'], 'hello\n', 1, /^plum: standard input is not nmap XML/],
    ] as Array<[string[], string, number, RegExp]>) {
      const r = await runPlum(args, env, input);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });

  it('imports several files in the order of their scans, after checking them all', async () => {
    // Two scans of one host, eleven days apart, the title changed in between; named newest first.
    const xml = fs.readFileSync(CIRCL, 'utf8').replaceAll('185.194.93.14', '127.66.0.1');
    const older = xml
      .replace('start="1758092798"', 'start="1757142398"')
      .replace('starttime="1758092798" endtime="1758092817"', 'starttime="1757142398" endtime="1757142417"');
    const newer = xml.replace('CIRCL -&#45; Computer', 'Maintenance -&#45; Computer');
    expect(older).not.toBe(xml);
    expect(newer).not.toBe(xml);
    const [olderFile, newerFile, notXml] = ['older.xml', 'newer.xml', 'notes-2.txt'].map((f) => path.join(home, f)) as [string, string, string];
    fs.writeFileSync(olderFile, older);
    fs.writeFileSync(newerFile, newer);
    fs.writeFileSync(notXml, 'not a scan\n');
    const runCount = async () => {
      const store = await openStore((await import('../core/config.ts')).loadConfig(env));
      try {
        return (await store.query<{ n: number }>('select count(*)::int as n from runs'))[0]!.n;
      } finally {
        await store.close();
      }
    };

    // A bad file anywhere in the list: nothing is imported.
    const before = await runCount();
    await expectOneLineErrors(
      [
        [['ingest', newerFile, olderFile, notXml], 1, /notes-2\.txt is not nmap XML/],
        [['ingest', newerFile, path.join(home, 'missing.xml')], 1, /no such file: .*missing\.xml/],
        [['ingest', newerFile, home], 1, /is not a regular file/],
      ],
      env,
    );
    expect(await runCount()).toBe(before);

    const ing = await plum(['ingest', newerFile, olderFile], env);
    expect(ing.code, ing.stderr).toBe(0);
    const lines = ing.stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^plum: \[1\/2\] .*older\.xml: ingested 1 host \(1 up\), 2 open ports, 2 appeared, 0 changed/);
    expect(lines[1]).toMatch(/^plum: \[2\/2\] .*newer\.xml: ingested 1 host \(1 up\), 2 open ports, 0 appeared, 1 changed, 0 gone, 0 reappeared, 1 stable/);
    expect(lines[2]).toBe('plum: imported 2 files in scan order: 2 hosts, 4 open ports, 2 appeared, 1 changed, 0 gone, 0 reappeared, 1 stable');
    expect(await runCount()).toBe(before + 2);
    // In the order given, the older scan would only widen first/last seen: no `changed` at all.
    const hist = await plum(['history', '--since', 'all', '--net', '127.66.0.1/32', '--format', 'json'], env);
    expect(JSON.parse(hist.stdout).map((e: { type: string; port: number; at: string }) => [e.type, e.port, e.at])).toEqual([
      ['changed', 443, '2025-09-17T07:06:57.000Z'],
      ['appeared', 80, '2025-09-06T07:06:57.000Z'],
      ['appeared', 443, '2025-09-06T07:06:57.000Z'],
    ]);

    // Run again: every file is recognised and nothing changes.
    const again = await plum(['ingest', olderFile, newerFile], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr.match(/2 already ingested/g)).toHaveLength(2);
    expect(again.stderr).toMatch(/imported 2 files in scan order: .* 0 appeared, 0 changed, 0 gone, 0 reappeared, 0 stable\n$/);
  }, 240_000);

  it("lists the runs and shows a run's jobs (plum runs); gives back the nmap XML stored with a job, byte for byte, with its ingest error (plum raw)", async () => {
    // A successful import (the first test's, or this one if it runs alone), then a truncated result: its
    // complete host is stored, the job keeps the whole file and the error.
    expect((await plum(['ingest', CIRCL], env)).code).toBe(0);
    const xml = fs.readFileSync(new URL('./fixtures/nmap/libnmap-2_hosts_version.xml', import.meta.url));
    const cutAt = xml.indexOf('</host>') + 2000;
    const truncated = path.join(home, 'truncated.xml');
    fs.writeFileSync(truncated, xml.subarray(0, cutAt));
    const ing = await plum(['ingest', truncated], env);
    expect(ing.code, ing.stderr).toBe(0);
    const jobId = /job (job_[0-9A-Za-z]+)/.exec(ing.stderr)?.[1];
    expect(jobId).toBeDefined();

    const toStdout = await plum(['raw', jobId!], env);
    expect(toStdout.code, toStdout.stderr).toBe(0);
    expect(toStdout.stdout).toBe(xml.subarray(0, cutAt).toString('utf8')); // an ASCII file: the bytes, compared below from a file
    const sha = createHash('sha256').update(xml.subarray(0, cutAt)).digest('hex');
    expect(toStdout.stderr).toMatch(
      new RegExp(`^plum: job ${jobId}: ${cutAt} bytes of nmap XML \\(sha256 ${sha}, parser version \\d+\\); ingest error: .*truncated`),
    );

    const out = path.join(home, 'back.xml');
    const toFile = await plum(['raw', jobId!, '--out', out], env);
    expect(toFile.code, toFile.stderr).toBe(0);
    expect(toFile.stdout).toBe('');
    expect(Buffer.compare(fs.readFileSync(out), xml.subarray(0, cutAt))).toBe(0);

    const cases: Array<[string[], number, RegExp]> = [
      [['raw', 'run_01m90p0jjnesp88df8wfz6nmp5'], 2, /is not a job id/],
      [['raw', 'job_01m90p0jjqesp88dfps3ph648w'], 1, /no job job_01m90p0jjqesp88dfps3ph648w/],
      [['raw', jobId!, '--out', path.join(home, 'missing-dir', 'x.xml')], 1, /cannot write .*missing-dir/],
    ];
    await expectOneLineErrors(cases, env);
    expect(fs.readdirSync(home).filter((f) => f.includes('.tmp'))).toEqual([]);

    // plum runs: the import is listed with its counters; with its id, its job and the job's error.
    const runId = /run (run_[0-9A-Za-z]+)/.exec(ing.stderr)?.[1];
    const list = await plum(['runs', '--format', 'json'], env);
    expect(list.code, list.stderr).toBe(0);
    const runs = JSON.parse(list.stdout) as { id: string; kind: string; status: string; counters: Record<string, number> }[];
    expect(runs[0]).toMatchObject({ id: runId, kind: 'import', status: 'partial', counters: { hosts: 1, appeared: 5, gone: 0 } }); // newest first
    expect(runs.slice(1).map((r) => [r.kind, r.status])).toContainEqual(['import', 'succeeded']);
    const succeeded = JSON.parse((await plum(['runs', '--status', 'succeeded', '--format', 'json'], env)).stdout) as typeof runs;
    expect(succeeded.map((r) => r.id)).toEqual(runs.filter((r) => r.status === 'succeeded').map((r) => r.id));
    expect(succeeded.length).toBeGreaterThan(0);
    const cut = await plum(['runs', '--limit', '1', '--format', 'json'], env);
    expect(JSON.parse(cut.stdout).map((r: { id: string }) => r.id)).toEqual([runId]);
    expect(cut.stderr).toMatch(/showing the newest 1 runs; raise --limit/);
    const shown = await plum(['runs', runId!, '--format', 'json'], env);
    expect(shown.code, shown.stderr).toBe(0);
    const one = JSON.parse(shown.stdout);
    expect(one.run).toEqual(runs[0]);
    expect(one.jobCounts).toEqual({ partial: 1 });
    expect(one.jobs).toHaveLength(1);
    expect(one.jobs[0]).toMatchObject({ id: jobId, status: 'partial', error: expect.stringMatching(/truncated/) });
    const table = await plum(['runs', runId!], env);
    expect(table.stdout).toMatch(new RegExp(`^${runId}  import  partial\\n`));
    expect(table.stdout).toMatch(new RegExp(`\\n${jobId}\\s+partial\\s+.*truncated`));
    expect(table.stderr).toMatch(/plum raw JOB_ID/);
    await expectOneLineErrors(
      [
        [['runs', jobId!], 2, /is not a run id/],
        [['runs', 'run_01m90p0jjnesp88df8wfz6nmp5'], 1, /no run run_01m90p0jjnesp88df8wfz6nmp5 \(list runs with plum runs\)/],
        [['runs', runId!, '--status', 'failed'], 2, /filter the list of runs/],
        [['runs', '--limit', '0'], 2, /invalid --limit "0"/],
      ],
      env,
    );

    // Past its retention the XML is gone, and the message says why.
    const store = await openStore((await import('../core/config.ts')).loadConfig(env));
    try {
      await store.query('delete from raw_results where job_id = $1', [jobId]);
    } finally {
      await store.close();
    }
    const gone = await plum(['raw', jobId!], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/no nmap XML is stored for job .*PLUM_RAW_RETENTION_DAYS/);
  }, 240_000); // about twenty plum processes, each opening the database

  it('imports a result larger than a JavaScript string (600 MB): streamed, not kept, a repeat changes nothing', async () => {
    const big = bigResult();
    const ing = await plum(['ingest', big.path], env);
    expect(ing.code, ing.stderr).toBe(0);
    expect(ing.stderr).toMatch(/^plum: ingested 1 host \(1 up\), 2 open ports/);
    const jobId = /job (job_[0-9A-Za-z]+)/.exec(ing.stderr)?.[1];
    expect(jobId).toBeDefined();
    const store = await openStore((await import('../core/config.ts')).loadConfig(env));
    try {
      expect(await store.query('select job_id from raw_results where job_id = $1', [jobId])).toEqual([]);
      expect(await store.query('select result_sha256 from jobs where id = $1', [jobId])).toEqual([{ result_sha256: big.sha256 }]);
    } finally {
      await store.close();
    }
    const again = await plum(['ingest', big.path], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/0 appeared, 0 changed, 0 gone, 0 reappeared, 0 stable, 2 already ingested/);
    expect(again.stderr).toContain(`job ${jobId}`);
  }, 120_000);
});
