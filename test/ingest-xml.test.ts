import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNmapStream, parseNmapString } from '../core/nmap/parse.ts';
import { ingestScanResult, scanFromStream } from '../store/ingest.ts';
import { buildReportModel } from '../activities/report.ts';
import { eventRow } from '../cli/commands/history.ts';
import { listEvents } from '../store/repos/observations.ts';
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

  it('describes a change only a script output shows (a new SSH host key) by that output', async () => {
    const ip = '127.0.0.44';
    const sshAt = (at: string, key: string, date: string) => {
      const t = Math.floor(Date.parse(at) / 1000);
      const hostkey = `&#xa;  256 SHA256:${key} (ED25519)`;
      return `<?xml version="1.0"?>
<nmaprun scanner="nmap" args="nmap -sV --script ssh-hostkey,custom-motd -p22 ${ip}" start="${t - 5}" version="7.93" xmloutputversion="1.05">
<scaninfo type="syn" protocol="tcp" numservices="1" services="22"/>
<host starttime="${t - 5}" endtime="${t}"><status state="up" reason="syn-ack" reason_ttl="0"/>
<address addr="${ip}" addrtype="ipv4"/><hostnames></hostnames>
<ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/>
<service name="ssh" product="OpenSSH" version="9.6" method="probed" conf="10"/>
<script id="ssh-hostkey" output="${hostkey}"><table><elem key="fingerprint">${key}</elem><elem key="type">ssh-ed25519</elem><elem key="bits">256</elem></table></script>
<script id="custom-motd" output="up since ${date}"/>
</port></ports></host>
<runstats><finished time="${t}" elapsed="5" exit="success"/><hosts up="1" down="0" total="1"/></runstats>
</nmaprun>`;
    };
    const ingestStream = (xml: string) =>
      ingestScanResult(t.store, { scan: scanFromStream(parseNmapStream([xml], { documentsOnDemand: true })), source: 'ssh', rawXml: Buffer.from(xml) });
    expect(await ingestStream(sshAt('2026-05-01T10:00:00Z', 'aaaa', 'Mon, 01 Jan 2026 10:00:00 +0000'))).toMatchObject({ appeared: 1 });
    // A new host key; the custom script's output differs only by its date (volatile).
    expect(await ingestStream(sshAt('2026-05-02T10:00:00Z', 'bbbb', 'Tue, 02 Jan 2026 11:30:00 +0000'))).toMatchObject({ changed: 1 });
    const [event] = (await listEvents(t.store, { types: ['changed'], net: ip, since: new Date('2026-05-01T00:00:00Z') })).filter((e) => e.ip === ip);
    expect(event!.changes).toEqual([{ field: 'script:ssh-hostkey', old: ['\n  256 SHA256:aaaa (ED25519)'], new: ['\n  256 SHA256:bbbb (ED25519)'] }]);
    expect(eventRow(event!).changes).toBe('script:ssh-hostkey: 256 SHA256:aaaa (ED25519) → 256 SHA256:bbbb (ED25519)');
    const model = await buildReportModel(t.store, {
      period: { from: '2026-05-02T00:00:00Z', to: '2026-05-03T00:00:00Z', previousFrom: '2026-05-01T00:00:00Z', previousTo: '2026-05-02T00:00:00Z' },
      now: new Date('2026-05-03T00:00:00Z'),
      query: `ip:${ip}`,
    });
    expect(model.changes.changed.map((c) => c.fields)).toEqual([
      [{ label: 'script ssh-hostkey', old: ['\n  256 SHA256:aaaa (ED25519)'], new: ['\n  256 SHA256:bbbb (ED25519)'] }],
    ]);
  });
});
