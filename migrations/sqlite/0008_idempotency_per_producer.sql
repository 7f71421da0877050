-- Idempotency keys belong to the producer (API key) that sent them, and remember the
-- request they answered: a retry of the same request replays the original entry, the
-- same key with another request is a conflict. Keys from before this table are kept
-- with the empty scope and no request hash (they still replay, for any producer).
CREATE TABLE idempotency_keys (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    scope         TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT,
    entry_id      TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    hash          TEXT NOT NULL,
    PRIMARY KEY (tenant_id, scope, idem_key)
) WITHOUT ROWID;

INSERT INTO idempotency_keys (tenant_id, scope, idem_key, request_hash, entry_id, seq, hash)
SELECT tenant_id, '', idempotency_key, NULL, id, seq, hash FROM entries
WHERE idempotency_key IS NOT NULL;

-- Two producers may now use the same key.
DROP INDEX entries_idempotency;
