import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nmap2jsonStream } from '../nmap/compat.ts';
import { parseNmapFile } from '../nmap/parse.ts';
import { openXmlFile } from '../nmap/read-file.ts';
import type { ParsedPort } from '../nmap/types.ts';
import { checkHostDocument, legacyHostOf } from './map.ts';

/*
 * The mapping is proved against our own parser on real nmap XML: each fixture
 * is converted to the predecessor's documents by the compat mode (core/nmap/compat.ts,
 * checked byte for byte against the predecessor's golden hsh256 values and its
 * installed package in test/predecessor-nmap2json.test.ts), read back as JSON, mapped,
 * and compared port by port with what our parser gives for the same XML.
 */
const fixtures = fileURLToPath(new URL('../../test/fixtures/nmap/', import.meta.url));
const files = readdirSync(fixtures)
  .filter((f) => f.endsWith('.xml'))
  .sort();

/** Ports whose predecessor document lost something our document keeps, and what. */
const LOSSY: Record<string, string> = {
  'circl.xml 185.194.93.14 tcp/80': 'cpe',
  'circl.xml 185.194.93.14 tcp/443': 'cpe, certificate extension order',
  'loopback-https.xml 127.176.69.2 tcp/443': 'certificate extension order',
};

async function legacyHosts(file: string) {
  const out = [];
  for await (const h of nmap2jsonStream(openXmlFile(file), {
    openOnly: true,
    onError: (e) => {
      throw e;
    },
  })) {
    out.push(legacyHostOf(checkHostDocument(JSON.parse(h.json), 'fixture')));
  }
  return out;
}

/** Upstream sorts scripts by id and members by name: compare what the order does not change. */
function comparable(p: ParsedPort) {
  const sortKeys = (_k: string, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v;
  return {
    hsh256: p.hsh256,
    state: p.state,
    fpVersion: p.fpVersion,
    fields: Object.fromEntries(Object.entries(p.fields).map(([k, v]) => [k, [...(v as string[])].sort()])),
    doc: JSON.parse(JSON.stringify({ ...p.doc, scripts: [...p.doc.scripts].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) }, sortKeys)),
  };
}

describe('predecessor documents → our ports (legacyHostOf)', () => {
  it('covers the fixtures: shared ones and loopback captures', () => {
    expect(files).toEqual(
      expect.arrayContaining(['circl.xml', 'libnmap-1_os_banner_scripts.xml', 'libnmap-2_hosts_version.xml', 'libnmap-os_scan6.xml', 'loopback-https.xml']),
    );
  });

  for (const file of files) {
    it(`gives the same doc, fields and Plum hsh256 as parsing ${file}, except where the predecessor lost data`, async () => {
      const ours = await parseNmapFile(`${fixtures}${file}`, { openOnly: true });
      const legacy = await legacyHosts(`${fixtures}${file}`);
      expect(legacy.map((h) => h.ip)).toEqual(ours.hosts.map((h) => h.ip));
      for (const host of ours.hosts) {
        const mapped = legacy.find((h) => h.ip === host.ip)!;
        expect(mapped.startedAt).toBe(host.startedAt);
        expect(mapped.endedAt).toBe(host.endedAt);
        expect(mapped.status).toBe(host.status);
        expect(mapped.timedOut).toBe(false);
        // Upstream sorts a host's names (PTR before user).
        expect(new Set(mapped.hostnames)).toEqual(new Set(host.hostnames));
        expect(mapped.ports.map((p) => `${p.protocol}/${p.port}`).sort()).toEqual(host.ports.map((p) => `${p.protocol}/${p.port}`).sort());
        for (const port of host.ports) {
          const other = mapped.ports.find((p) => p.protocol === port.protocol && p.port === port.port)!;
          const key = `${file} ${host.ip} ${port.protocol}/${port.port}`;
          if (LOSSY[key]) expect(other.hsh256, key).not.toBe(port.hsh256);
          else expect(comparable(other), key).toEqual(comparable(port));
        }
      }
    });
  }

  it('loses exactly what the predecessor dropped on the lossy ports (cpe, extension order), nothing else', async () => {
    const ours = await parseNmapFile(`${fixtures}circl.xml`, { openOnly: true });
    const [mapped] = await legacyHosts(`${fixtures}circl.xml`);
    const https = ours.hosts[0]!.ports.find((p) => p.port === 443)!;
    const other = mapped!.ports.find((p) => p.port === 443)!;
    const { cpe, ...service } = https.doc.service!;
    expect(cpe).toEqual(['cpe:/a:apache:http_server']);
    expect(other.doc.service).toEqual(service);
    const ext = (p: ParsedPort) => (p.doc.scripts.find((s) => s.id === 'ssl-cert')!.extensions as { tables: { name: string }[] }).tables;
    expect(ext(other).map((t) => t.name)).toEqual(
      ext(https)
        .map((t) => t.name)
        .sort(),
    );
    expect(new Set(ext(other))).toEqual(new Set(ext(https)));
    // Fields do not depend on either: the certificate's names, hashes and dates come through.
    expect({ ...comparable(other).fields, cpe: [] }).toEqual({ ...comparable(https).fields, cpe: [] });
  });

  it.each([
    ['a keyless table beside keyed elems', { id: 's', output: 'o', unknown: { a: '1' } }, { id: 's', output: 'o', tables: [{ a: '1' }] }],
    ['a table of keyless elems (a bare list upstream)', { id: 's', output: 'o', k: ['x', null] }, { id: 's', output: 'o', k: { elems: ['x', ''] } }],
    ['an empty table', { id: 's', output: 'o', k: [] }, { id: 's', output: 'o', k: {} }],
    [
      'nested keyless tables (__list__)',
      { id: 's', output: 'o', k: { __list__: [{ a: '1' }, ['e']] } },
      { id: 's', output: 'o', k: { tables: [{ a: '1' }, { elems: ['e'] }] } },
    ],
    [
      'reserved names get our key: prefix',
      { id: 's', output: null, tables: 'v', k: { elems: 'e' } },
      { id: 's', output: '', 'key:tables': 'v', k: { 'key:elems': 'e' } },
    ],
    ['keyless elems of the script', { id: 's', output: 'o', elems: ['a', null] }, { id: 's', output: 'o', elems: ['a', ''] }],
  ])('maps a script with %s', (_what, script, expected) => {
    const host = legacyHostOf(
      checkHostDocument({ addr: '127.0.0.1', ports: [{ protocol: 'tcp', portid: '80', state: { state: 'open' }, scripts: [script] }] }, 'doc'),
    );
    expect(host.ports[0]!.doc.scripts).toEqual([expected]);
  });

  it.each([
    [[], 'doc is not a host document'],
    [{ ports: [] }, 'doc has no addr'],
    [{ addr: '', ports: [] }, 'doc has no addr'],
    [{ addr: '127.0.0.1', ports: [{ protocol: 'tcp', portid: 'x', state: { state: 'open' } }] }, 'doc is not an nmap2json host document (ports.0.portid'],
    [{ addr: '127.0.0.1', ports: [{ protocol: 'tcp', portid: '22' }] }, 'doc is not an nmap2json host document (ports.0.state'],
    [
      { addr: '127.0.0.1', ports: [{ protocol: 'tcp', portid: '22', state: { state: 'open' }, scripts: [{ output: 'x' }] }] },
      'doc is not an nmap2json host document (ports.0.scripts.0.id',
    ],
  ])('refuses %j with a one-line message', (doc, message) => {
    expect(() => checkHostDocument(doc, 'doc')).toThrow(message);
  });
});
