import { z } from '@hono/zod-openapi';
import type { Rule } from '../../../core/rules/schema.ts';

const TestDoc = z.record(z.string(), z.array(z.string()));

export const RuleSchema = z
  .object({
    name: z.string(),
    description: z.string(),
    query: z.string(),
    tags: z.array(z.string()),
    version: z.string(),
    severity: z.string().nullable(),
    references: z.array(z.string()),
    enabled: z.boolean(),
    tests: z
      .object({ match: z.array(TestDoc), noMatch: z.array(TestDoc) })
      .nullable()
      .openapi({ description: "the rule file's test cases (`tests: {match, no_match}` in YAML)" }),
    source: z.string(),
    hash: z.string(),
  })
  .openapi('Rule');

export const ruleJson = (r: Rule) => ({
  name: r.name,
  description: r.description,
  query: r.query,
  tags: r.tags,
  version: r.version,
  severity: r.severity ?? null,
  references: r.references,
  enabled: r.enabled,
  tests: r.tests ? { match: r.tests.match ?? [], noMatch: r.tests.no_match ?? [] } : null,
  source: r.source,
  hash: r.hash,
});

export const RuleNameParam = z.object({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/, 'must be a rule name (lowercase letters, digits, . _ -)')
    .openapi({ param: { name: 'name', in: 'path' } }),
});
