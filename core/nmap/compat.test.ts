import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nmap2jsonStream, pyJsonDumps } from './compat.ts';
import { openXmlFile } from './read-file.ts';

const dir = new URL('../../test/fixtures/nmap/', import.meta.url);
const golden = JSON.parse(readFileSync(new URL('golden-nmap2json.json', dir), 'utf8')) as {
  files: Record<string, Record<'full' | 'open_only', { addr: string; hsh256: string; ports?: Record<string, string> }[]>>;
};

async function convert(file: string, openOnly: boolean, release: '2605' | '2610' | undefined) {
  const errors: unknown[] = [];
  const hosts = [];
  for await (const h of nmap2jsonStream(openXmlFile(new URL(file, dir).pathname), { openOnly, release, onError: (e) => errors.push(e) })) hosts.push(h);
  expect(errors).toEqual([]);
  return hosts;
}

describe('nmap2json compatibility (release 2605.0 = upstream acab4f2, the golden vectors)', () => {
  for (const [file, modes] of Object.entries(golden.files)) {
    for (const mode of ['full', 'open_only'] as const) {
      it(`reproduces every hsh256 of ${file} (${mode})`, async () => {
        const hosts = await convert(file, mode === 'open_only', '2605');
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

/*
 * Hashes the upstream releases themselves compute on test/fixtures/nmap2json/dates.xml (nmap2json
 * 2610.1 and 2605.0 from the Python package index): HTTP and SMTP dates in banners and header
 * scripts, month-first RTSP dates, lowercase headers, cookie expiries, Connection-Id, upper-case
 * UUIDs, a date run on into a word. test/predecessor-nmap2json.test.ts compares with the installed
 * package on every fixture.
 */
const DATES_BY_RELEASE = [
  {
    release: '2610',
    host: '365aa99cfd8f1074b4a3c84582814affc262047a5fd793c060d5335812b7e352',
    ports: {
      25: 'beea319adde1e77c9d91b05e4f54475bfaadf19e705f25b5369d69028cf5d0e4',
      80: '9de593fceca277837ff6d4f37428ba1a7f1ba0853a0871b6edf2a6e16948b51b',
      554: '2b27c921f449f416e995b6b8638ff831ef33a3357476aeeb13fc934324304bdc',
      8080: 'ea26c5d8a1b27ac435cd75149e36810a89df3f6aa223cc71e084a8d655c08c11',
    },
  },
  {
    release: '2605',
    host: '9a177fd21aa2c2acc821f90e5a362c70faa7f0b8fe2d16846d0ecbb213c969a7',
    ports: {
      25: 'ac7c5f9ddc3b26ea63b4131707c41144f6c3db8ce8ef0f0c9424c3caff4368aa',
      80: 'b8985071f3711f9cbe90675dfbfea07cec824dc6fd67978d87f960ac0e81afd9',
      554: 'ce302f5cc70b22079b4d24d7078d9eae90d9ddf5e4f98b5cb61746491c8d6066',
      8080: 'db76a64d36e07c40599c2ef9270c4f7ba08b4d1498657c73dfc26f36e257213e',
    },
  },
] as const;

describe('nmap2json releases mask dates differently', () => {
  for (const { release, host, ports } of DATES_BY_RELEASE) {
    it(`reproduces release ${release}'s hashes of dates, cookies and ids`, async () => {
      const hosts = await convert('../nmap2json/dates.xml', false, release);
      expect(hosts).toHaveLength(1);
      expect(hosts[0]!.hsh256).toBe(host);
      const got = Object.fromEntries((hosts[0]!.doc.ports as { portid: string; hsh256: string }[]).map((p) => [p.portid, p.hsh256]));
      expect(got).toEqual(Object.fromEntries(Object.entries(ports)));
    });
  }
  it('2610 is the default', async () => {
    const [h] = await convert('../nmap2json/dates.xml', false, undefined);
    expect(h!.hsh256).toBe(DATES_BY_RELEASE[0].host);
  });
});
