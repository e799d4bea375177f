import { describe, expect, it } from 'vitest';
import { emptySearchFields, SEARCH_FIELD_NAMES } from './fields.ts';

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
