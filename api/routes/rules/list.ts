import { createRoute, z } from '@hono/zod-openapi';
import { BUILTIN_RULES_DIR } from '../../../core/rules/load.ts';
import { listStoredRules, syncRulesDir } from '../../../store/rules/index.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { RuleSchema, ruleJson } from './schemas.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/rules',
  tags: ['rules'],
  summary: 'List tagging rules',
  security,
  middleware: [requireRole('viewer')] as const,
  request: { query: z.object({ tag: z.string().min(1).max(200).optional().openapi({ description: 'only rules giving this tag' }) }) },
  responses: { 200: jsonContent(z.object({ items: z.array(RuleSchema) }), 'Rules by name'), ...errors(400, 401, 403) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { store, config } = c.var.deps;
      let rules = await listStoredRules(store);
      // First use: load the shipped rules, as every rule command does.
      if (rules.length === 0) {
        await syncRulesDir(store, config.PLUM_RULES_DIR ?? BUILTIN_RULES_DIR);
        rules = await listStoredRules(store);
      }
      const tag = c.req.valid('query').tag?.toLowerCase();
      return c.json({ items: rules.filter((r) => !tag || r.tags.includes(tag)).map(ruleJson) }, 200);
    });
  },
} satisfies RouteModule;
