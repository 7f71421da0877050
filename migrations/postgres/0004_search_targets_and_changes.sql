-- The viewer (issue 15); the same as SQLite's 0014: free-text search also covers
-- targets (kinds, ids, names) and what changed (paths and values, up to the first
-- 20,000 characters; masked values are stored as *** and never indexed).

CREATE FUNCTION stele_search_text(
    description text, event_type text, instance_name text, actor_label text,
    target_kind text, target_id text, target_name text, other_targets text, changes text
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT concat_ws(' ', description, event_type, instance_name, actor_label,
        target_kind, target_id, target_name,
        (SELECT string_agg(concat_ws(' ', t ->> 'kind', t ->> 'id', t ->> 'name'), ' ')
         FROM jsonb_array_elements(CASE WHEN jsonb_typeof(other_targets::jsonb) = 'array'
                                        THEN other_targets::jsonb ELSE '[]'::jsonb END) t),
        left((SELECT string_agg(concat_ws(' ', c ->> 'path', c ->> 'old', c ->> 'new'), ' ')
              FROM jsonb_array_elements(CASE WHEN jsonb_typeof(changes::jsonb) = 'array'
                                             THEN changes::jsonb ELSE '[]'::jsonb END) c), 20000))
$$;

ALTER TABLE entries DROP COLUMN search;
ALTER TABLE entries ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, regexp_replace(
    stele_search_text(description, event_type, instance_name, actor_label, target_kind, target_id,
                      target_name, other_targets, changes),
    '[^[:alnum:]]+', ' ', 'g'))) STORED;
CREATE INDEX entries_search ON entries USING gin (search);
