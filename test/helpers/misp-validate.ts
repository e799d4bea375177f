import ipaddr from 'ipaddr.js';

/**
 * Structural validation of a MISP event against MISP's published facts: the
 * core format (required keys, JSON types, enumerations), the attribute
 * type/category matrix (describeTypes) and object templates (misp-objects).
 * The facts are data (test/fixtures/misp/*), passed in, so the validator stays
 * pure and the facts stay traceable to their source.
 */

export interface MispShapeFacts {
  required: string[];
  types: Record<string, 'string' | 'boolean' | 'array' | 'object' | 'number'>;
}

export interface MispCoreFacts {
  event: MispShapeFacts;
  attribute: MispShapeFacts;
  object: MispShapeFacts;
  tag: MispShapeFacts;
  values: Record<string, string[]>;
  formats: Record<string, string>;
}

export interface MispDescribeTypes {
  sane_defaults: Record<string, { default_category: string; to_ids: number }>;
  category_type_mappings: Record<string, string[]>;
}

export interface MispTemplateFacts {
  name: string;
  uuid: string;
  version: number;
  'meta-category': string;
  required?: string[];
  requiredOneOf?: string[];
  attributes: Record<string, { 'misp-attribute': string; multiple?: boolean; categories?: string[] }>;
}

export interface MispFacts {
  core: MispCoreFacts;
  types: MispDescribeTypes;
  templates: MispTemplateFacts[];
}

const jsonType = (v: unknown): string => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);

function checkShape(where: string, value: unknown, shape: MispShapeFacts, errors: string[]): value is Record<string, unknown> {
  if (jsonType(value) !== 'object') {
    errors.push(`${where}: expected an object, got ${jsonType(value)}`);
    return false;
  }
  const obj = value as Record<string, unknown>;
  for (const key of shape.required) if (!(key in obj)) errors.push(`${where}: missing required key "${key}"`);
  for (const [key, v] of Object.entries(obj)) {
    const want = shape.types[key];
    // first_seen/last_seen may be null in MISP's own exports.
    if (want && !(v === null && (key === 'first_seen' || key === 'last_seen')) && jsonType(v) !== want) {
      errors.push(`${where}.${key}: expected ${want}, got ${jsonType(v)}`);
    }
  }
  return true;
}

/** Value syntax per attribute type, for the types Plum emits (others are accepted as non-empty strings). */
function checkValue(type: string, value: string, formats: Record<string, string>): string | undefined {
  if (value.trim() === '') return 'empty value';
  const hex = (n: number) => (new RegExp(`^[0-9a-f]{${n}}$`, 'i').test(value) ? undefined : `not ${n} hex digits`);
  switch (type) {
    case 'ip-dst':
    case 'ip-src':
      return ipaddr.isValid(value) ? undefined : 'not an IP address';
    case 'port': {
      const n = Number(value);
      return /^\d+$/.test(value) && n >= 0 && n <= 65535 ? undefined : 'not a port number';
    }
    case 'hostname':
    case 'domain':
      return /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]*[a-z0-9])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9])?)+$/i.test(value) ? undefined : 'not a host/domain name';
    case 'x509-fingerprint-md5':
      return hex(32);
    case 'x509-fingerprint-sha1':
      return hex(40);
    case 'x509-fingerprint-sha256':
      return hex(64);
    case 'datetime':
      return new RegExp(formats.iso8601!).test(value) ? undefined : 'not an ISO 8601 date-time';
    default:
      return undefined;
  }
}

function checkFormat(where: string, value: unknown, re: string | undefined, errors: string[]): void {
  if (typeof value === 'string' && re && !new RegExp(re).test(value)) errors.push(`${where}: "${value}" does not match ${re}`);
}

function checkAttribute(where: string, a: unknown, facts: MispFacts, errors: string[]): a is Record<string, unknown> {
  const { core, types } = facts;
  if (!checkShape(where, a, core.attribute, errors)) return false;
  const attr = a as Record<string, unknown>;
  const type = String(attr.type);
  const category = String(attr.category);
  if (!(type in types.sane_defaults) && !Object.values(types.category_type_mappings).some((l) => l.includes(type))) {
    errors.push(`${where}: unknown attribute type "${type}"`);
  }
  const allowed = types.category_type_mappings[category];
  if (!allowed) errors.push(`${where}: unknown or unexpected category "${category}"`);
  else if (!allowed.includes(type)) errors.push(`${where}: category "${category}" does not allow type "${type}"`);
  checkFormat(`${where}.uuid`, attr.uuid, core.formats.uuid, errors);
  checkFormat(`${where}.timestamp`, attr.timestamp, core.formats.timestamp, errors);
  checkFormat(`${where}.first_seen`, attr.first_seen, core.formats.iso8601, errors);
  checkFormat(`${where}.last_seen`, attr.last_seen, core.formats.iso8601, errors);
  if (typeof attr.distribution === 'string' && !core.values.distribution!.includes(attr.distribution)) {
    errors.push(`${where}.distribution: invalid value "${attr.distribution}"`);
  }
  if (typeof attr.value === 'string') {
    const bad = checkValue(type, attr.value, core.formats);
    if (bad) errors.push(`${where}.value: ${bad} ("${attr.value.slice(0, 60)}")`);
  }
  if (Array.isArray(attr.Tag)) attr.Tag.forEach((t, i) => checkShape(`${where}.Tag[${i}]`, t, core.tag, errors));
  return true;
}

/** Returns every problem found (empty = valid). */
export function validateMispEvent(doc: unknown, facts: MispFacts): string[] {
  const errors: string[] = [];
  const { core } = facts;
  if (jsonType(doc) !== 'object' || !('Event' in (doc as object))) return ['document: missing top-level "Event"'];
  const ev = (doc as { Event: unknown }).Event;
  if (!checkShape('Event', ev, core.event, errors)) return errors;
  const e = ev as Record<string, unknown>;
  checkFormat('Event.uuid', e.uuid, core.formats.uuid, errors);
  checkFormat('Event.date', e.date, core.formats.date, errors);
  checkFormat('Event.timestamp', e.timestamp, core.formats.timestamp, errors);
  for (const key of ['distribution', 'threat_level_id', 'analysis'] as const) {
    if (typeof e[key] === 'string' && !core.values[key]!.includes(e[key] as string)) errors.push(`Event.${key}: invalid value "${e[key]}"`);
  }
  const uuids = new Map<string, string>();
  const claim = (uuid: unknown, where: string) => {
    if (typeof uuid !== 'string') return;
    const prev = uuids.get(uuid);
    if (prev) errors.push(`${where}: uuid ${uuid} already used by ${prev}`);
    else uuids.set(uuid, where);
  };
  claim(e.uuid, 'Event');
  (Array.isArray(e.Tag) ? e.Tag : []).forEach((t, i) => checkShape(`Event.Tag[${i}]`, t, core.tag, errors));
  (Array.isArray(e.Attribute) ? e.Attribute : []).forEach((a, i) => {
    if (checkAttribute(`Event.Attribute[${i}]`, a, facts, errors)) claim((a as Record<string, unknown>).uuid, `Event.Attribute[${i}]`);
  });

  const byUuid = new Map(facts.templates.map((t) => [t.uuid, t]));
  const objects = Array.isArray(e.Object) ? e.Object : [];
  const objectUuids = new Set(objects.map((o) => (o as Record<string, unknown>)?.uuid));
  objects.forEach((o, i) => {
    const where = `Event.Object[${i}]`;
    if (!checkShape(where, o, core.object, errors)) return;
    const obj = o as Record<string, unknown>;
    claim(obj.uuid, where);
    checkFormat(`${where}.uuid`, obj.uuid, core.formats.uuid, errors);
    checkFormat(`${where}.timestamp`, obj.timestamp, core.formats.timestamp, errors);
    checkFormat(`${where}.first_seen`, obj.first_seen, core.formats.iso8601, errors);
    checkFormat(`${where}.last_seen`, obj.last_seen, core.formats.iso8601, errors);
    if (typeof obj.distribution === 'string' && !core.values.object_distribution!.includes(obj.distribution)) {
      errors.push(`${where}.distribution: invalid value "${obj.distribution}"`);
    }
    const tpl = byUuid.get(String(obj.template_uuid));
    if (!tpl) {
      errors.push(`${where}: unknown template_uuid ${String(obj.template_uuid)}`);
      return;
    }
    if (obj.name !== tpl.name) errors.push(`${where}.name: "${String(obj.name)}" but template ${tpl.uuid} is "${tpl.name}"`);
    if (obj.template_version !== String(tpl.version))
      errors.push(`${where}.template_version: "${String(obj.template_version)}", template is version ${tpl.version}`);
    if (obj['meta-category'] !== tpl['meta-category'])
      errors.push(`${where}.meta-category: "${String(obj['meta-category'])}", template says "${tpl['meta-category']}"`);
    const relations = new Map<string, number>();
    const attrs = Array.isArray(obj.Attribute) ? obj.Attribute : [];
    attrs.forEach((a, j) => {
      const aw = `${where}.Attribute[${j}]`;
      if (!checkAttribute(aw, a, facts, errors)) return;
      const attr = a as Record<string, unknown>;
      claim(attr.uuid, aw);
      const rel = String(attr.object_relation ?? '');
      const def = tpl.attributes[rel];
      if (!def) {
        errors.push(`${aw}: object_relation "${rel}" is not in template ${tpl.name}`);
        return;
      }
      relations.set(rel, (relations.get(rel) ?? 0) + 1);
      if (attr.type !== def['misp-attribute']) errors.push(`${aw}: relation "${rel}" must have type "${def['misp-attribute']}", got "${String(attr.type)}"`);
      if (def.categories && !def.categories.includes(String(attr.category))) {
        errors.push(`${aw}: relation "${rel}" allows categories ${def.categories.join(', ')}, got "${String(attr.category)}"`);
      }
    });
    for (const [rel, n] of relations) {
      if (n > 1 && !tpl.attributes[rel]!.multiple) errors.push(`${where}: relation "${rel}" appears ${n} times but is not multiple in template ${tpl.name}`);
    }
    for (const req of tpl.required ?? []) if (!relations.has(req)) errors.push(`${where}: template ${tpl.name} requires "${req}"`);
    if (tpl.requiredOneOf && !tpl.requiredOneOf.some((r) => relations.has(r))) {
      errors.push(`${where}: template ${tpl.name} requires one of ${tpl.requiredOneOf.join(', ')}`);
    }
    (Array.isArray(obj.ObjectReference) ? obj.ObjectReference : []).forEach((ref, k) => {
      const r = ref as Record<string, unknown>;
      const rw = `${where}.ObjectReference[${k}]`;
      for (const key of ['object_uuid', 'referenced_uuid', 'relationship_type']) if (typeof r?.[key] !== 'string') errors.push(`${rw}: missing ${key}`);
      if (r?.object_uuid !== obj.uuid) errors.push(`${rw}: object_uuid must be the containing object's uuid`);
      if (typeof r?.referenced_uuid === 'string' && !objectUuids.has(r.referenced_uuid))
        errors.push(`${rw}: referenced_uuid ${r.referenced_uuid} is not in the event`);
    });
  });
  if (typeof e.attribute_count === 'string') {
    const total =
      objects.reduce((n: number, o) => n + ((o as { Attribute?: unknown[] }).Attribute?.length ?? 0), 0) +
      (Array.isArray(e.Attribute) ? e.Attribute.length : 0);
    if (Number(e.attribute_count) !== total) errors.push(`Event.attribute_count: "${e.attribute_count}" but the event holds ${total} attributes`);
  }
  return errors;
}
