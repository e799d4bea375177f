import { describe, expect, it } from 'vitest';
import { PlumError } from '../../core/errors.ts';
import { queryFromArgs } from './query.ts';

describe('queryFromArgs: one query from shell arguments', () => {
  it.each([
    [['port:443'], 'port:443'],
    // The shell ate the quotes of a value with a space: they are put back.
    [['http_title.lk:index of'], 'http_title.lk:"index of"'],
    [['http_title.lk:"index of"'], 'http_title.lk:"index of"'],
  ])('%j -> %s', (args, query) => {
    expect(queryFromArgs(args)).toBe(query);
  });

  it.each([
    [['http_title.lk:"abc'], 14],
    [['port:80', 'http_title.lk:"a b'], 22],
  ])('an unterminated double quote in %j is a syntax error at position %i', (args, position) => {
    let err: unknown;
    try {
      queryFromArgs(args);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PlumError);
    expect((err as PlumError).code).toBe('syntax');
    expect((err as PlumError).message).toBe(`unterminated double quote at position ${position}`);
    expect((err as PlumError).details?.position).toBe(position);
  });
});
