import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNmapStream, parseNmapString } from '../core/nmap/parse.ts';
import { ingestScanResult, scanFromStream } from '../store/ingest.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

// Successive scans of one real host, made by editing the real nmap output of
// test/fixtures/nmap/circl.xml the way the service would change.
const CIRCL = fs.readFileSync(new URL('./fixtures/nmap/circl.xml', import.meta.url), 'utf8');
const IP = '185.194.93.14';
const START = 1758092798;

function scanAt(hoursLater: number, edit: (xml: string) => string = (x) => x): string {
  const t = START + hoursLater * 3600;
  const xml = CIRCL.replace('starttime="1758092798" endtime="1758092817"', `starttime="${t}" endtime="${t + 19}"`);
  return edit(xml);
}
const iso = (hoursLater: number) => new Date((START + hoursLater * 3600 + 19) * 1000).toISOString();
const retitle = (xml: string) =>
  xml.replace(/(<port protocol="tcp" portid="443">[\s\S]*?<script id="http-title" output=")[^"]*("><elem key="title">)[^<]*/, '$1Maintenance$2Maintenance');
const close443 = (xml: string) =>
  xml.replace(
    /<port protocol="tcp" portid="443">[\s\S]*?<\/port>/,
    '<port protocol="tcp" portid="443"><state state="closed" reason="reset" reason_ttl="0"/><service name="https" method="table" conf="3"/></port>',
  );
const down = (xml: string) =>
  xml
    .replace('<status state="up" reason="user-set" reason_ttl="0"/>', '<status state="down" reason="no-response" reason_ttl="0"/>')
    .replace(/<ports>[\s\S]*<\/ports>/, '');

describe.each(storeKinds)('ingest of real nmap XML on %s', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
  });
  afterAll(async () => {
    await t?.cleanup();
  });
  const ingest = (xml: string) => ingestScanResult(t.store, { scan: parseNmapString(xml), source: 'circl', rawXml: Buffer.from(xml) });
  const events = () =>
    t.store.query<{ type: string; port: number; at: Date; hsh256: string; previous_hsh256: string | null }>(
      'select type, port, at, hsh256, previous_hsh256 from observation_events where ip = $1::inet order by at, port',
      [IP],
    );

  it('follows a host through change, closing, a silent scan and coming back', async () => {
    const first = parseNmapString(scanAt(0));
    const [p80, p443] = first.hosts[0]!.ports.filter((p) => p.state === 'open');
    expect(await ingest(scanAt(0))).toMatchObject({ hosts: 1, hostsUp: 1, ports: 2, appeared: 2, errors: [] });
    expect(await ingest(scanAt(12))).toMatchObject({ stable: 2, appeared: 0, changed: 0 });
    const retitled = await ingest(scanAt(24, retitle));
    expect(retitled).toMatchObject({ stable: 1, changed: 1 });
    expect(await ingest(scanAt(36, (x) => close443(retitle(x))))).toMatchObject({ stable: 1, gone: 1 });
    expect(await ingest(scanAt(48, down))).toMatchObject({ hostsUp: 0, gone: 0, stable: 0 });
    expect(await ingest(scanAt(60))).toMatchObject({ stable: 1, reappeared: 1, changed: 0 });

    const ev = await events();
    expect(ev.map((e) => [e.type, e.port, e.at.toISOString()])).toEqual([
      ['appeared', 80, iso(0)],
      ['appeared', 443, iso(0)],
      ['changed', 443, iso(24)],
      ['gone', 443, iso(36)],
      ['reappeared', 443, iso(60)],
    ]);
    expect(ev[2]!.previous_hsh256).toBe(p443!.hsh256);
    expect(ev[4]!.hsh256).toBe(p443!.hsh256);
    const [row80] = await t.store.query<{ hsh256: string; first_seen: Date; last_seen: Date; times_seen: number }>(
      'select hsh256, first_seen, last_seen, times_seen from port_observations join observation_sightings using (id) where ip = $1::inet and port = 80',
      [IP],
    );
    // The silent (down) scan is not a sighting.
    expect(row80).toEqual({ hsh256: p80!.hsh256, first_seen: new Date(iso(0)), last_seen: new Date(iso(60)), times_seen: 5 });
    // The stored document and search fields are the parser's.
    const [doc] = await t.store.query<{ fields: { http_title: string[] }; doc: { portid: string } }>(
      'select fields, doc from port_observations where ip = $1::inet and port = 443 and current',
      [IP],
    );
    expect(doc!.doc.portid).toBe('443');
    expect(doc!.fields.http_title[0]).toContain('CIRCL');
  });

  it('keeps the valid hosts of a truncated file, its raw XML and the error on the job', async () => {
    const two = fs.readFileSync(new URL('./fixtures/nmap/libnmap-2_hosts_version.xml', import.meta.url), 'utf8');
    // Cut inside the second <host>.
    const cut = two.slice(0, two.indexOf('<address addr="74.207.244.221"'));
    const stream = parseNmapStream([cut]);
    const s = await ingestScanResult(t.store, { scan: scanFromStream(stream), source: 'cut.xml', rawXml: Buffer.from(cut) });
    expect(s.hosts).toBe(1);
    expect(s.appeared).toBe(5);
    expect(s.errors).toHaveLength(1);
    expect(s.errors[0]).toMatch(/truncated/);
    const [job] = await t.store.query<{ status: string; error: string }>('select status, error from jobs where id = $1', [s.jobId]);
    expect(job!.status).toBe('partial');
    expect(job!.error).toMatch(/truncated/);
    const [raw] = await t.store.query<{ size: number; error: string }>('select size, error from raw_results where job_id = $1', [s.jobId]);
    expect(raw).toEqual({ size: Buffer.byteLength(cut), error: expect.stringMatching(/truncated/) });
  });
});
