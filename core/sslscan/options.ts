import { createHash } from 'node:crypto';
import { PlumError } from '../errors.ts';

/*
 * The sslscan options a job may carry (core/scanner/contract.ts ScannerJob.options): the allowlist the
 * runner builds its command line from, and what the view (core/history/view.ts) of a TLS result is made
 * of. Options that change what sslscan looks at (a STARTTLS dialect, a check left out) change the view, so
 * fingerprints are compared only between results taken alike; pacing options (timeout, sleep) do not.
 */

interface FlagOption {
  kind: 'flag';
  view: boolean;
}
interface IntOption {
  kind: 'int';
  min: number;
  max: number;
  view: boolean;
}
type OptionSpec = FlagOption | IntOption;

const flag = (view = true): FlagOption => ({ kind: 'flag', view });

export const SSLSCAN_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  'no-heartbleed': flag(),
  'no-compression': flag(),
  'no-renegotiation': flag(),
  'no-fallback': flag(),
  'no-groups': flag(),
  'no-ciphersuites': flag(),
  'no-cipher-details': flag(),
  'starttls-ftp': flag(),
  'starttls-imap': flag(),
  'starttls-irc': flag(),
  'starttls-ldap': flag(),
  'starttls-mysql': flag(),
  'starttls-pop3': flag(),
  'starttls-psql': flag(),
  'starttls-smtp': flag(),
  'starttls-xmpp': flag(),
  'xmpp-server': flag(),
  rdp: flag(),
  bugs: flag(),
  /** Seconds per connection (sslscan's default is 3). */
  timeout: { kind: 'int', min: 1, max: 60, view: false },
  /** Milliseconds between connections. */
  sleep: { kind: 'int', min: 0, max: 10_000, view: false },
};

const STARTTLS = Object.keys(SSLSCAN_OPTIONS).filter((k) => k.startsWith('starttls-') || k === 'rdp');

/** The options checked against the allowlist, as `--name` / `--name=value` arguments in a stable order. */
export function sslscanOptionArgs(options: Readonly<Record<string, string | number | boolean>> = {}): string[] {
  const out: string[] = [];
  const dialects = Object.keys(options).filter((k) => STARTTLS.includes(k) && options[k] !== false);
  if (dialects.length > 1) {
    throw new PlumError('usage', `sslscan options ${dialects.map((d) => `--${d}`).join(' and ')} exclude each other`, {
      hint: 'keep one STARTTLS dialect per profile',
    });
  }
  for (const name of Object.keys(options).sort()) {
    const spec = SSLSCAN_OPTIONS[name];
    const value = options[name];
    if (!spec || !Object.hasOwn(SSLSCAN_OPTIONS, name)) {
      throw new PlumError('usage', `sslscan option "${name}" is not allowed`, { hint: `allowed: ${Object.keys(SSLSCAN_OPTIONS).join(', ')}` });
    }
    if (spec.kind === 'flag') {
      if (typeof value !== 'boolean')
        throw new PlumError('usage', `sslscan option "${name}" takes true or false, not "${String(value)}"`, { hint: `give ${name}: true` });
      if (value) out.push(`--${name}`);
      continue;
    }
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isInteger(n) || n < spec.min || n > spec.max) {
      throw new PlumError('usage', `sslscan option "${name}" takes a whole number from ${spec.min} to ${spec.max}, not "${String(value)}"`, {
        hint: `give ${name}: ${spec.min}`,
      });
    }
    out.push(`--${name}=${n}`);
  }
  return out;
}

/** The view of a TLS result: `sslscan`, or `sslscan opts:<8 hex>` when options change what sslscan looks at. */
export function sslscanView(options: Readonly<Record<string, string | number | boolean>> = {}): string {
  const seen = Object.keys(options)
    .filter((k) => SSLSCAN_OPTIONS[k]?.view && options[k] !== false)
    .sort();
  if (seen.length === 0) return 'sslscan';
  return `sslscan opts:${createHash('sha256').update(seen.join(',')).digest('hex').slice(0, 8)}`;
}
