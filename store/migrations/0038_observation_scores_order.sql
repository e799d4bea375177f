-- observation_scores carries each observation's address, so search's sort by score walks one index in its
-- paging order (score desc, ip, id). Hand-edited: the column is filled before it is made NOT NULL, with the
-- old index dropped first and the new one built once at the end.
DROP INDEX "observation_scores_score_idx";--> statement-breakpoint
ALTER TABLE "observation_scores" ADD COLUMN "ip" "inet";--> statement-breakpoint
UPDATE "observation_scores" s SET "ip" = p."ip" FROM "port_observations" p WHERE p."id" = s."id";--> statement-breakpoint
ALTER TABLE "observation_scores" ALTER COLUMN "ip" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "observation_scores_order_idx" ON "observation_scores" USING btree ("score" DESC NULLS FIRST,"ip","id");--> statement-breakpoint
CREATE OR REPLACE FUNCTION "plum_observation_scores_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "observation_scores" ("id", "score", "ip") VALUES (NEW."id", NEW."score", NEW."ip");
  RETURN NULL;
END
$$;
