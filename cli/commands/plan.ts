import type { Command } from 'commander';
import { counted } from '../../core/plural.ts';
import { countPorts } from '../../core/profiles.ts';
import { formatDuration, planJobs, summarisePlan } from '../../core/plan.ts';
import { getProfile } from '../../store/repos/profiles.ts';
import { loadPlanTargets } from '../../store/repos/targets.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, printTable } from '../output.ts';
import { openCommandStore } from './init.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('plan')
    .description('show the jobs a profile would run over the declared targets, with address and probe counts and an estimated duration; scans nothing')
    .argument('<profile>', 'profile name or id')
    .option('--limit <n>', 'jobs to list in the table (all in JSON)', '20')
    .addOption(formatOption())
    .action(async (name: string, opts: { format: string; limit: string }) => {
      const store = await openCommandStore(ctx);
      const profile = await getProfile(store, name);
      const targets = await loadPlanTargets(store);
      const jobs = planJobs(profile, targets);
      const summary = summarisePlan(profile, jobs);
      if (opts.format === 'json') {
        printJson({
          profile: profile.name,
          summary,
          jobs: jobs.map((j) => ({
            index: j.index,
            kind: j.kind,
            targets: j.targets,
            address_count: j.addressCount,
            tcp_ports: j.tcpPorts,
            udp_ports: j.udpPorts ?? null,
            scripts: j.scripts,
            extra_args: j.extraArgs,
            host_timeout: j.hostTimeout,
          })),
        });
        return;
      }
      if (jobs.length === 0) {
        info(
          `profile ${profile.name} selects no targets (targets: ${profile.targets}); add some with plum target add VALUE${profile.targets === 'all' ? '' : ` --label ${profile.targets.slice(6)}`}`,
        );
        return;
      }
      const limit = Math.max(0, Number(opts.limit) || 0);
      const ports = countPorts(profile.tcpPorts) + countPorts(profile.udpPorts);
      printTable(
        jobs.slice(0, limit).map((j) => ({
          job: j.index,
          kind: j.kind,
          units: j.addressCount,
          probes: j.addressCount * ports,
          targets: j.targets.length > 4 ? `${j.targets.slice(0, 4).join(' ')} … (+${j.targets.length - 4})` : j.targets.join(' '),
        })),
        ['job', 'kind', 'units', 'probes', 'targets'],
      );
      if (jobs.length > limit) info(`… and ${counted(jobs.length - limit, 'more job')} (--limit N or --format json to see all)`);
      info(
        `profile ${profile.name}: ${counted(summary.jobs, 'job')}, ${counted(summary.addresses, 'address', 'addresses')}, ${counted(summary.names, 'name')}, ${counted(summary.probes, 'port probe')}; ` +
          `ports ${profile.tcpPorts}${profile.udpPorts ? ` U:${profile.udpPorts}` : ''}, scripts ${profile.scripts.join(',') || 'none'}`,
      );
      info(
        `estimated duration with one agent: about ${formatDuration(summary.estimatedSeconds)} (at most ${formatDuration(summary.worstCaseSeconds)} if every host times out)`,
      );
    });
}
