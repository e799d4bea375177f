import cliProgress from 'cli-progress';
import { counted } from '../core/plural.ts';
import type { JobHeartbeat } from '../activities/index.ts';
import type { RunEvent } from '../workflows/logic/types.ts';
import type { RunProgress } from '../workflows/temporal-run.ts';

/*
 * What a person sees while an embedded run works: one bar for the run (jobs
 * done) and one bar per job in flight with nmap's phase, percent and ETA. On a
 * terminal the bars redraw in place on stderr; elsewhere (CI, pipes) one line
 * per job keeps logs readable. stdout stays free for --format json.
 */
export interface ProgressDisplay {
  onEvent(e: RunEvent): void;
  onJobProgress(hb: JobHeartbeat): void;
  stop(): void;
}

export function createProgressDisplay(opts: { stream?: NodeJS.WriteStream; label?: string; tty?: boolean } = {}): ProgressDisplay {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? Boolean(stream.isTTY);
  const label = opts.label ?? 'run';
  let total = 0;
  let done = 0;
  const line = (s: string) => stream.write(`${s}\n`);
  if (!tty) {
    return {
      onEvent(e) {
        if (e.type === 'planned') {
          total = e.plan.jobCount;
          line(
            `${label}: ${e.plan.jobCount} job${e.plan.jobCount === 1 ? '' : 's'} over ${e.plan.addressCount} address${e.plan.addressCount === 1 ? '' : 'es'}${e.plan.resumed ? ' (resumed)' : ''}` +
              `${e.plan.scoutJobs ? `, ${counted(e.plan.scoutJobs, 'scouting job')} (masscan) first` : ''}`,
          );
        } else if (e.type === 'stage') {
          const added = e.plan.jobCount - total;
          total = e.plan.jobCount;
          line(`${label}: scouting done: ${counted(added, 'nmap job')} on what answered`);
        } else if (e.type === 'job-finished') {
          done++;
          const o = e.outcome;
          line(
            `${label}: job ${o.index + 1}/${total} ${o.status}: ${o.hostsUp} host${o.hostsUp === 1 ? '' : 's'} up, ${o.ports} open port${o.ports === 1 ? '' : 's'}, ${o.appeared} appeared, ${o.changed} changed, ${o.gone} gone${o.error ? ` (${o.error})` : ''}`,
          );
        }
      },
      onJobProgress() {},
      stop() {},
    };
  }
  const multi = new cliProgress.MultiBar(
    {
      stream,
      hideCursor: true,
      clearOnComplete: false,
      format: ' {name} [{bar}] {percentage}% | {info}',
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  let runBar: cliProgress.SingleBar | undefined;
  const jobBars = new Map<string, cliProgress.SingleBar>();
  return {
    onEvent(e) {
      if (e.type === 'planned') {
        total = e.plan.jobCount;
        runBar = multi.create(Math.max(1, total), 0, {
          name: label.padEnd(12).slice(0, 12),
          info: `0/${counted(total, 'job')}${e.plan.scoutJobs ? ', scouting' : ''}`,
        });
      } else if (e.type === 'stage') {
        // The nmap stage of a two-stage run: its jobs join the run's total.
        total = e.plan.jobCount;
        runBar?.setTotal(Math.max(1, total));
        runBar?.update(done, { info: `${done}/${counted(total, 'job')}, nmap on what answered` });
      } else if (e.type === 'job-started') {
        const targets = e.spec.targets.length > 2 ? `${e.spec.targets.slice(0, 2).join(' ')} …` : e.spec.targets.join(' ');
        jobBars.set(
          e.spec.jobId,
          multi.create(100, 0, { name: `${e.spec.scout ? 'scout' : 'job'} ${e.spec.index + 1}`.padEnd(12), info: `${targets} starting` }),
        );
      } else if (e.type === 'job-finished') {
        done++;
        const bar = jobBars.get(e.outcome.jobId);
        if (bar) {
          multi.remove(bar);
          jobBars.delete(e.outcome.jobId);
        }
        runBar?.update(done, { info: `${done}/${counted(total, 'job')}` });
      } else if (e.type === 'finished') {
        runBar?.update(total, { info: `${e.summary.status}` });
      }
    },
    onJobProgress(hb) {
      const bar = jobBars.get(hb.jobId);
      if (!bar) return;
      bar.update(Math.round(hb.percent), { info: jobProgressInfo(hb) });
    },
    stop() {
      multi.stop();
    },
  };
}

/** What a job's bar says besides its percentage: the scanner's phase, the packets masscan sent, the time left. */
export function jobProgressInfo(hb: JobHeartbeat): string {
  return [
    hb.phase,
    ...(hb.packets !== undefined ? [counted(hb.packets, 'packet') + ' sent'] : []),
    ...(hb.etaSeconds !== undefined ? [`about ${hb.etaSeconds}s left`] : []),
  ].join(', ');
}

/** One line of a Temporal run's progress: the stage of a two-stage run, jobs done, open ports found. */
export function temporalProgressLine(p: RunProgress): string {
  const stage = p.stage === 'scout' ? 'scouting (masscan): ' : p.stage === 'scan' ? 'nmap stage: ' : '';
  return `plum: ${stage}${p.counters.jobsDone}/${counted(p.counters.jobs, 'job')} done, ${counted(p.counters.ports, 'open port')}`;
}
