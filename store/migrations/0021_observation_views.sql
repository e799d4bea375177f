DROP INDEX "port_observations_fp_key";--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "view" text DEFAULT 'unknown' NOT NULL;--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "view_head" boolean DEFAULT false NOT NULL;--> statement-breakpoint
-- Existing observations take the view of the job that saw them last (core/history/view.ts viewOfJob: its
-- scripts, sorted, and -sV; a --version-intensity or --script-args of the job is not reflected, so such a
-- profile's next scan opens a view of its own: a sighting, no event). Imports and rows without a job keep
-- 'unknown'. Each view's head is its current row, else its most recently seen one. No event is rewritten.
UPDATE "port_observations" o SET "view" = v.view
FROM (
  SELECT s.id, coalesce(nullif(concat_ws(' ',
      CASE WHEN cardinality(j.scripts) > 0 THEN 'script:' || array_to_string(ARRAY(
        SELECT d.x FROM (SELECT DISTINCT x FROM unnest(j.scripts) AS x) d ORDER BY d.x COLLATE "C"), ',') END,
      CASE WHEN '-sV' = ANY(j.nmap_args) THEN 'sV' END), ''), 'ports') AS view
  FROM "observation_sightings" s JOIN "jobs" j ON j.id = s.last_job_id JOIN "runs" u ON u.id = j.run_id
  WHERE u.kind <> 'import'
) v
WHERE o.id = v.id;--> statement-breakpoint
UPDATE "port_observations" SET "view_head" = true WHERE id IN (
  SELECT DISTINCT ON (o.ip, o.protocol, o.port, o.view) o.id
  FROM "port_observations" o LEFT JOIN "observation_sightings" s ON s.id = o.id
  ORDER BY o.ip, o.protocol, o.port, o.view, o.current DESC, s.last_seen DESC NULLS LAST, o.id
);--> statement-breakpoint
CREATE UNIQUE INDEX "port_observations_view_head_key" ON "port_observations" USING btree ("ip","protocol","port","view") WHERE "port_observations"."view_head";--> statement-breakpoint
CREATE UNIQUE INDEX "port_observations_fp_key" ON "port_observations" USING btree ("ip","protocol","port","view","hsh256");