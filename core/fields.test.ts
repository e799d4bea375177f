import { describe, expect, it } from 'vitest';
import { compactSearchFields, emptySearchFields, SEARCH_FIELD_NAMES } from './fields.ts';

describe('emptySearchFields', () => {
  it('has every field, in SEARCH_FIELD_NAMES order, each a new empty list', () => {
    const a = emptySearchFields();
    const b = emptySearchFields();
    expect(Object.keys(a)).toEqual([...SEARCH_FIELD_NAMES]);
    for (const k of SEARCH_FIELD_NAMES) {
      expect(a[k]).toEqual([]);
      expect(a[k]).not.toBe(b[k]);
    }
  });
});

describe('compactSearchFields', () => {
  it('has every field, in SEARCH_FIELD_NAMES order, all sharing one frozen empty list that refuses a push', () => {
    const a = compactSearchFields();
    const b = compactSearchFields();
    expect(Object.keys(a)).toEqual([...SEARCH_FIELD_NAMES]);
    expect(a).not.toBe(b);
    for (const k of SEARCH_FIELD_NAMES) {
      expect(a[k]).toEqual([]);
      expect(a[k]).toBe(b[k]);
      expect(Object.isFrozen(a[k])).toBe(true);
    }
    expect(() => a.ip.push('127.0.0.1')).toThrow(TypeError);
    a.ip = ['127.0.0.1'];
    expect(b.ip).toEqual([]);
  });
});
