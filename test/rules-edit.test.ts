import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptySearchFields, type SearchFields } from '../core/fields.ts';
import { compileRules, evaluateRules, type RuleSet } from '../core/rules/engine.ts';
import { loadFaviconDb, type FaviconDb } from '../core/rules/favicon-db.ts';
import { ruleHash, type Rule } from '../core/rules/schema.ts';
import { DEFAULT_SCORE_FILE, loadScoreConfig, type ScoreConfig } from '../core/score.ts';
import { ingestScanResult, type IngestPort } from '../store/ingest.ts';
import { applyRules, createRuleIngestDeps, listStoredRules, loadStoredRuleSet, planApply } from '../store/rules/index.ts';
import { host, scan } from './helpers/scan.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

/*
 * An edited rule re-tags only what it must (store/repos/rule-candidates.ts narrows the documents read), and
 * the result is the same as evaluating every rule on every stored document.
 */

const SERVICES: [number, Partial<SearchFields>][] = [
  [22, { service_name: ['ssh'], banner: ['SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3'] }],
  [22, { service_name: ['ssh'], banner: ['SSH-2.0-dropbear_2022.83'] }],
  [23, { service_name: ['telnet'] }],
  [80, { service_name: ['http'], http_server: ['nginx/1.24.0'], http_title: ['Welcome to nginx!'], script: ['http-title'] }],
  [80, { service_name: ['http'], http_server: ['Apache/2.4.57 (Debian)'], http_title: ['Apache2 Debian Default Page: It works'] }],
  [80, { service_name: ['http'], http_server: ['Microsoft-IIS/10.0'], http_title: ['IIS Windows Server'], http_headval: ['x-powered-by: ASP.NET'] }],
  [8080, { service_name: ['http'], http_server: ['nginx'], http_title: ['Shop'], http_headval: ['x-powered-by: PHP/7.4.33'], http_cookiename: ['PHPSESSID'] }],
  [
    443,
    {
      service_name: ['https'],
      http_server: ['nginx'],
      x509_subject: ['CN=www.example.org'],
      x509_issuer: ["C=US, O=Let's Encrypt, CN=R3"],
      x509_not_after: ['2020-01-01T00:00:00Z'],
    },
  ],
  [443, { service_name: ['https'], http_title: ['FortiGate'], http_headval: ['location: /remote/login?lang=en'], x509_issuer: ['O=Fortinet, CN=FGT60F'] }],
  [443, { service_name: ['https'], http_title: ['iDRAC9 - Login'], x509_subject: ['CN=idrac-ABC'], x509_issuer: ['CN=idrac-ABC'], x509_key_bits: ['1024'] }],
  [6379, { service_name: ['redis'], banner: ['-NOAUTH Authentication required.'] }],
  [3306, { service_name: ['mysql'], banner: ['5.5.5-10.11.4-MariaDB-1~deb12u1'] }],
  [25, { service_name: ['smtp'], banner: ['220 mail.example.org ESMTP Postfix (Debian/GNU)'] }],
  [10000, { http_server: ['MiniServ/2.021'], http_title: ['Login to Webmin'] }],
  [8081, { http_header: ['x-jenkins'], http_title: ['Dashboard [Jenkins]'], service_name: ['http'] }],
  [9999, { service_name: ['unknown'] }],
];

function svc(portNo: number, f: Partial<SearchFields>): IngestPort {
  const fields = { ...emptySearchFields(), port: [String(portNo)], protocol: ['tcp'], state: ['open'], ...f };
  return { protocol: 'tcp', port: portNo, state: 'open', hsh256: `e${portNo}-${Object.values(f).flat().join('|')}`, fpVersion: 1, fields, doc: { f } };
}

/** Each host gets three services with distinct ports, picked round the list. */
function corpus() {
  const hosts = [];
  for (let h = 0; h < 12; h++) {
    const ports = new Map<number, IngestPort>();
    for (let k = 0; ports.size < 3 && k < SERVICES.length; k++) {
      const [p, f] = SERVICES[(h * 5 + k * 3) % SERVICES.length]!;
      if (!ports.has(p)) ports.set(p, svc(p, f));
    }
    hosts.push(host(`127.0.3.${h + 1}`, '2026-01-10T00:00:00Z', [...ports.values()]));
  }
  return scan(hosts, '22,23,25,80,443,3306,6379,8080,8081,9999,10000');
}

interface Stored {
  id: string;
  ip: string;
  tags: string[];
  rules: string[];
  fields: SearchFields;
  last_seen: Date;
}

const storedDocs = (t: TestStore) =>
  t.store.query<Stored>('select id, host(ip) as ip, tags, rules, fields, last_seen from port_observations join observation_sightings using (id) order by id');

const withTag = (rules: Rule[], name: string, tag: string) =>
  rules.map((r) => {
    if (r.name !== name) return r;
    const edited = { ...r, tags: [...r.tags, tag] };
    return { ...edited, hash: ruleHash(edited) };
  });

let favicons: FaviconDb;
let cfg: ScoreConfig;
beforeAll(async () => {
  favicons = await loadFaviconDb();
  cfg = await loadScoreConfig(DEFAULT_SCORE_FILE);
});

describe.each(storeKinds)('editing a rule (%s)', (kind) => {
  let t: TestStore;
  let rules: Rule[];
  beforeAll(async () => {
    t = await openTestStore(kind);
    const set = await loadStoredRuleSet(t.store, { favicons });
    await ingestScanResult(t.store, { source: 'test', scan: corpus() }, createRuleIngestDeps(t.store, { set, score: cfg }));
    rules = await listStoredRules(t.store);
    // Every rule judged at each document's scan time: the state an incremental apply starts from.
    await applyRules(t.store, set, cfg, { force: true });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('changes exactly the documents the rule matches, reads only their hosts, and writes no events', async () => {
    const before = await storedDocs(t);
    const events = await t.store.query<{ n: number }>('select count(*)::int as n from observation_events');
    const nginx = before.filter((d) => d.rules.includes('web-nginx'));
    expect(nginx.length).toBeGreaterThanOrEqual(2);
    rules = withTag(rules, 'web-nginx', 'team:web');
    const res = await applyRules(t.store, compileRules(rules, { favicons }), cfg);
    expect(res.affected).toEqual(['web-nginx']);
    expect(res.retagged).toBe(nginx.length);
    // Only hosts with an nginx document were read, not the whole store.
    expect(res.ips).toBe(new Set(nginx.map((d) => d.ip)).size);
    expect(res.documents).toBeLessThan(before.length);
    const after = new Map((await storedDocs(t)).map((d) => [d.id, d]));
    for (const d of before) {
      const now = after.get(d.id)!;
      if (d.rules.includes('web-nginx')) expect(now.tags).toEqual([...d.tags, 'team:web'].sort());
      else expect(now.tags).toEqual(d.tags);
      expect(now.rules).toEqual(d.rules);
    }
    expect((await t.store.query<{ n: number }>('select count(*)::int as n from observation_events'))[0]!.n).toBe(events[0]!.n);
  });

  it('stops at a batch that fails, records nothing, and the next apply finishes the edit', async () => {
    const [victim] = await t.store.query<{ rules: string[] }>(`select rules from port_observations where ip = '127.0.3.9' and cardinality(rules) > 0 limit 1`);
    const name = victim!.rules[0]!;
    // A real failure inside one batch's transaction, while the batch before or after it is in flight.
    await t.store.query(`create function plum_test_refuse() returns trigger language plpgsql as $$ begin raise exception 'refused by the test'; end $$`);
    await t.store.query(
      `create trigger plum_test_refuse before update on port_observations for each row when (new.ip = '127.0.3.9') execute function plum_test_refuse()`,
    );
    const edited = withTag(rules, name, 'team:refused');
    const set = compileRules(edited, { favicons });
    const failure: Error = await applyRules(t.store, set, cfg, { batchIps: 2 }).then(
      () => new Error('the apply went through'),
      (e: Error) => e,
    );
    expect(`${failure.message} ${String((failure.cause as Error | undefined)?.message)}`).toMatch(/refused by the test/);
    const stillOwed = await planApply(t.store, set, cfg);
    expect(stillOwed.changed).toEqual([name]);
    await t.store.query(`drop trigger plum_test_refuse on port_observations`);
    await t.store.query(`drop function plum_test_refuse()`);
    const done = await applyRules(t.store, set, cfg, { batchIps: 2 });
    expect(done.affected).toContain(name);
    rules = edited;
    const docs = await storedDocs(t);
    expect(docs.map((d) => ({ id: d.id, tags: d.tags, rules: d.rules }))).toEqual(
      docs.map((d) => ({ id: d.id, ...evaluateRules(set, d.fields, { at: d.last_seen }) })),
    );
    expect((await planApply(t.store, set, cfg)).changed).toEqual([]);
  });

  it('gives, rule after rule, the tags a full evaluation of every document gives', async () => {
    const fullTags = (set: RuleSet, docs: Stored[]) => docs.map((d) => ({ id: d.id, ...evaluateRules(set, d.fields, { at: d.last_seen }) }));
    for (const name of rules.map((r) => r.name)) {
      rules = withTag(rules, name, `edited:${name}`);
      const set = compileRules(rules, { favicons });
      await applyRules(t.store, set, cfg);
      const docs = await storedDocs(t);
      expect(
        docs.map((d) => ({ id: d.id, tags: d.tags, rules: d.rules })),
        name,
      ).toEqual(fullTags(set, docs));
    }
  }, 120_000);
});
