// The full schema: one file per table (table + relations). Add new tables here.
export * from './targets.ts';
export * from './scan-profiles.ts';
export * from './runs.ts';
export * from './jobs.ts';
export * from './raw-results.ts';
export * from './port-observations.ts';
export * from './observation-events.ts';
export * from './rules.ts';
export * from './rule-applications.ts';
export * from './host-scores.ts';
export * from './report-definitions.ts';
export * from './webhooks.ts';
export * from './webhook-deliveries.ts';
export * from './api-keys.ts';
export * from './agents.ts';
export * from './agent-tokens.ts';
export * from './schedule-state.ts';
