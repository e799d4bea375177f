import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseNmapStream } from '../core/nmap/parse.ts';
import type { ParsedHost, ParseOptions } from '../core/nmap/types.ts';

/*
 * `documentsOnDemand` (core/nmap/host.ts): documents are dropped once
 * fingerprinted and rebuilt from the host's XML on first read. Whatever is
 * read must be exactly what the default parse gives, on every real fixture,
 * with and without `openOnly` (the rebuilt list must be filtered the same way,
 * or a port would get another port's document), with fields extracted while
 * parsing or on first read; and nothing may be kept before a document is read.
 */

const fixtures = fileURLToPath(new URL('./fixtures/nmap/', import.meta.url));
const fixtureFiles = readdirSync(fixtures)
  .filter((f) => f.endsWith('.xml'))
  .sort();

async function parse(xml: string, opts: ParseOptions): Promise<ParsedHost[]> {
  const hosts: ParsedHost[] = [];
  for await (const h of parseNmapStream([xml], { workers: 0, ...opts })) hosts.push(h);
  return hosts;
}

/** Everything but the documents, as plain data. */
const facts = (h: ParsedHost) => ({
  ip: h.ip,
  status: h.status,
  statusReason: h.statusReason,
  startedAt: h.startedAt,
  endedAt: h.endedAt,
  addresses: h.addresses,
  hostnames: h.hostnames,
  timedOut: h.timedOut,
  hsh256: h.hsh256,
  fpVersion: h.fpVersion,
  ports: h.ports.map((p) => ({ ip: p.ip, protocol: p.protocol, port: p.port, state: p.state, hsh256: p.hsh256, fpVersion: p.fpVersion, fields: p.fields })),
});

describe('documents on demand', () => {
  for (const [openOnly, fieldsOnDemand] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ]) {
    it(`gives the default parse's hosts, ports, fields, fingerprints and documents on every fixture${openOnly ? ' (openOnly)' : ''}${fieldsOnDemand ? ' (fields on demand too)' : ''}`, async () => {
      let ports = 0;
      let closed = 0;
      for (const file of fixtureFiles) {
        const xml = readFileSync(fixtures + file, 'utf8');
        const eager = await parse(xml, { openOnly });
        const lazy = await parse(xml, { openOnly, documentsOnDemand: true, fieldsOnDemand });
        expect(lazy.map(facts), file).toEqual(eager.map(facts));
        for (let i = 0; i < eager.length; i++) {
          // Ports first, in reverse: any port may be the first read of its host's documents.
          for (let j = eager[i]!.ports.length - 1; j >= 0; j--) {
            expect(lazy[i]!.ports[j]!.doc, `${file} ${eager[i]!.ip} port ${j}`).toEqual(eager[i]!.ports[j]!.doc);
            ports++;
            if (eager[i]!.ports[j]!.state !== 'open') closed++;
          }
          expect(lazy[i]!.doc, `${file} ${eager[i]!.ip}`).toEqual(eager[i]!.doc);
          // One rebuild per host: its ports' documents are the host document's own.
          lazy[i]!.ports.forEach((p, j) => expect(p.doc).toBe(lazy[i]!.doc.ports[j]));
        }
      }
      expect(ports).toBeGreaterThan(30);
      // Without openOnly the fixtures have ports that are not open, so the filtered rebuild is exercised.
      if (openOnly) expect(closed).toBe(0);
      else expect(closed).toBeGreaterThan(0);
    });
  }

  it('gives the same on parse threads (whose hosts keep their documents: they are copied between threads anyway)', async () => {
    for (const file of fixtureFiles) {
      const xml = readFileSync(fixtures + file, 'utf8');
      const eager = await parse(xml, {});
      const threads = await parse(xml, { workers: 2, parallelMinBytes: 0, waitForThreads: true, documentsOnDemand: true, fieldsOnDemand: true });
      expect(threads.map(facts), file).toEqual(eager.map(facts));
      expect(
        threads.map((h) => h.doc),
        file,
      ).toEqual(eager.map((h) => h.doc));
    }
  });

  it('keeps no document until one is read', async () => {
    const xml = readFileSync(fixtures + 'loopback-volatile-web.xml', 'utf8');
    const [host] = await parse(xml, { documentsOnDemand: true });
    const port = host!.ports[0]!;
    // A document held by a port or host object would show in its own properties or its JSON.
    expect(Object.keys(port)).not.toContain('doc');
    expect(JSON.stringify(port)).not.toContain('"scripts"');
    expect(JSON.stringify(host)).not.toContain('"scripts"');
    expect(JSON.stringify(host)).not.toContain('"extraports"');
    expect(port.doc.scripts.length).toBeGreaterThan(0);
    // Fields on demand: a getter, not a property (that they are not extracted before the first read is measured
    // by bench/ingest.ts, not seen from here), giving the default parse's fields.
    const [lean] = await parse(xml, { documentsOnDemand: true, fieldsOnDemand: true });
    expect(Object.keys(lean!.ports[0]!)).not.toContain('fields');
    expect(JSON.stringify(lean!.ports[0]!)).not.toContain('http_title');
    expect(lean!.ports[0]!.fields.http_title.length).toBeGreaterThan(0);
    expect(lean!.ports[0]!.fields).toEqual(port.fields);
    // The default parse keeps them as plain properties.
    const [eager] = await parse(xml, {});
    expect(Object.keys(eager!.ports[0]!)).toContain('doc');
    expect(JSON.stringify(eager)).toContain('"extraports"');
  });
});
