import { timingSafeEqual } from 'node:crypto';
import { and, asc, desc, eq, isNull } from 'drizzle-orm';
import { PlumError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import type { StoreSession } from '../index.ts';
import { agentTokens, type AgentTokenRow } from '../schema/agent-tokens.ts';
import { agents, type AgentRow } from '../schema/agents.ts';
import { newSecret, sha256Hex } from './apikeys.ts';

const AGENT_TOKEN_PREFIX = 'plum_a_';
const PREFIX_SHOWN = 12;
const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/i;

export interface AgentInfo {
  id: string;
  name: string;
  labels: string[];
  note: string | null;
  version: string | null;
  lastHeartbeatAt: string | null;
  currentJobId: string | null;
  createdAt: string;
  disabledAt: string | null;
}

export interface AgentTokenInfo {
  id: string;
  agentId: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const agentInfo = (r: AgentRow): AgentInfo => ({
  id: r.id,
  name: r.name,
  labels: r.labels,
  note: r.note,
  version: r.version,
  lastHeartbeatAt: r.lastHeartbeatAt?.toISOString() ?? null,
  currentJobId: r.currentJobId,
  createdAt: r.createdAt.toISOString(),
  disabledAt: r.disabledAt?.toISOString() ?? null,
});

const tokenInfo = (r: AgentTokenRow): AgentTokenInfo => ({
  id: r.id,
  agentId: r.agentId,
  prefix: r.prefix,
  createdAt: r.createdAt.toISOString(),
  lastUsedAt: r.lastUsedAt?.toISOString() ?? null,
  revokedAt: r.revokedAt?.toISOString() ?? null,
});

/** Names the server's own runners record on the jobs they run: an agent with one could upload their results. */
const RESERVED_AGENT_NAMES = new Set(['embedded', 'server']);

export function validateAgentName(name: string): string {
  const n = name.trim();
  if (!NAME_RE.test(n)) {
    throw new PlumError('invalid_input', `invalid agent name "${name}"`, {
      hint: 'use 1-63 letters, digits, dots, dashes or underscores, starting with a letter or digit',
    });
  }
  if (RESERVED_AGENT_NAMES.has(n.toLowerCase())) {
    throw new PlumError('invalid_input', `the agent name "${n}" is reserved for the server's own runner`, {
      hint: "choose another name, e.g. the agent host's name",
    });
  }
  return n.toLowerCase();
}

/** Registers an agent identity, or returns the existing one of that name. */
export async function ensureAgent(store: StoreSession, input: { name: string; labels?: string[]; note?: string }): Promise<AgentInfo> {
  const name = validateAgentName(input.name);
  const [existing] = await store.db.select().from(agents).where(eq(agents.name, name));
  if (existing) return agentInfo(existing);
  const [row] = await store.db
    .insert(agents)
    .values({
      id: newId('agent'),
      name,
      labels: input.labels ?? [],
      note: input.note ?? null,
    })
    .onConflictDoNothing()
    .returning();
  if (row) return agentInfo(row);
  return getAgent(store, name);
}

/** By id (`agent_…`) or by name. */
export async function getAgent(store: StoreSession, idOrName: string): Promise<AgentInfo> {
  const cond = idOrName.startsWith('agent_') ? eq(agents.id, idOrName) : eq(agents.name, idOrName.trim().toLowerCase());
  const [row] = await store.db.select().from(agents).where(cond);
  if (!row) throw new PlumError('not_found', `no agent ${idOrName}`, { hint: 'list agents with `plum agent-token list` or GET /v1/agents' });
  return agentInfo(row);
}

export async function listAgents(store: StoreSession): Promise<AgentInfo[]> {
  const rows = await store.db.select().from(agents).orderBy(asc(agents.name));
  return rows.map(agentInfo);
}

/** Issues a token for an agent (registering the agent when new); the secret is returned once. */
export async function createAgentToken(
  store: StoreSession,
  input: { agent: string; labels?: string[] },
): Promise<{ token: string; agent: AgentInfo; info: AgentTokenInfo }> {
  const agent = await ensureAgent(store, { name: input.agent, labels: input.labels });
  const token = newSecret(AGENT_TOKEN_PREFIX);
  const [row] = await store.db
    .insert(agentTokens)
    .values({
      id: newId('atok'),
      agentId: agent.id,
      prefix: token.slice(0, PREFIX_SHOWN),
      hash: sha256Hex(token),
    })
    .returning();
  return { token, agent, info: tokenInfo(row!) };
}

export async function listAgentTokens(store: StoreSession, opts: { agentId?: string; includeRevoked?: boolean } = {}): Promise<AgentTokenInfo[]> {
  const conds = [opts.agentId ? eq(agentTokens.agentId, opts.agentId) : undefined, opts.includeRevoked ? undefined : isNull(agentTokens.revokedAt)].filter(
    (c) => c !== undefined,
  );
  const rows = await store.db
    .select()
    .from(agentTokens)
    .where(conds.length ? and(...conds) : undefined)
    .orderBy(desc(agentTokens.createdAt), desc(agentTokens.id));
  return rows.map(tokenInfo);
}

export async function revokeAgentToken(store: StoreSession, id: string): Promise<AgentTokenInfo> {
  const [row] = await store.db.select().from(agentTokens).where(eq(agentTokens.id, id));
  if (!row) throw new PlumError('not_found', `no agent token ${id}`, { hint: 'list tokens with `plum agent-token list`' });
  if (row.revokedAt) return tokenInfo(row);
  const [updated] = await store.db.update(agentTokens).set({ revokedAt: new Date() }).where(eq(agentTokens.id, id)).returning();
  return tokenInfo(updated!);
}

/** The agent a presented token belongs to, or undefined (unknown, revoked, or agent disabled). */
export async function authenticateAgentToken(
  store: StoreSession,
  presented: string,
): Promise<{ agent: AgentInfo; tokenId: string } | { revoked: true; agentDisabled: boolean } | undefined> {
  if (!presented.startsWith(AGENT_TOKEN_PREFIX) || presented.length > 200) return undefined;
  const hash = sha256Hex(presented);
  const [hit] = await store.db
    .select({ token: agentTokens, agent: agents })
    .from(agentTokens)
    .innerJoin(agents, eq(agents.id, agentTokens.agentId))
    .where(eq(agentTokens.hash, hash));
  if (!hit || !timingSafeEqual(Buffer.from(hit.token.hash), Buffer.from(hash))) return undefined;
  if (hit.token.revokedAt || hit.agent.disabledAt) return { revoked: true, agentDisabled: !hit.token.revokedAt };
  if (!hit.token.lastUsedAt || Date.now() - hit.token.lastUsedAt.getTime() > 60_000) {
    await store.db.update(agentTokens).set({ lastUsedAt: new Date() }).where(eq(agentTokens.id, hit.token.id));
  }
  return { agent: agentInfo(hit.agent), tokenId: hit.token.id };
}

/** Records an agent heartbeat (and the job it is running, null when idle). */
export async function recordHeartbeat(store: StoreSession, agentId: string, hb: { currentJobId?: string | null; version?: string | null }): Promise<AgentInfo> {
  const [row] = await store.db
    .update(agents)
    .set({
      lastHeartbeatAt: new Date(),
      currentJobId: hb.currentJobId ?? null,
      ...(hb.version ? { version: hb.version } : {}),
    })
    .where(eq(agents.id, agentId))
    .returning();
  if (!row) throw new PlumError('not_found', `no agent ${agentId}`);
  return agentInfo(row);
}

/** Disables (tokens refused) or re-enables an agent; by id or name. */
export async function setAgentDisabled(store: StoreSession, idOrName: string, disabled: boolean): Promise<AgentInfo> {
  const agent = await getAgent(store, idOrName);
  const [row] = await store.db
    .update(agents)
    .set({ disabledAt: disabled ? (agent.disabledAt ? new Date(agent.disabledAt) : new Date()) : null })
    .where(eq(agents.id, agent.id))
    .returning();
  return agentInfo(row!);
}
