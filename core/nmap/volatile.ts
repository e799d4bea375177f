import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PlumError } from '../errors.ts';
import { projectPath } from '../project-root.ts';

/*
 * The volatile list (rules/fingerprint/volatile.yaml): values that change
 * between two scans of an unchanged service. Loaded and compiled once; the
 * normalisation functions below are pure (same text + same list → same result)
 * and only ever touch the copy that is hashed, never the stored document.
 */

export const DEFAULT_VOLATILE_PATH = projectPath('rules', 'fingerprint', 'volatile.yaml');

const patternSchema = z.object({
  name: z.string().min(1),
  regex: z.string().min(1),
  marker: z.string(),
  flags: z
    .string()
    .regex(/^[gimsuy]*$/)
    .optional(),
  /**
   * A cheaper regex that matches a text exactly when `regex` does (never changes which texts are normalised, so
   * never a fingerprint): used only in the combined test that lets most texts skip the patterns.
   */
  prefilter: z.string().min(1).optional(),
});

export const volatileFileSchema = z.object({
  version: z.number().int().min(1).max(999),
  headers: z.array(z.string().min(1)).default([]),
  header_patterns: z.array(z.string().min(1)).default([]),
  cookies: z.boolean().default(true),
  keep_headers: z.array(z.string().min(1)).default([]),
  patterns: z.array(patternSchema).default([]),
  scripts: z.record(z.string(), z.union([z.literal('*'), z.array(z.string())])).default({}),
  exclude: z
    .object({
      port: z.array(z.string()).default([]),
      host: z.array(z.string()).default([]),
    })
    .default({ port: [], host: [] }),
});
export type VolatileFile = z.infer<typeof volatileFileSchema>;

export interface VolatileList {
  version: number;
  headers: ReadonlySet<string>;
  headerPatterns: readonly RegExp[];
  cookies: boolean;
  /** Headers whose values are meaningful dates or ids: never touched by the patterns. */
  keepHeaders: ReadonlySet<string>;
  patterns: readonly { name: string; re: RegExp; marker: string }[];
  /** All patterns in one regex: most strings match none, and are then scanned once instead of once per pattern. */
  anyPattern?: RegExp;
  /** script id → '*' (whole script) or lowercased keys. */
  scripts: ReadonlyMap<string, '*' | ReadonlySet<string>>;
  exclude: { port: readonly string[][]; host: readonly string[][] };
}

export function compileVolatileList(file: unknown, source = 'volatile list'): VolatileList {
  const r = volatileFileSchema.safeParse(file);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new PlumError('invalid_input', `${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, {
      hint: 'fix the file; see the comments at the top of rules/fingerprint/volatile.yaml',
    });
  }
  const f = r.data;
  const compile = (src: string, flags: string, what: string): RegExp => {
    try {
      return new RegExp(src, flags);
    } catch (e) {
      throw new PlumError('invalid_input', `${source}: invalid regular expression in ${what}: ${(e as Error).message}`, {
        hint: 'fix the regular expression (JavaScript syntax)',
      });
    }
  };
  return {
    version: f.version,
    headers: new Set(f.headers.map((h) => h.toLowerCase())),
    headerPatterns: f.header_patterns.map((p) => compile(`^(?:${p})$`, 'i', `header_patterns (${p})`)),
    cookies: f.cookies,
    keepHeaders: new Set(f.keep_headers.map((h) => h.toLowerCase())),
    patterns: f.patterns.map((p) => {
      // A prefilter is checked on its own first, so an invalid one is named in the error.
      if (p.prefilter !== undefined) compile(p.prefilter, 'i', `patterns.${p.name}.prefilter`);
      return { name: p.name, re: compile(p.regex, p.flags ?? 'gi', `patterns.${p.name}`), marker: p.marker };
    }),
    // Only when every pattern has the same case rule (else a prefilter could miss a match).
    anyPattern:
      f.patterns.length && f.patterns.every((p) => (p.flags ?? 'gi').includes('i'))
        ? compile(f.patterns.map((p) => `(?:${p.prefilter ?? p.regex})`).join('|'), 'i', 'patterns')
        : undefined,
    scripts: new Map(Object.entries(f.scripts).map(([id, v]) => [id, v === '*' ? '*' : new Set(v.map((k) => k.toLowerCase()))])),
    exclude: { port: f.exclude.port.map((p) => p.split('.')), host: f.exclude.host.map((p) => p.split('.')) },
  };
}

export function loadVolatileList(path: string = DEFAULT_VOLATILE_PATH): VolatileList {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PlumError('not_found', `cannot read the volatile list ${path}: ${(e as Error).message}`, {
      hint: 'restore rules/fingerprint/volatile.yaml or point to a readable file',
      cause: e,
    });
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new PlumError('invalid_input', `${path}: invalid YAML: ${(e as Error).message.split('\n')[0]}`, {
      hint: 'fix the YAML syntax',
    });
  }
  return compileVolatileList(data, path);
}

let cachedDefault: VolatileList | undefined;
/** The shipped list, loaded once. */
export function defaultVolatileList(): VolatileList {
  return (cachedDefault ??= loadVolatileList());
}

// ---------------------------------------------------------------------------
// Pure normalisation: in normalize.ts (no YAML or zod there, so the parse threads load it fast).

export * from './normalize.ts';
