-- The narrow copies of tags and score (observation_tags, observation_scores) stay in step through row triggers for
-- every writer. A writer that rewrites many documents' tags and scores in one statement (rules apply) also writes
-- both copies itself in one statement each, and says so for its transaction with `plum.judgements_synced = on`:
-- the row triggers then stand aside (one trigger call, upsert and index probe per row was most of a re-tag).
DROP TRIGGER "port_observations_tags_update" ON "port_observations";--> statement-breakpoint
CREATE TRIGGER "port_observations_tags_update" AFTER UPDATE OF "tags" ON "port_observations"
  FOR EACH ROW WHEN (NEW."tags" IS DISTINCT FROM OLD."tags" AND current_setting('plum.judgements_synced', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION "plum_observation_tags_sync"();--> statement-breakpoint
DROP TRIGGER "port_observations_score_update" ON "port_observations";--> statement-breakpoint
CREATE TRIGGER "port_observations_score_update" AFTER UPDATE OF "score" ON "port_observations"
  FOR EACH ROW WHEN (NEW."score" IS DISTINCT FROM OLD."score" AND current_setting('plum.judgements_synced', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION "plum_observation_scores_update"();
