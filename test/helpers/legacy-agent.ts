import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { nmap2jsonStream } from '../../core/nmap/compat.ts';
import { openXmlFile } from '../../core/nmap/read-file.ts';

/*
 * A client of the predecessor's agent protocol (docs/migration.md, "Agents") written
 * as its Python agents speak it: JSON bodies with or without a JSON content
 * type, the same identity fields, real nmap on the loopback perimeter with
 * §2's defaults, and the result converted to nmap2json by our compat output
 * (core/nmap/compat.ts). Used by test/api/bot-api.test.ts (embedded) and
 * test/temporal-legacy-bridge.test.ts (Temporal).
 */
const run = promisify(execFile);

export interface LegacyAgent {
  uid: string;
  key: string;
  post(
    op: 'beacon' | 'getjob' | 'sndjob',
    extra?: Record<string, unknown>,
    opts?: { contentType?: string; body?: string },
  ): Promise<{ status: number; body: any }>;
}

/** A getjob answer's job. */
export interface LegacyJob {
  job: string;
  job_uid: string;
  nmap_ports: string[];
  nmap_nse: string[];
  nse_scripts: { name: string; hash?: string; content_b64?: string }[];
  nmap_additional_params?: string;
}

export function legacyAgent(base: () => string, uid: string, key: () => string): LegacyAgent {
  return {
    uid,
    get key() {
      return key();
    },
    async post(op, extra = {}, opts = {}) {
      const body =
        opts.body ??
        JSON.stringify({
          UID: uid,
          DEVICE_MODEL: 'CPython 3.12.3',
          AGENT_VERSION: '1.4.0',
          SYSTEM_VERSION: 'Linux 6.14.0-27-generic',
          EXT_IP: '127.0.0.1',
          AGENT_KEY: key(),
          ...extra,
        });
      const res = await fetch(`${base()}/bot_api/${op}`, { method: 'POST', body, headers: opts.contentType ? { 'content-type': opts.contentType } : {} });
      return { status: res.status, body: await res.json() };
    },
  };
}

/** What a predecessor agent does with a job: nmap with §2's defaults, nmap2json of the open ports, RESULT as a JSON string. */
export async function scanAsLegacyAgent(job: LegacyJob, workDir: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(workDir, 'job-'));
  for (const s of job.nse_scripts) if (s.content_b64) fs.writeFileSync(path.join(dir, s.name), Buffer.from(s.content_b64, 'base64'));
  const targets = job.job.split(',');
  for (const target of targets) expect(target).toMatch(/^127\./);
  const scripts = job.nmap_nse.map((s) => (s.endsWith('.nse') ? path.join(dir, s) : s));
  const xml = path.join(dir, 'out.xml');
  await run('nmap', [
    '-T3',
    '--host-timeout',
    '40s',
    '--max-retries',
    '2',
    '-Pn',
    '-sT',
    '-p',
    job.nmap_ports.join(','),
    '-oX',
    xml,
    '--no-stylesheet',
    ...(scripts.length ? ['--script', scripts.join(',')] : []),
    // The agent splits the string like a shell (shlex); Plum sends only plain, space-separated tokens.
    ...(job.nmap_additional_params ? job.nmap_additional_params.split(' ') : []),
    ...targets,
  ]);
  const docs: string[] = [];
  for await (const h of nmap2jsonStream(openXmlFile(xml), {
    openOnly: true,
    onError: (e) => {
      throw e;
    },
  }))
    docs.push(h.json);
  return `[${docs.join(', ')}]`;
}

/** Polls getjob until a job is offered (every 200 ms, at most a minute by default). */
export async function nextLegacyJob(a: LegacyAgent, extra: Record<string, unknown> = {}, deadline = Date.now() + 60_000): Promise<LegacyJob> {
  for (;;) {
    const r = await a.post('getjob', extra);
    expect(r.status).toBe(200);
    if (r.body.message.job) return r.body.message;
    if (Date.now() > deadline) throw new Error('no job was offered');
    await new Promise((res) => setTimeout(res, 200));
  }
}
