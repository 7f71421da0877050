-- The open catalog (issue 14); the same steps as SQLite's 0013_open_catalog.
ALTER TABLE tenants ADD COLUMN catalog TEXT NOT NULL DEFAULT '{}';

ALTER TABLE entries ADD COLUMN other_targets TEXT;

CREATE TABLE entry_targets (
    tenant_id  TEXT COLLATE "C" NOT NULL,
    kind       TEXT COLLATE "C" NOT NULL,
    target_id  TEXT COLLATE "C" NOT NULL,
    seq        BIGINT NOT NULL,
    name       TEXT,
    PRIMARY KEY (tenant_id, kind, target_id, seq)
);

CREATE FUNCTION stele_entry_targets_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM entries e WHERE e.tenant_id = OLD.tenant_id AND e.seq = OLD.seq) THEN
        RAISE EXCEPTION 'entry targets are append-only: DELETE is refused while their entry exists';
    END IF;
    RETURN OLD;
END $$;

CREATE TRIGGER entry_targets_refuse_update BEFORE UPDATE ON entry_targets
    FOR EACH ROW EXECUTE FUNCTION stele_refuse('entry targets');
CREATE TRIGGER entry_targets_refuse_delete BEFORE DELETE ON entry_targets
    FOR EACH ROW EXECUTE FUNCTION stele_entry_targets_refuse_delete();
CREATE TRIGGER entry_targets_refuse_truncate BEFORE TRUNCATE ON entry_targets
    FOR EACH STATEMENT EXECUTE FUNCTION stele_refuse('entry targets');
