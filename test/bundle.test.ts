import { mkdtempSync, mkdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript module of the entry point, without types
import { bundleIsFresh } from '../bin/bundle.mjs';
import { ROOT, runPlum } from './helpers/cli.ts';

const isFresh = bundleIsFresh as (root: URL) => boolean;
const fixture = path.join(ROOT, 'test', 'fixtures', 'nmap', 'libnmap-1_os_banner_scripts.xml');

describe('the bundled `plum` (scripts/build.mjs, run by npm ci and npm test)', () => {
  it('matches the sources, so the CLI tests run the bundle users run', () => {
    expect(isFresh(pathToFileURL(`${ROOT}/`))).toBe(true);
  });

  it('prints exactly what the TypeScript sources print', async () => {
    // A home of its own: `rules list` reads the shipped rules through a store.
    const home = mkdtempSync(path.join(os.tmpdir(), 'plum-bundle-home-'));
    const env = { PLUM_HOME: home, PLUM_DATABASE_URL: '' };
    expect((await runPlum(['init'], env)).code).toBe(0);
    for (const args of [
      ['--version'],
      ['parse', fixture],
      ['parse', '--hosts', fixture],
      ['parse', '--compat', 'nmap2json', fixture],
      ['rules', 'list', '--format', 'json'],
    ]) {
      const bundled = await runPlum(args, env);
      const source = await runPlum(args, { ...env, PLUM_FROM_SOURCE: '1' });
      expect(bundled.code, `${args.join(' ')}: ${bundled.stderr}`).toBe(0);
      expect(bundled.stdout.length).toBeGreaterThan(4);
      expect(bundled.stdout).toBe(source.stdout);
    }
    rmSync(home, { recursive: true, force: true });
  }, 120_000);

  it('an unknown option fails the same way in both', async () => {
    const bundled = await runPlum(['parse', '--no-such-option', fixture]);
    const source = await runPlum(['parse', '--no-such-option', fixture], { PLUM_FROM_SOURCE: '1' });
    expect(bundled.code).toBe(2);
    expect(bundled.stderr).toBe(source.stderr);
  }, 60_000);
});

describe('bundleIsFresh', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'plum-bundle-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const root = pathToFileURL(`${dir}/`);
  const source = path.join(dir, 'core', 'a.ts');
  mkdirSync(path.dirname(source), { recursive: true });
  mkdirSync(path.join(dir, 'dist'));
  const writeManifest = () => {
    const s = statSync(source);
    writeFileSync(path.join(dir, 'dist', 'manifest.json'), JSON.stringify({ inputs: { 'core/a.ts': [s.size, Math.round(s.mtimeMs)] } }));
  };

  it('is fresh while every source has its recorded size and time', () => {
    writeFileSync(source, 'export const a = 1;\n');
    writeManifest();
    expect(isFresh(root)).toBe(true);
  });

  it('is stale after an edit that keeps the size (a new modification time)', () => {
    writeFileSync(source, 'export const a = 1;\n');
    writeManifest();
    const later = new Date(Date.now() + 5_000);
    writeFileSync(source, 'export const a = 2;\n');
    utimesSync(source, later, later);
    expect(isFresh(root)).toBe(false);
  });

  it('is stale when a source is gone, the manifest is missing, empty or not JSON', () => {
    writeFileSync(source, 'x');
    writeManifest();
    rmSync(source);
    expect(isFresh(root)).toBe(false);
    writeFileSync(path.join(dir, 'dist', 'manifest.json'), '{"inputs":{}}');
    expect(isFresh(root)).toBe(false);
    writeFileSync(path.join(dir, 'dist', 'manifest.json'), 'not json');
    expect(isFresh(root)).toBe(false);
    rmSync(path.join(dir, 'dist', 'manifest.json'));
    expect(isFresh(root)).toBe(false);
  });
});
