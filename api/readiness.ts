import type { ResolvedDeps } from './context.ts';
import { databaseAnswers } from '../store/health.ts';

/*
 * /readyz: whether this process can do its work now. Each dependency it is configured with gets one probe,
 * bounded by a short timeout so a hung dependency answers "timeout" instead of hanging the probe (an
 * orchestrator's probe gives up after a few seconds and would then report nothing useful).
 */

export type CheckState = 'ok' | 'failed' | 'timeout';

export interface ReadinessCheck {
  name: 'database' | 'temporal' | 'meilisearch';
  run(signal: AbortSignal): Promise<void>;
}

export const READINESS_TIMEOUT_MS = 2000;

/** The probes of this server's configuration: always the database; Temporal and Meilisearch when configured. */
export function readinessChecks(deps: ResolvedDeps): ReadinessCheck[] {
  const { config, store } = deps;
  const checks: ReadinessCheck[] = [{ name: 'database', run: () => databaseAnswers(store) }];
  if (config.PLUM_TEMPORAL_ADDRESS) {
    checks.push({
      name: 'temporal',
      async run() {
        // Loaded only where Temporal is configured: the client is heavy to import.
        const [{ Connection }, { temporalConnectOptions }] = await Promise.all([import('@temporalio/client'), import('../workers/temporal-connection.ts')]);
        // Connecting asks the frontend for its system info: a frontend that answers is ready.
        const connection = await Connection.connect({ ...temporalConnectOptions(config), connectTimeout: READINESS_TIMEOUT_MS });
        await connection.close();
      },
    });
  }
  if (config.PLUM_MEILI_URL) {
    const url = new URL('health', config.PLUM_MEILI_URL.endsWith('/') ? config.PLUM_MEILI_URL : `${config.PLUM_MEILI_URL}/`);
    checks.push({
      name: 'meilisearch',
      async run(signal) {
        const res = await fetch(url, { signal });
        await res.body?.cancel();
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
      },
    });
  }
  return checks;
}

export interface Readiness {
  ready: boolean;
  checks: Partial<Record<ReadinessCheck['name'], CheckState>>;
}

/** Runs every check at once, each bounded by `timeoutMs`; `failures` receives what went wrong (for the log). */
export async function checkReadiness(
  checks: ReadinessCheck[],
  timeoutMs = READINESS_TIMEOUT_MS,
  failures: (name: string, err: unknown) => void = () => {},
): Promise<Readiness> {
  const states = await Promise.all(
    checks.map(async (check): Promise<[ReadinessCheck['name'], CheckState]> => {
      const ctrl = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => {
          ctrl.abort();
          resolve('timeout');
        }, timeoutMs);
      });
      try {
        const state = await Promise.race([check.run(ctrl.signal).then(() => 'ok' as const), timedOut]);
        if (state === 'timeout') failures(check.name, new Error(`no answer within ${timeoutMs} ms`));
        return [check.name, state];
      } catch (e) {
        failures(check.name, e);
        return [check.name, ctrl.signal.aborted ? 'timeout' : 'failed'];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: states.every(([, s]) => s === 'ok'), checks: Object.fromEntries(states) };
}
