import type { PlumConfig } from '../core/config.ts';
import type { Logger } from '../core/log.ts';

/**
 * What every command receives: the configuration parsed once at start-up and a
 * logger. Resources (the database, the nmap runner) are opened lazily by the
 * commands that need them, so `plum --help` or `plum parse` never touch a database.
 */
export interface CliContext {
  config: PlumConfig;
  log: Logger;
  /** Registered resources closed when the command ends (database handles, servers). */
  onClose(fn: () => Promise<void> | void): void;
}
