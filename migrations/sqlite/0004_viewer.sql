-- The viewer: an index for each feed filter, and full-text search (FTS5) over the
-- description, event type, instance name and actor label. The `scope` column holds
-- one token per entry, `t` + the tenant id without dashes, so a tenant's search never
-- reads another tenant's matches. The FTS rowid is the entry's rowid, which grows
-- with seq inside a tenant, so a search pages newest first without sorting.

CREATE INDEX entries_action ON entries (tenant_id, action, seq);
CREATE INDEX entries_target ON entries (tenant_id, target_kind, target_id, seq);
CREATE INDEX entries_actor ON entries (tenant_id, actor_id, seq);
CREATE INDEX entries_actor_kind ON entries (tenant_id, actor_kind, seq);
CREATE INDEX entries_instance_name ON entries (tenant_id, instance_name COLLATE NOCASE, seq);
CREATE INDEX entries_target_name ON entries (tenant_id, target_name COLLATE NOCASE, seq);
CREATE INDEX entries_occurred ON entries (tenant_id, occurred_at);
CREATE INDEX entries_tenant_id ON entries (tenant_id, id);

CREATE VIRTUAL TABLE entries_fts USING fts5(
    scope,
    description,
    event_type,
    instance_name,
    actor_label,
    content = '',
    contentless_delete = 1,
    prefix = '2 3',
    tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO entries_fts (rowid, scope, description, event_type, instance_name, actor_label)
SELECT rowid, 't' || replace(tenant_id, '-', ''), description, event_type,
       coalesce(instance_name, ''), actor_label
FROM entries;

CREATE TRIGGER entries_fts_index AFTER INSERT ON entries
BEGIN
    INSERT INTO entries_fts (rowid, scope, description, event_type, instance_name, actor_label)
    VALUES (new.rowid, 't' || replace(new.tenant_id, '-', ''), new.description, new.event_type,
            coalesce(new.instance_name, ''), new.actor_label);
END;
