import { describe, expect, it } from 'vitest';
import { normaliseTokenQuery } from './index.ts';

describe('normaliseTokenQuery', () => {
  it.each([
    ['nginx/1.22.1', '"nginx 1.22.1"'],
    ['-nginx/1.22.1 openssh', '-"nginx 1.22.1" openssh'],
    ['"apache/2.4 debian" or iis', '"apache 2.4 debian" or iis'],
    ['/index.html', '"index.html"'],
    ['a / b', 'a   b'],
    ['---x', '-x'],
    ['openssh debian', 'openssh debian'],
  ])('%s → %s', (input, expected) => {
    expect(normaliseTokenQuery(input)).toBe(expected);
  });
});
