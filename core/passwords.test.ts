import { describe, expect, it } from 'vitest';
import { checkPasswordPolicy, hashPassword, verifyPassword } from './passwords.ts';

describe('password hashing', () => {
  it('verifies the right password and refuses a wrong one; two hashes of one password differ (salt)', async () => {
    const h1 = await hashPassword('correct horse battery');
    const h2 = await hashPassword('correct horse battery');
    expect(h1).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(h1).not.toBe(h2);
    expect(await verifyPassword('correct horse battery', h1)).toBe(true);
    expect(await verifyPassword('correct horse batterY', h1)).toBe(false);
  });

  it.each([['not a hash'], ['scrypt$1048577$8$1$c2FsdA$a2V5'], ['']])('a malformed or too costly stored hash %j never matches', async (stored) => {
    expect(await verifyPassword('anything at all', stored)).toBe(false);
  });

  it('refuses short and huge passwords with a hint', () => {
    expect(() => checkPasswordPolicy('short')).toThrow(/shorter than 10 characters/);
    expect(() => checkPasswordPolicy('x'.repeat(2000))).toThrow(/longer than 1024/);
    expect(() => checkPasswordPolicy('long enough pass')).not.toThrow();
  });
});
