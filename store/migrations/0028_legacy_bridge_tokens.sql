ALTER TABLE "jobs" ADD COLUMN "legacy_task_token" "bytea";--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "legacy_attempt" integer;