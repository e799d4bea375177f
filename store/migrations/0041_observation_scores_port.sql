-- observation_scores carries each observation's port too, last in the order index (after the unique id, so the
-- order is unchanged): a walk by score checks a query's port terms in the index before reading any document.
-- Hand-edited as 0038: the column is filled before it is made NOT NULL, the index dropped first and built once.
DROP INDEX "observation_scores_order_idx";--> statement-breakpoint
ALTER TABLE "observation_scores" ADD COLUMN "port" integer;--> statement-breakpoint
UPDATE "observation_scores" s SET "port" = p."port" FROM "port_observations" p WHERE p."id" = s."id";--> statement-breakpoint
ALTER TABLE "observation_scores" ALTER COLUMN "port" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "observation_scores_order_idx" ON "observation_scores" USING btree ("score" DESC NULLS FIRST,"ip","id","port");--> statement-breakpoint
CREATE OR REPLACE FUNCTION "plum_observation_scores_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "observation_scores" ("id", "score", "ip", "port") VALUES (NEW."id", NEW."score", NEW."ip", NEW."port");
  RETURN NULL;
END
$$;
