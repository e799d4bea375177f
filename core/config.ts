import { DEFAULT_FLAPPING, parseFlapping } from './history/flapping.ts';
import path from 'node:path';
import { z } from 'zod';
import { PlumError } from './errors.ts';
import { checkOidcConfig, parseRoleMap } from './oidc.ts';

/**
 * The one configuration schema. It is parsed once at start-up (cli/main.ts,
 * workers/*) from the environment; leaf modules receive the parsed object and
 * never read process.env themselves.
 */
const optionalString = z
  .string()
  .trim()
  .min(1)
  .optional()
  .or(z.literal('').transform(() => undefined));

/** A Temporal duration such as 500ms, 30s, 2m or 1h. */
const temporalDuration = z
  .string()
  .trim()
  .regex(/^\d+(ms|s|m|h)$/, { message: 'must be a duration such as 500ms, 30s, 2m or 1h' });

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
  /** Time without a heartbeat after which an nmap job counts as lost and is retried on another agent. */
  PLUM_TEMPORAL_HEARTBEAT_TIMEOUT: temporalDuration.default('2m'),
  /** First wait before a failed or lost nmap job is retried (doubling up to 10 minutes). */
  PLUM_TEMPORAL_RETRY_INTERVAL: temporalDuration.default('10s'),
  /** Jobs one workflow execution handles before continuing as new (keeps histories small). */
  PLUM_TEMPORAL_JOBS_PER_EXECUTION: z.coerce.number().int().min(1).max(10_000).default(500),
  /** TLS to the Temporal frontend: on by itself (system CAs), implied by any of the files below. */
  PLUM_TEMPORAL_TLS: z
    .enum(['', 'true', 'false', '1', '0'])
    .default('')
    .transform((v) => v === 'true' || v === '1'),
  /** PEM file of the CA that signed the frontend's certificate (default: the system CAs). */
  PLUM_TEMPORAL_TLS_CA: optionalString,
  /** PEM files of the client certificate and key (mTLS). */
  PLUM_TEMPORAL_TLS_CERT: optionalString,
  PLUM_TEMPORAL_TLS_KEY: optionalString,
  /** Name to verify the frontend's certificate against, when it differs from the address's host. */
  PLUM_TEMPORAL_TLS_SERVER_NAME: optionalString,
  /** API key sent to the frontend (Temporal Cloud); implies TLS. */
  PLUM_TEMPORAL_API_KEY: optionalString,
  /** Addresses per nmap job (the planner's upper bound, 256); smaller jobs spread a small range over more agents. */
  PLUM_JOB_SIZE: z.coerce.number().int().min(1).max(256).default(256),
  PLUM_NMAP: z.string().trim().min(1).default('nmap'),
  /** The TLS scanner's program (profiles with scanner sslscan). */
  PLUM_SSLSCAN: z.string().trim().min(1).default('sslscan'),
  /** masscan, the scouting stage of two-stage profiles (on the agents, or in-process when embedded). */
  PLUM_MASSCAN: z.string().trim().min(1).default('masscan'),
  /** Packets a second a scouting job may send at most; a profile asking for more is refused when the job starts. */
  PLUM_MASSCAN_MAX_RATE: z.coerce.number().int().min(1).max(10_000_000).default(10_000),
  /** The interface, router MAC and source address masscan sends from (default: masscan's choice from the default route). */
  PLUM_MASSCAN_INTERFACE: optionalString,
  PLUM_MASSCAN_ROUTER_MAC: optionalString.refine((v) => v === undefined || /^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(v), {
    message: 'must be a MAC address such as 02:00:00:00:00:01',
  }),
  PLUM_MASSCAN_SOURCE_IP: optionalString,
  /** Seconds masscan waits for late answers after its last probe. */
  PLUM_MASSCAN_WAIT: z.coerce.number().int().min(0).max(60).default(5),
  /** Addresses per scouting job (masscan sweeps large blocks at once; the nmap stage is cut by PLUM_JOB_SIZE). */
  PLUM_SCOUT_JOB_SIZE: z.coerce.number().int().min(1).max(65_536).default(4096),
  PLUM_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'),
  /** Days raw nmap XML is kept; 0 keeps it forever. */
  PLUM_RAW_RETENTION_DAYS: z.coerce.number().int().min(0).default(90),
  /** Runs a trigger profile may start per hour (its rolling last hour); firings beyond wait for the next, never dropped. */
  PLUM_TRIGGER_RUNS_PER_HOUR: z.coerce.number().int().min(1).max(3600).default(6),
  /** Tag rules synced into the database by `plum rules apply` (default: the shipped rules/ directory). */
  PLUM_RULES_DIR: optionalString,
  /** Score weights and bands (default: rules/score.yaml). */
  PLUM_SCORE_FILE: optionalString,
  /** nmap's favicon database, a fact source for the rules. */
  PLUM_FAVICON_DB: z.string().trim().min(1).default('/usr/share/nmap/nselib/data/favicon-db'),
  /** Webhooks may POST to loopback, link-local and private addresses (refused by default: core/report/webhook-destination.ts). */
  PLUM_WEBHOOK_ALLOW_PRIVATE: z
    .enum(['', '0', '1', 'false', 'true'])
    .optional()
    .transform((v) => v === '1' || v === 'true'),
  /** Requests a minute per key on the expensive API routes (search, investigations, uploads). */
  PLUM_API_EXPENSIVE_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  /** The predecessor's agent protocol (/bot_api/beacon, getjob, sndjob): off unless set. */
  PLUM_LEGACY_BOT_API: z
    .enum(['', '0', '1', 'false', 'true'])
    .optional()
    .transform((v) => v === '1' || v === 'true'),
  /** Seconds a predecessor agent may hold a job without sending its result before the job is offered again (on Temporal: the attempt's start-to-close timeout). */
  PLUM_LEGACY_JOB_TIMEOUT: z.coerce.number().int().min(1).default(7200),
  /** Distributed mode: seconds between the legacy bridge's heartbeats of the jobs it holds (how soon a cancellation reaches them). */
  PLUM_LEGACY_BRIDGE_HEARTBEAT: z.coerce.number().int().min(1).max(3600).default(30),
  PLUM_SMTP_URL: optionalString,
  PLUM_SMTP_FROM: optionalString,
  /** Web session cookies carry Secure: `auto` when the request came over HTTPS (or X-Forwarded-Proto says so). */
  PLUM_WEB_SECURE_COOKIES: z.enum(['auto', 'always', 'never']).default('auto'),
  /** Single sign-on (docs/web.md): the OpenID Connect issuer, discovered at ISSUER/.well-known/openid-configuration. */
  PLUM_OIDC_ISSUER: optionalString.refine((v) => v === undefined || /^https?:\/\//.test(v), { message: 'must be an http(s) URL' }),
  PLUM_OIDC_CLIENT_ID: optionalString,
  /** The client secret, or a file holding it (PLUM_OIDC_CLIENT_SECRET_FILE, read when the web starts). */
  PLUM_OIDC_CLIENT_SECRET: optionalString,
  PLUM_OIDC_CLIENT_SECRET_FILE: optionalString,
  /** Where the provider sends the browser back: this server's public URL + /login/oidc/callback. */
  PLUM_OIDC_REDIRECT_URL: optionalString.refine((v) => v === undefined || /^https?:\/\/[^/]+\/(.*\/)?login\/oidc\/callback$/.test(v), {
    message: "must be this server's URL ending in /login/oidc/callback",
  }),
  PLUM_OIDC_SCOPES: z.string().trim().min(1).default('openid profile email'),
  /** The claim (a dotted path) whose values PLUM_OIDC_ROLES maps to roles. */
  PLUM_OIDC_ROLE_CLAIM: z.string().trim().min(1).default('groups'),
  /** VALUE=ROLE pairs, e.g. plum-admins=admin,soc=viewer; an identity matching none is refused. */
  PLUM_OIDC_ROLES: optionalString.transform((v, ctx) => {
    if (v === undefined) return undefined;
    try {
      return parseRoleMap(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  }),
  /** The provider's name on the login page's button ("Sign in with …"). */
  PLUM_OIDC_NAME: z.string().trim().min(1).max(60).default('single sign-on'),
  /** Local accounts (name and password) on the login page; `false` leaves single sign-on only. */
  PLUM_WEB_LOCAL_LOGIN: z
    .enum(['', '0', '1', 'false', 'true'])
    .optional()
    .transform((v) => !(v === '0' || v === 'false')),
  /** Base URL of the Temporal UI, for links from a run's page (distributed mode). */
  PLUM_TEMPORAL_UI_URL: optionalString.refine((v) => v === undefined || /^https?:\/\//.test(v), { message: 'must be an http(s) URL' }),
  /** When a port counts as flapping: COUNT/WINDOW, that many `gone` within the window (core/history/flapping.ts). */
  PLUM_FLAPPING: z
    .string()
    .default(DEFAULT_FLAPPING)
    .transform((v, ctx) => {
      try {
        return parseFlapping(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    }),
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
  const d = parsed.data;
  if (Boolean(d.PLUM_TEMPORAL_TLS_CERT) !== Boolean(d.PLUM_TEMPORAL_TLS_KEY)) {
    const missing = d.PLUM_TEMPORAL_TLS_CERT ? 'PLUM_TEMPORAL_TLS_KEY' : 'PLUM_TEMPORAL_TLS_CERT';
    throw new PlumError('usage', `invalid ${missing}: a client certificate needs both PLUM_TEMPORAL_TLS_CERT and PLUM_TEMPORAL_TLS_KEY`, {
      hint: `set ${missing} to the PEM file, or unset both for TLS without a client certificate`,
    });
  }
  checkOidcConfig(d);
  return { ...parsed.data, home: path.resolve(cwd, parsed.data.PLUM_HOME) };
}

/** masscan's settings (core/masscan/args.ts) from the configuration. */
export function masscanSettingsOf(config: PlumConfig): { maxRate: number; waitSeconds: number; interface?: string; routerMac?: string; sourceIp?: string } {
  return {
    maxRate: config.PLUM_MASSCAN_MAX_RATE,
    waitSeconds: config.PLUM_MASSCAN_WAIT,
    ...(config.PLUM_MASSCAN_INTERFACE ? { interface: config.PLUM_MASSCAN_INTERFACE } : {}),
    ...(config.PLUM_MASSCAN_ROUTER_MAC ? { routerMac: config.PLUM_MASSCAN_ROUTER_MAC } : {}),
    ...(config.PLUM_MASSCAN_SOURCE_IP ? { sourceIp: config.PLUM_MASSCAN_SOURCE_IP } : {}),
  };
}
