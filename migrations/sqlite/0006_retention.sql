-- Retention: each tenant keeps content for 30, 90 or 365 days (default) or forever
-- (NULL). The one narrow deletion path: a purge first records the range it removes
-- in `purged_ranges` (insert-only), and the entries' DELETE trigger lets through only
-- rows inside a recorded range. Chain links and Merkle subtrees are never removed.

ALTER TABLE tenants ADD COLUMN retention_days INTEGER DEFAULT 365
    CHECK (retention_days IS NULL OR retention_days IN (30, 90, 365));

CREATE TABLE purged_ranges (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    from_seq   INTEGER NOT NULL,
    to_seq     INTEGER NOT NULL,
    purged_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, from_seq)
);

CREATE TRIGGER purged_ranges_refuse_update BEFORE UPDATE ON purged_ranges
BEGIN SELECT RAISE(ABORT, 'purged ranges are append-only: UPDATE is refused'); END;
CREATE TRIGGER purged_ranges_refuse_delete BEFORE DELETE ON purged_ranges
BEGIN SELECT RAISE(ABORT, 'purged ranges are append-only: DELETE is refused'); END;

DROP TRIGGER entries_refuse_delete;
CREATE TRIGGER entries_refuse_delete BEFORE DELETE ON entries
WHEN NOT EXISTS (
    SELECT 1 FROM purged_ranges p
    WHERE p.tenant_id = OLD.tenant_id AND OLD.seq BETWEEN p.from_seq AND p.to_seq
)
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only: DELETE is refused outside a recorded retention purge');
END;

-- Purged content leaves the search index too.
CREATE TRIGGER entries_fts_purge AFTER DELETE ON entries
BEGIN
    DELETE FROM entries_fts WHERE rowid = OLD.rowid;
END;
