import { newId } from '../../core/ids.ts';
import type { ScanStageDropped, ScanStageJob, ScanStagePlan } from '../../core/scout-plan.ts';
import type { Store } from '../index.ts';

/*
 * The two-stage runs' rows (workflows/logic/scan-run.ts): the outputs of a run's scouting jobs, and the nmap
 * stage's jobs appended to the run once they are known. The run's planned job count lives in runs.progress
 * (activities/plan-run.ts RunMeta), so a resumed run finds the stage it planned.
 */

/** What the nmap stage's jobs take over from the profile, snapshotted when the run was planned. */
export interface ScanStageSnapshot {
  scripts: string[];
  nmapArgs: string[];
}

/** The stored outputs of a run's scouting jobs that were ingested (a failed job left nothing to go on). */
export async function scoutOutputs(store: Store, runId: string): Promise<Array<{ jobId: string; targets: string[]; output: Uint8Array }>> {
  const rows = await store.query<{ id: string; targets: string[]; xml_gz: Uint8Array }>(
    `select j.id, j.targets, r.xml_gz from jobs j join raw_results r on r.job_id = j.id
     where j.run_id = $1 and j.stage = 'scout' and j.ingested_at is not null order by j.index`,
    [runId],
  );
  return rows.map((r) => ({ jobId: r.id, targets: r.targets, output: r.xml_gz }));
}

/**
 * Appends the nmap stage's jobs after the run's planned jobs, once, with the answering addresses the stage left
 * out (`dropped`): a second call (a retried activity, a restarted run) finds the stage planned and returns the
 * counts and the drop it stored, whatever the perimeter says by then.
 */
export async function appendScanStage(
  store: Store,
  runId: string,
  jobs: ScanStageJob[],
  snapshot: ScanStageSnapshot,
  dropped?: ScanStageDropped,
): Promise<ScanStagePlan> {
  return store.transaction(async (tx) => {
    const [run] = await tx.query<{ progress: { jobCount: number; addressCount: number; scanStage?: boolean; scanStageDropped?: ScanStageDropped } }>(
      'select progress from runs where id = $1 for update',
      [runId],
    );
    if (!run) throw new Error(`run ${runId} does not exist`);
    const meta = run.progress;
    if (meta.scanStage) {
      return { jobCount: meta.jobCount, addressCount: meta.addressCount, ...(meta.scanStageDropped ? { dropped: meta.scanStageDropped } : {}) };
    }
    const [{ n }] = (await tx.query<{ n: number }>('select count(*)::int as n from jobs where run_id = $1', [runId])) as [{ n: number }];
    const base = Number(n);
    for (let i = 0; i < jobs.length; i += 1000) {
      const rows = jobs.slice(i, i + 1000).map((j, k) => ({
        id: newId('job'),
        index: base + i + k,
        targets: j.targets,
        address_count: j.addressCount,
        tcp_ports: j.tcpPorts,
        scripts: snapshot.scripts,
        nmap_args: snapshot.nmapArgs,
      }));
      await tx.query(
        `insert into jobs (id, run_id, index, targets, address_count, tcp_ports, scripts, nmap_args, status, stage)
         select x.id, $2, x.index, array(select jsonb_array_elements_text(x.targets)), x.address_count, x.tcp_ports,
           array(select jsonb_array_elements_text(x.scripts)), array(select jsonb_array_elements_text(x.nmap_args)), 'queued', 'scan'
         from jsonb_to_recordset($1::jsonb) as x(id text, index int, targets jsonb, address_count int, tcp_ports text, scripts jsonb, nmap_args jsonb)`,
        [JSON.stringify(rows), runId],
      );
    }
    const jobCount = base + jobs.length;
    const addressCount = meta.addressCount + jobs.reduce((s, j) => s + j.addressCount, 0);
    await tx.query(
      `update runs set progress = progress || jsonb_build_object('jobCount', $2::int, 'addressCount', $3::int, 'scanStage', true) || $4::jsonb where id = $1`,
      [runId, jobCount, addressCount, JSON.stringify(dropped ? { scanStageDropped: dropped } : {})],
    );
    return { jobCount, addressCount, ...(dropped ? { dropped } : {}) };
  });
}
