CREATE TABLE "observation_sightings" (
	"id" text PRIMARY KEY NOT NULL,
	"last_seen" timestamp with time zone NOT NULL,
	"times_seen" integer DEFAULT 1 NOT NULL,
	"checked_at" timestamp with time zone NOT NULL,
	"last_run_id" text,
	"last_job_id" text
);
--> statement-breakpoint
-- Keep every observation's sighting columns (an upgrade in place loses nothing), before they are dropped below.
INSERT INTO "observation_sightings" ("id", "last_seen", "times_seen", "checked_at", "last_run_id", "last_job_id")
  SELECT "id", "last_seen", "times_seen", "checked_at", "last_run_id", "last_job_id" FROM "port_observations";--> statement-breakpoint
DROP INDEX "port_observations_last_seen_idx";--> statement-breakpoint
ALTER TABLE "observation_sightings" ADD CONSTRAINT "observation_sightings_id_port_observations_id_fk" FOREIGN KEY ("id") REFERENCES "public"."port_observations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "observation_sightings_last_seen_idx" ON "observation_sightings" USING btree ("last_seen");--> statement-breakpoint
CREATE INDEX "observation_sightings_last_run_idx" ON "observation_sightings" USING btree ("last_run_id");--> statement-breakpoint
ALTER TABLE "port_observations" DROP COLUMN "last_seen";--> statement-breakpoint
ALTER TABLE "port_observations" DROP COLUMN "times_seen";--> statement-breakpoint
ALTER TABLE "port_observations" DROP COLUMN "last_run_id";--> statement-breakpoint
ALTER TABLE "port_observations" DROP COLUMN "last_job_id";--> statement-breakpoint
ALTER TABLE "port_observations" DROP COLUMN "checked_at";