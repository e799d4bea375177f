import type { IngestSummary } from './ingest-types.ts';

/** One line for humans: what an ingest did. */
export function formatIngestSummary(s: IngestSummary): string {
  const parts = [
    `${s.hosts} host${s.hosts === 1 ? '' : 's'} (${s.hostsUp} up)`,
    `${s.ports} open port${s.ports === 1 ? '' : 's'}`,
    `${s.appeared} appeared`,
    `${s.changed} changed`,
    `${s.gone} gone`,
    `${s.reappeared} reappeared`,
    `${s.stable} stable`,
  ];
  if (s.historic) parts.push(`${s.historic} older sightings`);
  if (s.alreadyIngested) parts.push(`${s.alreadyIngested} already ingested`);
  let line = `ingested ${parts.join(', ')} [run ${s.runId}, job ${s.jobId}]`;
  if (s.warnings?.length) line += `; note: ${s.warnings.join('; ')}`;
  if (s.errors.length) line += `; the result was incomplete: ${s.errors.join('; ')} (the valid part was stored)`;
  return line;
}
