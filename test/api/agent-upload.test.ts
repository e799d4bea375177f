import { createHash } from 'node:crypto';
import net from 'node:net';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpResultSink } from '../../activities/result-sinks.ts';
import { createNmapRunner } from '../../activities/nmap.ts';
import { newId } from '../../core/ids.ts';
import { jobs } from '../../store/schema/jobs.ts';
import { runs } from '../../store/schema/runs.ts';
import { storeKinds } from '../helpers/db.ts';
import { masscanSweepXml, withHostCopied } from '../helpers/masscan-xml.ts';
import { expectError, startTestApi, startTestApiOn, type TestApi } from './helpers.ts';

/** A real nmap result: one banner service on a loopback address, scanned once for the whole file. */
const IP = '127.0.8.1';
let xml: Buffer;
let servicePort: number;
let server: net.Server;
/** A scouting sweep's masscan -oX output: 198.18.0.2 and 198.18.0.3 answering on 22, 80 and 8080. */
const sweep = masscanSweepXml();

beforeAll(async () => {
  server = net.createServer((s) => {
    s.end('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, IP, resolve));
  servicePort = (server.address() as net.AddressInfo).port;
  const runner = createNmapRunner();
  const r = await runner.runNmap({ targets: [IP], tcpPorts: String(servicePort), scripts: ['plum-banner'], hostTimeout: '30s' });
  expect(r.exitCode).toBe(0);
  xml = r.xml;
}, 120_000);

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

/** gzip of `times` copies of `block`, made as a stream so the test never holds the inflated bytes. */
async function gzipRepeated(block: Buffer, times: number): Promise<Buffer> {
  const gz = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((resolve) => gz.on('end', resolve));
  for (let i = 0; i < times; i++) if (!gz.write(block)) await new Promise((r) => gz.once('drain', r));
  gz.end();
  await done;
  return Buffer.concat(out);
}

describe.each(storeKinds)('agent result upload (%s)', (kind) => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(kind, { limits: { uploadBytes: 256 * 1024, uploadInflatedBytes: 1024 * 1024 } });
  }, 180_000);
  afterAll(async () => {
    await api?.close();
  });

  /** A run with one job, as the orchestration would create it; `agent` assigns it. */
  async function makeJob(agent: string | null = null): Promise<{ runId: string; jobId: string }> {
    const runId = newId('run');
    const jobId = newId('job');
    await api.store.db.insert(runs).values({ id: runId, kind: 'investigation', targets: [IP], status: 'running' });
    await api.store.db.insert(jobs).values({ id: jobId, runId, index: 0, targets: [IP], tcpPorts: String(servicePort), status: 'running', agent });
    return { runId, jobId };
  }

  /** A scouting job of a two-stage run (masscan over a range), as planRun stores it; `agent` assigns it. */
  async function makeScoutJob(agent: string): Promise<{ runId: string; jobId: string }> {
    const runId = newId('run');
    const jobId = newId('job');
    await api.store.db.insert(runs).values({ id: runId, kind: 'profile', profileName: 'wide', status: 'running' });
    await api.store.db
      .insert(jobs)
      .values({ id: jobId, runId, index: 0, targets: ['198.18.0.0-7'], tcpPorts: '22,80,8080', stage: 'scout', status: 'running', agent });
    return { runId, jobId };
  }

  /** What the store holds of a job's result: its raw output, whether it was ingested, and observations of the sweep's hosts. */
  async function storedOf(jobId: string) {
    const [raw] = await api.store.query<{ n: number }>('select count(*)::int as n from raw_results where job_id = $1', [jobId]);
    const [job] = await api.store.query<{ ingested_at: Date | null }>('select ingested_at from jobs where id = $1', [jobId]);
    const [obs] = await api.store.query<{ n: number }>(
      `select count(*)::int as n from port_observations where host(ip) like '198.18.%' or host(ip) like '192.0.2.%'`,
    );
    return { raw: raw!.n, ingested: job!.ingested_at !== null, observations: obs!.n };
  }

  const put = (jobId: string, body: Buffer | string, token: string, headers: Record<string, string> = {}) =>
    api.call(`/v1/agent/jobs/${jobId}/result`, { method: 'PUT', auth: token, body, headers: { 'content-type': 'application/xml', ...headers } });

  it('stores and ingests a gzip upload once; the same result again is a no-op', async () => {
    const { runId, jobId } = await makeJob('agent-a');
    const res = await put(jobId, gzipSync(xml), api.agents.a.token, { 'content-encoding': 'gzip' });
    const body = (await res.json()) as { runId: string; duplicate: boolean; hosts: number; ports: number; appeared: number };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ runId, duplicate: false, hosts: 1, ports: 1, appeared: 1, warnings: [] });

    const again = (await (await put(jobId, xml, api.agents.a.token)).json()) as { duplicate: boolean; appeared: number };
    expect(again).toMatchObject({ duplicate: true, appeared: 0 });

    const [raw] = await api.store.query<{ n: number }>('select count(*)::int as n from raw_results where job_id = $1', [jobId]);
    expect(raw!.n).toBe(1);
    const [job] = await api.store.query<{ status: string; ingested_at: Date | null }>('select status, ingested_at from jobs where id = $1', [jobId]);
    expect(job!.ingested_at).toBeInstanceOf(Date);
    const host = (await (await api.call(`/v1/hosts/${IP}`, { auth: api.keys.viewer })).json()) as {
      services: { port: number; fields: { banner: string[] } }[];
    };
    expect(host.services.map((s) => s.port)).toContain(servicePort);
    expect(host.services.find((s) => s.port === servicePort)!.fields.banner[0]).toMatch(/^SSH-2\.0-OpenSSH_9\.2p1/);
  });

  it("the agent's own result sink (activities/result-sinks.ts httpResultSink) claims the job and delivers through this route", async () => {
    const { jobId } = await makeJob(null);
    const sink = httpResultSink({ serverUrl: api.server.url, token: api.agents.b.token });
    const spec = { jobId } as Parameters<typeof sink.deliver>[0];
    await sink.claim!(spec, 1);
    expect(await sink.deliver(spec, xml, '')).toEqual({ delivery: 'uploaded' });
    const [job] = await api.store.query<{ agent: string | null; ingested_at: Date | null }>('select agent, ingested_at from jobs where id = $1', [jobId]);
    expect(job!.agent).toBe('agent-b');
    expect(job!.ingested_at).toBeInstanceOf(Date);
    // Another agent's sink is refused with the server's message.
    const other = httpResultSink({ serverUrl: api.server.url, token: api.agents.a.token });
    await expect(other.claim!(spec, 1)).rejects.toThrow(`claiming ${jobId} failed: job ${jobId} is assigned to another agent`);
    await expect(other.deliver(spec, xml, '')).rejects.toThrow(`uploading the result of ${jobId} failed: job ${jobId} is assigned to another agent`);
  });

  it("a job is claimed by exactly one agent when it starts; an unclaimed job's result is refused", async () => {
    const { jobId } = await makeJob(null);
    const claim = (token: string) => api.call(`/v1/agent/jobs/${jobId}/claim`, { method: 'POST', auth: token });
    // Any agent token could once upload for an unclaimed job, and the honest agent was then refused.
    await expectError(await put(jobId, xml, api.agents.b.token), 409, 'conflict', `job ${jobId} was not claimed by this agent`);
    const first = await claim(api.agents.a.token);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ jobId, agent: 'agent-a' });
    expect((await claim(api.agents.a.token)).status).toBe(200);
    await expectError(await claim(api.agents.b.token), 403, 'forbidden', `job ${jobId} is assigned to another agent`);
    await expectError(await put(jobId, xml, api.agents.b.token), 403, 'forbidden', `job ${jobId} is assigned to another agent`);
    expect((await put(jobId, xml, api.agents.a.token)).status).toBe(200);
  });

  it("a later Temporal attempt on another agent supersedes the lost attempt's claim; an ingested job never moves", async () => {
    const { jobId } = await makeJob(null);
    const claim = (token: string, attempt: number) => api.call(`/v1/agent/jobs/${jobId}/claim?attempt=${attempt}`, { method: 'POST', auth: token });
    await api.store.query(`update agents set last_heartbeat_at = now()`);
    expect((await claim(api.agents.a.token, 1)).status).toBe(200);
    // The same attempt from another agent is refused; the next attempt (agent-a was lost mid-job) is not.
    await expectError(await claim(api.agents.b.token, 1), 403, 'forbidden', `job ${jobId} is assigned to another agent`);
    expect((await claim(api.agents.b.token, 2)).status).toBe(200);
    // The lost attempt can no longer upload or claim back with its old attempt.
    await expectError(await put(jobId, xml, api.agents.a.token), 403, 'forbidden');
    await expectError(await claim(api.agents.a.token, 1), 403, 'forbidden');
    expect((await put(jobId, xml, api.agents.b.token)).status).toBe(200);
    await expectError(await claim(api.agents.a.token, 3), 403, 'forbidden');
    await expectError(await api.call(`/v1/agent/jobs/${jobId}/claim?attempt=0`, { method: 'POST', auth: api.agents.a.token }), 400, 'invalid_input');
    await api.store.query('update agents set last_heartbeat_at = null');
  });

  it('a job whose agent stopped heartbeating can be taken over; an ingested one cannot', async () => {
    const { jobId } = await makeJob('agent-a');
    const claim = (token: string) => api.call(`/v1/agent/jobs/${jobId}/claim`, { method: 'POST', auth: token });
    await api.store.query(`update agents set last_heartbeat_at = now() where name = 'agent-a'`);
    await expectError(await claim(api.agents.b.token), 403, 'forbidden');
    await api.store.query(`update agents set last_heartbeat_at = now() - interval '10 minutes' where name = 'agent-a'`);
    expect((await claim(api.agents.b.token)).status).toBe(200);
    expect((await put(jobId, xml, api.agents.b.token)).status).toBe(200);
    await api.store.query(`update agents set last_heartbeat_at = now() - interval '10 minutes' where name = 'agent-b'`);
    await expectError(await claim(api.agents.a.token), 403, 'forbidden');
    await api.store.query('update agents set last_heartbeat_at = null');
  });

  it('refuses a result holding hosts outside the job (nothing stored or scored) and logs it', async () => {
    const { jobId } = await makeJob('agent-a');
    const text = xml.toString('utf8');
    const hostBlock = text.slice(text.indexOf('<host'), text.indexOf('</host>') + '</host>'.length);
    const forged = (ip: string) => hostBlock.split(IP).join(ip);
    for (const extra of ['127.0.9.9', '192.0.2.77']) {
      const body = text.replace('</host>', `</host>\n${forged(extra)}`);
      await expectError(await put(jobId, body, api.agents.a.token), 422, 'out_of_scope', `the result of ${jobId} holds 1 host outside the job: ${extra}`);
    }
    await expectError(await put(jobId, text.split(IP).join('192.0.2.78'), api.agents.a.token), 422, 'out_of_scope', /192\.0\.2\.78/);
    const [stored] = await api.store.query<{ n: number }>(
      `select count(*)::int as n from port_observations where ip in ('127.0.9.9', '192.0.2.77', '192.0.2.78')`,
    );
    expect(stored!.n).toBe(0);
    const [job] = await api.store.query<{ ingested_at: Date | null }>('select ingested_at from jobs where id = $1', [jobId]);
    expect(job!.ingested_at).toBeNull();
    // The job's own result is still accepted afterwards.
    expect((await put(jobId, xml, api.agents.a.token)).status).toBe(200);
  });

  it("keeps a scouting job's masscan output for its run to ingest; the same output again changes nothing", async () => {
    const { runId, jobId } = await makeScoutJob('agent-a');
    const res = await put(jobId, gzipSync(sweep), api.agents.a.token, { 'content-encoding': 'gzip' });
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ runId, jobId, duplicate: false, sha256: createHash('sha256').update(sweep).digest('hex'), appeared: 0, gone: 0 });
    // Kept as uploaded, not ingested: the run's ingest knows whether masscan was stopped early.
    expect(await storedOf(jobId)).toEqual({ raw: 1, ingested: false, observations: 0 });
    const [raw] = await api.store.query<{ xml_gz: Uint8Array }>('select xml_gz from raw_results where job_id = $1', [jobId]);
    expect(gunzipSync(Buffer.from(raw!.xml_gz)).toString('utf8')).toBe(sweep);
    expect((await put(jobId, sweep, api.agents.a.token)).status).toBe(200);
    expect(await storedOf(jobId)).toEqual({ raw: 1, ingested: false, observations: 0 });
  });

  it('refuses a scouting result with hosts outside its job, and stores nothing of it', async () => {
    const { jobId } = await makeScoutJob('agent-a');
    // 198.18.0.9 is just past the job's range; 192.0.2.1 is elsewhere.
    const forged = withHostCopied(withHostCopied(sweep, '198.18.0.3', '198.18.0.9'), '198.18.0.2', '192.0.2.1');
    const err = await expectError(
      await put(jobId, gzipSync(forged), api.agents.a.token, { 'content-encoding': 'gzip' }),
      422,
      'out_of_scope',
      `the result of ${jobId} holds 2 hosts outside the job: 198.18.0.9, 192.0.2.1`,
    );
    expect(err).toMatchObject({ details: { outside: ['198.18.0.9', '192.0.2.1'] } });
    // A result that only moved a host out of the job is refused as well.
    await expectError(await put(jobId, sweep.split('198.18.0.3').join('198.18.1.3'), api.agents.a.token), 422, 'out_of_scope', /198\.18\.1\.3/);
    expect(await storedOf(jobId)).toEqual({ raw: 0, ingested: false, observations: 0 });
    // The job's own output is still accepted afterwards.
    expect((await put(jobId, sweep, api.agents.a.token)).status).toBe(200);
    expect(await storedOf(jobId)).toEqual({ raw: 1, ingested: false, observations: 0 });
  });

  it('refuses a scouting result that is not masscan output before storing anything', async () => {
    const { jobId } = await makeScoutJob('agent-a');
    // nmap's XML for an nmap job, uploaded for the scouting job by mistake.
    await expectError(
      await put(jobId, xml, api.agents.a.token),
      422,
      'parse_error',
      `the result of scouting job ${jobId} is not usable masscan output: not masscan output`,
    );
    await expectError(await put(jobId, '<html>hello</html>', api.agents.a.token), 422, 'parse_error', /not usable masscan output/);
    await expectError(
      await put(jobId, '[\n{ "ip": "198.18.0.999", "timestamp": "1", "ports": [] }\n]\n', api.agents.a.token, { 'content-type': 'application/json' }),
      422,
      'parse_error',
      /not usable masscan output: .*"198\.18\.0\.999" is not an IP address/,
    );
    expect(await storedOf(jobId)).toEqual({ raw: 0, ingested: false, observations: 0 });
  });

  it("agent names of the server's own runners are reserved", async () => {
    for (const agent of ['embedded', 'server', 'Server']) {
      await expectError(
        await api.call('/v1/agents/tokens', { method: 'POST', auth: api.keys.admin, json: { agent } }),
        400,
        'invalid_input',
        /is reserved for the server's own runner/,
      );
    }
  });

  it('refuses a different result for a job already ingested', async () => {
    const { jobId } = await makeJob('agent-a');
    expect((await put(jobId, xml, api.agents.a.token)).status).toBe(200);
    const other = Buffer.from(xml.toString('utf8').replace('</nmaprun>', '<!-- changed --></nmaprun>'));
    await expectError(await put(jobId, other, api.agents.a.token), 409, 'conflict', `job ${jobId} already has a different result`);
  });

  it("security: no token, API key, revoked token, another agent's token", async () => {
    const { jobId } = await makeJob('agent-a');
    await expectError(await api.call(`/v1/agent/jobs/${jobId}/result`, { method: 'PUT', body: xml }), 401, 'unauthorized', 'missing agent token');
    await expectError(await put(jobId, xml, api.keys.admin), 403, 'forbidden', 'this route needs an agent token, not an API key');
    await expectError(await put(jobId, xml, api.agents.revokedToken), 401, 'unauthorized', 'agent token revoked');
    await expectError(await put(jobId, xml, api.agents.b.token), 403, 'forbidden', `job ${jobId} is assigned to another agent`);
    const [job] = await api.store.query<{ ingested_at: Date | null }>('select ingested_at from jobs where id = $1', [jobId]);
    expect(job!.ingested_at).toBeNull();
  });

  it('bad input: too large (413), gzip bomb (413), bad gzip, empty, not nmap XML, unknown job, bad id', async () => {
    const { jobId } = await makeJob('agent-a');
    await expectError(await put(jobId, Buffer.alloc(300 * 1024, 'a'), api.agents.a.token), 413, 'payload_too_large', 'result larger than 262144 bytes');
    await expectError(
      await put(jobId, gzipSync(Buffer.alloc(2 * 1024 * 1024, ' ')), api.agents.a.token, { 'content-encoding': 'gzip' }),
      413,
      'payload_too_large',
      'result larger than 1048576 bytes once decompressed',
    );
    await expectError(
      await put(jobId, Buffer.from('not gzip'), api.agents.a.token, { 'content-encoding': 'gzip' }),
      400,
      'invalid_input',
      'the body is not valid gzip',
    );
    await expectError(await put(jobId, Buffer.alloc(0), api.agents.a.token), 400, 'invalid_input', 'empty result body');
    await expectError(
      await put(jobId, Buffer.from(xml), api.agents.a.token, { 'content-encoding': 'br' }),
      400,
      'invalid_input',
      'unsupported Content-Encoding "br"',
    );
    await expectError(
      await put(jobId, '<html>hello</html>', api.agents.a.token),
      422,
      'parse_error',
      'this is not nmap XML: no <nmaprun> element at the start',
    );
    await expectError(await put('job_01jd0000000000000000000000', xml, api.agents.a.token), 404, 'not_found', 'no job job_01jd0000000000000000000000');
    await expectError(await put('nope', xml, api.agents.a.token), 400, 'invalid_input', 'invalid path field "jobId": must be a job_… id');
    const [job] = await api.store.query<{ ingested_at: Date | null }>('select ingested_at from jobs where id = $1', [jobId]);
    expect(job!.ingested_at).toBeNull();
  });

  it('a gzip bomb under the default limits is refused after a few MB, not after inflating to the cap', async () => {
    const roomy = await startTestApiOn(api, {}, { uploadBytes: 64 * 1024 * 1024 });
    try {
      const { jobId } = await makeJob('agent-a');
      // 600 MB of one byte: about 600 KB compressed, over the default 512 MB cap once inflated.
      const bomb = await gzipRepeated(Buffer.alloc(1024 * 1024, '<'), 600);
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
      const res = await roomy.call(`/v1/agent/jobs/${jobId}/result`, {
        method: 'PUT',
        auth: api.agents.a.token,
        body: bomb,
        headers: { 'content-type': 'application/xml', 'content-encoding': 'gzip' },
      });
      clearInterval(sampler);
      expect(peak - before).toBeLessThan(150 * 1024 * 1024);
      await expectError(
        res,
        413,
        'payload_too_large',
        `result inflates to more than 100 times its compressed size (${bomb.length} bytes): refused as a gzip bomb`,
      );
    } finally {
      await roomy.close();
    }
  }, 60_000);
});
