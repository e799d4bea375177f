import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readScannerOutput } from './result.ts';

/* The reader a job's stored result goes through, chosen by the scanner its run used; real outputs. */

const fixture = (p: string) => fs.readFileSync(new URL(`../../test/fixtures/${p}`, import.meta.url));
// A scouting sweep's -oJ output (no --banners), in masscan's own layout (test/fixtures/masscan/banners.json).
const sweep = Buffer.from(
  [
    '[',
    '{   "ip": "198.18.0.3",   "timestamp": "1796564777", "ports": [ {"port": 22, "proto": "tcp", "status": "open", "reason": "syn-ack", "ttl": 64} ] }',
    ',',
    '{   "ip": "198.18.0.2",   "timestamp": "1796564777", "ports": [ {"port": 80, "proto": "tcp", "status": "open", "reason": "syn-ack", "ttl": 64} ] }',
    ',',
    '{   "ip": "198.18.0.3",   "timestamp": "1796564778", "ports": [ {"port": 80, "proto": "tcp", "status": "open", "reason": "syn-ack", "ttl": 64} ] }',
    ']',
    '',
  ].join('\n'),
);

describe('readScannerOutput', () => {
  it("leaves nmap's XML to nmap's own streaming parser", () => {
    expect(readScannerOutput('nmap', Buffer.from('<nmaprun/>'))).toBeUndefined();
    expect(readScannerOutput(null, Buffer.from('<nmaprun/>'))).toBeUndefined();
  });

  it("reads a masscan job's output (a sweep without banners) into the masscan view", () => {
    const read = readScannerOutput('masscan', sweep)!;
    expect(read.view).toBe('masscan');
    expect(read.scan.run.finished).toBe(true);
    expect(read.scan.error).toBeUndefined();
    expect(read.scan.hosts.map((h) => [h.ip, h.ports.map((p) => `${p.protocol}/${p.port}:${p.state}`)]).sort()).toEqual([
      ['198.18.0.2', ['tcp/80:open']],
      ['198.18.0.3', ['tcp/22:open', 'tcp/80:open']],
    ]);
  });

  it('reads an sslscan result into its TLS view', () => {
    const read = readScannerOutput('sslscan', fixture('sslscan/modern.xml'))!;
    expect(read.view).toMatch(/sslscan/);
    expect(read.scan.hosts).toHaveLength(1);
  });

  it('a cut masscan output keeps what came before the cut and says why it is partial', () => {
    const read = readScannerOutput('masscan', sweep.subarray(0, sweep.indexOf('"198.18.0.3"', sweep.indexOf('"198.18.0.2"')) + 20))!;
    expect(read.scan.run.finished).toBe(false);
    expect(read.scan.error?.code).toMatch(/parse_error|truncated/);
    expect(read.scan.hosts.length).toBeGreaterThan(0);
  });

  it('refuses a scanner this server has no reader for, saying what to do', () => {
    expect(() => readScannerOutput('zmap', Buffer.from(''))).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/no reader for scanner "zmap"/), hint: expect.stringMatching(/upgrade the server/) }),
    );
  });
});
