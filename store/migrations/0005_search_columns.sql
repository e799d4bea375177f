ALTER TABLE "port_observations" ADD COLUMN "search_text" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "search_tsv" "tsvector" GENERATED ALWAYS AS (jsonb_to_tsvector('simple'::regconfig, doc, '["string"]'::jsonb)) STORED;--> statement-breakpoint
CREATE INDEX "port_observations_search_text_idx" ON "port_observations" USING gin ("search_text" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "port_observations_ip_net_idx" ON "port_observations" USING gist ("ip" inet_ops);--> statement-breakpoint
CREATE INDEX "port_observations_tags_text_idx" ON "port_observations" USING gin (plum_tags_text("tags") gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "port_observations_search_tsv_idx" ON "port_observations" USING gin ("search_tsv");--> statement-breakpoint
CREATE INDEX "port_observations_score_idx" ON "port_observations" USING btree ("score");