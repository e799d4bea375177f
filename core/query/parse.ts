import ipaddr from 'ipaddr.js';
import type { CompareOp, QueryNode, TermNode } from './ast.ts';
import { foldCase } from './fold.ts';
import { FIELD_NAMES, getField, type FieldSpec, type MatchMode } from './registry.ts';
import { syntaxError, tokenize, type Token, type WordChar } from './tokenize.ts';

const MAX_DEPTH = 64;

const MODIFIERS: Record<string, MatchMode | 'not'> = {
  lk: 'substring',
  like: 'substring',
  bg: 'prefix',
  begin: 'prefix',
  not: 'not',
  nt: 'not',
};

const keywordOf = (t: Token | undefined): 'AND' | 'OR' | 'NOT' | undefined => {
  if (!t || t.kind !== 'word' || t.anyQuoted) return undefined;
  const u = t.text.toUpperCase();
  return u === 'AND' || u === 'OR' || u === 'NOT' ? u : undefined;
};

/**
 * Parses the structured query language (the predecessor's query language, without its
 * defects): `field[.modifier]:value` terms, implicit AND, `AND`/`OR`/`NOT`
 * (case-insensitive) with precedence NOT > AND > OR, parentheses, comma lists
 * as OR of values, shell quoting. Throws PlumError code 'syntax' whose
 * `details.position` is the 0-based offset of the problem.
 */
export function parseQuery(text: string): QueryNode {
  const tokens = tokenize(text);
  if (tokens.length === 0) throw syntaxError('empty query', 0, 'give at least one field:value term, e.g. port:443');
  let i = 0;
  let depth = 0;

  const parseOr = (): QueryNode => {
    const children = [parseAnd()];
    while (keywordOf(tokens[i]) === 'OR') {
      i++;
      children.push(parseAnd());
    }
    return children.length === 1 ? children[0]! : { type: 'or', children };
  };

  const startsUnary = (t: Token | undefined): boolean => {
    if (!t) return false;
    if (t.kind === 'lparen') return true;
    if (t.kind === 'rparen') return false;
    const kw = keywordOf(t);
    return kw === undefined || kw === 'NOT';
  };

  const parseAnd = (): QueryNode => {
    const children = [parseUnary()];
    for (;;) {
      if (keywordOf(tokens[i]) === 'AND') {
        i++;
        children.push(parseUnary());
      } else if (startsUnary(tokens[i])) {
        children.push(parseUnary()); // implicit AND
      } else break;
    }
    return children.length === 1 ? children[0]! : { type: 'and', children };
  };

  const parseUnary = (): QueryNode => {
    const t = tokens[i];
    if (keywordOf(t) === 'NOT') {
      i++;
      if (++depth > MAX_DEPTH) throw syntaxError('query nested too deeply', t!.pos);
      const child = parseUnary();
      depth--;
      return { type: 'not', child, position: t!.pos };
    }
    return parsePrimary();
  };

  const parsePrimary = (): QueryNode => {
    const t = tokens[i];
    if (!t) {
      const at = text.trimEnd().length;
      throw syntaxError('query ends where a term was expected', at, 'complete the query after the last operator');
    }
    if (t.kind === 'lparen') {
      i++;
      if (++depth > MAX_DEPTH) throw syntaxError('query nested too deeply', t.pos);
      if (tokens[i]?.kind === 'rparen') throw syntaxError('empty parentheses', t.pos, 'put a term inside the parentheses or remove them');
      const inner = parseOr();
      depth--;
      if (tokens[i]?.kind !== 'rparen') {
        throw syntaxError('unclosed parenthesis', t.pos, `add ')' to close the parenthesis opened at position ${t.pos}`);
      }
      i++;
      return inner;
    }
    if (t.kind === 'rparen') throw syntaxError("unexpected ')'", t.pos, "remove it or add the matching '('");
    const kw = keywordOf(t);
    if (kw) throw syntaxError(`unexpected ${kw}`, t.pos, `put a term before ${kw}`);
    i++;
    return parseTerm(t);
  };

  const node = parseOr();
  const rest = tokens[i];
  if (rest) {
    if (rest.kind === 'rparen') throw syntaxError("unexpected ')'", rest.pos, "remove it or add the matching '('");
    throw syntaxError('unexpected token', rest.pos);
  }
  return node;
}

type Word = Extract<Token, { kind: 'word' }>;

const textOf = (chars: WordChar[]) => chars.map((c) => c.c).join('');

/** Splits chars on an unquoted separator character. */
function splitUnquoted(chars: WordChar[], sep: string): WordChar[][] {
  const parts: WordChar[][] = [[]];
  for (const ch of chars) {
    if (!ch.quoted && ch.c === sep) parts.push([]);
    else parts[parts.length - 1]!.push(ch);
  }
  return parts;
}

function parseModifiers(parts: string[], at: number, spec: FieldSpec | undefined, fieldText: string): { mode: MatchMode; negate: boolean } {
  let mode: MatchMode = 'exact';
  let negate = false;
  for (const m of parts) {
    const mod = MODIFIERS[m.toLowerCase()];
    if (!mod) {
      throw syntaxError(`unknown modifier '.${m}' on ${fieldText}`, at, 'modifiers are .lk/.like (substring), .bg/.begin (prefix), .not/.nt (exclusion)');
    }
    if (mod === 'not') negate = !negate;
    else if (mode !== 'exact' && mode !== mod) throw syntaxError(`conflicting modifiers on ${fieldText}`, at, 'use either .lk or .bg, not both');
    else mode = mod;
  }
  if (spec && !spec.modes.includes(mode)) {
    const allowed = spec.modes.filter((x) => x !== 'exact').map((x) => (x === 'prefix' ? '.bg' : '.lk'));
    throw syntaxError(
      `${spec.name} does not take .${mode === 'prefix' ? 'bg' : 'lk'}`,
      at,
      allowed.length
        ? `${spec.name} accepts ${allowed.join(' and ')}`
        : `${spec.name} only matches exact values${spec.type === 'integer' || spec.type === 'date' ? ' and comparisons' : ''}`,
    );
  }
  return { mode, negate };
}

function parseTerm(word: Word): QueryNode {
  const chars = word.chars;
  // The field part ends at the first unquoted ':', '<', '>' or '='.
  let sepAt = chars.findIndex((c) => !c.quoted && (c.c === ':' || c.c === '<' || c.c === '>' || c.c === '='));
  if (sepAt <= 0) {
    if (sepAt === 0) throw syntaxError('missing field name', word.pos, 'write field:value, e.g. port:443');
    throw syntaxError(`expected field:value, got '${word.text}'`, word.pos, 'write field:value (e.g. http_title.lk:"index of"), or use --token for free text');
  }
  const fieldChars = chars.slice(0, sepAt);
  if (fieldChars.some((c) => c.quoted)) throw syntaxError('field names cannot be quoted', word.pos);
  const fieldText = textOf(fieldChars);
  const [rawName, ...mods] = fieldText.split('.');
  const name = rawName!.toLowerCase();
  const spec = getField(name);
  if (!spec) {
    throw syntaxError(`unknown field '${rawName}'`, word.pos, `valid fields: ${FIELD_NAMES.join(', ')}`);
  }
  const { mode, negate } = parseModifiers(mods, word.pos, spec, spec.name);

  // Operator: ':' alone, ':' followed by a comparison, or a bare comparison.
  let op: CompareOp = 'eq';
  const opChar = (k: number) => (chars[k] && !chars[k]!.quoted ? chars[k]!.c : '');
  let k = sepAt;
  if (opChar(k) === ':') {
    k++;
    if (spec.type === 'integer' || spec.type === 'date') {
      const r = readCompare(opChar(k), opChar(k + 1));
      if (r) {
        op = r.op;
        k += r.len;
      }
    }
  } else {
    const r = readCompare(opChar(k), opChar(k + 1));
    if (!r) throw syntaxError(`bad operator after ${spec.name}`, chars[k]!.pos, 'use ":" or a comparison (>, >=, <, <=)');
    op = r.op;
    k += r.len;
    if (op !== 'eq' && spec.type !== 'integer' && spec.type !== 'date') {
      throw syntaxError(`${spec.name} does not take comparisons`, chars[sepAt]!.pos, `write ${spec.name}:value`);
    }
  }
  if (op !== 'eq' && (spec.name === 'since' || spec.name === 'after' || spec.name === 'before')) {
    throw syntaxError(`${spec.name} does not take comparisons`, chars[sepAt]!.pos, `write ${spec.name}:value`);
  }
  if (op !== 'eq' && mode !== 'exact') throw syntaxError('comparisons cannot be combined with .lk or .bg', word.pos);

  const valueChars = chars.slice(k);
  const valuePos = valueChars[0]?.pos ?? word.end;
  let header: string | undefined;
  let termMode = mode;
  let listChars = valueChars;
  if (spec.name === 'http_headval') {
    const colon = valueChars.findIndex((c) => !c.quoted && c.c === ':');
    if (colon <= 0) {
      throw syntaxError('http_headval needs <header>:<value>', valuePos, 'write http_headval:server:nginx or http_headval:server.lk:nginx');
    }
    const hParts = splitUnquoted(valueChars.slice(0, colon), '.');
    header = foldCase(textOf(hParts[0]!).trim());
    if (!header) throw syntaxError('empty header name', valuePos, 'write http_headval:<header>:<value>');
    const hm = parseModifiers(hParts.slice(1).map(textOf), valueChars[0]!.pos, spec, 'http_headval');
    if (hm.mode !== 'exact') {
      if (termMode !== 'exact' && termMode !== hm.mode) throw syntaxError('conflicting modifiers on http_headval', word.pos);
      termMode = hm.mode;
    }
    if (hm.negate) throw syntaxError('put .not on the field (http_headval.not:...) rather than the header', valuePos);
    listChars = valueChars.slice(colon + 1);
  }

  const rawValues = splitUnquoted(listChars, ',');
  if (op !== 'eq' && rawValues.length > 1) throw syntaxError('a comparison takes one value', valuePos);
  const values: string[] = [];
  let at = listChars[0]?.pos ?? word.end;
  for (const part of rawValues) {
    const v = textOf(part);
    const pos = part[0]?.pos ?? at;
    if (v.length === 0) throw syntaxError(`empty value for ${spec.name}`, pos, `give a value, e.g. ${example(spec)}`);
    values.push(normaliseValue(spec, termMode, v, pos));
    at = (part[part.length - 1]?.pos ?? at) + 2;
  }
  const term: TermNode = { type: 'term', field: spec.name, mode: termMode, op, values, position: word.pos, end: word.end };
  if (header !== undefined) term.header = header;
  return negate ? { type: 'not', child: term, position: word.pos } : term;
}

function readCompare(a: string, b: string): { op: CompareOp; len: number } | undefined {
  if (a === '>' && b === '=') return { op: 'gte', len: 2 };
  if (a === '<' && b === '=') return { op: 'lte', len: 2 };
  if (a === '>') return { op: 'gt', len: 1 };
  if (a === '<') return { op: 'lt', len: 1 };
  if (a === '=') return { op: 'eq', len: 1 };
  return undefined;
}

function example(spec: FieldSpec): string {
  switch (spec.type) {
    case 'cidr':
      return spec.name === 'net' ? 'net:10.0.0.0/8' : 'ip:192.0.2.1';
    case 'integer':
      return spec.name === 'score' ? 'score>=60' : `${spec.name}:443`;
    case 'date':
      return spec.name === 'since' ? 'since:7' : `${spec.name}:2024-01-31`;
    default:
      return `${spec.name}:value`;
  }
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const TS_RE = /^\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(z|[+-]\d{2}:?\d{2})?$/;

function normaliseValue(spec: FieldSpec, mode: MatchMode, raw: string, pos: number): string {
  const v = foldCase(raw);
  if (spec.type === 'cidr') {
    if (mode !== 'exact') return v;
    try {
      if (v.includes('/')) {
        const [addr, bits] = ipaddr.parseCIDR(v);
        return `${networkOf(addr, bits).toString()}/${bits}`;
      }
      if (spec.name === 'net') {
        const addr = ipaddr.process(v);
        return `${addr.toString()}/${addr.kind() === 'ipv4' ? 32 : 128}`;
      }
      return ipaddr.process(v).toString();
    } catch {
      throw syntaxError(`'${raw}' is not an ${spec.name === 'net' ? 'IP network (CIDR)' : 'IP address or CIDR'}`, pos, `give e.g. ${example(spec)}`);
    }
  }
  if (spec.type === 'integer') {
    if (!/^\d{1,10}$/.test(v)) throw syntaxError(`'${raw}' is not a whole number`, pos, `give e.g. ${example(spec)}`);
    const num = Number(v);
    if (spec.name === 'port' && num > 65535) throw syntaxError(`port ${raw} is out of range`, pos, 'ports go from 0 to 65535');
    return String(num);
  }
  if (spec.type === 'date') {
    if (spec.name === 'since') {
      const m = /^(\d{1,5})([hdw]?)$/.exec(v);
      if (!m) throw syntaxError(`'${raw}' is not a number of days`, pos, 'give e.g. since:7 (days), since:12h or since:2w');
      const n = Number(m[1]);
      const hours = m[2] === 'h' ? n : m[2] === 'w' ? n * 24 * 7 : n * 24;
      return `${hours}h`;
    }
    if (DATE_RE.test(v) || TS_RE.test(v)) {
      const d = new Date(DATE_RE.test(v) ? `${v}T00:00:00Z` : v.replace(' ', 't').toUpperCase());
      if (!Number.isNaN(d.getTime())) return DATE_RE.test(v) ? v : d.toISOString();
    }
    throw syntaxError(`'${raw}' is not a date`, pos, 'give YYYY-MM-DD or an ISO timestamp, e.g. 2024-01-31 or 2024-01-31T12:00:00Z');
  }
  return v;
}

function networkOf(addr: ipaddr.IPv4 | ipaddr.IPv6, bits: number): ipaddr.IPv4 | ipaddr.IPv6 {
  const bytes = addr.toByteArray();
  for (let b = 0; b < bytes.length; b++) {
    const keep = Math.max(0, Math.min(8, bits - b * 8));
    bytes[b]! &= (0xff << (8 - keep)) & 0xff;
  }
  return ipaddr.fromByteArray(bytes);
}
