-- Accounts: users, roles, instance grants, sessions, set-password links, API keys.
-- Secrets are stored only as hashes: argon2id for passwords, SHA-256 for random
-- 256-bit session ids, set-password tokens and API keys.

CREATE TABLE users (
    id              TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT REFERENCES tenants (id),
    email           TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name            TEXT,
    role            TEXT CHECK (role IN ('member', 'admin', 'owner')),
    is_super_admin  INTEGER NOT NULL DEFAULT 0,
    password_hash   TEXT,
    created_at      INTEGER NOT NULL,
    removed_at      INTEGER,
    CHECK ((tenant_id IS NULL) = (role IS NULL))
);
CREATE INDEX users_tenant ON users (tenant_id);

CREATE TABLE instances (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0,
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
    id_hash     TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE password_tokens (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id),
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    created_by  TEXT,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
