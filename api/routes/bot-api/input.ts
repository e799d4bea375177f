import type { Context } from 'hono';
import { z } from 'zod';
import { PlumError } from '../../../core/errors.ts';
import type { ApiEnv } from '../../context.ts';
import { checkLegacyKey, LEGACY_KEY_LENGTH, type LegacyIdentity } from '../../../store/repos/legacy-agents.ts';

/*
 * What every /bot_api request carries (docs/migration.md, "Agents"), read from a JSON
 * body whatever its content type says, and the answers in the predecessor's
 * shape: `{"message": …}` with its status codes, not Plum's error envelope.
 */

const identity = z.object({
  UID: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, { error: 'UID must be a 36-character UUID' }),
  DEVICE_MODEL: z.string().max(200),
  AGENT_VERSION: z.string().max(100),
  SYSTEM_VERSION: z.string().max(200),
  EXT_IP: z.string().max(100),
  AGENT_KEY: z.string().length(LEGACY_KEY_LENGTH, { error: `AGENT_KEY must be ${LEGACY_KEY_LENGTH} characters` }),
});

export type BotRequest<T extends z.ZodRawShape> = z.infer<typeof identity> & z.infer<z.ZodObject<T>>;

/** The switch (PLUM_LEGACY_BOT_API): off, the routes do not exist. */
export const botApiEnabled = (c: Context<ApiEnv>) => c.var.deps.config.PLUM_LEGACY_BOT_API;

export const notFound = (c: Context<ApiEnv>) => c.json({ message: 'not found' }, 404);
export const invalid = (c: Context<ApiEnv>, what: string) => c.json({ message: `Invalid input: ${what}` }, 400);
export const forbidden = (c: Context<ApiEnv>) => c.json({ message: 'forbidden' }, 403);

/** The body as JSON (any content type) checked against identity + `extra`; a string answer is the 400's reason. */
export async function readBotRequest<T extends z.ZodRawShape>(c: Context<ApiEnv>, extra: T): Promise<BotRequest<T> | string> {
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch {
    return 'the body is not JSON';
  }
  const r = identity.extend(extra).safeParse(body);
  if (r.success) return r.data as BotRequest<T>;
  const issue = r.error.issues[0]!;
  return `${issue.path.join('.') || 'body'}: ${issue.message}`;
}

export const identityOf = (b: z.infer<typeof identity>): LegacyIdentity => ({
  uid: b.UID.toLowerCase(),
  deviceModel: b.DEVICE_MODEL,
  agentVersion: b.AGENT_VERSION,
  systemVersion: b.SYSTEM_VERSION,
  extIp: b.EXT_IP,
});

/** The key's id, or undefined when the key is unknown or revoked. */
export const keyOf = (c: Context<ApiEnv>, b: z.infer<typeof identity>) => checkLegacyKey(c.var.deps.store, b.AGENT_KEY);

/** Our typed errors → §8's status codes and messages. */
export function answerError(c: Context<ApiEnv>, e: unknown): Response {
  if (!(e instanceof PlumError)) throw e;
  const status = ({ not_found: 404, forbidden: 403, conflict: 409, rate_limited: 429, invalid_input: 400, parse_error: 400 } as const)[e.code as string];
  if (status === undefined) throw e;
  return c.json({ message: status === 400 ? `Invalid input: ${e.message}` : e.message }, status);
}
