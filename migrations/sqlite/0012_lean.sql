-- A schema that earns every index (issue 13).
--
-- 1. Filters on a column with a handful of common values (action, actor kind) walk
--    the tenant's seq index newest first and stop after a page; they no longer keep
--    an index each. Category keeps its own: some categories are rare (security), and
--    walking for them would read the whole tenant. (tenant_id, id) duplicated the
--    primary key on id.
DROP INDEX entries_action;
DROP INDEX entries_actor_kind;
DROP INDEX entries_tenant_id;

-- 2. Hashes as bytes: chain links hold the 32-byte digest and chain hash as BLOBs
--    (they were 64-character hex text).
DROP TRIGGER chain_links_refuse_update;
DROP TRIGGER chain_links_refuse_delete;
CREATE TABLE chain_links_lean (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    entry_digest  BLOB NOT NULL,
    hash          BLOB NOT NULL,
    PRIMARY KEY (tenant_id, seq)
) WITHOUT ROWID;
INSERT INTO chain_links_lean (tenant_id, seq, entry_digest, hash)
SELECT tenant_id, seq, unhex(entry_digest), unhex(hash) FROM chain_links ORDER BY tenant_id, seq;
DROP TABLE chain_links;
ALTER TABLE chain_links_lean RENAME TO chain_links;
CREATE TRIGGER chain_links_refuse_update BEFORE UPDATE ON chain_links
BEGIN SELECT RAISE(ABORT, 'chain links are append-only: UPDATE is refused'); END;
CREATE TRIGGER chain_links_refuse_delete BEFORE DELETE ON chain_links
BEGIN SELECT RAISE(ABORT, 'chain links are append-only: DELETE is refused'); END;

-- 3. An entry's digest, chain hash and previous hash are its chain link's (and the
--    previous link's): entries no longer carry a second copy of them.
DROP TRIGGER entries_refuse_update;
ALTER TABLE entries DROP COLUMN entry_digest;
ALTER TABLE entries DROP COLUMN prev_hash;
ALTER TABLE entries DROP COLUMN hash;
CREATE TRIGGER entries_refuse_update BEFORE UPDATE ON entries
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only: UPDATE is refused');
END;

-- 4. Merkle subtrees of fewer than 16 leaves are recomputed from the chain links'
--    digests when a proof needs one (app::merkle::STORED_FROM_LEVEL); only levels 4
--    and up are kept. They are derived data: removing the lower ones loses nothing.
DROP TRIGGER merkle_nodes_refuse_delete;
DELETE FROM merkle_nodes WHERE level < 4;
CREATE TRIGGER merkle_nodes_refuse_delete BEFORE DELETE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'merkle nodes are append-only: DELETE is refused'); END;
