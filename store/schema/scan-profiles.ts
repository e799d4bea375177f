import { relations, sql } from 'drizzle-orm';
import { boolean, integer, jsonb, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';
import { runs } from './runs.ts';

/** What to scan and how often (id `prof_…`). */
export const scanProfiles = pgTable(
  'scan_profiles',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    description: text('description'),
    /** nmap port specification, e.g. `22,80,443` or `1-1024`. */
    tcpPorts: text('tcp_ports').notNull().default(''),
    udpPorts: text('udp_ports'),
    scripts: text('scripts')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** Scripts of refused categories (broadcast, external, dos, exploit, brute, intrusive) an admin allowed by name. */
    allowScripts: text('allow_scripts')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** Extra nmap arguments, already tokenised and validated. */
    nmapArgs: text('nmap_args')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** Time between two scans of the same target, e.g. `12h`. */
    cycle: text('cycle').notNull().default('12h'),
    /** 0 background … 4 urgent. */
    priority: integer('priority').notNull().default(2),
    /** Which targets the profile applies to: `all` or a label selector. */
    targetSelector: text('target_selector').notNull().default('all'),
    hostTimeout: text('host_timeout').notNull().default('40s'),
    /** The scanner that runs the profile's jobs: `nmap` or `sslscan` (the TLS scanner: core/scanner/contract.ts). */
    scanner: text('scanner').notNull().default('nmap'),
    /** A trigger profile's query (core/query): it scans what the query newly matches instead of targets on a cycle. */
    trigger: text('trigger'),
    /** Two-stage profile: `{ rate }` of the masscan scouting stage (core/profiles.ts), null for nmap alone. */
    scouting: jsonb('scouting').$type<{ rate: number }>(),
    enabled: boolean('enabled').notNull().default(true),
    createdAt: tstz('created_at').notNull().defaultNow(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('scan_profiles_name_key').on(t.name)],
);

export const scanProfilesRelations = relations(scanProfiles, ({ many }) => ({
  runs: many(runs),
}));

export type ScanProfileRow = typeof scanProfiles.$inferSelect;
export type NewScanProfileRow = typeof scanProfiles.$inferInsert;
