CREATE TABLE "trigger_firings" (
	"id" text PRIMARY KEY NOT NULL,
	"profile_id" text NOT NULL,
	"ip" "inet" NOT NULL,
	"protocol" text NOT NULL,
	"port" integer NOT NULL,
	"hsh256" text NOT NULL,
	"observation_id" text NOT NULL,
	"query" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"fired_at" timestamp with time zone DEFAULT now() NOT NULL,
	"claimed_at" timestamp with time zone,
	"dispatched_at" timestamp with time zone,
	"error" text,
	"workflow_id" text,
	"run_id" text
);
--> statement-breakpoint
ALTER TABLE "scan_profiles" ADD COLUMN "trigger" text;--> statement-breakpoint
ALTER TABLE "trigger_firings" ADD CONSTRAINT "trigger_firings_profile_id_scan_profiles_id_fk" FOREIGN KEY ("profile_id") REFERENCES "public"."scan_profiles"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "trigger_firings" ADD CONSTRAINT "trigger_firings_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "trigger_firings_fingerprint_key" ON "trigger_firings" USING btree ("profile_id","ip","protocol","port","hsh256");--> statement-breakpoint
CREATE INDEX "trigger_firings_status_idx" ON "trigger_firings" USING btree ("profile_id","status","fired_at");--> statement-breakpoint
CREATE INDEX "trigger_firings_workflow_idx" ON "trigger_firings" USING btree ("workflow_id");