import { createHash, randomUUID } from 'node:crypto';
import type { ExportRecord } from '../export/record.ts';

/**
 * Builds a MISP event (MISP core format, JSON) from port observations: one
 * `ip-port` object per host/service and one `x509` object per certificate,
 * Plum tags as MISP machine tags, first/last seen on objects and attributes.
 *
 * The event is produced in pieces (head, one object at a time, tail) so an
 * export of millions of observations streams with bounded memory; `buildMispEvent`
 * assembles the pieces for small inputs and tests. UUIDs are derived from the
 * event uuid and the observation so re-exporting the same data updates the same
 * MISP objects instead of duplicating them.
 */

/** Template facts we emit against (MISP/misp-objects; checked in tests against the saved definitions). */
export const MISP_TEMPLATES = {
  'ip-port': {
    uuid: '9f8cea74-16fe-4968-a2b4-026676949ac6',
    version: '10',
    metaCategory: 'network',
    description: 'An IP address (or domain or hostname) and a port seen as a tuple (or as a triple) in a specific time frame.',
  },
  x509: { uuid: 'd1ab756a-26b5-4349-9f43-765630f0911c', version: '13', metaCategory: 'network', description: 'x509 object describing a X.509 certificate' },
} as const;

/** MISP attribute type → [default category, to_ids] (MISP describeTypes sane defaults). */
const TYPE_DEFAULTS: Record<string, [string, boolean]> = {
  'ip-dst': ['Network activity', false],
  port: ['Network activity', false],
  hostname: ['Network activity', false],
  domain: ['Network activity', false],
  text: ['Other', false],
  datetime: ['Other', false],
  'x509-fingerprint-md5': ['Network activity', false],
  'x509-fingerprint-sha1': ['Network activity', false],
  'x509-fingerprint-sha256': ['Network activity', false],
};
// to_ids is false on purpose: these are observations of a monitored perimeter, not indicators of compromise.

export interface MispEventOptions {
  info: string;
  /** Event uuid; random by default. Fix it to make re-exports update the same event. */
  uuid?: string;
  /** Date of the event (YYYY-MM-DD); default today. */
  date?: string;
  now?: Date;
  /** Distribution: 0 your organisation only (default), 1 community, 2 connected, 3 all. */
  distribution?: '0' | '1' | '2' | '3';
  /** Event-level tags, e.g. a TLP marking. Default `tlp:amber`. */
  eventTags?: string[];
  orgName?: string;
}

export type MispAttribute = Record<string, unknown> & { type: string; value: string; object_relation?: string };
export type MispObject = Record<string, unknown> & { name: string; Attribute: MispAttribute[] };

/** Deterministic RFC 4122-shaped uuid (version 5 layout over SHA-256) from a seed. */
export function derivedUuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** Plum tag `namespace:value` → MISP machine tag `plum:namespace="value"`. */
export function toMispTag(tag: string): string {
  const i = tag.indexOf(':');
  const ns = i > 0 ? tag.slice(0, i) : 'tag';
  const value = (i > 0 ? tag.slice(i + 1) : tag).replace(/"/g, "'");
  return `plum:${ns.replace(/[^a-z0-9_-]/gi, '-')}="${value}"`;
}

const unix = (iso: string): string => String(Math.floor(new Date(iso).getTime() / 1000));
const isoMicro = (iso: string): string => new Date(iso).toISOString();

const HOSTNAME_RE = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)+\.?$/i;
// IPv6 literals fail HOSTNAME_RE (colons); dotted quads are excluded here (ipaddr.js parsing was a hot spot).
const isHostname = (s: string): boolean => HOSTNAME_RE.test(s) && !/^\d+(\.\d+){3}\.?$/.test(s);
const isHex = (s: string, len: number): boolean => s.length === len && /^[0-9a-f]+$/i.test(s);
const cleanHex = (s: string): string => s.replace(/[:\s]/g, '').toLowerCase();

function uniq(values: Iterable<string>): string[] {
  return [...new Set([...values].map((v) => v.trim()).filter(Boolean))];
}

interface Ctx {
  eventUuid: string;
  timestamp: string;
  distribution: string;
}

function attribute(ctx: Ctx, objectUuid: string, relation: string, type: string, value: string, extra: Partial<MispAttribute> = {}): MispAttribute {
  const [category, toIds] = TYPE_DEFAULTS[type] ?? ['Other', false];
  return {
    uuid: derivedUuid(objectUuid, relation, value),
    type,
    category,
    to_ids: toIds,
    object_relation: relation,
    value,
    timestamp: ctx.timestamp,
    distribution: '5',
    sharing_group_id: '0',
    comment: '',
    deleted: false,
    disable_correlation: type === 'datetime' || type === 'text' || type === 'port',
    ...extra,
  };
}

function object(
  ctx: Ctx,
  name: keyof typeof MISP_TEMPLATES,
  uuid: string,
  attrs: MispAttribute[],
  seen: { first: string; last: string },
  comment = '',
): MispObject {
  const t = MISP_TEMPLATES[name];
  return {
    uuid,
    name,
    'meta-category': t.metaCategory,
    description: t.description,
    template_uuid: t.uuid,
    template_version: t.version,
    timestamp: ctx.timestamp,
    distribution: '5',
    sharing_group_id: '0',
    comment,
    deleted: false,
    first_seen: isoMicro(seen.first),
    last_seen: isoMicro(seen.last),
    ObjectReference: [] as unknown[],
    Attribute: attrs,
  };
}

function serviceText(r: ExportRecord): string {
  const f = r.fields;
  const lines: string[] = [];
  const svc = uniq([...f.service_name, ...f.service_product, ...f.service_version]).join(' ');
  if (svc) lines.push(`service: ${svc}`);
  for (const t of uniq(f.http_title)) lines.push(`http title: ${t}`);
  for (const s of uniq(f.http_server)) lines.push(`http server: ${s}`);
  const banner = f.banner[0];
  if (banner) lines.push(`banner: ${banner.length > 200 ? `${banner.slice(0, 199)}…` : banner}`);
  if (r.tags.length) lines.push(`plum tags: ${r.tags.join(', ')}`);
  lines.push(`plum score: ${r.score}`);
  return lines.join('\n');
}

/** MISP objects for one observation: the ip-port object, and an x509 object when a certificate was seen. */
export function mispObjectsFor(r: ExportRecord, ctx: Ctx): MispObject[] {
  const f = r.fields;
  const seen = { first: r.firstSeen, last: r.lastSeen };
  const ipPortUuid = derivedUuid(ctx.eventUuid, 'ip-port', r.ip, r.protocol, String(r.port), r.hsh256);
  const tagList = r.tags.map((t) => ({ name: toMispTag(t) }));
  const attrs: MispAttribute[] = [
    attribute(ctx, ipPortUuid, 'ip', 'ip-dst', r.ip, { first_seen: isoMicro(r.firstSeen), last_seen: isoMicro(r.lastSeen), Tag: tagList }),
    attribute(ctx, ipPortUuid, 'dst-port', 'port', String(r.port)),
    attribute(ctx, ipPortUuid, 'protocol', 'text', r.protocol, { category: 'Network activity' }),
  ];
  const names = uniq([...f.fqdn_requested, ...f.fqdn, ...r.hostnames]).filter(isHostname);
  for (const h of names) attrs.push(attribute(ctx, ipPortUuid, 'hostname', 'hostname', h.replace(/\.$/, '').toLowerCase()));
  for (const d of uniq(f.domain).filter(isHostname)) attrs.push(attribute(ctx, ipPortUuid, 'domain', 'domain', d.toLowerCase()));
  const ptr = f.ptr.find(isHostname);
  if (ptr) attrs.push(attribute(ctx, ipPortUuid, 'ptr-record', 'domain', ptr.replace(/\.$/, '').toLowerCase()));
  attrs.push(attribute(ctx, ipPortUuid, 'first-seen', 'datetime', isoMicro(r.firstSeen)));
  attrs.push(attribute(ctx, ipPortUuid, 'last-seen', 'datetime', isoMicro(r.lastSeen)));
  attrs.push(attribute(ctx, ipPortUuid, 'text', 'text', serviceText(r)));
  // Dedupe relation/value pairs (e.g. the same name from two sources).
  const seenKeys = new Set<string>();
  const ipPortAttrs = attrs.filter((a) => {
    const k = `${a.object_relation}\u0000${a.value}`;
    if (seenKeys.has(k)) return false;
    seenKeys.add(k);
    return true;
  });
  const ipPort = object(ctx, 'ip-port', ipPortUuid, ipPortAttrs, seen, `${r.ip}:${r.port}/${r.protocol}`);
  const out: MispObject[] = [ipPort];

  const sha256 = f.x509_sha256.map(cleanHex).find((h) => isHex(h, 64));
  const sha1 = f.x509_sha1.map(cleanHex).find((h) => isHex(h, 40));
  const md5 = f.x509_md5.map(cleanHex).find((h) => isHex(h, 32));
  if (sha256 || sha1 || md5) {
    const certUuid = derivedUuid(ctx.eventUuid, 'x509', r.ip, r.protocol, String(r.port), sha256 ?? sha1 ?? md5!);
    const xa: MispAttribute[] = [];
    if (sha256) xa.push(attribute(ctx, certUuid, 'x509-fingerprint-sha256', 'x509-fingerprint-sha256', sha256));
    if (sha1) xa.push(attribute(ctx, certUuid, 'x509-fingerprint-sha1', 'x509-fingerprint-sha1', sha1));
    if (md5) xa.push(attribute(ctx, certUuid, 'x509-fingerprint-md5', 'x509-fingerprint-md5', md5));
    if (f.x509_subject[0]) xa.push(attribute(ctx, certUuid, 'subject', 'text', f.x509_subject[0]));
    if (f.x509_issuer[0]) xa.push(attribute(ctx, certUuid, 'issuer', 'text', f.x509_issuer[0]));
    const nb = f.x509_not_before.find((d) => !Number.isNaN(Date.parse(d)));
    const na = f.x509_not_after.find((d) => !Number.isNaN(Date.parse(d)));
    if (nb) xa.push(attribute(ctx, certUuid, 'validity-not-before', 'datetime', isoMicro(nb)));
    if (na) xa.push(attribute(ctx, certUuid, 'validity-not-after', 'datetime', isoMicro(na)));
    if (f.x509_key_type[0]) xa.push(attribute(ctx, certUuid, 'pubkey-info-algorithm', 'text', f.x509_key_type[0]));
    if (f.x509_key_bits[0]) xa.push(attribute(ctx, certUuid, 'pubkey-info-size', 'text', f.x509_key_bits[0]));
    for (const n of uniq([...f.x509_subject_cn, ...f.x509_san]).filter(isHostname)) {
      xa.push(attribute(ctx, certUuid, 'dns_names', 'hostname', n.toLowerCase()));
    }
    const seenCert = new Set<string>();
    const certAttrs = xa.filter((a) => {
      const k = `${a.object_relation}\u0000${a.value}`;
      if (seenCert.has(k)) return false;
      seenCert.add(k);
      return true;
    });
    out.push(object(ctx, 'x509', certUuid, certAttrs, seen, `certificate on ${r.ip}:${r.port}/${r.protocol}`));
    (ipPort.ObjectReference as unknown[]).push({
      uuid: derivedUuid(ipPortUuid, 'ref', certUuid),
      object_uuid: ipPortUuid,
      referenced_uuid: certUuid,
      relationship_type: 'related-to',
      timestamp: ctx.timestamp,
      comment: 'certificate presented on this port',
    });
  }
  return out;
}

/**
 * A streaming writer of one MISP event: `head()`, then `object(record)` for each
 * observation (returns JSON text to write), then `tail()` which closes the
 * Object array and adds the Tag list collected on the way.
 */
export function createMispEventWriter(opts: MispEventOptions) {
  const now = opts.now ?? new Date();
  const eventUuid = opts.uuid ?? randomUUID();
  const ctx: Ctx = { eventUuid, timestamp: unix(now.toISOString()), distribution: opts.distribution ?? '0' };
  const tags = new Set<string>(opts.eventTags ?? ['tlp:amber']);
  let objects = 0;
  let attributes = 0;
  return {
    eventUuid,
    head(): string {
      const head = {
        uuid: eventUuid,
        info: opts.info,
        date: opts.date ?? now.toISOString().slice(0, 10),
        threat_level_id: '4',
        analysis: '2',
        distribution: ctx.distribution,
        sharing_group_id: '0',
        published: false,
        timestamp: ctx.timestamp,
        publish_timestamp: '0',
        proposal_email_lock: false,
        locked: false,
        disable_correlation: false,
        Orgc: { name: opts.orgName ?? 'Plum' },
        Attribute: [],
        ShadowAttribute: [],
        RelatedEvent: [],
        Galaxy: [],
      };
      const json = JSON.stringify({ Event: head });
      // Open the Object array inside the Event object: drop the closing braces.
      return `${json.slice(0, -2)},"Object":[`;
    },
    object(r: ExportRecord): string {
      const objs = mispObjectsFor(r, ctx);
      for (const t of r.tags) tags.add(toMispTag(t));
      let out = '';
      for (const o of objs) {
        out += `${objects === 0 ? '' : ','}\n${JSON.stringify(o)}`;
        objects++;
        attributes += o.Attribute.length;
      }
      return out;
    },
    tail(): string {
      const tagArr = [...tags].sort().map((name) => ({ name, exportable: true }));
      return `\n],"attribute_count":"${attributes}","Tag":${JSON.stringify(tagArr)}}}\n`;
    },
    get counts() {
      return { objects, attributes };
    },
  };
}

/** Whole event in memory (small exports, tests). */
export function buildMispEvent(records: Iterable<ExportRecord>, opts: MispEventOptions): { Event: Record<string, unknown> } {
  const w = createMispEventWriter(opts);
  let text = w.head();
  for (const r of records) text += w.object(r);
  text += w.tail();
  return JSON.parse(text) as { Event: Record<string, unknown> };
}
