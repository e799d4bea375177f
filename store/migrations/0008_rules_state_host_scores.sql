CREATE TABLE "rule_applications" (
	"name" text PRIMARY KEY NOT NULL,
	"hash" text NOT NULL,
	"applied_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "host_scores" (
	"ip" "inet" PRIMARY KEY NOT NULL,
	"score" integer NOT NULL,
	"band" text NOT NULL,
	"features" jsonb NOT NULL,
	"open_ports" integer NOT NULL,
	"computed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "rules" ADD COLUMN "severity" text;--> statement-breakpoint
ALTER TABLE "rules" ADD COLUMN "references" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "rules" ADD COLUMN "tests" jsonb;--> statement-breakpoint
ALTER TABLE "rules" ADD COLUMN "hash" text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE INDEX "host_scores_score_idx" ON "host_scores" USING btree ("score");