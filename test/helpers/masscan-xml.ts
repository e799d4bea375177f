import fs from 'node:fs';
import path from 'node:path';

/*
 * masscan -oX output for tests that need a scouting sweep's result without scanning: the real masscan output of
 * test/fixtures/masscan/banners.xml (198.18.0.2 and 198.18.0.3 answering on 22, 80 and 8080), edited line by
 * line. masscan writes one <host> line per answer, so hosts and ports come and go with whole lines.
 */

const isHostLine = (l: string) => l.startsWith('<host ');

/** The fixture without its banner lines: what a scouting masscan (no --banners) writes for the same services. */
export function masscanSweepXml(): string {
  return fs
    .readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'masscan', 'banners.xml'), 'utf8')
    .split('\n')
    .filter((l) => !(isHostLine(l) && l.includes('<service')))
    .join('\n');
}

/** `xml` with `to` answering where `from` does: `from`'s lines copied before masscan's closing records. */
export function withHostCopied(xml: string, from: string, to: string): string {
  const lines = xml.split('\n');
  const copies = lines.filter((l) => isHostLine(l) && l.includes(`addr="${from}"`)).map((l) => l.replace(`addr="${from}"`, `addr="${to}"`));
  // masscan ends the lines of its closing records with CRLF.
  const end = lines.findIndex((l) => l.startsWith('<runstats>'));
  if (end < 0) throw new Error('no <runstats> in the masscan output');
  return [...lines.slice(0, end), ...copies, ...lines.slice(end)].join('\n');
}

/** `xml` without the lines of one port: a sweep that did not see it answer. */
export function withoutPort(xml: string, port: number): string {
  return xml
    .split('\n')
    .filter((l) => !(isHostLine(l) && l.includes(`portid="${port}"`)))
    .join('\n');
}

/** `xml` cut where masscan was killed: no closing records, as an interrupted masscan leaves its file. */
export function unfinished(xml: string): string {
  return xml.slice(0, xml.indexOf('<runstats>'));
}
