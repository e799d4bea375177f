-- Search helpers (issue 6). plum_tags_text(tags) is the tags of a port as one
-- text, each tag between U+0001 separators, so that a trigram index serves
-- tag.bg:/tag.lk: terms. array_to_string is only STABLE in general (element
-- output functions may read settings), but for text[] it depends on nothing else:
-- declaring this wrapper IMMUTABLE is what lets it back an index.
CREATE OR REPLACE FUNCTION plum_tags_text(tags text[]) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT chr(1) || array_to_string(tags, chr(1)) || chr(1) $$;
