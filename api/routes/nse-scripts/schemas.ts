import { z } from '@hono/zod-openapi';
import { MAX_CUSTOM_SCRIPT_BYTES } from '../../../core/nmap/custom-scripts.ts';

export const NseScriptSchema = z
  .object({
    id: z.string(),
    name: z.string().openapi({ description: 'What profiles name in their scripts, and nmap reports as the script id' }),
    sha256: z.string().openapi({ description: 'SHA-256 of the content: what jobs carry and agents check' }),
    categories: z.array(z.string()).openapi({ description: 'nmap categories the Lua declares; the scan policy judges the script by them' }),
    size: z.number().int(),
    createdBy: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('NseScript');

/** Shape checks only; core/nmap/custom-scripts.ts validates the name, the Lua and the categories. */
export const NseScriptBody = z
  .object({
    name: z.string().min(1).max(100).openapi({ example: 'site-check' }),
    content: z.string().min(1).max(MAX_CUSTOM_SCRIPT_BYTES).openapi({ description: 'The .nse file, as UTF-8 text' }),
    replace: z.boolean().optional().openapi({ description: 'Replace the content of an existing script of that name (it gets a new sha256)' }),
  })
  .strict()
  .openapi('AddNseScript');

export const NseScriptParam = z.object({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a custom script name')
    .openapi({ param: { name: 'name', in: 'path' } }),
});
