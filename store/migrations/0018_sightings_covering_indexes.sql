DROP INDEX "observation_sightings_last_seen_idx";--> statement-breakpoint
CREATE INDEX "observation_sightings_last_seen_id_idx" ON "observation_sightings" USING btree ("last_seen","id");--> statement-breakpoint
-- The primary key carries last_seen, so a search that matches first reads each match's last_seen from the key
-- alone (an index-only scan). Not expressible in the drizzle schema; written by hand.
ALTER TABLE "observation_sightings" DROP CONSTRAINT "observation_sightings_pkey", ADD CONSTRAINT "observation_sightings_pkey" PRIMARY KEY ("id") INCLUDE ("last_seen");
