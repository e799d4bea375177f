import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nmap2jsonStream } from '../core/nmap/compat.ts';
import { openXmlFile } from '../core/nmap/read-file.ts';
import { ROOT } from './helpers/cli.ts';

/*
 * The predecessor's own parser, as its users install it (`pip install nmap2json==2610.1`, done by
 * .ci/run), against `plum parse --compat nmap2json` (core/nmap/compat.ts) on every fixture: the
 * same documents and the same hsh256 values, as the same JSON text. bench/parse.ts times the same
 * package. PLUM_TEST_PYTHON names another interpreter (a virtual environment's).
 */
const NMAP2JSON_RELEASE = '2610.1';
const python = process.env.PLUM_TEST_PYTHON ?? 'python3';
const DRIVER = `
import json, sys
from importlib.metadata import version
from nmap2json.nmap2json import nmap_file_to_json
if sys.argv[1] == "--version":
    print(version("nmap2json")); sys.exit(0)
open_only = sys.argv[2] == "1"
for host in nmap_file_to_json(sys.argv[1], open_only, open_only):
    print(json.dumps(host))
`;
const upstream = (args: string[]) => execFileSync(python, ['-c', DRIVER, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });

const dirs = [path.join(ROOT, 'test', 'fixtures', 'nmap'), path.join(ROOT, 'test', 'fixtures', 'nmap2json')];
const files = dirs.flatMap((d) =>
  readdirSync(d)
    .filter((f) => f.endsWith('.xml'))
    .sort()
    .map((f) => path.join(d, f)),
);

async function ours(file: string, openOnly: boolean): Promise<string[]> {
  const out: string[] = [];
  const errors: unknown[] = [];
  for await (const h of nmap2jsonStream(openXmlFile(file), { openOnly, onError: (e) => errors.push(e) })) out.push(h.json);
  expect(errors).toEqual([]);
  return out;
}

describe(`the predecessor's nmap2json ${NMAP2JSON_RELEASE}, installed from the Python package index`, () => {
  it('is the release these tests compare with', () => {
    let installed: string;
    try {
      installed = upstream(['--version']).trim();
    } catch (e) {
      throw new Error(
        `${python} cannot import nmap2json: run \`${python} -m pip install nmap2json==${NMAP2JSON_RELEASE}\` (bash .ci/run does) (${(e as Error).message.split('\n')[0]})`,
      );
    }
    expect(installed).toBe(NMAP2JSON_RELEASE);
  });

  it('covers real captures with volatile headers, cookies and dates, and the hand-made dates', () => {
    expect(files.filter((f) => path.basename(f).startsWith('loopback-')).length).toBeGreaterThanOrEqual(5);
    expect(files.some((f) => f.endsWith(path.join('nmap2json', 'dates.xml')))).toBe(true);
  });

  for (const file of files) {
    for (const openOnly of [false, true]) {
      it(`prints the same JSON as plum parse --compat nmap2json on ${path.basename(file)}${openOnly ? " (agents' open-only mode)" : ''}`, async () => {
        const theirs = upstream([file, openOnly ? '1' : '0'])
          .split('\n')
          .filter(Boolean);
        const mine = await ours(file, openOnly);
        if (!openOnly) expect(mine.length).toBeGreaterThan(0);
        expect(mine).toEqual(theirs);
      });
    }
  }
});
