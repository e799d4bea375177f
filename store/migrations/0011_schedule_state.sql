CREATE TABLE "schedule_state" (
	"profile_id" text PRIMARY KEY NOT NULL,
	"last_scheduled_for" timestamp with time zone,
	"last_workflow_id" text,
	"last_run_id" text,
	"skipped_slots" text[],
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "schedule_state" ADD CONSTRAINT "schedule_state_profile_id_scan_profiles_id_fk" FOREIGN KEY ("profile_id") REFERENCES "public"."scan_profiles"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "schedule_state" ADD CONSTRAINT "schedule_state_last_run_id_runs_id_fk" FOREIGN KEY ("last_run_id") REFERENCES "public"."runs"("id") ON DELETE set null ON UPDATE no action;