import type { PlumConfig } from '../core/config.ts';
import type { FlappingRule } from '../core/history/flapping.ts';
import type { Logger } from '../core/log.ts';
import { loadScoreConfig, scoreFileOf, type ScoreConfig } from '../core/score.ts';

/*
 * What every report takes from the configuration, read the same way wherever a report is built (`plum
 * report`, report definitions run by either scheduler or previewed, the API's investigation report, MCP):
 * the score weights PLUM_SCORE_FILE names, so a host's score is core/score.ts scoreHost with those
 * weights, and the flapping rule.
 */

export interface ReportSettings {
  scoreConfig?: ScoreConfig;
  flapping?: FlappingRule;
}

/** A broken score file must not block a report: it is logged, and host scores fall back to the highest port score. */
export async function reportSettingsOf(config: PlumConfig | undefined, log?: Logger): Promise<ReportSettings> {
  let scoreConfig: ScoreConfig | undefined;
  try {
    scoreConfig = await loadScoreConfig(scoreFileOf(config ?? {}));
  } catch (e) {
    log?.warn({ err: (e as Error).message }, 'score weights unavailable; host score = highest port score');
  }
  return { ...(scoreConfig ? { scoreConfig } : {}), ...(config?.PLUM_FLAPPING ? { flapping: config.PLUM_FLAPPING } : {}) };
}
