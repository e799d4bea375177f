import { extractFields } from '../nmap/fields.ts';
import { fingerprintVersion, portFingerprint } from '../nmap/fingerprint.ts';
import { epochToIso } from '../nmap/host.ts';
import type { HostDocument, ParsedPort, PortDocument, ScriptDocument } from '../nmap/types.ts';
import { defaultVolatileList, type VolatileList } from '../nmap/volatile.ts';
import type { MasscanRecord } from './read.ts';

/*
 * masscan records → hosts as the ingest takes them (store/ingest-types.ts IngestHost). A port is one
 * document however many lines masscan wrote for it: its state, and each banner as a script named
 * `masscan:<name>` (core/nmap/fields.ts reads them: `title` → http_title, `http` → headers and server,
 * the others → banner). What masscan says of how it knew (reason, TTL) is left out: it differs between
 * the SYN-ACK line and the banner lines of one scan, and would make an unchanged port look changed.
 *
 * The service name is the first (by name) of the banners that name a protocol (`ssh`, `http`, `smtp`…);
 * `title`, `http.server` and `X509` describe one rather than name it.
 */

/** Banner names that are not a protocol's name. */
const NOT_A_SERVICE = new Set(['title', 'http.server', 'X509', 'X509CA', 'ssl']);

/**
 * The views of an imported masscan result (core/history/view.ts): its fingerprints are compared only with other
 * masscan results. Banner grabbing is best effort (masscan gives up on a slow answer), so a port whose banners
 * were not grabbed this time is a sighting in the plain view, never a change of its banners.
 */
export const MASSCAN_VIEW = 'masscan' as const;
export const MASSCAN_BANNERS_VIEW = 'masscan banners' as const;
export type MasscanView = typeof MASSCAN_VIEW | typeof MASSCAN_BANNERS_VIEW;

interface SlotAcc {
  protocol: string;
  port: number;
  state: string | undefined;
  banners: Map<string, string>;
}

interface HostAcc {
  first: number | undefined;
  last: number | undefined;
  slots: Map<string, SlotAcc>;
}

export interface MasscanHost {
  ip: string;
  status: 'up';
  startedAt?: string;
  endedAt?: string;
  timedOut: false;
  hostnames: [];
  ports: ParsedPort[];
}

/** Folds records into hosts, in any order (banners arrive after their port's status line). */
export class MasscanHosts {
  private readonly hosts = new Map<string, HostAcc>();
  /** Whether any banner was read. */
  banners = false;
  first: number | undefined;
  last: number | undefined;

  add(r: MasscanRecord): void {
    let h = this.hosts.get(r.ip);
    if (!h) this.hosts.set(r.ip, (h = { first: undefined, last: undefined, slots: new Map() }));
    if (r.time !== undefined) {
      h.first = Math.min(h.first ?? r.time, r.time);
      h.last = Math.max(h.last ?? r.time, r.time);
      this.first = Math.min(this.first ?? r.time, r.time);
      this.last = Math.max(this.last ?? r.time, r.time);
    }
    const key = `${r.protocol}/${r.port}`;
    let s = h.slots.get(key);
    if (!s) h.slots.set(key, (s = { protocol: r.protocol, port: r.port, state: undefined, banners: new Map() }));
    if (r.status) s.state = r.status.state;
    if (r.banner) {
      this.banners = true;
      // A banner grabbed twice (a port listed twice in the ranges) keeps its first text.
      if (!s.banners.has(r.banner.name)) s.banners.set(r.banner.name, r.banner.text);
    }
  }

  /** The views this result's ports fall in (none for a result without ports). */
  views(): MasscanView[] {
    let plain = false;
    let banners = false;
    for (const h of this.hosts.values()) {
      for (const slot of h.slots.values()) {
        if (slot.banners.size > 0) banners = true;
        else plain = true;
      }
    }
    const out: MasscanView[] = [];
    if (plain) out.push(MASSCAN_VIEW);
    if (banners) out.push(MASSCAN_BANNERS_VIEW);
    return out;
  }

  get size(): number {
    return this.hosts.size;
  }

  /** The view a port is stored under: with banners or without. */
  static viewOf(doc: PortDocument): MasscanView {
    return doc.scripts.length > 0 ? MASSCAN_BANNERS_VIEW : MASSCAN_VIEW;
  }

  /**
   * The hosts with their ports of one view (all ports without `view`), addresses and ports in a stable order;
   * pure for the records added. A host without a port of that view is left out.
   */
  *toHosts(volatile: VolatileList = defaultVolatileList(), view?: MasscanView): Generator<MasscanHost> {
    const fpVersion = fingerprintVersion(volatile);
    for (const [ip, h] of this.hosts) {
      const docs = [...h.slots.values()]
        .sort((a, b) => (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : a.port - b.port))
        .map(portDocOf)
        .filter((d) => view === undefined || MasscanHosts.viewOf(d) === view);
      if (docs.length === 0) continue;
      const host: HostDocument = {
        addr: ip,
        addresses: [],
        hostnames: [],
        status: { state: 'up' },
        ports: docs,
        extraports: [],
        hostscripts: [],
        extra: {},
      };
      yield {
        ip,
        status: 'up',
        startedAt: epochToIso(h.first === undefined ? undefined : String(h.first)),
        endedAt: epochToIso(h.last === undefined ? undefined : String(h.last)),
        timedOut: false,
        hostnames: [],
        ports: docs.map((doc) => ({
          ip,
          protocol: doc.protocol,
          port: Number(doc.portid),
          state: doc.state.state,
          hsh256: portFingerprint(doc, volatile),
          fpVersion,
          fields: extractFields(host, doc),
          doc,
        })),
      };
    }
  }
}

function portDocOf(s: SlotAcc): PortDocument {
  const names = [...s.banners.keys()].sort();
  const scripts: ScriptDocument[] = names.map((name) => ({ id: `masscan:${name}`, output: s.banners.get(name)! }));
  const service = names.find((n) => !NOT_A_SERVICE.has(n));
  return {
    protocol: s.protocol,
    portid: String(s.port),
    // A port known only from its banners answered: it is open.
    state: { state: s.state ?? 'open' },
    ...(service ? { service: { name: service } } : {}),
    scripts,
  };
}
