import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReportModel } from '../activities/report.ts';
import { dispatchWebhookEvents } from '../activities/webhooks.ts';
import { parseFlapping } from '../core/history/flapping.ts';
import { parseNmapString } from '../core/nmap/parse.ts';
import { ingestScanResult, type IngestPort } from '../store/ingest.ts';
import { eventsAfterCursor } from '../store/repos/observation-events.ts';
import { getHostView, listEvents } from '../store/repos/observations.ts';
import { createWebhook } from '../store/repos/webhooks.ts';
import { expectError, expectSecured, startTestApi, type TestApi } from './api/helpers.ts';
import { runPlum } from './helpers/cli.ts';
import { cliEnvOf, storeKinds } from './helpers/db.ts';
import { host, ingestFlappingHost, port, scan } from './helpers/scan.ts';

const day = (d: number) => `2026-04-${String(d).padStart(2, '0')}T10:00:00Z`;
const WEB = port(80, 'nginx');
const SSH = port(22, 'SSH-2.0-OpenSSH_9.6');

/** A real HTTP receiver on 127.0.0.1 that records the events posted to it. */
async function receiver() {
  const events: Array<{ type: string; port: number; flapping: boolean }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      events.push(...(JSON.parse(body) as { events: Array<{ type: string; port: number; flapping: boolean }> }).events);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { url, events, close: () => new Promise<void>((r) => server.close(() => r())) };
}

type Ev = { type: string; port: number; flapping: boolean };
/** `gone:80:true`: an event's type, port and flapping mark. */
const marks = (events: Ev[]) => events.map((e) => `${e.type}:${e.port}:${e.flapping}`);

describe.each(storeKinds)('flapping ports and hosts that did not answer on %s', (kind) => {
  // A real API server over the test store: the history surfaces are read through it and through `plum`.
  let t: TestApi;
  beforeAll(async () => {
    // Shared: the `plum history` children below reach an embedded database through the server's socket.
    t = await startTestApi(kind, { share: true });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  });
  const ingestAt = (ip: string, at: string, ports: IngestPort[], opts: { status?: string; timedOut?: boolean } = {}, error?: Error) =>
    ingestScanResult(t.store, { scan: scan([host(ip, at, ports, opts)], '22,80', error), source: `flap ${ip} ${at}` });
  const ingest = (at: string, ports: IngestPort[], opts: { status?: string; timedOut?: boolean } = {}, error?: Error) =>
    ingestAt('127.0.0.9', at, ports, opts, error);

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

  it('folds a flapping port into one report line and sends webhooks one notice of its flapping', async () => {
    const rx = await receiver();
    try {
      await createWebhook(t.store, { name: 'flaps', url: rx.url, eventTypes: ['appeared', 'changed', 'gone', 'reappeared'] }, new Date(), {
        allowPrivate: true,
      });
      // Port 80 goes and comes back three times in a week; port 22 stays.
      for (let d = 4; d <= 9; d++) await ingest(day(d), d % 2 === 0 ? [SSH] : [WEB, SSH]);
      const rule = parseFlapping('3/7d');
      await dispatchWebhookEvents(t.store, { allowPrivate: true, flapping: rule });
      // Sent: the first two gone/reappeared pairs, then the third gone, which starts the flapping, marked as such;
      // held back: the coming back after it, as the port flaps.
      expect(rx.events.map((e) => `${e.type}:${e.port}:${e.flapping}`)).toEqual([
        'gone:80:false',
        'reappeared:80:false',
        'gone:80:false',
        'reappeared:80:false',
        'gone:80:true',
      ]);

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

  // Port 80 of 127.0.0.9 (the test above): gone on days 4, 6 and 8, back on 5, 7 and 9; the third going makes it flap.
  const FLAPS = ['reappeared:80:true', 'gone:80:true', 'reappeared:80:false', 'gone:80:false', 'reappeared:80:false', 'gone:80:false'];
  const UNMARKED = FLAPS.map((m) => m.replace('true', 'false'));

  it('marks a flapping port’s gone/reappeared in the history reader, under the rule passed in, and can leave them out', async () => {
    const days4to9 = { net: '127.0.0.9/32', since: new Date(day(4)), until: new Date(day(10)) };
    expect(marks(await listEvents(t.store, { ...days4to9, flapping: parseFlapping('3/7d') }))).toEqual(FLAPS);
    expect(marks(await listEvents(t.store, { ...days4to9, flapping: parseFlapping('5/7d') }))).toEqual(UNMARKED);
    // Hidden: the flapping pair only; the other gone/reappeared and the appeared events of day 1 stay.
    const kept = await listEvents(t.store, { ...days4to9, since: new Date(day(1)), flapping: parseFlapping('3/7d'), hideFlapping: true });
    expect(marks(kept)).toEqual([...FLAPS.slice(2), 'appeared:22:false', 'appeared:80:false']);
  });

  const HISTORY = '/v1/history?net=127.0.0.9&since=2026-04-04&until=2026-04-10';

  it('happy: GET /v1/history carries flapping on every event; flapping=hide leaves the flapping ones out', async () => {
    const items = async (q: string) => {
      const res = await t.call(q, { auth: t.keys.viewer });
      expect(res.status).toBe(200);
      return ((await res.json()) as { items: Ev[] }).items;
    };
    expect(marks(await items(HISTORY))).toEqual(FLAPS);
    expect(marks(await items(`${HISTORY}&flapping=show`))).toEqual(FLAPS);
    expect(marks(await items(`${HISTORY}&flapping=hide`))).toEqual(FLAPS.slice(2));
  });

  it('bad input: GET /v1/history refuses a flapping filter other than show or hide', async () => {
    for (const v of ['yes', 'HIDE', ''])
      await expectError(
        await t.call(`${HISTORY}&flapping=${v}`, { auth: t.keys.viewer }),
        400,
        'invalid_input',
        'invalid query field "flapping": must be show or hide',
      );
  });

  it('security: GET /v1/history with the flapping filter still needs a viewer key', async () => {
    await expectSecured(t, 'GET', `${HISTORY}&flapping=hide`, 'viewer');
  });

  it('plum history: flapping in JSON, NDJSON and CSV, a marker in the table; --no-flapping leaves them out', async () => {
    const env = cliEnvOf(t.config);
    const args = ['history', '--since', '2026-04-04', '--net', '127.0.0.9'];
    const json = await runPlum([...args, '--format', 'json'], env);
    expect(json.code, json.stderr).toBe(0);
    const events = JSON.parse(json.stdout) as Ev[];
    expect(marks(events)).toEqual(FLAPS);
    const nd = await runPlum([...args, '--format', 'ndjson'], env);
    expect(
      nd.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Ev),
    ).toEqual(events);
    const csv = (await runPlum([...args, '--format', 'csv'], env)).stdout.trim().split('\r\n');
    expect(csv[0]).toBe('at,type,ip,protocol,port,hsh256,previous_hsh256,changes,run_id,observation_id,flapping');
    expect(csv.slice(1).map((l) => l.split(',').at(-1))).toEqual(FLAPS.map((m) => m.split(':')[2]));
    const table = await runPlum(args, env);
    expect(table.stdout.match(/(reappeared|gone) \(flapping\)/g)).toEqual(['reappeared (flapping)', 'gone (flapping)']);
    const hidden = await runPlum([...args, '--no-flapping', '--format', 'json'], env);
    expect(hidden.code, hidden.stderr).toBe(0);
    expect(marks(JSON.parse(hidden.stdout) as Ev[])).toEqual(FLAPS.slice(2));
  }, 120_000);

  it('marks the services flapping now in the host view and GET /v1/hosts/{ip}', async () => {
    const now = Date.now();
    // Port 80 of 127.0.0.11 flaps and is back now; port 22 stayed.
    await ingestFlappingHost(t.store, '127.0.0.11', now);
    type Svc = { port: number; state: string; flapping: boolean };
    const slots = (services: Svc[]) => services.map((s) => `${s.port}:${s.state}:${s.flapping}`);
    const view = (opts: { flapping: string; now?: Date }) => getHostView(t.store, '127.0.0.11', { ...opts, flapping: parseFlapping(opts.flapping) });
    expect(slots((await view({ flapping: '3/7d' }))!.services)).toEqual(['22:open:false', '80:open:true']);
    // Judged at a time, under the rule given: eight days on, its goings have left the window; a stricter rule is not met.
    expect(slots((await view({ flapping: '3/7d', now: new Date(now + 8 * 86_400_000) }))!.services)).toEqual(['22:open:false', '80:open:false']);
    expect(slots((await view({ flapping: '4/7d' }))!.services)).toEqual(['22:open:false', '80:open:false']);

    const res = await t.call('/v1/hosts/127.0.0.11', { auth: t.keys.viewer });
    expect(res.status).toBe(200);
    const h = (await res.json()) as { services: Svc[]; history: Ev[] };
    expect(slots(h.services)).toEqual(['22:open:false', '80:open:true']);
    // The last going and coming back were the flapping ones (the third going within the window).
    expect(marks(h.history).slice(0, 3)).toEqual(['reappeared:80:true', 'gone:80:true', 'reappeared:80:false']);
  });

  it('starts flapping once per bout: the gone that reaches the count, again after the port has calmed down', async () => {
    const may = (d: number) => `2026-05-${String(d).padStart(2, '0')}T10:00:00Z`;
    // Port 80 of 127.0.0.13 goes on May 2, 4 and 6 (the third starts it), is quiet for two weeks, then goes on 20, 22 and 24.
    await ingestAt('127.0.0.13', may(1), [WEB, SSH]);
    for (const d of [2, 3, 4, 5, 6, 7, 20, 21, 22, 23, 24, 25]) await ingestAt('127.0.0.13', may(d), d % 2 === 0 ? [SSH] : [WEB, SSH]);
    // Read as the webhook dispatch reads them (the one reader that judges starts): every event, in write order.
    const all = await eventsAfterCursor(t.store, { settledBelow: Number.MAX_SAFE_INTEGER, tx: 0, id: '' }, parseFlapping('3/7d'), 100_000);
    const events = all.filter((e) => e.ip === '127.0.0.13');
    expect(events.filter((e) => e.flapping_starts).map((e) => `${e.type}:${e.at.toISOString().slice(5, 10)}`)).toEqual(['gone:05-06', 'gone:05-24']);
    // The flapping events around them are not starts.
    expect(events.filter((e) => e.flapping).map((e) => e.at.toISOString().slice(5, 10))).toEqual(['05-06', '05-07', '05-24', '05-25']);
  });
});
