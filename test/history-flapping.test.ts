import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReportModel } from '../activities/report.ts';
import { dispatchWebhookEvents } from '../activities/webhooks.ts';
import { parseFlapping } from '../core/history/flapping.ts';
import { parseNmapString } from '../core/nmap/parse.ts';
import { ingestScanResult } from '../store/ingest.ts';
import { createWebhook } from '../store/repos/webhooks.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { host, port, scan } from './helpers/scan.ts';

const day = (d: number) => `2026-04-${String(d).padStart(2, '0')}T10:00:00Z`;
const WEB = port(80, 'nginx');
const SSH = port(22, 'SSH-2.0-OpenSSH_9.6');

/** A real HTTP receiver on 127.0.0.1 that records the events posted to it. */
async function receiver() {
  const events: Array<{ type: string; port: number }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      events.push(...(JSON.parse(body) as { events: Array<{ type: string; port: number }> }).events);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { url, events, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe.each(storeKinds)('flapping ports and hosts that did not answer on %s', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
  });
  afterAll(async () => {
    await t?.cleanup();
  });
  const ingest = (at: string, ports: ReturnType<typeof port>[], opts: { status?: string; timedOut?: boolean } = {}, error?: Error) =>
    ingestScanResult(t.store, { scan: scan([host('127.0.0.9', at, ports, opts)], '22,80', error), source: `flap ${at}` });

  it('never records gone for a host that did not answer or timed out, or one missing from a failed scan', async () => {
    expect(await ingest(day(1), [WEB, SSH])).toMatchObject({ appeared: 2 });
    expect(await ingest(day(2), [], { status: 'down' })).toMatchObject({ gone: 0 });
    expect(await ingest(day(3), [SSH], { timedOut: true })).toMatchObject({ gone: 0 });
    const failed = await ingestScanResult(t.store, { scan: scan([], '22,80', new Error('nmap was killed: timed out')), source: 'failed job' });
    expect(failed).toMatchObject({ hosts: 0, gone: 0 });
    const [n] = await t.store.query<{ n: number }>("select count(*)::int as n from observation_events where type = 'gone'");
    expect(n!.n).toBe(0);
  });

  /** nmap's XML for 127.0.0.10 scanned on ports 22 and 80 with -Pn, as Plum's own scans run it. */
  const pnXml = (at: string, status: string, ports: string) => {
    const t = Math.floor(Date.parse(at) / 1000);
    return `<?xml version="1.0"?>
<nmaprun scanner="nmap" args="nmap -Pn -sV -p22,80 -oX - 127.0.0.10" start="${t - 5}" version="7.93" xmloutputversion="1.05">
<scaninfo type="syn" protocol="tcp" numservices="2" services="22,80"/>
<host starttime="${t - 5}" endtime="${t}"><status state="up" reason="${status}" reason_ttl="0"/>
<address addr="127.0.0.10" addrtype="ipv4"/>
<hostnames></hostnames>
<ports>${ports}</ports>
</host>
<runstats><finished time="${t}" elapsed="5" exit="success"/><hosts up="1" down="0" total="1"/></runstats>
</nmaprun>`;
  };
  const pnPort = (portid: number, state: string, reason: string, service = '') =>
    `<port protocol="tcp" portid="${portid}"><state state="${state}" reason="${reason}" reason_ttl="64"/>${service}</port>`;
  const ingestXml = (xml: string) => ingestScanResult(t.store, { scan: parseNmapString(xml), source: 'pn' });
  const goneOf = async (ip: string) =>
    (await t.store.query<{ port: number }>("select port from observation_events where type = 'gone' and host(ip) = $1 order by port", [ip])).map((r) => r.port);

  // Days after the other tests' report periods.
  it('never records gone for a host that -Pn reports up but that answered nothing; records it once it answers', async () => {
    const open = pnXml(
      day(21),
      'user-set',
      pnPort(22, 'open', 'syn-ack', '<service name="ssh" product="OpenSSH" method="probed" conf="10"/>') +
        pnPort(80, 'open', 'syn-ack', '<service name="http" product="nginx" method="probed" conf="10"/>'),
    );
    expect(await ingestXml(open)).toMatchObject({ hostsUp: 1, appeared: 2 });
    // Silent: every probe unanswered, listed port by port, then folded into <extraports>.
    const listed = pnXml(day(22), 'user-set', pnPort(22, 'filtered', 'no-response') + pnPort(80, 'filtered', 'no-response'));
    expect(await ingestXml(listed)).toMatchObject({ hosts: 1, hostsUp: 0, gone: 0 });
    const folded = pnXml(day(23), 'user-set', '<extraports state="filtered" count="2"><extrareasons reason="no-responses" count="2"/></extraports>');
    expect(await ingestXml(folded)).toMatchObject({ hosts: 1, hostsUp: 0, gone: 0 });
    expect(await goneOf('127.0.0.10')).toEqual([]);
    // The host answers again, with resets: both ports are closed now.
    const closed = pnXml(day(24), 'user-set', '<extraports state="closed" count="2"><extrareasons reason="resets" count="2"/></extraports>');
    expect(await ingestXml(closed)).toMatchObject({ hosts: 1, hostsUp: 1, gone: 2 });
    expect(await goneOf('127.0.0.10')).toEqual([22, 80]);
  });

  it('folds a flapping port into one report line and keeps its gone/reappeared from webhooks', async () => {
    const rx = await receiver();
    try {
      await createWebhook(t.store, { name: 'flaps', url: rx.url, eventTypes: ['appeared', 'changed', 'gone', 'reappeared'] }, new Date(), {
        allowPrivate: true,
      });
      // Port 80 goes and comes back three times in a week; port 22 stays.
      for (let d = 4; d <= 9; d++) await ingest(day(d), d % 2 === 0 ? [SSH] : [WEB, SSH]);
      const rule = parseFlapping('3/7d');
      await dispatchWebhookEvents(t.store, { allowPrivate: true, flapping: rule });
      // Sent: the first two gone/reappeared pairs; held back: the third, once the port counts as flapping.
      expect(rx.events.map((e) => `${e.type}:${e.port}`)).toEqual(['gone:80', 'reappeared:80', 'gone:80', 'reappeared:80']);

      const model = await buildReportModel(t.store, {
        period: { from: day(4), to: day(10), previousFrom: day(1), previousTo: day(4) },
        now: new Date(day(10)),
        flapping: rule,
      });
      const flapping = model.changes.gone.filter((c) => c.summary?.startsWith('flapping'));
      expect(flapping).toEqual([expect.objectContaining({ port: 80, summary: 'flapping: went away 1 and came back 1 time in the period' })]);
      expect(model.changes.gone).toHaveLength(3);
      expect(model.changes.reappeared).toHaveLength(2);
      // A looser rule: nothing flaps, every event is its own line.
      const loose = await buildReportModel(t.store, {
        period: { from: day(4), to: day(10), previousFrom: day(1), previousTo: day(4) },
        now: new Date(day(10)),
        flapping: parseFlapping('5/7d'),
      });
      expect(loose.changes.gone).toHaveLength(3);
      expect(loose.changes.reappeared).toHaveLength(3);
    } finally {
      await rx.close();
    }
  });
});
