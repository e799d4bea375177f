import { PlumError, toPlumError } from '../core/errors.ts';
import type { Store } from '../store/index.ts';
import type { RunOwner } from '../store/repos/run-owners.ts';
import { finishPendingRescores } from '../store/repos/pending-rescores.ts';
import { profileIdByName } from '../store/repos/profiles.ts';
import { createRuleIngestDeps, openRuleContext, rescoreIps } from '../store/rules/index.ts';
import { thisProcess } from '../workers/run-owner.ts';
import { openCommandStore } from './commands/init.ts';
import type { CliContext } from './context.ts';
import { info } from './output.ts';

/** What every import (`plum ingest`, nmap XML or the predecessor's documents) runs with. */
export interface ImportContext {
  store: Store;
  profileId?: string;
  /** Tag rules at ingest, scores once each batch is committed. */
  ruleDeps: ReturnType<typeof createRuleIngestDeps>;
  /** This process, recorded on the import runs so a run left behind by a crash is recovered. */
  owner: RunOwner;
}

/**
 * Opens the store for an import (creating the embedded database if needed), resolves `--profile`, loads the
 * rules and first scores the hosts an interrupted import left unscored, saying so.
 */
export async function openImportContext(ctx: CliContext, profile: string | undefined): Promise<ImportContext> {
  const store = await openCommandStore(ctx, { create: true });
  let profileId: string | undefined;
  if (profile) {
    profileId = await profileIdByName(store, profile);
    if (!profileId) throw new PlumError('not_found', `no scan profile named "${profile}"`, { hint: 'list them with plum profile list' });
  }
  const rules = await openRuleContext(store, ctx.config);
  const ruleDeps = createRuleIngestDeps(store, { set: rules.set, score: rules.score });
  const owed = await finishPendingRescores(store, (ips) => rescoreIps(store, ips, rules));
  if (owed) info(`plum: scored ${owed} host${owed === 1 ? '' : 's'} an interrupted import had left unscored`);
  return { store, ...(profileId ? { profileId } : {}), ruleDeps, owner: thisProcess() };
}

/**
 * The error of a file that failed after `done` of `total` files were imported: named with its file, and
 * saying that running the command again imports the rest (imported files are recognised by their digest).
 * The first file's error is left as it is.
 */
export function laterFileFailed(e: unknown, file: string, done: number, total: number): unknown {
  if (done === 0) return e;
  const err = toPlumError(e);
  return new PlumError(err.code, `${file}: ${err.message}`, {
    cause: e,
    hint: `${done} of ${total} files were imported before it; run the same command again to import the rest (imported files are recognised and skipped)`,
  });
}
