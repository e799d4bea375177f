import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { nmap2jsonStream } from '../core/nmap/compat.ts';
import { openXmlFile } from '../core/nmap/read-file.ts';
import { openStore } from '../store/index.ts';
import { runPlum } from './helpers/cli.ts';
import { cliEnvOf, makeTestConfig, storeKinds } from './helpers/db.ts';

/*
 * `plum ingest --format nmap2json` through the real CLI, on both stores. The
 * predecessor's documents are made from real nmap XML by our compat output
 * (core/nmap/compat.ts, as `plum parse --compat nmap2json --open-only` prints them, checked against the
 * predecessor's golden hsh256 values and its Python code elsewhere), then the
 * same XML is imported into a second store: the observations must match,
 * except for the ports whose document the predecessor cut down (LOSSY).
 */
const FIXTURES = path.join(import.meta.dirname, 'fixtures', 'nmap');
const XML_FILES = fs
  .readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.xml'))
  .sort();
const LOSSY = new Set(['185.194.93.14 tcp/80', '185.194.93.14 tcp/443', '127.176.69.2 tcp/443']);

const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-nmap2json-'));
afterAll(() => fs.rmSync(WORK, { recursive: true, force: true }));

/** The predecessor's documents for one fixture (one JSON text per host, as its agents send them): what `plum parse --compat nmap2json --open-only` prints. */
async function compatDocs(file: string): Promise<string[]> {
  const out: string[] = [];
  for await (const h of nmap2jsonStream(openXmlFile(path.join(FIXTURES, file)), {
    openOnly: true,
    onError: (e) => {
      throw e;
    },
  }))
    out.push(h.json);
  return out;
}

interface Row {
  ip: string;
  protocol: string;
  port: number;
  hsh256: string;
  fields: Record<string, string[]>;
  state: string;
  current: boolean;
}

async function withStore<T>(env: Record<string, string>, fn: (q: <R>(sql: string, p?: unknown[]) => Promise<R[]>) => Promise<T>): Promise<T> {
  const store = await openStore(loadConfig(env));
  try {
    return await fn((sql, p) => store.query(sql, p));
  } finally {
    await store.close();
  }
}

const rowsOf = (env: Record<string, string>) =>
  withStore(env, (q) =>
    q<Row>('select host(ip) as ip, protocol, port, hsh256, fields, state, current from port_observations order by ip, protocol, port, hsh256'),
  );
const eventsOf = (env: Record<string, string>) =>
  withStore(env, (q) =>
    q<{ type: string; ip: string; port: number; at: Date }>('select type, host(ip) as ip, port, at from observation_events order by at, ip, port, type'),
  );
const sortedFields = (f: Record<string, string[]>) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, [...v].sort()]));

describe.each(storeKinds)('plum ingest --format nmap2json (%s)', (kind) => {
  let legacy: { env: Record<string, string>; drop(): Promise<void> };
  let xml: { env: Record<string, string>; drop(): Promise<void> };
  const dir = path.join(WORK, kind);

  beforeAll(async () => {
    const a = await makeTestConfig(kind);
    const b = await makeTestConfig(kind);
    legacy = { env: cliEnvOf(a.config), drop: a.drop };
    xml = { env: cliEnvOf(b.config), drop: b.drop };
    // The shapes a team has: stored job results (a JSON list), NDJSON, and a search export wrapping its hits.
    fs.mkdirSync(path.join(dir, 'results', 'nested'), { recursive: true });
    for (const [i, file] of XML_FILES.entries()) {
      const docs = await compatDocs(file);
      const name = path.join(dir, 'results', i % 3 === 2 ? 'nested' : '', file.replace(/\.xml$/, i % 3 === 1 ? '.ndjson' : '.json'));
      if (i % 3 === 1) fs.writeFileSync(name, `${docs.join('\n')}\n`);
      else if (i % 3 === 2) fs.writeFileSync(name, `{"hits": [${docs.join(', ')}], "estimatedTotalHits": ${docs.length}}`);
      else fs.writeFileSync(name, `[${docs.join(', ')}]`);
    }
  }, 600_000);
  afterAll(async () => {
    await legacy?.drop();
    await xml?.drop();
  });

  // Each test runs the real CLI several times: generous timeouts for a busy machine.
  it('imports a directory of predecessor results with the observations an import of the same nmap XML gives', async () => {
    const r = await runPlum(['ingest', '--format', 'nmap2json', path.join(dir, 'results')], legacy.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`imported ${XML_FILES.length} nmap2json files in scan order: \\d+ hosts, \\d+ open ports`));
    const x = await runPlum(['ingest', ...XML_FILES.map((f) => path.join(FIXTURES, f))], xml.env);
    expect(x.code, x.stderr).toBe(0);
    const ours = await rowsOf(legacy.env);
    const theirs = await rowsOf(xml.env);
    expect(ours.length).toBeGreaterThan(20);
    expect(ours.map((o) => `${o.ip} ${o.protocol}/${o.port}`)).toEqual(theirs.map((o) => `${o.ip} ${o.protocol}/${o.port}`));
    let compared = 0;
    for (const [i, o] of ours.entries()) {
      const t = theirs[i]!;
      const slot = `${o.ip} ${o.protocol}/${o.port}`;
      if (LOSSY.has(slot)) {
        expect(o.hsh256, slot).not.toBe(t.hsh256);
        continue;
      }
      expect({ ...o, fields: sortedFields(o.fields) }, slot).toEqual({ ...t, fields: sortedFields(t.fields) });
      compared++;
    }
    expect(compared).toBe(ours.length - LOSSY.size);
    // Same history (events per slot), except for the ports the predecessor's documents cannot decide as gone,
    // and `changed`: the documents carry no scan arguments, so every import shares one view and a port scanned
    // with other scripts in a later file is compared (the XML keeps each scan's view: core/history/view.ts).
    const line = (e: { at: Date; type: string; ip: string; port: number }) => `${e.at.toISOString()} ${e.type} ${e.ip}:${e.port}`;
    const evOurs = (await eventsOf(legacy.env)).filter((e) => e.type !== 'gone');
    const evXml = (await eventsOf(xml.env)).filter((e) => e.type !== 'gone');
    expect(evOurs.filter((e) => e.type !== 'changed').map(line)).toEqual(evXml.filter((e) => e.type !== 'changed').map(line));
    expect(evOurs.filter((e) => e.type === 'changed').map(line)).toEqual(expect.arrayContaining(evXml.filter((e) => e.type === 'changed').map(line)));
  }, 600_000);

  it('changes nothing when the same files are imported again', async () => {
    const before = { rows: await rowsOf(legacy.env), events: await eventsOf(legacy.env) };
    const r = await runPlum(['ingest', '--format', 'nmap2json', path.join(dir, 'results')], legacy.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/0 appeared, 0 changed, 0 reappeared, 0 stable, \d+ already ingested/);
    expect(await rowsOf(legacy.env)).toEqual(before.rows);
    expect(await eventsOf(legacy.env)).toEqual(before.events);
  }, 600_000);

  it("imports files in the order of their scans, never infers gone, and replays a search export's repeated sightings in order", async () => {
    const fresh = await makeTestConfig(kind);
    const env = cliEnvOf(fresh.config);
    try {
      const [doc] = await compatDocs('loopback-http.xml');
      const http = JSON.parse(doc!) as {
        addr: string;
        starttime: string;
        endtime: string;
        ports: { portid: string; scripts?: { id: string; output: string; title?: string }[] }[];
      };
      const ssh = (JSON.parse((await compatDocs('loopback-ssh.xml'))[0]!) as typeof http).ports[0]!;
      const at = (t: number, ports: typeof http.ports) => ({ ...http, addr: '127.0.0.9', starttime: String(t), endtime: String(t + 5), ports });
      const day = 1_790_000_000;
      // Day 1: http and ssh open; day 2: only ssh in the document (the predecessor cannot say whether http was even scanned).
      fs.writeFileSync(path.join(dir, 'day2.json'), JSON.stringify([at(day + 86_400, [ssh])]));
      fs.writeFileSync(path.join(dir, 'day1.json'), JSON.stringify([at(day, [http.ports[0]!, ssh])]));
      const r = await runPlum(['ingest', '--format', 'nmap2json', path.join(dir, 'day2.json'), path.join(dir, 'day1.json')], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr.split('\n')[0]).toMatch(/\[1\/2\] .*day1\.json: ingested 1 host \(1 up\), 2 open ports, 2 appeared, 0 changed, 0 gone/);
      expect(r.stderr).toMatch(/\[2\/2\] .*day2\.json: ingested 1 host \(1 up\), 1 open port, 0 appeared, 0 changed, 0 gone, 0 reappeared, 1 stable/);
      const rows = await rowsOf(env);
      expect(rows.map((o) => `${o.port} ${o.state} ${o.current}`)).toEqual(['22 open true', '80 open true']);

      // A search export listing the address twice: the title changed between the two sightings.
      const changed = structuredClone(http.ports[0]!);
      const title = changed.scripts!.find((s) => s.id === 'http-title')!;
      title.title = title.output = 'Another title';
      const exported = { hits: [at(day + 3 * 86_400, [changed]), at(day + 2 * 86_400, [http.ports[0]!])] };
      fs.writeFileSync(path.join(dir, 'export.json'), JSON.stringify(exported));
      const e = await runPlum(['ingest', '--format', 'nmap2json', path.join(dir, 'export.json')], env);
      expect(e.code, e.stderr).toBe(0);
      expect(e.stderr).toMatch(/\(listing 1 of 2\) ingested 1 host .* 0 changed, 0 gone, 0 reappeared, 1 stable/);
      expect(e.stderr).toMatch(/\(listing 2 of 2\) ingested 1 host .* 1 changed, 0 gone/);
      const events = await eventsOf(env);
      expect(events.map((v) => `${v.at.toISOString().slice(0, 10)} ${v.type} ${v.port}`)).toEqual([
        '2026-09-21 appeared 22',
        '2026-09-21 appeared 80',
        '2026-09-24 changed 80',
      ]);
      expect(events.some((v) => v.type === 'gone')).toBe(false);
      const again = await runPlum(['ingest', '--format', 'nmap2json', path.join(dir, 'export.json')], env);
      expect(again.stderr).not.toMatch(/[1-9]\d* (appeared|changed)/);
      expect(await eventsOf(env)).toEqual(events);
    } finally {
      await fresh.drop();
    }
  }, 600_000);

  it('refuses bad input with one line naming the file and the position, and writes nothing', async () => {
    const fresh = await makeTestConfig(kind);
    const env = cliEnvOf(fresh.config);
    const bad = path.join(dir, 'bad');
    fs.mkdirSync(bad, { recursive: true });
    const good = (await compatDocs('loopback-ssh.xml'))[0]!;
    const write = (name: string, text: string) => {
      const f = path.join(bad, name);
      fs.writeFileSync(f, text);
      return f;
    };
    // Each shape of bad input is covered by core/nmap2json/read.test.ts; here, what the command makes of them.
    const files = {
      syntax: write('syntax.json', `[\n  ${good},\n  {"addr": "127.0.0.1",, "ports": []}\n]`),
      xml: write('scan.json', fs.readFileSync(path.join(FIXTURES, 'loopback-ssh.xml'), 'utf8')),
      noAddr: write('noaddr.json', `[${good}, {"hostnames": [], "ports": []}]`),
      ndjson: write('lines.ndjson', `${good}\n{"addr": "127.0.0.2", "ports": [}\n`),
    };
    const goodFile = path.join(dir, 'good.json');
    fs.writeFileSync(goodFile, `[${good}]`);
    try {
      const cases: Array<[string[], RegExp]> = [
        [[files.syntax], /syntax\.json is not valid JSON at line 3, column 24: unexpected ","/],
        [[files.xml], /scan\.json is not JSON \(it starts with "<"\).*without --format nmap2json/],
        [[files.ndjson], /lines\.ndjson is not valid NDJSON at line 2, column 33: unexpected "}"/],
        // One bad file among good ones: nothing is imported, not even the good file listed first.
        [[goodFile, files.noAddr], /noaddr\.json: host document 2 has no addr/],
        [[path.join(dir, 'missing')], /no such file or directory/],
        [['-'], /not standard input/],
      ];
      for (const [args, message] of cases) {
        const r = await runPlum(['ingest', '--format', 'nmap2json', ...args], env);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).not.toBe(0);
        expect(r.stdout).toBe('');
        expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
        expect(r.stderr).toMatch(message);
      }
      const counts = await withStore(env, (q) =>
        q<{ runs: number; obs: number }>('select (select count(*) from runs)::int as runs, (select count(*) from port_observations)::int as obs'),
      );
      expect(counts).toEqual([{ runs: 0, obs: 0 }]);
    } finally {
      await fresh.drop();
    }
  }, 600_000);
});
