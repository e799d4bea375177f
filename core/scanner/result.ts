import { PlumError } from '../errors.ts';
import { readMasscanOutput } from '../masscan/result.ts';
import { readSslscan } from '../sslscan/read.ts';
import type { ScannedHost, ScannedResult, ScannerJob, ScannerName } from './contract.ts';

/*
 * A scanner's raw output, read back on the server (ingest of a job's stored result, an agent's upload) with
 * the reader of the scanner the job's run used. nmap's XML keeps its own streaming parser
 * (core/nmap/parse.ts); the others come here, as the shape ingest reads (store/ingest-types.ts IngestScan)
 * and the view their fingerprints are compared in.
 */

export interface ScannerIngest {
  scan: {
    run: { startedAt?: string; endedAt?: string; finished: boolean };
    hosts: ScannedHost[];
    error?: PlumError;
  };
  view: string;
}

export function asIngest(result: ScannedResult): ScannerIngest {
  return {
    scan: {
      run: { finished: result.finished, ...(result.startedAt ? { startedAt: result.startedAt } : {}), ...(result.endedAt ? { endedAt: result.endedAt } : {}) },
      hosts: result.hosts,
      ...(result.error
        ? { error: new PlumError(result.finished ? 'parse_error' : 'truncated', result.error, { hint: 'the valid part was stored; scan again for the rest' }) }
        : {}),
    },
    view: result.view,
  };
}

/** The result of a job run by a scanner other than nmap; undefined for nmap (its own parser reads it). */
export function readScannerOutput(
  scanner: ScannerName | string | null | undefined,
  output: Buffer,
  job: Pick<ScannerJob, 'options'> = {},
): ScannerIngest | undefined {
  if (!scanner || scanner === 'nmap') return undefined;
  if (scanner === 'sslscan') return asIngest(readSslscan(output, job));
  if (scanner === 'masscan') return asIngest(readMasscanOutput(output));
  throw new PlumError('internal', `no reader for scanner "${scanner}" on this server`, { hint: "upgrade the server to the agents' version" });
}
