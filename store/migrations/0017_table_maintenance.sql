CREATE TABLE "table_maintenance" (
	"table_name" text PRIMARY KEY NOT NULL,
	"pending_rows" bigint DEFAULT 0 NOT NULL,
	"last_run_at" timestamp with time zone
);
