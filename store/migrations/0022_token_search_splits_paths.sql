-- Token search splits paths: `nginx/1.22.1` is indexed as `nginx` and `1.22.1` (adjacent), so a
-- product, a version and the two together all match. Dropping the column drops its index: recreated below.
ALTER TABLE "port_observations" drop column "search_tsv";--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "search_tsv" "tsvector" GENERATED ALWAYS AS (jsonb_to_tsvector('simple'::regconfig, translate(doc::text, '/', ' ')::jsonb, '["string"]'::jsonb)) STORED;--> statement-breakpoint
CREATE INDEX "port_observations_search_tsv_idx" ON "port_observations" USING gin ("search_tsv");
