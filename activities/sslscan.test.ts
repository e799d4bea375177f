import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlumError } from '../core/errors.ts';
import type { ScanProgress } from '../core/scanner/contract.ts';
import { freePort } from '../test/helpers/net.ts';
import { makeCertificate, startTlsServer, type TestTlsServer } from '../test/helpers/tls-servers.ts';
import { createSslscanScanner, sslscanPairs } from './sslscan.ts';

/*
 * The TLS runner against real sslscan and Node tls servers on 127.0.0.1.
 */

const scanner = createSslscanScanner({ concurrency: 2, killGraceMs: 500 });

describe('sslscan buildArgs: an allowlist whatever the caller checked', () => {
  it('one pair: the options, SNI for a name, XML destination and host:port, in this order', async () => {
    expect(await scanner.buildArgs({ targets: ['127.0.0.1'], tcpPorts: '443', options: { 'no-heartbleed': true, timeout: 5 } }, '-')).toEqual([
      '--no-colour',
      '--show-certificate',
      '--no-heartbleed',
      '--timeout=5',
      '--xml=-',
      '127.0.0.1:443',
    ]);
    expect(await scanner.buildArgs({ targets: [], tcpPorts: '', pairs: [{ ip: '::1', protocol: 'tcp', port: 8443 }] }, '/tmp/x.xml')).toEqual([
      '--no-colour',
      '--show-certificate',
      '--xml=/tmp/x.xml',
      '[::1]:8443',
    ]);
    expect(await createSslscanScanner({ resolve: async () => ['127.0.0.1'] }).buildArgs({ targets: ['tls.plum.test'], tcpPorts: '443' }, '-')).toEqual([
      '--no-colour',
      '--show-certificate',
      '--sni-name=tls.plum.test',
      '--xml=-',
      '127.0.0.1:443',
    ]);
  });

  it.each<[string, Parameters<typeof scanner.buildArgs>[0], RegExp]>([
    ['a target that looks like an option', { targets: ['--targets=/etc/passwd'], tcpPorts: '443' }, /starts with "-"/],
    ['a target with a space', { targets: ['127.0.0.1 --xml=/tmp/x'], tcpPorts: '443' }, /whitespace/],
    ['an option outside the list', { targets: ['127.0.0.1'], tcpPorts: '443', options: { pk: '/etc/ssl/private/key.pem' } }, /"pk" is not allowed/],
    ['a flag given a value', { targets: ['127.0.0.1'], tcpPorts: '443', options: { 'no-heartbleed': '--ocsp' } }, /takes true or false/],
    ['a number out of range', { targets: ['127.0.0.1'], tcpPorts: '443', options: { timeout: 600 } }, /from 1 to 60/],
    ['two STARTTLS dialects', { targets: ['127.0.0.1'], tcpPorts: '25', options: { 'starttls-smtp': true, 'starttls-imap': true } }, /exclude each other/],
    ['UDP ports', { targets: ['127.0.0.1'], tcpPorts: '443', udpPorts: '443' }, /TCP ports only/],
    ['a bad port list', { targets: ['127.0.0.1'], tcpPorts: '443;reboot' }, /port/],
    ['more than one pair', { targets: ['127.0.0.1'], tcpPorts: '443,8443' }, /one address and port at a time; this job has 2/],
    ['a pair that is not an address', { targets: [], tcpPorts: '', pairs: [{ ip: '127.0.0.0/24', protocol: 'tcp', port: 443 }] }, /not an address/],
  ])('refuses %s', async (_what, job, message) => {
    const e = await scanner.buildArgs(job, '-').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PlumError);
    expect((e as PlumError).message).toMatch(message);
  });

  it('expands ranges and networks to one pair per address and port, and caps a job', async () => {
    const pairs = await sslscanPairs({ targets: ['127.0.0.1-3', '127.0.1.0/31'], tcpPorts: '443,8443' });
    expect(pairs.map((p) => `${p.ip}:${p.port}`)).toEqual([
      '127.0.0.1:443',
      '127.0.0.1:8443',
      '127.0.0.2:443',
      '127.0.0.2:8443',
      '127.0.0.3:443',
      '127.0.0.3:8443',
      '127.0.1.0:443',
      '127.0.1.0:8443',
      '127.0.1.1:443',
      '127.0.1.1:8443',
    ]);
    await expect(sslscanPairs({ targets: ['127.0.0.0/16'], tcpPorts: '443' })).rejects.toThrow(/more than 4096/);
  });
});

describe('sslscan run on loopback', () => {
  let modern: TestTlsServer;
  let legacy: TestTlsServer;
  let silent: net.Server;
  let silentPort: number;
  let closedPort: number;
  const held = new Set<net.Socket>();

  beforeAll(async () => {
    modern = await startTlsServer({ certificate: await makeCertificate({ cn: 'tls.plum.test', sans: ['tls.plum.test'] }) });
    legacy = await startTlsServer({ certificate: await makeCertificate({ cn: 'old.plum.test', bits: 1024, sha1: true }), legacy: true });
    // Accepts and never answers: sslscan waits on it until killed.
    silent = net.createServer((s) => held.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    silentPort = (silent.address() as net.AddressInfo).port;
    closedPort = await freePort();
  }, 60_000);
  afterAll(async () => {
    for (const s of held) s.destroy();
    await Promise.all([modern?.close(), legacy?.close(), new Promise((r) => silent?.close(r))]);
  });

  it('scans each pair, reports progress per target and reads back one port per TLS server', async () => {
    const progress: ScanProgress[] = [];
    const job = { targets: ['127.0.0.1'], tcpPorts: `${modern.port},${legacy.port},${closedPort}` };
    const out = await scanner.run(job, { onProgress: (p) => progress.push(p) });
    expect(out).toMatchObject({ interrupted: false, exitCode: 0 });
    expect(progress.map((p) => p.phase)).toEqual(['sslscan 0/3', 'sslscan 1/3', 'sslscan 2/3', 'sslscan 3/3']);
    expect(progress.at(-1)!.percent).toBe(100);
    const r = scanner.read(out.output, job);
    expect(r.finished).toBe(true);
    expect(r.hosts).toHaveLength(1);
    expect(r.hosts[0]!.timedOut).toBe(false);
    const ports = new Map(r.hosts[0]!.ports.map((p) => [p.port, p]));
    expect([...ports.keys()].sort()).toEqual([modern.port, legacy.port].sort());
    expect(ports.get(modern.port)!.fields.tls_protocol).toEqual(['TLSv1.2', 'TLSv1.3']);
    expect(ports.get(legacy.port)!.fields.tls_protocol).toEqual(['TLSv1.0', 'TLSv1.1', 'TLSv1.2']);
    expect(ports.get(legacy.port)!.fields.tls_weak).toEqual(expect.arrayContaining(['protocol:TLSv1.0', 'dh:1024', 'signature:sha1WithRSAEncryption']));
    expect(ports.get(legacy.port)!.fields.x509_key_bits).toEqual(['1024']);
  }, 120_000);

  it('a second scan of the same servers gives the same fingerprints', async () => {
    const job = { targets: ['127.0.0.1'], tcpPorts: `${modern.port},${legacy.port}` };
    const hashes = async () => scanner.read((await scanner.run(job)).output, job).hosts[0]!.ports.map((p) => p.hsh256);
    expect(await hashes()).toEqual(await hashes());
  }, 120_000);

  it('cancelled: kills the running sslscan, keeps the finished targets, leaves the host timedOut', async () => {
    const one = createSslscanScanner({ concurrency: 1, killGraceMs: 500 });
    const ac = new AbortController();
    // Pairs keep their order (a port list is sorted): the TLS server first, then the one that never answers.
    const job = {
      targets: [],
      tcpPorts: '',
      pairs: [
        { ip: '127.0.0.1', protocol: 'tcp' as const, port: modern.port },
        { ip: '127.0.0.1', protocol: 'tcp' as const, port: silentPort },
      ],
    };
    const started = Date.now();
    const out = await one.run(job, {
      signal: ac.signal,
      onProgress: (p) => {
        if (p.hostsCompleted === 1) setTimeout(() => ac.abort(), 300);
      },
    });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(out).toMatchObject({ interrupted: true, interruptReason: 'cancelled' });
    const r = one.read(out.output, job);
    expect(r.finished).toBe(false);
    expect(r.hosts[0]!.timedOut).toBe(true);
    expect(r.hosts[0]!.ports.map((p) => p.port)).toEqual([modern.port]);
  }, 60_000);

  it('the job timeout stops a target that never answers', async () => {
    const job = { targets: ['127.0.0.1'], tcpPorts: String(silentPort), timeoutMs: 1500 };
    const out = await scanner.run(job);
    expect(out).toMatchObject({ interrupted: true, interruptReason: 'timeout' });
    expect(out.output.toString()).toContain('interrupted="true"');
    expect(scanner.read(out.output, job).hosts[0]!.timedOut).toBe(true);
  }, 30_000);

  it('a missing sslscan is a one-line unavailable error', async () => {
    const e = await createSslscanScanner({ sslscanPath: '/nonexistent/sslscan' })
      .run({ targets: ['127.0.0.1'], tcpPorts: String(modern.port) })
      .catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'unavailable' });
    expect((e as PlumError).message).toMatch(/sslscan not found/);
  });
});
