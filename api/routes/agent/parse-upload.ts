import { PlumError } from '../../../core/errors.ts';
import { parseNmapString } from '../../../core/nmap/parse.ts';
import type { ParsedScan } from '../../../core/nmap/types.ts';

/**
 * Parses an uploaded job result with the nmap parser (core/nmap). A job holds at most a few
 * hundred addresses, so the whole-string parser is fine here; bulk imports
 * stream instead. A result with no usable host and a parse error is refused
 * (422) rather than stored as an empty scan.
 */
export function parseUploadedXml(xml: Buffer): ParsedScan {
  const scan = parseNmapString(xml.toString('utf8'), { source: 'upload' });
  if (scan.error && scan.hosts.length === 0 && !scan.run.finished) {
    throw new PlumError('parse_error', `the result is not usable nmap XML: ${scan.error.message}`, {
      hint: 'upload the file nmap wrote with -oX, unmodified',
    });
  }
  return scan;
}
