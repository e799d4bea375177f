import type { ApiApp } from '../context.ts';
import uploadResult from './agent/upload-result.ts';
import claimJob from './agent/claim-job.ts';
import agentHeartbeat from './agent/heartbeat.ts';
import agentNseScript from './agent/nse-script.ts';
import addNseScript from './nse-scripts/add.ts';
import deleteNseScript from './nse-scripts/delete.ts';
import listNseScripts from './nse-scripts/list.ts';
import botBeacon from './bot-api/beacon.ts';
import botGetJob from './bot-api/getjob.ts';
import botSndJob from './bot-api/sndjob.ts';
import createAgentToken from './agents/create-token.ts';
import listAgents from './agents/list.ts';
import listAgentTokens from './agents/list-tokens.ts';
import updateAgent from './agents/update.ts';
import revokeAgentToken from './agents/revoke-token.ts';
import createApiKey from './apikeys/create.ts';
import listApiKeys from './apikeys/list.ts';
import revokeApiKey from './apikeys/revoke.ts';
import eventStream from './events/stream.ts';
import health from './meta/health.ts';
import healthz from './meta/healthz.ts';
import metrics from './meta/metrics.ts';
import readyz from './meta/readyz.ts';
import createProfile from './profiles/create.ts';
import deleteProfile from './profiles/delete.ts';
import getProfile from './profiles/get.ts';
import listProfiles from './profiles/list.ts';
import replaceProfile from './profiles/replace.ts';
import createTargets from './targets/create.ts';
import deleteTarget from './targets/delete.ts';
import getTarget from './targets/get.ts';
import importTargets from './targets/import.ts';
import listTargets from './targets/list.ts';
import updateTarget from './targets/update.ts';
import getHost from './hosts/get.ts';
import listHistory from './history/list.ts';
import search from './search/search.ts';
import cancelRun from './runs/cancel.ts';
import getRun from './runs/get.ts';
import listRuns from './runs/list.ts';
import jobRawXml from './jobs/raw.ts';
import createInvestigation from './investigations/create.ts';
import getInvestigation from './investigations/get.ts';
import investigationReport from './investigations/report.ts';
import getRule from './rules/get.ts';
import listRules from './rules/list.ts';
import testRules from './rules/test.ts';

/** One module per operation; each registers its createRoute + handler. */
export interface RouteModule {
  register(app: ApiApp): void;
}

export const routeModules: RouteModule[] = [
  health,
  healthz,
  readyz,
  metrics,
  listTargets,
  createTargets,
  importTargets,
  getTarget,
  updateTarget,
  deleteTarget,
  listProfiles,
  getProfile,
  createProfile,
  replaceProfile,
  deleteProfile,
  listRuns,
  getRun,
  cancelRun,
  jobRawXml,
  createInvestigation,
  getInvestigation,
  investigationReport,
  search,
  getHost,
  listHistory,
  listRules,
  testRules,
  getRule,
  eventStream,
  listAgents,
  listAgentTokens,
  updateAgent,
  createAgentToken,
  revokeAgentToken,
  agentHeartbeat,
  agentNseScript,
  listNseScripts,
  addNseScript,
  deleteNseScript,
  claimJob,
  uploadResult,
  botBeacon,
  botGetJob,
  botSndJob,
  listApiKeys,
  createApiKey,
  revokeApiKey,
];
