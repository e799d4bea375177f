DROP INDEX IF EXISTS "port_observations_ip_net_idx";
