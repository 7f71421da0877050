-- Stele on PostgreSQL: the same tables as the SQLite store, column for column (text
-- ids, times as milliseconds since the epoch, flags as integers), so both stores
-- share one set of queries; what differs is locking (a row lock on the tenant),
-- partitioning, search, and the purge. Ids compare bytewise (COLLATE "C") whatever
-- the database's collation, so UUIDv7 text keeps its time order.

CREATE TABLE tenants (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    slug                TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    sensitive_fields    TEXT NOT NULL DEFAULT '[]',
    verification_token  TEXT UNIQUE,
    retention_days      BIGINT DEFAULT 365
        CHECK (retention_days IS NULL OR retention_days IN (30, 90, 365))
);

-- Entries: one partition per tenant (LIST), each split by month of recorded_at
-- (RANGE), so retention drops whole expired months of a tenant. Partitions are
-- created by the store as tenants and months appear. Uniqueness of (tenant, seq)
-- is the chain links' primary key.
CREATE TABLE entries (
    id               TEXT COLLATE "C" NOT NULL,
    tenant_id        TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    seq              BIGINT NOT NULL CHECK (seq >= 1),
    recorded_at      BIGINT NOT NULL,
    occurred_at      BIGINT NOT NULL,
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
    canonical_version BIGINT NOT NULL DEFAULT 1,
    source_kind      TEXT,
    source_id        TEXT,
    source_name      TEXT,
    -- Free-text search over the same fields as SQLite's FTS index; punctuation
    -- separates words (an event type's dots, an address's @).
    search tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, regexp_replace(
        description || ' ' || event_type || ' ' || coalesce(instance_name, '') || ' ' || actor_label,
        '[^[:alnum:]]+', ' ', 'g'))) STORED
) PARTITION BY LIST (tenant_id);

-- Inside a tenant's partition the tenant is fixed, so indexes lead with what the
-- feed filters on.
CREATE INDEX entries_seq ON entries (tenant_id, seq);
CREATE INDEX entries_id ON entries (id);
CREATE INDEX entries_category ON entries (category, seq);
CREATE INDEX entries_event_type ON entries (event_type, seq);
CREATE INDEX entries_action ON entries (action, seq);
CREATE INDEX entries_instance ON entries (instance_id, seq);
CREATE INDEX entries_target ON entries (target_kind, target_id, seq);
CREATE INDEX entries_actor ON entries (actor_id, seq);
CREATE INDEX entries_actor_kind ON entries (actor_kind, seq);
CREATE INDEX entries_instance_name ON entries (lower(instance_name), seq);
CREATE INDEX entries_target_name ON entries (lower(target_name), seq);
CREATE INDEX entries_occurred ON entries (occurred_at);
CREATE INDEX entries_source ON entries (source_id, seq);
CREATE INDEX entries_search ON entries USING gin (search);

CREATE TABLE chain_links (
    tenant_id     TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    seq           BIGINT NOT NULL CHECK (seq >= 1),
    entry_digest  TEXT NOT NULL,
    hash          TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE merkle_nodes (
    tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    level      BIGINT NOT NULL,
    idx        BIGINT NOT NULL,
    hash       BYTEA NOT NULL,
    PRIMARY KEY (tenant_id, level, idx)
);

CREATE TABLE checkpoints (
    tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    tree_size  BIGINT NOT NULL,
    root_hash  TEXT NOT NULL,
    signed_at  BIGINT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL,
    note       TEXT,
    PRIMARY KEY (tenant_id, signed_at, tree_size)
);

CREATE TABLE purged_ranges (
    tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    from_seq   BIGINT NOT NULL,
    to_seq     BIGINT NOT NULL,
    purged_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, from_seq)
);

CREATE TABLE purge_audits (
    tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    from_seq   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, from_seq)
);

CREATE TABLE idempotency_keys (
    tenant_id     TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    scope         TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT,
    entry_id      TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    hash          TEXT NOT NULL,
    PRIMARY KEY (tenant_id, scope, idem_key)
);

CREATE TABLE users (
    id              TEXT COLLATE "C" PRIMARY KEY,
    tenant_id       TEXT REFERENCES tenants (id),
    email           TEXT NOT NULL,
    name            TEXT,
    role            TEXT CHECK (role IN ('member', 'admin', 'owner')),
    is_super_admin  BIGINT NOT NULL DEFAULT 0,
    password_hash   TEXT,
    created_at      BIGINT NOT NULL,
    removed_at      BIGINT,
    removed_email   TEXT,
    CHECK ((tenant_id IS NULL) = (role IS NULL))
);
CREATE UNIQUE INDEX users_email ON users (lower(email));
CREATE INDEX users_tenant ON users (tenant_id);

CREATE TABLE instances (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    deleted     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE instance_grants (
    user_id      TEXT NOT NULL REFERENCES users (id),
    tenant_id    TEXT NOT NULL,
    instance_id  TEXT NOT NULL,
    PRIMARY KEY (user_id, instance_id),
    FOREIGN KEY (tenant_id, instance_id) REFERENCES instances (tenant_id, id)
);

CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE password_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

CREATE TABLE api_keys (
    id          TEXT COLLATE "C" PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    created_by  TEXT,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- Shared state of several servers: login attempts (throttling) and which node ran
-- a background round.
CREATE TABLE login_attempts (
    key         TEXT NOT NULL,
    at          BIGINT NOT NULL,
    attempt_id  TEXT NOT NULL
);
CREATE INDEX login_attempts_key ON login_attempts (key, at);
CREATE INDEX login_attempts_at ON login_attempts (at);

CREATE TABLE job_rounds (
    job        TEXT NOT NULL,
    round      BIGINT NOT NULL,
    claimed_at BIGINT NOT NULL,
    PRIMARY KEY (job, round)
);

-- Append-only, in the database as in the code. The one DELETE let through is of
-- entries inside a recorded purge range; TRUNCATE (which skips row triggers) is
-- refused outright.
CREATE FUNCTION stele_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are append-only: % is refused', TG_ARGV[0], TG_OP;
END $$;

CREATE FUNCTION stele_entries_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM purged_ranges p WHERE p.tenant_id = OLD.tenant_id
                   AND OLD.seq BETWEEN p.from_seq AND p.to_seq) THEN
        RAISE EXCEPTION 'audit entries are append-only: DELETE is refused outside a recorded retention purge';
    END IF;
    RETURN OLD;
END $$;

CREATE TRIGGER entries_refuse_update BEFORE UPDATE ON entries
    FOR EACH ROW EXECUTE FUNCTION stele_refuse('audit entries');
CREATE TRIGGER entries_refuse_delete BEFORE DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION stele_entries_refuse_delete();
CREATE TRIGGER entries_refuse_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION stele_refuse('audit entries');

CREATE TRIGGER chain_links_refuse BEFORE UPDATE OR DELETE ON chain_links
    FOR EACH ROW EXECUTE FUNCTION stele_refuse('chain links');
CREATE TRIGGER chain_links_refuse_truncate BEFORE TRUNCATE ON chain_links
    FOR EACH STATEMENT EXECUTE FUNCTION stele_refuse('chain links');
CREATE TRIGGER merkle_nodes_refuse BEFORE UPDATE OR DELETE ON merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION stele_refuse('merkle nodes');
CREATE TRIGGER merkle_nodes_refuse_truncate BEFORE TRUNCATE ON merkle_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION stele_refuse('merkle nodes');
CREATE TRIGGER checkpoints_refuse BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION stele_refuse('checkpoints');
CREATE TRIGGER checkpoints_refuse_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION stele_refuse('checkpoints');
CREATE TRIGGER purged_ranges_refuse BEFORE UPDATE OR DELETE ON purged_ranges
    FOR EACH ROW EXECUTE FUNCTION stele_refuse('purged ranges');
CREATE TRIGGER purge_audits_refuse BEFORE UPDATE OR DELETE ON purge_audits
    FOR EACH ROW EXECUTE FUNCTION stele_refuse('purge audits');
