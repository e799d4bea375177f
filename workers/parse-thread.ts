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
  let reply: BatchReply;
  try {
    const r = runHostBatch(m.xmls, m.lines, (n) => buildParsedHost(n, opts, init.volatile));
    const hosts = r.items.map(packHost);
    // A bad host element is data (the caller decides, in input order, what it means).
    reply = r.error === undefined ? { id: m.id, hosts } : { id: m.id, hosts, error: toWire(r.error) };
  } catch (e) {
    reply = { id: m.id, fatal: toWire(e) };
  }
  port.postMessage(reply);
});

port.postMessage({ ready: true } satisfies BatchReply);
