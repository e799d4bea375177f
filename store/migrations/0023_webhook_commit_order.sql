-- A constant default first (no table rewrite on a large feed), then the transaction id for new rows.
ALTER TABLE "observation_events" ADD COLUMN "tx" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "observation_events" ALTER COLUMN "tx" SET DEFAULT (pg_current_xact_id()::text)::bigint;--> statement-breakpoint
ALTER TABLE "webhooks" ADD COLUMN "cursor_tx" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "webhooks" ADD COLUMN "sender_id" text;--> statement-breakpoint
ALTER TABLE "webhooks" ADD COLUMN "sender_until" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "observation_events_tx_idx" ON "observation_events" USING btree ("tx","id");--> statement-breakpoint
-- Existing events all have tx 0 and keep their id order: a webhook's cursor becomes the last event it had queued.
UPDATE "webhooks" w SET "cursor_id" = coalesce((
  SELECT max(e."id") FROM "observation_events" e WHERE (e."created_at", e."id") <= (w."cursor_at", w."cursor_id")
), '');--> statement-breakpoint
-- Wakes webhook dispatchers and event streams (LISTEN plum_events) when events commit, in any process.
CREATE FUNCTION "plum_notify_events"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('plum_events', '');
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER "observation_events_notify" AFTER INSERT ON "observation_events"
  FOR EACH STATEMENT EXECUTE FUNCTION "plum_notify_events"();
