CREATE TABLE "nse_scripts" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"sha256" text NOT NULL,
	"content" text NOT NULL,
	"size" integer NOT NULL,
	"categories" text[] DEFAULT '{}'::text[] NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "nse_scripts_name_key" ON "nse_scripts" USING btree ("name");--> statement-breakpoint
CREATE INDEX "nse_scripts_sha256_idx" ON "nse_scripts" USING btree ("sha256");