import { execFile } from 'node:child_process';
import { Connection } from '@temporalio/client';
import type { PlumConfig } from '../core/config.ts';
import { PLUM_VERSION } from '../core/version.ts';
import { temporalConnectOptions, temporalCredentialsRefusal, temporalRefusal } from './temporal-connection.ts';

/*
 * `plum agent --check`: everything an agent needs, checked once, one line per
 * problem (the Plum server, the token, nmap, Temporal and its namespace), so a
 * new scanning host can be validated before it is started as a service.
 */

export interface AgentCheckInput {
  config: PlumConfig;
  temporalAddress: string;
  serverUrl: string;
  token: string;
  nmapPath: string;
  timeoutMs?: number;
}

const oneLine = (e: unknown) => (((e as Error)?.message ?? String(e)).split('\n')[0] ?? '').trim();

async function checkServer(input: AgentCheckInput): Promise<string[]> {
  const url = `${input.serverUrl.replace(/\/+$/, '')}/v1/agent/heartbeat`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      signal: AbortSignal.timeout(input.timeoutMs ?? 5000),
      headers: { authorization: `Bearer ${input.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ version: PLUM_VERSION }),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    return [`Plum server unreachable at ${input.serverUrl}: ${cause ?? oneLine(e)} (check --server and that plum serve runs)`];
  }
  if (res.status === 401 || res.status === 403) {
    return [
      `the Plum server refused the agent token (${res.status}): create one with \`plum agent-token create --agent NAME\` and pass its file with --token-file`,
    ];
  }
  if (!res.ok) return [`the Plum server answered ${res.status} ${res.statusText} to the agent heartbeat (check --server points at plum serve)`];
  return [];
}

function checkNmap(input: AgentCheckInput): Promise<string[]> {
  return new Promise((resolve) => {
    execFile(input.nmapPath, ['--version'], { timeout: input.timeoutMs ?? 5000 }, (err, stdout) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        resolve([`nmap not usable at "${input.nmapPath}": ${code === 'ENOENT' ? 'not found' : oneLine(err)} (install nmap or set PLUM_NMAP)`]);
      } else if (!/Nmap version/i.test(stdout)) {
        resolve([`"${input.nmapPath}" is not nmap (its --version does not say "Nmap version"); set PLUM_NMAP`]);
      } else resolve([]);
    });
  });
}

async function checkTemporal(input: AgentCheckInput): Promise<string[]> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...temporalConnectOptions(input.config, input.temporalAddress), connectTimeout: input.timeoutMs ?? 5000 });
  } catch (e) {
    const refusal = temporalCredentialsRefusal(e);
    if (refusal) {
      const { message, hint } = temporalRefusal(input.config, input.temporalAddress, refusal);
      return [`${message}: ${hint}`];
    }
    return [`Temporal unreachable at ${input.temporalAddress}: ${oneLine(e)} (check --temporal-address, TLS settings, and that the frontend runs)`];
  }
  try {
    await connection.workflowService.describeNamespace({ namespace: input.config.PLUM_TEMPORAL_NAMESPACE });
    return [];
  } catch (e) {
    return [
      `Temporal at ${input.temporalAddress} has no usable namespace "${input.config.PLUM_TEMPORAL_NAMESPACE}": ${oneLine(e)} (set PLUM_TEMPORAL_NAMESPACE)`,
    ];
  } finally {
    await connection.close();
  }
}

/** The problems found, one line each; empty when the agent can run. */
export async function checkAgent(input: AgentCheckInput): Promise<string[]> {
  const results = await Promise.all([checkServer(input), checkNmap(input), checkTemporal(input)]);
  return results.flat();
}
