import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const fx = (n: string) => path.join(root, 'test/fixtures/nmap', n);
const tmp = mkdtempSync(path.join(tmpdir(), 'plum-parse-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function plum(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/plum.mjs'), ...args], {
    input,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, PLUM_HOME: path.join(tmp, 'home') },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const lines = (s: string) =>
  s
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('plum parse', () => {
  it('prints one JSON line per port document', () => {
    const r = plum(['parse', fx('circl.xml')]);
    expect(r.code).toBe(0);
    const docs = lines(r.out);
    expect(docs.map((d) => `${d.protocol}/${d.port}`)).toEqual(['tcp/22', 'tcp/80', 'tcp/443']);
    for (const d of docs) {
      expect(Object.keys(d)).toEqual(['ip', 'protocol', 'port', 'hsh256', 'fp_version', 'fields', 'doc']);
      expect(d.fp_version).toBe(1001);
    }
  }, 60_000);

  it('reads standard input; --hosts prints host documents', () => {
    const r = plum(['parse', '--hosts', '-'], readFileSync(fx('libnmap-2_hosts_version.xml'), 'utf8'));
    expect(r.code).toBe(0);
    expect(lines(r.out).map((h) => h.ip)).toEqual(['127.0.0.1', '74.207.244.221']);
  }, 60_000);

  it('--compat nmap2json@2605 --open-only prints the upstream documents and hashes', () => {
    const golden = JSON.parse(readFileSync(fx('golden-nmap2json.json'), 'utf8'));
    const r = plum(['parse', '--compat', 'nmap2json@2605', '--open-only', fx('libnmap-os_scan6.xml')]);
    expect(r.code).toBe(0);
    expect(lines(r.out).map((h) => ({ addr: h.addr, hsh256: h.hsh256 }))).toEqual(golden.files['libnmap-os_scan6.xml'].open_only);
    expect(r.out.split('\n')[0]).toMatch(/^\{"addr": "192\.168\.1\.1", "endtime": /);
  }, 60_000);

  it('a truncated file: complete hosts on stdout, one-line error on stderr, exit 1', () => {
    const xml = readFileSync(fx('libnmap-2_hosts_version.xml'), 'utf8');
    const file = path.join(tmp, 'cut.xml');
    writeFileSync(file, xml.slice(0, xml.lastIndexOf('<host ') + 200));
    const r = plum(['parse', '--hosts', file]);
    expect(r.code).toBe(1);
    expect(lines(r.out)).toHaveLength(1);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/^plum: the nmap XML is truncated/);
    const v = plum(['parse', '--validate', '--format', 'json', file]);
    expect(v.code).toBe(1);
    expect(JSON.parse(v.out)).toMatchObject({ hosts: { total: 1, up: 1 }, finished: false, errors: [expect.stringMatching(/truncated/)] });
  }, 60_000);

  it('hostile or unusable input: one-line error, exit 1; bad usage: exit 2', () => {
    const xxe = path.join(tmp, 'xxe.xml');
    writeFileSync(
      xxe,
      '<?xml version="1.0"?>\n<!DOCTYPE nmaprun [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<nmaprun scanner="nmap"><host><address addr="127.0.0.1" addrtype="ipv4"/><hostnames><hostname name="&x;"/></hostnames></host></nmaprun>\n',
    );
    const r = plum(['parse', xxe]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^plum: refused: the XML declares a DTD or entities at line 2, column 1/);
    expect(plum(['parse', path.join(tmp, 'missing.xml')]).err).toMatch(/^plum: cannot read .*no such file/);
    expect(plum(['parse', '--hosts', '--validate', fx('circl.xml')]).code).toBe(2);
  }, 60_000);
});

describe('plum output into a pipe closed early (`plum … | head`)', () => {
  it('stops quietly with exit 0, for any command (handled once in cli/main.ts)', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [path.join(root, 'bin/plum.mjs'), 'parse', '--hosts', fx('libnmap-os_scan6.xml')], {
      env: { ...process.env, PLUM_HOME: path.join(tmp, 'home') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let first = 0;
    // Read one chunk, then close our end, as `head -c` does: the rest of the output (> 64 KB) hits a closed pipe.
    child.stdout.once('data', (d: Buffer) => {
      first = d.length;
      child.stdout.destroy();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(first).toBeGreaterThan(0);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
