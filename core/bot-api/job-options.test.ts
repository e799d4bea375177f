import { describe, expect, it } from 'vitest';
import { parseScriptDb } from '../nmap/script-db.ts';
import { legacyJobParams } from './job-options.ts';

const db = parseScriptDb(
  [
    'Entry { filename = "http-title.nse", categories = { "default", "discovery", "safe", } }',
    'Entry { filename = "ftp-brute.nse", categories = { "brute", "intrusive", } }',
  ].join('\n'),
);

describe('options of a job for a predecessor agent', () => {
  const cases: Array<[string, Parameters<typeof legacyJobParams>[0], string]> = [
    ['no options', { scripts: ['http-title'], extraArgs: [] }, ''],
    [
      "the profile's options, in order",
      { scripts: [], extraArgs: ['-T4', '--max-retries', '1', '--script-args', 'plum-banner.timeout=2'] },
      '-T4 --max-retries 1 --script-args plum-banner.timeout=2',
    ],
    ["a host timeout other than the agent's 40s", { scripts: [], extraArgs: ['-sV'], hostTimeout: '5m' }, '--host-timeout 5m -sV'],
    ["the agent's own host timeout: nothing to send", { scripts: [], extraArgs: [], hostTimeout: '40s' }, ''],
    ['a host timeout in the options wins', { scripts: [], extraArgs: ['--host-timeout=2m'], hostTimeout: '5m' }, '--host-timeout=2m'],
    ['an allowed refused script', { scripts: ['ftp-brute'], allowScripts: ['ftp-brute'], extraArgs: [] }, ''],
    [
      'a custom script judged by its categories',
      { scripts: ['site-x'], customScripts: [{ name: 'site-x', sha256: 'a'.repeat(64), categories: ['safe'] }], extraArgs: [] },
      '',
    ],
  ];
  it.each(cases)('%s', (_what, job, want) => {
    expect(legacyJobParams(job, () => db)).toBe(want);
  });

  const refused: Array<[string, Parameters<typeof legacyJobParams>[0], RegExp]> = [
    ['an output option', { scripts: [], extraArgs: ['-oN', '/tmp/x'] }, /-oN/],
    ['a shell metacharacter', { scripts: [], extraArgs: ['-T4;id'] }, /metacharacter/],
    ['a bare word (a target)', { scripts: [], extraArgs: ['8.8.8.8'] }, /not an option/],
    ['a refused script', { scripts: ['ftp-brute'], extraArgs: [] }, /refused NSE script "ftp-brute"/],
    [
      'an intrusive custom script',
      { scripts: ['site-x'], customScripts: [{ name: 'site-x', sha256: 'a'.repeat(64), categories: ['intrusive'] }], extraArgs: [] },
      /refused NSE script "site-x"/,
    ],
    ['an unknown script', { scripts: ['nope'], extraArgs: [] }, /unknown NSE script "nope"/],
    ['host timeout 0', { scripts: [], extraArgs: [], hostTimeout: '0' }, /invalid host timeout/],
  ];
  it.each(refused)('refuses %s', (_what, job, re) => {
    expect(() => legacyJobParams(job, () => db)).toThrow(re);
  });
});

describe("quoting for the agent's shlex", () => {
  it('sends validated tokens unquoted, and never a token the agent would split differently', () => {
    expect(legacyJobParams({ scripts: [], extraArgs: ['--script-args', 'plum-banner.timeout=2,plum-banner.max=64'] }, () => db)).toBe(
      '--script-args plum-banner.timeout=2,plum-banner.max=64',
    );
    expect(() => legacyJobParams({ scripts: [], extraArgs: ['--script-args=a=1 b=2'] }, () => db)).toThrow(/spaces are not allowed/);
  });
});

describe('a server without nmap', () => {
  const noNmap = () => {
    throw new Error("nmap's script.db was not found");
  };
  it("hands out jobs with only Plum's or custom scripts without reading nmap's catalogue", () => {
    expect(legacyJobParams({ scripts: ['plum-banner'], extraArgs: ['-T4'] }, noNmap)).toBe('-T4');
    expect(
      legacyJobParams({ scripts: ['site-x'], customScripts: [{ name: 'site-x', sha256: 'a'.repeat(64), categories: ['safe'] }], extraArgs: [] }, noNmap),
    ).toBe('');
    expect(() => legacyJobParams({ scripts: ['http-title'], extraArgs: [] }, noNmap)).toThrow(/script\.db was not found/);
  });
});
