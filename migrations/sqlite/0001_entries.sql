-- Stele's SQLite schema, first version: tenants and the append-only entries table.
-- Times are integer milliseconds since the Unix epoch (UTC); JSON columns are TEXT.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY NOT NULL,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE entries (
    id               TEXT PRIMARY KEY NOT NULL,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    seq              INTEGER NOT NULL CHECK (seq >= 1),
    recorded_at      INTEGER NOT NULL,
    occurred_at      INTEGER NOT NULL,
    event_type       TEXT NOT NULL,
    category         TEXT NOT NULL,
    action           TEXT NOT NULL,
    description      TEXT NOT NULL,
    actor_kind       TEXT NOT NULL CHECK (actor_kind IN ('user', 'system', 'api_key')),
    actor_id         TEXT,
    actor_label      TEXT NOT NULL,
    instance_id      TEXT,
    instance_name    TEXT,
    target_kind      TEXT,
    target_id        TEXT,
    target_name      TEXT,
    changes          TEXT NOT NULL,
    metadata         TEXT NOT NULL,
    ctx_ip           TEXT,
    ctx_user_agent   TEXT,
    ctx_session_id   TEXT,
    ctx_request_id   TEXT,
    idempotency_key  TEXT,
    entry_digest     TEXT NOT NULL,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL,
    UNIQUE (tenant_id, seq)
);

CREATE UNIQUE INDEX entries_idempotency ON entries (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX entries_category ON entries (tenant_id, category, seq);
CREATE INDEX entries_event_type ON entries (tenant_id, event_type, seq);
CREATE INDEX entries_instance ON entries (tenant_id, instance_id, seq);

-- The log is append-only: the database itself refuses to change or remove an entry.
CREATE TRIGGER entries_refuse_update BEFORE UPDATE ON entries
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only: UPDATE is refused');
END;

CREATE TRIGGER entries_refuse_delete BEFORE DELETE ON entries
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only: DELETE is refused');
END;
