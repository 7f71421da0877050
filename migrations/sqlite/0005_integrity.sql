-- Integrity that outlives content: the chain links (kept when retention purges an
-- entry's content), the perfect subtrees of each tenant's Merkle tree (for proofs in
-- O(log n)), and the signed checkpoints. All three are insert-only.

CREATE TABLE chain_links (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    entry_digest  TEXT NOT NULL,
    hash          TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
) WITHOUT ROWID;

CREATE TABLE merkle_nodes (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    level      INTEGER NOT NULL,
    idx        INTEGER NOT NULL,
    hash       BLOB NOT NULL,
    PRIMARY KEY (tenant_id, level, idx)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    tree_size  INTEGER NOT NULL,
    root_hash  TEXT NOT NULL,
    signed_at  INTEGER NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, signed_at, tree_size)
);

-- The unguessable link under which a tenant's checkpoints are published.
ALTER TABLE tenants ADD COLUMN verification_token TEXT;

INSERT INTO chain_links (tenant_id, seq, entry_digest, hash)
SELECT tenant_id, seq, entry_digest, hash FROM entries;

CREATE TRIGGER chain_links_refuse_update BEFORE UPDATE ON chain_links
BEGIN SELECT RAISE(ABORT, 'chain links are append-only: UPDATE is refused'); END;
CREATE TRIGGER chain_links_refuse_delete BEFORE DELETE ON chain_links
BEGIN SELECT RAISE(ABORT, 'chain links are append-only: DELETE is refused'); END;
CREATE TRIGGER merkle_nodes_refuse_update BEFORE UPDATE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'merkle nodes are append-only: UPDATE is refused'); END;
CREATE TRIGGER merkle_nodes_refuse_delete BEFORE DELETE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'merkle nodes are append-only: DELETE is refused'); END;
CREATE TRIGGER checkpoints_refuse_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only: UPDATE is refused'); END;
CREATE TRIGGER checkpoints_refuse_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only: DELETE is refused'); END;
