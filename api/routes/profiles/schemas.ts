import { z } from '@hono/zod-openapi';

export const ProfileSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().optional(),
  tcpPorts: z.string(),
  udpPorts: z.string().optional(),
  scripts: z.array(z.string()),
  nmapArgs: z.array(z.string()),
  every: z.string(),
  priority: z.number(),
  targets: z.string(),
  hostTimeout: z.string(),
  enabled: z.boolean(),
  builtin: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
}).openapi('ScanProfile');

/** Shape checks only; the profile schema (core/profiles.ts) validates ports, scripts and nmap options. */
export const ProfileBody = z.object({
  name: z.string().min(1).max(63),
  description: z.string().max(500).optional(),
  tcpPorts: z.string().min(1).max(10_000),
  udpPorts: z.string().max(10_000).nullable().optional(),
  scripts: z.union([z.string().max(2000), z.array(z.string().max(200)).max(100)]).optional(),
  nmapArgs: z.union([z.string().max(2000), z.array(z.string().max(200)).max(100)]).optional(),
  every: z.string().max(100).optional(),
  priority: z.number().int().min(0).max(4).optional(),
  targets: z.string().max(200).optional(),
  hostTimeout: z.string().max(20).optional(),
  enabled: z.boolean().optional(),
}).strict();

export const ProfileParam = z.object({
  name: z.string().regex(/^([a-z0-9][a-z0-9_-]{0,62}|prof_[0-9a-z]{26})$/, 'must be a profile name or prof_… id').openapi({ param: { name: 'name', in: 'path' } }),
});

