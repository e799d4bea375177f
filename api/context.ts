import type { OpenAPIHono } from '@hono/zod-openapi';
import type { PlumConfig } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../store/index.ts';
import type { AgentInfo } from '../store/repos/agents.ts';
import type { ApiKeyInfo, ApiKeyRole } from '../store/repos/apikeys.ts';

/** Limits the server enforces; every one has a safe default. */
export interface ApiLimits {
  /** Largest JSON request body (bytes). */
  jsonBodyBytes: number;
  /** Largest agent result upload as sent, compressed or not (bytes). */
  uploadBytes: number;
  /** Largest agent result once gunzipped (bytes): a small gzip bomb cannot fill memory. */
  uploadInflatedBytes: number;
  /** Requests per minute and per key on expensive routes (search, investigations, uploads). */
  expensivePerMinute: number;
  /** SSE: how often the event feed looks for new rows (ms), and keep-alive comments (ms). */
  ssePollMs: number;
  sseKeepAliveMs: number;
  /** SSE: open event streams allowed per API key, and on the whole server (429 beyond). */
  sseStreamsPerKey: number;
  sseStreamsTotal: number;
}

export const DEFAULT_LIMITS: ApiLimits = {
  jsonBodyBytes: 1024 * 1024,
  uploadBytes: 64 * 1024 * 1024,
  uploadInflatedBytes: 512 * 1024 * 1024,
  expensivePerMinute: 60,
  ssePollMs: 1000,
  sseKeepAliveMs: 15_000,
  sseStreamsPerKey: 8,
  sseStreamsTotal: 64,
};

/**
 * Services the routes call that depend on how the server runs (embedded runner
 * or Temporal). `plum serve` fills them; routes whose service is absent answer
 * 503 `unavailable` with a hint instead of pretending.
 */
export interface ApiServices {
  /** Starts an urgent investigation; returns the run id at once (the work continues in the background). */
  startInvestigation?: (input: {
    targets: string[];
    tcpPorts?: string;
    udpPorts?: string;
    scripts?: string[];
    reason?: string;
    requestedBy: string;
  }) => Promise<{ runId: string }>;
  /** Asks a run to stop (cancellation reaches nmap child processes). */
  cancelRun?: (runId: string) => Promise<void>;
  /** Called after a profile is created, changed or deleted, so its schedule follows. */
  profileChanged?: (profileId: string) => Promise<void>;
  /**
   * Distributed mode: refuses (throws) an agent's claim of a job that Temporal did not dispatch to it, at that
   * attempt. Absent in embedded mode, where the claim rules of store/repos/jobs.ts alone apply.
   */
  verifyJobClaim?: (claim: { jobId: string; workflowId: string | null; agent: string; attempt: number }) => Promise<void>;
  /** Distributed mode with PLUM_LEGACY_BOT_API: the bridge holding the predecessor agents' jobs' attempts. */
  legacyBridge?: import('../workers/legacy-bridge.ts').LegacyBridgeHooks;
  /** Ingest options used for agent uploads (tag rules, score, search indexing). */
  ingestDeps?: import('../store/ingest.ts').IngestDeps;
}

export interface ApiDeps {
  store: Store;
  config: PlumConfig;
  log?: Logger;
  limits?: Partial<ApiLimits>;
  services?: ApiServices;
  /** Wakes event streams when events commit (without it they poll every ssePollMs). */
  events?: import('../store/events-signal.ts').EventsSignal;
}

/** Who made the request, once authenticated. */
export type Principal = { kind: 'key'; key: ApiKeyInfo; role: ApiKeyRole; name: string } | { kind: 'agent'; agent: AgentInfo; tokenId: string; name: string };

export interface ApiEnv {
  Variables: {
    requestId: string;
    principal: Principal;
    deps: ResolvedDeps;
  };
}

export interface ResolvedDeps extends ApiDeps {
  log: Logger;
  limits: ApiLimits;
  services: ApiServices;
}

export type ApiApp = OpenAPIHono<ApiEnv>;
