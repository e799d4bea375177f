import { describe, expect, it } from 'vitest';
import { PlumError } from './errors.ts';
import {
  DEFAULT_SCORE_FILE,
  loadScoreConfig,
  parseScoreConfig,
  portFeatureValues,
  scoreHost,
  scoreMovesWithTime,
  scorePort,
  type ScoreResult,
} from './score.ts';

const cfg = await loadScoreConfig(DEFAULT_SCORE_FILE);
const sum = (r: ScoreResult) => r.features.reduce((a, f) => a + f.contribution, 0);

describe('portFeatureValues: which tags count', () => {
  const at = '2026-01-01T00:00:00Z';
  const pick = (tags: string[]) => {
    const v = portFeatureValues({ tags, at }, cfg);
    return { service: v.sensitive_service.value, mgmt: v.management_interface.value, vulns: v.vulnerability_tags.value, certs: v.certificate_problems.value };
  };
  const cases: [string, string[], { service: string | null; mgmt?: string[]; vulns?: string[]; certs?: string[] }][] = [
    ['no tags', [], { service: null }],
    ['the highest level wins', ['type:vpn', 'proto:rdp', 'type:web'], { service: 'proto:rdp' }],
    ['a tie goes to the class listed first, whatever the tag order', ['type:cache', 'type:database'], { service: 'type:database' }],
    ['the same tie, tags the other way round', ['type:database', 'type:cache'], { service: 'type:database' }],
    ['a class of level 0 never counts', ['type:unknown-class'], { service: null }],
    [
      'management tags, sorted',
      ['type:management', 'type:bmc'],
      { service: 'type:bmc', mgmt: ['type:bmc', 'type:management'].filter((t) => cfg.management_tags.includes(t)).sort() },
    ],
    ['vulnerability tags by prefix, sorted', ['vuln:z', 'vuln:a', 'vulnerable'], { service: null, vulns: ['vuln:a', 'vuln:z'] }],
    [
      'certificate problems known to the weights only',
      ['x509:self-signed', 'x509:expired', 'x509:toString', 'x509:made-up'],
      { service: null, certs: ['expired', 'self-signed'] },
    ],
  ];
  it.each(cases)('%s', (_name, tags, want) => {
    expect(pick(tags)).toEqual({ mgmt: [], vulns: [], certs: [], ...want });
  });
});

describe('scorePort', () => {
  it('a plain web server scores low and contributions add up to the score', () => {
    const r = scorePort({ tags: ['proto:http', 'type:web', 'product:nginx'], firstSeen: '2025-01-01T00:00:00Z', at: '2026-01-01T00:00:00Z' }, cfg);
    expect(r.features.find((f) => f.name === 'sensitive_service')).toMatchObject({ value: 'type:web', normalized: 0.1, weight: 30, contribution: 3 });
    expect(r.score).toBe(3);
    expect(sum(r)).toBe(r.score);
    expect(r.band).toBe('info');
  });

  it('a new, exposed, vulnerable database scores high with every feature explained', () => {
    const r = scorePort(
      {
        tags: ['type:database', 'product:redis', 'type:management', 'vuln:backdoor', 'x509:expired', 'x509:self-signed'],
        firstSeen: '2026-01-01T00:00:00Z',
        changedAt: '2026-01-01T00:00:00Z',
        at: '2026-01-01T12:00:00Z',
      },
      cfg,
    );
    const byName = Object.fromEntries(r.features.map((f) => [f.name, f]));
    expect(byName.sensitive_service!.value).toBe('type:database');
    expect(byName.management_interface!.value).toEqual(['type:management']);
    expect(byName.vulnerability_tags!.normalized).toBe(1);
    expect(byName.certificate_problems!.value).toEqual(['expired', 'self-signed']);
    expect(byName.certificate_problems!.normalized).toBe(1);
    expect(byName.newly_appeared!.value).toBe(0.5);
    expect(r.score).toBeGreaterThanOrEqual(95);
    expect(sum(r)).toBe(r.score);
    expect(r.band).toBe('critical');
    expect(r.features.reduce((a, f) => a + f.percent, 0)).toBeCloseTo(100, 0);
  });

  it('is deterministic and fades "newly appeared" linearly', () => {
    const at = (days: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + days * 86_400_000);
    const input = (d: number) => ({ tags: ['type:cms'], firstSeen: '2026-01-01T00:00:00Z', at: at(d) });
    expect(scorePort(input(3), cfg)).toEqual(scorePort(input(3), cfg));
    const na = (d: number) => scorePort(input(d), cfg).features.find((f) => f.name === 'newly_appeared')!.normalized;
    expect(na(0)).toBe(1);
    expect(na(7)).toBe(0.5);
    expect(na(14)).toBe(0);
    expect(na(30)).toBe(0);
  });

  it('gives an old port the same features at every later sighting (its stored score does not move)', () => {
    const at = (days: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + days * 86_400_000);
    const input = (d: number) => ({ tags: ['type:web'], firstSeen: '2026-01-01T00:00:00Z', changedAt: '2026-01-02T00:00:00Z', at: at(d) });
    const feature = (d: number, name: string) => scorePort(input(d), cfg).features.find((f) => f.name === name)!;
    expect(feature(3, 'newly_appeared').value).toBe(3);
    expect(feature(14, 'newly_appeared')).toMatchObject({ value: null, normalized: 0, contribution: 0 });
    expect(feature(8, 'recently_changed').value).toBe(null);
    expect(scorePort(input(15), cfg)).toEqual(scorePort(input(400), cfg));
  });

  it('whole-number contributions still sum exactly with fractional features', () => {
    for (let d = 0; d < 15; d++) {
      const r = scorePort(
        {
          tags: ['type:vpn', 'vuln:opendir', 'x509:expiring-soon'],
          firstSeen: '2026-01-01',
          changedAt: '2026-01-02',
          at: new Date(Date.parse('2026-01-03') + d * 3_600_000 * 7),
        },
        cfg,
      );
      expect(sum(r)).toBe(r.score);
    }
  });
});

describe('the decaying features (newly appeared over 14 days, recently changed over 7)', () => {
  const base = Date.parse('2026-01-01T00:00:00Z');
  const after = (hours: number) => new Date(base + hours * 3_600_000).toISOString();
  // since: hours after the base (null: never); at: hours after the base; expected value (days) and normalized.
  const cases: [string, 'newly_appeared' | 'recently_changed', number | null, number, number | null, number][] = [
    ['at the moment it appeared', 'newly_appeared', 0, 0, 0, 1],
    ['an hour later', 'newly_appeared', 0, 1, 0, 0.997],
    ['a day later', 'newly_appeared', 0, 24, 1, 0.929],
    ['half way', 'newly_appeared', 0, 7 * 24, 7, 0.5],
    ['just inside the window', 'newly_appeared', 0, 14 * 24 - 1, 14, 0.003],
    ['at the end of the window', 'newly_appeared', 0, 14 * 24, null, 0],
    ['long after', 'newly_appeared', 0, 400 * 24, null, 0],
    ['judged before it appeared (an older scan imported late)', 'newly_appeared', 48, 0, 0, 1],
    ['never changed', 'recently_changed', null, 24, null, 0],
    ['changed a day ago', 'recently_changed', 0, 24, 1, 0.857],
    ['changed at the end of its window', 'recently_changed', 0, 7 * 24, null, 0],
  ];
  it.each(cases)('%s (%s)', (_label, name, since, at, value, normalized) => {
    const input =
      name === 'newly_appeared'
        ? { tags: [], firstSeen: since === null ? null : after(since), at: after(at) }
        : { tags: [], changedAt: since === null ? null : after(since), at: after(at) };
    expect(portFeatureValues(input, cfg)[name]).toEqual({ value, normalized });
  });

  it('an unreadable date counts as never', () => {
    expect(portFeatureValues({ tags: [], firstSeen: 'not a date', at: after(1) }, cfg).newly_appeared).toEqual({ value: null, normalized: 0 });
  });
});

describe('scoreHost', () => {
  it('takes the strongest port per feature and counts open ports', () => {
    const at = '2026-01-01T00:00:00Z';
    const r = scoreHost(
      [
        { tags: ['type:web'], firstSeen: '2020-01-01', at },
        { tags: ['type:database'], firstSeen: '2020-01-01', at },
        { tags: ['type:admin-panel'], firstSeen: '2020-01-01', at },
      ],
      cfg,
    );
    const byName = Object.fromEntries(r.features.map((f) => [f.name, f]));
    expect(byName.sensitive_service!.value).toBe('type:database');
    expect(byName.management_interface!.normalized).toBe(1);
    expect(byName.open_ports!.value).toBe(3);
    expect(byName.open_ports!.normalized).toBeCloseTo(Math.log(4) / Math.log(21), 3);
    expect(sum(r)).toBe(r.score);
    expect(scoreHost([], cfg)).toMatchObject({ score: 0, band: 'info' });
  });
});

describe('score configuration', () => {
  it('refuses weights that do not add up to 100 with the path of the problem', () => {
    const text = `
port: { weights: { sensitive_service: 50, management_interface: 20, vulnerability_tags: 20, certificate_problems: 10, newly_appeared: 10, recently_changed: 10 } }
host: { weights: { sensitive_service: 25, management_interface: 15, vulnerability_tags: 20, certificate_problems: 5, newly_appeared: 10, recently_changed: 5, open_ports: 20 } }
service_classes: {}
management_tags: [type:management]
vulnerability: { prefix: 'vuln:', default_weight: 0.5 }
certificate_problems: {}
newly_appeared_days: 7
recently_changed_days: 7
open_ports_saturation: 20
bands: [{ name: info, min: 0 }]
`;
    expect(() => parseScoreConfig(text)).toThrow(PlumError);
    expect(() => parseScoreConfig(text)).toThrow(/port.weights: weights must add up to 100/);
    expect(() => parseScoreConfig(text.replace('sensitive_service: 50', 'sensitive_service: 30'))).not.toThrow();
    expect(() => parseScoreConfig('port: [')).toThrow(/not valid YAML/);
  });
});

describe('scoreMovesWithTime', () => {
  // newly_appeared_days 14, recently_changed_days 7 (rules/score.yaml).
  it.each([
    ['appeared a day ago', { firstSeen: '2026-01-01T00:00:00Z' }, '2026-01-02T00:00:00Z', true],
    ['appeared 20 days ago, never changed', { firstSeen: '2026-01-01T00:00:00Z' }, '2026-01-21T00:00:00Z', false],
    ['appeared 20 days ago, changed 3 days ago', { firstSeen: '2026-01-01T00:00:00Z', changedAt: '2026-01-18T00:00:00Z' }, '2026-01-21T00:00:00Z', true],
    ['changed 8 days ago, appeared long before', { firstSeen: '2025-01-01T00:00:00Z', changedAt: '2026-01-13T00:00:00Z' }, '2026-01-21T00:00:00Z', false],
    ['at the end of the window', { firstSeen: '2026-01-01T00:00:00Z' }, '2026-01-15T00:00:00Z', false],
    ['first seen after the time judged (a future-dated scan)', { firstSeen: '2026-02-01T00:00:00Z' }, '2026-01-21T00:00:00Z', true],
    ['no history', {}, '2026-01-21T00:00:00Z', false],
  ])('%s: %s', (_name, times, at, moves) => {
    expect(scoreMovesWithTime(scorePort({ tags: ['type:web'], ...times, at }, cfg))).toBe(moves);
  });
});
