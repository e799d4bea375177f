import { describe, expect, it } from 'vitest';
import { judgeScriptArgs, parseScriptArgAllowlist, shippedScriptArgAllowlist } from './script-args.ts';

describe('script argument allowlist', () => {
  it('ships no argument that adds targets or names a file', () => {
    const list = shippedScriptArgAllowlist();
    expect(list.size).toBeGreaterThan(5);
    for (const key of list.keys()) {
      expect(key).not.toMatch(/newtargets|^targets-|\.ix$|file|db$|dir|sids|list$|known-hosts/i);
    }
  });

  it('judges with the given list only (pure)', () => {
    const list = parseScriptArgAllowlist('args:\n  a.n: { type: int, min: 1, max: 3 }\n  a.e: { type: enum, values: [x, y] }\n');
    expect(judgeScriptArgs('a.n=2,a.e=y', list)).toEqual({ ok: true });
    expect(judgeScriptArgs('a.n=4', list)).toMatchObject({ ok: false, arg: 'a.n=4' });
    expect(judgeScriptArgs('http.useragent=x', list)).toMatchObject({ ok: false, reason: /not an allowed/ });
    expect(judgeScriptArgs('A.N=2', list)).toEqual({ ok: true });
  });

  it('refuses a malformed allowlist file', () => {
    expect(() => parseScriptArgAllowlist('args:\n  a.n: { type: int }\n')).toThrow();
    expect(() => parseScriptArgAllowlist('args:\n  "../x": { type: bool }\n')).toThrow();
  });
});
