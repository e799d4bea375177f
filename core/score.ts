import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PlumError } from './errors.ts';
import { projectPath } from './project-root.ts';

/**
 * The exposure score: a deterministic weighted sum of named features, each
 * normalised to 0..1. Pure functions over tags and times; weights and bands
 * come from rules/score.yaml. Contributions are whole numbers that add up
 * exactly to the score, so `plum explain` can show where every point comes from.
 */

export const DEFAULT_SCORE_FILE = projectPath('rules', 'score.yaml');

export const PORT_FEATURES = [
  'sensitive_service',
  'management_interface',
  'vulnerability_tags',
  'certificate_problems',
  'newly_appeared',
  'recently_changed',
] as const;
export const HOST_FEATURES = [...PORT_FEATURES, 'open_ports'] as const;
export type PortFeature = (typeof PORT_FEATURES)[number];
export type HostFeature = (typeof HOST_FEATURES)[number];

const unit = z.number().min(0).max(1);
const weight = z.number().min(0).max(100);

function weightsSchema<K extends string>(names: readonly K[]) {
  const shape = Object.fromEntries(names.map((n) => [n, weight])) as Record<K, typeof weight>;
  return z.strictObject(shape).refine((w) => Math.abs((Object.values(w) as number[]).reduce((a, b) => a + b, 0) - 100) < 1e-9, {
    message: 'weights must add up to 100',
  });
}

export const scoreConfigSchema = z.strictObject({
  version: z.number().int().optional(),
  port: z.strictObject({ weights: weightsSchema(PORT_FEATURES) }),
  host: z.strictObject({ weights: weightsSchema(HOST_FEATURES) }),
  service_classes: z.record(z.string(), unit),
  management_tags: z.array(z.string()).min(1),
  vulnerability: z.strictObject({
    prefix: z.string().min(1),
    default_weight: unit,
    weights: z.record(z.string(), unit).default({}),
  }),
  certificate_problems: z.record(z.string(), unit),
  newly_appeared_days: z.number().positive(),
  recently_changed_days: z.number().positive(),
  open_ports_saturation: z.number().int().min(1),
  bands: z
    .array(z.strictObject({ name: z.string().min(1), min: z.number().min(0).max(100) }))
    .min(1)
    .refine((b) => b.some((x) => x.min === 0), { message: 'one band must start at min 0' }),
});

export type ScoreConfig = z.output<typeof scoreConfigSchema>;

export function parseScoreConfig(text: string, file = 'score.yaml'): ScoreConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new PlumError('invalid_input', `${file}: not valid YAML: ${(e as Error).message.split('\n')[0]}`, {
      hint: 'fix the YAML syntax of the score configuration',
    });
  }
  const parsed = scoreConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PlumError('invalid_input', `${file}: ${issue.path.join('.') || 'file'}: ${issue.message}`, {
      hint: 'see the comments in rules/score.yaml for the expected shape',
    });
  }
  return { ...parsed.data, bands: [...parsed.data.bands].sort((a, b) => b.min - a.min) };
}

/** The score weights file a configuration names: PLUM_SCORE_FILE, else rules/score.yaml. */
export function scoreFileOf(config: { PLUM_SCORE_FILE?: string | undefined }): string {
  return config.PLUM_SCORE_FILE ?? DEFAULT_SCORE_FILE;
}

/** Reads and checks a score weights file; callers pass scoreFileOf(config) so PLUM_SCORE_FILE is honoured everywhere. */
export async function loadScoreConfig(file: string): Promise<ScoreConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new PlumError('not_found', `cannot read score configuration ${file}: ${(e as Error).message}`, {
      hint: 'set PLUM_SCORE_FILE to an existing file, or unset it to use rules/score.yaml',
      cause: e,
    });
  }
  return parseScoreConfig(text, file);
}

export interface FeatureScore {
  name: string;
  /** The raw value the feature looked at (a tag, a list of tags, days, a count). */
  value: string | number | string[] | null;
  normalized: number;
  weight: number;
  /** Points of the score this feature gives; all contributions add up to `score`. */
  contribution: number;
  /** Share of the score, in percent (0 when the score is 0). */
  percent: number;
}

export interface ScoreResult {
  score: number;
  band: string;
  features: FeatureScore[];
}

/** What a port's score looks at. Times are ISO strings or Dates. */
export interface PortScoreInput {
  tags: readonly string[];
  /** When the slot (ip/protocol/port) first appeared: scan time. */
  firstSeen?: string | Date | null;
  /** When the slot's fingerprint last changed (a `changed` event), if ever: scan time. */
  changedAt?: string | Date | null;
  /**
   * The time judged at: now, when the score is computed. Not the observation's last_seen: an old scan
   * imported today would then be judged at its own time and look new.
   */
  at: string | Date;
}

const DAY = 86_400_000;
const ms = (v: string | Date) => (v instanceof Date ? v.getTime() : Date.parse(v));
const round3 = (n: number) => Math.round(n * 1000) / 1000;
const round1 = (n: number) => Math.round(n * 10) / 10;

function fade(since: string | Date | null | undefined, at: string | Date, days: number): { value: number | null; normalized: number } {
  if (since === null || since === undefined) return { value: null, normalized: 0 };
  const t = ms(since);
  const a = ms(at);
  if (Number.isNaN(t) || Number.isNaN(a)) return { value: null, normalized: 0 };
  const age = Math.max(0, (a - t) / DAY);
  // Past the window the feature no longer counts, and its value stops moving (null): the stored score of an
  // old, unchanged port is then the same at every sighting, and a stable ingest with rules leaves its wide
  // port_observations row alone (with the age as value, every sighting rewrote every row, forever).
  if (age >= days) return { value: null, normalized: 0 };
  return { value: round1(age), normalized: round3(Math.max(0, 1 - age / days)) };
}

type Raw = { value: FeatureScore['value']; normalized: number };

/** The features whose value fades with the time judged at (`fade`). */
const DECAYING: readonly string[] = ['newly_appeared', 'recently_changed'] satisfies PortFeature[];

/**
 * Whether a port score judged now would be judged differently later with nothing else changed: a decaying
 * feature is inside its window. Past both windows the score stays as it is until an event (a new fingerprint
 * or a change) opens a window again, so a stable sighting need not rescore the port.
 */
export function scoreMovesWithTime(s: Pick<ScoreResult, 'features'>): boolean {
  return s.features.some((f) => DECAYING.includes(f.name) && f.value !== null);
}

/** Each service class tag's level and place in score.yaml, and the management tags, looked up once per config. */
interface TagLookup {
  classes: Map<string, { level: number; order: number }>;
  management: Set<string>;
}
const tagLookups = new WeakMap<ScoreConfig, TagLookup>();
function tagLookup(cfg: ScoreConfig): TagLookup {
  let l = tagLookups.get(cfg);
  if (!l) {
    l = {
      classes: new Map(Object.entries(cfg.service_classes).map(([t, level], order) => [t, { level, order }])),
      management: new Set(cfg.management_tags),
    };
    tagLookups.set(cfg, l);
  }
  return l;
}

/** The per-port feature values (before weighting). One pass over the port's tags: it runs for every document scored. */
export function portFeatureValues(input: PortScoreInput, cfg: ScoreConfig): Record<PortFeature, Raw> {
  const { classes, management } = tagLookup(cfg);
  const prefix = cfg.vulnerability.prefix;
  // Highest level wins; on a tie, the class listed first in score.yaml.
  let best: string | null = null;
  let bestLevel = 0;
  let bestOrder = Infinity;
  const mgmt: string[] = [];
  const vulns: string[] = [];
  const certs: string[] = [];
  for (const t of input.tags) {
    const c = classes.get(t);
    if (c && (c.level > bestLevel || (c.level === bestLevel && c.level > 0 && c.order < bestOrder))) {
      best = t;
      bestLevel = c.level;
      bestOrder = c.order;
    }
    if (management.has(t)) mgmt.push(t);
    if (t.startsWith(prefix)) vulns.push(t);
    if (t.startsWith('x509:') && Object.hasOwn(cfg.certificate_problems, t.slice(5))) certs.push(t.slice(5));
  }
  mgmt.sort();
  vulns.sort();
  certs.sort();
  const vulnSum = vulns.reduce((s, t) => s + (cfg.vulnerability.weights[t] ?? cfg.vulnerability.default_weight), 0);
  const certLevel = Math.max(0, ...certs.map((p) => cfg.certificate_problems[p]!));
  return {
    sensitive_service: { value: best, normalized: bestLevel },
    management_interface: { value: mgmt, normalized: mgmt.length > 0 ? 1 : 0 },
    vulnerability_tags: { value: vulns, normalized: round3(Math.min(1, vulnSum)) },
    certificate_problems: { value: certs, normalized: certLevel },
    newly_appeared: fade(input.firstSeen, input.at, cfg.newly_appeared_days),
    recently_changed: fade(input.changedAt, input.at, cfg.recently_changed_days),
  };
}

/**
 * Weighted sum with whole-number contributions (largest remainder): the
 * contributions add up exactly to the rounded score; ties go to the earlier feature.
 */
function combine(raw: Record<string, Raw>, weights: Record<string, number>, names: readonly string[], cfg: ScoreConfig): ScoreResult {
  const exact = names.map((n) => raw[n]!.normalized * weights[n]!);
  const total = Math.min(100, Math.round(exact.reduce((a, b) => a + b, 0) + 1e-9));
  const floors = exact.map((e) => Math.floor(e + 1e-9));
  let left = total - floors.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => ({ i, r: e - floors[i]! })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    floors[i]!++;
    left--;
  }
  const features = names.map((n, i) => ({
    name: n,
    value: raw[n]!.value,
    normalized: raw[n]!.normalized,
    weight: weights[n]!,
    contribution: floors[i]!,
    percent: total === 0 ? 0 : round1((floors[i]! / total) * 100),
  }));
  return { score: total, band: bandOf(total, cfg), features };
}

export function bandOf(score: number, cfg: ScoreConfig): string {
  return (cfg.bands.find((b) => score >= b.min) ?? cfg.bands[cfg.bands.length - 1]!).name;
}

export function scorePort(input: PortScoreInput, cfg: ScoreConfig): ScoreResult {
  return combine(portFeatureValues(input, cfg), cfg.port.weights, PORT_FEATURES, cfg);
}

/**
 * A host's score over its currently open ports: each port feature takes its
 * strongest value among the ports (the value shown is that port's), plus the
 * number of open ports on a log scale.
 */
export function scoreHost(ports: readonly PortScoreInput[], cfg: ScoreConfig): ScoreResult {
  const raw: Record<string, Raw> = {
    sensitive_service: { value: null, normalized: 0 },
    management_interface: { value: [], normalized: 0 },
    vulnerability_tags: { value: [], normalized: 0 },
    certificate_problems: { value: [], normalized: 0 },
    newly_appeared: { value: null, normalized: 0 },
    recently_changed: { value: null, normalized: 0 },
  };
  for (const p of ports) {
    const v = portFeatureValues(p, cfg);
    for (const f of PORT_FEATURES) if (v[f].normalized > raw[f]!.normalized) raw[f] = v[f];
  }
  const n = ports.length;
  raw.open_ports = {
    value: n,
    normalized: round3(Math.min(1, Math.log1p(n) / Math.log1p(cfg.open_ports_saturation))),
  };
  return combine(raw, cfg.host.weights, HOST_FEATURES, cfg);
}
