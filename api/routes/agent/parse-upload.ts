import { PlumError } from '../../../core/errors.ts';
import type { IngestScan } from '../../../store/ingest.ts';

/**
 * Parses an uploaded result with A's parser (core/nmap/parse.ts). Loaded lazily
 * so the API still serves every other route while the parser module is absent.
 */
export async function parseUploadedXml(xml: Buffer): Promise<IngestScan> {
  const modulePath = '../../../core/nmap/parse.ts';
  let mod: { parseNmapString(xml: string): IngestScan & { error?: PlumError } };
  try {
    mod = await import(modulePath);
  } catch (e) {
    throw new PlumError('unavailable', 'the nmap parser is not available in this build', { cause: e, hint: 'retry the upload later' });
  }
  const scan = mod.parseNmapString(xml.toString('utf8'));
  if (scan.error && isEmpty(scan.hosts)) {
    throw new PlumError('parse_error', `the result is not usable nmap XML: ${scan.error.message}`, { hint: 'upload the file nmap wrote with -oX, unmodified' });
  }
  return scan;
}

function isEmpty(hosts: IngestScan['hosts']): boolean {
  return Array.isArray(hosts) && hosts.length === 0;
}
