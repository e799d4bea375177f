import { randomBytes, timingSafeEqual } from 'node:crypto';
import { TypeID } from 'typeid-js';
import { pickPriority } from '../../core/bot-api/round-robin.ts';
import { PlumError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import type { CustomScriptRef } from '../../core/nmap/custom-scripts.ts';
import type { Store, StoreSession } from '../index.ts';
import { sha256Hex } from './apikeys.ts';

/*
 * The predecessor's agents (docs/migration.md, "Agents"): their keys, their
 * registrations, and the jobs handed to them. A job is offered to them by the
 * run that planned it (the same plan and scope guard as every other run):
 * `offerJobToLegacyAgents` marks it queued for them, `claimLegacyJob` hands it
 * to one agent atomically (no other executor takes a job marked so), and a job
 * whose agent stays silent past the timeout is offered again.
 */

const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const LEGACY_KEY_LENGTH = 80;
const INDEX_LENGTH = 16;
/** The agent name recorded on jobs a legacy agent claimed. */
export const legacyAgentName = (uid: string) => `legacy:${uid}`;

function randomText(n: number): string {
  const bytes = randomBytes(n * 2);
  let out = '';
  // Rejection sampling keeps every character equally likely (62 does not divide 256).
  for (let i = 0; i < bytes.length && out.length < n; i++) if (bytes[i]! < 248) out += KEY_ALPHABET[bytes[i]! % 62];
  return out.length === n ? out : out + randomText(n - out.length);
}

const saltedHash = (salt: string, key: string) => sha256Hex(`${salt}:${key}`);

/** Creates a key in the predecessor's format; the key is returned once and never stored. */
export async function createLegacyKey(store: StoreSession, note?: string): Promise<{ id: string; key: string }> {
  const key = randomText(LEGACY_KEY_LENGTH);
  const salt = randomBytes(16).toString('hex');
  const id = newId('lkey');
  await store.query('insert into legacy_agent_keys (id, key_index, salt, hash, note) values ($1, $2, $3, $4, $5)', [
    id,
    key.slice(0, INDEX_LENGTH),
    salt,
    saltedHash(salt, key),
    note ?? null,
  ]);
  return { id, key };
}

/** The key's id when the presented key is a live one, else undefined. */
export async function checkLegacyKey(store: StoreSession, key: string): Promise<string | undefined> {
  if (key.length !== LEGACY_KEY_LENGTH) return undefined;
  const [row] = await store.query<{ id: string; salt: string; hash: string; revoked_at: Date | null }>(
    'select id, salt, hash, revoked_at from legacy_agent_keys where key_index = $1',
    [key.slice(0, INDEX_LENGTH)],
  );
  if (!row || row.revoked_at) return undefined;
  const presented = Buffer.from(saltedHash(row.salt, key));
  return timingSafeEqual(presented, Buffer.from(row.hash)) ? row.id : undefined;
}

export interface LegacyIdentity {
  uid: string;
  deviceModel: string;
  agentVersion: string;
  systemVersion: string;
  extIp: string;
}

/** beacon: registers the agent or updates its last seen time, address and versions. */
export async function beaconLegacyAgent(store: StoreSession, keyId: string, id: LegacyIdentity): Promise<void> {
  await store.query(
    `insert into legacy_agents (uid, key_id, device_model, agent_version, system_version, ext_ip)
     values ($1, $2, $3, $4, $5, $6)
     on conflict (uid) do update set key_id = excluded.key_id, device_model = excluded.device_model,
       agent_version = excluded.agent_version, system_version = excluded.system_version, ext_ip = excluded.ext_ip, last_seen_at = now()`,
    [id.uid, keyId, id.deviceModel, id.agentVersion, id.systemVersion, id.extIp],
  );
  await store.query('update legacy_agent_keys set last_used_at = now() where id = $1', [keyId]);
}

/** Whether the agent registered (a beacon) with this key; refreshes its last seen time when so. */
export async function knownLegacyAgent(store: StoreSession, keyId: string, uid: string): Promise<boolean> {
  const rows = await store.query('update legacy_agents set last_seen_at = now() where uid = $1 and key_id = $2 returning uid', [uid, keyId]);
  return rows.length > 0;
}

/** Whether any legacy agent was seen within `withinSeconds` (the runner hands jobs to them only then). */
export async function legacyAgentsActive(store: StoreSession, withinSeconds: number): Promise<boolean> {
  const [row] = await store.query<{ n: number }>(`select count(*)::int as n from legacy_agents where last_seen_at > now() - make_interval(secs => $1)`, [
    withinSeconds,
  ]);
  return Number(row?.n ?? 0) > 0;
}

/** The job's id as the predecessor's agents see it (a UUID), and back. */
export const jobUid = (jobId: string) => TypeID.fromString(jobId).toUUID();
export function jobIdOfUid(uid: string): string | undefined {
  try {
    return TypeID.fromUUID('job', uid).toString();
  } catch {
    return undefined;
  }
}

/** A claimed job that cannot be handed out (its options fail the runner's checks): failed, with the reason. */
export async function failLegacyJob(store: StoreSession, jobId: string, error: string): Promise<void> {
  await store.query(`update jobs set status = 'failed', error = $2, finished_at = now() where id = $1 and ingested_at is null`, [jobId, error]);
}

/** Marks a planned job as waiting for a legacy agent (the run's executor then waits for its result). */
export async function offerJobToLegacyAgents(store: StoreSession, jobId: string): Promise<void> {
  await store.query(
    `update jobs set status = 'queued', agent = null, progress = progress || '{"executor": "legacy"}'::jsonb
     where id = $1 and ingested_at is null and status in ('queued', 'running')`,
    [jobId],
  );
}

export interface LegacyJob {
  id: string;
  runId: string;
  targets: string[];
  tcpPorts: string;
  scripts: string[];
  nmapArgs: string[];
  /** From the run: the profile's host timeout, its allowed scripts and its custom scripts' hashes. */
  hostTimeout?: string;
  allowScripts: string[];
  customScripts: CustomScriptRef[];
}

/**
 * A job routed by the Temporal bridge is claimable once the bridge holds its activity's token (so a result
 * always has an attempt to complete); the embedded runner's offers have no bridge mark.
 */
const HELD = `(j.progress->>'bridge' is null or j.legacy_task_token is not null)`;

/**
 * Releases the jobs whose legacy agent has been silent past the timeout (on Temporal, the activity's
 * start-to-close timeout does it: a new attempt resets the claim, store/repos/legacy-bridge.ts), then
 * claims one waiting job for this agent: the priority by weighted round-robin
 * over the non-empty queues (state kept in legacy_dispatch), the oldest job of
 * that priority, locked so two agents never get the same one.
 */
export async function claimLegacyJob(store: Store, uid: string, timeoutSeconds: number): Promise<LegacyJob | undefined> {
  return store.transaction(async (tx) => {
    await tx.query(
      `update jobs set status = 'queued', agent = null,
         progress = progress || jsonb_build_object('released', coalesce((progress->>'released')::int, 0) + 1)
       where progress->>'executor' = 'legacy' and status = 'running' and ingested_at is null and agent like 'legacy:%'
         and progress->>'bridge' is null and started_at < now() - make_interval(secs => $1)`,
      [timeoutSeconds],
    );
    const queues = await tx.query<{ priority: number }>(
      `select distinct coalesce((r.progress->>'priority')::int, 2) as priority from jobs j join runs r on r.id = j.run_id
       where j.progress->>'executor' = 'legacy' and j.status = 'queued' and j.agent is null and ${HELD}`,
    );
    if (queues.length === 0) return undefined;
    await tx.query(`insert into legacy_dispatch (id) values ('default') on conflict (id) do nothing`);
    const [state] = await tx.query<{ weights: Record<string, number> }>(`select weights from legacy_dispatch where id = 'default' for update`);
    const pick = pickPriority(
      state?.weights ?? {},
      queues.map((q) => Number(q.priority)),
    )!;
    const [job] = await tx.query<{ id: string; run_id: string; targets: string[]; tcp_ports: string; scripts: string[]; nmap_args: string[] }>(
      `update jobs set status = 'running', agent = $1, started_at = now(), attempts = attempts + 1
       where id = (select j.id from jobs j join runs r on r.id = j.run_id
         where j.progress->>'executor' = 'legacy' and j.status = 'queued' and j.agent is null and ${HELD}
           and coalesce((r.progress->>'priority')::int, 2) = $2
         order by j.created_at, j.index limit 1 for update of j skip locked)
       returning id, run_id, targets, tcp_ports, scripts, nmap_args`,
      [legacyAgentName(uid), pick.priority],
    );
    if (!job) return undefined;
    await tx.query(`update legacy_dispatch set weights = $1::jsonb, updated_at = now() where id = 'default'`, [JSON.stringify(pick.state)]);
    const [run] = await tx.query<{ progress: { hostTimeout?: string; allowScripts?: string[]; customScripts?: CustomScriptRef[] } }>(
      'select progress from runs where id = $1',
      [job.run_id],
    );
    const meta = run?.progress ?? {};
    return {
      id: job.id,
      runId: job.run_id,
      targets: job.targets,
      tcpPorts: job.tcp_ports,
      scripts: job.scripts,
      nmapArgs: job.nmap_args ?? [],
      ...(meta.hostTimeout ? { hostTimeout: meta.hostTimeout } : {}),
      allowScripts: meta.allowScripts ?? [],
      customScripts: meta.customScripts ?? [],
    };
  });
}

export interface ResultTarget {
  id: string;
  runId: string;
  targets: string[];
  tcpPorts: string;
  udpPorts: string | null;
  /** Already ingested from this agent: a repeat is answered 200 and changes nothing. */
  done: boolean;
}

/** The checks of sndjob, in §8's order: 404 unknown, 403 another agent's, 409 not active, 429 too early. */
export async function jobForResult(store: StoreSession, jobId: string | undefined, uid: string): Promise<ResultTarget> {
  const [job] = jobId
    ? await store.query<{
        id: string;
        run_id: string;
        targets: string[];
        tcp_ports: string;
        udp_ports: string | null;
        status: string;
        agent: string | null;
        ingested_at: Date | null;
        early: boolean;
        legacy: boolean;
      }>(
        `select id, run_id, targets, tcp_ports, udp_ports, status, agent, ingested_at, progress->>'executor' = 'legacy' as legacy,
       started_at > now() - interval '1 second' as early
     from jobs where id = $1`,
        [jobId],
      )
    : [];
  if (!job || !job.legacy) throw new PlumError('not_found', 'unknown job');
  if (job.agent !== legacyAgentName(uid)) throw new PlumError('forbidden', 'job assigned to another agent');
  const target = { id: job.id, runId: job.run_id, targets: job.targets, tcpPorts: job.tcp_ports, udpPorts: job.udp_ports };
  if (job.ingested_at) return { ...target, done: true };
  if (job.status !== 'running') throw new PlumError('conflict', 'job is not active');
  if (job.early) throw new PlumError('rate_limited', 'result sent less than a second after the job started');
  return { ...target, done: false };
}
