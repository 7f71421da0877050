-- Every entry says who wrote it: Stele itself, or an API key (its id and a snapshot
-- of its name). Hashed from canonical version 2 on; older entries keep version 1.
ALTER TABLE entries ADD COLUMN canonical_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE entries ADD COLUMN source_kind TEXT;
ALTER TABLE entries ADD COLUMN source_id TEXT;
ALTER TABLE entries ADD COLUMN source_name TEXT;
CREATE INDEX entries_source ON entries (tenant_id, source_id, seq);
