import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { projectPath } from '../project-root.ts';
import type { ScriptTable } from '../nmap/types.ts';
import { readSslscan } from './read.ts';
import { sslscanView } from './options.ts';

const fixture = (name: string) => readFileSync(projectPath('test', 'fixtures', 'sslscan', name));
/** A runner's output (activities/sslscan.ts) around real sslscan documents. */
const wrap = (targets: Array<{ port: number; file?: string; attrs?: string }>, closed = true) =>
  `<plum-sslscan version="1" started="1796000000">\n${targets
    .map(
      (t) =>
        `<target address="127.0.0.1" port="${t.port}" started="1796000000" ended="1796000003"${t.attrs ?? ''}>\n${
          t.file
            ? fixture(t.file)
                .toString()
                .replace(/^<\?xml[^>]*>\s*/, '')
            : ''
        }\n</target>\n`,
    )
    .join('')}${closed ? '</plum-sslscan>\n' : ''}`;

describe('readSslscan on real sslscan output', () => {
  it('a modern server: protocols, ciphers, groups, certificate, in fields and document', () => {
    const r = readSslscan(fixture('modern.xml'));
    expect(r).toMatchObject({ view: 'sslscan', finished: true });
    expect(r.error).toBeUndefined();
    expect(r.hosts).toHaveLength(1);
    const [p] = r.hosts[0]!.ports;
    expect(p).toMatchObject({ ip: '127.0.0.1', protocol: 'tcp', port: 44301, state: 'open' });
    expect(p!.hsh256).toMatch(/^[0-9a-f]{64}$/);
    const f = p!.fields;
    expect(f.tls_protocol).toEqual(['TLSv1.2', 'TLSv1.3']);
    expect(f.tls_cipher).toContain('TLS_AES_256_GCM_SHA384');
    expect(f.tls_cipher).toContain('ECDHE-RSA-AES128-GCM-SHA256');
    expect(f.tls_group).toContain('x25519');
    expect(f.tls_weak).toEqual([]);
    expect(f.x509_subject).toEqual(['CN=tls.plum.test, O=Plum test']);
    expect(f.x509_issuer).toEqual(f.x509_subject);
    expect(f.x509_subject_cn).toEqual(['tls.plum.test']);
    expect(f.x509_san).toEqual(['tls.plum.test', 'www.tls.plum.test', '127.0.0.1']);
    expect(f.x509_not_after).toEqual(['2027-01-05T16:28:48.000Z']);
    expect(f.x509_key_type).toEqual(['rsa']);
    expect(f.x509_key_bits).toEqual(['2048']);
    expect(f.x509_sig_alg).toEqual(['sha256WithRSAEncryption']);
    expect(f.x509_sha256[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(f.fqdn).toEqual(['tls.plum.test', 'www.tls.plum.test']);
    expect(f.service_name).toEqual(['ssl']);
    expect(f.script).toEqual(['sslscan']);
    const script = p!.doc.scripts[0]!;
    expect(script.output).toBe('TLSv1.2 TLSv1.3; 24 ciphers; certificate CN=tls.plum.test, O=Plum test (self-signed) until 2027-01-05');
    expect(script).toMatchObject({ renegotiation: 'unsupported', heartbleed: 'not vulnerable' });
    expect((script.certificate as ScriptTable).self_signed).toBe('true');
  });

  it('a legacy server: weak protocols, small DH, SHA-1 signature and a 1024-bit key', () => {
    const [p] = readSslscan(fixture('legacy.xml')).hosts[0]!.ports;
    expect(p!.fields.tls_protocol).toEqual(['TLSv1.0', 'TLSv1.1', 'TLSv1.2']);
    expect(p!.fields.tls_weak).toEqual(['protocol:TLSv1.0', 'protocol:TLSv1.1', 'dh:1024', 'signature:sha1WithRSAEncryption']);
    expect(p!.fields.x509_key_bits).toEqual(['1024']);
    expect(p!.doc.scripts[0]!.renegotiation).toBe('secure');
  });

  it('a port without SSL/TLS is open, with no service and no TLS fields', () => {
    const [p] = readSslscan(fixture('not-tls.xml')).hosts[0]!.ports;
    expect(p!.doc.service).toBeUndefined();
    expect(p!.fields.tls_protocol).toEqual([]);
    expect(p!.doc.scripts[0]!.output).toBe('no SSL/TLS protocol');
  });

  it('anything else is an error, with no host', () => {
    expect(readSslscan('<nmaprun></nmaprun>')).toMatchObject({ hosts: [], finished: false, error: expect.stringMatching(/^not sslscan output/) });
  });

  it('a bare document with only a connection error has no host', () => {
    expect(readSslscan(fixture('closed.xml')).hosts).toEqual([]);
  });

  it('the fingerprint leaves out the order sslscan printed and keeps what the service offers', () => {
    const xml = fixture('modern.xml').toString();
    const a = readSslscan(xml).hosts[0]!.ports[0]!.hsh256;
    const lines = xml.split('\n');
    const ciphers = lines.filter((l) => l.includes('<cipher '));
    const reordered = lines
      .filter((l) => !l.includes('<cipher '))
      .join('\n')
      .replace('<certificates>', `${[...ciphers].reverse().join('\n')}\n <certificates>`);
    expect(readSslscan(reordered).hosts[0]!.ports[0]!.hsh256).toBe(a);
    // With --show-times sslscan adds a handshake time to each cipher: not part of the service.
    expect(readSslscan(xml.replace(/strength="strong"/g, 'strength="strong" time="12"')).hosts[0]!.ports[0]!.hsh256).toBe(a);
    const noTls13 = xml.replace('<protocol type="tls" version="1.3" enabled="1" />', '<protocol type="tls" version="1.3" enabled="0" />');
    expect(readSslscan(noTls13).hosts[0]!.ports[0]!.hsh256).not.toBe(a);
    const oneCipherLess = xml.replace(ciphers[ciphers.length - 1]!, '');
    expect(readSslscan(oneCipherLess).hosts[0]!.ports[0]!.hsh256).not.toBe(a);
  });
});

describe('readSslscan on the runner output', () => {
  it('the captured output of a run (two TLS servers and a closed port)', () => {
    const r = readSslscan(fixture('runner.xml'));
    expect(r).toMatchObject({ view: 'sslscan', finished: true });
    expect(r.error).toBeUndefined();
    expect(r.hosts.map((h) => [h.ip, h.timedOut, h.ports.map((p) => p.port)])).toEqual([['127.0.0.1', false, [44311, 44313]]]);
    expect(r.hosts[0]!.ports.map((p) => p.fields.x509_subject_cn[0])).toEqual(['tls.plum.test', 'old.plum.test']);
  });

  it('each target is a port of its host; a target that ran without a test leaves the port out (gone)', () => {
    const r = readSslscan(
      wrap([
        { port: 44301, file: 'modern.xml' },
        { port: 44303, file: 'legacy.xml' },
        { port: 44309, file: 'closed.xml' },
      ]),
    );
    expect(r.finished).toBe(true);
    expect(r.error).toBeUndefined();
    expect(r.startedAt).toBe(new Date(1796000000 * 1000).toISOString());
    expect(r.hosts).toHaveLength(1);
    const h = r.hosts[0]!;
    expect(h).toMatchObject({ ip: '127.0.0.1', status: 'up', timedOut: false, startedAt: '2026-11-30T00:53:20.000Z', endedAt: '2026-11-30T00:53:23.000Z' });
    expect(h.ports.map((p) => p.port)).toEqual([44301, 44303]);
  });

  it('a host whose target was cut short is timedOut, so its unseen ports are unknown, not gone', () => {
    const r = readSslscan(
      wrap([
        { port: 44301, file: 'modern.xml' },
        { port: 44309, attrs: ' interrupted="true"' },
      ]),
    );
    expect(r.hosts[0]!.timedOut).toBe(true);
    expect(r.hosts[0]!.ports.map((p) => p.port)).toEqual([44301]);
  });

  it('an output cut in the middle keeps the finished targets, with every host timedOut and an error', () => {
    const whole = wrap(
      [
        { port: 44301, file: 'modern.xml' },
        { port: 44303, file: 'legacy.xml' },
      ],
      false,
    );
    const cut = whole.slice(0, whole.lastIndexOf('<cipher '));
    const r = readSslscan(cut);
    expect(r.finished).toBe(false);
    expect(r.error).toMatch(/ends before its last target/);
    expect(r.hosts[0]!.timedOut).toBe(true);
    expect(r.hosts[0]!.ports.map((p) => p.port)).toEqual([44301]);
  });

  it("a name scanned at an address is the host's requested name", () => {
    const r = readSslscan(wrap([{ port: 44301, file: 'modern.xml', attrs: ' name="TLS.plum.test"' }]));
    expect(r.hosts[0]!.hostnames).toEqual([{ name: 'tls.plum.test', type: 'user' }]);
    expect(r.hosts[0]!.ports[0]!.fields.fqdn_requested).toEqual(['tls.plum.test']);
  });

  it('a target whose address is not an address is reported, not read', () => {
    const r = readSslscan('<plum-sslscan version="1"><target address="-oX" port="443"></target></plum-sslscan>');
    expect(r.hosts).toEqual([]);
    expect(r.error).toMatch(/without a valid address/);
  });
});

describe('sslscanView', () => {
  it('is `sslscan` by default and for pacing options, another view for options that change what is looked at', () => {
    expect(sslscanView()).toBe('sslscan');
    expect(sslscanView({ timeout: 5, sleep: 10 })).toBe('sslscan');
    expect(sslscanView({ 'no-heartbleed': false })).toBe('sslscan');
    expect(sslscanView({ 'starttls-smtp': true })).toMatch(/^sslscan opts:[0-9a-f]{8}$/);
    expect(sslscanView({ 'starttls-smtp': true })).not.toBe(sslscanView({ 'no-heartbleed': true }));
    expect(readSslscan(fixture('modern.xml'), { options: { 'no-groups': true } }).view).toBe(sslscanView({ 'no-groups': true }));
  });
});
