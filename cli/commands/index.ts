import type { Command } from 'commander';
import type { CliContext } from '../context.ts';

export interface CommandModule {
  register(program: Command, ctx: CliContext): void;
}

interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<CommandModule>;
}

/**
 * Every top-level command, in help order, with the module that implements it.
 * Modules are imported only when their command runs: the heavy ones (Temporal,
 * Hono, PGlite) would otherwise cost seconds on every `plum` start.
 * One file per top-level command; add a line here when adding a command.
 */
export const commandEntries: CommandEntry[] = [
  { name: 'demo', summary: 'try Plum on a loopback test perimeter: scan, change, rescan, search, history', load: () => import('./demo.ts') },
  { name: 'init', summary: 'create the embedded database in $PLUM_HOME (or migrate the server database)', load: () => import('./init.ts') },
  { name: 'parse', summary: 'parse nmap XML into port or host documents with their fingerprints', load: () => import('./parse.ts') },
  { name: 'target', summary: 'declare the perimeter: addresses, ranges, names, exclusions', load: () => import('./target.ts') },
  { name: 'profile', summary: 'scan profiles: ports, scripts, nmap options, cycle, priority', load: () => import('./profile.ts') },
  { name: 'nse', summary: 'custom NSE scripts: add, list, rm', load: () => import('./nse.ts') },
  { name: 'plan', summary: 'show the jobs a profile run would make, without scanning', load: () => import('./plan.ts') },
  { name: 'run', summary: 'run a scan profile now', load: () => import('./run.ts') },
  { name: 'investigate', summary: 'urgent one-off scan of targets inside the perimeter', load: () => import('./investigate.ts') },
  { name: 'runs', summary: "runs and imports with their counters; a run's jobs and errors", load: () => import('./runs.ts') },
  { name: 'ingest', summary: 'import an existing nmap XML file', load: () => import('./ingest.ts') },
  { name: 'host', summary: "a host's current services, fingerprints, tags and history", load: () => import('./host.ts') },
  { name: 'history', summary: 'the change feed: appeared, changed, gone, reappeared', load: () => import('./history.ts') },
  { name: 'raw', summary: 'the nmap XML stored with a job, byte for byte', load: () => import('./raw.ts') },
  { name: 'search', summary: 'structured or token search over port documents', load: () => import('./search.ts') },
  { name: 'query', summary: 'check and explain a search query', load: () => import('./query.ts') },
  { name: 'report', summary: 'Markdown reports on any query and period; stored report definitions', load: () => import('./report.ts') },
  { name: 'export', summary: 'export observations as JSON, NDJSON, CSV or a MISP event', load: () => import('./export.ts') },
  { name: 'webhook', summary: 'webhooks that receive new events, signed with HMAC', load: () => import('./webhook.ts') },
  { name: 'rules', summary: 'tagging rules: list, show, test, apply, import', load: () => import('./rules.ts') },
  { name: 'explain', summary: "explain a host's exposure score", load: () => import('./explain.ts') },
  { name: 'mcp', summary: 'the MCP server for an LLM assistant, on standard input/output', load: () => import('./mcp.ts') },
  { name: 'backup', summary: 'copy the embedded database into a file, even while it is in use', load: () => import('./backup.ts') },
  { name: 'restore', summary: 'restore the embedded database from a `plum backup` file', load: () => import('./restore.ts') },
  { name: 'serve', summary: 'run the HTTP API (and, embedded, the scheduler and runner)', load: () => import('./serve.ts') },
  { name: 'scheduler', summary: 'run each enabled profile once per cycle (embedded mode)', load: () => import('./scheduler.ts') },
  { name: 'schedule', summary: 'Temporal Schedules, one per profile', load: () => import('./schedule.ts') },
  { name: 'worker', summary: 'the Temporal server-side worker', load: () => import('./worker.ts') },
  { name: 'agent', summary: 'a Temporal scanning agent', load: () => import('./agent.ts') },
  { name: 'apikey', summary: 'manage HTTP API keys', load: () => import('./apikey.ts') },
  { name: 'user', summary: 'web interface accounts: add, passwd, role, unlock, list, rm', load: () => import('./user.ts') },
  { name: 'agent-token', summary: 'manage agent tokens', load: () => import('./agent-token.ts') },
];

/** The command named on the command line (`plum [opts] NAME ...` or `plum help NAME`), if any. */
export function requestedCommand(args: string[]): string | undefined {
  const words = args.filter((a) => !a.startsWith('-'));
  const first = words[0] === 'help' ? words[1] : words[0];
  return commandEntries.some((e) => e.name === first) ? first : undefined;
}

/**
 * Registers the named command's real module, or, for top-level help and
 * unknown commands, light stubs that only carry names and summaries.
 */
export async function registerCommands(program: Command, ctx: CliContext, args: string[]): Promise<void> {
  const wanted = requestedCommand(args);
  for (const entry of commandEntries) {
    if (entry.name === wanted) (await entry.load()).register(program, ctx);
    else program.command(entry.name).description(entry.summary).helpOption(false).allowUnknownOption().allowExcessArguments();
  }
}

/** Every module, loaded: for tests that check each command's help. */
export async function loadAllCommands(): Promise<CommandModule[]> {
  return Promise.all(commandEntries.map((e) => e.load()));
}
