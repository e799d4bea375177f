-- Per-field search text (issue 6): the case-folded values of one SearchFields
-- list, each between U+0001 separators. A LIKE pattern without U+0001 inside
-- (%v% substring, %␁v% prefix, %␁v␁% exact) can only match within one value, so
-- the hot fields are served by plain LIKE on short columns with trigram indexes
-- (much cheaper to recheck than a regular expression over the whole document).
CREATE OR REPLACE FUNCTION plum_field_text(f jsonb, k text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $f$
    SELECT chr(1) || coalesce(string_agg(plum_fold(replace(a.v, chr(1), ' ')), chr(1)), '') || chr(1)
    FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(f -> k) = 'array' THEN f -> k ELSE '[]'::jsonb END) AS a(v)
  $f$;
