DROP INDEX "port_observations_fp_key";--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "view" text DEFAULT 'unknown' NOT NULL;--> statement-breakpoint
ALTER TABLE "port_observations" ADD COLUMN "view_head" boolean DEFAULT false NOT NULL;--> statement-breakpoint
-- Existing observations take the view of the job that saw them last: the text core/history/view.ts viewOfJob
-- gives that job (its scripts, then its nmap options, read as viewFromArgv reads them), so that the next scan
-- of an unchanged profile finds its view already there and a fingerprint that changed across the upgrade is
-- a `changed`. Imports and rows without a job keep 'unknown': an import's nmap command line is only in its
-- gzipped XML. The two functions below serve this update only and are dropped after it.
-- String(Number(v)) as JS computes it, for a --version-intensity value in `sV:N`: Number()'s string grammar
-- (whitespace as String.prototype.trim sees it; 0x, 0o, 0b; Infinity; else NaN), rounding to a double, and
-- its shortest digits (PostgreSQL's float8 text with extra_float_digits > 0) laid out as Number::toString does.
CREATE FUNCTION "plum_js_number_text"(v text, ws text) RETURNS text LANGUAGE plpgsql IMMUTABLE
SET extra_float_digits = 3 AS $$
DECLARE
  f float8;
  acc numeric;
  radix int;
  m text[];
  d text;
  p numeric;
  k int;
  sign text := '';
BEGIN
  v := btrim(v, ws);
  IF v = '' THEN
    RETURN '0';
  ELSIF v ~ '^0[xX][0-9a-fA-F]+$' OR v ~ '^0[oO][0-7]+$' OR v ~ '^0[bB][01]+$' THEN
    radix := CASE lower(substr(v, 2, 1)) WHEN 'x' THEN 16 WHEN 'o' THEN 8 ELSE 2 END;
    BEGIN
      acc := 0;
      FOR i IN 3..length(v) LOOP
        acc := acc * radix + (strpos('0123456789abcdef', lower(substr(v, i, 1))) - 1);
      END LOOP;
      f := acc::float8;
    EXCEPTION WHEN numeric_value_out_of_range THEN
      f := 'Infinity';
    END;
  ELSIF v ~ '^[+-]?Infinity$' THEN
    f := v::float8;
  ELSIF v ~ '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$' THEN
    BEGIN
      f := v::float8;
    EXCEPTION WHEN numeric_value_out_of_range THEN
      -- Beyond a double: Infinity when the first significant digit stands left of the point, else 0.
      d := regexp_replace(ltrim(v, '+-'), '[eE].*$', '');
      p := coalesce(substring(v FROM '[eE]([+-]?[0-9]+)$')::numeric, 0);
      IF ltrim(split_part(d, '.', 1), '0') <> '' THEN
        p := p + length(ltrim(split_part(d, '.', 1), '0'));
      ELSE
        p := p - (length(split_part(d, '.', 2)) - length(ltrim(split_part(d, '.', 2), '0')));
      END IF;
      f := CASE WHEN p > 0 THEN 'Infinity'::float8 ELSE 0 END * CASE WHEN left(v, 1) = '-' THEN -1 ELSE 1 END;
    END;
  ELSE
    RETURN 'NaN';
  END IF;
  IF f = 0 THEN
    RETURN '0';
  ELSIF f < 0 THEN
    sign := '-';
    f := -f;
  END IF;
  IF f = 'Infinity' THEN
    RETURN sign || 'Infinity';
  END IF;
  -- The shortest digits d and the exponent p with f = 0.d * 10^p, then ECMAScript's Number::toString.
  m := regexp_match(f::text, '^([0-9]+)(?:[.]([0-9]+))?(?:e([-+][0-9]+))?$');
  d := m[1] || coalesce(m[2], '');
  p := length(m[1]) + coalesce(m[3]::int, 0) - (length(d) - length(ltrim(d, '0')));
  d := rtrim(ltrim(d, '0'), '0');
  k := length(d);
  IF k <= p AND p <= 21 THEN
    RETURN sign || d || repeat('0', (p - k)::int);
  ELSIF 0 < p AND p <= 21 THEN
    RETURN sign || left(d, p::int) || '.' || substr(d, p::int + 1);
  ELSIF -6 < p AND p <= 0 THEN
    RETURN sign || '0.' || repeat('0', (-p)::int) || d;
  END IF;
  RETURN sign || left(d, 1) || CASE WHEN k > 1 THEN '.' || substr(d, 2) ELSE '' END
    || 'e' || CASE WHEN p > 0 THEN '+' ELSE '-' END || abs(p - 1)::text;
END
$$;--> statement-breakpoint
-- viewFromArgv: the same option spellings (`--opt value`, `--opt=value`, single-dash), the same `--` stop.
CREATE FUNCTION "plum_view_of_argv"(argv text[]) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  -- What String.prototype.trim strips (the characters beyond ASCII in a UTF8 database only).
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
  IF getdatabaseencoding() = 'UTF8' THEN
    ws := ws || chr(160) || chr(5760) || (SELECT string_agg(chr(c), '') FROM generate_series(8192, 8202) AS c)
      || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288) || chr(65279);
  END IF;
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
    -- Distinct, in JS's default order: by UTF-16 code unit, compared as fixed-width hex in byte order.
    parts := array_append(parts, 'script:' || (
      SELECT string_agg(s.x, ',' ORDER BY s.k COLLATE "C")
      FROM (
        SELECT u.x, coalesce((
          SELECT string_agg(CASE WHEN ascii(c) < 65536 THEN lpad(to_hex(ascii(c)), 4, '0')
              ELSE to_hex(55296 + ((ascii(c) - 65536) >> 10)) || to_hex(56320 + ((ascii(c) - 65536) & 1023)) END, '' ORDER BY n)
          FROM generate_series(1, length(u.x)) AS n, substr(u.x, n, 1) AS c), '') AS k
        FROM (SELECT DISTINCT x FROM unnest(scripts) AS x) u
      ) s));
  END IF;
  IF version_scan THEN
    intensity := "plum_js_number_text"(intensity, ws);
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
DROP FUNCTION "plum_js_number_text"(text, text);--> statement-breakpoint
-- Each view's head is its current row, else its most recently seen one. No event is rewritten.
UPDATE "port_observations" SET "view_head" = true WHERE id IN (
  SELECT DISTINCT ON (o.ip, o.protocol, o.port, o.view) o.id
  FROM "port_observations" o LEFT JOIN "observation_sightings" s ON s.id = o.id
  ORDER BY o.ip, o.protocol, o.port, o.view, o.current DESC, s.last_seen DESC NULLS LAST, o.id
);--> statement-breakpoint
CREATE UNIQUE INDEX "port_observations_view_head_key" ON "port_observations" USING btree ("ip","protocol","port","view") WHERE "port_observations"."view_head";--> statement-breakpoint
CREATE UNIQUE INDEX "port_observations_fp_key" ON "port_observations" USING btree ("ip","protocol","port","view","hsh256");