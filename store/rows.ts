/**
 * Makes raw query results look the same on postgres.js and PGlite. drizzle's
 * drivers leave date/time columns as text (they map them themselves for typed
 * queries), and the two clients differ on int8 and bytea, so raw rows are
 * normalised here by column type OID.
 */
const TIMESTAMP_OIDS = new Set([1114, 1184]);
const TIMESTAMP_ARRAY_OIDS = new Set([1115, 1185]);
const INT8 = 20;
const INT8_ARRAY = 1016;
const BYTEA = 17;

interface Column {
  name: string;
  oid: number;
}

/** The digit at s[i], or -1. */
function digit(s: string, i: number): number {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : -1;
}

/** The two-digit number at s[i], or -1. */
function twoDigits(s: string, i: number): number {
  const a = digit(s, i);
  const b = digit(s, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

/**
 * `YYYY-MM-DD HH:MM:SS[.f…]+00`, what a server in UTC (and PGlite) writes for
 * timestamptz, read without a regular expression or Date's string parser:
 * ingest reads three timestamps per known observation, and `new Date(text)`
 * took 400 ns of them against ~100 (bench/ingest.ts stable pass). Anything
 * else returns undefined and goes the general way.
 */
function utcTimestamp(v: string): Date | undefined {
  const n = v.length;
  if (
    n < 22 ||
    n > 29 ||
    v.charCodeAt(4) !== 45 ||
    v.charCodeAt(7) !== 45 ||
    v.charCodeAt(10) !== 32 ||
    v.charCodeAt(13) !== 58 ||
    v.charCodeAt(16) !== 58 ||
    v.charCodeAt(n - 3) !== 43 ||
    v.charCodeAt(n - 2) !== 48 ||
    v.charCodeAt(n - 1) !== 48
  )
    return undefined;
  let ms = 0;
  if (n > 22) {
    // A fraction of 1 to 6 digits: milliseconds are its first three (Date keeps no more; `new Date` truncates too).
    if (v.charCodeAt(19) !== 46 || n === 23) return undefined;
    for (let i = 20, scale = 100; i < n - 3; i++, scale /= 10) {
      const d = digit(v, i);
      if (d < 0) return undefined;
      if (scale >= 1) ms += d * scale;
    }
  }
  let y = 0;
  for (let i = 0; i < 4; i++) {
    const d = digit(v, i);
    if (d < 0) return undefined;
    y = y * 10 + d;
  }
  const mo = twoDigits(v, 5),
    da = twoDigits(v, 8),
    h = twoDigits(v, 11),
    mi = twoDigits(v, 14),
    se = twoDigits(v, 17);
  // Date.UTC reads years 0-99 as 1900-1999: such dates (and anything out of range) go the general way.
  if (y < 100 || mo < 1 || mo > 12 || da < 1 || da > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59) return undefined;
  const t = Date.UTC(y, mo - 1, da, h, mi, se, ms);
  const d = new Date(t);
  // 31 February and the like: left to the general parser, whose answer they always got.
  return d.getUTCDate() === da ? d : undefined;
}

export function pgTimestampToDate(v: unknown): unknown {
  if (v === null || v === undefined || v instanceof Date) return v;
  if (typeof v !== 'string') return v;
  const fast = utcTimestamp(v);
  if (fast !== undefined) return fast;
  if (v === 'infinity' || v === '-infinity') return v;
  // 2026-11-23 12:00:00.123+00 → 2026-11-23T12:00:00.123+00:00
  let s = v.replace(' ', 'T');
  if (/[+-]\d\d$/.test(s)) s += ':00';
  else if (!/([+-]\d\d:?\d\d|Z)$/.test(s)) s += 'Z';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? v : d;
}

function columnsOf(result: unknown): { rows: Record<string, unknown>[]; columns: Column[] } {
  if (Array.isArray(result)) {
    const cols = ((result as unknown as { columns?: { name: string; type: number }[] }).columns ?? []).map((c) => ({ name: c.name, oid: c.type }));
    return { rows: result as Record<string, unknown>[], columns: cols };
  }
  const r = result as { rows?: Record<string, unknown>[]; fields?: { name: string; dataTypeID: number }[] };
  return { rows: r.rows ?? [], columns: (r.fields ?? []).map((f) => ({ name: f.name, oid: f.dataTypeID })) };
}

function convert(oid: number, v: unknown): unknown {
  if (v === null || v === undefined) return v;
  if (TIMESTAMP_OIDS.has(oid)) return pgTimestampToDate(v);
  if (TIMESTAMP_ARRAY_OIDS.has(oid)) return Array.isArray(v) ? v.map(pgTimestampToDate) : v;
  if (oid === INT8) return typeof v === 'bigint' || typeof v === 'string' ? Number(v) : v;
  if (oid === INT8_ARRAY) return Array.isArray(v) ? v.map((x) => (x === null ? x : Number(x))) : v;
  if (oid === BYTEA) return Buffer.isBuffer(v) ? v : v instanceof Uint8Array ? Buffer.from(v) : v;
  return v;
}

export function normaliseRows(result: unknown): Record<string, unknown>[] {
  const { rows, columns } = columnsOf(result);
  const touched = columns.filter(
    (c) => TIMESTAMP_OIDS.has(c.oid) || TIMESTAMP_ARRAY_OIDS.has(c.oid) || c.oid === INT8 || c.oid === INT8_ARRAY || c.oid === BYTEA,
  );
  if (touched.length === 0) return rows.map((r) => ({ ...r }));
  return rows.map((r) => {
    const out: Record<string, unknown> = { ...r };
    for (const c of touched) out[c.name] = convert(c.oid, r[c.name]);
    return out;
  });
}
