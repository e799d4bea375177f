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

interface Column { name: string; oid: number }

export function pgTimestampToDate(v: unknown): unknown {
  if (v === null || v === undefined || v instanceof Date) return v;
  if (typeof v !== 'string') return v;
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
    const cols = ((result as unknown as { columns?: { name: string; type: number }[] }).columns ?? [])
      .map((c) => ({ name: c.name, oid: c.type }));
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
  const touched = columns.filter((c) => TIMESTAMP_OIDS.has(c.oid) || TIMESTAMP_ARRAY_OIDS.has(c.oid)
    || c.oid === INT8 || c.oid === INT8_ARRAY || c.oid === BYTEA);
  if (touched.length === 0) return rows.map((r) => ({ ...r }));
  return rows.map((r) => {
    const out: Record<string, unknown> = { ...r };
    for (const c of touched) out[c.name] = convert(c.oid, r[c.name]);
    return out;
  });
}
