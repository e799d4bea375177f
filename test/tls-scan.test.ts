import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../store/index.ts';
import { runPlum } from './helpers/cli.ts';
import { cliEnvOf, makeTestConfig, storeKinds } from './helpers/db.ts';
import { makeCertificate, startTlsServer, type TestCertificate, type TestTlsServer } from './helpers/tls-servers.ts';
import type { PlumConfig } from '../core/config.ts';

/*
 * A TLS profile (scanner sslscan) run embedded by the `plum` command against Node tls servers on 127.0.0.1:
 * findings stored and searchable by their TLS fields, tagged by the rules; a new certificate is one
 * `changed` whose diff names the certificate fields; a stopped server is `gone`.
 */

interface SearchHit {
  ip: string;
  port: number;
  tags: string[];
}
interface HostHit {
  ip: string;
  ports: Array<{ port: number; tags: string[] }>;
}

describe.each(storeKinds)('a TLS profile run embedded (%s)', (kind) => {
  let config: PlumConfig;
  let drop: () => Promise<void>;
  let env: Record<string, string>;
  let modern: TestTlsServer;
  let legacy: TestTlsServer;
  let renewed: TestCertificate;

  const plum = async (...args: string[]) => {
    const r = await runPlum(args, env);
    expect(r.code, `plum ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const search = async (query: string): Promise<SearchHit[]> => {
    const hosts = JSON.parse(await plum('search', query, '--format', 'json')) as HostHit[];
    return hosts.flatMap((h) => h.ports.map((p) => ({ ip: h.ip, port: p.port, tags: p.tags })));
  };
  const events = async () => {
    const store = await openStore(config);
    try {
      return await store.query<{ type: string; port: number; changes: Array<{ field: string; old: string[]; new: string[] }> | null }>(
        'select type, port, changes from observation_events order by at, port',
      );
    } finally {
      await store.close();
    }
  };

  beforeAll(async () => {
    ({ config, drop } = await makeTestConfig(kind));
    env = cliEnvOf(config);
    modern = await startTlsServer({ certificate: await makeCertificate({ cn: 'tls.plum.test', sans: ['tls.plum.test', 'www.tls.plum.test'] }) });
    legacy = await startTlsServer({ certificate: await makeCertificate({ cn: 'old.plum.test', bits: 1024, sha1: true }), legacy: true });
    renewed = await makeCertificate({ cn: 'tls.plum.test', sans: ['tls.plum.test', 'api.tls.plum.test'], bits: 3072 });
    await plum('init');
    await plum('target', 'add', '127.0.0.1');
    await plum('profile', 'add', 'tls', '--ports', `${modern.port},${legacy.port}`, '--scanner', 'sslscan');
  }, 120_000);
  afterAll(async () => {
    await modern?.close();
    await legacy?.close();
    await drop?.();
  });

  it('plum profile add --scanner: shown with the profile; a wrong scanner or an nmap-only option is one line, nothing stored', async () => {
    expect(JSON.parse(await plum('profile', 'show', 'tls', '--format', 'json'))).toMatchObject({ name: 'tls', scanner: 'sslscan', scripts: [] });
    for (const [args, message] of [
      [['--scanner', 'zmap'], 'plum: invalid profile scanner: unknown scanner "zmap"'],
      [['--scanner', 'sslscan', '--scripts', 'ssl-cert'], 'plum: invalid profile scripts: a TLS profile (scanner sslscan) takes no scripts'],
      [['--scanner', 'sslscan', '--nmap-args', '-T4'], 'plum: invalid profile nmapArgs: a TLS profile (scanner sslscan) takes no nmapArgs'],
    ] as const) {
      const r = await runPlum(['profile', 'add', 'bad', '--ports', '443', ...args], env);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim().startsWith(message), r.stderr).toBe(true);
    }
    expect((await runPlum(['profile', 'show', 'bad'], env)).code).not.toBe(0);
  }, 60_000);

  it('stores both servers, searchable by TLS fields, tagged by the rules', async () => {
    await plum('run', 'tls', '--format', 'json');
    expect((await events()).map((e) => [e.type, e.port])).toEqual([
      ['appeared', Math.min(modern.port, legacy.port)],
      ['appeared', Math.max(modern.port, legacy.port)],
    ]);

    const tls10 = await search('tls_protocol:"TLSv1.0"');
    expect(tls10.map((h) => h.port)).toEqual([legacy.port]);
    expect((await search('tls_protocol:TLSv1.3')).map((h) => h.port)).toEqual([modern.port]);
    expect((await search('tls_weak.bg:dh:')).map((h) => h.port)).toEqual([legacy.port]);
    expect((await search('x509_subject_cn:tls.plum.test')).map((h) => h.port)).toEqual([modern.port]);
    expect((await search('tls_cipher:TLS_AES_256_GCM_SHA384')).map((h) => h.port)).toEqual([modern.port]);

    const [old] = tls10;
    expect(old!.tags).toEqual(
      expect.arrayContaining(['vuln:tls-weak-protocol', 'vuln:tls-weak-cipher', 'vuln:tls-weak-signature', 'vuln:tls-weak-key', 'vuln:tls-self-signed']),
    );
    const [fresh] = await search('tls_protocol:TLSv1.3');
    expect(fresh!.tags).toContain('vuln:tls-self-signed');
    expect(fresh!.tags).not.toContain('vuln:tls-weak-protocol');
    expect((await search('tag:vuln:tls-weak-protocol')).map((h) => h.port)).toEqual([legacy.port]);
  }, 180_000);

  it('an unchanged rescan changes nothing; a new certificate is exactly one changed, its diff naming the certificate', async () => {
    await plum('run', 'tls');
    expect(await events()).toHaveLength(2);

    const port = modern.port;
    await modern.close();
    modern = await startTlsServer({ certificate: renewed, port });
    await plum('run', 'tls');
    const changed = (await events()).filter((e) => e.type !== 'appeared');
    expect(changed.map((e) => [e.type, e.port])).toEqual([['changed', port]]);
    const fields = new Map(changed[0]!.changes!.map((c) => [c.field, c]));
    // Both certificates were made the same minute: their dates may not differ.
    expect([...fields.keys()]).toEqual(expect.arrayContaining(['x509_san', 'x509_sha256', 'x509_key_bits']));
    expect(fields.get('x509_key_bits')).toMatchObject({ old: ['2048'], new: ['3072'] });
    expect(fields.get('x509_san')).toMatchObject({ old: ['tls.plum.test', 'www.tls.plum.test'], new: ['api.tls.plum.test', 'tls.plum.test'] });
    expect(fields.has('tls_cipher')).toBe(false);
    expect((await search('x509_san:api.tls.plum.test')).map((h) => h.port)).toEqual([port]);
  }, 180_000);

  it('a stopped server is gone', async () => {
    await legacy.close();
    await plum('run', 'tls');
    const last = (await events()).filter((e) => e.type === 'gone');
    expect(last.map((e) => e.port)).toEqual([legacy.port]);
    expect(await search('tls_protocol:"TLSv1.0"')).toEqual([]);
  }, 180_000);
});
