import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { bodyLimit } from 'hono/body-limit';
import { PlumError } from '../core/errors.ts';
import { requireRole } from '../api/auth.ts';
import type { ApiApp, ResolvedDeps } from '../api/context.ts';
import { inProcessApi } from './api-call.ts';
import { createPlumMcpServer, type PlumMcpDeps } from './server.ts';
import { generateReport } from '../activities/report.ts';
import { reportSettingsOf } from '../activities/report-settings.ts';

/** A report for an MCP caller: the same generator as `plum report` and the API's investigation reports. */
export function reportFor(deps: Pick<ResolvedDeps, 'store' | 'config' | 'log'>): PlumMcpDeps['report'] {
  return async (opts) =>
    (
      await generateReport(deps.store, {
        query: opts.query,
        since: opts.since,
        from: opts.from,
        to: opts.to,
        hostLimit: opts.hostLimit,
        ...(await reportSettingsOf(deps.config, deps.log)),
      })
    ).markdown;
}

/**
 * `/mcp`: the MCP server over streamable HTTP, stateless (one server per request, JSON answers), behind the
 * API's key check: the key's role bounds every tool, which calls the API in-process with that same key.
 */
export function registerMcpRoute(app: ApiApp, deps: ResolvedDeps): void {
  app.use(
    '/mcp',
    bodyLimit({
      maxSize: deps.limits.jsonBodyBytes,
      onError: () => {
        throw new PlumError('payload_too_large', `request body larger than ${deps.limits.jsonBodyBytes} bytes`, { hint: 'send smaller MCP messages' });
      },
    }),
  );
  app.all('/mcp', requireRole('viewer'), async (c) => {
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    const server = createPlumMcpServer({ call: inProcessApi(app, c.req.header('authorization') ?? ''), report: reportFor(deps) });
    await server.connect(transport);
    try {
      return await transport.handleRequest(c.req.raw);
    } finally {
      await server.close();
    }
  });
}
