-- The insert triggers that copy a new document's tags and score (observation_tags, observation_scores) stand aside
-- for `plum.judgements_synced = on` too, as the update triggers do (0040): ingest inserts a batch's new documents
-- and their copies in one statement instead of a trigger call and a single-row insert per document. Any other
-- writer keeps the triggers.
DROP TRIGGER "port_observations_tags_insert" ON "port_observations";--> statement-breakpoint
CREATE TRIGGER "port_observations_tags_insert" AFTER INSERT ON "port_observations"
  FOR EACH ROW WHEN (cardinality(NEW."tags") > 0 AND current_setting('plum.judgements_synced', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION "plum_observation_tags_sync"();--> statement-breakpoint
DROP TRIGGER "port_observations_score_insert" ON "port_observations";--> statement-breakpoint
CREATE TRIGGER "port_observations_score_insert" AFTER INSERT ON "port_observations"
  FOR EACH ROW WHEN (current_setting('plum.judgements_synced', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION "plum_observation_scores_insert"();
