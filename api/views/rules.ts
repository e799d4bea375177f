import { PlumError } from '../../core/errors.ts';
import { evaluateRules, type RuleSet } from '../../core/rules/engine.ts';
import type { Store } from '../../store/index.ts';
import { hostDocuments } from '../../store/repos/rules.ts';

/**
 * One rule evaluated on a host's current open ports (POST /v1/rules/test with
 * an ip, and the web rule page): which ports it matches and the tags the
 * rules give each port now, next to the stored tags.
 */
export async function testRuleOnHost(store: Store, rc: { set: RuleSet }, rule: string, ip: string) {
  if (!rc.set.byName.has(rule)) throw new PlumError('not_found', `no enabled rule named ${rule}`, { hint: 'list rules with GET /v1/rules' });
  let docs;
  try {
    docs = await hostDocuments(store, ip);
  } catch (e) {
    if (e instanceof PlumError) throw e;
    throw new PlumError('invalid_input', `invalid body field "ip": "${ip}" is not an IP address`);
  }
  if (docs.length === 0) throw new PlumError('not_found', `no current open port stored for ${ip}`, { hint: 'scan or ingest the host first' });
  const ports = docs.map((d) => {
    const ev = evaluateRules(rc.set, d.fields, { at: d.last_seen });
    return { protocol: d.protocol, port: d.port, hsh256: d.hsh256, matches: ev.rules.includes(rule), tags: ev.tags, storedTags: d.tags };
  });
  return { rule, ip, ports };
}
