import { createHash } from 'node:crypto';

/*
 * A view of a port: what a scan asked nmap to look at there — the requested NSE scripts (and their
 * arguments) and the service-detection mode. Two scans with different views fingerprint the same service
 * differently (a banner scan has no page title, a web scan has no banner), so fingerprints are compared
 * only within one view (core/history/decide.ts). A view is stored as a short canonical text on each
 * observation (port_observations.view): the same scan settings always give the same text.
 *
 *   `script:http-title,ssl-cert sV args:1a2b3c4d`   scripts sorted, `sV` (or `sV:N` for another intensity),
 *                                                  an 8-hex digest of the script arguments
 *   `ports`                                        no scripts, no service detection
 *   `unknown`                                      scan settings not known (observations stored before views)
 *
 * Migration 0021 computes the same text in SQL for the observations stored before views: it walks a job's
 * options as viewOfJob and viewFromArgv do (store/migrations/0021_observation_views.sql).
 */

export const PLAIN_VIEW = 'ports';
/** Observations whose scan settings are not known: stored before views existed, or an XML without `args`. */
export const UNKNOWN_VIEW = 'unknown';

/** nmap's default version intensity, and what --version-light / --version-all set. */
const DEFAULT_INTENSITY = 7;

/** The script name in a --script item: a path or file name of an .nse script counts as the script itself. */
function scriptName(item: string): string {
  const base = item.slice(Math.max(item.lastIndexOf('/'), item.lastIndexOf('\\')) + 1);
  return base.toLowerCase().endsWith('.nse') ? base.slice(0, -4) : base;
}

/** The value of an option given as `--opt value`, `--opt=value` (or single-dash, as nmap's getopt_long_only reads it). */
function optionValue(argv: readonly string[], i: number, names: readonly string[]): { value: string; next: number } | undefined {
  const tok = argv[i]!;
  for (const name of names) {
    for (const spelling of [`--${name}`, `-${name}`]) {
      if (tok === spelling && i + 1 < argv.length) return { value: argv[i + 1]!, next: i + 1 };
      if (tok.startsWith(`${spelling}=`)) return { value: tok.slice(spelling.length + 1), next: i };
    }
  }
  return undefined;
}

/** The view of a scan from its nmap command line (argument tokens, with or without the program name). */
export function viewFromArgv(argv: readonly string[]): string {
  const scripts = new Set<string>();
  const scriptArgs: string[] = [];
  let versionScan = false;
  let intensity = DEFAULT_INTENSITY;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') break;
    const script = optionValue(argv, i, ['script']);
    if (script) {
      for (const item of script.value.split(',')) if (item.trim()) scripts.add(scriptName(item.trim()));
      i = script.next;
      continue;
    }
    const args = optionValue(argv, i, ['script-args']);
    if (args) {
      scriptArgs.push(args.value);
      i = args.next;
      continue;
    }
    const level = optionValue(argv, i, ['version-intensity']);
    if (level) {
      intensity = Number(level.value);
      i = level.next;
      continue;
    }
    if (tok === '-sV') versionScan = true;
    else if (tok === '-sC') scripts.add('default');
    else if (tok === '-A') {
      versionScan = true;
      scripts.add('default');
    } else if (tok === '--version-light' || tok === '-version-light') intensity = 2;
    else if (tok === '--version-all' || tok === '-version-all') intensity = 9;
  }
  const parts: string[] = [];
  if (scripts.size > 0) parts.push(`script:${[...scripts].sort().join(',')}`);
  if (versionScan) parts.push(intensity === DEFAULT_INTENSITY ? 'sV' : `sV:${intensity}`);
  if (scriptArgs.length > 0) parts.push(`args:${createHash('sha256').update(scriptArgs.join(',')).digest('hex').slice(0, 8)}`);
  return parts.length > 0 ? parts.join(' ') : PLAIN_VIEW;
}

/** The view of a job from its profile's scripts and extra nmap options (as activities/nmap.ts builds the command). */
export function viewOfJob(scripts: readonly string[], nmapArgs: readonly string[]): string {
  return viewFromArgv([...(scripts.length > 0 ? ['--script', scripts.join(',')] : []), ...nmapArgs]);
}

/** The view of an imported result from nmap's own command line (`<nmaprun args>`); unknown without one. */
export function viewFromNmapCommand(args: string | undefined): string {
  const argv = (args ?? '').trim().split(/\s+/).filter(Boolean);
  return argv.length > 0 ? viewFromArgv(argv) : UNKNOWN_VIEW;
}
