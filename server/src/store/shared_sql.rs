// The queries both SQL stores share, included (`include!`) by `sqlite.rs` and
// `postgres.rs` after each defines `type Db` (and `EMAIL_IS`, `TxHooks`). The two
// schemas match column for column (text ids, times in milliseconds, integer flags)
// and every statement here is written in the SQL both understand, with `$n`
// placeholders, so what is shared is compiled once per driver with concrete types.
// What differs (locking, partitions, search, the purge's deletion) stays in each
// store's own file.

type Conn = <Db as sqlx::Database>::Connection;
type DbPool = sqlx::Pool<Db>;
type DbRow = <Db as sqlx::Database>::Row;

const ENTRY_COLUMNS: &str = "id, tenant_id, seq, recorded_at, occurred_at, event_type, \
    category, action, other_targets, description, actor_kind, actor_id, actor_label, instance_id, instance_name, target_kind, \
    target_id, target_name, changes, metadata, ctx_ip, ctx_user_agent, ctx_session_id, \
    ctx_request_id, idempotency_key, canonical_version, source_kind, source_id, source_name";

/// An entry's digest and chain hash are its chain link's, its previous hash the
/// previous link's: read through these joins on the entries table aliased `e`.
const LINK_JOINS: &str = " LEFT JOIN chain_links c ON c.tenant_id = e.tenant_id AND c.seq = e.seq \
     LEFT JOIN chain_links p ON p.tenant_id = e.tenant_id AND p.seq = e.seq - 1";

/// Whether a reader's `FROM` joins the chain links: a listing reads its entries'
/// hashes from them; counts, histograms and samples do not (and must not pay for it:
/// the planners keep such a `LEFT JOIN`).
#[derive(Clone, Copy)]
enum Joins {
    Links,
    None,
}

/// The chain columns [`LINK_JOINS`] adds to a listing.
const LINK_COLUMNS: &str =
    "c.entry_digest AS link_digest, c.hash AS link_hash, p.hash AS prev_link_hash";

const USER_COLUMNS: &str = "id, tenant_id, coalesce(removed_email, email) AS email, name, role, \
     is_super_admin, password_hash, removed_at";

const API_KEY_COLUMNS: &str =
    "id, tenant_id, name, prefix, scopes, created_at, revoked_at, created_by";

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("stored row has an unreadable {what}").into())
}

fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Invalid(format!("stored time {ms} is out of range")))
}

fn parse_uuid(s: &str, what: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|_| corrupt(what))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(internal)
}

fn to_hash(bytes: &[u8]) -> Result<app::merkle::Hash, StoreError> {
    bytes.try_into().map_err(|_| corrupt("merkle node"))
}

/// A hex hash as the bytes the chain link columns hold.
fn hex_bytes(hex_text: &str, what: &str) -> Result<Vec<u8>, StoreError> {
    hex::decode(hex_text)
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| StoreError::Internal(format!("an unreadable {what}").into()))
}

fn db_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| corrupt(what))
}

fn db_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(internal)
}

fn tenant_from_row(r: &DbRow) -> Result<Tenant, StoreError> {
    let id: String = r.try_get("id").map_err(internal)?;
    Ok(Tenant {
        id: parse_uuid(&id, "tenant id")?,
        slug: r.try_get("slug").map_err(internal)?,
        name: r.try_get("name").map_err(internal)?,
    })
}

fn entry_from_row(row: &DbRow) -> Result<Entry, StoreError> {
    let get_str = |col: &str| -> Result<String, StoreError> { row.try_get(col).map_err(internal) };
    let get_opt =
        |col: &str| -> Result<Option<String>, StoreError> { row.try_get(col).map_err(internal) };
    let uuid = |col: &str| -> Result<Uuid, StoreError> { parse_uuid(&get_str(col)?, col) };
    let get_bytes =
        |col: &str| -> Result<Option<Vec<u8>>, StoreError> { row.try_get(col).map_err(internal) };
    let seq: i64 = row.try_get("seq").map_err(internal)?;
    let event_type = TypeName::parse(&get_str("event_type")?).map_err(|_| corrupt("event_type"))?;
    let category = CategoryName::parse(&get_str("category")?).ok_or_else(|| corrupt("category"))?;
    let action = Action::from_str(&get_str("action")?).map_err(|_| corrupt("action"))?;
    let other_targets: Vec<Target> = match get_opt("other_targets")? {
        Some(text) => serde_json::from_str(&text).map_err(|_| corrupt("other_targets"))?,
        None => Vec::new(),
    };
    let actor_kind = ActorKind::parse(&get_str("actor_kind")?).ok_or_else(|| corrupt("actor"))?;
    let instance = match (get_opt("instance_id")?, get_opt("instance_name")?) {
        (Some(id), Some(name)) => Some(InstanceRef { id, name }),
        _ => None,
    };
    let target = match (get_opt("target_kind")?, get_opt("target_id")?) {
        (Some(kind), Some(id)) => Some(Target {
            kind,
            id,
            name: get_opt("target_name")?,
        }),
        _ => None,
    };
    let changes: Vec<Change> =
        serde_json::from_str(&get_str("changes")?).map_err(|_| corrupt("changes"))?;
    let metadata = serde_json::from_str(&get_str("metadata")?).map_err(|_| corrupt("metadata"))?;
    Ok(Entry {
        id: uuid("id")?,
        tenant_id: uuid("tenant_id")?,
        seq,
        recorded_at: from_millis(row.try_get("recorded_at").map_err(internal)?)?,
        occurred_at: from_millis(row.try_get("occurred_at").map_err(internal)?)?,
        event_type,
        category,
        action,
        other_targets,
        description: get_str("description")?,
        actor: Actor {
            kind: actor_kind,
            id: get_opt("actor_id")?,
            label: get_str("actor_label")?,
        },
        instance,
        target,
        changes,
        metadata,
        context: Context {
            ip: get_opt("ctx_ip")?,
            user_agent: get_opt("ctx_user_agent")?,
            session_id: get_opt("ctx_session_id")?,
            request_id: get_opt("ctx_request_id")?,
        },
        v: db_u64(
            row.try_get("canonical_version").map_err(internal)?,
            "canonical version",
        )?,
        source: match get_opt("source_kind")? {
            None => None,
            Some(kind) => Some(Source {
                kind: SourceKind::parse(&kind).ok_or_else(|| corrupt("source"))?,
                id: get_opt("source_id")?,
                name: get_opt("source_name")?.unwrap_or_default(),
            }),
        },
        idempotency_key: get_opt("idempotency_key")?,
        // A missing link reads as an empty hash, which verification reports.
        entry_digest: get_bytes("link_digest")?
            .map(hex::encode)
            .unwrap_or_default(),
        prev_hash: match get_bytes("prev_link_hash")? {
            Some(h) => hex::encode(h),
            None if seq == 1 => hex::encode(app::canonical::GENESIS_HASH),
            None => String::new(),
        },
        hash: get_bytes("link_hash")?.map(hex::encode).unwrap_or_default(),
    })
}

fn unique_or_internal(err: sqlx::Error, conflict: &str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(conflict.to_owned())
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::NotFound("the referenced instance or user".to_owned())
        }
        _ => internal(err),
    }
}

/// Requires that an UPDATE or DELETE touched exactly one row.
fn one_row(rows_affected: u64, what: &str) -> Result<(), StoreError> {
    if rows_affected == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound(what.to_owned()))
    }
}

// ---- the append transaction's primitives ----

/// Rows per multi-row INSERT (and keys per lookup): at most 7 values a row, 1,400
/// a statement, well inside both drivers' limits (SQLite 32,766, PostgreSQL 65,535).
const ROWS_PER_INSERT: usize = 200;
/// Entries per multi-row INSERT: 28 values a row, 1,792 a statement.
const ENTRIES_PER_INSERT: usize = 64;

const ENTRY_INSERT: &str = "INSERT INTO entries (id, tenant_id, seq, recorded_at, occurred_at, \
     event_type, category, action, other_targets, description, actor_kind, actor_id, actor_label, instance_id, \
     instance_name, target_kind, target_id, target_name, changes, metadata, ctx_ip, \
     ctx_user_agent, ctx_session_id, ctx_request_id, idempotency_key, canonical_version, \
     source_kind, source_id, source_name) ";

/// Writes what one append computed, a few statements per batch rather than
/// several per entry: entries, their chain links, the subtrees, the idempotency
/// keys and the instance registry.
async fn insert_written(conn: &mut Conn, w: &Written) -> Result<(), StoreError> {
    let tenant = w.tenant_id.to_string();
    for chunk in w.entries.chunks(ROWS_PER_INSERT) {
        for rows in chunk.chunks(ENTRIES_PER_INSERT) {
            let mut values = Vec::with_capacity(rows.len());
            for e in rows {
                let others = if e.other_targets.is_empty() {
                    None
                } else {
                    Some(to_json(&e.other_targets)?)
                };
                values.push((
                    e,
                    to_json(&e.changes)?,
                    to_json(&e.metadata)?,
                    db_i64(e.v)?,
                    others,
                ));
            }
            let mut qb = QueryBuilder::<Db>::new(ENTRY_INSERT);
            qb.push_values(values, |mut b, (e, changes, metadata, v, others)| {
                b.push_bind(e.id.to_string())
                    .push_bind(tenant.clone())
                    .push_bind(e.seq)
                    .push_bind(e.recorded_at.timestamp_millis())
                    .push_bind(e.occurred_at.timestamp_millis())
                    .push_bind(e.event_type.as_str())
                    .push_bind(e.category().as_str().to_owned())
                    .push_bind(e.action().as_str())
                    .push_bind(others)
                    .push_bind(e.description.clone())
                    .push_bind(e.actor.kind.as_str())
                    .push_bind(e.actor.id.clone())
                    .push_bind(e.actor.label.clone())
                    .push_bind(e.instance.as_ref().map(|i| i.id.clone()))
                    .push_bind(e.instance.as_ref().map(|i| i.name.clone()))
                    .push_bind(e.target.as_ref().map(|t| t.kind.clone()))
                    .push_bind(e.target.as_ref().map(|t| t.id.clone()))
                    .push_bind(e.target.as_ref().and_then(|t| t.name.clone()))
                    .push_bind(changes)
                    .push_bind(metadata)
                    .push_bind(e.context.ip.clone())
                    .push_bind(e.context.user_agent.clone())
                    .push_bind(e.context.session_id.clone())
                    .push_bind(e.context.request_id.clone())
                    .push_bind(e.idempotency_key.clone())
                    .push_bind(v)
                    .push_bind(e.source.as_ref().map(|s| s.kind.as_str()))
                    .push_bind(e.source.as_ref().and_then(|s| s.id.clone()))
                    .push_bind(e.source.as_ref().map(|s| s.name.clone()));
            });
            qb.build().execute(&mut *conn).await.map_err(internal)?;
        }
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO chain_links (tenant_id, seq, entry_digest, hash) ",
        );
        let mut links = Vec::with_capacity(chunk.len());
        for e in chunk {
            links.push((
                e.seq,
                hex_bytes(&e.entry_digest, "entry digest")?,
                hex_bytes(&e.hash, "chain hash")?,
            ));
        }
        qb.push_values(links, |mut b, (seq, digest, hash)| {
            b.push_bind(tenant.clone())
                .push_bind(seq)
                .push_bind(digest)
                .push_bind(hash);
        });
        // A taken seq would mean two writers held the tenant's lock at once: a bug,
        // not a user's mistake, so it is logged as internal.
        qb.build().execute(&mut *conn).await.map_err(internal)?;
        // Entries naming several resources list all of them here, for the filters.
        let targets: Vec<(i64, &Target)> = chunk
            .iter()
            .filter(|e| !e.other_targets.is_empty())
            .flat_map(|e| e.targets().map(move |t| (e.seq, t)))
            .collect();
        for rows in targets.chunks(ROWS_PER_INSERT) {
            let mut qb = QueryBuilder::<Db>::new(
                "INSERT INTO entry_targets (tenant_id, kind, target_id, seq, name) ",
            );
            qb.push_values(rows, |mut b, (seq, t)| {
                b.push_bind(tenant.clone())
                    .push_bind(t.kind.clone())
                    .push_bind(t.id.clone())
                    .push_bind(*seq)
                    .push_bind(t.name.clone());
            });
            // Two equal targets in one entry are one row.
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut *conn).await.map_err(internal)?;
        }
    }
    let stored: Vec<_> = w
        .nodes
        .iter()
        .filter(|(level, _, _)| app::merkle::is_stored(*level))
        .collect();
    for chunk in stored.chunks(ROWS_PER_INSERT) {
        let mut rows = Vec::with_capacity(chunk.len());
        for &&(level, idx, hash) in chunk {
            rows.push((i64::from(level), db_i64(idx)?, hash.to_vec()));
        }
        let mut qb =
            QueryBuilder::<Db>::new("INSERT INTO merkle_nodes (tenant_id, level, idx, hash) ");
        qb.push_values(rows, |mut b, (level, idx, hash)| {
            b.push_bind(tenant.clone())
                .push_bind(level)
                .push_bind(idx)
                .push_bind(hash);
        });
        qb.build().execute(&mut *conn).await.map_err(internal)?;
    }
    for chunk in w.keys.chunks(ROWS_PER_INSERT) {
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO idempotency_keys (tenant_id, scope, idem_key, request_hash, entry_id, \
             seq, hash) ",
        );
        qb.push_values(chunk, |mut b, k| {
            b.push_bind(tenant.clone())
                .push_bind(k.scope.clone())
                .push_bind(k.key.clone())
                .push_bind(k.request_hash.clone())
                .push_bind(k.entry_id.to_string())
                .push_bind(k.seq)
                .push_bind(k.hash.clone());
        });
        qb.build()
            .execute(&mut *conn)
            .await
            .map_err(|err| unique_or_internal(err, "this idempotency key is taken"))?;
    }
    // The core merged the batch's instances, so no row appears twice here.
    for chunk in w.instances.chunks(ROWS_PER_INSERT) {
        let mut qb =
            QueryBuilder::<Db>::new("INSERT INTO instances (tenant_id, id, name, deleted) ");
        qb.push_values(chunk, |mut b, (instance, deleted)| {
            b.push_bind(tenant.clone())
                .push_bind(instance.id.clone())
                .push_bind(instance.name.clone())
                .push_bind(i64::from(*deleted));
        });
        qb.push(
            " ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name, \
             deleted = CASE WHEN excluded.deleted > instances.deleted \
             THEN excluded.deleted ELSE instances.deleted END",
        );
        qb.build().execute(&mut *conn).await.map_err(internal)?;
    }
    Ok(())
}

async fn chain_head(conn: &mut Conn, tenant_id: Uuid) -> Result<Option<(i64, String)>, StoreError> {
    let head: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, hash FROM chain_links WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(tenant_id.to_string())
    .fetch_optional(conn)
    .await
    .map_err(internal)?;
    Ok(head.map(|(seq, hash)| (seq, hex::encode(hash))))
}

/// The perfect subtree `(level, idx)`: stored from [`app::merkle::STORED_FROM_LEVEL`]
/// up, recomputed from the chain links' digests below it. `None` when the tree does
/// not reach it.
async fn node(
    conn: &mut Conn,
    tenant_id: Uuid,
    level: u32,
    idx: u64,
) -> Result<Option<app::merkle::Hash>, StoreError> {
    if !app::merkle::is_stored(level) {
        let width = 1i64 << level;
        let first = db_i64(idx)? * width + 1;
        let digests: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT entry_digest FROM chain_links WHERE tenant_id = $1 AND seq BETWEEN $2 AND $3 \
             ORDER BY seq",
        )
        .bind(tenant_id.to_string())
        .bind(first)
        .bind(first + width - 1)
        .fetch_all(conn)
        .await
        .map_err(internal)?;
        if digests.len() as i64 != width {
            return Ok(None);
        }
        let digests = digests
            .iter()
            .map(|d| to_hash(d))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Some(app::merkle::perfect_from_digests(&digests)));
    }
    let hash: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT hash FROM merkle_nodes WHERE tenant_id = $1 AND level = $2 AND idx = $3",
    )
    .bind(tenant_id.to_string())
    .bind(i64::from(level))
    .bind(db_i64(idx)?)
    .fetch_optional(conn)
    .await
    .map_err(internal)?;
    hash.map(|h| to_hash(&h)).transpose()
}

/// The remembered idempotency keys among `keys`, whatever their scope.
async fn find_keys(
    conn: &mut Conn,
    tenant_id: Uuid,
    keys: &[String],
) -> Result<Vec<KeyRecord>, StoreError> {
    let mut out = Vec::new();
    for chunk in keys.chunks(ROWS_PER_INSERT) {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT scope, idem_key, entry_id, seq, hash, request_hash FROM idempotency_keys \
             WHERE tenant_id = ",
        );
        qb.push_bind(tenant_id.to_string())
            .push(" AND idem_key IN (");
        let mut list = qb.separated(", ");
        for k in chunk {
            list.push_bind(k.clone());
        }
        qb.push(")");
        for r in qb.build().fetch_all(&mut *conn).await.map_err(internal)? {
            let id: String = r.try_get("entry_id").map_err(internal)?;
            out.push(KeyRecord {
                scope: r.try_get("scope").map_err(internal)?,
                key: r.try_get("idem_key").map_err(internal)?,
                request_hash: r.try_get("request_hash").map_err(internal)?,
                entry_id: parse_uuid(&id, "entry id")?,
                seq: r.try_get("seq").map_err(internal)?,
                hash: r.try_get("hash").map_err(internal)?,
            });
        }
    }
    Ok(out)
}

/// The tenant's own additions to the sensitive-field list; `None`: no such tenant.
async fn sensitive_fields_in(
    conn: &mut Conn,
    tenant_id: Uuid,
) -> Result<Option<Vec<String>>, StoreError> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT sensitive_fields FROM tenants WHERE id = $1")
            .bind(tenant_id.to_string())
            .fetch_optional(conn)
            .await
            .map_err(internal)?;
    text.map(|t| serde_json::from_str(&t).map_err(|_| corrupt("sensitive_fields")))
        .transpose()
}

async fn purged_through(conn: &mut Conn, tenant_id: Uuid) -> Result<i64, StoreError> {
    let done: Option<i64> =
        sqlx::query_scalar("SELECT max(to_seq) FROM purged_ranges WHERE tenant_id = $1")
            .bind(tenant_id.to_string())
            .fetch_one(conn)
            .await
            .map_err(internal)?;
    Ok(done.unwrap_or(0))
}

async fn last_recorded_before(
    conn: &mut Conn,
    tenant_id: Uuid,
    cutoff: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar("SELECT max(seq) FROM entries WHERE tenant_id = $1 AND recorded_at < $2")
        .bind(tenant_id.to_string())
        .bind(cutoff.timestamp_millis())
        .fetch_one(conn)
        .await
        .map_err(internal)
}

async fn insert_purge_range(
    conn: &mut Conn,
    tenant_id: Uuid,
    (from, to): (i64, i64),
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO purged_ranges (tenant_id, from_seq, to_seq, purged_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(tenant_id.to_string())
    .bind(from)
    .bind(to)
    .bind(now.timestamp_millis())
    .execute(conn)
    .await
    .map_err(internal)?;
    Ok(())
}

async fn run_sql(conn: &mut Conn, sql: &'static str) -> Result<(), StoreError> {
    sqlx::query::<Db>(sql)
        .execute(conn)
        .await
        .map_err(internal)?;
    Ok(())
}

/// One write transaction: the shared primitives over this driver's transaction,
/// with the store's own locking and pre-insert steps in `hooks`.
struct DbTx {
    tx: sqlx::Transaction<'static, Db>,
    hooks: TxHooks,
}

#[async_trait]
impl LogTx for DbTx {
    async fn lock_tenant(&mut self, tenant_id: Uuid) -> Result<Option<Vec<String>>, StoreError> {
        self.hooks.lock_tenant(&mut self.tx, tenant_id).await?;
        sensitive_fields_in(&mut self.tx, tenant_id).await
    }

    async fn head(&mut self, tenant_id: Uuid) -> Result<Option<(i64, String)>, StoreError> {
        chain_head(&mut self.tx, tenant_id).await
    }

    async fn node(
        &mut self,
        tenant_id: Uuid,
        level: u32,
        idx: u64,
    ) -> Result<Option<app::merkle::Hash>, StoreError> {
        node(&mut self.tx, tenant_id, level, idx).await
    }

    async fn find_keys(
        &mut self,
        tenant_id: Uuid,
        keys: &[String],
    ) -> Result<Vec<KeyRecord>, StoreError> {
        find_keys(&mut self.tx, tenant_id, keys).await
    }

    async fn apply(&mut self, mutation: &Mutation, now: DateTime<Utc>) -> Result<(), StoreError> {
        apply(&mut self.tx, mutation, now.timestamp_millis()).await
    }

    async fn insert(&mut self, written: &Written) -> Result<(), StoreError> {
        self.hooks.before_insert(&mut self.tx, written).await?;
        insert_written(&mut self.tx, written).await
    }

    async fn purged_through(&mut self, tenant_id: Uuid) -> Result<i64, StoreError> {
        purged_through(&mut self.tx, tenant_id).await
    }

    async fn last_recorded_before(
        &mut self,
        tenant_id: Uuid,
        cutoff: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        last_recorded_before(&mut self.tx, tenant_id, cutoff).await
    }

    async fn insert_purge_range(
        &mut self,
        tenant_id: Uuid,
        range: (i64, i64),
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        insert_purge_range(&mut self.tx, tenant_id, range, now).await
    }

    async fn savepoint(&mut self) -> Result<(), StoreError> {
        run_sql(&mut self.tx, "SAVEPOINT request").await
    }

    async fn release_savepoint(&mut self) -> Result<(), StoreError> {
        run_sql(&mut self.tx, "RELEASE SAVEPOINT request").await
    }

    async fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        run_sql(&mut self.tx, "ROLLBACK TO SAVEPOINT request").await?;
        run_sql(&mut self.tx, "RELEASE SAVEPOINT request").await
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(internal)
    }
}

#[async_trait]
impl TxSource for Writer {
    async fn begin(&self) -> Result<Box<dyn LogTx>, StoreError> {
        Ok(Box::new(self.begin_tx().await?))
    }
}

// ---- account mutations, inside the append transaction ----

/// Applies one account mutation inside the caller's transaction.
async fn apply(conn: &mut Conn, mutation: &Mutation, now: i64) -> Result<(), StoreError> {
    let run = |sql: &'static str| sqlx::query::<Db>(sql);
    match mutation {
        Mutation::None => {}
        Mutation::CreateSession {
            id_hash,
            user_id,
            expires_at,
        } => {
            run(
                "INSERT INTO sessions (id_hash, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id_hash)
            .bind(user_id.to_string())
            .bind(now)
            .bind(expires_at.timestamp_millis())
            .execute(conn)
            .await
            .map_err(internal)?;
        }
        Mutation::RevokeSession { id_hash } => {
            run("UPDATE sessions SET revoked_at = $1 WHERE id_hash = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id_hash)
                .execute(conn)
                .await
                .map_err(internal)?;
        }
        Mutation::CreateUser {
            user: u,
            set_password,
        } => {
            run(
                "INSERT INTO users (id, tenant_id, email, name, role, is_super_admin, \
                 password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(u.id.to_string())
            .bind(u.tenant_id.map(|t| t.to_string()))
            .bind(u.email.trim())
            .bind(&u.name)
            .bind(u.role.map(Role::as_str))
            .bind(i64::from(u.super_admin))
            .bind(&u.password_hash)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(|e| unique_or_internal(e, "a user with this email already exists"))?;
            if let Some((token_hash, expires_at)) = set_password {
                run(
                    "INSERT INTO password_tokens (token_hash, user_id, expires_at) \
                     VALUES ($1, $2, $3)",
                )
                .bind(token_hash)
                .bind(u.id.to_string())
                .bind(expires_at.timestamp_millis())
                .execute(conn)
                .await
                .map_err(internal)?;
            }
        }
        Mutation::UsePasswordToken {
            token_hash,
            password_hash,
        } => {
            let user: Option<String> = sqlx::query_scalar(
                "UPDATE password_tokens SET used_at = $1 \
                 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
            )
            .bind(now)
            .bind(token_hash)
            .fetch_optional(&mut *conn)
            .await
            .map_err(internal)?;
            let user = user.ok_or_else(|| {
                StoreError::Invalid("this set-password link is invalid, used or expired".to_owned())
            })?;
            let done =
                run("UPDATE users SET password_hash = $1 WHERE id = $2 AND removed_at IS NULL")
                    .bind(password_hash)
                    .bind(user)
                    .execute(conn)
                    .await
                    .map_err(internal)?;
            one_row(done.rows_affected(), "user")?;
        }
        Mutation::ChangeRole { user_id, role } => {
            let done = run("UPDATE users SET role = $1 WHERE id = $2 \
                 AND tenant_id IS NOT NULL AND removed_at IS NULL")
            .bind(role.as_str())
            .bind(user_id.to_string())
            .execute(conn)
            .await
            .map_err(internal)?;
            one_row(done.rows_affected(), "user")?;
        }
        Mutation::RemoveUser { user_id } => {
            let id = user_id.to_string();
            // The address is freed for a new invitation: the removed record keeps it
            // in `removed_email` (the log keeps its own snapshot anyway).
            let done = run("UPDATE users SET removed_at = $1, removed_email = email, \
                 email = id || '@removed.invalid' WHERE id = $2 AND removed_at IS NULL")
            .bind(now)
            .bind(&id)
            .execute(&mut *conn)
            .await
            .map_err(internal)?;
            one_row(done.rows_affected(), "user")?;
            for sql in [
                "UPDATE api_keys SET revoked_at = $1 WHERE created_by = $2 AND revoked_at IS NULL",
                "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            ] {
                run(sql)
                    .bind(now)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await
                    .map_err(internal)?;
            }
            run("DELETE FROM instance_grants WHERE user_id = $1")
                .bind(&id)
                .execute(conn)
                .await
                .map_err(internal)?;
        }
        Mutation::Grant {
            user_id,
            instance_id,
        } => {
            let done = run(
                "INSERT INTO instance_grants (user_id, tenant_id, instance_id) \
                 SELECT id, tenant_id, $1 FROM users WHERE id = $2 AND removed_at IS NULL",
            )
            .bind(instance_id)
            .bind(user_id.to_string())
            .execute(conn)
            .await
            .map_err(|e| unique_or_internal(e, "this user already has access to this instance"))?;
            one_row(done.rows_affected(), "user")?;
        }
        Mutation::Revoke {
            user_id,
            instance_id,
        } => {
            let done = run("DELETE FROM instance_grants WHERE user_id = $1 AND instance_id = $2")
                .bind(user_id.to_string())
                .bind(instance_id)
                .execute(conn)
                .await
                .map_err(internal)?;
            one_row(done.rows_affected(), "grant")?;
        }
        Mutation::CreateApiKey {
            key,
            key_hash,
            created_by,
        } => {
            run(
                "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, scopes, \
                 created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(key.id.to_string())
            .bind(key.tenant_id.to_string())
            .bind(&key.name)
            .bind(&key.prefix)
            .bind(key_hash)
            .bind(key.scopes.join(","))
            .bind(created_by.map(|u| u.to_string()))
            .bind(key.created_at.timestamp_millis())
            .execute(conn)
            .await
            .map_err(internal)?;
        }
        Mutation::RevokeApiKey { id } => {
            let done =
                run("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(id.to_string())
                    .execute(conn)
                    .await
                    .map_err(internal)?;
            one_row(done.rows_affected(), "API key")?;
        }
        Mutation::TransferApiKey { id, to_user } => {
            let done =
                run("UPDATE api_keys SET created_by = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(to_user.to_string())
                    .bind(id.to_string())
                    .execute(conn)
                    .await
                    .map_err(internal)?;
            one_row(done.rows_affected(), "API key")?;
        }
        Mutation::SetRetention { tenant_id, days } => {
            let done = run("UPDATE tenants SET retention_days = $1 WHERE id = $2")
                .bind(days.map(i64::from))
                .bind(tenant_id.to_string())
                .execute(conn)
                .await
                .map_err(internal)?;
            one_row(done.rows_affected(), "tenant")?;
        }
        Mutation::SetCatalog {
            tenant_id,
            before,
            after,
        } => {
            // Compare-and-set under the row's lock (the no-op update takes it on
            // PostgreSQL; SQLite's write transaction holds the file's): a change
            // made meanwhile by another owner or server is not overwritten.
            let locked = run("UPDATE tenants SET catalog = catalog WHERE id = $1")
                .bind(tenant_id.to_string())
                .execute(&mut *conn)
                .await
                .map_err(internal)?;
            one_row(locked.rows_affected(), "tenant")?;
            if catalog_in(&mut *conn, *tenant_id).await? != *before {
                return Err(StoreError::Conflict(
                    "the tenant's catalog changed meanwhile: reload it and try again".to_owned(),
                ));
            }
            run("UPDATE tenants SET catalog = $1 WHERE id = $2")
                .bind(to_json(after)?)
                .bind(tenant_id.to_string())
                .execute(conn)
                .await
                .map_err(internal)?;
        }
        Mutation::SetSensitiveFields { tenant_id, fields } => {
            let done = run("UPDATE tenants SET sensitive_fields = $1 WHERE id = $2")
                .bind(to_json(fields)?)
                .bind(tenant_id.to_string())
                .execute(conn)
                .await
                .map_err(internal)?;
            one_row(done.rows_affected(), "tenant")?;
        }
        Mutation::PurgeAudited {
            tenant_id,
            from_seq,
        } => {
            run("INSERT INTO purge_audits (tenant_id, from_seq) VALUES ($1, $2)")
                .bind(tenant_id.to_string())
                .bind(from_seq)
                .execute(conn)
                .await
                .map_err(internal)?;
        }
        Mutation::AddCheckpoint(cp) => {
            // Two signers racing on one head in one millisecond produce the very same
            // checkpoint (Ed25519 is deterministic): the second insert is a no-op.
            run(
                "INSERT INTO checkpoints (tenant_id, tree_size, root_hash, signed_at, key_id, \
                 signature, note) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(cp.tenant_id.to_string())
            .bind(db_i64(cp.tree_size)?)
            .bind(&cp.root_hash)
            .bind(cp.signed_at.timestamp_millis())
            .bind(&cp.key_id)
            .bind(&cp.signature)
            .bind(&cp.note)
            .execute(conn)
            .await
            .map_err(internal)?;
        }
    }
    Ok(())
}

// ---- listing ----

/// The SPEC's feed filters, on columns of the entries table aliased `e`. With
/// `time_by_seq`, the timeframe is checked row by row while walking seq (`+` keeps
/// the planner off the time index) instead of sorting the whole range by seq.
fn push_filter(
    qb: &mut QueryBuilder<'_, Db>,
    filter: &FeedFilter,
    time_by_seq: bool,
    other_targets: bool,
) {
    let occurred = if time_by_seq {
        " AND +e.occurred_at"
    } else {
        " AND e.occurred_at"
    };
    if let Some(c) = &filter.category {
        qb.push(" AND e.category = ")
            .push_bind(c.as_str().to_owned());
    }
    if let Some(t) = &filter.event_type {
        qb.push(" AND e.event_type = ")
            .push_bind(t.as_str().to_owned());
    }
    if let Some(a) = filter.action {
        qb.push(" AND e.action = ").push_bind(a.as_str());
    }
    if let Some(i) = &filter.instance_id {
        qb.push(" AND e.instance_id = ").push_bind(i.clone());
    }
    // A target matches an entry's first target or any of the others; the others
    // are looked at only when some entry names this target beyond its first
    // ([`names_other_targets`]), so the common case walks the target index.
    if filter.target_kind.is_some() || filter.target_id.is_some() {
        let (kind, id) = (&filter.target_kind, &filter.target_id);
        qb.push(" AND ((1 = 1");
        if let Some(k) = kind {
            qb.push(" AND e.target_kind = ").push_bind(k.clone());
        }
        if let Some(t) = id {
            qb.push(" AND e.target_id = ").push_bind(t.clone());
        }
        qb.push(")");
        if other_targets {
            qb.push(
                " OR e.seq IN (SELECT t.seq FROM entry_targets t WHERE t.tenant_id = e.tenant_id",
            );
            if let Some(k) = kind {
                qb.push(" AND t.kind = ").push_bind(k.clone());
            }
            if let Some(t) = id {
                qb.push(" AND t.target_id = ").push_bind(t.clone());
            }
            qb.push(")");
        }
        qb.push(")");
    }
    match filter.source.as_deref() {
        Some("stele") => {
            qb.push(" AND e.source_kind = 'stele'");
        }
        Some(key) => {
            qb.push(" AND e.source_id = ").push_bind(key.to_owned());
        }
        None => {}
    }
    match filter.actor.as_deref() {
        Some("system") => {
            qb.push(" AND e.actor_kind = 'system'");
        }
        Some(a) => {
            qb.push(" AND e.actor_id = ").push_bind(a.to_owned());
        }
        None => {}
    }
    if let Some(r) = &filter.resource {
        qb.push(format!(
            " AND ({CI_OPEN}e.instance_name{CI_CLOSE} = {CI_OPEN}"
        ))
        .push_bind(r.clone())
        .push(format!(
            "{CI_CLOSE} OR {CI_OPEN}e.target_name{CI_CLOSE} = {CI_OPEN}"
        ))
        .push_bind(r.clone())
        .push(CI_CLOSE);
        if other_targets {
            qb.push(format!(
                " OR e.seq IN (SELECT t.seq FROM entry_targets t \
                 WHERE t.tenant_id = e.tenant_id AND {CI_OPEN}t.name{CI_CLOSE} = {CI_OPEN}"
            ))
            .push_bind(r.clone())
            .push(format!("{CI_CLOSE})"));
        }
        qb.push(")");
    }
    push_terms(qb, &filter.query().terms);
    if let Some(since) = filter.since {
        qb.push(occurred)
            .push(" >= ")
            .push_bind(since.timestamp_millis());
    }
    if let Some(until) = filter.until {
        qb.push(occurred)
            .push(" < ")
            .push_bind(until.timestamp_millis());
    }
}

/// A `LIKE` pattern matching `text` literally (its `%`, `_` and `\` escaped).
fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One value of a query term as a condition on the entry aliased `e`.
fn push_term_value(qb: &mut QueryBuilder<'_, Db>, field: Field, value: &str) {
    let lower = value.to_lowercase();
    match field {
        Field::Actor if value.eq_ignore_ascii_case("system") => {
            qb.push("e.actor_kind = 'system'");
        }
        // An id, a label ("PBX sync", "jane@x.example") or the email in "Jane <jane@x.example>".
        Field::Actor => {
            qb.push("(e.actor_id = ")
                .push_bind(value.to_owned())
                .push(" OR lower(e.actor_label) = ")
                .push_bind(lower.clone())
                .push(" OR lower(e.actor_label) LIKE ")
                .push_bind(format!("%<{}>", like_literal(&lower)))
                .push(" ESCAPE '\\')");
        }
        Field::Action => {
            qb.push("e.action = ").push_bind(value.to_owned());
        }
        Field::Category => {
            qb.push("e.category = ").push_bind(value.to_owned());
        }
        Field::Event => {
            qb.push("e.event_type = ").push_bind(value.to_owned());
        }
        Field::Instance => {
            qb.push("(e.instance_id = ")
                .push_bind(value.to_owned())
                .push(" OR lower(e.instance_name) = ")
                .push_bind(lower)
                .push(")");
        }
        Field::Source if value.eq_ignore_ascii_case("stele") => {
            qb.push("e.source_kind = 'stele'");
        }
        Field::Source => {
            qb.push("(e.source_id = ")
                .push_bind(value.to_owned())
                .push(" OR lower(e.source_name) = ")
                .push_bind(lower)
                .push(")");
        }
        // `kind/id`, else an id or a name; the first target or any other.
        Field::Target => match value.split_once('/') {
            Some((kind, id)) if !kind.is_empty() && !id.is_empty() => {
                qb.push("((e.target_kind = ")
                    .push_bind(kind.to_owned())
                    .push(" AND e.target_id = ")
                    .push_bind(id.to_owned())
                    .push(") OR e.seq IN (SELECT t.seq FROM entry_targets t WHERE t.tenant_id = e.tenant_id AND t.kind = ")
                    .push_bind(kind.to_owned())
                    .push(" AND t.target_id = ")
                    .push_bind(id.to_owned())
                    .push("))");
            }
            _ => {
                qb.push("(e.target_id = ")
                    .push_bind(value.to_owned())
                    .push(" OR lower(e.target_name) = ")
                    .push_bind(lower.clone())
                    .push(" OR e.seq IN (SELECT t.seq FROM entry_targets t WHERE t.tenant_id = e.tenant_id AND (t.target_id = ")
                    .push_bind(value.to_owned())
                    .push(" OR lower(t.name) = ")
                    .push_bind(lower)
                    .push(")))");
            }
        },
        // Folded into the filter's timeframe by `resolved`.
        Field::After | Field::Before => {
            qb.push("1 = 1");
        }
    }
}

/// A query's `field:value` terms: any value of a term matches; a negated term
/// excludes what it matches (an absent instance or target is not excluded).
fn push_terms(qb: &mut QueryBuilder<'_, Db>, terms: &[Term]) {
    for term in terms.iter().filter(|t| !t.field.is_time()) {
        qb.push(if term.negated {
            " AND (CASE WHEN ("
        } else {
            " AND ("
        });
        for (i, value) in term.values.iter().enumerate() {
            if i > 0 {
                qb.push(" OR ");
            }
            push_term_value(qb, term.field, value);
        }
        qb.push(if term.negated {
            ") THEN 1 ELSE 0 END) = 0"
        } else {
            ")"
        });
    }
}

/// A listing's query without its cursor: what a count or a summary looks at.
fn unpaged(query: EntryQuery) -> EntryQuery {
    EntryQuery {
        cursor: None,
        id_cursor: None,
        ..query
    }
}

/// A histogram's span, `[from, to)` in ms, and its grouping.
fn push_span(qb: &mut QueryBuilder<'_, Db>, from: i64, to: i64) {
    qb.push(" AND e.occurred_at >= ")
        .push_bind(from)
        .push(" AND e.occurred_at < ")
        .push_bind(to)
        .push(" GROUP BY b");
}

/// A histogram's `SELECT`: each row's bucket, counted, from `from` in `bucket` ms.
fn histogram_select<'a>(from: i64, bucket: i64) -> QueryBuilder<'a, Db> {
    let mut qb = QueryBuilder::<Db>::new("SELECT (e.occurred_at - ");
    qb.push_bind(from)
        .push(") / ")
        .push_bind(bucket.max(1))
        .push(" AS b, count(*) AS n");
    qb
}

async fn histogram_rows(
    pool: &DbPool,
    mut qb: QueryBuilder<'_, Db>,
) -> Result<Vec<(i64, u64)>, StoreError> {
    let rows = qb.build().fetch_all(pool).await.map_err(internal)?;
    rows.iter()
        .map(|r| {
            let bucket: i64 = r.try_get("b").map_err(internal)?;
            let n: i64 = r.try_get("n").map_err(internal)?;
            Ok((bucket, db_u64(n, "histogram count")?))
        })
        .collect()
}

/// The columns of [`FacetRow`], of the entries table aliased `e`.
const FACET_COLUMNS: &str =
    "e.actor_kind, e.actor_id, e.actor_label, e.instance_id, e.instance_name, e.event_type";

/// The newest `limit` rows of a listing (ordered by `key`, newest first).
async fn facet_rows(
    pool: &DbPool,
    mut qb: QueryBuilder<'_, Db>,
    key: &str,
    limit: u32,
) -> Result<Vec<FacetRow>, StoreError> {
    qb.push(format!(" ORDER BY {key} DESC LIMIT "))
        .push_bind(i64::from(limit));
    let rows = qb.build().fetch_all(pool).await.map_err(internal)?;
    rows.iter()
        .map(|r| {
            Ok(FacetRow {
                actor_kind: r.try_get("actor_kind").map_err(internal)?,
                actor_id: r.try_get("actor_id").map_err(internal)?,
                actor_label: r.try_get("actor_label").map_err(internal)?,
                instance_id: r.try_get("instance_id").map_err(internal)?,
                instance_name: r.try_get("instance_name").map_err(internal)?,
                event_type: r.try_get("event_type").map_err(internal)?,
            })
        })
        .collect()
}

/// The time range of a filter as bounds on `occurred_at` (ms).
fn time_bounds(filter: &FeedFilter) -> Option<(i64, i64)> {
    if filter.since.is_none() && filter.until.is_none() {
        return None;
    }
    Some((
        filter.since.map_or(i64::MIN, |t| t.timestamp_millis()),
        filter.until.map_or(i64::MAX, |t| t.timestamp_millis()),
    ))
}

/// The entry columns of the entries table aliased `e`, with its chain columns from
/// [`LINK_JOINS`].
fn prefixed_columns() -> String {
    let mut columns: Vec<String> = ENTRY_COLUMNS
        .split(',')
        .map(|c| format!("e.{}", c.trim()))
        .collect();
    columns.push(LINK_COLUMNS.to_owned());
    columns.join(", ")
}

async fn insert_tenant(conn: &mut Conn, tenant: &Tenant, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tenants (id, slug, name, created_at, verification_token) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant.id.to_string())
    .bind(&tenant.slug)
    .bind(&tenant.name)
    .bind(now_ms)
    .bind(app::ssr::secrets::random_token())
    .execute(conn)
    .await
    .map_err(|err| {
        unique_or_internal(
            err,
            &format!("a tenant with slug `{}` already exists", tenant.slug),
        )
    })?;
    Ok(())
}

/// `ORDER BY`, `LIMIT` and `OFFSET` of a listing page by `key`, then its entries.
async fn fetch_page(
    pool: &DbPool,
    mut qb: QueryBuilder<'_, Db>,
    query: &EntryQuery,
    key: &str,
) -> Result<Vec<Entry>, StoreError> {
    let dir = if query.order == Order::NewestFirst {
        "DESC"
    } else {
        "ASC"
    };
    qb.push(format!(" ORDER BY {key} {dir} LIMIT "))
        .push_bind(i64::from(query.limit.clamp(1, MAX_PAGE)));
    if query.offset > 0 {
        qb.push(" OFFSET ").push_bind(i64::from(query.offset));
    }
    let rows = qb.build().fetch_all(pool).await.map_err(internal)?;
    rows.iter().map(entry_from_row).collect()
}

/// Finishes a `SELECT count(*) FROM (SELECT 1 …` in `qb`: counts at most `cap`
/// rows, `(count, exact)`.
async fn capped_count(
    pool: &DbPool,
    mut qb: QueryBuilder<'_, Db>,
    cap: u64,
) -> Result<(u64, bool), StoreError> {
    qb.push(" LIMIT ")
        .push_bind(i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX))
        .push(") AS matching");
    let n: i64 = qb
        .build_query_scalar()
        .fetch_one(pool)
        .await
        .map_err(internal)?;
    let n = u64::try_from(n).unwrap_or(0);
    Ok(if n > cap { (cap, false) } else { (n, true) })
}

/// The query as the store runs it: with [`EntryQuery::other_targets`] decided here,
/// whatever the caller passed.
async fn resolved(pool: &DbPool, query: &EntryQuery) -> Result<EntryQuery, StoreError> {
    // The search's after: and before: narrow the timeframe.
    let mut filter = query.filter.clone();
    (filter.since, filter.until) = query.filter.timeframe();
    Ok(EntryQuery {
        other_targets: names_other_targets(pool, query).await?,
        filter,
        ..query.clone()
    })
}

/// Whether a listing's target or resource filter must look beyond entries' first
/// target: only when some entry (of the tenant, or of any for the master view)
/// names such a resource among several. One primary-key probe for a target, a scan
/// of the (few) multi-target rows for a resource name.
async fn names_other_targets(pool: &DbPool, query: &EntryQuery) -> Result<bool, StoreError> {
    let f = &query.filter;
    if f.target_kind.is_none() && f.target_id.is_none() && f.resource.is_none() {
        return Ok(false);
    }
    let mut qb =
        QueryBuilder::<Db>::new("SELECT count(*) FROM (SELECT 1 FROM entry_targets t WHERE 1 = 1");
    if let Some(tenant) = query.tenant_id {
        qb.push(" AND t.tenant_id = ").push_bind(tenant.to_string());
    }
    if let Some(k) = &f.target_kind {
        qb.push(" AND t.kind = ").push_bind(k.clone());
    }
    if let Some(t) = &f.target_id {
        qb.push(" AND t.target_id = ").push_bind(t.clone());
    }
    if let Some(r) = &f.resource {
        qb.push(format!(" AND {CI_OPEN}t.name{CI_CLOSE} = {CI_OPEN}"))
            .push_bind(r.clone())
            .push(CI_CLOSE);
    }
    qb.push(" LIMIT 1) x");
    let n: i64 = qb
        .build_query_scalar()
        .fetch_one(pool)
        .await
        .map_err(internal)?;
    Ok(n > 0)
}

/// The tenant's critical event types as a SQL list of string literals (dotted
/// lowercase names, which hold no quote; any other name is left out).
fn critical_types_sql(catalog: &app::catalog::TenantCatalog) -> String {
    catalog
        .critical_names()
        .into_iter()
        .filter(|n| app::catalog::is_dotted_name(n))
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tenant's catalog; an unknown tenant has the empty one.
async fn catalog_in(
    conn: &mut Conn,
    tenant_id: Uuid,
) -> Result<app::catalog::TenantCatalog, StoreError> {
    let text: Option<String> = sqlx::query_scalar("SELECT catalog FROM tenants WHERE id = $1")
        .bind(tenant_id.to_string())
        .fetch_optional(conn)
        .await
        .map_err(internal)?;
    match text {
        Some(t) => serde_json::from_str(&t).map_err(|_| corrupt("catalog")),
        None => Ok(Default::default()),
    }
}

/// After a purge: the target rows of entries that are gone.
async fn purge_entry_targets(
    pool: &DbPool,
    tenant_id: Uuid,
    (from, to): (i64, i64),
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM entry_targets WHERE tenant_id = $1 AND seq BETWEEN $2 AND $3 \
         AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.tenant_id = entry_targets.tenant_id \
         AND e.seq = entry_targets.seq)",
    )
    .bind(tenant_id.to_string())
    .bind(from)
    .bind(to)
    .execute(pool)
    .await
    .map_err(internal)?;
    Ok(())
}

/// The purge's row deletion: the tenant's non-critical entries of a recorded range, from the
/// oldest end, in batches (readers and writers wait at most one batch).
async fn delete_seq_batches(
    pool: &DbPool,
    table: &str,
    tenant_id: Uuid,
    (from, to): (i64, i64),
    batch: u32,
    critical: &str,
) -> Result<(), StoreError> {
    // Critical entries keep their content: the purge passes over them.
    let sql = format!(
        "DELETE FROM {table} WHERE tenant_id = $1 AND seq BETWEEN $2 AND $3 \
         AND event_type NOT IN ({critical})"
    );
    let mut start = from;
    while start <= to {
        let end = (start + i64::from(batch.max(1)) - 1).min(to);
        sqlx::query(&sql)
            .bind(tenant_id.to_string())
            .bind(start)
            .bind(end)
            .execute(pool)
            .await
            .map_err(internal)?;
        start = end + 1;
        tokio::task::yield_now().await;
    }
    Ok(())
}

// ---- readers ----

async fn tenant_where(
    pool: &DbPool,
    column: &str,
    value: &str,
) -> Result<Option<Tenant>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT id, slug, name FROM tenants WHERE {column} = $1"
    ))
    .bind(value)
    .fetch_optional(pool)
    .await
    .map_err(internal)?;
    row.as_ref().map(tenant_from_row).transpose()
}

fn user_from_row(r: &DbRow) -> Result<UserRecord, StoreError> {
    let id: String = r.try_get("id").map_err(internal)?;
    let tenant: Option<String> = r.try_get("tenant_id").map_err(internal)?;
    let role: Option<String> = r.try_get("role").map_err(internal)?;
    let removed_at: Option<i64> = r.try_get("removed_at").map_err(internal)?;
    Ok(UserRecord {
        id: parse_uuid(&id, "user id")?,
        tenant_id: tenant.map(|t| parse_uuid(&t, "tenant id")).transpose()?,
        email: r.try_get("email").map_err(internal)?,
        name: r.try_get("name").map_err(internal)?,
        role: role
            .map(|r| Role::from_str(&r).map_err(|_| corrupt("role")))
            .transpose()?,
        super_admin: r.try_get::<i64, _>("is_super_admin").map_err(internal)? != 0,
        password_hash: r.try_get("password_hash").map_err(internal)?,
        removed: removed_at.is_some(),
    })
}

async fn user_where(
    pool: &DbPool,
    condition: &str,
    value: &str,
) -> Result<Option<UserRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {condition}"
    ))
    .bind(value)
    .fetch_optional(pool)
    .await
    .map_err(internal)?;
    row.as_ref().map(user_from_row).transpose()
}

fn api_key_from_row(r: &DbRow) -> Result<ApiKeyRecord, StoreError> {
    let id: String = r.try_get("id").map_err(internal)?;
    let tenant: String = r.try_get("tenant_id").map_err(internal)?;
    let scopes: String = r.try_get("scopes").map_err(internal)?;
    let revoked: Option<i64> = r.try_get("revoked_at").map_err(internal)?;
    Ok(ApiKeyRecord {
        id: parse_uuid(&id, "api key id")?,
        tenant_id: parse_uuid(&tenant, "tenant id")?,
        name: r.try_get("name").map_err(internal)?,
        prefix: r.try_get("prefix").map_err(internal)?,
        scopes: scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: from_millis(r.try_get("created_at").map_err(internal)?)?,
        revoked: revoked.is_some(),
        created_by: r
            .try_get::<Option<String>, _>("created_by")
            .map_err(internal)?
            .map(|u| parse_uuid(&u, "api key creator"))
            .transpose()?,
    })
}

fn checkpoint_from_row(tenant_id: Uuid, r: &DbRow) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        tenant_id,
        tree_size: db_u64(r.try_get("tree_size").map_err(internal)?, "checkpoint size")?,
        root_hash: r.try_get("root_hash").map_err(internal)?,
        signed_at: from_millis(r.try_get("signed_at").map_err(internal)?)?,
        key_id: r.try_get("key_id").map_err(internal)?,
        signature: r.try_get("signature").map_err(internal)?,
        note: r.try_get("note").map_err(internal)?,
    })
}

async fn entry_where(
    pool: &DbPool,
    condition: &str,
    values: &[String],
) -> Result<Option<Entry>, StoreError> {
    let sql = format!(
        "SELECT {} FROM entries e{LINK_JOINS} WHERE {condition}",
        prefixed_columns()
    );
    let mut q = sqlx::query(&sql);
    for v in values {
        q = q.bind(v);
    }
    let row = q.fetch_optional(pool).await.map_err(internal)?;
    row.as_ref().map(entry_from_row).transpose()
}

/// Claims one round of a background job for this node: true for exactly one caller
/// per `(job, round)` across every server on the database.
async fn claim_round(pool: &DbPool, job: &str, round: i64, now: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO job_rounds (job, round, claimed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(job)
    .bind(round)
    .bind(now)
    .execute(pool)
    .await
    .map_err(internal)?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the rounds below `round` of the jobs named `prefix…` (the table holds a
/// few hours of claims: a scan).
async fn forget_rounds(pool: &DbPool, prefix: &str, round: i64) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM job_rounds WHERE job LIKE $1 ESCAPE '\\' AND round < $2")
        .bind(format!("{}%", like_literal(prefix)))
        .bind(round)
        .execute(pool)
        .await
        .map_err(internal)?;
    Ok(done.rows_affected())
}

/// Counts, decides and records one login attempt (see `Store::login_attempt`),
/// inside a transaction the caller serialized.
async fn login_attempt_in(
    conn: &mut Conn,
    keys: &[String],
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    attempt_id: &str,
    rules: &AttemptRules,
) -> Result<Result<(), u64>, StoreError> {
    let since = since.timestamp_millis();
    sqlx::query("DELETE FROM login_attempts WHERE at <= $1")
        .bind(since)
        .execute(&mut *conn)
        .await
        .map_err(internal)?;
    let mut counts = Vec::with_capacity(keys.len());
    for key in keys {
        let (count, oldest, newest): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT count(*), min(at), max(at) FROM login_attempts WHERE key = $1 AND at > $2",
        )
        .bind(key)
        .bind(since)
        .fetch_one(&mut *conn)
        .await
        .map_err(internal)?;
        counts.push(AttemptCount {
            count: db_u64(count, "attempt count")?,
            oldest: oldest.map(from_millis).transpose()?,
            newest: newest.map(from_millis).transpose()?,
        });
    }
    if let Err(wait) = rules(&counts, now) {
        return Ok(Err(wait));
    }
    for key in keys {
        sqlx::query("INSERT INTO login_attempts (key, at, attempt_id) VALUES ($1, $2, $3)")
            .bind(key)
            .bind(now.timestamp_millis())
            .bind(attempt_id)
            .execute(&mut *conn)
            .await
            .map_err(internal)?;
    }
    Ok(Ok(()))
}

/// The stored Store methods both SQL stores answer with the queries above; each
/// store adds its own (begin, listing, counting, creating tenants, purging, ping).
macro_rules! impl_store {
    ($store:ty, { $($own:tt)* }) => {
        #[async_trait]
        impl Store for $store {
            fn clock(&self) -> Arc<dyn Clock> {
                self.clock.clone()
            }

            async fn head(&self, tenant_id: Uuid) -> Result<u64, StoreError> {
                let seq: Option<i64> =
                    sqlx::query_scalar("SELECT max(seq) FROM chain_links WHERE tenant_id = $1")
                        .bind(tenant_id.to_string())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(internal)?;
                db_u64(seq.unwrap_or(0), "chain head")
            }

            async fn earliest(&self, tenant_id: Uuid) -> Result<Option<i64>, StoreError> {
                sqlx::query_scalar("SELECT min(occurred_at) FROM entries WHERE tenant_id = $1")
                    .bind(tenant_id.to_string())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(internal)
            }

            async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
                tenant_where(&self.pool, "slug", slug).await
            }

            async fn tenant_by_id(&self, id: Uuid) -> Result<Option<Tenant>, StoreError> {
                tenant_where(&self.pool, "id", &id.to_string()).await
            }

            async fn tenant_by_verification_token(
                &self,
                token: &str,
            ) -> Result<Option<Tenant>, StoreError> {
                tenant_where(&self.pool, "verification_token", token).await
            }

            async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
                let rows = sqlx::query("SELECT id, slug, name FROM tenants ORDER BY name")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                rows.iter().map(tenant_from_row).collect()
            }

            async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
                user_where(&self.pool, EMAIL_IS, email.trim()).await
            }

            async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
                user_where(&self.pool, "id = $1", &id.to_string()).await
            }

            async fn users_of(&self, tenant_id: Uuid) -> Result<Vec<UserRecord>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY email"
                ))
                .bind(tenant_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                rows.iter().map(user_from_row).collect()
            }

            async fn grants_of(&self, user_id: Uuid) -> Result<Vec<String>, StoreError> {
                sqlx::query_scalar(
                    "SELECT instance_id FROM instance_grants WHERE user_id = $1 ORDER BY instance_id",
                )
                .bind(user_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(internal)
            }

            async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
                let row: Option<(String, i64, Option<i64>)> = sqlx::query_as(
                    "SELECT user_id, expires_at, revoked_at FROM sessions WHERE id_hash = $1",
                )
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
                row.map(|(user, expires, revoked)| {
                    Ok(SessionRecord {
                        user_id: parse_uuid(&user, "user id")?,
                        expires_at: from_millis(expires)?,
                        revoked: revoked.is_some(),
                    })
                })
                .transpose()
            }

            async fn password_token_user(
                &self,
                token_hash: &str,
            ) -> Result<Option<Uuid>, StoreError> {
                let user: Option<String> = sqlx::query_scalar(
                    "SELECT user_id FROM password_tokens \
                     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
                )
                .bind(token_hash)
                .bind(self.clock.now().timestamp_millis())
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
                user.map(|u| parse_uuid(&u, "user id")).transpose()
            }

            async fn instances(&self, tenant_id: Uuid) -> Result<Vec<InstanceRecord>, StoreError> {
                let rows: Vec<(String, String, i64)> = sqlx::query_as(
                    "SELECT id, name, deleted FROM instances WHERE tenant_id = $1 ORDER BY name",
                )
                .bind(tenant_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                Ok(rows
                    .into_iter()
                    .map(|(id, name, deleted)| InstanceRecord {
                        id,
                        name,
                        deleted: deleted != 0,
                    })
                    .collect())
            }

            async fn api_keys(&self, tenant_id: Uuid) -> Result<Vec<ApiKeyRecord>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 \
                     ORDER BY created_at, id"
                ))
                .bind(tenant_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                rows.iter().map(api_key_from_row).collect()
            }

            async fn api_key_by_hash(
                &self,
                key_hash: &str,
            ) -> Result<Option<ApiKeyRecord>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"
                ))
                .bind(key_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
                row.as_ref().map(api_key_from_row).transpose()
            }

            async fn catalog(
                &self,
                tenant_id: Uuid,
            ) -> Result<app::catalog::TenantCatalog, StoreError> {
                let mut conn = self.pool.acquire().await.map_err(internal)?;
                catalog_in(&mut conn, tenant_id).await
            }

            async fn sensitive_fields(&self, tenant_id: Uuid) -> Result<Vec<String>, StoreError> {
                let mut conn = self.pool.acquire().await.map_err(internal)?;
                sensitive_fields_in(&mut conn, tenant_id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound("tenant".to_owned()))
            }

            async fn find(&self, id: Uuid) -> Result<Option<Entry>, StoreError> {
                entry_where(&self.pool, "e.id = $1", &[id.to_string()]).await
            }

            async fn get(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<Entry>, StoreError> {
                entry_where(
                    &self.pool,
                    "e.tenant_id = $1 AND e.id = $2",
                    &[tenant_id.to_string(), id.to_string()],
                )
                .await
            }

            async fn chain_links(
                &self,
                tenant_id: Uuid,
                after_seq: i64,
                limit: u32,
            ) -> Result<Vec<ChainLink>, StoreError> {
                let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = sqlx::query_as(
                    "SELECT seq, entry_digest, hash FROM chain_links WHERE tenant_id = $1 \
                     AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(tenant_id.to_string())
                .bind(after_seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                Ok(rows
                    .into_iter()
                    .map(|(seq, entry_digest, hash)| ChainLink {
                        seq,
                        entry_digest: hex::encode(entry_digest),
                        hash: hex::encode(hash),
                    })
                    .collect())
            }

            async fn merkle_level(
                &self,
                tenant_id: Uuid,
                level: u32,
                from: u64,
                to: u64,
            ) -> Result<Vec<(u64, app::merkle::Hash)>, StoreError> {
                let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
                    "SELECT idx, hash FROM merkle_nodes WHERE tenant_id = $1 AND level = $2 \
                     AND idx BETWEEN $3 AND $4 ORDER BY idx",
                )
                .bind(tenant_id.to_string())
                .bind(i64::from(level))
                .bind(db_i64(from)?)
                .bind(db_i64(to)?)
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                rows.iter()
                    .map(|(idx, hash)| Ok((db_u64(*idx, "merkle node index")?, to_hash(hash)?)))
                    .collect()
            }

            async fn perfect_nodes(
                &self,
                tenant_id: Uuid,
                positions: &[(u32, u64)],
            ) -> Result<Vec<app::merkle::Hash>, StoreError> {
                let mut conn = self.pool.acquire().await.map_err(internal)?;
                let mut out = Vec::with_capacity(positions.len());
                for &(level, idx) in positions {
                    out.push(
                        node(&mut conn, tenant_id, level, idx)
                            .await?
                            .ok_or_else(|| StoreError::NotFound("merkle subtree".to_owned()))?,
                    );
                }
                Ok(out)
            }

            async fn checkpoints(&self, tenant_id: Uuid) -> Result<Vec<Checkpoint>, StoreError> {
                let rows = sqlx::query(
                    "SELECT tree_size, root_hash, signed_at, key_id, signature, note \
                     FROM checkpoints WHERE tenant_id = $1 ORDER BY signed_at DESC, tree_size DESC",
                )
                .bind(tenant_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                rows.iter().map(|r| checkpoint_from_row(tenant_id, r)).collect()
            }

            async fn verification_token(&self, tenant_id: Uuid) -> Result<String, StoreError> {
                let token: Option<Option<String>> =
                    sqlx::query_scalar("SELECT verification_token FROM tenants WHERE id = $1")
                        .bind(tenant_id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                token
                    .flatten()
                    .ok_or_else(|| StoreError::NotFound("tenant".to_owned()))
            }

            async fn retention_days(&self, tenant_id: Uuid) -> Result<Option<u32>, StoreError> {
                let days: Option<Option<i64>> =
                    sqlx::query_scalar("SELECT retention_days FROM tenants WHERE id = $1")
                        .bind(tenant_id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                let days = days.ok_or_else(|| StoreError::NotFound("tenant".to_owned()))?;
                Ok(days.and_then(|d| u32::try_from(d).ok()))
            }

            async fn unaudited_purges(
                &self,
                tenant_id: Uuid,
            ) -> Result<Vec<(i64, i64)>, StoreError> {
                sqlx::query_as(
                    "SELECT r.from_seq, r.to_seq FROM purged_ranges r \
                     LEFT JOIN purge_audits a ON a.tenant_id = r.tenant_id \
                     AND a.from_seq = r.from_seq \
                     WHERE r.tenant_id = $1 AND a.from_seq IS NULL ORDER BY r.from_seq",
                )
                .bind(tenant_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(internal)
            }

            async fn purged_ranges(&self, tenant_id: Uuid) -> Result<Vec<(i64, i64)>, StoreError> {
                sqlx::query_as(
                    "SELECT from_seq, to_seq FROM purged_ranges WHERE tenant_id = $1 \
                     ORDER BY from_seq",
                )
                .bind(tenant_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(internal)
            }

            async fn claim_round(&self, job: &str, round: i64) -> Result<bool, StoreError> {
                claim_round(&self.pool, job, round, self.clock.now().timestamp_millis()).await
            }

            async fn forget_rounds(&self, prefix: &str, round: i64) -> Result<u64, StoreError> {
                forget_rounds(&self.pool, prefix, round).await
            }

            async fn begin(&self) -> Result<Box<dyn LogTx>, StoreError> {
                Ok(Box::new(self.writer.begin_tx().await?))
            }

            fn group_stats(&self) -> app::ssr::group::GroupStats {
                self.group.stats()
            }

            /// Through the store's group committer (`app::ssr::group`).
            async fn commit(
                &self,
                tenant_id: Uuid,
                mutation: Mutation,
                batch: Vec<NewEntry>,
            ) -> Result<Vec<Appended>, StoreError> {
                self.group.submit(tenant_id, mutation, batch).await
            }

            async fn login_attempt(
                &self,
                keys: &[String],
                since: DateTime<Utc>,
                attempt_id: &str,
                rules: &AttemptRules,
            ) -> Result<Result<(), u64>, StoreError> {
                let mut t = self.writer.begin_tx().await?;
                t.hooks.lock_named(&mut t.tx, "stele.login_attempts").await?;
                let now = self.clock.now();
                let answer = login_attempt_in(&mut t.tx, keys, since, now, attempt_id, rules).await?;
                t.tx.commit().await.map_err(internal)?;
                Ok(answer)
            }

            async fn login_succeeded(&self, pair_key: &str, attempt_id: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM login_attempts WHERE key = $1 OR attempt_id = $2")
                    .bind(pair_key)
                    .bind(attempt_id)
                    .execute(&self.pool)
                    .await
                    .map_err(internal)?;
                Ok(())
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(internal)?;
                Ok(())
            }

            $($own)*
        }
    };
}
