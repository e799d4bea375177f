import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { buildCorpus, insertCorpus } from './search-corpus.ts';

const BIN = new URL('../bin/plum.mjs', import.meta.url).pathname;

function plum(env: Record<string, string>, args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('plum query --explain', () => {
  it('prints the parsed tree', () => {
    const r = plum({}, ['query', '--explain', '(port:22 OR port:443) NOT tag.bg:vuln:']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('(port:22 OR port:443) AND NOT tag.bg:vuln:');
    expect(r.out).toMatch(/AND\n {2}OR\n {4}port:22/);
  });

  it('prints a positioned error and exits 2', () => {
    const r = plum({}, ['query', '--explain', 'port:22 (tag:a']);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('unclosed parenthesis at position 8');
    expect(r.err).toContain('  port:22 (tag:a\n          ^');
  });

  it('answers one JSON line per query read on standard input', () => {
    const r = plum({}, ['query', '--explain', '-'], 'port:22\n\nfoo bar\nhttp_title.lk:"index of" port:80,443\nhtp:1\n');
    expect(r.code).toBe(2);
    const lines = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatchObject({ query: 'port:22', ok: true, tree: { type: 'term', field: 'port', values: ['22'] } });
    expect(lines[1]).toMatchObject({ query: 'foo bar', ok: false, position: 0, error: expect.stringContaining('expected field:value') });
    expect(lines[2]).toMatchObject({ ok: true, tree: { type: 'and' } });
    expect(lines[3]).toMatchObject({ ok: false, position: 0, error: expect.stringContaining('valid fields:') });
  });
});

describe.each(storeKinds)('plum search on %s', (kind) => {
  let t: TestStore;
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await openTestStore(kind);
    await insertCorpus(t.store, buildCorpus());
    // The CLI opens the database itself (PGlite allows one process at a time).
    await t.store.close();
    env = { PLUM_HOME: t.config.home, ...(t.config.PLUM_DATABASE_URL ? { PLUM_DATABASE_URL: t.config.PLUM_DATABASE_URL } : {}) };
  }, 120_000);
  afterAll(async () => {
    await t?.cleanup();
  });

  it('prints one object per IP with its matching ports as JSON', () => {
    const r = plum(env, ['search', 'tag:vuln:opendir OR port:22', '--format', 'json']);
    expect(r.code).toBe(0);
    const hosts = JSON.parse(r.out);
    expect(hosts.map((h: { ip: string }) => h.ip)).toEqual(['203.0.113.4', '192.0.2.11', '192.0.2.10']);
    expect(hosts[2]).toMatchObject({
      ip: '192.0.2.10',
      first_seen: '2024-01-10T08:00:00.000Z',
      last_seen: '2024-03-01T12:00:00.000Z',
      ports: [
        { protocol: 'tcp', port: 22, hsh256: expect.stringMatching(/^[0-9a-f]{64}$/), tags: ['product:openssh', 'os:debian'] },
        { protocol: 'tcp', port: 443, tags: ['vuln:opendir', 'product:nginx'] },
      ],
    });
  });

  it('restores shell-eaten quotes, pages with a cursor and offers ndjson, csv and host mode', () => {
    const quoted = plum(env, ['search', 'http_title.bg:index of', '--format', 'ndjson']);
    expect(quoted.code).toBe(0);
    expect(
      quoted.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).ip),
    ).toEqual(['203.0.113.4', '192.0.2.10']);

    const p1 = plum(env, ['search', 'NOT port:0', '--limit', '2', '--format', 'json']);
    const cursor = /--cursor (\S+)/.exec(p1.err)?.[1];
    expect(cursor).toBeTruthy();
    const p2 = plum(env, ['search', 'NOT port:0', '--limit', '2', '--format', 'json', '--cursor', cursor!]);
    const ips1 = JSON.parse(p1.out).map((h: { ip: string }) => h.ip);
    const ips2 = JSON.parse(p2.out).map((h: { ip: string }) => h.ip);
    expect(ips1).toHaveLength(2);
    expect(ips2).toHaveLength(2);
    expect(ips2.some((ip: string) => ips1.includes(ip))).toBe(false);

    // CSV is the export's: same columns, order, list separator and rows.
    const csv = plum(env, ['search', 'port:22', '--format', 'csv']);
    const exported = plum(env, ['export', '--format', 'csv', '--query', 'port:22']);
    expect(csv.code).toBe(0);
    const lines = (text: string) => text.trim().split('\r\n');
    expect(lines(csv.out)[0]).toBe(lines(exported.out)[0]);
    expect(lines(csv.out)[0]).toMatch(/^ip,protocol,port,state,first_seen,last_seen,times_seen,score,tags,service_name,/);
    expect(lines(csv.out)).toHaveLength(3);
    expect(lines(csv.out).slice(1).sort()).toEqual(lines(exported.out).slice(1).sort());
    expect(csv.out).toContain('product:openssh|os:debian');

    const host = plum(env, ['search', '--by', 'host', 'port:22', 'http_title.lk:backup', '--format', 'json']);
    expect(JSON.parse(host.out).map((h: { ip: string }) => h.ip)).toEqual(['192.0.2.10']);
    const token = plum(env, ['search', '--token', 'openssh -debian', '--format', 'json']);
    expect(JSON.parse(token.out).map((h: { ip: string }) => h.ip)).toEqual(['192.0.2.11']);

    const table = plum(env, ['search', 'port:22']);
    expect(table.out).toMatch(/^IP +LAST_SEEN +PORTS +SCORE +TAGS +WHAT\n192\.0\.2\.11 /);
  });

  it('refuses bad queries and options with one line and exit 2, printing nothing on stdout', () => {
    const bad = plum(env, ['search', 'port:22 AND', '--format', 'json']);
    expect(bad.code).toBe(2);
    expect(bad.out).toBe('');
    expect(bad.err.trim().split('\n').at(-1)).toMatch(/^plum: query ends where a term was expected at position 11/);
    const limit = plum(env, ['search', 'port:22', '--limit', '0']);
    expect(limit.code).toBe(2);
    expect(limit.err).toContain('--limit must be a whole number');
    const cur = plum(env, ['search', 'port:22', '--cursor', 'xyz']);
    expect(cur.code).toBe(2);
    expect(cur.err).toContain('invalid cursor');
  });

  it('reindexes (PostgreSQL search columns are generated)', () => {
    const r = plum(env, ['search', 'reindex']);
    expect(r.code).toBe(0);
    expect(r.err).toContain('14 open ports searchable');
  });
});
