import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nmap2jsonStream, pyJsonDumps } from './compat.ts';
import { openXmlFile } from './parse.ts';

const dir = new URL('../../test/fixtures/nmap/', import.meta.url);
const golden = JSON.parse(readFileSync(new URL('golden-nmap2json.json', dir), 'utf8')) as {
  files: Record<string, Record<'full' | 'open_only', { addr: string; hsh256: string; ports?: Record<string, string> }[]>>;
};

async function convert(file: string, openOnly: boolean) {
  const errors: unknown[] = [];
  const hosts = [];
  for await (const h of nmap2jsonStream(openXmlFile(new URL(file, dir).pathname), { openOnly, onError: (e) => errors.push(e) })) hosts.push(h);
  expect(errors).toEqual([]);
  return hosts;
}

describe('nmap2json compatibility (upstream acab4f2)', () => {
  for (const [file, modes] of Object.entries(golden.files)) {
    for (const mode of ['full', 'open_only'] as const) {
      it(`reproduces every hsh256 of ${file} (${mode})`, async () => {
        const hosts = await convert(file, mode === 'open_only');
        const expected = modes[mode];
        expect(hosts.map((h) => h.doc.addr)).toEqual(expected.map((e) => e.addr));
        let checked = 0;
        hosts.forEach((h, i) => {
          expect(h.hsh256).toBe(expected[i]!.hsh256);
          checked++;
          for (const [key, hash] of Object.entries(expected[i]!.ports ?? {})) {
            const port = (h.doc.ports as { protocol: string; portid: string; hsh256: string }[]).find((p) => `${p.protocol}/${p.portid}` === key);
            expect(port?.hsh256, `${file} ${h.doc.addr} ${key}`).toBe(hash);
            checked++;
          }
        });
        expect(checked).toBeGreaterThan(0);
      });
    }
  }

  it('serialises like Python json.dumps (separators, ensure_ascii, escapes)', () => {
    expect(pyJsonDumps({ a: 'é\u2028"\\\n\t\u0001\u007f😀', b: [1, true, null], c: {} })).toBe(
      '{"a": "\\u00e9\\u2028\\"\\\\\\n\\t\\u0001\\u007f\\ud83d\\ude00", "b": [1, true, null], "c": {}}',
    );
  });
});
