import { relations, sql } from 'drizzle-orm';
import { boolean, customType, index, inet, integer, jsonb, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import type { SearchFields } from '../../core/fields.ts';
import { tstz } from './columns.ts';
import { observationEvents } from './observation-events.ts';
import { observationSightings } from './observation-sightings.ts';

/** tsvector, written only by PostgreSQL (generated column for token search). */
const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });

/**
 * Search (issue 6): fields searched often enough to get their own folded text
 * column (`plum_field_text`, migration 0009) and trigram index. Kept in step
 * with HOT_FIELDS in store/search/columns.ts.
 */
const fieldText = (field: string) => text(`s_${field}`).generatedAlwaysAs(sql.raw(`plum_field_text(fields, '${field}')`));

export const PORT_STATES = ['open', 'closed'] as const;
export type PortState = (typeof PORT_STATES)[number];

/**
 * One fingerprint (hsh256) seen at one ip/protocol/port in one view (id `obs_…`). A "slot"
 * (ip, protocol, port) has any number of fingerprints over time; exactly one of
 * them is `current` (the latest known state of the slot, open or closed, and its latest
 * document). Each view of the slot (core/history/view.ts: the scan's scripts and service
 * detection) has one `view_head`: the fingerprint that view saw last, the one its next
 * sighting is compared with.
 */
export const portObservations = pgTable(
  'port_observations',
  {
    id: text('id').primaryKey(),
    ip: inet('ip').notNull(),
    protocol: text('protocol').notNull(),
    port: integer('port').notNull(),
    hsh256: text('hsh256').notNull(),
    fpVersion: integer('fp_version').notNull(),
    /** The scan settings that produced this fingerprint (core/history/view.ts). */
    view: text('view').notNull().default('unknown'),
    /** The latest fingerprint of this view at the slot: what the view's next sighting is compared with. */
    viewHead: boolean('view_head').notNull().default(false),
    /**
     * Scan time (nmap's host times, never the ingest clock) of the first sighting. What each sighting
     * changes (last_seen, times_seen, checked_at, last run/job) is in observation_sightings (same id).
     */
    firstSeen: tstz('first_seen').notNull(),
    /** State of the slot while this row is current: closed after a `gone`. */
    state: text('state', { enum: PORT_STATES }).notNull().default('open'),
    current: boolean('current').notNull().default(true),
    /** When `state` last changed. */
    stateChangedAt: tstz('state_changed_at').notNull(),
    doc: jsonb('doc').$type<Record<string, unknown>>().notNull(),
    fields: jsonb('fields').$type<SearchFields>().notNull(),
    hostnames: text('hostnames')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** Searched through observation_tags, a copy kept in step by a trigger (store/schema/observation-tags.ts). */
    tags: text('tags')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** Names of the rules whose tags are in `tags`. */
    rules: text('rules')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** Sorted by through observation_scores, a copy kept in step by a trigger (store/schema/observation-scores.ts). */
    score: integer('score').notNull().default(0),
    scoreFeatures: jsonb('score_features').$type<Record<string, unknown>>(),
    /**
     * Whether the stored score moves with time: a decaying feature (newly appeared, recently changed) is inside
     * its window (core/score.ts `scoreMovesWithTime`). Null until the row is first scored. A stable sighting of a
     * row whose score does not move, and whose certificate judgement does not flip, needs no rescoring
     * (store/rules/rescore.ts); read by the stable fast path with the row it already fetches.
     */
    scoreTimed: boolean('score_timed'),
    /** Search (issue 6): `plum_search_text(fields)` (migration 0006), the same text as store/search/columns.ts computes. */
    searchText: text('search_text').generatedAlwaysAs(sql`plum_search_text(fields)`),
    /**
     * Token search over every string of the document; generated, so it never drifts from `doc`. Slashes become
     * spaces first: PostgreSQL's parser keeps `nginx/1.22.1` as one path lexeme, which neither `nginx` nor
     * `1.22.1` would match (normaliseTokenQuery turns such a query word into the matching phrase). A slash
     * occurs only inside JSON strings, so the translated text is still the same document.
     */
    searchTsv: tsvector('search_tsv').generatedAlwaysAs(
      sql`jsonb_to_tsvector('simple'::regconfig, translate(doc::text, '/', ' ')::jsonb, '["string"]'::jsonb)`,
    ),
    sHttpTitle: fieldText('http_title'),
    sHttpServer: fieldText('http_server'),
    sHttpHeadval: fieldText('http_headval'),
    sBanner: fieldText('banner'),
    sX509San: fieldText('x509_san'),
    sX509Subject: fieldText('x509_subject'),
    sX509Issuer: fieldText('x509_issuer'),
    sFqdn: fieldText('fqdn'),
    sDomain: fieldText('domain'),
    sServiceProduct: fieldText('service_product'),
    sHttpFaviconMmhash: fieldText('http_favicon_mmhash'),
  },
  (t) => [
    uniqueIndex('port_observations_fp_key').on(t.ip, t.protocol, t.port, t.view, t.hsh256),
    uniqueIndex('port_observations_current_key')
      .on(t.ip, t.protocol, t.port)
      .where(sql`${t.current}`),
    uniqueIndex('port_observations_view_head_key')
      .on(t.ip, t.protocol, t.port, t.view)
      .where(sql`${t.viewHead}`),
    index('port_observations_current_open_idx')
      .on(t.ip)
      .where(sql`${t.current} and ${t.state} = 'open'`),
    index('port_observations_port_idx').on(t.port, t.protocol),
    index('port_observations_fields_idx').using('gin', sql`${t.fields} jsonb_path_ops`),
    // Search: trigram index for exact/prefix/substring terms, full text. `net:` (`ip <<= cidr`) is a range on the
    // btree indexes led by ip (the planner turns `<<=` into bounds). No GiST inet index: the planner took it for
    // `ip = any(…)`, where each address walks much of the tree (hundreds of times the btree's page reads).
    // The tag indexes are on observation_tags, the score index on observation_scores (store/schema/observation-*.ts),
    // so re-tagging and re-scoring stay HOT updates.
    index('port_observations_search_text_trgm_idx').using('gin', sql`${t.searchText} gin_trgm_ops`),
    index('port_observations_search_tsv_idx').using('gin', t.searchTsv),
    ...(
      [
        'sHttpTitle',
        'sHttpServer',
        'sHttpHeadval',
        'sBanner',
        'sX509San',
        'sX509Subject',
        'sX509Issuer',
        'sFqdn',
        'sDomain',
        'sServiceProduct',
        'sHttpFaviconMmhash',
      ] as const
    ).map((c) => index(`port_observations_${t[c].name}_trgm_idx`).using('gin', sql`${t[c]} gin_trgm_ops`)),
  ],
);

export const portObservationsRelations = relations(portObservations, ({ many, one }) => ({
  events: many(observationEvents, { relationName: 'eventObservation' }),
  sighting: one(observationSightings, { fields: [portObservations.id], references: [observationSightings.id] }),
}));

export type PortObservationRow = typeof portObservations.$inferSelect;
export type NewPortObservationRow = typeof portObservations.$inferInsert;
