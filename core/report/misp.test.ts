import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { emptySearchFields } from '../fields.ts';
import type { ExportRecord } from '../export/record.ts';
import { buildMispEvent, createMispEventWriter, derivedUuid, MISP_TEMPLATES, toMispTag } from './misp.ts';
import { validateMispEvent, type MispFacts } from '../../test/helpers/misp-validate.ts';

const FIX = fileURLToPath(new URL('../../test/fixtures/misp/', import.meta.url));
const readJson = (p: string) => JSON.parse(fs.readFileSync(path.join(FIX, p), 'utf8'));
const facts: MispFacts = {
  core: readJson('core-format.json'),
  types: readJson('describe-types.json'),
  templates: fs.readdirSync(path.join(FIX, 'objects')).map((f) => readJson(`objects/${f}`)),
};

function record(over: Partial<ExportRecord> = {}, fields: Partial<ReturnType<typeof emptySearchFields>> = {}): ExportRecord {
  return {
    id: 'obs_1',
    ip: '127.0.0.1',
    protocol: 'tcp',
    port: 443,
    state: 'open',
    hsh256: 'a'.repeat(64),
    firstSeen: '2026-03-01T10:00:00.000Z',
    lastSeen: '2026-03-07T10:00:00.000Z',
    timesSeen: 3,
    fields: { ...emptySearchFields(), ...fields },
    tags: [],
    score: 0,
    hostnames: [],
    ...over,
  };
}

const web = record(
  { tags: ['vuln:opendir', 'product:nginx'], score: 70, hostnames: ['www.example.test'] },
  {
    service_name: ['https'],
    service_product: ['nginx'],
    http_title: ['Index of /'],
    http_server: ['nginx/1.25'],
    fqdn: ['www.example.test', 'example.test'],
    domain: ['example.test'],
    ptr: ['host1.example.test'],
    fqdn_requested: ['www.example.test'],
    x509_sha256: ['AB:'.repeat(31) + 'AB'],
    x509_sha1: ['c'.repeat(40)],
    x509_md5: ['d'.repeat(32)],
    x509_subject: ['CN=www.example.test'],
    x509_issuer: ['CN=Test CA'],
    x509_subject_cn: ['www.example.test'],
    x509_san: ['www.example.test', 'api.example.test', '127.0.0.1'],
    x509_not_before: ['2026-01-01T00:00:00'],
    x509_not_after: ['2027-01-01T00:00:00'],
    x509_key_type: ['rsa'],
    x509_key_bits: ['2048'],
  },
);
const ssh = record({ id: 'obs_2', ip: '::1', port: 22, hsh256: 'b'.repeat(64) }, { service_name: ['ssh'], banner: ['SSH-2.0-OpenSSH_9.2p1 Debian-2'] });

describe('MISP export', () => {
  const opts = { info: 'Plum export', uuid: '6f1c6e43-98a4-4e07-9a0a-2f1f2c5d7d10', now: new Date('2026-03-08T00:00:00Z') };

  it('emits templates that match the saved misp-objects definitions', () => {
    for (const [name, t] of Object.entries(MISP_TEMPLATES)) {
      const def = facts.templates.find((x) => x.uuid === t.uuid);
      expect(def, name).toBeDefined();
      expect(def!.name).toBe(name);
      expect(String(def!.version)).toBe(t.version);
    }
  });

  it('builds an event that validates against the MISP core format and object templates', () => {
    const ev = buildMispEvent([web, ssh], opts);
    expect(validateMispEvent(ev, facts)).toEqual([]);
    const e = ev.Event as Record<string, any>;
    expect(e.Object.map((o: any) => o.name)).toEqual(['ip-port', 'x509', 'ip-port']);
    const ipPort = e.Object[0];
    const rel = (o: any, r: string) => o.Attribute.filter((a: any) => a.object_relation === r).map((a: any) => a.value);
    expect(rel(ipPort, 'ip')).toEqual(['127.0.0.1']);
    expect(rel(ipPort, 'dst-port')).toEqual(['443']);
    expect(rel(ipPort, 'hostname')).toEqual(['www.example.test', 'example.test']);
    expect(rel(ipPort, 'domain')).toEqual(['example.test']);
    expect(rel(ipPort, 'ptr-record')).toEqual(['host1.example.test']);
    expect(rel(ipPort, 'text')[0]).toContain('http title: Index of /');
    expect(ipPort.first_seen).toBe('2026-03-01T10:00:00.000Z');
    expect(ipPort.last_seen).toBe('2026-03-07T10:00:00.000Z');
    const ipAttr = ipPort.Attribute.find((a: any) => a.object_relation === 'ip');
    expect(ipAttr.Tag.map((t: any) => t.name)).toEqual(['plum:vuln="opendir"', 'plum:product="nginx"']);
    const cert = e.Object[1];
    expect(rel(cert, 'x509-fingerprint-sha256')).toEqual(['ab'.repeat(32)]);
    expect(rel(cert, 'dns_names')).toEqual(['www.example.test', 'api.example.test']);
    expect(ipPort.ObjectReference[0].referenced_uuid).toBe(cert.uuid);
    expect(e.Tag.map((t: any) => t.name)).toEqual(['plum:product="nginx"', 'plum:vuln="opendir"', 'tlp:amber']);
    expect(e.attribute_count).toBe(String(e.Object.reduce((n: number, o: any) => n + o.Attribute.length, 0)));
    // Re-export of the same data gives the same object uuids (updates instead of duplicates in MISP).
    const again = buildMispEvent([web, ssh], opts).Event as Record<string, any>;
    expect(again.Object.map((o: any) => o.uuid)).toEqual(e.Object.map((o: any) => o.uuid));
  });

  it('an empty export is still a valid event', () => {
    expect(validateMispEvent(buildMispEvent([], opts), facts)).toEqual([]);
  });

  it('the validator catches structural mistakes', () => {
    const ev = buildMispEvent([web], opts) as any;
    ev.Event.Object[0].Attribute[1].type = 'text'; // dst-port must be a port
    ev.Event.Object[0].Attribute.push({
      ...ev.Event.Object[0].Attribute[0],
      uuid: derivedUuid('x'),
      object_relation: 'ptr-record',
      type: 'domain',
      value: 'a.example',
    });
    ev.Event.Object[0].Attribute.push({
      ...ev.Event.Object[0].Attribute[0],
      uuid: derivedUuid('y'),
      object_relation: 'ptr-record',
      type: 'domain',
      value: 'b.example',
    });
    ev.Event.Object[1].template_version = '4';
    ev.Event.Object[1].Attribute[0].category = 'Other';
    delete ev.Event.info;
    ev.Event.Object[0].Attribute[0].value = 'not-an-ip';
    const errors = validateMispEvent(ev, facts);
    expect(errors).toContain('Event: missing required key "info"');
    expect(errors.some((e) => e.includes('relation "dst-port" must have type "port"'))).toBe(true);
    expect(errors.some((e) => e.includes('relation "ptr-record" appears 3 times but is not multiple'))).toBe(true);
    expect(errors.some((e) => e.includes('template_version: "4", template is version 13'))).toBe(true);
    expect(errors.some((e) => e.includes('category "Other" does not allow type "x509-fingerprint-sha256"'))).toBe(true);
    expect(errors.some((e) => e.includes('not an IP address'))).toBe(true);
    expect(errors.some((e) => e.includes('attribute_count'))).toBe(true);
  });

  it('streams: head + objects + tail is one JSON document', () => {
    const w = createMispEventWriter(opts);
    const text = w.head() + w.object(web) + w.object(ssh) + w.tail();
    const doc = JSON.parse(text);
    expect(validateMispEvent(doc, facts)).toEqual([]);
    expect(w.counts.objects).toBe(3);
  });

  it('maps tags to MISP machine tags', () => {
    expect(toMispTag('type:vpn')).toBe('plum:type="vpn"');
    expect(toMispTag('odd')).toBe('plum:tag="odd"');
    expect(toMispTag('x:a"b')).toBe('plum:x="a\'b"');
  });
});
