import path from 'node:path';
import { z } from 'zod';
import { PlumError } from './errors.ts';

/**
 * The one configuration schema. It is parsed once at start-up (cli/main.ts,
 * workers/*) from the environment; leaf modules receive the parsed object and
 * never read process.env themselves.
 */
const optionalString = z.string().trim().min(1).optional().or(z.literal('').transform(() => undefined));

export const configSchema = z.object({
  PLUM_HOME: z.string().trim().min(1).default('./.plum'),
  /** postgres://... — when set, the server driver is used instead of embedded PGlite. */
  PLUM_DATABASE_URL: optionalString.refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), {
    message: 'must be a postgres:// or postgresql:// URL',
  }),
  PLUM_MEILI_URL: optionalString.refine((v) => v === undefined || /^https?:\/\//.test(v), {
    message: 'must be an http:// or https:// URL',
  }),
  PLUM_MEILI_KEY: optionalString,
  PLUM_MEILI_INDEX: z.string().trim().min(1).default('plum_ports'),
  PLUM_TEMPORAL_ADDRESS: optionalString,
  PLUM_TEMPORAL_NAMESPACE: z.string().trim().min(1).default('default'),
  PLUM_TEMPORAL_TASK_QUEUE: z.string().trim().min(1).default('plum-server'),
  PLUM_TEMPORAL_SCAN_QUEUE: z.string().trim().min(1).default('plum-scan'),
  PLUM_NMAP: z.string().trim().min(1).default('nmap'),
  PLUM_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'),
  /** Days raw nmap XML is kept; 0 keeps it forever. */
  PLUM_RAW_RETENTION_DAYS: z.coerce.number().int().min(0).default(90),
  /** Tag rules synced into the database by `plum rules apply` (default: the shipped rules/ directory). */
  PLUM_RULES_DIR: optionalString,
  /** Score weights and bands (default: rules/score.yaml). */
  PLUM_SCORE_FILE: optionalString,
  /** nmap's favicon database, a fact source for the rules. */
  PLUM_FAVICON_DB: z.string().trim().min(1).default('/usr/share/nmap/nselib/data/favicon-db'),
  /** Webhooks may POST to loopback, link-local and private addresses (refused by default: core/report/webhook-destination.ts). */
  PLUM_WEBHOOK_ALLOW_PRIVATE: z.enum(['', '0', '1', 'false', 'true']).optional().transform((v) => v === '1' || v === 'true'),
  /** Requests a minute per key on the expensive API routes (search, investigations, uploads). */
  PLUM_API_EXPENSIVE_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  PLUM_SMTP_URL: optionalString,
  PLUM_SMTP_FROM: optionalString,
});

export type PlumConfigInput = z.input<typeof configSchema>;
export type PlumConfig = z.output<typeof configSchema> & {
  /** PLUM_HOME resolved to an absolute path. */
  home: string;
};

/** Parses the environment once; fails fast with one readable line naming the variable. */
export function loadConfig(env: Record<string, string | undefined>, cwd = process.cwd()): PlumConfig {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(configSchema.shape)) picked[key] = env[key];
  const parsed = configSchema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'configuration');
    throw new PlumError('usage', `invalid ${name}: ${issue.message}`, {
      hint: `fix or unset ${name} in the environment`,
    });
  }
  return { ...parsed.data, home: path.resolve(cwd, parsed.data.PLUM_HOME) };
}
