DROP INDEX "port_observations_last_seen_idx";--> statement-breakpoint
DROP INDEX "port_observations_first_seen_idx";--> statement-breakpoint
DROP INDEX "port_observations_last_run_idx";