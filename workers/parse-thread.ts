import { parentPort, workerData } from 'node:worker_threads';
import { buildParsedHost, runHostBatch } from '../core/nmap/host.ts';
import { packHost, toWire, type BatchReply, type BatchRequest, type ThreadInit } from '../core/nmap/parse-pool.ts';

/*
 * A parse thread of core/nmap/parse-pool.ts: checks, parses and fingerprints
 * batches of <host> elements with the same code as the in-thread parser
 * (runHostBatch), and posts the ParsedHosts back with the batch id. Stateless
 * between batches, so the order in which batches arrive does not matter.
 */

const init = workerData as ThreadInit;
const opts = { openOnly: init.openOnly };
const port = parentPort!;

port.on('message', (m: BatchRequest) => {
  const r = runHostBatch(m.xmls, m.lines, (n) => buildParsedHost(n, opts, init.volatile));
  // A bad host element, or what the parser threw, is data: the caller decides, in input order, what it means.
  const reply: BatchReply = { id: m.id, hosts: r.items.map(packHost) };
  if (r.error !== undefined) reply.error = toWire(r.error);
  if (r.thrown !== undefined) reply.thrown = toWire(r.thrown);
  port.postMessage(reply);
});

port.postMessage({ ready: true } satisfies BatchReply);
