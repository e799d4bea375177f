import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nmap2jsonStream } from '../core/nmap/compat.ts';
import { openXmlFile } from '../core/nmap/parse.ts';

/*
 * bench/parse.ts states issue #2's goal as a ratio to the predecessor's parser,
 * timed on the same file by bench/predecessor/nmap2json.py. That ratio only
 * means something while the Python baseline computes what upstream computes:
 * checked here on the golden vectors and, beyond them, against Plum's own
 * compat mode (core/nmap/compat.ts) on every fixture, including the loopback
 * captures with volatile headers, cookies and dates that the masking rewrites.
 */
const script = fileURLToPath(new URL('../bench/predecessor/nmap2json.py', import.meta.url));
const fixtures = fileURLToPath(new URL('./fixtures/nmap/', import.meta.url));
const python = (args: string[]) => execFileSync('python3', [script, ...args], { encoding: 'utf8' });

interface Hashes { addr: string | null; hsh256: string; ports: Record<string, string> }

async function compatHashes(file: string, openOnly: boolean): Promise<Hashes[]> {
  const out: Hashes[] = [];
  const errors: unknown[] = [];
  for await (const h of nmap2jsonStream(openXmlFile(file), { openOnly, onError: (e) => errors.push(e) })) {
    const ports: Record<string, string> = {};
    for (const p of h.doc.ports as { protocol: string; portid: string; hsh256: string }[]) ports[`${p.protocol}/${p.portid}`] = p.hsh256;
    out.push({ addr: h.doc.addr as string | null, hsh256: h.hsh256, ports });
  }
  expect(errors).toEqual([]);
  return out;
}

describe('the predecessor baseline of bench/parse.ts', () => {
  it('reproduces the golden hsh256 vectors (--check)', () => {
    expect(JSON.parse(python(['--check', `${fixtures}golden-nmap2json.json`, fixtures]))).toEqual({ golden_mismatches: 0 });
  });

  const files = readdirSync(fixtures).filter((f) => f.endsWith('.xml')).sort();
  it('covers the fixtures, loopback captures included', () => {
    expect(files.filter((f) => f.startsWith('loopback-')).length).toBeGreaterThanOrEqual(5);
  });
  for (const file of files) {
    for (const openOnly of [false, true]) {
      it(`computes the same host and port hsh256 as plum parse --compat nmap2json on ${file}${openOnly ? ' (--open-only)' : ''}`, async () => {
        const path = `${fixtures}${file}`;
        const fromPython = python(['--hashes', path, ...(openOnly ? ['--open-only'] : [])]).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Hashes);
        const ours = await compatHashes(path, openOnly);
        expect(ours.length).toBeGreaterThan(0);
        expect(fromPython).toEqual(ours);
      });
    }
  }

  it('refuses bad usage with exit code 2 and a one-line message', () => {
    let status = 0;
    let stderr = '';
    try {
      execFileSync('python3', [script, '--hashes'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      status = (e as { status: number }).status;
      stderr = String((e as { stderr: string }).stderr);
    }
    expect(status).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});
