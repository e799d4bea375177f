import { PlumError } from '../errors.ts';
import { checkHostDocument, type LegacyHost, type Nmap2jsonHostDocument } from './map.ts';

/*
 * The predecessor's files → checked host documents, with where each came from.
 * Accepted shapes: a JSON array of host documents (a stored job result), NDJSON
 * (one document per line), one host document, or an object wrapping one list of
 * them (a search export: `{"hits": [...]}`, `{"results": [...]}`…).
 */

const HINT = "give the predecessor's stored results (one JSON list of nmap2json host documents per job) or its search exports";

export interface CheckedDocument {
  doc: Nmap2jsonHostDocument;
  /** "host document 3" or "host document 3 (line 7)", for messages. */
  where: string;
}

/** Line and column (1-based) of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: offset - start + 1 };
}

/**
 * Offset of the first syntax error in JSON text, or undefined when it is valid.
 * Only called once JSON.parse has failed: V8 does not always say where.
 */
export function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail();
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail();
      }
    }
    if (c === '"') return string();
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 64));
    if (!m) fail();
    i += m![0].length;
  };
  const string = () => {
    i++;
    for (;;) {
      if (i >= text.length) fail();
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail();
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail();
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail();
      } else i++;
    }
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return undefined;
  } catch (e) {
    if (typeof e === 'number') return Math.min(e, text.length);
    throw e;
  }
}

function syntaxError(source: string, text: string): PlumError {
  const offset = jsonErrorOffset(text) ?? text.length;
  const { line, column } = lineColumn(text, offset);
  const found = offset >= text.length ? 'the text ends too early' : `unexpected ${JSON.stringify(text[offset])}`;
  return new PlumError('parse_error', `${source} is not valid JSON at line ${line}, column ${column}: ${found}`, { hint: HINT });
}

/** The list a parsed file holds: itself, one document, or the one list an object wraps. */
function listOf(value: unknown, source: string): { items: unknown[]; single: boolean } {
  if (Array.isArray(value)) return { items: value, single: false };
  if (value !== null && typeof value === 'object') {
    if ('addr' in value || 'ports' in value) return { items: [value], single: true };
    const lists = Object.entries(value).filter(([, v]) => Array.isArray(v));
    if (lists.length === 1) return { items: lists[0]![1] as unknown[], single: false };
    throw new PlumError(
      'parse_error',
      `${source} is a JSON object ${lists.length ? `with ${lists.length} lists (${lists.map(([k]) => k).join(', ')})` : 'without a list'}, not a list of host documents`,
      { hint: HINT },
    );
  }
  throw new PlumError('parse_error', `${source} holds a JSON ${value === null ? 'null' : typeof value}, not a list of host documents`, { hint: HINT });
}

/**
 * Every host document of one file's text, checked (nothing is imported from a
 * file with one bad document). `source` names the file in messages.
 */
export function readNmap2jsonText(text: string, source: string): CheckedDocument[] {
  const body = text.replace(/^\uFEFF/, '');
  const first = /\S/.exec(body);
  if (!first) throw new PlumError('parse_error', `${source} is empty`, { hint: HINT });
  if (first[0] === '<') {
    throw new PlumError('parse_error', `${source} is not JSON (it starts with "<")`, { hint: 'nmap XML is imported without --format nmap2json' });
  }
  let parsed: unknown;
  let whole = true;
  try {
    parsed = JSON.parse(body);
  } catch {
    whole = false;
  }
  if (whole) {
    const { items, single } = listOf(parsed, source);
    return items.map((v, i) => {
      const where = single ? 'the host document' : `host document ${i + 1}`;
      return { doc: checkHostDocument(v, `${source}: ${where}`), where };
    });
  }
  // NDJSON (one document per line) when the first line is a whole object by itself; otherwise one broken JSON text.
  const lines = body.split('\n');
  const firstLine = lines.find((l) => l.trim() !== '')!;
  let ndjson = false;
  try {
    const v: unknown = JSON.parse(firstLine);
    ndjson = v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    // not NDJSON
  }
  if (!ndjson) throw syntaxError(source, body);
  const out: CheckedDocument[] = [];
  let n = 0;
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    n++;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      const offset = jsonErrorOffset(line) ?? line.length;
      throw new PlumError(
        'parse_error',
        `${source} is not valid NDJSON at line ${i + 1}, column ${offset + 1}: ` +
          `${offset >= line.length ? 'the line ends too early' : `unexpected ${JSON.stringify(line[offset])}`}`,
        { hint: HINT },
      );
    }
    const where = `host document ${n} (line ${i + 1})`;
    out.push({ doc: checkHostDocument(v, `${source}: ${where}`), where });
  }
  return out;
}

/** A host's scan time in epoch seconds (start, else end), or undefined. */
export function scanTimeOf(doc: Nmap2jsonHostDocument): number | undefined {
  for (const v of [doc.starttime, doc.endtime]) {
    if (v === null || v === undefined || v === '') continue;
    const n = Number(v);
    if (Number.isFinite(n)) return n;
  }
  return undefined;
}

/**
 * Hosts in scan order, in rounds where each address appears at most once: a
 * search export lists one address once per sighting, and one ingest keeps only
 * the last listing of an address (store/ingest-hosts.ts), so each further
 * sighting of an address goes to the next round and is imported after it.
 * Hosts without a time keep their place after the dated ones. Pure.
 */
export function listingRounds<H extends Pick<LegacyHost, 'ip'>>(hosts: { host: H; time: number | undefined }[]): H[][] {
  const ordered = hosts.map((h, i) => ({ ...h, i })).sort((a, b) => (a.time ?? Number.POSITIVE_INFINITY) - (b.time ?? Number.POSITIVE_INFINITY) || a.i - b.i);
  const rounds: H[][] = [];
  const seen = new Map<string, number>();
  for (const { host } of ordered) {
    const k = seen.get(host.ip) ?? 0;
    seen.set(host.ip, k + 1);
    (rounds[k] ??= []).push(host);
  }
  return rounds;
}
