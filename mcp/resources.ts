import fs from 'node:fs';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ApiCall } from './api-call.ts';
import { FIELD_REGISTRY } from '../core/query/index.ts';
import { projectPath } from '../core/project-root.ts';

/** The query language's fields: name, type, match modes and what they hold. */
export function fieldCatalogue(): { name: string; type: string; modes: readonly string[]; description: string }[] {
  return [...FIELD_REGISTRY.values()].map((f) => ({ name: f.name, type: f.type, modes: f.modes, description: f.description }));
}

/** The search section of docs/usage.md: the query language as users read it, one source for both. */
const USAGE = projectPath('docs', 'usage.md');

export function queryLanguageReference(): string {
  const text = fs.readFileSync(USAGE, 'utf8');
  const start = text.indexOf('### Search');
  const end = text.indexOf('\n### ', start + 1);
  const section = start >= 0 ? text.slice(start, end > start ? end : undefined).trim() : '';
  const fields = fieldCatalogue().map((f) => `- \`${f.name}\` (${f.type}${f.modes.length > 1 ? `; ${f.modes.join(', ')}` : ''}): ${f.description}`);
  return `# Plum's query language\n\n${section}\n\n## Fields\n\n${fields.join('\n')}\n`;
}

const json = (uri: string, body: unknown) => ({ contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(body, null, 1) }] });

/** Resources: the query-language reference, the field registry, the rules, the perimeter (the last two as the key may read them). */
export function registerResources(server: McpServer, call: ApiCall): void {
  server.registerResource(
    'query-language',
    'plum://docs/query-language',
    {
      title: 'Query language reference',
      description: 'How to write Plum searches: terms, modifiers, operators, fields',
      mimeType: 'text/markdown',
    },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/markdown', text: queryLanguageReference() }] }),
  );

  server.registerResource(
    'fields',
    'plum://fields',
    {
      title: 'Field registry',
      description: 'Every searchable field with its type and match modes',
      mimeType: 'application/json',
    },
    async (uri) => json(uri.href, fieldCatalogue()),
  );

  const fromApi = (path: string) => async (uri: URL) => {
    const res = await call('GET', path);
    if (res.status >= 400) {
      const err = (res.body as { error?: { message?: string } }).error;
      throw new Error(err?.message ?? `HTTP ${res.status}`);
    }
    return json(uri.href, res.body);
  };
  server.registerResource(
    'rules',
    'plum://rules',
    {
      title: 'Tag rules',
      description: 'The tag rules: name, query, tags, enabled',
      mimeType: 'application/json',
    },
    fromApi('/v1/rules'),
  );
  server.registerResource(
    'perimeter',
    'plum://perimeter',
    {
      title: 'Perimeter',
      description: 'The declared targets and exclusions',
      mimeType: 'application/json',
    },
    fromApi('/v1/targets'),
  );
}
