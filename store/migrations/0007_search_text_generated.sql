DROP INDEX "port_observations_search_text_idx";--> statement-breakpoint
ALTER TABLE "port_observations" ALTER COLUMN "search_text" DROP DEFAULT;--> statement-breakpoint
ALTER TABLE "port_observations" ALTER COLUMN "search_text" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "port_observations" drop column "search_text";--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "search_text" text GENERATED ALWAYS AS (plum_search_text(fields)) STORED;--> statement-breakpoint
CREATE INDEX "port_observations_search_text_trgm_idx" ON "port_observations" USING gin ("search_text" gin_trgm_ops);