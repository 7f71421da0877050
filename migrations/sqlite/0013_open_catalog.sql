-- The open catalog (issue 14): a tenant's packs and own event types, and entries
-- that name several resources.

-- The tenant's catalog: `{"packs": [...], "types": [...]}` (app::catalog::TenantCatalog).
ALTER TABLE tenants ADD COLUMN catalog TEXT NOT NULL DEFAULT '{}';

-- The resources an entry names beside `target_*`, as JSON (null: none).
ALTER TABLE entries ADD COLUMN other_targets TEXT;

-- The same resources, one row each, so the target filters match any of them.
CREATE TABLE entry_targets (
    tenant_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    target_id  TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    name       TEXT,
    PRIMARY KEY (tenant_id, kind, target_id, seq)
) WITHOUT ROWID;

-- Insert-only like the entries: a row goes only once its entry was purged.
CREATE TRIGGER entry_targets_refuse_update BEFORE UPDATE ON entry_targets
BEGIN SELECT RAISE(ABORT, 'entry targets are append-only: UPDATE is refused'); END;
CREATE TRIGGER entry_targets_refuse_delete BEFORE DELETE ON entry_targets
    WHEN EXISTS (SELECT 1 FROM entries e WHERE e.tenant_id = old.tenant_id AND e.seq = old.seq)
BEGIN SELECT RAISE(ABORT, 'entry targets are append-only: DELETE is refused while their entry exists'); END;
