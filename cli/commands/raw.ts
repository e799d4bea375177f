import type { Command } from 'commander';
import { hasPrefix } from '../../core/ids.ts';
import { notFound, usageError } from '../../core/errors.ts';
import { getJobRawXml } from '../../store/repos/raw-results.ts';
import type { CliContext } from '../context.ts';
import { info } from '../output.ts';
import { writeChunks } from './export.ts';
import { openCommandStore } from './init.ts';

/*
 * The nmap XML stored with a job (raw_results), byte for byte: to look at what
 * a scan or an import really returned (a job marked with a parse error keeps
 * its XML for this), to feed it to other tools, or to re-import it elsewhere.
 */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('raw')
    .description('the nmap XML stored with a job, byte for byte, to standard output or a file (kept PLUM_RAW_RETENTION_DAYS; not kept for imports over 256 MB)')
    .argument('<job-id>', "a job id (job_…): plum runs RUN_ID lists a run's jobs; plum ingest prints the job it made")
    .option('--out <file>', 'write to a file instead of standard output (written whole or not at all)')
    .action(async (jobId: string, opts: { out?: string }) => {
      if (!hasPrefix(jobId, 'job')) {
        throw usageError(`"${jobId}" is not a job id`, "job ids start with job_: plum runs RUN_ID lists a run's jobs, and plum ingest prints the job it made");
      }
      const store = await openCommandStore(ctx);
      const raw = await getJobRawXml(store, jobId);
      if (raw.found === 'no-job') throw notFound(`no job ${jobId}`, "check the id: plum runs RUN_ID lists a run's jobs");
      if (raw.found === 'not-kept') {
        throw notFound(
          `no nmap XML is stored for job ${jobId}`,
          'it is dropped after PLUM_RAW_RETENTION_DAYS, and never kept for files over 256 MB imported with plum ingest',
        );
      }
      await writeChunks([raw.xml], opts.out);
      info(
        `plum: job ${jobId}: ${raw.xml.length} bytes of nmap XML (sha256 ${raw.sha256}, parser version ${raw.parserVersion})${raw.error ? `; ingest error: ${raw.error}` : ''}${opts.out ? `, written to ${opts.out}` : ''}`,
      );
    });
}
