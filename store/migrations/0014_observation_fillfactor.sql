-- Room in each page for the new version of a row, so that a stable sighting (last_seen, times_seen…)
-- is a HOT update: no new entry in any index. Applies to pages written from now on.
ALTER TABLE "port_observations" SET (fillfactor = 70);
