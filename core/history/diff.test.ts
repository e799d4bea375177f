import { describe, expect, it } from 'vitest';
import { emptySearchFields, type SearchFields } from '../fields.ts';
import { defaultVolatileList } from '../nmap/volatile.ts';
import { diffFields, diffLabel, diffScripts, scriptOutputs, SCRIPT_DIFF_MAX_CHARS, type FieldDiff, type ScriptOutput } from './diff.ts';

const fields = (f: Partial<SearchFields>): SearchFields => ({ ...emptySearchFields(), ...f });
const volatile = defaultVolatileList();

describe('diffFields: what a changed event lists', () => {
  it.each<[string, Partial<SearchFields>, Partial<SearchFields>, FieldDiff[]]>([
    [
      'a new page title',
      { http_title: ['Welcome'] },
      { http_title: ['Under maintenance'] },
      [{ field: 'http_title', old: ['Welcome'], new: ['Under maintenance'] }],
    ],
    [
      'a renewed certificate: fingerprint and expiry',
      { x509_sha256: ['aa'], x509_not_after: ['2026-01-01T00:00:00Z'] },
      { x509_sha256: ['bb'], x509_not_after: ['2027-01-01T00:00:00Z'] },
      [
        { field: 'x509_sha256', old: ['aa'], new: ['bb'] },
        { field: 'x509_not_after', old: ['2026-01-01T00:00:00Z'], new: ['2027-01-01T00:00:00Z'] },
      ],
    ],
    [
      'a new server version and banner',
      { http_server: ['nginx/1.18.0'], banner: ['SSH-2.0-OpenSSH_8.9'] },
      { http_server: ['nginx/1.24.0'], banner: ['SSH-2.0-OpenSSH_9.6'] },
      [
        { field: 'http_server', old: ['nginx/1.18.0'], new: ['nginx/1.24.0'] },
        { field: 'banner', old: ['SSH-2.0-OpenSSH_8.9'], new: ['SSH-2.0-OpenSSH_9.6'] },
      ],
    ],
    ['order and repeats of values are no change', { x509_san: ['b.example', 'a.example', 'a.example'] }, { x509_san: ['a.example', 'b.example'] }, []],
    ['a field that appears', {}, { http_title: ['Login'] }, [{ field: 'http_title', old: [], new: ['Login'] }]],
    [
      'a TLS protocol switched off: the protocols before and after',
      { tls_protocol: ['TLSv1.0', 'TLSv1.2'], tls_weak: ['protocol:TLSv1.0'] },
      { tls_protocol: ['TLSv1.2'] },
      [
        { field: 'tls_protocol', old: ['TLSv1.0', 'TLSv1.2'], new: ['TLSv1.2'] },
        { field: 'tls_weak', old: ['protocol:TLSv1.0'], new: [] },
      ],
    ],
    [
      'ciphers and groups list only what came and went',
      { tls_cipher: ['AES128-SHA', 'AES256-GCM-SHA384', 'DES-CBC3-SHA'], tls_group: ['x25519'] },
      { tls_cipher: ['AES128-SHA', 'AES256-GCM-SHA384', 'TLS_AES_128_GCM_SHA256'], tls_group: ['x25519'] },
      [{ field: 'tls_cipher', old: ['DES-CBC3-SHA'], new: ['TLS_AES_128_GCM_SHA256'] }],
    ],
    [
      'fields outside the list (header values) are never listed',
      { http_headval: ['date: Mon, 01 Jan 2026 00:00:00 GMT'] },
      { http_headval: ['date: Tue, 02 Jan 2026 00:00:00 GMT'] },
      [],
    ],
  ])('%s', (_case, before, after, expected) => {
    expect(diffFields(fields(before), fields(after), volatile)).toEqual(expected);
  });

  it('a value that differs only where it is volatile is not listed', () => {
    const at = (d: string) => `220 mail.example ESMTP Postfix ${d}`;
    const before = fields({ banner: [at('Mon, 01 Jan 2026 10:00:00 +0000')] });
    const after = fields({ banner: [at('Tue, 02 Jan 2026 11:30:00 +0000')] });
    expect(diffFields(before, after, volatile)).toEqual([]);
  });
});

describe('diffScripts: the outputs of scripts no field extracts', () => {
  const key = (k: string) => `\n  256 SHA256:${k} (ED25519)`;
  const hostkey = (k: string): ScriptOutput => ({ id: 'ssh-hostkey', output: key(k) });
  const long = (tail: string) => `${'x'.repeat(1000)}${tail}${'y'.repeat(1000)}`;
  it.each<[string, ScriptOutput[], ScriptOutput[], FieldDiff[]]>([
    ['a new host key', [hostkey('aaa')], [hostkey('bbb')], [{ field: 'script:ssh-hostkey', old: [key('aaa')], new: [key('bbb')] }]],
    ['the same outputs', [hostkey('aaa'), { id: 'custom', output: 'v1' }], [{ id: 'custom', output: 'v1' }, hostkey('aaa')], []],
    ['a script that starts answering', [], [{ id: 'custom', output: 'v1' }], [{ field: 'script:custom', old: [], new: ['v1'] }]],
    ['a script that stops answering', [{ id: 'custom', output: 'v1' }], [], [{ field: 'script:custom', old: ['v1'], new: [] }]],
    [
      'only the scripts that changed, by id',
      [{ id: 'b-script', output: '2' }, { id: 'a-script', output: '1' }, hostkey('aaa')],
      [{ id: 'b-script', output: '3' }, { id: 'a-script', output: '0' }, hostkey('aaa')],
      [
        { field: 'script:a-script', old: ['1'], new: ['0'] },
        { field: 'script:b-script', old: ['2'], new: ['3'] },
      ],
    ],
    [
      'a date in the output is volatile',
      [{ id: 'custom', output: 'ready since Mon, 01 Jan 2026 10:00:00 +0000' }],
      [{ id: 'custom', output: 'ready since Tue, 02 Jan 2026 11:30:00 +0000' }],
      [],
    ],
    ['a script the volatile list marks wholly volatile', [{ id: 'ssl-date', output: '2026-01-01' }], [{ id: 'ssl-date', output: '2027-02-02' }], []],
    [
      'a volatile key line of a script',
      [{ id: 'memcached-info', output: '\n  Version: 1.6.21\n  Uptime: 12' }],
      [{ id: 'memcached-info', output: '\n  Version: 1.6.21\n  Uptime: 97' }],
      [],
    ],
    [
      'long outputs cut around their first difference',
      [{ id: 'custom', output: long('OLD') }],
      [{ id: 'custom', output: long('NEW') }],
      [
        {
          field: 'script:custom',
          old: [`…${'x'.repeat(80)}OLD${'y'.repeat(SCRIPT_DIFF_MAX_CHARS - 83)}…`],
          new: [`…${'x'.repeat(80)}NEW${'y'.repeat(SCRIPT_DIFF_MAX_CHARS - 83)}…`],
        },
      ],
    ],
  ])('%s', (_case, before, after, expected) => {
    expect(diffScripts(before, after, volatile)).toEqual(expected);
  });

  it('reads the outputs of a port document, and nothing from one without scripts', () => {
    expect(scriptOutputs({ scripts: [{ id: 'custom', output: 'v1', elems: ['x'] }, { id: 'bad' }] })).toEqual([{ id: 'custom', output: 'v1' }]);
    expect(scriptOutputs({ title: 'no scripts' })).toEqual([]);
    expect(scriptOutputs(null)).toEqual([]);
  });

  it('labels a script diff with its id', () => {
    expect(diffLabel('script:ssh-hostkey')).toBe('script ssh-hostkey');
    expect(diffLabel('http_title')).toBe('title');
  });
});
