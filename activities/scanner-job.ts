import type { Scanner, ScannerRunOptions } from '../core/scanner/contract.ts';
import type { JobSpec } from '../workflows/logic/types.ts';
import type { NmapRunResult } from './nmap.ts';

/**
 * A job of a profile whose scanner is not nmap (JobSpec.scanner), run through the scanner contract. The
 * Temporal activity keeps its name (runNmapJob) and its result shape, so workflow histories recorded before
 * other scanners existed replay unchanged; only the runner behind it differs.
 */
export async function runScannerJob(
  scanner: Scanner,
  spec: JobSpec,
  targets: string[],
  opts: ScannerRunOptions & { timeoutMs?: number },
): Promise<NmapRunResult> {
  const out = await scanner.run(
    {
      targets,
      tcpPorts: spec.tcpPorts,
      ...(spec.udpPorts ? { udpPorts: spec.udpPorts } : {}),
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    },
    { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) },
  );
  return {
    xml: out.output,
    exitCode: out.exitCode,
    stderr: out.stderr,
    interrupted: out.interrupted,
    ...(out.interruptReason ? { interruptReason: out.interruptReason } : {}),
    durationMs: out.durationMs,
    args: out.args,
  };
}
