DROP INDEX "port_observations_fp_key";--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "view" text DEFAULT 'unknown' NOT NULL;--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "view_head" boolean DEFAULT false NOT NULL;--> statement-breakpoint
-- Existing observations take the view of the job that saw them last: the text core/history/view.ts viewOfJob
-- gives that job (its scripts, then its nmap options, read as viewFromArgv reads them), so that the next scan
-- of an unchanged profile finds its view already there and a fingerprint that changed across the upgrade is
-- a `changed`. Imports and rows without a job keep 'unknown': an import's nmap command line is only in its
-- gzipped XML. The function below serves this update only and is dropped after it. It reads the options as
-- viewFromArgv does (the same spellings: `--opt value`, `--opt=value`, single-dash; the same `--` stop), for the
-- options a job can hold: its profile's, which core/nmap-args.ts checked (ASCII script names, intensity 0-9).
CREATE FUNCTION "plum_view_of_argv"(argv text[]) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  ws text := chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(32);
  i int := array_lower(argv, 1);
  tok text;
  opt text;
  val text;
  item text;
  spelling text;
  scripts text[] := '{}';
  script_args text[] := '{}';
  version_scan boolean := false;
  intensity text := '7';
  parts text[] := '{}';
BEGIN
  WHILE i <= array_upper(argv, 1) LOOP
    tok := argv[i];
    EXIT WHEN tok = '--';
    opt := NULL;
    <<names>>
    FOREACH item IN ARRAY ARRAY['script', 'script-args', 'version-intensity'] LOOP
      FOREACH spelling IN ARRAY ARRAY['--' || item, '-' || item] LOOP
        IF tok = spelling AND i < array_upper(argv, 1) THEN
          opt := item;
          val := argv[i + 1];
          i := i + 1;
          EXIT names;
        ELSIF left(tok, length(spelling) + 1) = spelling || '=' THEN
          opt := item;
          val := substr(tok, length(spelling) + 2);
          EXIT names;
        END IF;
      END LOOP;
    END LOOP;
    IF opt = 'script' THEN
      FOREACH item IN ARRAY string_to_array(coalesce(val, ''), ',') LOOP
        item := btrim(item, ws);
        CONTINUE WHEN item = '';
        -- scriptName: the part after the last / or \, less a final .nse in any case.
        item := reverse(split_part(reverse(translate(item, chr(92), '/')), '/', 1));
        IF translate(right(item, 4), 'NSE', 'nse') = '.nse' THEN
          item := left(item, -4);
        END IF;
        scripts := array_append(scripts, item);
      END LOOP;
    ELSIF opt = 'script-args' THEN
      script_args := array_append(script_args, val);
    ELSIF opt = 'version-intensity' THEN
      intensity := val;
    ELSIF tok = '-sV' THEN
      version_scan := true;
    ELSIF tok = '-sC' THEN
      scripts := array_append(scripts, 'default');
    ELSIF tok = '-A' THEN
      version_scan := true;
      scripts := array_append(scripts, 'default');
    ELSIF tok IN ('--version-light', '-version-light') THEN
      intensity := '2';
    ELSIF tok IN ('--version-all', '-version-all') THEN
      intensity := '9';
    END IF;
    i := i + 1;
  END LOOP;
  IF cardinality(scripts) > 0 THEN
    -- Distinct, sorted: the script names a profile accepts are ASCII, whose byte order is JS's default order.
    parts := array_append(parts, 'script:' || (SELECT string_agg(x, ',' ORDER BY x COLLATE "C") FROM (SELECT DISTINCT x FROM unnest(scripts) AS x) u));
  END IF;
  IF version_scan THEN
    -- The values a profile accepts are digits (core/nmap-args.ts); JS's Number() of anything else is NaN here.
    intensity := CASE WHEN intensity ~ '^[0-9]{1,9}$' THEN intensity::int::text ELSE 'NaN' END;
    parts := array_append(parts, CASE WHEN intensity = '7' THEN 'sV' ELSE 'sV:' || intensity END);
  END IF;
  IF cardinality(script_args) > 0 THEN
    parts := array_append(parts, 'args:' || left(encode(sha256(convert_to(array_to_string(script_args, ','), 'UTF8')), 'hex'), 8));
  END IF;
  RETURN CASE WHEN cardinality(parts) > 0 THEN array_to_string(parts, ' ') ELSE 'ports' END;
END
$$;--> statement-breakpoint
-- Once per job (viewOfJob: its scripts as one --script option before its nmap options).
WITH "job_views" AS MATERIALIZED (
  SELECT j.id, "plum_view_of_argv"(
      CASE WHEN cardinality(j.scripts) > 0 THEN ARRAY['--script', array_to_string(j.scripts, ',')] ELSE '{}' END || j.nmap_args) AS view
  FROM "jobs" j JOIN "runs" u ON u.id = j.run_id
  WHERE u.kind <> 'import' AND j.id IN (SELECT s.last_job_id FROM "observation_sightings" s)
)
UPDATE "port_observations" o SET "view" = v.view
FROM "observation_sightings" s JOIN "job_views" v ON v.id = s.last_job_id
WHERE o.id = s.id;--> statement-breakpoint
DROP FUNCTION "plum_view_of_argv"(text[]);--> statement-breakpoint
-- Each view's head is its current row, else its most recently seen one. No event is rewritten.
UPDATE "port_observations" SET "view_head" = true WHERE id IN (
  SELECT DISTINCT ON (o.ip, o.protocol, o.port, o.view) o.id
  FROM "port_observations" o LEFT JOIN "observation_sightings" s ON s.id = o.id
  ORDER BY o.ip, o.protocol, o.port, o.view, o.current DESC, s.last_seen DESC NULLS LAST, o.id
);--> statement-breakpoint
CREATE UNIQUE INDEX "port_observations_view_head_key" ON "port_observations" USING btree ("ip","protocol","port","view") WHERE "port_observations"."view_head";--> statement-breakpoint
CREATE UNIQUE INDEX "port_observations_fp_key" ON "port_observations" USING btree ("ip","protocol","port","view","hsh256");