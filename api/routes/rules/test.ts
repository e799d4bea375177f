import { createRoute, z } from '@hono/zod-openapi';
import { PlumError } from '../../../core/errors.ts';
import { runRuleTests } from '../../../core/rules/testing.ts';
import { openRuleContext } from '../../../store/rules/index.ts';
import { testRuleOnHost } from '../../views/rules.ts';
import { expensive, requireRole } from '../../auth.ts';
import { errors, jsonBody, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';

const Body = z
  .object({
    rule: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/, 'must be a rule name')
      .optional(),
    ip: z
      .string()
      .min(2)
      .max(45)
      .regex(/^[0-9a-fA-F:.]+$/, 'must be an IPv4 or IPv6 address')
      .optional(),
  })
  .strict()
  .refine((b) => !b.ip || b.rule, { message: 'give the rule to try on the host', path: ['rule'] })
  .openapi('TestRules');

const Report = z.object({
  rules: z.number(),
  cases: z.number(),
  failures: z.array(z.object({ rule: z.string(), source: z.string(), kind: z.enum(['match', 'no_match']), index: z.number(), tags: z.array(z.string()) })),
  untested: z.array(z.string()),
});
const HostTry = z.object({
  rule: z.string(),
  ip: z.string(),
  ports: z.array(
    z.object({ protocol: z.string(), port: z.number(), hsh256: z.string(), matches: z.boolean(), tags: z.array(z.string()), storedTags: z.array(z.string()) }),
  ),
});

export const route = createRoute({
  method: 'post',
  path: '/v1/rules/test',
  tags: ['rules'],
  summary: "Run rule test cases (all rules or one), or try one rule on a stored host's open ports",
  security,
  middleware: [requireRole('viewer'), expensive] as const,
  request: { body: jsonBody(Body) },
  responses: {
    200: jsonContent(z.union([Report, HostTry]).openapi('RuleTestResult'), 'Test report (no ip) or per-port verdicts (ip)'),
    ...errors(400, 401, 403, 404, 429),
  },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const b = c.req.valid('json');
      const { store, config } = c.var.deps;
      const rc = await openRuleContext(store, config);
      if (b.rule && !rc.set.byName.has(b.rule)) {
        throw new PlumError('not_found', `no enabled rule named ${b.rule}`, { hint: 'list rules with GET /v1/rules' });
      }
      if (!b.ip) {
        const r = runRuleTests(rc.set, b.rule ? [b.rule] : undefined);
        return c.json(
          {
            rules: r.rules,
            cases: r.cases,
            untested: r.untested,
            failures: r.failures.map((f) => ({ rule: f.rule, source: f.source, kind: f.kind, index: f.index, tags: f.tags })),
          },
          200,
        );
      }
      return c.json(await testRuleOnHost(store, rc, b.rule!, b.ip), 200);
    });
  },
} satisfies RouteModule;
