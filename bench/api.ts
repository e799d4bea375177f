/**
 * HTTP API benchmark (issue 8): a real server on a loopback port over a real
 * database, driven by concurrent clients with real API keys / agent tokens.
 * Measures request throughput and latency of the hot routes, and agent result
 * uploads (gzip'd nmap XML of 256 hosts, parsed and ingested per request).
 *
 *   npx tsx bench/api.ts                       # PGlite, 5,000 hosts seeded
 *   npx tsx bench/api.ts --driver postgres --hosts 20000 --requests 2000 --concurrency 16
 *
 * The upload XML is a real nmap scan of one loopback service (127.0.0.1),
 * replicated over 127.1.x.y host addresses: valid nmap XML, nothing is scanned
 * outside 127.0.0.0/8.
 */
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { createNmapRunner } from '../activities/nmap.ts';
import { startServer } from '../api/server.ts';
import { newId } from '../core/ids.ts';
import { ingestScanResult } from '../store/ingest.ts';
import { createAgentToken } from '../store/repos/agents.ts';
import { createApiKey } from '../store/repos/apikeys.ts';
import { jobs } from '../store/schema/jobs.ts';
import { runs } from '../store/schema/runs.ts';
import { openTestStore } from '../test/helpers/db.ts';
import { host, port, scan } from '../test/helpers/scan.ts';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : dflt;
};
const driver = arg('driver', 'pglite') as 'pglite' | 'postgres';
const hosts = Number(arg('hosts', '5000'));
const requests = Number(arg('requests', '1000'));
const concurrency = Number(arg('concurrency', '8'));
const uploads = Number(arg('uploads', '10'));
const log = (m: string) => process.stderr.write(`${m}\n`);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function drive(name: string, n: number, c: number, one: (i: number) => Promise<Response>): Promise<void> {
  const lat: number[] = [];
  let next = 0;
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const s = performance.now();
        const res = await one(i);
        await res.arrayBuffer();
        if (!res.ok) failures++;
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  process.stdout.write(
    `${name.padEnd(42)} ${String(n).padStart(6)} req  ${(n / secs).toFixed(0).padStart(6)} req/s  p50 ${pct(lat, 50).toFixed(1).padStart(7)} ms  p95 ${pct(lat, 95).toFixed(1).padStart(7)} ms${failures ? `  FAILURES ${failures}` : ''}\n`,
  );
}

async function realXml(count: number): Promise<Buffer> {
  const srv = net.createServer((s) => s.end('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const p = (srv.address() as net.AddressInfo).port;
  const r = await createNmapRunner().runNmap({ targets: ['127.0.0.1'], tcpPorts: String(p), scripts: ['plum-banner'] });
  srv.close();
  const xml = r.xml.toString('utf8');
  const start = xml.indexOf('<host ');
  const end = xml.indexOf('</host>', start) + '</host>'.length;
  const hostXml = xml.slice(start, end);
  const copies: string[] = [];
  for (let i = 0; i < count; i++) copies.push(hostXml.replaceAll('127.0.0.1', `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`));
  return Buffer.from(xml.slice(0, start) + copies.join('\n') + xml.slice(end));
}

const t = await openTestStore(driver);
try {
  log(`seeding ${hosts} hosts (2 ports each) on ${driver}...`);
  const at = new Date().toISOString();
  for (let i = 0; i < hosts; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(hosts, i + 500); j++) {
      const ip = `127.${2 + Math.floor(j / 65_000)}.${Math.floor((j % 65_000) / 250)}.${(j % 250) + 1}`;
      batch.push(host(ip, at, [port(22, `SSH-2.0-OpenSSH_9.${j % 9}p1 Debian`), port(443, `nginx/1.${j % 25}`)]));
    }
    await ingestScanResult(t.store, { source: 'bench', scan: scan(batch) });
  }
  const viewer = (await createApiKey(t.store, { role: 'viewer' })).key;
  const agent = await createAgentToken(t.store, { agent: 'bench' });
  const server = await startServer({ store: t.store, config: t.config, limits: { expensivePerMinute: 1_000_000 } }, { host: '127.0.0.1', port: 0 });
  const auth = { authorization: `Bearer ${viewer}` };
  log(`server at ${server.url}`);
  process.stdout.write(`\nPlum API benchmark — ${driver}, ${hosts} hosts / ${hosts * 2} ports, ${concurrency} concurrent clients\n`);
  await drive('GET /v1/health (no auth)', requests, concurrency, () => fetch(`${server.url}/v1/health`));
  await drive('GET /v1/agents (key auth + small read)', requests, concurrency, () => fetch(`${server.url}/v1/agents`, { headers: auth }));
  await drive('GET /v1/hosts/{ip}', requests, concurrency, (i) =>
    fetch(`${server.url}/v1/hosts/127.2.${Math.floor((i % hosts) / 250)}.${(i % 250) + 1}`, { headers: auth }),
  );
  await drive('GET /v1/search?q=port:22 banner.lk:openssh', Math.ceil(requests / 4), concurrency, () =>
    fetch(`${server.url}/v1/search?q=${encodeURIComponent('port:22 banner.lk:openssh')}&limit=50`, { headers: auth }),
  );
  await drive('GET /v1/history?since=1d&limit=100', Math.ceil(requests / 4), concurrency, () =>
    fetch(`${server.url}/v1/history?since=1d&limit=100`, { headers: auth }),
  );

  log('preparing upload XML from a real nmap scan of 127.0.0.1...');
  const xml = await realXml(256);
  const gz = gzipSync(xml);
  const jobIds: string[] = [];
  const runId = newId('run');
  await t.store.db.insert(runs).values({ id: runId, kind: 'investigation', status: 'running' });
  for (let i = 0; i < uploads; i++) {
    const id = newId('job');
    jobIds.push(id);
    await t.store.db.insert(jobs).values({ id, runId, index: i, targets: ['127.1.0.0/16'], tcpPorts: '1-65535', status: 'running', agent: 'bench' });
  }
  process.stdout.write(`upload body: ${xml.length} bytes XML, ${gz.length} bytes gzip, 256 hosts\n`);
  await drive('PUT /v1/agent/jobs/{id}/result (gzip, 256 hosts)', uploads, 1, (i) =>
    fetch(`${server.url}/v1/agent/jobs/${jobIds[i]}/result`, {
      method: 'PUT',
      body: gz,
      headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/xml', 'content-encoding': 'gzip' },
    }),
  );
  await drive('PUT same result again (idempotent no-op)', uploads, 1, (i) =>
    fetch(`${server.url}/v1/agent/jobs/${jobIds[i]}/result`, {
      method: 'PUT',
      body: gz,
      headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/xml', 'content-encoding': 'gzip' },
    }),
  );
  await server.close();
} finally {
  await t.cleanup();
}
