import { PlumError } from './errors.ts';
import { judgeScriptArgs, shippedScriptArgAllowlist } from './nmap/script-args.ts';

/**
 * Extra nmap options of a profile, tokenised without a shell and checked
 * against an allowlist. nmap parses options with getopt_long_only, so
 * `-script`, `--script` and `--script=x` are the same option: every token is
 * normalised before checking. Anything not explicitly allowed is refused —
 * a bare word would become a target, and many options read or write files.
 */

const SHELL_META = /[;&|`$()<>\\'"*?{}[\]!#~^\n\r\t\0\x0b\x0c]/;
const CONTROL = /[\x00-\x1f\x7f]/;

/** True, or what the value should be. */
type ValueCheck = (v: string) => boolean | string;

const int =
  (min: number, max: number): ValueCheck =>
  (v) =>
    /^\d{1,9}$/.test(v) && +v >= min && +v <= max;
const num: ValueCheck = (v) => /^\d{1,9}(\.\d{1,6})?$/.test(v);
const time: ValueCheck = (v) => nmapTimeMs(v) !== undefined;

/** nmap's time values: seconds, or a number with ms, s, m or h. Milliseconds, or undefined when not a time. */
export function nmapTimeMs(v: string): number | undefined {
  const m = /^(\d{1,9}(?:\.\d{1,3})?)(ms|s|m|h)?$/.exec(v);
  if (!m) return undefined;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

const timeBetween =
  (minMs: number, maxMs: number, want: string): ValueCheck =>
  (v) => {
    const ms = nmapTimeMs(v);
    return (ms !== undefined && ms >= minMs && ms <= maxMs) || want;
  };

/**
 * --host-timeout, however it arrives (the profile field, --nmap-args, a job):
 * 0 would switch the timeout off, letting one host hold a job for ever.
 */
export const hostTimeoutCheck = timeBetween(1000, 24 * 3_600_000, 'a duration from 1s to 24h, e.g. 40s or 5m');

/** Validates a --host-timeout value; throws PlumError('invalid_input') saying what is expected. */
export function validateHostTimeout(v: string): string {
  const verdict = hostTimeoutCheck(v);
  if (verdict === true) return v;
  throw new PlumError('invalid_input', `invalid host timeout "${v}": needs ${verdict}`, { hint: "nmap's --host-timeout 0 would disable the timeout" });
}
const iface: ValueCheck = (v) => /^[a-zA-Z0-9_.:-]{1,32}$/.test(v);

/** Flags allowed without a value. */
const FLAGS = new Set([
  '-Pn',
  '-n',
  '-R',
  '-sS',
  '-sT',
  '-sV',
  '-O',
  '-f',
  '-v',
  '-vv',
  '-vvv',
  '--version-light',
  '--version-all',
  '--version-trace',
  '--open',
  '--reason',
  '--traceroute',
  '--osscan-limit',
  '--osscan-guess',
  '--defeat-rst-ratelimit',
  '--defeat-icmp-ratelimit',
  '--system-dns',
  '--privileged',
  '--unprivileged',
  '--send-eth',
  '--send-ip',
  '--disable-arp-ping',
  '--discovery-ignore-rst',
  '--noninteractive',
]);

/** Options taking one value (next token or `--name=value`). */
const VALUED: Record<string, ValueCheck> = {
  '--max-retries': int(0, 50),
  '--host-timeout': hostTimeoutCheck,
  '--script-timeout': timeBetween(1000, 24 * 3_600_000, 'a duration from 1s to 24h'),
  '--min-rate': num,
  '--max-rate': num,
  '--min-hostgroup': int(1, 4096),
  '--max-hostgroup': int(1, 4096),
  '--min-parallelism': int(1, 1024),
  '--max-parallelism': int(1, 1024),
  '--scan-delay': time,
  '--max-scan-delay': time,
  '--initial-rtt-timeout': time,
  '--min-rtt-timeout': time,
  '--max-rtt-timeout': time,
  '--version-intensity': int(0, 9),
  '--data-length': int(0, 1400),
  '--ttl': int(1, 255),
  '--source-port': int(1, 65535),
  '-g': int(1, 65535),
  '--mtu': int(8, 65528),
  '--max-os-tries': int(1, 50),
  '-e': iface,
  '--stats-every': time,
};

/** Why well-known options are refused: clearer than "not allowed". */
const REFUSED: Array<[RegExp, string]> = [
  [/^-(iL|iR)$|^--?(exclude|excludefile)$/, 'chooses targets; targets come from the perimeter'],
  [/^-o[NXGASMH]?$|^--?(append-output|resume|stylesheet|webxml|no-stylesheet|log-errors)$/, 'writes or controls output files; Plum handles output'],
  [/^-p$|^--?(top-ports|port-ratio|exclude-ports|allports)$|^-F$|^-r$/, 'chooses ports; set them with --ports on the profile'],
  [/^--?(script|script-updatedb|script-help|script-trace)$|^-s?C$|^-A$/, 'chooses scripts; set them with --scripts on the profile'],
  [/^--?(script-args-file|datadir|servicedb|versiondb|proxies|proxy|resume)$/, 'reads files or redirects traffic'],
  [/^-S$|^-D$|^--?(spoof-mac)$/, 'spoofs addresses'],
  [/^--?dns-servers?$/, "sends DNS lookups to a server of the caller's choosing; the system resolver is used"],
  [/^-s[LnUOYZAWMNFXI]/, 'changes the scan type; Plum picks it'],
  [/^-6$/, 'is chosen by Plum from the targets'],
];

export interface UnsafeDetail {
  token: string;
  reason: string;
}

function unsafe(token: string, reason: string): PlumError {
  return new PlumError('unsafe_argument', `refused nmap argument "${token}": ${reason}`, {
    hint: 'remove it from --nmap-args; allowed are timing, retry, rate, version-detection and script-argument options',
    details: { token, reason },
  });
}

/** Splits on spaces, refusing shell metacharacters, quotes and newlines (no shell is ever used). */
export function tokenizeNmapArgs(text: string): string[] {
  if (CONTROL.test(text.replace(/ /g, ''))) {
    const bad = text.match(/[\x00-\x1f\x7f]/)?.[0] ?? '';
    throw unsafe(JSON.stringify(bad).slice(1, -1), 'control characters and newlines are not allowed');
  }
  const tokens = text.split(/ +/).filter((t) => t !== '');
  for (const t of tokens) {
    const m = t.match(SHELL_META);
    if (m) throw unsafe(t, `contains the shell metacharacter ${JSON.stringify(m[0])}`);
  }
  return tokens;
}

/**
 * Splits `--max-retries=3` into name and inline value. A single-dash token of
 * more than one letter may be a long option for nmap (getopt_long_only), so
 * both readings are returned and both are checked.
 */
function normalise(token: string): { names: string[]; value?: string } {
  const eq = token.indexOf('=');
  const head = eq > 0 ? token.slice(0, eq) : token;
  const value = eq > 0 ? token.slice(eq + 1) : undefined;
  const names = /^-[^-]./.test(head) ? [head, `-${head}`] : [head];
  return { names, value };
}

/**
 * Validates tokens; returns them unchanged when all are allowed. Throws
 * PlumError('unsafe_argument') naming the first refused token.
 */
export function validateNmapArgs(tokens: string[]): string[] {
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (SHELL_META.test(token) || CONTROL.test(token)) throw unsafe(token, 'contains a shell metacharacter or control character');
    if (!token.startsWith('-')) throw unsafe(token, 'is not an option; a bare word would be scanned as a target');
    const { names, value } = normalise(token);
    for (const name of names) for (const [re, why] of REFUSED) if (re.test(name)) throw unsafe(token, why);
    if (/^-T([0-5]|paranoid|sneaky|polite|normal|aggressive|insane)$/.test(token)) continue;
    if (/^-d[0-9]?$/.test(token)) continue;
    if (names.some((n) => FLAGS.has(n))) {
      if (value !== undefined) throw unsafe(token, 'takes no value');
      continue;
    }
    if (names.includes('--script-args')) {
      const v = value ?? tokens[++i];
      if (v === undefined) throw unsafe(token, 'needs a value');
      const verdict = judgeScriptArgs(v, shippedScriptArgAllowlist());
      if (!verdict.ok) throw unsafe(`--script-args ${verdict.arg}`, verdict.reason);
      continue;
    }
    const name = names.find((n) => VALUED[n]);
    const check = name ? VALUED[name] : undefined;
    if (!check) throw unsafe(token, 'is not an allowed option');
    let v = value;
    if (v === undefined) {
      v = tokens[i + 1];
      if (v === undefined) throw unsafe(token, 'needs a value');
      i++;
    }
    if (v.startsWith('-')) throw unsafe(`${token} ${v}`, `needs a value, not the option "${v}"`);
    const verdict = check(v);
    if (verdict !== true)
      throw unsafe(`${token}${value === undefined ? ` ${v}` : ''}`, `invalid value "${v}"${typeof verdict === 'string' ? `: needs ${verdict}` : ''}`);
  }
  return tokens;
}

/** Tokenise and validate a profile's `--nmap-args` text. */
export function parseNmapArgs(text: string | undefined | null): string[] {
  if (!text || !text.trim()) return [];
  return validateNmapArgs(tokenizeNmapArgs(text));
}
