/**
 * Noise of the change feed: a simulated month of daily scans of N hosts by two alternating profiles
 * (`banner` one day, `web` the next), with a share of real changes per day. Synthetic parsed hosts are fed
 * to the ingest (no nmap, no XML): each host has one web port; the banner view fingerprints what a banner
 * scan sees of it (its server banner), the web view what a web scan sees (its page title). A real change
 * alters one of the two, and only the view that sees it can report it. Prints the `changed` events the store
 * recorded against the real changes the scans could see (a facet whose value differs from what its view saw
 * last). Goal: equal. `--modes single` runs the same month with one view for both profiles, as before views
 * existed, for comparison.
 *
 *   npx tsx bench/noise.ts [--hosts 10000] [--days 30] [--change 0.01] [--modes views,single] [--driver postgres|pglite]
 *
 * PostgreSQL: a scratch database on PLUM_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/test),
 * dropped afterwards. Addresses are synthetic data in 127.0.0.0/8; nothing is scanned.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { loadConfig } from '../core/config.ts';
import { emptySearchFields } from '../core/fields.ts';
import { ingestScanResult, type IngestHost, type IngestPort } from '../store/ingest.ts';
import { openStore } from '../store/index.ts';
import { freshBenchDatabase } from './lib/database.ts';

const { values: opt } = parseArgs({
  options: {
    hosts: { type: 'string', default: '10000' },
    days: { type: 'string', default: '30' },
    change: { type: 'string', default: '0.01' },
    modes: { type: 'string', default: 'views' },
    driver: { type: 'string', default: 'postgres' },
    seed: { type: 'string', default: '7' },
  },
});
const HOSTS = Number(opt.hosts);
const DAYS = Number(opt.days);
const CHANGE = Number(opt.change);

/** A small deterministic generator (mulberry32): the same seed gives the same month. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Profile = 'banner' | 'web';
/** What each profile's scripts see of the port. */
const FACET: Record<Profile, 'server' | 'title'> = { banner: 'server', web: 'title' };
const VIEW: Record<Profile, string> = { banner: 'script:plum-banner', web: 'script:http-headers,http-server-header,http-title,plum-favicon,ssl-cert' };

function ipOf(i: number): string {
  const n = i + 1;
  return `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

function portSeen(profile: Profile, state: { server: string; title: string }): IngestPort {
  const value = state[FACET[profile]];
  const fields = {
    ...emptySearchFields(),
    port: ['80'],
    protocol: ['tcp'],
    state: ['open'],
    ...(profile === 'web' ? { http_title: [value] } : { banner: [value] }),
  };
  const doc = { protocol: 'tcp', portid: '80', state: { state: 'open' }, [FACET[profile]]: value, scripts: profile };
  return { protocol: 'tcp', port: 80, state: 'open', hsh256: createHash('sha256').update(JSON.stringify(doc)).digest('hex'), fpVersion: 1, fields, doc };
}

async function month(mode: 'views' | 'single'): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-noise-'));
  const admin = process.env.PLUM_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const env: Record<string, string> = { PLUM_HOME: home };
  const dbName = `plum_noise_${process.pid}`;
  if (opt.driver === 'postgres') {
    env.PLUM_DATABASE_URL = await freshBenchDatabase(admin, dbName);
  }
  const store = await openStore(loadConfig(env));
  const rnd = random(Number(opt.seed));
  const state = Array.from({ length: HOSTS }, (_, i) => ({ server: `nginx/1.${i % 7}.0`, title: `Site ${i}` }));
  /** What each view saw last of each host's facet: a real change is a value its view has not seen. */
  const seen: Record<Profile, (string | undefined)[]> = { banner: new Array(HOSTS), web: new Array(HOSTS) };
  let mutations = 0;
  let visible = 0;
  let changed = 0;
  let noise = 0;
  const t0 = performance.now();
  try {
    for (let day = 0; day < DAYS; day++) {
      if (day > 0) {
        for (let i = 0; i < HOSTS; i++) {
          if (rnd() >= CHANGE) continue;
          const facet = rnd() < 0.5 ? 'server' : 'title';
          state[i]![facet] = facet === 'server' ? `nginx/1.${day}.${i % 10}` : `Site ${i} (${day})`;
          mutations++;
        }
      }
      const profile: Profile = day % 2 === 0 ? 'banner' : 'web';
      const at = new Date(Date.UTC(2026, 0, 1 + day, 6)).toISOString();
      const hosts: IngestHost[] = state.map((s, i) => ({
        ip: ipOf(i),
        status: 'up',
        timedOut: false,
        startedAt: at,
        endedAt: at,
        hostnames: [],
        ports: [portSeen(profile, s)],
      }));
      let expected = 0;
      for (let i = 0; i < HOSTS; i++) {
        const value = state[i]![FACET[profile]];
        if (seen[profile][i] !== undefined && seen[profile][i] !== value) expected++;
        seen[profile][i] = value;
      }
      const summary = await ingestScanResult(store, {
        scan: { run: { finished: true, scanInfo: [{ protocol: 'tcp', services: '80' }] }, hosts },
        source: `noise day ${day + 1} ${profile}`,
        view: mode === 'views' ? VIEW[profile] : 'one view for both',
      });
      visible += expected;
      changed += summary.changed;
      noise += Math.max(0, summary.changed - expected);
    }
    const s = (performance.now() - t0) / 1000;
    console.log(
      `${mode.padEnd(6)} ${HOSTS} hosts × ${DAYS} days (${opt.driver}): ${mutations} real changes, ${visible} visible to the scans; ` +
        `changed events ${changed} (${changed === visible ? 'equal' : `${changed - visible > 0 ? '+' : ''}${changed - visible}`}; false ≥ ${noise}); ${s.toFixed(0)} s`,
    );
  } finally {
    await store.close();
    fs.rmSync(home, { recursive: true, force: true });
    if (opt.driver === 'postgres') {
      const a = postgres(admin, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists "${dbName}"`);
      await a.end();
    }
  }
}

for (const mode of opt.modes!.split(',')) {
  if (mode !== 'views' && mode !== 'single') throw new Error(`--modes: views or single, not "${mode}"`);
  await month(mode);
}
