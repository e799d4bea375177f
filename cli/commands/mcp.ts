import fs from 'node:fs';
import type { Command } from 'commander';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createApp } from '../../api/app.ts';
import { PlumError } from '../../core/errors.ts';
import { authenticateApiKey } from '../../store/repos/apikeys.ts';
import { inProcessApi } from '../../mcp/api-call.ts';
import { reportFor } from '../../mcp/http.ts';
import { createPlumMcpServer } from '../../mcp/server.ts';
import type { CliContext } from '../context.ts';
import { openCommandStore } from './init.ts';

/** The API key a local assistant uses: the first line of the file, checked before the server starts. */
function readKey(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new PlumError('usage', `cannot read --key-file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      hint: 'create a key with `plum apikey create --role viewer --name assistant` and save it in that file',
    });
  }
  const key = text.split('\n')[0]!.trim();
  if (!key) throw new PlumError('usage', `--key-file ${file} is empty`, { hint: 'save the key from `plum apikey create` in it' });
  return key;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('mcp')
    .description("run the MCP server on standard input/output for an LLM assistant, limited by an API key's role (over HTTP: `plum serve` answers on /mcp)")
    .requiredOption('--key-file <path>', 'file holding an API key from `plum apikey create` (its role bounds what the assistant may do)')
    .action(async (opts: { keyFile: string }) => {
      const key = readKey(opts.keyFile);
      // Shared like `plum serve`: other plum commands keep working while the assistant is connected.
      const store = await openCommandStore(ctx, { share: true });
      const info = await authenticateApiKey(store, key);
      if (!info) throw new PlumError('unauthorized', `the key in ${opts.keyFile} is not a valid API key`, { hint: 'create one with `plum apikey create`' });
      if (info.revokedAt) throw new PlumError('unauthorized', `the key in ${opts.keyFile} is revoked`, { hint: 'create a new one with `plum apikey create`' });
      const { buildServeServices } = await import('../../workers/serve-services.ts');
      const services = await buildServeServices({ store, config: ctx.config, log: ctx.log });
      ctx.onClose(() => services.close());
      const app = createApp({ store, config: ctx.config, log: ctx.log, services: services.api });
      const server = createPlumMcpServer({ call: inProcessApi(app, `Bearer ${key}`), report: reportFor({ store, config: ctx.config, log: ctx.log }) });
      const transport = new StdioServerTransport();
      const closed = new Promise<void>((resolve) => {
        transport.onclose = () => resolve();
        process.stdin.once('end', () => resolve());
      });
      await server.connect(transport);
      ctx.log.info({ role: info.role }, 'MCP server on standard input/output');
      await closed;
      await server.close();
    });
}
