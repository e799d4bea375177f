/*
 * Distributed mode with the predecessor's agents: which executor a job's nmap
 * activity goes to, decided by the workflow (through the routeNmapJob
 * activity, so the choice is recorded in the history) just before the job is
 * scheduled. Plum's agents poll the scan queue; the bridge in `plum serve`
 * polls the legacy queue and hands what it receives to the predecessor's
 * agents. Routing per job keeps both kinds busy on one run: a job goes to the
 * legacy queue only while some predecessor agent has nothing waiting for it.
 */

export interface BridgeRouteInput {
  /** The job scans UDP ports: the predecessor's agents scan TCP only. */
  udp: boolean;
  /** Predecessor agents seen within PLUM_LEGACY_JOB_TIMEOUT. */
  legacyAgents: number;
  /** Jobs routed to them that no agent has claimed yet. */
  legacyWaiting: number;
  /** Plum agents that sent a heartbeat recently (they poll the scan queue). */
  plumAgents: number;
}

export type BridgeRoute = 'legacy' | 'scan';

export function routeJob(i: BridgeRouteInput): BridgeRoute {
  if (i.udp || i.legacyAgents === 0) return 'scan';
  // Nobody else would take it: the predecessor's agents get every TCP job, however many wait.
  if (i.plumAgents === 0) return 'legacy';
  // One job ready per predecessor agent (it gets it on its next getjob); the rest stay with Plum's agents.
  return i.legacyWaiting < i.legacyAgents ? 'legacy' : 'scan';
}
