import { PlumError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { Logger } from '../core/log.ts';
import type { CustomScriptRef } from '../core/nmap/custom-scripts.ts';
import { planJobs, type PlannedJob, type PlanTarget } from '../core/plan.ts';
import { parseProfile, type ScanProfile } from '../core/profiles.ts';
import type { ScannerName } from '../core/scanner/contract.ts';
import { enforceScope, type Resolver } from '../core/scope.ts';
import { parseTarget } from '../core/targets.ts';
import type { Store } from '../store/index.ts';
import { insertQueuedJobs, jobsInIndexRange } from '../store/repos/jobs.ts';
import { customScriptRefs } from '../store/repos/nse-scripts.ts';
import { getProfile } from '../store/repos/profiles.ts';
import { insertScanRun, runOfWorkflow, runProgress } from '../store/repos/runs.ts';
import { loadPerimeter, loadPlanTargets } from '../store/repos/targets.ts';
import { linkFiringsToRun } from '../store/repos/trigger-firings.ts';
import type { JobSpec, PlannedRun, RunRequest, ScanStageDropped } from '../workflows/logic/types.ts';
import type { ScoutingMeta } from './scouting.ts';
import { planTriggerRun, type RunOrigin } from './trigger-plan.ts';

/*
 * Planning a run (the first activity of every run, idempotent per workflow id): the scope guard, the jobs of a
 * profile, an investigation or a trigger's findings (with a two-stage profile's scouting jobs first), stored with
 * the run in one transaction; then the job specs the workflow fetches page by page.
 */

export interface PlanDeps {
  log: Logger;
  store?: Store;
  /** Name resolution for the scope guard (names in targets). */
  resolve?: Resolver;
  /** Addresses per job (planner default 256). */
  maxJobSize?: number;
  /** Addresses per scouting job (PLUM_SCOUT_JOB_SIZE). */
  scoutJobSize?: number;
  /** Runs this worker plans route each job between Plum agents and the predecessor's (PlannedRun.legacyBridge). */
  legacyBridge?: boolean;
  now: () => Date;
}

const need = <T>(v: T | undefined, what: string): T => {
  if (v === undefined) throw new PlumError('internal', `this worker has no ${what}`, { hint: `run this activity on a worker configured with ${what}` });
  return v;
};

export function jobKind(targets: string[]): JobSpec['kind'] {
  const first = targets[0] ?? '';
  try {
    const t = parseTarget(first.replace(/-\d+$/, ''));
    if (t.kind === 'fqdn') return 'fqdn';
    return first.includes(':') ? 'ipv6' : 'ipv4';
  } catch {
    return first.includes(':') ? 'ipv6' : 'ipv4';
  }
}

export interface RunMeta {
  priority: number;
  hostTimeout: string;
  jobCount: number;
  addressCount: number;
  targetCount: number;
  profile?: string;
  /** Addresses each scanned name resolved to when the scope guard checked it. */
  pinned?: Record<string, string[]>;
  /** Scripts of refused categories an admin allowed on the profile (the runner checks scripts again). */
  allowScripts?: string[];
  /** The custom scripts the run uses, with the content hash they had when it was planned. */
  customScripts?: CustomScriptRef[];
  /** Planned by a worker bridging to the predecessor's agents: the workflow routes each job. */
  legacyBridge?: boolean;
  /** The profile's scanner when it is not nmap. */
  scanner?: ScannerName;
  /** A triggered run: the finding that started it. */
  origin?: RunOrigin;
  /** A two-stage run: the masscan rate, and the profile's scripts and options for the nmap stage. */
  scouting?: ScoutingMeta;
  /** Jobs [0, scoutJobs) are scouting jobs. */
  scoutJobs?: number;
  /** Set once the nmap stage of a two-stage run is planned (store/repos/scouting.ts). */
  scanStage?: boolean;
  /** Answering addresses that nmap stage left out: excluded or outside the perimeter by then. */
  scanStageDropped?: ScanStageDropped;
}

export function createPlanActivities(deps: PlanDeps) {
  const { log, now } = deps;

  async function existingRun(store: Store, workflowId: string): Promise<PlannedRun | undefined> {
    const row = await runOfWorkflow<RunMeta>(store, workflowId);
    if (!row) return undefined;
    const m = row.progress;
    return {
      runId: row.id,
      kind: row.kind,
      ...(row.profile_name ? { profile: row.profile_name } : {}),
      priority: m.priority,
      jobCount: m.jobCount,
      addressCount: m.addressCount,
      targetCount: m.targetCount,
      resumed: true,
      ...(m.legacyBridge ? { legacyBridge: true } : {}),
      ...(m.scoutJobs ? { scoutJobs: m.scoutJobs } : {}),
    };
  }

  async function planRun(req: RunRequest): Promise<PlannedRun> {
    const store = need(deps.store, 'database');
    if (!req.workflowId) throw new PlumError('invalid_input', 'a run needs a workflow id', { hint: 'start runs through the embedded runner or a workflow' });
    const found = await existingRun(store, req.workflowId);
    if (found) return found;

    const perimeter = await loadPerimeter(store);
    const excludes: PlanTarget[] = perimeter.excludes.map((t) => ({ value: t, exclude: true }));
    let profile: ScanProfile;
    let profileId: string | null = null;
    let planTargets: PlanTarget[];
    let requested: string[];
    let triggered: Awaited<ReturnType<typeof planTriggerRun>> | undefined;
    if (req.kind === 'profile') {
      const stored = await getProfile(store, req.profile);
      if (stored.trigger) {
        throw new PlumError('invalid_input', `profile ${stored.name} is a trigger profile: it scans what its query matches, not targets`, {
          hint: 'its runs start from new findings (`plum runs --kind trigger`); for a scan of targets use another profile',
        });
      }
      profile = stored;
      profileId = stored.id;
      planTargets = await loadPlanTargets(store);
      requested = [];
    } else if (req.kind === 'trigger') {
      triggered = await planTriggerRun(store, req, excludes, deps.maxJobSize);
      profile = triggered.profile;
      profileId = triggered.profile.id;
      requested = triggered.requested;
      planTargets = [];
    } else {
      if (req.targets.length === 0)
        throw new PlumError('usage', 'an investigation needs at least one target', { hint: 'name the addresses, ranges or names to scan' });
      profile = parseProfile({
        name: 'investigation',
        tcpPorts: req.tcpPorts,
        udpPorts: req.udpPorts ?? null,
        scripts: req.scripts ?? [],
        priority: 4,
      });
      requested = req.targets;
      planTargets = [...req.targets.map((v) => ({ value: parseTarget(v) })), ...excludes];
    }
    // The scope guard runs before anything is stored or scanned: investigations check every requested
    // target, profile runs check their names (addresses are planned from the perimeter itself).
    let planned = triggered?.planned ?? planJobs(profile, planTargets, deps.maxJobSize ? { maxPerJob: deps.maxJobSize } : {});
    // A two-stage profile sweeps its addresses with masscan first, in larger jobs; names go to nmap directly.
    const scouting = req.kind === 'profile' && profile.scouting ? profile.scouting : undefined;
    let scoutJobs = 0;
    if (scouting) {
      const sweeps = planJobs(profile, planTargets, { maxPerJob: deps.scoutJobSize ?? 4096 })
        .filter((j) => j.kind !== 'fqdn')
        .map((j) => ({ ...j, scripts: [], extraArgs: [] }));
      scoutJobs = sweeps.length;
      planned = [...sweeps, ...planned.filter((j) => j.kind === 'fqdn')].map((j, index) => ({ ...j, index }));
    }
    const names = [...new Set(planned.filter((j) => j.kind === 'fqdn').flatMap((j) => j.targets))];
    const toCheck = req.kind === 'profile' ? names : requested;
    const decision =
      toCheck.length > 0
        ? await enforceScope(toCheck, perimeter, {
            resolve: deps.resolve,
            ...(req.scopeOverrideReason ? { override: { reason: req.scopeOverrideReason, by: req.requestedBy } } : {}),
          })
        : undefined;
    if (planned.length === 0) {
      throw new PlumError(
        'invalid_input',
        req.kind === 'profile' ? `profile ${profile.name} selects no targets` : 'nothing left to scan once exclusions are applied',
        {
          hint: req.kind === 'profile' ? 'add targets with `plum target add VALUE`' : 'check the targets against `plum target list`',
          details: { reason: 'no_targets' },
        },
      );
    }

    const customScripts = await customScriptRefs(store, profile.scripts);
    const runId = newId('run');
    const at = now().toISOString();
    const meta: RunMeta = {
      priority: profile.priority,
      hostTimeout: profile.hostTimeout,
      jobCount: planned.length,
      addressCount: planned.reduce((n, j) => n + j.addressCount, 0),
      targetCount: req.kind === 'profile' ? planTargets.filter((t) => !t.exclude).length : requested.length,
      ...(req.kind !== 'investigation' ? { profile: profile.name } : {}),
      ...(triggered ? { origin: triggered.origin } : {}),
      ...(decision ? { pinned: decision.resolved } : {}),
      ...(profile.allowScripts.length ? { allowScripts: profile.allowScripts } : {}),
      ...(customScripts.length ? { customScripts } : {}),
      ...(deps.legacyBridge ? { legacyBridge: true } : {}),
      ...(profile.scanner !== 'nmap' ? { scanner: profile.scanner } : {}),
      ...(scouting ? { scouting: { rate: scouting.rate, scripts: [...profile.scripts], nmapArgs: [...profile.nmapArgs] }, scoutJobs } : {}),
    };
    await store.transaction(async (tx) => {
      await insertScanRun(tx, {
        id: runId,
        kind: req.kind,
        profileId,
        profileName: req.kind !== 'investigation' ? profile.name : null,
        requestedBy: req.requestedBy,
        targets: requested,
        reason: req.kind === 'investigation' ? (req.reason ?? null) : (triggered?.reason ?? null),
        scheduledFor: req.kind === 'profile' ? (req.scheduledFor ?? null) : null,
        startedAt: at,
        scopeOverride: Boolean(decision?.override),
        scopeOverrideReason: decision?.override?.reason ?? null,
        progress: meta,
        workflowId: req.workflowId,
      });
      if (triggered) await linkFiringsToRun(tx, req.workflowId, runId);
      await insertQueuedJobs(
        tx,
        runId,
        planned.map((j: PlannedJob) => ({
          id: newId('job'),
          index: j.index,
          targets: j.targets,
          address_count: j.addressCount,
          tcp_ports: j.tcpPorts,
          udp_ports: j.udpPorts ?? null,
          scripts: j.scripts,
          nmap_args: j.extraArgs,
          stage: j.index < scoutJobs ? 'scout' : 'scan',
        })),
      );
    });
    log.info({ runId, workflowId: req.workflowId, jobs: meta.jobCount, addresses: meta.addressCount }, 'run planned');
    return {
      runId,
      kind: req.kind,
      ...(meta.profile ? { profile: meta.profile } : {}),
      priority: meta.priority,
      jobCount: meta.jobCount,
      addressCount: meta.addressCount,
      targetCount: meta.targetCount,
      resumed: false,
      ...(meta.legacyBridge ? { legacyBridge: true } : {}),
      ...(scoutJobs ? { scoutJobs } : {}),
    };
  }

  async function getJobSpecs(input: { runId: string; fromIndex: number; count: number }): Promise<JobSpec[]> {
    const store = need(deps.store, 'database');
    const progress = await runProgress<RunMeta>(store, input.runId);
    if (!progress) throw new PlumError('not_found', `run ${input.runId} does not exist`);
    const rows = await jobsInIndexRange(store, input.runId, input.fromIndex, input.count);
    return rows.map((r) => ({
      runId: input.runId,
      jobId: r.id,
      index: r.index,
      kind: jobKind(r.targets),
      targets: r.targets,
      addressCount: r.address_count,
      tcpPorts: r.tcp_ports,
      ...(r.udp_ports ? { udpPorts: r.udp_ports } : {}),
      scripts: r.scripts,
      extraArgs: r.nmap_args,
      hostTimeout: progress.hostTimeout ?? '40s',
      priority: progress.priority ?? 2,
      ...(r.ingested_at ? { done: true } : {}),
      ...(r.stage === 'scout' && progress.scouting ? { scout: { rate: progress.scouting.rate } } : {}),
      ...(progress.allowScripts ? { allowScripts: progress.allowScripts } : {}),
      ...(progress.customScripts ? { customScripts: progress.customScripts } : {}),
      ...(progress.scanner ? { scanner: progress.scanner } : {}),
      ...(progress.pinned ? { pinned: Object.fromEntries(r.targets.filter((t) => progress.pinned![t]).map((t) => [t, progress.pinned![t]!])) } : {}),
    }));
  }

  return { planRun, getJobSpecs };
}
