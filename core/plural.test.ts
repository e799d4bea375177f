import { describe, expect, it } from 'vitest';
import { article, counted } from './plural.ts';

describe('counted and article', () => {
  it.each([
    [0, 'job', undefined, '0 jobs'],
    [1, 'job', undefined, '1 job'],
    [2, 'job', undefined, '2 jobs'],
    [1, 'address', 'addresses', '1 address'],
    [256, 'address', 'addresses', '256 addresses'],
    [1, 'shared address', 'shared addresses', '1 shared address'],
  ] as const)('counted(%i, %s, %s) = %s', (n, singular, plural, text) => {
    expect(counted(n, singular, plural)).toBe(text);
  });

  it.each([
    ['operator', 'an operator'],
    ['admin', 'an admin'],
    ['viewer', 'a viewer'],
  ])('article(%s) = %s', (word, text) => {
    expect(article(word)).toBe(text);
  });
});
