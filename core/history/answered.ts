/*
 * Whether a scanned host answered: the condition for recording `gone` for its open ports that the scan did not
 * show (store/ingest-decide.ts), and for counting it among the hosts up.
 *
 * nmap run with -Pn (Plum's own scans: activities/nmap.ts) skips host discovery and reports every host as up
 * with the reason "user-set", whether or not anything answered. Such a host counts as answered only when the scan
 * has evidence of life from it: a port nmap saw open, closed or unfiltered (each needs a packet from the host),
 * or ports folded into <extraports> with such a state or with a reason that is a reply from the host. A host
 * whose every probe went unanswered (or was refused by something on the way: host-unreach, admin-prohibited...)
 * did not answer, and what it showed before is unknown now, not gone.
 * A status without a reason (masscan, sslscan, predecessor documents, which list only hosts that replied) is
 * taken at its word.
 */

/** What the rule reads of a host (core/nmap/types.ts ParsedHost, store/ingest-types.ts IngestHost). */
export interface HostEvidence {
  status: string;
  /** nmap's <status reason>, when the result has one. */
  statusReason?: string;
  /** nmap gave up on the host (or the parser cut its ports): nothing about what is missing is known. */
  timedOut: boolean;
  ports: readonly { state: string }[];
  /** nmap's <extraports> (ports not listed one by one): each one's state and <extrareasons>, when the result has them. */
  extraPorts?: readonly { state: string; reasons: readonly string[] }[];
}

/** Port states nmap gives only on a reply from the host. */
const ANSWERED_STATES = new Set(['open', 'closed', 'unfiltered']);

/**
 * Reasons (nmap's portreasons.cc, singular and the plural <extrareasons> uses) that are a reply from the host
 * itself. Not in it: no-response, and ICMP errors a router or firewall sends on the host's behalf (net-unreach,
 * host-unreach, *-prohibited, time-exceeded...).
 */
const REPLY_REASONS = new Set(
  [
    ['reset', 'resets'],
    ['conn-refused', 'conn-refused'],
    ['syn-ack', 'syn-acks'],
    ['split-handshake-syn', 'split-handshake-syns'],
    ['udp-response', 'udp-responses'],
    ['proto-response', 'proto-responses'],
    ['port-unreach', 'port-unreaches'],
    ['proto-unreach', 'proto-unreaches'],
    ['echo-reply', 'echo-replies'],
    ['timestamp-reply', 'timestamp-replies'],
    ['addressmask-reply', 'addressmask-replies'],
    ['arp-response', 'arp-responses'],
    ['nd-response', 'nd-responses'],
    ['tcp-response', 'tcp-responses'],
    ['localhost-response', 'localhost-responses'],
    ['init-ack', 'init-acks'],
    ['abort', 'aborts'],
  ].flat(),
);

/** The reason nmap gives a host it did not probe (-Pn): it is up because it was told so. */
export const USER_SET = 'user-set';

/** Whether the scan saw the host answer (see the header). */
export function hostAnswered(h: HostEvidence): boolean {
  if (h.status !== 'up' || h.timedOut) return false;
  if (h.statusReason !== USER_SET) return true;
  if (h.ports.some((p) => ANSWERED_STATES.has(p.state))) return true;
  return (h.extraPorts ?? []).some((x) => ANSWERED_STATES.has(x.state) || x.reasons.some((r) => REPLY_REASONS.has(r)));
}
