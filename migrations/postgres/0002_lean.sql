-- A schema that earns every index (issue 13); the same steps as SQLite's 0012_lean.
--
-- 1. Filters on a column with a handful of common values (action, actor kind) walk
--    the partition's seq index; category keeps its index (some categories are rare).
DROP INDEX entries_action;
DROP INDEX entries_actor_kind;

-- 2. Chain links hold the digest and chain hash as 32 bytes, not hex text.
ALTER TABLE chain_links DISABLE TRIGGER chain_links_refuse;
ALTER TABLE chain_links
    ALTER COLUMN entry_digest TYPE BYTEA USING decode(entry_digest, 'hex'),
    ALTER COLUMN hash TYPE BYTEA USING decode(hash, 'hex');
ALTER TABLE chain_links ENABLE TRIGGER chain_links_refuse;

-- 3. An entry's digest and hashes are its chain link's: no second copy.
ALTER TABLE entries DROP COLUMN entry_digest, DROP COLUMN prev_hash, DROP COLUMN hash;

-- 4. Merkle subtrees below level 4 are recomputed from the chain links' digests.
ALTER TABLE merkle_nodes DISABLE TRIGGER merkle_nodes_refuse;
DELETE FROM merkle_nodes WHERE level < 4;
ALTER TABLE merkle_nodes ENABLE TRIGGER merkle_nodes_refuse;
