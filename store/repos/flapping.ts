import type { FlappingRule } from '../../core/history/flapping.ts';

/**
 * How many times the slot of `slot` (an alias with ip, protocol and port) went away within `rule.windowMs` up to
 * `at` (an SQL time expression). Served by observation_events_ip_at_idx. The rule's numbers are integers.
 */
function goneWithin(slot: string, at: string, rule: FlappingRule): string {
  return `(select count(*) from observation_events f
    where f.ip = ${slot}.ip and f.protocol = ${slot}.protocol and f.port = ${slot}.port and f.type = 'gone'
      and f.at > ${at} - ${Math.trunc(rule.windowMs)} * interval '1 millisecond' and f.at <= ${at})`;
}

/**
 * SQL for whether an event of `observation_events` (alias `alias`) is a flapping port's gone/reappeared: the
 * slot went away at least `rule.count` times within `rule.windowMs` up to the event (core/history/flapping.ts
 * isFlapping is its pure twin). False, never null, for other event types: `not` of it keeps them.
 */
export function flappingSql(alias: string, rule: FlappingRule): string {
  return `(${alias}.type in ('gone', 'reappeared') and ${goneWithin(alias, `${alias}.at`, rule)} >= ${Math.trunc(rule.count)})`;
}

/**
 * SQL for whether an event of `observation_events` (alias `alias`) is the `gone` that starts a port's flapping:
 * flapping itself, while the slot's previous gone/reappeared was not (or there was none). A port that flaps,
 * calms down and flaps again starts twice.
 */
export function flappingStartsSql(alias: string, rule: FlappingRule): string {
  return `(${alias}.type = 'gone' and ${flappingSql(alias, rule)} and not coalesce((select ${flappingSql('p', rule)} from observation_events p
    where p.ip = ${alias}.ip and p.protocol = ${alias}.protocol and p.port = ${alias}.port and p.type in ('gone', 'reappeared')
      and (p.at, p.id) < (${alias}.at, ${alias}.id) order by p.at desc, p.id desc limit 1), false))`;
}

/**
 * SQL for whether the slot of `slot` (e.g. a port_observations alias) is flapping at `at` (an SQL time
 * expression, e.g. a bound parameter): the same count as flappingSql's, judged at that time instead of at an event.
 */
export function flappingAtSql(slot: string, at: string, rule: FlappingRule): string {
  return `(${goneWithin(slot, at, rule)} >= ${Math.trunc(rule.count)})`;
}
