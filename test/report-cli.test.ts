import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptySearchFields, type SearchFields } from '../core/fields.ts';
import { validateMispEvent, type MispFacts } from './helpers/misp-validate.ts';
import { ingestScanResult, type IngestHost, type IngestPort } from '../store/ingest.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIX = path.join(ROOT, 'test/fixtures/misp');
const readJson = async (p: string) => JSON.parse(await fs.readFile(path.join(FIX, p), 'utf8'));

function port(p: number, f: Partial<SearchFields>): IngestPort {
  const fields: SearchFields = { ...emptySearchFields(), port: [String(p)], protocol: ['tcp'], state: ['open'], ...f };
  return { protocol: 'tcp', port: p, state: 'open', fpVersion: 1, fields, doc: { f }, hsh256: createHash('sha256').update(JSON.stringify(f)).digest('hex') };
}
const host = (ip: string, at: string, ports: IngestPort[]): IngestHost => ({
  ip,
  status: 'up',
  startedAt: at,
  endedAt: at,
  timedOut: false,
  hostnames: [],
  ports: ports.map((p) => ({ ...p, fields: { ...p.fields, ip: [ip] } })),
});

function plum(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'bin/plum.mjs'), ...args],
      { env: { ...process.env, PLUM_LOG_LEVEL: 'silent', ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

/** A real SMTP server on 127.0.0.1 collecting the messages it receives. */
async function smtpReceiver() {
  const messages: Array<{ from: string; to: string[]; raw: string }> = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      stream.on('end', () => {
        messages.push({ from: String(session.envelope.mailFrom && session.envelope.mailFrom.address), to: session.envelope.rcptTo.map((r) => r.address), raw });
        callback();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.server.address() as AddressInfo).port;
  return { port, messages, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe.each(storeKinds)('plum report / export / webhook CLI on %s', (kind) => {
  let t: TestStore;
  let env: Record<string, string>;
  let facts: MispFacts;
  const day = 86_400_000;
  const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

  beforeAll(async () => {
    t = await openTestStore(kind);
    env = {
      PLUM_HOME: t.config.home,
      PLUM_WEBHOOK_ALLOW_PRIVATE: '1',
      ...(t.config.PLUM_DATABASE_URL ? { PLUM_DATABASE_URL: t.config.PLUM_DATABASE_URL } : {}),
    };
    facts = {
      core: await readJson('core-format.json'),
      types: await readJson('describe-types.json'),
      templates: await Promise.all((await fs.readdir(path.join(FIX, 'objects'))).map((f) => readJson(`objects/${f}`))),
    };
    const scope = { targets: ['127.0.0.1', '127.0.0.2'], tcpPorts: '22,443' };
    const ssh = port(22, { service_name: ['ssh'] });
    const webA = port(443, { service_name: ['https'], http_title: ['Login'], x509_sha256: ['c'.repeat(64)], x509_subject_cn: ['a.example.test'] });
    const webB = port(443, { service_name: ['https'], http_title: ['Admin console'], x509_sha256: ['d'.repeat(64)], x509_subject_cn: ['a.example.test'] });
    await ingestScanResult(t.store, {
      scan: { run: { startedAt: iso(20 * day) }, hosts: [host('127.0.0.1', iso(20 * day), [ssh, webA])] },
      scope,
      source: 'cli-a',
    });
    await ingestScanResult(t.store, {
      scan: { run: { startedAt: iso(2 * day) }, hosts: [host('127.0.0.1', iso(2 * day), [ssh, webB]), host('127.0.0.2', iso(2 * day), [ssh])] },
      scope,
      source: 'cli-b',
    });
    // The CLI opens the embedded database itself: release it.
    await t.store.close();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('writes the Markdown report to --out and to stdout', async () => {
    const out = path.join(t.config.home, 'r.md');
    const r = await plum(['report', '--since', '7d', '--out', out], env);
    expect(r.stderr).toContain('wrote');
    expect(r.code).toBe(0);
    const md = await fs.readFile(out, 'utf8');
    expect(md).toContain('# Plum exposure report');
    expect(md).toContain('- Hosts with open ports: 2');
    expect(md).toContain('  - title: Login → Admin console');
    expect(md).toMatch(/### Appeared \(1; previous period: 0\)/);
    const q = await plum(['report', '--query', 'port:22', '--since', '7d'], env);
    expect(q.code).toBe(0);
    expect(q.stdout).toContain('- Query: `port:22`');
    expect(q.stdout).not.toContain('443/tcp');
  });

  it('exports MISP (valid event), CSV and NDJSON to stdout', async () => {
    const m = await plum(['export', '--format', 'misp', '--tlp', 'green'], env);
    expect(m.code).toBe(0);
    const ev = JSON.parse(m.stdout);
    expect(validateMispEvent(ev, facts)).toEqual([]);
    expect(ev.Event.Tag.map((x: { name: string }) => x.name)).toContain('tlp:green');
    const c = await plum(['export', '--format', 'csv', '--query', 'port:443'], env);
    expect(c.stdout.split('\r\n').filter(Boolean)).toHaveLength(2);
    const n = await plum(['export', '--format', 'ndjson'], env);
    expect(n.stdout.trim().split('\n')).toHaveLength(3);
  });

  it('refuses bad input with one clear line and exit code 2', async () => {
    for (const args of [
      ['report', '--since', '7x'],
      ['report', '--query', 'port:('],
      ['export', '--format', 'xml'],
      ['report', '--from', '2026-02-01', '--to', '2026-01-01'],
    ]) {
      const r = await plum(args, env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(args[0] === 'export' ? 2 : 1);
      expect(r.stderr).toMatch(/^plum: /);
    }
    const out = path.join(t.config.home, 'never.md');
    await plum(['report', '--since', 'x', '--out', out], env);
    await expect(fs.stat(out)).rejects.toThrow();
  });

  it('stores reports, delivers them to a directory and by e-mail over real SMTP, lists webhooks', async () => {
    const smtp = await smtpReceiver();
    const dir = path.join(t.config.home, 'reports');
    try {
      const mailEnv = { ...env, PLUM_SMTP_URL: `smtp://127.0.0.1:${smtp.port}?ignoreTLS=true`, PLUM_SMTP_FROM: 'plum@example.test' };
      const add = await plum(
        ['report', 'add', 'daily', '--every', '1d', '--query', 'port:443', '--to', `dir:${dir}`, '--to', 'mailto:soc@example.test', '--format', 'json'],
        mailEnv,
      );
      expect(add.code).toBe(0);
      expect(JSON.parse(add.stdout)).toMatchObject({ name: 'daily', query: 'port:443', every: '1d', destinations: [`dir:${dir}`, 'mailto:soc@example.test'] });
      const preview = await plum(['report', 'run', 'daily', '--preview'], mailEnv);
      expect(preview.code).toBe(0);
      const run = await plum(['report', 'run', 'daily'], mailEnv);
      expect(run.stderr).toContain('delivered mailto:soc@example.test');
      expect(run.code).toBe(0);
      const files = await fs.readdir(dir);
      expect(files).toHaveLength(1);
      // Same report as the preview; only the minute it was made at may have ticked between the two commands.
      const delivered = await fs.readFile(path.join(dir, files[0]!), 'utf8');
      const STAMP = /\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/g;
      expect(delivered.replace(STAMP, '<t>')).toBe(preview.stdout.replace(STAMP, '<t>'));
      const minute = (s: string) => Date.parse(s.match(/Generated: (\S+ \S+) UTC/)![1]!.replace(' ', 'T') + 'Z');
      expect(minute(delivered) - minute(preview.stdout)).toBeGreaterThanOrEqual(0);
      expect(minute(delivered) - minute(preview.stdout)).toBeLessThanOrEqual(60_000);
      expect(smtp.messages).toHaveLength(1);
      expect(smtp.messages[0]!.to).toEqual(['soc@example.test']);
      expect(smtp.messages[0]!.raw).toContain('Subject: Plum report daily');
      // Without SMTP configured the e-mail recipient fails and the run says so (exit 1), the directory still gets it.
      const noMail = await plum(['report', 'run', 'daily'], env);
      expect(noMail.code).toBe(1);
      expect(noMail.stderr).toContain('FAILED mailto:soc@example.test');
      expect(noMail.stderr).toContain('PLUM_SMTP_URL');
      const list = JSON.parse((await plum(['report', 'list', '--format', 'json'], env)).stdout);
      expect(list[0]).toMatchObject({ name: 'daily', last_status: 'partial' });

      const hook = await plum(['webhook', 'add', 'soc', '--url', 'http://127.0.0.1:1/hook', '--query', 'port:22', '--format', 'json'], env);
      expect(JSON.parse(hook.stdout).secret).toMatch(/^whsec_/);
      const hooks = JSON.parse((await plum(['webhook', 'list', '--format', 'json'], env)).stdout);
      expect(hooks.map((h: { name: string }) => h.name)).toEqual(['soc']);
      const bad = await plum(['webhook', 'add', 'x', '--url', 'ftp://nope'], env);
      expect(bad.code).toBe(2);
      expect((await plum(['report', 'rm', 'daily'], env)).code).toBe(0);
    } finally {
      await smtp.close();
    }
  });
});
