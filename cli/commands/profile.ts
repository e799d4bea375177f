import type { Command } from 'commander';
import { cycleMs, type ProfileInput } from '../../core/profiles.ts';
import { formatDuration } from '../../core/plan.ts';
import { getProfile, listProfiles, removeProfile, saveProfile, setProfileEnabled, type StoredProfile } from '../../store/repos/profiles.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, printTable } from '../output.ts';
import { openCommandStore } from './init.ts';

export const profileJson = (p: StoredProfile) => ({
  id: p.id,
  name: p.name,
  description: p.description ?? null,
  tcp_ports: p.tcpPorts,
  udp_ports: p.udpPorts ?? null,
  scripts: p.scripts,
  allow_scripts: p.allowScripts,
  nmap_args: p.nmapArgs,
  every: p.trigger ? null : p.every,
  priority: p.priority,
  targets: p.trigger ? null : p.targets,
  trigger: p.trigger ?? null,
  host_timeout: p.hostTimeout,
  scanner: p.scanner,
  scouting: p.scouting,
  enabled: p.enabled,
  builtin: p.builtin,
  created_at: p.createdAt,
  updated_at: p.updatedAt,
});

interface AddOpts {
  ports?: string;
  udpPorts?: string;
  scripts?: string;
  allowScript: string[];
  nmapArgs?: string;
  every?: string;
  priority: string;
  targets?: string;
  trigger?: string;
  hostTimeout: string;
  scanner: string;
  scoutRate?: string;
  description?: string;
  replace: boolean;
  format: string;
}

export function register(program: Command, ctx: CliContext): void {
  const profile = program.command('profile').description('scan profiles: ports, scripts, nmap options, cycle, priority, target selection');

  profile
    .command('add')
    .description('add a scan profile (or change one with --replace)')
    .argument('<name>', 'profile name: lowercase letters, digits, "-" or "_"')
    .option('--ports <list>', 'TCP ports: 22,80,443 or ranges 8000-8100 (required unless --trigger)')
    .option('--udp-ports <list>', 'UDP ports (needs a root agent)')
    .option('--scripts <list>', 'NSE scripts, comma-separated: stock names (http-title), plum-banner, plum-favicon, or custom ones (plum nse list)')
    .option(
      '--allow-script <name>',
      'allow a script of a refused category (broadcast, external, dos, exploit, brute, intrusive) for this profile; repeatable',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--nmap-args <args>', 'extra nmap options, e.g. "-T4 --max-retries 1" (checked; no output, port, script or target options)')
    .option('--every <cycle>', 'cycle: 12h, 7d, 30m or a cron expression like "0 3 * * *" (UTC); default 12h')
    .option('--priority <0-4>', '0 background, 1 low, 2 normal, 3 high, 4 urgent', '2')
    .option('--targets <selection>', 'all, or label:NAME; default all')
    .option(
      '--trigger <query>',
      "a search query (plum search): scan, with this profile's scripts, each service a new finding makes match it (no --ports, --every or --targets)",
    )
    .option('--host-timeout <time>', 'nmap --host-timeout per host', '40s')
    .option('--scanner <name>', 'nmap, or sslscan: the TLS scanner (protocols, ciphers, certificate; no scripts or nmap options)', 'nmap')
    .option(
      '--scout-rate <pps>',
      'two-stage profile: masscan sweeps the targets × TCP ports first at this many packets a second, then nmap scans only what answered',
    )
    .option('--description <text>', 'what the profile is for')
    .option('--replace', 'replace an existing profile of that name', false)
    .addOption(formatOption())
    .action(async (name: string, opts: AddOpts) => {
      const input: ProfileInput = {
        name,
        tcpPorts: opts.ports,
        udpPorts: opts.udpPorts,
        scripts: opts.scripts,
        allowScripts: opts.allowScript,
        nmapArgs: opts.nmapArgs,
        every: opts.every,
        priority: opts.priority,
        targets: opts.targets,
        trigger: opts.trigger,
        hostTimeout: opts.hostTimeout,
        scanner: opts.scanner,
        ...(opts.scoutRate !== undefined ? { scouting: { rate: opts.scoutRate } } : {}),
        ...(opts.description ? { description: opts.description } : {}),
      };
      const store = await openCommandStore(ctx, { create: true });
      const saved = await saveProfile(store, input, { replace: opts.replace });
      if (opts.format === 'json') printJson(profileJson(saved));
      else if (saved.trigger)
        info(
          `profile ${saved.name} saved: scans what \`${saved.trigger}\` newly matches, scripts ${saved.scripts.join(',') || '(none)'}, priority ${saved.priority}`,
        );
      else
        info(
          `profile ${saved.name} saved${saved.scanner !== 'nmap' ? ` (scanner ${saved.scanner})` : ''}: ports ${saved.tcpPorts}${saved.udpPorts ? ` udp ${saved.udpPorts}` : ''}${saved.scouting ? `, scouting at ${saved.scouting.rate} packets/s` : ''}, every ${saved.every}, priority ${saved.priority}, targets ${saved.targets}`,
        );
    });

  profile
    .command('list')
    .description('list scan profiles (the built-in banner and web profiles included)')
    .addOption(formatOption())
    .action(async (opts: { format: string }) => {
      const store = await openCommandStore(ctx);
      const list = await listProfiles(store);
      if (opts.format === 'json') {
        printJson(list.map(profileJson));
        return;
      }
      printTable(
        list.map((p) => ({
          name: p.name,
          ports: p.trigger ? '(finding)' : p.tcpPorts + (p.udpPorts ? ` U:${p.udpPorts}` : ''),
          scripts: p.scripts,
          every: p.trigger ? `trigger: ${p.trigger}` : p.every,
          priority: p.priority,
          targets: p.trigger ? '(finding)' : p.targets,
          enabled: p.enabled ? 'yes' : 'no',
        })),
        ['name', 'ports', 'every', 'priority', 'targets', 'enabled', 'scripts'],
      );
    });

  profile
    .command('show')
    .description('show one profile')
    .argument('<name>', 'profile name or id')
    .addOption(formatOption())
    .action(async (name: string, opts: { format: string }) => {
      const store = await openCommandStore(ctx);
      const p = await getProfile(store, name);
      if (opts.format === 'json') {
        printJson(profileJson(p));
        return;
      }
      const lines = [
        `name:         ${p.name}${p.builtin ? ' (built-in)' : ''}${p.enabled ? '' : ' (disabled)'}`,
        ...(p.description ? [`description:  ${p.description}`] : []),
        ...(p.trigger ? [`trigger:      ${p.trigger} (scans the address and port of each new finding it matches)`] : [`tcp ports:    ${p.tcpPorts}`]),
        ...(p.udpPorts ? [`udp ports:    ${p.udpPorts}`] : []),
        `scripts:      ${p.scripts.join(', ') || '(none)'}`,
        ...(p.allowScripts.length ? [`allowed:      ${p.allowScripts.join(', ')} (refused categories, allowed by an admin)`] : []),
        `nmap args:    ${p.nmapArgs.join(' ') || '(none)'}`,
        ...(p.trigger ? [] : [`every:        ${p.every} (about ${formatDuration(cycleMs(p.every) / 1000)})`]),
        `priority:     ${p.priority}`,
        ...(p.trigger ? [] : [`targets:      ${p.targets}`]),
        `host timeout: ${p.hostTimeout}`,
        `scanner:      ${p.scanner}`,
        ...(p.scouting ? [`scouting:     masscan at ${p.scouting.rate} packets/s, then nmap on what answered`] : []),
        `id:           ${p.id}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  profile
    .command('rm')
    .description('remove a profile (built-in profiles are disabled instead); past runs keep its name')
    .argument('<name>', 'profile name or id')
    .action(async (name: string) => {
      const store = await openCommandStore(ctx);
      const p = await removeProfile(store, name);
      info(p.removed ? `profile ${p.name} removed` : `profile ${p.name} is built in: disabled instead (plum profile enable ${p.name} to undo)`);
    });

  for (const [cmd, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    profile
      .command(cmd)
      .description(`${cmd} a profile (disabled profiles are never scheduled)`)
      .argument('<name>', 'profile name or id')
      .action(async (name: string) => {
        const store = await openCommandStore(ctx);
        const p = await setProfileEnabled(store, name, enabled);
        info(`profile ${p.name} ${enabled ? 'enabled' : 'disabled'}`);
      });
  }
}
