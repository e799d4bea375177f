import type { ScannedResult } from '../scanner/contract.ts';
import { MASSCAN_VIEW, MasscanHosts } from './hosts.ts';
import { detectMasscanFormat, masscanRecordsOfLine } from './read.ts';

/*
 * What a masscan job wrote (-oX or -oJ) → the scanner contract's result, through the reader of imported files
 * (core/masscan/read.ts, hosts.ts). A scouting scan grabs no banners, so every port is in the plain masscan
 * view. Pure.
 */

/** The result of a masscan job's output; a line that cannot be read ends the valid part (reported in `error`). */
export function readMasscanOutput(output: Buffer): ScannedResult {
  const text = output.toString('utf8');
  const hosts = new MasscanHosts();
  // masscan leaves the file empty when nothing answered.
  if (text.trim() === '') return { view: MASSCAN_VIEW, finished: true, hosts: [] };
  const format = detectMasscanFormat(text.slice(0, 4096));
  let error: string | undefined;
  if (!format) error = 'not masscan output';
  else {
    const lines = text.split('\n');
    for (const [i, line] of lines.entries()) {
      try {
        for (const r of masscanRecordsOfLine(format, line, `line ${i + 1}`)) hosts.add(r);
      } catch (e) {
        // The last line of an interrupted scan may be cut in the middle: what came before is kept.
        error = (e as Error).message;
        break;
      }
    }
  }
  // The closing record masscan writes when it ends: XML's </nmaprun>, JSON's closing bracket.
  const finished = error === undefined && (format === 'xml' ? /<\/nmaprun>\s*$/.test(text) : /\]\s*$/.test(text));
  const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t * 1000).toISOString());
  return {
    view: MASSCAN_VIEW,
    ...(hosts.first !== undefined ? { startedAt: iso(hosts.first) } : {}),
    ...(hosts.last !== undefined ? { endedAt: iso(hosts.last) } : {}),
    finished,
    hosts: [...hosts.toHosts(undefined, MASSCAN_VIEW)],
    ...(error ? { error } : {}),
  };
}
