import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { PlumError } from '../errors.ts';
import { fingerprintVersion, hostFingerprint, portFingerprint } from './fingerprint.ts';
import type { HostDocument, PortDocument, ScriptDocument } from './types.ts';
import { compileVolatileList, DEFAULT_VOLATILE_PATH, defaultVolatileList, normalizeText } from './volatile.ts';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/nmap/', import.meta.url));

const list = defaultVolatileList();

function headers(lines: string[]): ScriptDocument {
  return { id: 'http-headers', output: `\n${lines.map((l) => `  ${l}`).join('\n')}\n  \n  (Request type: GET)\n` };
}

interface Variant {
  date?: string;
  cookie?: string;
  requestId?: string;
  etag?: string;
  nonce?: string;
  title?: string;
  server?: string;
  banner?: string;
  cert?: string;
  extraScript?: boolean;
  lastModified?: string;
  uuid?: string;
}

function port(v: Variant = {}): PortDocument {
  const scripts: ScriptDocument[] = [
    headers([
      `Date: ${v.date ?? 'Mon, 23 Nov 2026 10:00:00 GMT'}`,
      `Server: ${v.server ?? 'nginx/1.24.0'}`,
      `Set-Cookie: PHPSESSID=${v.cookie ?? 'abc123'}; path=/; expires=${v.date ?? 'Mon, 23 Nov 2026 10:00:00 GMT'}; Max-Age=3600; HttpOnly`,
      `X-Request-Id: ${v.requestId ?? '4f1c2d'}`,
      `traceparent: 00-${v.requestId ?? '4f1c2d'}0000000000000000000000000-00f067aa0ba902b7-01`,
      `X-Correlation-ID: ${v.requestId ?? 'corr-1'}`,
      `ETag: "${v.etag ?? '5f3a-1b'}"`,
      `Age: ${v.requestId ? '17' : '3'}`,
      `X-Cache: ${v.requestId ? 'HIT' : 'MISS'}`,
      `Server-Timing: total;dur=${v.requestId ? '12.5' : '3'}`,
      `X-Varnish: ${v.requestId ? '32770 3' : '98'}`,
      `Report-To: {"group":"default","max_age":31536000,"endpoints":[{"url":"https://r.example/${v.requestId ?? 'x'}"}]}`,
      `NEL: {"report_to":"default","max_age":${v.requestId ? 1 : 2}}`,
      `Content-Security-Policy: script-src 'self' 'nonce-${v.nonce ?? 'r4nd0m'}'`,
      `Last-Modified: ${v.lastModified ?? 'Fri, 04 Jan 2013 14:51:16 GMT'}`,
      `X-Build: ${v.uuid ?? '04a843ac-a0e7-4b62-8abb-6495dbb70833'}`,
    ]),
    { id: 'http-title', output: v.title ?? 'Welcome', title: v.title ?? 'Welcome' },
    { id: 'banner', output: v.banner ?? `220 mail.example.org ESMTP Postfix; ${v.date ?? 'Mon, 23 Nov 2026 10:00:00 +0100'}` },
    { id: 'ssl-cert', output: `Subject: commonName=${v.cert ?? 'www.example.org'}`, subject: { commonName: v.cert ?? 'www.example.org' } },
  ];
  if (v.extraScript) scripts.push({ id: 'http-methods', output: 'GET HEAD POST OPTIONS' });
  return {
    protocol: 'tcp',
    portid: '443',
    state: { state: 'open', reason: 'syn-ack', reason_ttl: '64' },
    service: { name: 'https', product: 'nginx', version: '1.24.0', method: 'probed', conf: '10' },
    scripts,
  };
}

const fp = (v: Variant = {}) => portFingerprint(port(v), list);

describe('hsh256: the same service seen twice gives the same fingerprint', () => {
  const base = fp();
  it('with other cookies (values of any length)', () => expect(fp({ cookie: 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz' })).toBe(base));
  it('with other dates (headers, cookie expiry, SMTP banner)', () => expect(fp({ date: 'Tue, 5 May 2026 08:09:10 GMT' })).toBe(base));
  it('with other request ids, trace ids, cache and timing headers, Report-To/NEL', () => expect(fp({ requestId: '9d9d9d9d9d9d9d9d9d' })).toBe(base));
  it('with other ETags (of another length)', () => expect(fp({ etag: 'W/"abcdef0123456789-long"' })).toBe(base));
  it('with other CSP nonces (of another length)', () => expect(fp({ nonce: 'Zm9vYmFyYmF6cXV4LTEyMzQ1Njc4OTA=' })).toBe(base));
  it('with other UUIDs, in upper case too', () => expect(fp({ uuid: 'F47AC10B-58CC-4372-A567-0E02B2C3D479' })).toBe(base));
  it('whatever the scan times, TTL and script order', () => {
    const p = port();
    p.state.reason_ttl = '52';
    p.scripts.reverse();
    expect(portFingerprint(p, list)).toBe(base);
  });
  it('whatever the verbosity of the stock banner script (63 vs 135 characters)', () => {
    const long = '220 mail.example.org ESMTP Postfix (Debian/GNU) ready for mail, please be nice to this server and its admins';
    expect(fp({ banner: `${long.slice(0, 60)}...` })).toBe(fp({ banner: long.slice(0, 132) }));
  });
});

describe('hsh256: a real change gives another fingerprint', () => {
  const base = fp();
  it('changed title', () => expect(fp({ title: 'Welcome!' })).not.toBe(base));
  it('changed certificate', () => expect(fp({ cert: 'mail.example.org' })).not.toBe(base));
  it('changed server version', () => expect(fp({ server: 'nginx/1.25.3' })).not.toBe(base));
  it('changed banner', () => expect(fp({ banner: '220 mail.example.org ESMTP Exim 4.96' })).not.toBe(base));
  it('changed set of scripts', () => expect(fp({ extraScript: true })).not.toBe(base));
  it('changed Last-Modified (a meaningful date)', () => expect(fp({ lastModified: 'Sat, 05 Jan 2013 14:51:16 GMT' })).not.toBe(base));
  it('changed service product in the port table', () => {
    const p = port();
    p.service!.version = '1.25.0';
    expect(portFingerprint(p, list)).not.toBe(base);
  });
});

describe('volatile normalisation', () => {
  it('uses fixed markers, never same-length masks', () => {
    const a = normalizeText('ETag: "1"\nX-Request-Id: a\nSet-Cookie: s=1; expires=Mon, 23 Nov 2026 10:00:00 GMT', list);
    const b = normalizeText('ETag: "1234567890"\nX-Request-Id: abcdefghijkl\nSet-Cookie: s=1234567890; expires=Thu, 01 Jan 2026 00:00:00 GMT', list);
    expect(a).toBe(b);
    expect(a).toBe('ETag: [VOLATILE]\nX-Request-Id: [VOLATILE]\nSet-Cookie: s=[COOKIE]; expires=[DATE]');
  });
  it('masks header lines inside banners with escaped line ends', () => {
    expect(normalizeText('HTTP/1.1 400 Bad Request\\x0d\\x0aDate: Mon, 04 May 2026 20:40:27 GMT\\x0d\\x0aServer: x', list)).toBe(
      'HTTP/1.1 400 Bad Request\\x0d\\x0aDate: [VOLATILE]\\x0d\\x0aServer: x',
    );
  });
  it('masks RFC 850 and asctime dates', () => {
    expect(normalizeText('at Sunday, 06-Nov-94 08:49:37 GMT and Sun Nov  6 08:49:37 1994', list)).toBe('at [DATE] and [DATE]');
  });
  it('masks a whole clock script and listed keys of others', () => {
    const p = port();
    const a = { ...p, scripts: [{ id: 'ssl-date', output: '2026-11-23T10:00:00+00:00; 0s from scanner time.' }] };
    const b = { ...p, scripts: [{ id: 'ssl-date', output: '2026-11-23T11:00:00+00:00; +1s from scanner time.' }] };
    expect(portFingerprint(a, list)).toBe(portFingerprint(b, list));
    const ntlm = (t: string): PortDocument => ({
      ...p,
      scripts: [{ id: 'rdp-ntlm-info', output: `\n  Target_Name: CORP\n  System_Time: ${t}`, Target_Name: 'CORP', System_Time: t }],
    });
    expect(portFingerprint(ntlm('2026-11-23T10:00:00+00:00'), list)).toBe(portFingerprint(ntlm('2026-11-24T10:00:00+00:00'), list));
  });
  it('is extensible: a header added to the list is masked', () => {
    const custom = compileVolatileList({ version: 7, headers: ['X-My-Node'] });
    expect(normalizeText('X-My-Node: web-3', custom)).toBe('X-My-Node: [VOLATILE]');
    expect(normalizeText('X-My-Node: web-3', list)).toBe('X-My-Node: web-3');
    expect(fingerprintVersion(custom)).toBe(1007);
  });
  it('prefilters agree with their patterns, so they never change which texts are normalised', () => {
    const file = parseYaml(readFileSync(DEFAULT_VOLATILE_PATH, 'utf8')) as { patterns: { name: string; regex: string; flags?: string; prefilter?: string }[] };
    const withPrefilter = file.patterns.filter((p) => p.prefilter);
    expect(withPrefilter.map((p) => p.name)).toContain('uuid');
    const u = 'f47ac10b-58cc-4372-a567-0e02b2c3d479';
    const texts = [
      u,
      u.toUpperCase(),
      `id=${u};`,
      `x${u}`,
      `${u}x`,
      `_${u}`,
      `${u}_`,
      `-${u}-`,
      u.slice(1),
      `0${u}`,
      `${u}0`,
      u.replace('-', ''),
      u.replace(/-/g, ':'),
      `${u.slice(0, 13)} ${u}`,
      `${u.slice(0, 9)}${u}`,
      'a-b-c-d-e',
      '--------',
      `g${u.slice(1)}`,
      `${u.slice(0, 8)}-${u}`,
      `é${u}`,
      `${u}\n${u.toUpperCase()}`,
      '',
      '-',
      // Every string of the real fixtures' scripts and banners.
      ...readdirSync(FIXTURES)
        .filter((f) => f.endsWith('.xml'))
        .flatMap((f) => [...readFileSync(path.join(FIXTURES, f), 'utf8').matchAll(/(?:output|value)="([^"]*)"|>([^<]+)</g)].map((m) => m[1] ?? m[2] ?? '')),
    ];
    for (const p of withPrefilter) {
      const flags = (p.flags ?? 'gi').replace('g', '');
      const full = new RegExp(p.regex, flags);
      const pre = new RegExp(p.prefilter!, flags);
      for (const t of texts) expect(pre.test(t), `${p.name} on ${JSON.stringify(t.slice(0, 80))}`).toBe(full.test(t));
    }
    // And the combined test of the shipped list agrees with the patterns themselves.
    for (const t of texts) expect(list.anyPattern!.test(t)).toBe(list.patterns.some((p) => new RegExp(p.re.source, 'i').test(t)));
  });

  it('refuses an invalid list with a clear error', () => {
    expect(() => compileVolatileList({ version: 1, patterns: [{ name: 'bad', regex: '(', marker: 'x' }] })).toThrow(PlumError);
    expect(() => compileVolatileList({ headers: [] })).toThrow(/version/);
    expect(() => compileVolatileList({ version: 1, patterns: [{ name: 'id', regex: 'a', marker: 'x', prefilter: '(' }] })).toThrow(/patterns\.id\.prefilter/);
  });
});

describe('host fingerprint', () => {
  const host = (ports: PortDocument[], start = '1700000000'): HostDocument => ({
    addr: '127.0.0.9',
    addresses: [{ addr: '127.0.0.9', addrtype: 'ipv4' }],
    hostnames: [{ name: 'a.example.org', type: 'user' }],
    status: { state: 'up', reason: 'user-set', reason_ttl: '0' },
    starttime: start,
    endtime: String(Number(start) + 10),
    ports,
    extraports: [],
    hostscripts: [],
    extra: { times: [{ srtt: String(Number(start) % 97) }] },
  });
  it('ignores times and volatile port values, follows real changes', () => {
    expect(hostFingerprint(host([port()]), list)).toBe(hostFingerprint(host([port({ cookie: 'other', requestId: 'zz' })], '1800000000'), list));
    expect(hostFingerprint(host([port()]), list)).not.toBe(hostFingerprint(host([port({ title: 'Other' })]), list));
  });
});

describe('exclude paths', () => {
  it('drop values from what is hashed, never from the document', () => {
    const custom = compileVolatileList({
      version: 7,
      exclude: { port: ['state.reason_ttl', 'service.extrainfo', 'scripts.0.output'], host: ['os.osfingerprint', 'extra.times'] },
    });
    const a = port();
    a.service = { name: 'http', product: 'nginx', extrainfo: 'one' };
    const b = port();
    b.service = { name: 'http', product: 'nginx', extrainfo: 'two' };
    b.state.reason_ttl = '12';
    expect(portFingerprint(a, custom)).toBe(portFingerprint(b, custom));
    expect(portFingerprint(a, list)).not.toBe(portFingerprint(b, list));
    expect(a.service.extrainfo).toBe('one');
    expect(b.state.reason_ttl).toBe('12');
    expect(typeof a.scripts[0]!.output).toBe('string');
    const h = (fp: string): HostDocument => ({
      addr: '127.0.0.9',
      addresses: [],
      hostnames: [],
      status: { state: 'up' },
      ports: [a],
      extraports: [],
      hostscripts: [],
      extra: { times: [{ srtt: fp }] },
      os: { portused: [], osmatch: [], osfingerprint: [fp] },
    });
    const h1 = h('OS:SCAN(V=7.93)');
    expect(hostFingerprint(h1, custom)).toBe(hostFingerprint(h('OS:SCAN(V=7.94)'), custom));
    expect(hostFingerprint(h1, list)).not.toBe(hostFingerprint(h('OS:SCAN(V=7.94)'), list));
    expect(h1.os!.osfingerprint).toEqual(['OS:SCAN(V=7.93)']);
    expect(h1.extra.times).toEqual([{ srtt: 'OS:SCAN(V=7.93)' }]);
  });
});

describe('normalizedScriptJson', () => {
  it('is canonicalJson(normalizeScript(s)) for every script of the fixtures and odd shapes, with any script rule', async () => {
    const { readFileSync, readdirSync } = await import('node:fs');
    const { parseNmapString } = await import('./parse.ts');
    const { canonicalJson, normalizedScriptJson } = await import('./fingerprint.ts');
    const { normalizeScript } = await import('./volatile.ts');
    const dir = new URL('../../test/fixtures/nmap/', import.meta.url);
    const scripts: ScriptDocument[] = [];
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.xml'))) {
      for (const h of parseNmapString(readFileSync(new URL(f, dir), 'utf8')).hosts) {
        scripts.push(...h.doc.hostscripts, ...h.ports.flatMap((p) => p.doc.scripts));
      }
    }
    const ids = [...new Set(scripts.map((s) => s.id))];
    expect(ids.length).toBeGreaterThanOrEqual(10);
    scripts.push({ id: 'banner', output: `220 ${'x'.repeat(80)} Mon, 23 Nov 2026 10:00:00 GMT...` }, {
      id: 'odd',
      output: 'o',
      b: undefined,
      a: ['x', undefined, { Z: 'Date: Mon, 23 Nov 2026 10:00:00 GMT', y: [] }],
      c: {},
      d: 'Token: abc',
    } as unknown as ScriptDocument);
    const ruled = compileVolatileList({
      version: 2,
      scripts: { [ids[0]!]: '*', [ids[1]!]: ['output'], [ids[2]!]: ['key', 'Fingerprint', 'bits'], banner: ['output'], odd: ['d', 'z', 'token'] },
    });
    for (const l of [list, ruled]) {
      for (const s of scripts) expect(normalizedScriptJson(s, l), s.id).toBe(canonicalJson(normalizeScript(s, l)));
    }
  });
});

describe('canonical JSON', () => {
  it('is byte-identical to the canonicalize package (RFC 8785) on real documents', async () => {
    const { default: canonicalize } = await import('canonicalize');
    const { readFileSync } = await import('node:fs');
    const { parseNmapString } = await import('./parse.ts');
    const { canonicalJson, hostFingerprintInput, portFingerprintInput } = await import('./fingerprint.ts');
    let n = 0;
    for (const f of ['circl.xml', 'libnmap-1_os_banner_scripts.xml', 'loopback-https.xml', 'loopback-telnet.xml', 'loopback-volatile-web.xml']) {
      for (const h of parseNmapString(readFileSync(new URL(`../../test/fixtures/nmap/${f}`, import.meta.url), 'utf8')).hosts) {
        for (const v of [h.doc, hostFingerprintInput(h.doc, list), ...h.ports.map((p) => portFingerprintInput(p.doc, list)), h.ports.map((p) => p.fields)]) {
          expect(canonicalJson(v)).toBe(canonicalize(v));
          n++;
        }
      }
    }
    const odd = { b: [1, 2.5, -0, 1e21, 'é\u2028\u0000"'], a: { '\u00e9': 1, z: null, A: true, '😀': 'x', '\uff61': 2 } };
    expect(canonicalJson(odd)).toBe(canonicalize(odd));
    expect(n).toBeGreaterThan(10);
  });
});

describe('allocation-free sorts of the fingerprint', () => {
  it('sortStrings orders as Array#sort does: short and long lists, in order, reversed, non-ASCII and surrogates', async () => {
    const { sortStrings } = await import('./fingerprint.ts');
    const pool = ['a', 'B', 'b', 'aa', 'a-b', 'a_b', '', 'é', 'e\u0301', '😀', '\uff61', 'Z', 'z9', 'z10', 'id', 'output', '#text', '$'];
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (const n of [0, 1, 2, 3, 8, 47, 48, 49, 200]) {
      for (let trial = 0; trial < 20; trial++) {
        const keys = Array.from({ length: n }, (_, i) => `${pool[Math.floor(rand() * pool.length)]}${i % 3 === 0 ? i : ''}`);
        const expected = [...keys].sort();
        expect(sortStrings([...keys])).toEqual(expected);
        expect(sortStrings([...expected])).toEqual(expected);
        expect(sortStrings([...expected].reverse())).toEqual(expected);
      }
    }
  });

  it('scripts enter the fingerprint ordered as by the key `${id}\\0${json}`, whatever their order and with shared or prefix ids', async () => {
    const { portFingerprintInput, portFingerprint } = await import('./fingerprint.ts');
    const scripts = [
      { id: 'http-title', output: 'B' },
      { id: 'http', output: 'x' },
      { id: 'http-title', output: 'A' },
      { id: 'ssl-cert', output: 'c', elems: { subject: 's' } },
      { id: 'http-title', output: 'A', extra: 'e' },
      { id: 'banner', output: 'b' },
    ] as unknown as ScriptDocument[];
    const doc = (s: ScriptDocument[]): PortDocument => ({ protocol: 'tcp', portid: '80', state: { state: 'open' }, scripts: s }) as unknown as PortDocument;
    const jsons = (s: ScriptDocument[]) => (portFingerprintInput(doc(s), list, true).scripts as { json: string }[]).map((r) => r.json);
    const order = jsons(scripts);
    const byKey = [...order].sort((a, b) => {
      const ka = `${(JSON.parse(a) as { id: string }).id}\u0000${a}`;
      const kb = `${(JSON.parse(b) as { id: string }).id}\u0000${b}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    expect(order).toEqual(byKey);
    expect(order.map((j) => (JSON.parse(j) as { id: string }).id)).toEqual(['banner', 'http', 'http-title', 'http-title', 'http-title', 'ssl-cert']);
    const hash = portFingerprint(doc(scripts), list);
    for (const shuffled of [[...scripts].reverse(), [...scripts.slice(3), ...scripts.slice(0, 3)]]) expect(portFingerprint(doc(shuffled), list)).toBe(hash);
    // 60 scripts take Array#sort's path: same order rule.
    const many = Array.from({ length: 60 }, (_, i) => ({ id: `s${(i * 37) % 60}`, output: String(i % 7) })) as unknown as ScriptDocument[];
    const manyOrder = jsons(many).map((j) => (JSON.parse(j) as { id: string }).id);
    expect(manyOrder).toEqual(many.map((s) => s.id).sort());
    expect(portFingerprint(doc([...many].reverse()), list)).toBe(portFingerprint(doc(many), list));
  });
});
