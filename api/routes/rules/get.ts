import { createRoute, z } from '@hono/zod-openapi';
import { PlumError } from '../../../core/errors.ts';
import { BUILTIN_RULES_DIR } from '../../../core/rules/load.ts';
import { getStoredRule, listStoredRules, syncRulesDir } from '../../../store/rules/index.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { RuleNameParam, RuleSchema, ruleJson } from './schemas.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/rules/{name}',
  tags: ['rules'],
  summary: 'Show a rule (query, tags, test cases)',
  security,
  middleware: [requireRole('viewer')] as const,
  request: { params: RuleNameParam },
  responses: { 200: jsonContent(z.object({ rule: RuleSchema }), 'The rule'), ...errors(400, 401, 403, 404) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { store, config } = c.var.deps;
      const { name } = c.req.valid('param');
      if ((await listStoredRules(store)).length === 0) await syncRulesDir(store, config.PLUM_RULES_DIR ?? BUILTIN_RULES_DIR);
      const rule = await getStoredRule(store, name);
      if (!rule) throw new PlumError('not_found', `no rule named ${name}`, { hint: 'list rules with GET /v1/rules' });
      return c.json({ rule: ruleJson(rule) }, 200);
    });
  },
} satisfies RouteModule;
