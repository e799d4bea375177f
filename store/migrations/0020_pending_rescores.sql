CREATE TABLE "pending_rescores" (
	"ip" "inet" PRIMARY KEY NOT NULL,
	"queued_at" timestamp with time zone DEFAULT now() NOT NULL
);
