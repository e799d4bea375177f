import { z } from '@hono/zod-openapi';
import { typedId } from '../../schemas.ts';

export const TargetSchema = z
  .object({
    id: z.string(),
    value: z.string(),
    kind: z.enum(['ip', 'cidr', 'range', 'fqdn']),
    labels: z.array(z.string()),
    exclude: z.boolean(),
    note: z.string().nullable(),
    size: z.number().openapi({ description: 'Addresses covered (1 for a name)' }),
    createdAt: z.string(),
  })
  .openapi('Target');

export const OverlapSchema = z
  .object({
    target: z.string(),
    overlaps: z.string(),
    shared: z.string().openapi({ description: 'Shared addresses, as a decimal string (IPv6 counts exceed 2^53)' }),
  })
  .openapi('TargetOverlap');

/** Overlap counts are bigints: JSON carries them as decimal strings. */
export const overlapJson = (o: { target: string; overlaps: string; shared: bigint }) => ({
  target: o.target,
  overlaps: o.overlaps,
  shared: o.shared.toString(),
});

export const TargetIdParam = z.object({ id: typedId('tgt').openapi({ param: { name: 'id', in: 'path' } }) });

export const Label = z.string().trim().min(1).max(100);
