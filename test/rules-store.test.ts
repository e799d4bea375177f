import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptySearchFields, type SearchFields } from '../core/fields.ts';
import { loadFaviconDb, type FaviconDb } from '../core/rules/favicon-db.ts';
import { compileRules } from '../core/rules/engine.ts';
import { DEFAULT_SCORE_FILE, loadScoreConfig, type ScoreConfig } from '../core/score.ts';
import { ingestScanResult, type IngestPort } from '../store/ingest.ts';
import {
  applyRules,
  createRuleIngestDeps,
  explainHost,
  importRulesDir,
  listStoredRules,
  loadStoredRuleSet,
  SCORE_KEY,
  scoreHash,
  setRuleEnabled,
  syncRulesDir,
} from '../store/rules/index.ts';
import { host, scan } from './helpers/scan.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

function svc(portNo: number, f: Partial<SearchFields>): IngestPort {
  const fields = { ...emptySearchFields(), port: [String(portNo)], protocol: ['tcp'], state: ['open'], ...f };
  return {
    protocol: 'tcp',
    port: portNo,
    state: 'open',
    hsh256: `h${portNo}-${JSON.stringify(f).length}-${Object.values(f).flat().join('|')}`,
    fpVersion: 1,
    fields,
    doc: { f },
  };
}

let favicons: FaviconDb;
let cfg: ScoreConfig;
let tmp: string;

beforeAll(async () => {
  favicons = await loadFaviconDb();
  cfg = await loadScoreConfig(DEFAULT_SCORE_FILE);
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-rules-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function writeRules(dir: string, files: Record<string, string>): Promise<string> {
  const d = path.join(tmp, dir);
  await fs.mkdir(d, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(d, name)), { recursive: true });
    await fs.writeFile(path.join(d, name), text);
  }
  return d;
}

describe.each(storeKinds)('rules in the store (%s)', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('tags at ingest, scores after commit, and explains a host with contributions adding up', async () => {
    const set = await loadStoredRuleSet(t.store, { favicons });
    expect(set.rules.length).toBeGreaterThanOrEqual(60);
    const deps = createRuleIngestDeps(t.store, { set, score: cfg });
    await ingestScanResult(
      t.store,
      {
        source: 'test',
        scan: scan(
          [
            host('127.0.0.10', '2026-01-10T00:00:00Z', [
              svc(22, { banner: ['SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3'] }),
              svc(6379, { service_name: ['redis'] }),
              svc(10000, { http_server: ['MiniServ/2.021'], http_title: ['Login to Webmin'] }),
            ]),
            host('127.0.0.11', '2026-01-10T00:00:00Z', [svc(80, { http_server: ['nginx/1.24.0'], http_title: ['Welcome to nginx!'] })]),
            // Sorts before .10 as an address but after .11 as text: apply must page by address.
            host('127.0.0.9', '2026-01-10T00:00:00Z', [svc(21, { banner: ['220 (vsFTPd 3.0.3)'] })]),
          ],
          '22,80,6379,10000',
        ),
      },
      deps,
    );
    const rows = await t.store.query<{ port: number; tags: string[]; rules: string[]; score: number; score_features: { band: string } }>(
      `select port, tags, rules, score, score_features from port_observations where ip = '127.0.0.10' order by port`,
    );
    expect(rows.map((r) => r.port)).toEqual([22, 6379, 10000]);
    expect(rows[0]!.tags).toEqual(expect.arrayContaining(['product:openssh', 'os:debian', 'proto:ssh']));
    expect(rows[1]!.rules).toEqual(expect.arrayContaining(['db-redis', 'exposure-database']));
    expect(rows[2]!.tags).toEqual(expect.arrayContaining(['product:webmin', 'exposure:management-interface']));
    // Scores were filled after commit from history: just appeared → newly_appeared is full.
    for (const r of rows) expect(r.score).toBeGreaterThan(0);
    expect(rows[1]!.score).toBeGreaterThan(rows[0]!.score);

    const ex = await explainHost(t.store, '127.0.0.10', cfg);
    expect(ex.ports).toHaveLength(3);
    expect(ex.features.reduce((a, f) => a + f.contribution, 0)).toBe(ex.score);
    expect(ex.features.find((f) => f.name === 'open_ports')!.value).toBe(3);
    expect(ex.features.find((f) => f.name === 'sensitive_service')!.value).toBe('type:database');
    const hs = await t.store.query<{ score: number; band: string; open_ports: number }>(
      `select score, band, open_ports from host_scores where ip = '127.0.0.10'`,
    );
    expect(hs[0]).toEqual({ score: ex.score, band: ex.band, open_ports: 3 });
    await expect(explainHost(t.store, '127.0.0.99', cfg)).rejects.toThrow(/no observation of 127.0.0.99/);
  });

  it('apply is incremental: only changed rules re-run, and removed rules lose their tags', async () => {
    let set = await loadStoredRuleSet(t.store, { favicons });
    const first = await applyRules(t.store, set, cfg);
    // Nothing was applied before: every rule counts as changed, but ingest already tagged with them.
    expect(first.changed.length).toBe(set.rules.length);
    expect(first.retagged).toBe(0);
    const again = await applyRules(t.store, set, cfg);
    expect(again).toMatchObject({ changed: [], removed: [], affected: [], documents: 0, retagged: 0 });
    // A forced apply visits every document exactly once, whatever the batch size.
    const forced = await applyRules(t.store, set, cfg, { force: true, batchIps: 1 });
    expect(forced).toMatchObject({ documents: 5, ips: 3, retagged: 0, rescored: 0, hosts: 3 });

    // Change one rule in the database: a new tag for nginx.
    const dir = await writeRules('incr', {
      'web-nginx.yaml': `description: nginx web server\nquery: http_server.bg:nginx\ntags: [product:nginx, type:web-server, team:web]\nversion: '2030-01-01'\n`,
    });
    const res = await importRulesDir(t.store, dir);
    expect(res).toMatchObject({ imported: [], updated: ['web-nginx'], invalid: [] });
    set = compileRules(await listStoredRules(t.store), { favicons });
    const third = await applyRules(t.store, set, cfg);
    expect(third.changed).toEqual(['web-nginx']);
    expect(third.affected).toEqual(['web-nginx']);
    expect(third.retagged).toBe(1);
    const nginx = await t.store.query<{ tags: string[] }>(`select tags from port_observations where ip = '127.0.0.11'`);
    expect(nginx[0]!.tags).toContain('team:web');

    // Disable the redis rule: its tags and the dependent exposure tag go away; a sync of the
    // shipped directory keeps it disabled.
    await setRuleEnabled(t.store, 'db-redis', false);
    const synced = await syncRulesDir(t.store);
    expect(synced.updated).not.toContain('db-redis');
    set = compileRules(await listStoredRules(t.store), { favicons });
    const fourth = await applyRules(t.store, set, cfg);
    expect(fourth.removed).toEqual(['db-redis']);
    expect(fourth.affected).toContain('exposure-database');
    const redis = await t.store.query<{ tags: string[]; rules: string[]; score: number }>(`select tags, rules, score from port_observations where port = 6379`);
    expect(redis[0]!.rules).not.toContain('db-redis');
    expect(redis[0]!.tags).not.toContain('exposure:database-reachable');
    expect(redis[0]!.tags).not.toContain('product:redis');
  });

  it('import reports imported, updated, skipped and invalid with reasons, and keeps the newest version', async () => {
    const dir = await writeRules('legacy', {
      'gitlab.yaml': `description: GitLab\nquery: http_title.lk:gitlab\ntags: [Product:GitLab]\nversion: 1633024800\n`,
      'old/gitlab.yaml': `description: GitLab old\nquery: http_title:gitlab\ntags: [product:gitlab]\nversion: 1600000000\n`,
      'unknown-field.yaml': `description: bad\nquery: http_nothing:foo\ntags: [x:y]\nversion: 1\n`,
      'bad-port.yaml': `description: bad\nquery: port:70000\ntags: [x:y]\nversion: 1\n`,
      'bad-proto.yaml': `description: bad\nquery: protocol:tpc port:80\ntags: [x:y]\nversion: 1\n`,
      'bad-md5.yaml': `description: bad\nquery: http_favicon_md5:nothex\ntags: [x:y]\nversion: 1\n`,
      'since.yaml': `description: bad\nquery: port:22 since:7\ntags: [x:y]\nversion: 1\n`,
      'notyaml.yaml': `description: [unclosed\n`,
      'no-tags.yaml': `description: no tags\nquery: port:22\nversion: 1\n`,
      'web-nginx.yaml': `description: older nginx\nquery: http_server:nginx\ntags: [product:nginx]\nversion: '2020-01-01'\n`,
      'cycle-a.yaml': `description: a\nquery: tag:zz:b\ntags: [zz:a]\nversion: 1\n`,
      'cycle-b.yaml': `description: b\nquery: tag:zz:a\ntags: [zz:b]\nversion: 1\n`,
    });
    const res = await importRulesDir(t.store, dir);
    expect(res.imported).toEqual(expect.arrayContaining(['gitlab']));
    const invalid = Object.fromEntries(res.invalid.map((i) => [i.file, i.reason]));
    expect(invalid['unknown-field.yaml']).toMatch(/unknown field/i);
    expect(invalid['bad-port.yaml']).toMatch(/70000/);
    expect(invalid['bad-proto.yaml']).toMatch(/never match.*protocol/);
    expect(invalid['bad-md5.yaml']).toMatch(/never match.*MD5/);
    expect(invalid['since.yaml']).toMatch(/since/);
    expect(invalid['notyaml.yaml']).toMatch(/YAML/);
    expect(invalid['no-tags.yaml']).toMatch(/tags/);
    expect(Object.keys(invalid).filter((f) => f.startsWith('cycle-'))).toHaveLength(1);
    expect(res.skipped.map((s) => s.file)).toEqual(expect.arrayContaining(['old/gitlab.yaml', 'web-nginx.yaml']));
    const gitlab = (await listStoredRules(t.store)).find((r) => r.name === 'gitlab')!;
    expect(gitlab).toMatchObject({ version: '1633024800', tags: ['product:gitlab'], query: 'http_title.lk:gitlab' });
    // Importing the same directory again changes nothing.
    const again = await importRulesDir(t.store, dir);
    expect(again.imported).toEqual([]);
    expect(again.updated).toEqual([]);
  });

  it('judges certificates of an old scan at its scan time, not at the ingest clock', async () => {
    const set = await loadStoredRuleSet(t.store, { favicons });
    const cert = {
      x509_subject: ['CN=old.example.org'],
      x509_issuer: ['CN=CA'],
      x509_not_before: ['2019-01-01T00:00:00Z'],
      x509_not_after: ['2021-01-01T00:00:00Z'],
    };
    await ingestScanResult(
      t.store,
      {
        source: 'old',
        scan: scan([host('127.0.1.1', '2020-06-01T00:00:00Z', [svc(443, cert)]), host('127.0.1.2', '2022-06-01T00:00:00Z', [svc(443, cert)])], '443'),
      },
      createRuleIngestDeps(t.store, { set, score: cfg }),
    );
    const rows = await t.store.query<{ ip: string; tags: string[] }>(
      `select host(ip) as ip, tags from port_observations where ip << '127.0.1.0/24' order by ip`,
    );
    expect(rows[0]!.tags).not.toContain('x509:expired');
    expect(rows[0]!.tags).not.toContain('vuln:tls-expired');
    expect(rows[1]!.tags).toEqual(expect.arrayContaining(['x509:expired', 'vuln:tls-expired']));
  });

  it('syncing the rules directory picks up edits made in place', async () => {
    const dir = await writeRules('sync', {
      'a.yaml': `description: a\nquery: port:1\ntags: [t:a]\nversion: 1\ntests: { match: [{port: '1'}], no_match: [{port: '2'}] }\n`,
    });
    expect((await syncRulesDir(t.store, dir)).imported).toEqual(['a']);
    await fs.writeFile(path.join(dir, 'a.yaml'), `description: a\nquery: port:1,3\ntags: [t:a]\nversion: 1\n`);
    expect((await syncRulesDir(t.store, dir)).updated).toEqual(['a']);
    expect((await syncRulesDir(t.store, dir)).skipped).toHaveLength(1);
  });

  it('after a stable pass, rescores only the hosts whose tags or scores move with time', async () => {
    const set = await loadStoredRuleSet(t.store, { favicons });
    let now = new Date('2026-06-02T00:00:00Z');
    const rescored: string[] = [];
    const deps = createRuleIngestDeps(t.store, { set, score: cfg, now: () => now, onRescore: (ips) => rescored.push(...ips) });
    const cert = (notAfter: string) => ({
      x509_subject: ['CN=a.example.org'],
      x509_issuer: ['CN=CA'],
      x509_not_before: ['2025-01-01T00:00:00Z'],
      x509_not_after: [notAfter],
    });
    const web = { http_server: ['nginx/1.24.0'], http_title: ['A page'] };
    const [oldWeb, dated, expiring, young] = ['127.0.2.1', '127.0.2.2', '127.0.2.4', '127.0.2.3'];
    const seen = (ip: string, at: string, port: IngestPort) =>
      ingestScanResult(
        t.store,
        {
          source: 'test',
          scan: scan([host(ip, at, [port])], String(port.port)),
        },
        deps,
      );
    const ports: [string, IngestPort][] = [
      [oldWeb!, svc(8080, web)],
      [dated!, svc(443, cert('2027-01-01T00:00:00Z'))],
      [expiring!, svc(443, cert('2026-06-20T00:00:00Z'))],
      [young!, svc(8081, web)],
    ];
    // One scan of all four, as a stable pass: a batch's hosts are rescored together.
    const pass = async (at: string) => {
      rescored.length = 0;
      const s = await ingestScanResult(
        t.store,
        {
          source: 'test',
          scan: scan(
            ports.map(([ip, p]) => host(ip, at, [p])),
            '443,8080,8081',
          ),
        },
        deps,
      );
      expect(s.stable).toBe(4);
      return [...rescored].sort();
    };
    const tagsOf = async (ip: string) => (await t.store.query<{ tags: string[] }>('select tags from port_observations where ip = $1::inet', [ip]))[0]!.tags;
    for (const [ip, p] of ports) await seen(ip, ip === young ? '2026-06-01T00:00:00Z' : '2026-01-01T00:00:00Z', p);
    await t.store.query(
      `insert into rule_applications (name, hash, applied_at) values ($1, $2, now())
      on conflict (name) do update set hash = excluded.hash`,
      [SCORE_KEY, scoreHash(cfg)],
    );
    expect(await tagsOf(expiring!)).not.toContain('x509:expiring-soon');
    // Past both windows, a host's stored judgement cannot move until a scan changes it; a certificate judged at
    // each sighting's scan time moves only when one of its dates lies between two sightings.
    expect(await pass('2026-06-02T00:00:00Z')).toEqual([expiring, young].sort());
    expect(await tagsOf(expiring!)).toContain('x509:expiring-soon');
    expect(await tagsOf(dated!)).not.toContain('x509:expiring-soon');
    now = new Date('2026-06-03T00:00:00Z');
    expect(await pass('2026-06-03T00:00:00Z')).toEqual([young]);
    // Scores stored under other weights are all owed.
    await t.store.query(`update rule_applications set hash = 'other weights' where name = $1`, [SCORE_KEY]);
    expect(await pass('2026-06-04T00:00:00Z')).toEqual([oldWeb, dated, expiring, young].sort());
    await t.store.query(`update rule_applications set hash = $2 where name = $1`, [SCORE_KEY, scoreHash(cfg)]);
    // Across the expiry date, the next stable sighting re-tags it.
    expect(await pass('2026-06-21T00:00:00Z')).toEqual([expiring, young].sort());
    expect(await tagsOf(expiring!)).toEqual(expect.arrayContaining(['x509:expired']));

    // A sighting that changes nothing still rescores a host whose score fades: past its window, newly-appeared is null.
    const fading = async () =>
      (
        await t.store.query<{ v: unknown }>(
          `select f -> 'value' as v from port_observations o, jsonb_array_elements(o.score_features -> 'features') f
       where o.ip = $1::inet and f ->> 'name' = 'newly_appeared'`,
          [young],
        )
      )[0]!.v;
    await expect(fading()).resolves.not.toBeNull();
    now = new Date('2026-07-01T00:00:00Z');
    const s = await seen(young!, '2026-06-30T00:00:00Z', svc(8081, web));
    expect(s.stable).toBe(1);
    expect(await fading()).toBeNull();
  });

  it('a stable sighting of an old port, with rules, leaves its document row alone (the stored score no longer moves)', async () => {
    const set = await loadStoredRuleSet(t.store, { favicons });
    const deps = createRuleIngestDeps(t.store, { set, score: cfg });
    const seen = (at: string) =>
      ingestScanResult(
        t.store,
        {
          source: 'test',
          scan: scan([host('127.0.0.40', at, [svc(8080, { http_server: ['nginx/1.24.0'], http_title: ['Old page'] })])], '8080'),
        },
        deps,
      );
    const row = async () =>
      (
        await t.store.query<{ xmin: string; score_features: unknown }>(
          `select xmin::text as xmin, score_features from port_observations where ip = '127.0.0.40'`,
        )
      )[0]!;
    await seen('2026-01-01T00:00:00Z');
    // Within the window the "newly appeared" feature fades, so the score is rewritten with each sighting.
    await seen('2026-01-05T00:00:00Z');
    // Past it, once more (the value becomes null), then never again.
    await seen('2026-03-01T00:00:00Z');
    const old = await row();
    for (const at of ['2026-03-02T00:00:00Z', '2026-06-01T00:00:00Z']) {
      const s = await seen(at);
      expect(s.stable).toBe(1);
      expect(await row()).toEqual(old);
    }
  });
});
