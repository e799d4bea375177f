import { PlumError } from '../../core/errors.ts';
import { loadScoreConfig, scoreFileOf, scoreHost, type ScoreConfig } from '../../core/score.ts';
import type { PlumConfig } from '../../core/config.ts';
import type { Store } from '../../store/index.ts';
import { hostScoreInputs } from '../../store/repos/host-score.ts';
import { getHostView, type HostService } from '../../store/repos/observations.ts';
import { currentScoreFeatures } from '../../store/repos/score-features.ts';
import { eventJson } from '../routes/history/schemas.ts';

/** Score weights by file, read once per file (servers in one process may name different files). */
const scoreConfigs = new Map<string, Promise<ScoreConfig>>();

async function scoreConfigOf(config: PlumConfig): Promise<ScoreConfig> {
  const scoreFile = scoreFileOf(config);
  if (!scoreConfigs.has(scoreFile)) scoreConfigs.set(scoreFile, loadScoreConfig(scoreFile));
  return scoreConfigs.get(scoreFile)!.catch((e) => {
    scoreConfigs.delete(scoreFile);
    throw e;
  });
}

/**
 * A host as GET /v1/hosts/{ip} and the web host page show it: current
 * services with fingerprints and tags, the score explained feature by feature,
 * and the most recent events.
 */
export async function hostDetail(deps: { store: Store; config: PlumConfig }, ip: string, opts: { events: number }) {
  const { store, config } = deps;
  const view = await getHostView(store, ip, { eventLimit: opts.events, flapping: config.PLUM_FLAPPING });
  if (!view) throw new PlumError('not_found', `nothing is known about ${ip}`, { hint: 'scan it, or import a scan that covers it' });
  const featuresOf = await currentScoreFeatures(store, view.ip);
  const cfg = await scoreConfigOf(config);
  // The inputs every other reader of the score uses (explain, reports, the stored scores): the slot's first sighting
  // and last change over all its history (not only the events shown), judged now.
  const inputs = await hostScoreInputs(store, [view.ip], new Date());
  const score = scoreHost(inputs.get(view.ip) ?? [], cfg);
  const svc = (s: HostService) => ({
    id: s.id,
    protocol: s.protocol,
    port: s.port,
    state: s.state,
    hsh256: s.hsh256,
    fpVersion: s.fp_version,
    firstSeen: s.first_seen.toISOString(),
    lastSeen: s.last_seen.toISOString(),
    timesSeen: s.times_seen,
    stateChangedAt: s.state_changed_at.toISOString(),
    hostnames: s.hostnames,
    fields: s.fields as unknown as Record<string, string[]>,
    tags: s.tags,
    score: s.score,
    scoreFeatures: featuresOf.get(s.id) ?? null,
    flapping: s.flapping,
  });
  return {
    ip: view.ip,
    firstSeen: view.first_seen?.toISOString() ?? null,
    lastSeen: view.last_seen?.toISOString() ?? null,
    hostnames: view.hostnames,
    tags: view.tags,
    score,
    services: view.services.map(svc),
    history: view.events.map(eventJson),
  };
}

export type HostDetail = Awaited<ReturnType<typeof hostDetail>>;
