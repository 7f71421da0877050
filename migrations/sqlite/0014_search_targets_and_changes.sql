-- The viewer (issue 15): free-text search also finds an entry by its targets
-- (kinds, ids, names, the first one and the others) and by what it changed (paths
-- and values). Masked values are stored as *** and so never reach the index. The
-- changes' text is indexed up to its first 20,000 characters.

DROP TRIGGER entries_fts_index;
DROP TRIGGER entries_fts_purge;
DROP TABLE entries_fts;

CREATE VIRTUAL TABLE entries_fts USING fts5(
    scope,
    description,
    event_type,
    instance_name,
    actor_label,
    targets,
    changes,
    content = '',
    contentless_delete = 1,
    prefix = '2 3',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO entries_fts (entries_fts, rank) VALUES ('secure-delete', 1);

INSERT INTO entries_fts (rowid, scope, description, event_type, instance_name, actor_label, targets, changes)
SELECT rowid, 't' || replace(tenant_id, '-', ''), description, event_type,
       coalesce(instance_name, ''), actor_label,
       coalesce(target_kind, '') || ' ' || coalesce(target_id, '') || ' ' || coalesce(target_name, '') || ' ' || coalesce(
           (SELECT group_concat(coalesce(json_extract(t.value, '$.kind'), '') || ' ' || coalesce(json_extract(t.value, '$.id'), '') || ' ' || coalesce(json_extract(t.value, '$.name'), ''), ' ')
            FROM json_each(CASE WHEN json_type(other_targets) = 'array' THEN other_targets ELSE '[]' END) t), ''),
       substr((SELECT group_concat(coalesce(json_extract(c.value, '$.path'), '') || ' ' || coalesce(json_extract(c.value, '$.old'), '') || ' ' || coalesce(json_extract(c.value, '$.new'), ''), ' ')
               FROM json_each(CASE WHEN json_type(changes) = 'array' THEN changes ELSE '[]' END) c), 1, 20000)
FROM entries;

CREATE TRIGGER entries_fts_index AFTER INSERT ON entries
BEGIN
    INSERT INTO entries_fts (rowid, scope, description, event_type, instance_name, actor_label, targets, changes)
    VALUES (new.rowid, 't' || replace(new.tenant_id, '-', ''), new.description, new.event_type,
            coalesce(new.instance_name, ''), new.actor_label,
            coalesce(new.target_kind, '') || ' ' || coalesce(new.target_id, '') || ' ' || coalesce(new.target_name, '') || ' ' || coalesce(
                (SELECT group_concat(coalesce(json_extract(t.value, '$.kind'), '') || ' ' || coalesce(json_extract(t.value, '$.id'), '') || ' ' || coalesce(json_extract(t.value, '$.name'), ''), ' ')
                 FROM json_each(CASE WHEN json_type(new.other_targets) = 'array' THEN new.other_targets ELSE '[]' END) t), ''),
            substr((SELECT group_concat(coalesce(json_extract(c.value, '$.path'), '') || ' ' || coalesce(json_extract(c.value, '$.old'), '') || ' ' || coalesce(json_extract(c.value, '$.new'), ''), ' ')
                    FROM json_each(CASE WHEN json_type(new.changes) = 'array' THEN new.changes ELSE '[]' END) c), 1, 20000));
END;

-- Purged content leaves the search index too.
CREATE TRIGGER entries_fts_purge AFTER DELETE ON entries
BEGIN
    DELETE FROM entries_fts WHERE rowid = OLD.rowid;
END;
