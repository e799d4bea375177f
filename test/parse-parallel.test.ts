import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PlumError } from '../core/errors.ts';
import { parseNmapStream } from '../core/nmap/parse.ts';
import { liveParseThreads, readyParseThreads } from '../core/nmap/parse-pool.ts';
import type { ParsedHost, ParseOptions } from '../core/nmap/types.ts';

/*
 * The worker-thread parse (core/nmap/parse-pool.ts) must give exactly what the
 * in-thread parse gives: same hosts in the same order, same run information,
 * same error (code, message, position), on real nmap files and on large,
 * truncated and invalid ones; and no thread may outlive its stream.
 */

const fixtures = fileURLToPath(new URL('./fixtures/nmap/', import.meta.url));
const fixtureFiles = readdirSync(fixtures)
  .filter((f) => f.endsWith('.xml'))
  .sort();
const root = fileURLToPath(new URL('..', import.meta.url));

/** In-thread, or on two threads from the first byte on. */
const SEQUENTIAL: ParseOptions = { workers: 0 };
const PARALLEL: ParseOptions = { workers: 2, parallelMinBytes: 0, waitForThreads: true };

interface Outcome {
  hosts: ParsedHost[];
  run: unknown;
  error?: { code: string; message: string; details: unknown };
  thrown?: { code: string; message: string; details: unknown };
  threads: number;
}

/** Feeds the text in chunks, as a file stream would. */
function* chunks(xml: string, size = 64 * 1024): Generator<Buffer> {
  const buf = Buffer.from(xml);
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

const errorShape = (e: unknown) => {
  expect(e).toBeInstanceOf(PlumError);
  const p = e as PlumError;
  return { code: p.code, message: p.message, details: p.details };
};

/**
 * The default mode: this thread parses until a thread is ready, then shares
 * the batches with the threads. The input pauses after its first chunks until
 * a thread is ready, so that every run mixes both (deterministically).
 */
async function* mixedChunks(xml: string): AsyncGenerator<Buffer> {
  let n = 0;
  for (const c of chunks(xml)) {
    if (n++ === 6) while (readyParseThreads() === 0) await new Promise((r) => setTimeout(r, 10));
    yield c;
  }
}
const MIXED: ParseOptions = { workers: 2, parallelMinBytes: 0 };

async function outcome(xml: string, opts: ParseOptions): Promise<Outcome> {
  const stream = parseNmapStream(opts === MIXED ? mixedChunks(xml) : chunks(xml), opts);
  const hosts: ParsedHost[] = [];
  let thrown: Outcome['thrown'];
  try {
    for await (const h of stream) hosts.push(h);
  } catch (e) {
    thrown = errorShape(e);
  }
  return {
    hosts,
    run: structuredClone(stream.run),
    ...(stream.error ? { error: errorShape(stream.error) } : {}),
    ...(thrown ? { thrown } : {}),
    threads: stream.threads,
  };
}

async function expectSame(xml: string, extra: ParseOptions = {}, modes: ParseOptions[] = [PARALLEL]): Promise<Outcome> {
  const seq = await outcome(xml, { ...SEQUENTIAL, ...extra });
  expect(seq.threads).toBe(0);
  for (const mode of modes) {
    const par = await outcome(xml, mode === MIXED ? MIXED : { ...mode, ...extra });
    expect(par.threads).toBeGreaterThan(0);
    expect(par.hosts.length).toBe(seq.hosts.length);
    // Host by host first: a difference is reported where it is.
    for (let i = 0; i < seq.hosts.length; i++) expect(par.hosts[i], `host ${i}`).toStrictEqual(seq.hosts[i]);
    expect(par.run).toStrictEqual(seq.run);
    expect(par.error).toStrictEqual(seq.error);
    expect(par.thrown).toStrictEqual(seq.thrown);
    expect(liveParseThreads()).toBe(0);
  }
  return seq;
}

/** A large scan from the fixtures' real hosts, each with its own address. */
function synthetic(bytes: number): { xml: string; hosts: number } {
  const templates: string[] = [];
  for (const f of fixtureFiles) for (const m of readFileSync(path.join(fixtures, f), 'utf8').matchAll(/<host[\s>][\s\S]*?<\/host>/g)) templates.push(m[0]);
  const parts = [
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n<nmaprun scanner="nmap" args="nmap synthetic" start="1700000000" version="7.93" xmloutputversion="1.05">\n<scaninfo type="connect" protocol="tcp" numservices="3" services="22,80,443"/>\n',
  ];
  let size = 0;
  let n = 0;
  while (size < bytes) {
    const ip = `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
    const h = templates[n % templates.length]!.replace(/<address addr="[^"]*" addrtype="ipv4"\/>/, `<address addr="${ip}" addrtype="ipv4"/>`) + '\n';
    parts.push(h);
    size += h.length;
    n++;
    if (n % 1000 === 0) parts.push(`<taskprogress task="Connect Scan" time="1700000001" percent="50.00" remaining="1" etc="1700000002"/>\n`);
  }
  parts.push(
    `<runstats><finished time="1700003600" timestr="x" elapsed="3600" exit="success"/><hosts up="${n}" down="0" total="${n}"/></runstats>\n</nmaprun>\n`,
  );
  return { xml: parts.join(''), hosts: n };
}

const big = synthetic(3 * 1024 * 1024);

describe('parallel parse = in-thread parse', () => {
  afterAll(() => expect(liveParseThreads()).toBe(0));

  it.each(fixtureFiles)('real nmap output: %s', async (f) => {
    const seq = await expectSame(readFileSync(path.join(fixtures, f), 'utf8'));
    expect(seq.thrown).toBeUndefined();
  });

  it('a multi-megabyte scan: every host, in order, on both threads', async () => {
    const seq = await expectSame(big.xml, {}, [PARALLEL, MIXED]);
    expect(seq.hosts.length).toBe(big.hosts);
    expect(seq.error).toBeUndefined();
    expect(seq.hosts[1234]!.ip).toBe('127.0.4.210');
    const par = await outcome(big.xml, PARALLEL);
    expect(par.threads).toBe(2);
  });

  it('--open-only', async () => {
    const seq = await expectSame(big.xml.slice(0, 600_000) + '</nmaprun>\n', { openOnly: true });
    expect(seq.hosts.every((h) => h.ports.every((p) => p.state === 'open'))).toBe(true);
  });

  it('a truncated file: every complete host, then the same truncated error', async () => {
    const cut = big.xml.slice(0, Math.floor(big.xml.length * 0.7));
    const seq = await expectSame(cut, {}, [PARALLEL, MIXED]);
    expect(seq.error?.code).toBe('truncated');
    expect(seq.hosts.length).toBeGreaterThan(500);
    expect(seq.hosts.length).toBeLessThan(big.hosts);
  });

  it('invalid XML in the middle: the hosts before it, the same positioned error, and run information up to there only', async () => {
    const at = big.xml.indexOf('<host', Math.floor(big.xml.length / 2));
    const bad = big.xml.slice(0, at) + '<host><status state="up"></host>\n' + big.xml.slice(at);
    const seq = await expectSame(bad, {}, [PARALLEL, MIXED]);
    expect(seq.error?.code).toBe('parse_error');
    expect(seq.error?.details).toMatchObject({ line: expect.any(Number), column: expect.any(Number) });
    expect((seq.error?.details as { line: number }).line).toBe(bad.slice(0, at).split('\n').length);
    // The runstats after the error were never delivered.
    expect((seq.run as { finished: boolean }).finished).toBe(false);
  });

  it('a DTD inside a host in the middle: refused the same way (thrown, after the hosts before it)', async () => {
    const at = big.xml.indexOf('<host', Math.floor(big.xml.length / 3));
    const bad = big.xml.slice(0, at) + '<host><!ENTITY x "y"><status state="up"/></host>\n' + big.xml.slice(at);
    const seq = await expectSame(bad, {}, [PARALLEL, MIXED]);
    expect(seq.thrown?.code).toBe('parse_error');
    expect(seq.thrown?.details).toMatchObject({ reason: 'dtd' });
    expect(seq.hosts.length).toBeGreaterThan(0);
  });

  it('a host larger than maxHostBytes in the middle: the same refusal', async () => {
    const at = big.xml.indexOf('<host', Math.floor(big.xml.length / 2));
    const huge = `<host><status state="up"/><address addr="10.0.0.1" addrtype="ipv4"/><!-- ${'x'.repeat(300_000)} --></host>\n`;
    const seq = await expectSame(big.xml.slice(0, at) + huge + big.xml.slice(at), { maxHostBytes: 200_000 });
    expect(seq.thrown?.details).toMatchObject({ reason: 'size' });
  });

  it('stopping early (break) terminates the threads', async () => {
    let n = 0;
    const stream = parseNmapStream(chunks(big.xml), PARALLEL);
    for await (const h of stream) {
      expect(h.ip).toMatch(/^127\./);
      if (++n === 300) break;
    }
    expect(n).toBe(300);
    expect(stream.threads).toBeGreaterThan(0);
    expect(liveParseThreads()).toBe(0);
  });

  it('a process that breaks out of the loop, drops the iterator, or ends while threads start, exits by itself and runs its code after the loop', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'plum-parse-parallel-'));
    try {
      const file = path.join(dir, 'scan.xml');
      writeFileSync(file, big.xml);
      const small = path.join(root, 'test/fixtures/nmap/libnmap-2_hosts_version.xml');
      const script = path.join(dir, 'consumer.mts');
      const parse = pathToImport(path.join(root, 'core/nmap/parse.ts'));
      const readFile = pathToImport(path.join(root, 'core/nmap/read-file.ts'));
      writeFileSync(
        script,
        `
import { parseNmapStream } from ${JSON.stringify(parse)};
import { openXmlFile } from ${JSON.stringify(readFile)};
const out = [];
// Threads still starting when the stream ends, and threads at work.
for (const opts of [{ workers: 2, parallelMinBytes: 0 }, { workers: 2, parallelMinBytes: 0, waitForThreads: true }]) {
  let n = 0;
  for await (const h of parseNmapStream(openXmlFile(${JSON.stringify(file)}), opts)) if (++n === 300) break;
  // Dropped without return(): threads still working must finish, idle ones must not hold the process.
  const it = parseNmapStream(openXmlFile(${JSON.stringify(file)}), opts)[Symbol.asyncIterator]();
  const first = await it.next();
  out.push(n, first.value.ip);
}
// To the end of a small file while the threads are still starting, the consumer having held this thread
// meanwhile (their 'ready' unread): the loop must end and the code after it run.
let all = 0;
for await (const h of parseNmapStream(openXmlFile(${JSON.stringify(small)}), { workers: 2, parallelMinBytes: 0 })) {
  if (all++ === 0) for (const t = Date.now(); Date.now() - t < 1500;);
}
out.push(all);
console.log(out.join(' '));
`,
      );
      const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      expect(r.error, 'the process did not exit by itself').toBeUndefined();
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('300 127.0.0.0 300 127.0.0.0 2');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function pathToImport(p: string): string {
  return new URL(`file://${p}`).href;
}
