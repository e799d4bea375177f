import { describe, expect, it } from 'vitest';
import { PLAIN_VIEW, UNKNOWN_VIEW, viewFromArgv, viewFromNmapCommand, viewOfJob } from './view.ts';

describe('views: the scan settings a fingerprint is compared within', () => {
  it.each<[string, string[], string]>([
    ['no scripts, no service detection', ['-T3', '-p', '80', '--', '127.0.0.1'], PLAIN_VIEW],
    ['scripts sorted, paths and .nse dropped', ['--script', 'ssl-cert,/opt/plum/nse/plum-favicon.nse,http-title'], 'script:http-title,plum-favicon,ssl-cert'],
    ['--script=… and repeated --script merge', ['--script=http-title', '-script', 'ssl-cert,http-title'], 'script:http-title,ssl-cert'],
    ['service detection', ['-sV'], 'sV'],
    ['service detection at another intensity', ['-sV', '--version-intensity', '2'], 'sV:2'],
    ['--version-light is intensity 2', ['-sV', '--version-light'], 'sV:2'],
    ['-A is default scripts and service detection', ['-A'], 'script:default sV'],
    ['targets after -- are not options', ['--', '-sV'], PLAIN_VIEW],
  ])('%s', (_case, argv, view) => {
    expect(viewFromArgv(argv)).toBe(view);
  });

  it('a job and the XML of the scan it ran give the same view', () => {
    const job = viewOfJob(['plum-favicon', 'http-title'], ['-sV']);
    const xml = viewFromNmapCommand('nmap -T3 --host-timeout 40s -sT -p 80 -oX /tmp/x/scan.xml --script /w/nse/plum-favicon.nse,http-title -sV -- 127.0.0.1');
    expect(job).toBe('script:http-title,plum-favicon sV');
    expect(xml).toBe(job);
  });

  it('script arguments are a short digest, and different arguments are different views', () => {
    expect(viewFromArgv(['--script', 'http-title', '--script-args', 'http.useragent=x'])).toMatch(/^script:http-title args:[0-9a-f]{8}$/);
    expect(viewFromArgv(['--script-args', 'a=1'])).not.toBe(viewFromArgv(['--script-args', 'a=2']));
  });

  it('an XML without a command line has the unknown view', () => {
    expect(viewFromNmapCommand('')).toBe(UNKNOWN_VIEW);
    expect(viewFromNmapCommand(undefined)).toBe(UNKNOWN_VIEW);
  });
});
