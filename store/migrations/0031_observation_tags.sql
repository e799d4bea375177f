CREATE TABLE "observation_tags" (
	"id" text PRIMARY KEY NOT NULL,
	"tags" text[] NOT NULL
);
--> statement-breakpoint
-- Backfill before the indexes exist: one index build is cheaper than an entry per inserted row.
INSERT INTO "observation_tags" ("id", "tags")
  SELECT "id", "tags" FROM "port_observations" WHERE cardinality("tags") > 0;--> statement-breakpoint
DROP INDEX "port_observations_tags_idx";--> statement-breakpoint
DROP INDEX "port_observations_tags_text_idx";--> statement-breakpoint
ALTER TABLE "observation_tags" ADD CONSTRAINT "observation_tags_id_port_observations_id_fk" FOREIGN KEY ("id") REFERENCES "public"."port_observations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "observation_tags_tags_idx" ON "observation_tags" USING gin ("tags");--> statement-breakpoint
CREATE INDEX "observation_tags_tags_text_idx" ON "observation_tags" USING gin (plum_tags_text("tags") gin_trgm_ops);--> statement-breakpoint
-- Keeps observation_tags in step with port_observations.tags for every writer (ingest, rules apply, imports):
-- a row while the tags are not empty, none once they are. Written by hand (drizzle cannot declare triggers).
CREATE FUNCTION "plum_observation_tags_sync"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF cardinality(NEW."tags") > 0 THEN
    INSERT INTO "observation_tags" ("id", "tags") VALUES (NEW."id", NEW."tags")
      ON CONFLICT ("id") DO UPDATE SET "tags" = excluded."tags";
  ELSE
    DELETE FROM "observation_tags" WHERE "id" = NEW."id";
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER "port_observations_tags_insert" AFTER INSERT ON "port_observations"
  FOR EACH ROW WHEN (cardinality(NEW."tags") > 0) EXECUTE FUNCTION "plum_observation_tags_sync"();--> statement-breakpoint
CREATE TRIGGER "port_observations_tags_update" AFTER UPDATE OF "tags" ON "port_observations"
  FOR EACH ROW WHEN (NEW."tags" IS DISTINCT FROM OLD."tags") EXECUTE FUNCTION "plum_observation_tags_sync"();--> statement-breakpoint
-- Room on each page for the new version of an updated row: updates of tags, rules, score_features (and state)
-- touch no indexed column and stay on their page (HOT, no index entry) while the page has space. Applies to
-- pages written from now on; existing pages gain it as rows move.
ALTER TABLE "port_observations" SET (fillfactor = 85);
