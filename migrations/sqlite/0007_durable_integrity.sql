-- Integrity that survives time.
--
-- A purge is audited when it has finished: `purge_audits` (insert-only) holds one row
-- per recorded range whose `audit.purged` entry has been written, in the same
-- transaction as that entry. Ranges recorded before this table existed were audited
-- by the code of their time.
CREATE TABLE purge_audits (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    from_seq   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, from_seq)
);
INSERT INTO purge_audits (tenant_id, from_seq) SELECT tenant_id, from_seq FROM purged_ranges;

CREATE TRIGGER purge_audits_refuse_update BEFORE UPDATE ON purge_audits
BEGIN SELECT RAISE(ABORT, 'purge audits are append-only: UPDATE is refused'); END;
CREATE TRIGGER purge_audits_refuse_delete BEFORE DELETE ON purge_audits
BEGIN SELECT RAISE(ABORT, 'purge audits are append-only: DELETE is refused'); END;

-- Every checkpoint is also published as a C2SP tlog-checkpoint inside a C2SP
-- signed-note (docs/INTEGRITY.md). Older checkpoints have none.
ALTER TABLE checkpoints ADD COLUMN note TEXT;

-- Purged means gone: deleting a row from the search index removes its terms at once
-- instead of leaving them in the index until the next merge.
INSERT INTO entries_fts (entries_fts, rank) VALUES ('secure-delete', 1);
