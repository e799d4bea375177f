/**
 * Bench data goes in the way ingest writes it: the document row in
 * port_observations, what sightings move (last_seen, times_seen, checked_at,
 * last run/job) in observation_sightings (store/schema/observation-sightings.ts).
 */
const SIGHTING_COLUMNS = new Set(['last_seen', 'times_seen', 'checked_at', 'last_run_id', 'last_job_id']);

/**
 * The tail of a `with …` statement: `select` yields `columns` (port_observations'
 * columns plus any sighting column); one statement fills both tables. Use as
 * `with ${insertObservationsSql(cols, 'select …')}` or after other CTEs.
 */
export function insertObservationsSql(columns: string[], select: string): string {
  if (!columns.includes('last_seen') || !columns.includes('checked_at')) throw new Error('bench rows need last_seen and checked_at');
  const doc = columns.filter((c) => !SIGHTING_COLUMNS.has(c));
  const seen = ['id', ...columns.filter((c) => SIGHTING_COLUMNS.has(c))];
  return `src (${columns.join(', ')}) as (${select}),
  o as (insert into port_observations (${doc.join(', ')}) select ${doc.join(', ')} from src)
insert into observation_sightings (${seen.join(', ')}) select ${seen.join(', ')} from src`;
}
