-- Trigram indexes (substring and prefix search) need pg_trgm; PGlite loads it from its contrib.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
