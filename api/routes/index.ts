import type { ApiApp } from '../context.ts';
import uploadResult from './agent/upload-result.ts';
import agentHeartbeat from './agent/heartbeat.ts';
import createAgentToken from './agents/create-token.ts';
import listAgents from './agents/list.ts';
import revokeAgentToken from './agents/revoke-token.ts';
import createApiKey from './apikeys/create.ts';
import listApiKeys from './apikeys/list.ts';
import revokeApiKey from './apikeys/revoke.ts';
import eventStream from './events/stream.ts';
import health from './meta/health.ts';

/** One module per operation; each registers its createRoute + handler. */
export interface RouteModule {
  register(app: ApiApp): void;
}

export const routeModules: RouteModule[] = [
  health,
  eventStream,
  listAgents,
  createAgentToken,
  revokeAgentToken,
  agentHeartbeat,
  uploadResult,
  listApiKeys,
  createApiKey,
  revokeApiKey,
];
