import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { boundForLog, createLogger, LOG_LIMITS } from './log.ts';

/** A logger writing into an array of lines. */
function captured() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { log: createLogger('info', 'test', sink), lines };
}

describe('log lines stay small', () => {
  it('cuts a huge error (a query repeating 100,000 ports), a huge message and a huge object to a few KB', () => {
    const { log, lines } = captured();
    const params = JSON.stringify(Array.from({ length: 100_000 }, (_, i) => ({ port: i, banner: 'x'.repeat(20) })));
    const err = Object.assign(new Error(`insert failed: ${params}`), { query: 'insert into port_observations …', params: [params] });
    log.error({ err, hosts: Array.from({ length: 100_000 }, (_, i) => ({ ip: `127.0.0.${i % 255}` })) }, 'ingest failed');
    log.warn('y'.repeat(1_000_000));
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l.length).toBeLessThan(64 * 1024);
    const first = JSON.parse(lines[0]!) as { msg: string; err: { message: string; params: string[] }; hosts: unknown[] };
    expect(first.msg).toBe('ingest failed');
    expect(first.err.message).toMatch(/^insert failed: \[\{"port":0,/);
    expect(first.err.message).toMatch(/…\(\d+ more characters\)$/);
    expect(first.err.params[0]).toMatch(/more characters\)$/);
    expect(first.hosts).toHaveLength(LOG_LIMITS.arrayItems + 1);
    expect(first.hosts.at(-1)).toBe(`…(${100_000 - LOG_LIMITS.arrayItems} more items)`);
    expect((JSON.parse(lines[1]!) as { msg: string }).msg).toMatch(/^y+…\(995904 more characters\)$/);
  });

  it.each([
    ['a short string', 'abc', 'abc'],
    ['a number', 42, 42],
    ['null', null, null],
    ['a long string', 'z'.repeat(LOG_LIMITS.stringChars + 3), `${'z'.repeat(LOG_LIMITS.stringChars)}…(3 more characters)`],
    ['a buffer', Buffer.alloc(10), '[Buffer of 10 bytes]'],
    ['deep nesting', { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } }, { a: { b: { c: { d: { e: { f: '[object]' } } } } } }],
  ])('boundForLog: %s', (_name, input, expected) => {
    expect(boundForLog(input)).toEqual(expected);
  });

  it('boundForLog: a circular object', () => {
    const o: Record<string, unknown> = { name: 'x' };
    o.self = o;
    expect(boundForLog(o)).toEqual({ name: 'x', self: '[circular]' });
  });
});
