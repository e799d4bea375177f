import { describe, expect, it } from 'vitest';
import { renderReportMarkdown, mdEscape, mdCode } from './markdown.ts';
import { emptyChanges, zeroChangeCounts, type ReportModel } from './model.ts';
import { formatDuration, parseDuration } from '../duration.ts';
import { resolvePeriod } from './period.ts';
import { PlumError } from '../errors.ts';

const period = resolvePeriod({ since: '7d' }, new Date('2026-03-08T00:00:00Z'));

function baseModel(): ReportModel {
  return {
    title: 'Weekly exposure',
    query: 'port:443',
    generatedAt: '2026-03-08T00:00:00.000Z',
    period,
    totals: { hosts: 0, ports: 0, observations: 0 },
    portCounts: [],
    changes: emptyChanges(),
    previousChangeCounts: zeroChangeCounts(),
    hosts: [],
    hostsOmitted: 0,
    tagCounts: [],
    coverage: { runs: 0, notes: [] },
  };
}

describe('resolvePeriod', () => {
  it('computes the period and the previous one of the same length', () => {
    expect(period).toEqual({
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-08T00:00:00.000Z',
      previousFrom: '2026-02-22T00:00:00.000Z',
      previousTo: '2026-03-01T00:00:00.000Z',
    });
  });
  it('treats a bare --to date as inclusive', () => {
    const p = resolvePeriod({ from: '2026-01-01', to: '2026-01-31' });
    expect(p.from).toBe('2026-01-01T00:00:00.000Z');
    expect(p.to).toBe('2026-02-01T00:00:00.000Z');
    expect(p.previousFrom).toBe('2025-12-01T00:00:00.000Z');
  });
  it('refuses bad input with a usage error', () => {
    expect(() => resolvePeriod({ since: '30x' })).toThrow(PlumError);
    expect(() => resolvePeriod({ since: '7d', from: '2026-01-01' })).toThrow(/cannot be combined/);
    expect(() => resolvePeriod({ from: '2026-02-01', to: '2026-01-01' })).toThrow(/empty/);
    expect(() => resolvePeriod({ from: 'yesterday' })).toThrow(/invalid --from date/);
    try {
      parseDuration('0d');
    } catch (e) {
      expect((e as PlumError).exitCode).toBe(2);
    }
  });
  it('formats durations', () => {
    expect(formatDuration(parseDuration('14d'))).toBe('2w');
    expect(formatDuration(parseDuration('36h'))).toBe('36h');
  });
});

describe('renderReportMarkdown', () => {
  it('says so in one line for every empty section', () => {
    const md = renderReportMarkdown(baseModel());
    expect(md).toContain('# Weekly exposure');
    expect(md).toContain('- Query: `port:443`');
    expect(md).toContain('No open port matched the query during the period.');
    expect(md).toContain('No new open port appeared during the period.');
    expect(md).toContain('No open port changed during the period.');
    expect(md).toContain('No open port went away during the period.');
    expect(md).toContain('No open port came back during the period.');
    expect(md).toContain('No host matched the query during the period.');
    expect(md).toContain('No tag on the matching ports.');
    expect(md).toContain('## Coverage and limits');
    expect(md).toContain('0 scan runs');
  });

  it('renders every section with data, hosts in model order, changes old → new', () => {
    const m = baseModel();
    m.totals = { hosts: 2, ports: 3, observations: 4 };
    m.previousTotals = { hosts: 1, ports: 1, observations: 1 };
    m.portCounts = [
      { protocol: 'tcp', port: 443, service: 'https', hosts: 2, previousHosts: 1 },
      { protocol: 'tcp', port: 22, service: 'ssh', hosts: 1 },
    ];
    m.changes.appeared.push({ type: 'appeared', ip: '127.0.0.2', protocol: 'tcp', port: 22, at: '2026-03-02T10:00:00Z', summary: 'ssh OpenSSH 9.2' });
    m.changes.changed.push({
      type: 'changed',
      ip: '127.0.0.1',
      protocol: 'tcp',
      port: 443,
      at: '2026-03-03T10:00:00Z',
      fields: [
        { label: 'title', old: ['Old | title'], new: ['New title'] },
        { label: 'certificate SHA-256', old: ['aa'], new: ['bb'] },
      ],
    });
    m.changes.gone.push({ type: 'gone', ip: '127.0.0.3', protocol: 'tcp', port: 80, at: '2026-03-04T10:00:00Z', summary: 'http nginx' });
    m.changes.reappeared.push({ type: 'reappeared', ip: '127.0.0.4', protocol: 'tcp', port: 8080, at: '2026-03-05T10:00:00Z' });
    m.previousChangeCounts.appeared = 5;
    m.hosts = [
      {
        ip: '127.0.0.1',
        score: 80,
        scoreExplanation: 'admin panel (+40), TLS (+10)',
        tags: ['type:cms', 'vuln:opendir'],
        names: { requested: ['www.example.test'], ptr: ['host1.example.test'], certificate: ['example.test'] },
        services: [
          {
            protocol: 'tcp',
            port: 443,
            service: 'https nginx 1.25',
            title: 'Index of /',
            server: 'nginx',
            tags: ['vuln:opendir'],
            score: 80,
            firstSeen: '2026-02-01T00:00:00Z',
            lastSeen: '2026-03-07T00:00:00Z',
          },
        ],
        firstSeen: '2026-02-01T00:00:00Z',
        lastSeen: '2026-03-07T00:00:00Z',
      },
      {
        ip: '127.0.0.2',
        score: 10,
        scoreExplanation: 'ssh (+10)',
        tags: [],
        names: { requested: [], ptr: [], certificate: [] },
        services: [{ protocol: 'tcp', port: 22, tags: [], firstSeen: '2026-03-02T00:00:00Z', lastSeen: '2026-03-07T00:00:00Z', closed: true }],
        firstSeen: '2026-03-02T00:00:00Z',
        lastSeen: '2026-03-07T00:00:00Z',
      },
    ];
    m.hostsOmitted = 3;
    m.tagCounts = [{ tag: 'vuln:opendir', hosts: 1, ports: 1 }];
    m.coverage = { runs: 1, jobs: 2, lastScanAt: '2026-03-07T00:00:00Z', notes: ['one run was interrupted'] };

    const md = renderReportMarkdown(m);
    expect(md).toContain('- Hosts with open ports: 2 (previous period: 1)');
    expect(md).toContain('| 443/tcp | https | 2 | +1 |');
    expect(md).toContain('### Appeared (1; previous period: 5)');
    expect(md).toContain('- `127.0.0.2:22/tcp` (2026-03-02 10:00 UTC) — ssh OpenSSH 9.2');
    expect(md).toContain('  - title: Old \\| title → New title');
    expect(md).toContain('  - certificate SHA-256: aa → bb');
    expect(md).toContain('### Went away (1; previous period: 0)');
    expect(md).toContain('`127.0.0.4:8080/tcp`');
    expect(md.indexOf('### 1. 127.0.0.1 — score 80')).toBeLessThan(md.indexOf('### 2. 127.0.0.2 — score 10'));
    expect(md).toContain('- Score: admin panel (+40), TLS (+10)');
    expect(md).toContain('- Tags: `type:cms` `vuln:opendir`');
    expect(md).toContain('- Names: requested www.example.test; PTR host1.example.test; certificate example.test');
    expect(md).toContain('| 443/tcp | https nginx 1.25 | Index of / · nginx | vuln:opendir | 80 | 2026-02-01 | 2026-03-07 |');
    expect(md).toContain('…and 3 more hosts');
    expect(md).toContain('| 22/tcp (gone) | — | — | — | — | 2026-03-02 | 2026-03-07 |');
    expect(md).toContain('| `vuln:opendir` | 1 | 1 |');
    expect(md).toContain('1 scan run (2 jobs)');
    expect(md).toContain('- one run was interrupted');
    // Deterministic: same model, same bytes.
    expect(renderReportMarkdown(m)).toBe(md);
  });

  it('escapes Markdown and keeps table cells on one line', () => {
    expect(mdEscape('a|b\n<script>*x*')).toBe('a\\|b \\<script\\>\\*x\\*');
    expect(mdCode('a`b')).toBe('``a`b``');
  });
});
