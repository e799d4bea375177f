CREATE TABLE "legacy_agent_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"key_index" text NOT NULL,
	"salt" text NOT NULL,
	"hash" text NOT NULL,
	"note" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "legacy_agents" (
	"uid" text PRIMARY KEY NOT NULL,
	"key_id" text NOT NULL,
	"device_model" text NOT NULL,
	"agent_version" text NOT NULL,
	"system_version" text NOT NULL,
	"ext_ip" text NOT NULL,
	"first_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "legacy_dispatch" (
	"id" text PRIMARY KEY NOT NULL,
	"weights" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "legacy_agents" ADD CONSTRAINT "legacy_agents_key_id_legacy_agent_keys_id_fk" FOREIGN KEY ("key_id") REFERENCES "public"."legacy_agent_keys"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "legacy_agent_keys_index_key" ON "legacy_agent_keys" USING btree ("key_index");--> statement-breakpoint
CREATE INDEX "legacy_agents_key_idx" ON "legacy_agents" USING btree ("key_id");