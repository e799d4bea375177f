CREATE TABLE "observation_scores" (
	"id" text PRIMARY KEY NOT NULL,
	"score" integer NOT NULL
);
--> statement-breakpoint
-- Backfill before the score index exists: one index build is cheaper than an entry per inserted row.
INSERT INTO "observation_scores" ("id", "score") SELECT "id", "score" FROM "port_observations";--> statement-breakpoint
DROP INDEX "port_observations_score_idx";--> statement-breakpoint
ALTER TABLE "observation_scores" ADD CONSTRAINT "observation_scores_id_port_observations_id_fk" FOREIGN KEY ("id") REFERENCES "public"."port_observations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "observation_scores_score_idx" ON "observation_scores" USING btree ("score");--> statement-breakpoint
-- Keeps observation_scores in step with port_observations.score for every writer: one row per observation.
-- Written by hand (drizzle cannot declare triggers).
CREATE FUNCTION "plum_observation_scores_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "observation_scores" ("id", "score") VALUES (NEW."id", NEW."score");
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE FUNCTION "plum_observation_scores_update"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "observation_scores" SET "score" = NEW."score" WHERE "id" = NEW."id";
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER "port_observations_score_insert" AFTER INSERT ON "port_observations"
  FOR EACH ROW EXECUTE FUNCTION "plum_observation_scores_insert"();--> statement-breakpoint
CREATE TRIGGER "port_observations_score_update" AFTER UPDATE OF "score" ON "port_observations"
  FOR EACH ROW WHEN (NEW."score" IS DISTINCT FROM OLD."score") EXECUTE FUNCTION "plum_observation_scores_update"();
