import { z } from '@hono/zod-openapi';
import { PlumError } from '../../../core/errors.ts';
import { parseScriptList } from '../../../core/profiles.ts';
import type { Principal } from '../../context.ts';

export const ProfileSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().optional(),
    tcpPorts: z.string(),
    udpPorts: z.string().optional(),
    scripts: z.array(z.string()),
    allowScripts: z
      .array(z.string())
      .openapi({ description: 'Scripts of refused categories (broadcast, external, dos, exploit, brute, intrusive) an admin allowed for this profile' }),
    nmapArgs: z.array(z.string()),
    every: z.string(),
    priority: z.number(),
    targets: z.string(),
    hostTimeout: z.string(),
    scanner: z.enum(['nmap', 'sslscan']).openapi({ description: 'The scanner that runs the profile: nmap, or sslscan (the TLS scanner)' }),
    trigger: z.string().optional().openapi({
      description: "A trigger profile's query: it scans each service a new finding makes match it; its tcpPorts is empty and every/targets do not apply",
    }),
    scouting: z
      .object({ rate: z.number() })
      .nullable()
      .openapi({ description: 'Two-stage profile: masscan sweeps the targets at `rate` packets a second, then nmap scans what answered; null for nmap alone' }),
    enabled: z.boolean(),
    builtin: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('ScanProfile');

/** Shape checks only; the profile schema (core/profiles.ts) validates ports, scripts and nmap options. */
export const ProfileBody = z
  .object({
    name: z.string().min(1).max(63),
    description: z.string().max(500).optional(),
    tcpPorts: z.string().min(1).max(10_000).optional().openapi({ description: 'Required unless trigger is given' }),
    udpPorts: z.string().max(10_000).nullable().optional(),
    scripts: z.union([z.string().max(2000), z.array(z.string().max(200)).max(100)]).optional(),
    allowScripts: z
      .union([z.string().max(2000), z.array(z.string().max(200)).max(100)])
      .optional()
      .openapi({ description: 'Allow these scripts although their category is refused; needs the admin role' }),
    nmapArgs: z.union([z.string().max(2000), z.array(z.string().max(200)).max(100)]).optional(),
    every: z.string().max(100).optional(),
    priority: z.number().int().min(0).max(4).optional(),
    targets: z.string().max(200).optional(),
    hostTimeout: z.string().max(20).optional(),
    scanner: z
      .string()
      .max(20)
      .optional()
      .openapi({ description: 'nmap (default) or sslscan, the TLS scanner; a TLS profile takes no scripts, nmapArgs or UDP ports' }),
    trigger: z.string().max(2000).nullable().optional().openapi({
      description:
        'A search query (the language of /v1/search): the profile scans, once per fingerprint, each service a new finding makes match it; no tcpPorts, every or targets then',
    }),
    scouting: z
      .object({ rate: z.number().int().min(1).max(10_000_000) })
      .strict()
      .nullable()
      .optional()
      .openapi({ description: 'Two-stage profile: `{ rate }` of the masscan scouting stage in packets a second; null or absent for nmap alone' }),
    enabled: z.boolean().optional(),
  })
  .strict();

export const ProfileParam = z.object({
  name: z
    .string()
    .regex(/^([a-z0-9][a-z0-9_-]{0,62}|prof_[0-9a-z]{26})$/, 'must be a profile name or prof_… id')
    .openapi({ param: { name: 'name', in: 'path' } }),
});

/** Allowing a script of a refused category is an admin decision (API keys below admin get 403). */
export function requireAdminForAllowance(principal: Principal, requested: string | string[] | undefined, current: readonly string[] = []): void {
  const added = parseScriptList(requested).filter((s) => !current.includes(s));
  if (added.length === 0) return;
  if (principal.kind === 'key' && principal.role === 'admin') return;
  throw new PlumError('forbidden', `allowing script${added.length > 1 ? 's' : ''} ${added.join(', ')} needs the admin role`, {
    hint: 'ask an admin to set allowScripts on the profile',
  });
}
