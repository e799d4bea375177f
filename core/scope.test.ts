import { describe, expect, it } from 'vitest';
import { PlumError } from './errors.ts';
import { addressesOutsidePerimeter, checkScope, enforceScope, hostsOutsideJob, recheckNames, type PerimeterTargets } from './scope.ts';
import { parseTarget } from './targets.ts';

const perimeter: PerimeterTargets = {
  includes: ['127.10.0.0/24', '127.20.0.1-127.20.0.50', 'app.perimeter.test', '::1'].map(parseTarget),
  excludes: ['127.10.0.200/29', 'secret.perimeter.test'].map(parseTarget),
};
const dns: Record<string, string[]> = {
  'app.perimeter.test': ['127.30.0.1'],
  'www.perimeter.test': ['127.10.0.5', '::1'],
  'evil.test': ['127.99.0.1'],
  'mixed.test': ['127.10.0.6', '127.10.0.201'],
  'secret.perimeter.test': ['127.10.0.7'],
};
const resolve = async (n: string) => {
  if (!dns[n]) throw new Error('ENOTFOUND');
  return dns[n]!;
};

describe('checkScope', () => {
  it('accepts targets inside the perimeter minus exclusions, names included', async () => {
    const d = await checkScope(['127.10.0.0/25', '127.20.0.10-20', 'www.perimeter.test', 'app.perimeter.test', '127.30.0.1'], perimeter, { resolve });
    expect(d.offending).toEqual([]);
    expect(d.ok).toBe(true);
    expect(d.resolved['www.perimeter.test']).toEqual(['127.10.0.5', '::1']);
  });

  it('names every offending target with the reason', async () => {
    const d = await checkScope(
      ['127.10.0.0/24', '127.20.0.40-127.20.0.60', 'evil.test', 'mixed.test', 'secret.perimeter.test', 'nowhere.test', 'x y'],
      perimeter,
      { resolve },
    );
    expect(d.ok).toBe(false);
    expect(d.offending).toEqual([
      { target: 'x y', reason: 'invalid' },
      { target: '127.10.0.0/24', reason: 'excluded', addresses: ['127.10.0.200/29'] },
      { target: '127.20.0.40-127.20.0.60', reason: 'outside_perimeter', addresses: ['127.20.0.51-127.20.0.60'] },
      { target: 'evil.test', reason: 'outside_perimeter', addresses: ['127.99.0.1'] },
      { target: 'mixed.test', reason: 'excluded', addresses: ['127.10.0.201'] },
      { target: 'secret.perimeter.test', reason: 'excluded' },
      { target: 'nowhere.test', reason: 'unresolvable' },
    ]);
  });

  it('resolves declared names only when a requested name needs them', async () => {
    const calls: string[] = [];
    const counting = async (n: string) => {
      calls.push(n);
      return resolve(n);
    };
    await checkScope(['127.10.0.1', '127.20.0.5'], perimeter, { resolve: counting });
    expect(calls).toEqual([]);
    await checkScope(['www.perimeter.test'], perimeter, { resolve: counting });
    expect(calls).toEqual(['www.perimeter.test']);
    calls.length = 0;
    // A name pointing at a declared name's address is allowed, found by resolving the declared names.
    dns['alias.test'] = ['127.30.0.1'];
    const d = await checkScope(['alias.test'], perimeter, { resolve: counting });
    expect(d.ok).toBe(true);
    expect(calls).toEqual(['alias.test', 'app.perimeter.test']);
  });

  it('refuses everything when the perimeter is empty', async () => {
    const d = await checkScope(['127.0.0.1'], { includes: [], excludes: [] });
    expect(d.ok).toBe(false);
  });
});

describe('enforceScope', () => {
  it('throws out_of_scope naming the offenders in one line', async () => {
    const err = await enforceScope(['127.99.0.1', '127.10.0.1'], perimeter, { resolve }).catch((e) => e);
    expect(err).toBeInstanceOf(PlumError);
    expect(err.code).toBe('out_of_scope');
    expect(err.oneLine()).toBe(
      'refused, out of scope: 127.99.0.1 (outside the perimeter) (add the targets to the perimeter with `plum target add`, or scan only declared targets)',
    );
  });

  it('lets an override with a reason through and records it', async () => {
    const d = await enforceScope(['127.99.0.1'], perimeter, {
      resolve,
      override: { reason: 'incident 42', by: 'alice' },
      now: new Date('2026-01-01T00:00:00Z'),
    });
    expect(d.ok).toBe(false);
    expect(d.override).toEqual({ reason: 'incident 42', by: 'alice', at: '2026-01-01T00:00:00.000Z' });
    await expect(enforceScope(['127.99.0.1'], perimeter, { resolve, override: { reason: ' ' } })).rejects.toThrow(/needs a reason/);
  });
});

describe('recheckNames (right before nmap starts)', () => {
  it.each([
    ['unchanged', { a: ['127.0.0.1'] }, { a: ['127.0.0.1'] }, ['a'], []],
    ['same address in its mapped form', { a: ['127.0.0.1'] }, { a: ['::ffff:127.0.0.1'] }, ['a'], []],
    ['moved', { a: ['127.0.0.1'] }, { a: ['192.0.2.1'] }, [], [{ name: 'a', addresses: ['192.0.2.1'] }]],
    ['one extra address', { a: ['127.0.0.1'] }, { a: ['127.0.0.1', '192.0.2.1'] }, [], [{ name: 'a', addresses: ['192.0.2.1'] }]],
    ['fewer addresses', { a: ['127.0.0.1', '127.0.0.2'] }, { a: ['127.0.0.2'] }, ['a'], []],
    ['no longer resolves', { a: ['127.0.0.1'] }, {}, [], [{ name: 'a', addresses: [] }]],
    ['not pinned (older run)', {}, { a: ['192.0.2.1'] }, ['a'], []],
  ] as const)('%s', (_what, pinned, current, keep, dropped) => {
    expect(recheckNames(['a'], pinned as never, current as never)).toEqual({ keep, dropped });
  });

  it('keeps addresses and unaffected names in order', () => {
    expect(recheckNames(['127.0.0.1', 'a', 'b'], { a: ['127.0.0.1'], b: ['127.0.0.2'] }, { a: ['127.0.0.1'], b: ['10.0.0.1'] }).keep).toEqual([
      '127.0.0.1',
      'a',
    ]);
  });
});

describe('IPv4-mapped IPv6 addresses are their IPv4 address', () => {
  // Issue #31: an IPv4 exclusion did not exclude its ::ffff: form.
  it.each([
    ['::ffff:127.10.0.201', 'excluded'],
    ['::ffff:7f0a:c9', 'excluded'],
    ['::ffff:127.10.0.200/125', 'excluded'],
    ['::ffff:127.10.0.199-::ffff:127.10.0.201', 'excluded'],
    ['::ffff:127.99.0.1', 'outside_perimeter'],
  ])('%s is refused as %s', async (target, reason) => {
    const d = await checkScope([target], perimeter, { resolve });
    expect(d.ok).toBe(false);
    expect(d.offending[0]).toMatchObject({ reason });
  });

  it('an in-scope IPv4 address is in scope in its mapped form, and a name resolving to a mapped address is judged as IPv4', async () => {
    expect((await checkScope(['::ffff:127.10.0.5', '::ffff:127.20.0.1-::ffff:127.20.0.9'], perimeter, { resolve })).ok).toBe(true);
    const mapped = async (n: string) => (n === 'm.test' ? ['::ffff:127.10.0.202'] : resolve(n));
    expect((await checkScope(['m.test'], perimeter, { resolve: mapped })).offending).toEqual([
      { target: 'm.test', reason: 'excluded', addresses: ['127.10.0.202'] },
    ]);
  });
});

describe('hostsOutsideJob (uploads may only describe the job)', () => {
  const h = (ip: string, user?: string) => ({ ip, hostnames: user ? [{ name: user, type: 'user' }] : [] });
  it.each([
    ['address target', [h('127.0.0.1')], ['127.0.0.1'], {}, []],
    ['inside a CIDR target', [h('127.0.0.9')], ['127.0.0.0/28'], {}, []],
    ['inside a range, mapped form', [h('::ffff:127.0.0.3')], ['127.0.0.1-127.0.0.5'], {}, []],
    ['outside every target', [h('127.0.0.1'), h('127.0.9.9'), h('192.0.2.1'), h('127.0.9.9')], ['127.0.0.1'], {}, ['127.0.9.9', '192.0.2.1']],
    ['a name at a checked address', [h('127.0.0.7')], ['www.test'], { 'www.test': ['127.0.0.7'] }, []],
    ['a name elsewhere than checked', [h('127.0.0.8', 'www.test')], ['www.test'], { 'www.test': ['127.0.0.7'] }, ['127.0.0.8']],
    ['an unpinned name reported under its own name', [h('127.0.0.8', 'www.test')], ['www.test'], {}, []],
    ['an unpinned name, host under another name', [h('127.0.0.8', 'evil.test')], ['www.test'], {}, ['127.0.0.8']],
    ['a PTR name does not count', [{ ip: '127.0.0.8', hostnames: [{ name: 'www.test', type: 'PTR' }] }], ['www.test'], {}, ['127.0.0.8']],
    ['not an address', [h('garbage')], ['127.0.0.1'], {}, ['garbage']],
  ] as const)('%s', (_what, hosts, targets, pinned, outside) => {
    expect(hostsOutsideJob(hosts as never, targets as never, pinned as never)).toEqual(outside);
  });
});

describe('addressesOutsidePerimeter (answered addresses re-checked before the nmap stage)', () => {
  // The shared perimeter: 127.10.0.0/24 minus 127.10.0.200/29, 127.20.0.1-50, ::1, and the name app.perimeter.test.
  it.each([
    ['inside a declared CIDR', ['127.10.0.1'], []],
    ['inside a declared range, both ends', ['127.20.0.1', '127.20.0.50'], []],
    ['a declared IPv6 address', ['::1'], []],
    ['inside an exclusion', ['127.10.0.201'], [{ address: '127.10.0.201', reason: 'excluded' }]],
    ['an exclusion in its mapped form', ['::ffff:127.10.0.207'], [{ address: '::ffff:127.10.0.207', reason: 'excluded' }]],
    ['just past the exclusion', ['127.10.0.199', '127.10.0.208'], []],
    [
      'just past a declared range',
      ['127.20.0.51', '127.20.0.0'],
      [
        { address: '127.20.0.51', reason: 'outside_perimeter' },
        { address: '127.20.0.0', reason: 'outside_perimeter' },
      ],
    ],
    // Declared names are not resolved: the sweep that found the address never covered them.
    ['the address of a declared name', ['127.30.0.1'], [{ address: '127.30.0.1', reason: 'outside_perimeter' }]],
    ['same number, other family', ['::7f0a:1'], [{ address: '::7f0a:1', reason: 'outside_perimeter' }]],
    [
      'not a single address',
      ['127.10.0.0/30', 'garbage'],
      [
        { address: '127.10.0.0/30', reason: 'invalid' },
        { address: 'garbage', reason: 'invalid' },
      ],
    ],
    [
      'repeats reported once, in input order',
      ['127.99.0.1', '127.10.0.1', '127.10.0.202', '127.99.0.1'],
      [
        { address: '127.99.0.1', reason: 'outside_perimeter' },
        { address: '127.10.0.202', reason: 'excluded' },
      ],
    ],
  ] as const)('%s', (_what, addresses, outside) => {
    expect(addressesOutsidePerimeter(addresses, perimeter)).toEqual(outside);
  });

  it('an excluded address that is no longer declared is reported as excluded; an empty perimeter allows nothing', () => {
    expect(addressesOutsidePerimeter(['10.0.0.1'], { includes: [], excludes: [parseTarget('10.0.0.0/8')] })).toEqual([
      { address: '10.0.0.1', reason: 'excluded' },
    ]);
    expect(addressesOutsidePerimeter(['127.10.0.1'], { includes: [], excludes: [] })).toEqual([{ address: '127.10.0.1', reason: 'outside_perimeter' }]);
  });

  it('judges many addresses against many ranges as one by one would', () => {
    const many: PerimeterTargets = {
      includes: Array.from({ length: 200 }, (_, i) => parseTarget(`127.${i}.0.0/24`)),
      excludes: Array.from({ length: 200 }, (_, i) => parseTarget(`127.${i}.0.${i}`)),
    };
    const addresses = Array.from({ length: 250 }, (_, i) => `127.${i}.0.${i % 2 ? i : 255}`);
    const alone = addresses.flatMap((a) => addressesOutsidePerimeter([a], many));
    expect(addressesOutsidePerimeter(addresses, many)).toEqual(alone);
    expect(alone.filter((o) => o.reason === 'excluded')).toHaveLength(100);
    expect(alone.filter((o) => o.reason === 'outside_perimeter').map((o) => o.address)).toEqual(addresses.slice(200));
  });
});
