CREATE TABLE "targets" (
	"id" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL,
	"kind" text NOT NULL,
	"range_start" "inet",
	"range_end" "inet",
	"cidr" "cidr",
	"labels" text[] DEFAULT '{}'::text[] NOT NULL,
	"exclude" boolean DEFAULT false NOT NULL,
	"note" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "scan_profiles" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"tcp_ports" text DEFAULT '' NOT NULL,
	"udp_ports" text,
	"scripts" text[] DEFAULT '{}'::text[] NOT NULL,
	"nmap_args" text[] DEFAULT '{}'::text[] NOT NULL,
	"cycle" text DEFAULT '12h' NOT NULL,
	"priority" integer DEFAULT 2 NOT NULL,
	"target_selector" text DEFAULT 'all' NOT NULL,
	"host_timeout" text DEFAULT '40s' NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "runs" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"profile_id" text,
	"profile_name" text,
	"requested_by" text,
	"targets" text[] DEFAULT '{}'::text[] NOT NULL,
	"reason" text,
	"scheduled_for" timestamp with time zone,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"status" text DEFAULT 'queued' NOT NULL,
	"scope_override" boolean DEFAULT false NOT NULL,
	"scope_override_reason" text,
	"counters" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"progress" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"workflow_id" text,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" text PRIMARY KEY NOT NULL,
	"run_id" text NOT NULL,
	"index" integer NOT NULL,
	"targets" text[] DEFAULT '{}'::text[] NOT NULL,
	"address_count" integer DEFAULT 0 NOT NULL,
	"tcp_ports" text DEFAULT '' NOT NULL,
	"udp_ports" text,
	"scripts" text[] DEFAULT '{}'::text[] NOT NULL,
	"nmap_args" text[] DEFAULT '{}'::text[] NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"agent" text,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"ingested_at" timestamp with time zone,
	"result_sha256" text,
	"error" text,
	"progress" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "raw_results" (
	"id" text PRIMARY KEY NOT NULL,
	"job_id" text,
	"run_id" text,
	"sha256" text NOT NULL,
	"size" integer NOT NULL,
	"xml_gz" "bytea" NOT NULL,
	"parser_version" integer DEFAULT 1 NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "port_observations" (
	"id" text PRIMARY KEY NOT NULL,
	"ip" "inet" NOT NULL,
	"protocol" text NOT NULL,
	"port" integer NOT NULL,
	"hsh256" text NOT NULL,
	"fp_version" integer NOT NULL,
	"first_seen" timestamp with time zone NOT NULL,
	"last_seen" timestamp with time zone NOT NULL,
	"times_seen" integer DEFAULT 1 NOT NULL,
	"last_run_id" text,
	"last_job_id" text,
	"state" text DEFAULT 'open' NOT NULL,
	"current" boolean DEFAULT true NOT NULL,
	"checked_at" timestamp with time zone NOT NULL,
	"state_changed_at" timestamp with time zone NOT NULL,
	"doc" jsonb NOT NULL,
	"fields" jsonb NOT NULL,
	"hostnames" text[] DEFAULT '{}'::text[] NOT NULL,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"rules" text[] DEFAULT '{}'::text[] NOT NULL,
	"score" integer DEFAULT 0 NOT NULL,
	"score_features" jsonb
);
--> statement-breakpoint
CREATE TABLE "observation_events" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"ip" "inet" NOT NULL,
	"protocol" text NOT NULL,
	"port" integer NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"hsh256" text NOT NULL,
	"previous_hsh256" text,
	"observation_id" text NOT NULL,
	"previous_observation_id" text,
	"run_id" text,
	"job_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rules" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"query" text NOT NULL,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"version" text NOT NULL,
	"source" text,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "runs" ADD CONSTRAINT "runs_profile_id_scan_profiles_id_fk" FOREIGN KEY ("profile_id") REFERENCES "public"."scan_profiles"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "raw_results" ADD CONSTRAINT "raw_results_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "raw_results" ADD CONSTRAINT "raw_results_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "observation_events" ADD CONSTRAINT "observation_events_observation_id_port_observations_id_fk" FOREIGN KEY ("observation_id") REFERENCES "public"."port_observations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "observation_events" ADD CONSTRAINT "observation_events_previous_observation_id_port_observations_id_fk" FOREIGN KEY ("previous_observation_id") REFERENCES "public"."port_observations"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "targets_value_key" ON "targets" USING btree ("value");--> statement-breakpoint
CREATE INDEX "targets_labels_idx" ON "targets" USING gin ("labels");--> statement-breakpoint
CREATE UNIQUE INDEX "scan_profiles_name_key" ON "scan_profiles" USING btree ("name");--> statement-breakpoint
CREATE INDEX "runs_profile_idx" ON "runs" USING btree ("profile_id","created_at");--> statement-breakpoint
CREATE INDEX "runs_status_idx" ON "runs" USING btree ("status");--> statement-breakpoint
CREATE INDEX "runs_created_idx" ON "runs" USING btree ("created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "jobs_run_index_key" ON "jobs" USING btree ("run_id","index");--> statement-breakpoint
CREATE INDEX "jobs_status_idx" ON "jobs" USING btree ("status");--> statement-breakpoint
CREATE UNIQUE INDEX "raw_results_job_key" ON "raw_results" USING btree ("job_id");--> statement-breakpoint
CREATE INDEX "raw_results_sha256_idx" ON "raw_results" USING btree ("sha256");--> statement-breakpoint
CREATE INDEX "raw_results_expires_idx" ON "raw_results" USING btree ("expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "port_observations_fp_key" ON "port_observations" USING btree ("ip","protocol","port","hsh256");--> statement-breakpoint
CREATE UNIQUE INDEX "port_observations_current_key" ON "port_observations" USING btree ("ip","protocol","port") WHERE "port_observations"."current";--> statement-breakpoint
CREATE INDEX "port_observations_current_open_idx" ON "port_observations" USING btree ("ip") WHERE "port_observations"."current" and "port_observations"."state" = 'open';--> statement-breakpoint
CREATE INDEX "port_observations_port_idx" ON "port_observations" USING btree ("port","protocol");--> statement-breakpoint
CREATE INDEX "port_observations_last_seen_idx" ON "port_observations" USING btree ("last_seen");--> statement-breakpoint
CREATE INDEX "port_observations_first_seen_idx" ON "port_observations" USING btree ("first_seen");--> statement-breakpoint
CREATE INDEX "port_observations_last_run_idx" ON "port_observations" USING btree ("last_run_id");--> statement-breakpoint
CREATE INDEX "port_observations_tags_idx" ON "port_observations" USING gin ("tags");--> statement-breakpoint
CREATE INDEX "port_observations_fields_idx" ON "port_observations" USING gin ("fields" jsonb_path_ops);--> statement-breakpoint
CREATE INDEX "observation_events_at_idx" ON "observation_events" USING btree ("at");--> statement-breakpoint
CREATE INDEX "observation_events_ip_at_idx" ON "observation_events" USING btree ("ip","at");--> statement-breakpoint
CREATE INDEX "observation_events_type_at_idx" ON "observation_events" USING btree ("type","at");--> statement-breakpoint
CREATE INDEX "observation_events_observation_idx" ON "observation_events" USING btree ("observation_id");--> statement-breakpoint
CREATE INDEX "observation_events_run_idx" ON "observation_events" USING btree ("run_id");--> statement-breakpoint
CREATE UNIQUE INDEX "rules_name_key" ON "rules" USING btree ("name");