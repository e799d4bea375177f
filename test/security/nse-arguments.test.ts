import { describe, expect, it } from 'vitest';
import { createNmapRunner } from '../../activities/nmap.ts';
import { PlumError } from '../../core/errors.ts';
import { parseProfile } from '../../core/profiles.ts';

/**
 * Issue #31: `--script-args newtargets,targets-xml.iX=FILE` made a run scan
 * addresses outside the perimeter, `oraclesids=FILE` sent a local file's
 * lines away. Script arguments are refused wherever they can arrive: the
 * profile schema (CLI, API, stored rows) and the runner itself (a job handed
 * to an agent is checked again before nmap starts).
 */
const smuggled = [
  ['--script-args', 'newtargets,targets-xml.iX=/tmp/plum-hosts.xml'],
  ['--script-args=oraclesids=/etc/passwd'],
  ['--script-args', 'http.useragent=x,newtargets'],
  ['--dns-servers', '127.0.0.53'],
];

describe('NSE arguments cannot reach outside the perimeter', () => {
  it.each(smuggled)('the runner refuses %j before starting nmap', async (...extraArgs) => {
    const runner = createNmapRunner({ nmapPath: '/nonexistent/nmap-must-not-start' });
    const err = await runner.runNmap({ targets: ['127.0.0.1'], tcpPorts: '22', extraArgs }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlumError);
    expect((err as PlumError).code).toBe('unsafe_argument');
  });

  it.each(smuggled)('the profile schema refuses %j', (...extraArgs) => {
    expect(() => parseProfile({ name: 'x', tcpPorts: '22', nmapArgs: extraArgs })).toThrow(/invalid profile nmapArgs: refused nmap argument/);
    expect(() => parseProfile({ name: 'x', tcpPorts: '22', nmapArgs: extraArgs.join(' ') })).toThrow(/invalid profile nmapArgs: refused nmap argument/);
  });
});

describe('the runner judges scripts again (a job handed to an agent)', () => {
  const runner = createNmapRunner({ nmapPath: '/nonexistent/nmap-must-not-start' });
  it('refuses a script of a refused category that was not allowed', async () => {
    const err = await runner.runNmap({ targets: ['127.0.0.1'], tcpPorts: '80', scripts: ['http-title', 'http-slowloris'] }).catch((e: unknown) => e);
    expect((err as PlumError).code).toBe('unsafe_argument');
    expect((err as PlumError).message).toMatch(/refused NSE script "http-slowloris"/);
  });

  it("lets it through when the job carries the admin's allowance (nmap is then started)", async () => {
    const err = await runner
      .runNmap({ targets: ['127.0.0.1'], tcpPorts: '80', scripts: ['http-slowloris'], allowScripts: ['http-slowloris'] })
      .catch((e: unknown) => e);
    expect((err as PlumError).code).toBe('unavailable');
  });
});
