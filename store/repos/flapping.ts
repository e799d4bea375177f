import type { FlappingRule } from '../../core/history/flapping.ts';

/**
 * SQL for whether an event of `observation_events` (alias `alias`) is a flapping port's gone/reappeared: the
 * slot went away at least `rule.count` times within `rule.windowMs` up to the event (core/history/flapping.ts
 * isFlapping is its pure twin). Served by observation_events_ip_at_idx. The rule's numbers are integers.
 */
export function flappingSql(alias: string, rule: FlappingRule): string {
  return `(${alias}.type in ('gone', 'reappeared') and (select count(*) from observation_events f
    where f.ip = ${alias}.ip and f.protocol = ${alias}.protocol and f.port = ${alias}.port and f.type = 'gone'
      and f.at > ${alias}.at - ${Math.trunc(rule.windowMs)} * interval '1 millisecond' and f.at <= ${alias}.at) >= ${Math.trunc(rule.count)})`;
}
