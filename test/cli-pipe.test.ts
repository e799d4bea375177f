import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runPlum } from './helpers/cli.ts';
import { makeTestConfig, storeKinds } from './helpers/db.ts';

/*
 * Output piped to another program is complete: a pipe holds 64 KB, so a reader
 * slower than plum leaves writes queued when the command is done, and the
 * process must not end before they are written. Each command's output through
 * a real shell pipe to a reader that starts late is byte for byte what it
 * writes to a file.
 */

const HOSTS = 300;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-pipe-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A scan of 300 loopback hosts with 3 open web ports each (a few hundred KB of search output). */
function scanXml(): string {
  const hosts: string[] = [];
  for (let i = 0; i < HOSTS; i++) {
    const ports = [80, 443, 8080].map(
      (p) =>
        `<port protocol="tcp" portid="${p}"><state state="open" reason="syn-ack" reason_ttl="0"/>` +
        `<service name="http" product="nginx" version="1.22.${i % 7}" method="probed" conf="10"/>` +
        `<script id="http-title" output="Welcome host ${i} port ${p}"><elem key="title">Welcome host ${i} port ${p}</elem></script></port>`,
    );
    hosts.push(
      `<host starttime="1700000000" endtime="1700000010"><status state="up" reason="syn-ack" reason_ttl="0"/>` +
        `<address addr="127.9.${i >> 8}.${i & 255}" addrtype="ipv4"/><hostnames></hostnames><ports>${ports.join('')}</ports></host>`,
    );
  }
  return (
    `<?xml version="1.0"?>\n<nmaprun scanner="nmap" args="nmap -sV -p 80,443,8080 127.9.0.0/23" start="1700000000" version="7.93" xmloutputversion="1.05">` +
    `<scaninfo type="connect" protocol="tcp" numservices="3" services="80,443,8080"/>\n${hosts.join('\n')}\n` +
    `<runstats><finished time="1700000020" timestr="" elapsed="20" exit="success"/><hosts up="${HOSTS}" down="0" total="${HOSTS}"/></runstats></nmaprun>\n`
  );
}

/** `plum ARGS | (sleep 1; cat > OUT)` and `plum ARGS > FILE` through a real shell: the two outputs and plum's exit status. */
async function pipedAndToFile(args: string[], env: Record<string, string>, name: string): Promise<{ piped: Buffer; file: Buffer; status: string }> {
  const piped = path.join(dir, `${name}.piped`);
  const file = path.join(dir, `${name}.file`);
  const plum = `"${process.execPath}" "${path.join(ROOT, 'bin', 'plum.mjs')}" "$@"`;
  const script = `${plum} > "${file}" && ${plum} | (sleep 1; cat > "${piped}"); echo "\${PIPESTATUS[0]}"`;
  const status = await new Promise<string>((resolve, reject) => {
    const sh = spawn('bash', ['-c', script, 'plum', ...args], { env: { ...process.env, ...env }, cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    sh.stdout.on('data', (d) => (out += d));
    sh.on('error', reject);
    sh.on('close', () => resolve(out.trim()));
  });
  return { piped: fs.readFileSync(piped), file: fs.readFileSync(file), status };
}

describe.each(storeKinds)('output piped to a slow reader is complete (%s)', (kind) => {
  it('search, history, export and parse print everything before exiting', async () => {
    const { config, drop } = await makeTestConfig(kind);
    const env: Record<string, string> = { PLUM_HOME: config.home, ...(config.PLUM_DATABASE_URL ? { PLUM_DATABASE_URL: config.PLUM_DATABASE_URL } : {}) };
    try {
      const xml = path.join(dir, `${kind}.xml`);
      fs.writeFileSync(xml, scanXml());
      const ingest = await runPlum(['ingest', xml], env);
      expect(ingest.code, ingest.stderr).toBe(0);
      const commands: Array<[string, string[], (out: string) => void]> = [
        ['search-json', ['search', 'port:80', '--format', 'json', '--limit', '1000'], (out) => expect(JSON.parse(out)).toHaveLength(HOSTS)],
        ['search-csv', ['search', 'port:80', '--format', 'csv', '--limit', '1000'], (out) => expect(out.trim().split('\n')).toHaveLength(HOSTS + 1)],
        ['history-json', ['history', '--since', 'all', '--format', 'json', '--limit', '5000'], (out) => expect(JSON.parse(out)).toHaveLength(3 * HOSTS)],
        [
          'export-misp',
          ['export', '--format', 'misp'],
          (out) => expect((JSON.parse(out) as { Event: { Object: unknown[] } }).Event.Object.length).toBeGreaterThanOrEqual(3 * HOSTS),
        ],
        ['parse', ['parse', xml], (out) => expect(out.trim().split('\n')).toHaveLength(3 * HOSTS)],
      ];
      for (const [name, args, check] of commands) {
        const r = await pipedAndToFile(args, env, `${kind}-${name}`);
        expect(r.status, name).toBe('0');
        // Large enough that a pipe (64 KB) fills while the reader sleeps.
        expect(r.file.length, name).toBeGreaterThan(65_536);
        expect(r.piped.length, name).toBe(r.file.length);
        // A MISP event carries its export time and fresh uuids: the same size and shape, not the same bytes.
        if (name !== 'export-misp') expect(r.piped.equals(r.file), name).toBe(true);
        check(r.piped.toString('utf8'));
      }
    } finally {
      await drop();
    }
  }, 240_000);
});
