import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment, type Deployment } from './helpers/distributed.ts';
import { makeCertificate, startTlsServer, type TestTlsServer } from './helpers/tls-servers.ts';

/*
 * A TLS profile on a distributed deployment: Temporal dev server, `plum serve`, `plum worker` and an
 * agent that runs sslscan and uploads its output; the server reads it with the TLS reader.
 */

describe('a TLS profile run by an agent through Temporal', () => {
  let d: Deployment;
  let modern: TestTlsServer;
  let legacy: TestTlsServer;

  beforeAll(async () => {
    d = await startDeployment({ agents: ['tls-agent'] });
    modern = await startTlsServer({ certificate: await makeCertificate({ cn: 'tls.plum.test', sans: ['tls.plum.test'] }) });
    legacy = await startTlsServer({ certificate: await makeCertificate({ cn: 'old.plum.test', bits: 1024 }), legacy: true });
    await d.ok(['target', 'add', '127.0.0.1']);
    await d.ok(['profile', 'add', 'tls', '--ports', `${modern.port},${legacy.port}`, '--scanner', 'sslscan']);
    d.startAgent('tls-agent');
  }, 180_000);
  afterAll(async () => {
    await modern?.close();
    await legacy?.close();
    await d?.close();
  });

  const events = () =>
    d.store.query<{ type: string; port: number; changes: Array<{ field: string }> | null }>(
      'select type, port, changes from observation_events order by at, port',
    );

  it('the agent scans with sslscan, the server ingests in the TLS view; a new certificate is one changed', async () => {
    const first = await d.plum(['run', 'tls', '--temporal', '--format', 'json']);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ status: 'succeeded', counters: { jobs: 1, jobsDone: 1, ports: 2, appeared: 2 } });
    const [job] = await d.store.query<{ agent: string }>(`select agent from jobs j join runs r on r.id = j.run_id where r.profile_name = 'tls'`);
    expect(job!.agent).toBe('tls-agent');
    const views = await d.store.query<{ view: string }>('select distinct view from port_observations');
    expect(views.map((v) => v.view)).toEqual(['sslscan']);
    const found = JSON.parse(await d.ok(['search', 'tls_protocol:"TLSv1.0"', '--format', 'json'])) as Array<{ ports: Array<{ port: number; tags: string[] }> }>;
    expect(found.flatMap((h) => h.ports.map((p) => p.port))).toEqual([legacy.port]);
    expect(found[0]!.ports[0]!.tags).toContain('vuln:tls-weak-protocol');

    const port = modern.port;
    await modern.close();
    modern = await startTlsServer({ certificate: await makeCertificate({ cn: 'tls.plum.test', sans: ['tls.plum.test', 'new.tls.plum.test'] }), port });
    const second = await d.plum(['run', 'tls', '--temporal', '--format', 'json']);
    expect(second.code, second.stderr).toBe(0);
    const later = (await events()).filter((e) => e.type !== 'appeared');
    expect(later.map((e) => [e.type, e.port])).toEqual([['changed', port]]);
    expect(later[0]!.changes!.map((c) => c.field)).toEqual(expect.arrayContaining(['x509_san', 'x509_sha256']));
  }, 300_000);
});
