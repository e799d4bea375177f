import ipaddr from 'ipaddr.js';
import { PlumError } from '../errors.ts';

/**
 * Where a webhook may POST. Loopback, link-local (169.254.169.254, the cloud
 * metadata service), private, unique-local, CGNAT, multicast and unspecified
 * addresses reach the server's own network, not a subscriber: refused unless
 * the admin allows private destinations (PLUM_WEBHOOK_ALLOW_PRIVATE).
 */
const PUBLIC_RANGES = new Set(['unicast']);

/** The ipaddr.js range name of an address that is not a public destination, or undefined for a public one (pure). */
export function privateRange(address: string): string | undefined {
  let a: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    a = ipaddr.parse(address);
  } catch {
    return 'invalid';
  }
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
  const range = a.range();
  return PUBLIC_RANGES.has(range) ? undefined : range;
}

/** The host of a webhook URL as an address literal (brackets of IPv6 removed), or undefined for a name. */
export function literalHost(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return ipaddr.isValid(host) ? host : undefined;
}

export interface DestinationOptions {
  /** PLUM_WEBHOOK_ALLOW_PRIVATE: the admin allows private destinations. */
  allowPrivate?: boolean;
  /** All addresses of a name (the system resolver by default). */
  resolve?: (host: string) => Promise<string[]>;
}

async function systemResolve(host: string): Promise<string[]> {
  const { lookup } = await import('node:dns/promises');
  return (await lookup(host, { all: true, verbatim: true })).map((r) => r.address);
}

/**
 * Refuses a webhook URL whose host is, or resolves to, a non-public address
 * (every address of a name is checked). Runs when a webhook is created and
 * again before each delivery, after resolution, so a name moved to a private
 * address since is refused too.
 */
export async function assertPublicDestination(urlText: string, opts: DestinationOptions = {}): Promise<void> {
  if (opts.allowPrivate) return;
  const url = new URL(urlText);
  const literal = literalHost(url);
  let addresses: string[];
  if (literal) addresses = [literal];
  else {
    try {
      addresses = await (opts.resolve ?? systemResolve)(url.hostname);
    } catch (e) {
      throw new PlumError('invalid_input', `webhook host ${url.hostname} does not resolve: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        hint: 'check the URL; the host must resolve to a public address',
      });
    }
    if (addresses.length === 0) throw new PlumError('invalid_input', `webhook host ${url.hostname} does not resolve`, { hint: 'check the URL' });
  }
  for (const a of addresses) {
    const range = privateRange(a);
    if (range) {
      throw new PlumError('forbidden', `webhook URL ${url.origin} points at ${a} (${range}), not a public address`, {
        hint: "webhooks may not reach the server's own network; an admin can allow it with PLUM_WEBHOOK_ALLOW_PRIVATE=1",
        details: { address: a, range },
      });
    }
  }
}
