import type { SearchFields } from '../core/fields.ts';
import { diffLabel, type FieldDiff } from '../core/history/diff.ts';
import { DEFAULT_FLAPPING, parseFlapping, type FlappingRule } from '../core/history/flapping.ts';
import { renderReportMarkdown } from '../core/report/markdown.ts';
import {
  emptyChanges,
  zeroChangeCounts,
  type ChangeType,
  type FieldChange,
  type ReportChange,
  type ReportHost,
  type ReportModel,
  type ReportPeriod,
  type ReportService,
} from '../core/report/model.ts';
import { resolvePeriod, type PeriodOptions } from '../core/report/period.ts';
import { scoreHost, type ScoreConfig, type ScoreResult } from '../core/score.ts';
import type { StoreSession } from '../store/index.ts';
import { hostScoreInputs } from '../store/repos/host-score.ts';
import { runStatusInPeriod } from '../store/repos/runs.ts';
import { eventsInPeriod, type StoredEvent } from '../store/repos/observation-events.ts';
import {
  compileQueryFilter,
  observationRowsById,
  queryWhere,
  REPORT_COLUMNS,
  scanMatching,
  scoreFeaturesById,
  type ObservationRow,
} from '../store/repos/observation-rows.ts';

/**
 * Reports and exports over the store: one pass over the observations that
 * overlap the period (and the previous one), filtered by the query with the
 * same evaluator tag rules use, folded into the report model; the events of
 * both periods for appeared/changed/gone/reappeared. Rendering is pure
 * (core/report/markdown.ts), so preview and scheduled runs print the same text.
 */

export interface ReportOptions {
  title?: string;
  description?: string;
  query?: string;
  period: ReportPeriod;
  /** Max hosts listed (0 = all). */
  hostLimit?: number;
  now?: Date;
  /** Score weights (rules/score.yaml): host scores then come from scoreHost; else the highest port score. */
  scoreConfig?: ScoreConfig;
  /** PLUM_FLAPPING (default 3/7d). */
  flapping?: FlappingRule;
}

/** One line from the host score: the features that contribute most, with their values. */
export function explainScoreResult(r: ScoreResult): string {
  const parts = r.features
    .filter((f) => f.contribution > 0)
    .sort((a, b) => b.contribution - a.contribution || a.name.localeCompare(b.name))
    .slice(0, 4)
    .map((f) => {
      const v = Array.isArray(f.value) ? f.value.join(' ') : f.value;
      return `${f.name.replace(/_/g, ' ')} +${f.contribution}${v !== null && v !== '' && v !== undefined ? ` (${v})` : ''}`;
    });
  return parts.length ? `${r.band}: ${parts.join(', ')}` : `${r.band}: no exposure feature scored`;
}

interface SlotAgg {
  protocol: string;
  port: number;
  hosts: Set<string>;
  prevHosts: Set<string>;
  services: Map<string, number>;
}

/** Labels of the fields a `changed` entry compares, in display order. */
const DIFF_FIELDS: Array<[string, (f: SearchFields) => string[]]> = [
  ['service', (f) => [[...f.service_name, ...f.service_product, ...f.service_version].join(' ')].filter(Boolean)],
  ['title', (f) => f.http_title],
  ['server', (f) => f.http_server],
  ['certificate subject', (f) => f.x509_subject_cn],
  ['certificate names', (f) => f.x509_san],
  ['certificate issuer', (f) => (f.x509_issuer_cn.length ? f.x509_issuer_cn : f.x509_issuer)],
  ['certificate expiry', (f) => f.x509_not_after],
  ['certificate SHA-256', (f) => f.x509_sha256],
  ['favicon hash', (f) => f.http_favicon_mmhash],
  ['banner', (f) => f.banner],
  ['cookies', (f) => f.http_cookiename],
];

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((v, i) => v === b[i]);

export function diffObservations(oldR: { fields: SearchFields; tags: string[] }, newR: { fields: SearchFields; tags: string[] }): FieldChange[] {
  const out: FieldChange[] = [];
  for (const [label, get] of DIFF_FIELDS) {
    const o = [...new Set(get(oldR.fields))];
    const n = [...new Set(get(newR.fields))];
    if (!sameList(o, n)) out.push({ label, old: o, new: n });
  }
  const ot = [...oldR.tags].sort();
  const nt = [...newR.tags].sort();
  if (!sameList(ot, nt)) out.push({ label: 'tags', old: ot, new: nt });
  return out;
}

/** One line describing what is on a port. */
export function summarise(f: SearchFields): string {
  const parts: string[] = [];
  const svc = [f.service_name[0], f.service_product[0], f.service_version[0]].filter(Boolean).join(' ');
  if (svc) parts.push(svc);
  if (f.http_title[0]) parts.push(`title "${f.http_title[0]}"`);
  if (f.http_server[0]) parts.push(`server ${f.http_server[0]}`);
  if (f.x509_subject_cn[0]) parts.push(`cert ${f.x509_subject_cn[0]}`);
  if (!parts.length && f.banner[0]) parts.push(f.banner[0]);
  return parts.join(', ');
}

/**
 * One-line score explanation from the features stored with the port's score.
 * Accepts the shapes a scorer may store: `{features:[{label|name, points|weight}]}`,
 * `[{…}]`, or `{name: points}`.
 */
export function explainScore(score: number, features: Record<string, unknown> | unknown[] | null | undefined): string {
  const items: Array<{ label: string; points: number }> = [];
  const push = (label: unknown, points: unknown) => {
    const p = typeof points === 'number' ? points : Number(points);
    if (typeof label === 'string' && label && Number.isFinite(p) && p !== 0) items.push({ label, points: p });
  };
  const list = Array.isArray(features)
    ? features
    : Array.isArray((features as { features?: unknown })?.features)
      ? (features as { features: unknown[] }).features
      : undefined;
  if (list) {
    for (const it of list) {
      const o = it as Record<string, unknown>;
      push(o.label ?? o.reason ?? o.name ?? o.feature ?? o.id, o.contribution ?? o.points ?? o.weight ?? o.score ?? o.value);
    }
  } else if (features && typeof features === 'object') {
    for (const [k, v] of Object.entries(features)) if (typeof v === 'number') push(k, v);
  }
  if (items.length === 0) return score > 0 ? `score ${score}` : 'no exposure feature scored';
  items.sort((a, b) => Math.abs(b.points) - Math.abs(a.points) || a.label.localeCompare(b.label));
  const shown = items.slice(0, 4).map((i) => `${i.label} (${i.points > 0 ? '+' : ''}${i.points})`);
  return `${shown.join(', ')}${items.length > 4 ? `, +${items.length - 4} more` : ''}`;
}

const HOSTLIKE = /^(?=.{1,253}$)[a-z0-9_*]([a-z0-9_-]*[a-z0-9])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9])?)+\.?$/i;

/** Sortable text for an address (computed once per host, not in the comparator). */
function ipSortKey(ip: string): string {
  if (ip.includes(':')) return `6${ip}`;
  return `4${ip
    .split('.')
    .map((p) => p.padStart(3, '0'))
    .join('.')}`;
}

type EventRow = StoredEvent;

/** Builds the report model for a query and period (and the previous period of the same length). */
export async function buildReportModel(store: StoreSession, opts: ReportOptions): Promise<ReportModel> {
  const now = opts.now ?? new Date();
  const p = opts.period;
  const match = compileQueryFilter(opts.query, now);
  const where = queryWhere(opts.query, now);
  const from = new Date(p.from).getTime();
  const to = new Date(p.to).getTime();
  const prevFrom = new Date(p.previousFrom).getTime();

  const slots = new Map<string, SlotAgg>();
  const hosts = new Map<string, { services: Map<string, ObservationRow>; tags: Set<string> }>();
  const curPorts = new Set<string>();
  const prevHosts = new Set<string>();
  const prevPorts = new Set<string>();
  let curObs = 0;
  let prevObs = 0;
  const tagHosts = new Map<string, Set<string>>();
  const tagPorts = new Map<string, Set<string>>();
  const jobs = new Set<string>();
  const runIds = new Set<string>();

  // One pass over every observation overlapping [previousFrom, to).
  for await (const r of scanMatching(store, where, { overlapping: { from: p.previousFrom, to: p.to }, columns: REPORT_COLUMNS })) {
    const fs = r.first_seen.getTime();
    const ls = r.last_seen.getTime();
    const inCur = fs < to && ls >= from;
    const inPrev = fs < from && ls >= prevFrom;
    const slotKey = `${r.protocol}/${r.port}`;
    const portKey = `${r.ip}|${slotKey}`;
    let slot = slots.get(slotKey);
    if (!slot) {
      slot = { protocol: r.protocol, port: r.port, hosts: new Set(), prevHosts: new Set(), services: new Map() };
      slots.set(slotKey, slot);
    }
    if (inPrev) {
      prevObs++;
      prevHosts.add(r.ip);
      prevPorts.add(portKey);
      slot.prevHosts.add(r.ip);
    }
    if (!inCur) continue;
    curObs++;
    curPorts.add(portKey);
    slot.hosts.add(r.ip);
    const svc = r.fields.service_name[0];
    if (svc) slot.services.set(svc, (slot.services.get(svc) ?? 0) + 1);
    if (r.last_job_id) jobs.add(r.last_job_id);
    if (r.last_run_id) runIds.add(r.last_run_id);
    let h = hosts.get(r.ip);
    if (!h) {
      h = { services: new Map(), tags: new Set() };
      hosts.set(r.ip, h);
    }
    // Several fingerprints of one port in the period: show the latest.
    const prev = h.services.get(slotKey);
    if (!prev || prev.last_seen.getTime() < ls || (prev.last_seen.getTime() === ls && prev.id < r.id)) h.services.set(slotKey, r);
    for (const t of r.tags) {
      h.tags.add(t);
      let th = tagHosts.get(t);
      if (!th) tagHosts.set(t, (th = new Set()));
      th.add(r.ip);
      let tp = tagPorts.get(t);
      if (!tp) tagPorts.set(t, (tp = new Set()));
      tp.add(portKey);
    }
  }

  // Hosts, highest score first.
  const hostList: ReportHost[] = [];
  const topPortOf = new Map<string, string>();
  for (const [ip, h] of hosts) {
    const rows = [...h.services.values()].sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
    let top: ObservationRow | undefined;
    for (const r of rows) if (!top || r.score > top.score) top = r;
    const services: ReportService[] = rows.map((r) => {
      const svc = [r.fields.service_name[0], r.fields.service_product[0], r.fields.service_version[0]].filter(Boolean).join(' ');
      return {
        protocol: r.protocol,
        port: r.port,
        service: svc || undefined,
        title: r.fields.http_title[0],
        server: r.fields.http_server[0],
        tags: [...r.tags].sort(),
        score: r.score,
        firstSeen: r.first_seen.toISOString(),
        lastSeen: r.last_seen.toISOString(),
        ...(r.current && r.state === 'closed' ? { closed: true } : {}),
      };
    });
    const requested = new Set<string>();
    const ptr = new Set<string>();
    const cert = new Set<string>();
    for (const r of rows) {
      r.fields.fqdn_requested.forEach((n) => requested.add(n));
      r.fields.ptr.forEach((n) => ptr.add(n));
      [...r.fields.x509_subject_cn, ...r.fields.x509_san].filter((n) => HOSTLIKE.test(n)).forEach((n) => cert.add(n.toLowerCase()));
    }
    // the host score (scoreHost) when the weights are known; otherwise the highest port score
    // (the device is as exposed as its most exposed service).
    let score = top?.score ?? 0;
    // Filled below from the top port's stored score features (read only for the hosts shown).
    let scoreExplanation = top ? `${top.port}/${top.protocol}` : 'no open port';
    if (top && !opts.scoreConfig) topPortOf.set(ip, top.id);
    hostList.push({
      ip,
      score,
      scoreExplanation,
      tags: [...h.tags].sort(),
      names: { requested: [...requested].sort(), ptr: [...ptr].sort(), certificate: [...cert].sort() },
      services,
      firstSeen: new Date(Math.min(...rows.map((r) => r.first_seen.getTime()))).toISOString(),
      lastSeen: new Date(Math.max(...rows.map((r) => r.last_seen.getTime()))).toISOString(),
    });
  }
  if (opts.scoreConfig && hostList.length) {
    // The same inputs and function as `plum explain` (store/repos/host-score.ts): the two never disagree.
    const inputs = await hostScoreInputs(
      store,
      hostList.map((h) => h.ip),
      now,
    );
    for (const h of hostList) {
      const res = scoreHost(inputs.get(h.ip) ?? [], opts.scoreConfig);
      h.score = res.score;
      h.scoreExplanation = explainScoreResult(res);
    }
  }
  const ipKeys = new Map(hostList.map((h) => [h.ip, ipSortKey(h.ip)]));
  hostList.sort((a, b) => b.score - a.score || b.services.length - a.services.length || (ipKeys.get(a.ip)! < ipKeys.get(b.ip)! ? -1 : 1));
  const limit = opts.hostLimit ?? 0;
  const shownHosts = limit > 0 ? hostList.slice(0, limit) : hostList;
  if (topPortOf.size) {
    const wanted = shownHosts.map((h) => topPortOf.get(h.ip)).filter((id): id is string => !!id);
    const features = await scoreFeaturesById(store, wanted);
    for (const h of shownHosts) {
      const id = topPortOf.get(h.ip);
      if (id) h.scoreExplanation = `${h.scoreExplanation}: ${explainScore(h.score, features.get(id))}`;
    }
  }

  // Changes in the period, and counts in the previous period.
  const flapping = opts.flapping ?? parseFlapping(DEFAULT_FLAPPING);
  const events = await eventsInPeriod(store, new Date(p.from), new Date(p.to), flapping);
  const prevEvents = await eventsInPeriod(store, new Date(p.previousFrom), new Date(p.previousTo), flapping);
  const obsById = await observationRowsById(
    store,
    [...events, ...prevEvents].flatMap((e) => [e.observation_id, ...(e.previous_observation_id ? [e.previous_observation_id] : [])]),
  );
  const eventMatches = (e: EventRow) => {
    const o = obsById.get(e.observation_id);
    const po = e.previous_observation_id ? obsById.get(e.previous_observation_id) : undefined;
    return (o !== undefined && match(o)) || (po !== undefined && match(po));
  };
  const changes = emptyChanges();
  // A flapping port's gone/reappeared events: one line per port, under `gone`, with how often it went and came back.
  const flaps = new Map<string, { c: ReportChange; gone: number; back: number }>();
  for (const e of events) {
    if (!eventMatches(e)) continue;
    if (e.flapping) {
      const key = `${e.ip}/${e.protocol}/${e.port}`;
      let f = flaps.get(key);
      if (!f) {
        f = { c: { type: 'gone', ip: e.ip, protocol: e.protocol, port: e.port, at: e.at.toISOString() }, gone: 0, back: 0 };
        flaps.set(key, f);
        changes.gone.push(f.c);
      }
      if (e.type === 'gone') f.gone++;
      else f.back++;
      f.c.summary = `flapping: went away ${f.gone} and came back ${f.back} time${f.back === 1 ? '' : 's'} in the period`;
      continue;
    }
    const o = obsById.get(e.observation_id)!;
    const po = e.previous_observation_id ? obsById.get(e.previous_observation_id) : undefined;
    const c: ReportChange = { type: e.type, ip: e.ip, protocol: e.protocol, port: e.port, at: e.at.toISOString(), summary: summarise(o.fields) || undefined };
    // What ingest stored (volatile values aside), and the tags rules gave each row; events stored before ingest
    // kept diffs: computed from both rows.
    if (e.type === 'changed') {
      const computed = po ? diffObservations(po, o) : [];
      c.fields = e.changes
        ? [...e.changes.map((d) => ({ label: diffLabel(d.field), old: d.old, new: d.new })), ...computed.filter((f) => f.label === 'tags')]
        : computed;
    }
    changes[e.type].push(c);
  }
  const previousChangeCounts = zeroChangeCounts();
  for (const e of prevEvents) if (eventMatches(e)) previousChangeCounts[e.type]++;

  // Coverage: runs that finished in the period, and those that did not complete.
  const runRows = await runStatusInPeriod(store, p.from, p.to);
  const notes: string[] = [];
  let runs = 0;
  let lastScan: number | undefined;
  for (const r of runRows) {
    runs += Number(r.n);
    if (r.last) lastScan = Math.max(lastScan ?? 0, new Date(r.last).getTime());
    if (r.status === 'failed' || r.status === 'cancelled' || r.status === 'partial') {
      notes.push(
        `${r.n} run${Number(r.n) === 1 ? '' : 's'} ${r.status === 'partial' ? 'completed only partially' : r.status}; their targets may be under-reported.`,
      );
    }
    if (r.status === 'running' || r.status === 'queued')
      notes.push(`${r.n} run${Number(r.n) === 1 ? ' was' : 's were'} still ${r.status} when the report was generated.`);
  }
  // Imports and runs started before the period still contribute observations.
  runs = Math.max(runs, runIds.size);
  if (limit > 0 && hostList.length > limit) notes.push(`Only the ${limit} highest-scoring hosts are listed.`);

  return {
    title: opts.title ?? `Plum exposure report${opts.query?.trim() ? `: ${opts.query.trim()}` : ''}`,
    description: opts.description,
    query: opts.query?.trim() ?? '',
    generatedAt: now.toISOString(),
    period: p,
    totals: { hosts: hosts.size, ports: curPorts.size, observations: curObs },
    previousTotals: { hosts: prevHosts.size, ports: prevPorts.size, observations: prevObs },
    portCounts: [...slots.values()]
      .filter((s) => s.hosts.size > 0)
      .map((s) => ({
        protocol: s.protocol,
        port: s.port,
        service: [...s.services.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0],
        hosts: s.hosts.size,
        previousHosts: s.prevHosts.size,
      }))
      .sort((a, b) => b.hosts - a.hosts || a.port - b.port || a.protocol.localeCompare(b.protocol)),
    changes,
    previousChangeCounts,
    hosts: shownHosts,
    hostsOmitted: hostList.length - shownHosts.length,
    tagCounts: [...tagHosts.entries()]
      .map(([tag, hs]) => ({ tag, hosts: hs.size, ports: tagPorts.get(tag)!.size }))
      .sort((a, b) => b.hosts - a.hosts || b.ports - a.ports || a.tag.localeCompare(b.tag)),
    coverage: { runs, jobs: jobs.size, lastScanAt: lastScan !== undefined ? new Date(lastScan).toISOString() : undefined, notes },
  };
}

/** Model + Markdown for an ad-hoc report (`plum report`). */
export async function generateReport(
  store: StoreSession,
  opts: Omit<ReportOptions, 'period'> & PeriodOptions & { period?: ReportPeriod },
): Promise<{ model: ReportModel; markdown: string }> {
  const now = opts.now ?? new Date();
  const period = opts.period ?? resolvePeriod(opts, now);
  const model = await buildReportModel(store, { ...opts, period, now });
  return { model, markdown: renderReportMarkdown(model) };
}
