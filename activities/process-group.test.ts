import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { processAlive as alive } from '../test/helpers/process.ts';
import { runInProcessGroup, scannerOutputOf, termThenKill, type ProcessGroupOptions } from './process-group.ts';

const base: ProcessGroupOptions = {
  name: 'sh',
  notFoundHint: 'install sh',
  startFailure: { code: 'scanner_failed', hint: 'check sh' },
};

const waitFor = async (cond: () => boolean | Promise<boolean>, ms = 5000) => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not met in time');
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'plum-pgroup-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('runInProcessGroup', () => {
  it('returns the exit code, stdout and stderr of a program that ends by itself', async () => {
    const r = await runInProcessGroup('sh', ['-c', 'printf "a\\nb\\n"; echo oops >&2; exit 3'], { ...base, stdout: { keep: 'all' }, stderr: { keep: 'all' } });
    expect(r).toEqual({ code: 3, stdout: 'a\nb\n', stderr: 'oops\n' });
  });

  it('hands over each line as it arrives, across chunks and carriage returns', async () => {
    const lines: string[] = [];
    await runInProcessGroup('sh', ['-c', 'printf "one\\rtw"; sleep 0.1; printf "o\\nthree"'], { ...base, stdout: { onLine: (l) => lines.push(l) } });
    expect(lines).toEqual(['one', 'two']); // an unterminated last line is not a line
  });

  it('keeps stderr within its bound: the head or the tail', async () => {
    const script = 'for i in $(seq 1 2000); do echo "line $i" >&2; done';
    const head = await runInProcessGroup('sh', ['-c', script], { ...base, stderr: { keep: 'head', limit: 100 } });
    expect(head.stderr).toHaveLength(100);
    expect(head.stderr.startsWith('line 1\n')).toBe(true);
    const tail = await runInProcessGroup('sh', ['-c', script], { ...base, stderr: { keep: 'tail', limit: 100 } });
    expect(tail.stderr).toHaveLength(100);
    expect(tail.stderr.endsWith('line 2000\n')).toBe(true);
  });

  it('escalates to SIGKILL after the grace when the program ignores SIGTERM', async () => {
    const started = Date.now();
    const r = await runInProcessGroup('sh', ['-c', 'trap "" TERM; echo ready; sleep 30 & wait'], {
      ...base,
      timeoutMs: 300,
      stopSequence: termThenKill(400),
    });
    const took = Date.now() - started;
    expect(r.reason).toBe('timeout');
    expect(r.code).toBeNull();
    expect(took).toBeGreaterThanOrEqual(650);
    expect(took).toBeLessThan(5000);
  });

  it('kills the whole group on cancellation, grandchildren included', async () => {
    const pidFile = path.join(dir, 'grandchild.pid');
    const ac = new AbortController();
    // The grandchild is a separate sleep in the background: only a group kill reaches it.
    const p = runInProcessGroup('sh', ['-c', `sleep 30 & echo $! > ${pidFile}; wait`], { ...base, signal: ac.signal });
    await waitFor(() => existsSync(pidFile) && readFile(pidFile, 'utf8').then((t) => t.trim() !== ''));
    const grandchild = Number((await readFile(pidFile, 'utf8')).trim());
    expect(alive(grandchild)).toBe(true);
    ac.abort();
    const r = await p;
    expect(r.reason).toBe('cancelled');
    await waitFor(() => !alive(grandchild));
  });

  it('sends the stop sequence in order, so a program can flush before it is killed', async () => {
    const r = await runInProcessGroup('sh', ['-c', 'n=0; trap \'n=$((n+1)); echo "INT $n"; [ $n -ge 2 ] && exit 7\' INT; while :; do sleep 0.05; done'], {
      ...base,
      timeoutMs: 200,
      stdout: { keep: 'all' },
      stopSequence: [
        { signal: 'SIGINT', afterMs: 0 },
        { signal: 'SIGINT', afterMs: 300 },
        { signal: 'SIGKILL', afterMs: 5000 },
      ],
    });
    expect(r).toMatchObject({ code: 7, reason: 'timeout', stdout: 'INT 1\nINT 2\n' });
  });

  it('starts nothing when the signal is already aborted', async () => {
    const marker = path.join(dir, 'ran');
    const ac = new AbortController();
    ac.abort();
    const r = await runInProcessGroup('sh', ['-c', `touch ${marker}`], { ...base, signal: ac.signal });
    expect(r).toEqual({ code: null, reason: 'cancelled', stdout: '', stderr: '' });
    await new Promise((res) => setTimeout(res, 200));
    expect(existsSync(marker)).toBe(false);
  });

  it('removes its abort listener when the program ends', async () => {
    const ac = new AbortController();
    let added = 0;
    let removed = 0;
    const signal = ac.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...a: Parameters<typeof add>) => {
      added++;
      add(...a);
    }) as typeof add;
    signal.removeEventListener = ((...a: Parameters<typeof remove>) => {
      removed++;
      remove(...a);
    }) as typeof remove;
    await runInProcessGroup('sh', ['-c', 'exit 0'], { ...base, signal });
    expect([added, removed]).toEqual([1, 1]);
  });

  it('reports a missing program as unavailable, with the hint', async () => {
    const err = await runInProcessGroup('/nonexistent/scanner', [], base).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'unavailable', message: 'sh not found ("/nonexistent/scanner")', hint: 'install sh' });
  });

  it("reports another start failure with the caller's code", async () => {
    const err = await runInProcessGroup('sh', [], { ...base, cwd: path.join(dir, 'missing') }).catch((e: unknown) => e);
    // A missing working directory also fails with ENOENT in Node; a non-executable file does not.
    expect(err).toMatchObject({ code: 'unavailable' });
    const err2 = await runInProcessGroup(dir, [], base).catch((e: unknown) => e);
    expect(err2).toMatchObject({ code: 'scanner_failed', hint: 'check sh' });
  });
});

describe('scannerOutputOf', () => {
  it('keeps what an interrupted program wrote, with the reason', async () => {
    const file = path.join(dir, 'out.xml');
    const started = Date.now();
    const args = ['-c', `echo '<partial>' > ${file}; sleep 30`];
    const outcome = await runInProcessGroup('sh', args, { ...base, timeoutMs: 300 });
    const out = await scannerOutputOf(file, outcome, started, args);
    expect(out).toMatchObject({ exitCode: null, interrupted: true, interruptReason: 'timeout', args });
    expect(out.output.toString()).toBe('<partial>\n');
    expect(out.durationMs).toBeGreaterThanOrEqual(300);
  });

  it('gives an empty output when nothing was written', async () => {
    const out = await scannerOutputOf(path.join(dir, 'none.xml'), { code: 1, stdout: '', stderr: 'bad option' }, Date.now(), ['-x']);
    expect(out).toMatchObject({ exitCode: 1, stderr: 'bad option', interrupted: false, args: ['-x'] });
    expect(out.output).toHaveLength(0);
    expect(out).not.toHaveProperty('interruptReason');
  });
});
