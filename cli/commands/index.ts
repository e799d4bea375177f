import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import * as history from './history.ts';
import * as search from './search.ts';
import * as query from './query.ts';
import * as host from './host.ts';
import * as ingest from './ingest.ts';
import * as init from './init.ts';
import * as parse from './parse.ts';
import * as target from './target.ts';
import * as profile from './profile.ts';
import * as plan from './plan.ts';
import * as apikey from './apikey.ts';
import * as agentToken from './agent-token.ts';
import * as serve from './serve.ts';
import * as report from './report.ts';
import * as exportCmd from './export.ts';
import * as webhook from './webhook.ts';
import * as rules from './rules.ts';
import * as explain from './explain.ts';
import * as run from './run.ts';
import * as investigate from './investigate.ts';
import * as worker from './worker.ts';
import * as demo from './demo.ts';
import * as agent from './agent.ts';
import * as schedule from './schedule.ts';
import * as scheduler from './scheduler.ts';

export interface CommandModule {
  register(program: Command, ctx: CliContext): void;
}

/**
 * Every subcommand module, in help order. One file per top-level command;
 * add a line here when adding a command.
 */
export const commandModules: CommandModule[] = [
  demo,
  init,
  parse,
  target,
  profile,
  plan,
  run,
  investigate,
  ingest,
  host,
  history,
  search,
  query,
  report,
  exportCmd,
  webhook,
  rules,
  explain,
  serve,
  scheduler,
  schedule,
  worker,
  agent,
  apikey,
  agentToken,
];
