//! The SQLite store (WAL mode): Stele's embedded default.
//!
//! Appends run in `BEGIN IMMEDIATE` transactions, which take SQLite's single write
//! lock up front, so two writers (even in two processes) can never read the same
//! chain head; an in-process mutex keeps this process's writers from spinning on
//! `SQLITE_BUSY`. Together they give each tenant a gap-free seq.

use super::internal;
use app::api::FeedFilter;
use app::catalog::EventType;
use app::checkpoint::Checkpoint;
use app::clock::{Clock, SystemClock};
use app::diff::Redactor;
use app::entry::{
    Actor, ActorKind, Appended, Change, Context, Entry, InstanceRef, NewEntry, Source, SourceKind,
    Target, Tenant,
};
use app::store::{
    ApiKeyRecord, ChainLink, EntryQuery, InstanceRecord, Mutation, Order, SessionRecord, Store,
    StoreError, UserRecord, MAX_PAGE,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use uuid::Uuid;

pub struct SqliteStore {
    pool: SqlitePool,
    write_lock: Mutex<()>,
    dense_range: i64,
    clock: Arc<dyn Clock>,
}

const ENTRY_COLUMNS: &str = "id, tenant_id, seq, recorded_at, occurred_at, event_type, \
    description, actor_kind, actor_id, actor_label, instance_id, instance_name, target_kind, \
    target_id, target_name, changes, metadata, ctx_ip, ctx_user_agent, ctx_session_id, \
    ctx_request_id, idempotency_key, entry_digest, prev_hash, hash, canonical_version, \
    source_kind, source_id, source_name";

impl SqliteStore {
    /// Opens the database at `url` (`sqlite://path`), creating the file if needed,
    /// and applies the migrations.
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        Self::open_with_clock(url, Arc::new(SystemClock)).await
    }

    /// Opens the store with the clock it stamps and compares times with.
    pub async fn open_with_clock(url: &str, clock: Arc<dyn Clock>) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Purged means gone: deleted content is overwritten, not left in free pages.
            .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        super::sqlite_integrity::backfill(&pool)
            .await
            .map_err(|e| sqlx::Error::Protocol(format!("integrity backfill failed: {e}")))?;
        Ok(SqliteStore {
            pool,
            write_lock: Mutex::new(()),
            dense_range: DENSE_RANGE,
            clock,
        })
    }

    /// Sets how many entries make a timeframe "dense" (tests use a small number to
    /// exercise both ways of reading a timeframe).
    pub fn with_dense_range(mut self, entries: i64) -> Self {
        self.dense_range = entries;
        self
    }

    /// The pool, for tests that play the attacker with raw SQL.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }
}

fn millis(t: &DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(internal)
}

fn tenant_from_row(r: &SqliteRow) -> Result<Tenant, StoreError> {
    let id: String = r.try_get("id").map_err(internal)?;
    Ok(Tenant {
        id: Uuid::parse_str(&id).map_err(|_| corrupt("tenant id"))?,
        slug: r.try_get("slug").map_err(internal)?,
        name: r.try_get("name").map_err(internal)?,
    })
}

fn decode_hash(hash: &str) -> Result<[u8; 32], StoreError> {
    hex::decode(hash)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt("chain hash"))
}

pub(super) fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("stored row has an unreadable {what}").into())
}

pub(super) fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Invalid(format!("stored time {ms} is out of range")))
}

fn entry_from_row(row: &SqliteRow) -> Result<Entry, StoreError> {
    let get_str = |col: &str| -> Result<String, StoreError> { row.try_get(col).map_err(internal) };
    let get_opt =
        |col: &str| -> Result<Option<String>, StoreError> { row.try_get(col).map_err(internal) };
    let uuid = |col: &str| -> Result<Uuid, StoreError> {
        Uuid::parse_str(&get_str(col)?).map_err(|_| corrupt(col))
    };
    let event_type =
        EventType::from_str(&get_str("event_type")?).map_err(|_| corrupt("event_type"))?;
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
        seq: row.try_get("seq").map_err(internal)?,
        recorded_at: from_millis(row.try_get("recorded_at").map_err(internal)?)?,
        occurred_at: from_millis(row.try_get("occurred_at").map_err(internal)?)?,
        event_type,
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
        v: u64::try_from(
            row.try_get::<i64, _>("canonical_version")
                .map_err(internal)?,
        )
        .map_err(|_| corrupt("canonical version"))?,
        source: match get_opt("source_kind")? {
            None => None,
            Some(kind) => Some(Source {
                kind: SourceKind::parse(&kind).ok_or_else(|| corrupt("source"))?,
                id: get_opt("source_id")?,
                name: get_opt("source_name")?.unwrap_or_default(),
            }),
        },
        idempotency_key: get_opt("idempotency_key")?,
        entry_digest: get_str("entry_digest")?,
        prev_hash: get_str("prev_hash")?,
        hash: get_str("hash")?,
    })
}

/// The SPEC's feed filters, on columns of the entries table aliased `e`. With
/// `time_by_seq`, the timeframe is checked row by row while walking seq (`+` keeps
/// SQLite off the time index) instead of sorting the whole range by seq.
fn push_filter(qb: &mut QueryBuilder<'_, Sqlite>, filter: &FeedFilter, time_by_seq: bool) {
    let occurred = if time_by_seq {
        " AND +e.occurred_at"
    } else {
        " AND e.occurred_at"
    };
    if let Some(c) = filter.category {
        qb.push(" AND e.category = ").push_bind(c.as_str());
    }
    if let Some(t) = filter.event_type {
        qb.push(" AND e.event_type = ").push_bind(t.as_str());
    }
    if let Some(a) = filter.action {
        qb.push(" AND e.action = ").push_bind(a.as_str());
    }
    if let Some(i) = &filter.instance_id {
        qb.push(" AND e.instance_id = ").push_bind(i.clone());
    }
    if let Some(k) = &filter.target_kind {
        qb.push(" AND e.target_kind = ").push_bind(k.clone());
    }
    if let Some(t) = &filter.target_id {
        qb.push(" AND e.target_id = ").push_bind(t.clone());
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
        qb.push(" AND (e.instance_name = ")
            .push_bind(r.clone())
            .push(" COLLATE NOCASE OR e.target_name = ")
            .push_bind(r.clone())
            .push(" COLLATE NOCASE)");
    }
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

/// Above this many entries in a timeframe, a feed page walks seq instead of sorting
/// the range.
const DENSE_RANGE: i64 = 5_000;

/// A free-text search as an FTS5 query: every word must match (as a prefix) in the
/// description, event type, instance name or actor label; a tenant's search is
/// scoped to its own token. `None` when the text holds no word at all.
fn fts_query(text: &str, tenant: Option<Uuid>) -> Option<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .take(16)
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    if words.is_empty() {
        return None;
    }
    let terms = format!(
        "{{description event_type instance_name actor_label}} : ({})",
        words.join(" AND ")
    );
    Some(match tenant {
        Some(t) => format!("scope : t{} AND {terms}", t.simple()),
        None => terms,
    })
}

/// `FROM … WHERE …` of a listing (after the caller's `SELECT`): the FTS join when
/// searching, the tenant, the filters and the keyset cursor.
fn push_from_where(
    qb: &mut QueryBuilder<'_, Sqlite>,
    query: &EntryQuery,
    fts: Option<&str>,
    seq_bound: Option<i64>,
) {
    match fts {
        Some(m) => {
            qb.push(
                " FROM entries_fts f JOIN entries e ON e.rowid = f.rowid WHERE entries_fts MATCH ",
            )
            .push_bind(m.to_owned());
        }
        None => {
            qb.push(" FROM entries e WHERE 1 = 1");
        }
    }
    if let Some(tenant_id) = query.tenant_id {
        qb.push(" AND e.tenant_id = ")
            .push_bind(tenant_id.to_string());
    }
    let newest_first = query.order == Order::NewestFirst;
    let cmp = if newest_first { " < " } else { " > " };
    if query.page_by_id || query.tenant_id.is_none() {
        if let Some(id) = query.id_cursor {
            qb.push(" AND e.id").push(cmp).push_bind(id.to_string());
        }
    } else if let Some(seq) = query.cursor {
        match (fts, query.tenant_id) {
            // Searching walks the FTS index by rowid: bound it there, so a deep page
            // does not first pass every newer match.
            // The cursor's own row may not exist (seq 0, or purged): bound by the
            // nearest row on the far side of it instead.
            (Some(_), Some(tenant_id)) => {
                let (near, fallback) = if newest_first {
                    (
                        " AND seq >= ",
                        " ORDER BY seq LIMIT 1), 9223372036854775807)",
                    )
                } else {
                    (" AND seq <= ", " ORDER BY seq DESC LIMIT 1), 0)")
                };
                qb.push(" AND f.rowid")
                    .push(cmp)
                    .push("coalesce((SELECT rowid FROM entries WHERE tenant_id = ")
                    .push_bind(tenant_id.to_string())
                    .push(near)
                    .push_bind(seq)
                    .push(fallback);
            }
            _ => {
                qb.push(" AND e.seq").push(cmp).push_bind(seq);
            }
        }
    }
    if let Some(bound) = seq_bound {
        qb.push(" AND e.seq <= ").push_bind(bound);
    }
    if let Some(max) = query.max_seq {
        qb.push(" AND e.seq <= ").push_bind(max);
    }
    push_filter(qb, &query.filter, seq_bound.is_some());
}

fn prefixed_columns() -> String {
    ENTRY_COLUMNS
        .split(',')
        .map(|c| format!("e.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn insert_entry(conn: &mut sqlx::SqliteConnection, e: &Entry) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO entries (id, tenant_id, seq, recorded_at, occurred_at, event_type, \
         category, action, description, actor_kind, actor_id, actor_label, instance_id, \
         instance_name, target_kind, target_id, target_name, changes, metadata, ctx_ip, \
         ctx_user_agent, ctx_session_id, ctx_request_id, idempotency_key, entry_digest, \
         prev_hash, hash, canonical_version, source_kind, source_id, source_name) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(e.id.to_string())
    .bind(e.tenant_id.to_string())
    .bind(e.seq)
    .bind(millis(&e.recorded_at))
    .bind(millis(&e.occurred_at))
    .bind(e.event_type.as_str())
    .bind(e.category().as_str())
    .bind(e.action().as_str())
    .bind(&e.description)
    .bind(e.actor.kind.as_str())
    .bind(&e.actor.id)
    .bind(&e.actor.label)
    .bind(e.instance.as_ref().map(|i| &i.id))
    .bind(e.instance.as_ref().map(|i| &i.name))
    .bind(e.target.as_ref().map(|t| &t.kind))
    .bind(e.target.as_ref().map(|t| &t.id))
    .bind(e.target.as_ref().and_then(|t| t.name.as_ref()))
    .bind(to_json(&e.changes)?)
    .bind(to_json(&e.metadata)?)
    .bind(&e.context.ip)
    .bind(&e.context.user_agent)
    .bind(&e.context.session_id)
    .bind(&e.context.request_id)
    .bind(&e.idempotency_key)
    .bind(&e.entry_digest)
    .bind(&e.prev_hash)
    .bind(&e.hash)
    .bind(i64::try_from(e.v).map_err(internal)?)
    .bind(e.source.as_ref().map(|s| s.kind.as_str()))
    .bind(e.source.as_ref().and_then(|s| s.id.clone()))
    .bind(e.source.as_ref().map(|s| s.name.clone()))
    .execute(conn)
    .await
    .map_err(|err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict("an entry with this idempotency key already exists".to_owned())
        }
        _ => internal(err),
    })?;
    Ok(())
}

/// The entry this producer already wrote with this idempotency key, if any: the
/// same request replays it, another request under the same key is a conflict.
/// Keys recorded before keys were scoped per producer (scope '') still replay.
async fn replay(
    conn: &mut sqlx::SqliteConnection,
    tenant_id: Uuid,
    new: &NewEntry,
    key: &str,
) -> Result<Option<Appended>, StoreError> {
    let scope = new.idempotency_scope.clone().unwrap_or_default();
    let row = sqlx::query(
        "SELECT entry_id, seq, hash, request_hash FROM idempotency_keys \
         WHERE tenant_id = ? AND idem_key = ? AND scope IN (?, '') ORDER BY scope DESC LIMIT 1",
    )
    .bind(tenant_id.to_string())
    .bind(key)
    .bind(&scope)
    .fetch_optional(&mut *conn)
    .await
    .map_err(internal)?;
    let Some(r) = row else {
        return Ok(None);
    };
    let stored: Option<String> = r.try_get("request_hash").map_err(internal)?;
    if let (Some(stored), Some(now)) = (&stored, &new.request_hash) {
        if stored != now {
            return Err(StoreError::Conflict(format!(
                "idempotency key `{key}` was used before for a different event: send a new key for a new event"
            )));
        }
    }
    let id: String = r.try_get("entry_id").map_err(internal)?;
    Ok(Some(Appended {
        id: Uuid::parse_str(&id).map_err(|_| corrupt("id"))?,
        seq: r.try_get("seq").map_err(internal)?,
        hash: r.try_get("hash").map_err(internal)?,
        replayed: true,
    }))
}

async fn remember_key(
    conn: &mut sqlx::SqliteConnection,
    entry: &Entry,
    new_scope: Option<&str>,
    request_hash: Option<&str>,
    key: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO idempotency_keys (tenant_id, scope, idem_key, request_hash, entry_id, seq, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(entry.tenant_id.to_string())
    .bind(new_scope.unwrap_or_default())
    .bind(key)
    .bind(request_hash)
    .bind(entry.id.to_string())
    .bind(entry.seq)
    .bind(&entry.hash)
    .execute(conn)
    .await
    .map_err(internal)?;
    Ok(())
}

impl SqliteStore {
    /// For a timeframe holding many of the tenant's entries: the seq of the newest
    /// entry in it (0 when none), so a page can walk seq down from there. `None`
    /// when the range is small enough to read through the time index and sort.
    async fn dense_range_head(
        &self,
        tenant: Uuid,
        (from, to): (i64, i64),
    ) -> Result<Option<i64>, StoreError> {
        let tenant = tenant.to_string();
        let in_range: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM entries WHERE tenant_id = ? \
             AND occurred_at >= ? AND occurred_at < ? LIMIT ?)",
        )
        .bind(&tenant)
        .bind(from)
        .bind(to)
        .bind(self.dense_range + 1)
        .fetch_one(&self.pool)
        .await
        .map_err(internal)?;
        if in_range <= self.dense_range {
            return Ok(None);
        }
        // Inside a tenant, rowid grows with seq: the largest rowid in the range (read
        // from the time index alone) is its newest entry.
        let head: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM entries WHERE rowid = (SELECT max(rowid) FROM entries \
             WHERE tenant_id = ? AND occurred_at >= ? AND occurred_at < ?)",
        )
        .bind(&tenant)
        .bind(from)
        .bind(to)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        Ok(Some(head.unwrap_or(0)))
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    async fn head(&self, tenant_id: Uuid) -> Result<u64, StoreError> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT max(seq) FROM chain_links WHERE tenant_id = ?")
                .bind(tenant_id.to_string())
                .fetch_one(&self.pool)
                .await
                .map_err(internal)?;
        u64::try_from(seq.unwrap_or(0)).map_err(|_| corrupt("chain head"))
    }

    async fn merkle_level(
        &self,
        tenant_id: Uuid,
        level: u32,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, app::merkle::Hash)>, StoreError> {
        super::sqlite_integrity::level(&self.pool, tenant_id, level, from, to).await
    }

    async fn create_tenant(&self, slug: &str, name: &str) -> Result<Tenant, StoreError> {
        let tenant = Tenant {
            id: Uuid::now_v7(),
            slug: slug.to_owned(),
            name: name.to_owned(),
        };
        sqlx::query(
            "INSERT INTO tenants (id, slug, name, created_at, verification_token) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(tenant.id.to_string())
        .bind(&tenant.slug)
        .bind(&tenant.name)
        .bind(self.now_ms())
        .bind(app::ssr::secrets::random_token())
        .execute(&self.pool)
        .await
        .map_err(|err| match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(format!("a tenant with slug `{slug}` already exists"))
            }
            _ => internal(err),
        })?;
        Ok(tenant)
    }

    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query("SELECT id, slug, name FROM tenants WHERE slug = ?")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn tenant_by_id(&self, id: Uuid) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query("SELECT id, slug, name FROM tenants WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query("SELECT id, slug, name FROM tenants ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(internal)?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn commit(
        &self,
        tenant_id: Uuid,
        mutation: Mutation,
        batch: Vec<NewEntry>,
    ) -> Result<Vec<Appended>, StoreError> {
        if batch.is_empty() && mutation == Mutation::None {
            return Ok(Vec::new());
        }
        let _writer = self.write_lock.lock().await;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(internal)?;
        let Some(extra_sensitive) =
            super::sqlite_accounts::sensitive_fields(&mut tx, tenant_id).await?
        else {
            return Err(StoreError::NotFound("tenant".to_owned()));
        };
        let now = self.clock.now();
        super::sqlite_accounts::apply(&mut tx, &mutation, now.timestamp_millis()).await?;
        let redactor = Redactor::new(&extra_sensitive);
        // The head comes from the chain links, which retention never removes: a
        // tenant whose every entry was purged still continues its chain.
        let head = sqlx::query(
            "SELECT seq, hash FROM chain_links WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1",
        )
        .bind(tenant_id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal)?;
        let (mut seq, mut prev) = match head {
            None => (0i64, app::canonical::GENESIS_HASH),
            Some(row) => {
                let seq: i64 = row.try_get("seq").map_err(internal)?;
                let hash: String = row.try_get("hash").map_err(internal)?;
                (seq, decode_hash(&hash)?)
            }
        };
        let mut frontier = super::sqlite_integrity::frontier(
            &mut tx,
            tenant_id,
            u64::try_from(seq).map_err(internal)?,
        )
        .await?;
        let mut appended = Vec::with_capacity(batch.len());
        for mut new in batch {
            if let Some(key) = &new.idempotency_key {
                if let Some(original) = replay(&mut tx, tenant_id, &new, key).await? {
                    appended.push(original);
                    continue;
                }
            }
            redactor.apply(&mut new);
            seq += 1;
            let idem = new
                .idempotency_key
                .clone()
                .map(|k| (k, new.idempotency_scope.clone(), new.request_hash.clone()));
            let entry = new.seal(Uuid::now_v7(), tenant_id, seq, now, &prev);
            insert_entry(&mut tx, &entry).await?;
            if let Some((key, scope, hash)) = &idem {
                remember_key(&mut tx, &entry, scope.as_deref(), hash.as_deref(), key).await?;
            }
            super::sqlite_integrity::link(&mut tx, &mut frontier, &entry).await?;
            if let Some(instance) = &entry.instance {
                super::sqlite_accounts::register_instance(
                    &mut tx,
                    tenant_id,
                    instance,
                    entry.event_type == EventType::InstanceDeleted,
                )
                .await?;
            }
            prev = decode_hash(&entry.hash)?;
            appended.push(Appended::from(&entry));
        }
        tx.commit().await.map_err(internal)?;
        Ok(appended)
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        super::sqlite_accounts::user_where(&self.pool, "users.email = ?", email.trim()).await
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        super::sqlite_accounts::user_where(&self.pool, "id = ?", &id.to_string()).await
    }

    async fn users_of(&self, tenant_id: Uuid) -> Result<Vec<UserRecord>, StoreError> {
        super::sqlite_accounts::users_of(&self.pool, tenant_id).await
    }

    async fn grants_of(&self, user_id: Uuid) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT instance_id FROM instance_grants WHERE user_id = ? ORDER BY instance_id",
        )
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(internal)
    }

    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        super::sqlite_accounts::session(&self.pool, id_hash).await
    }

    async fn password_token_user(&self, token_hash: &str) -> Result<Option<Uuid>, StoreError> {
        let user: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM password_tokens \
             WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
        )
        .bind(token_hash)
        .bind(self.now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        user.map(|u| Uuid::parse_str(&u).map_err(|_| corrupt("user id")))
            .transpose()
    }

    async fn instances(&self, tenant_id: Uuid) -> Result<Vec<InstanceRecord>, StoreError> {
        super::sqlite_accounts::instances(&self.pool, tenant_id).await
    }

    async fn api_keys(&self, tenant_id: Uuid) -> Result<Vec<ApiKeyRecord>, StoreError> {
        super::sqlite_accounts::api_keys(&self.pool, tenant_id).await
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        super::sqlite_accounts::api_key_by_hash(&self.pool, key_hash).await
    }

    async fn sensitive_fields(&self, tenant_id: Uuid) -> Result<Vec<String>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(internal)?;
        super::sqlite_accounts::sensitive_fields(&mut conn, tenant_id)
            .await?
            .ok_or_else(|| StoreError::NotFound("tenant".to_owned()))
    }

    async fn list(&self, query: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
        let fts = query
            .filter
            .q
            .as_deref()
            .and_then(|q| fts_query(q, query.tenant_id));
        let seq_bound = match (&fts, query.tenant_id, time_bounds(&query.filter)) {
            (None, Some(tenant), Some(range)) if !query.page_by_id => {
                self.dense_range_head(tenant, range).await?
            }
            _ => None,
        };
        if seq_bound == Some(0) {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {}", prefixed_columns()));
        push_from_where(&mut qb, query, fts.as_deref(), seq_bound);
        let dir = if query.order == Order::NewestFirst {
            "DESC"
        } else {
            "ASC"
        };
        let key = match (&fts, query.page_by_id || query.tenant_id.is_none()) {
            (Some(_), _) => "f.rowid",
            (None, true) => "e.id",
            (None, false) => "e.seq",
        };
        qb.push(format!(" ORDER BY {key} {dir} LIMIT "))
            .push_bind(i64::from(query.limit.clamp(1, MAX_PAGE)));
        if query.offset > 0 {
            qb.push(" OFFSET ").push_bind(i64::from(query.offset));
        }
        let rows = qb.build().fetch_all(&self.pool).await.map_err(internal)?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn count(&self, query: &EntryQuery, cap: u64) -> Result<(u64, bool), StoreError> {
        let fts = query
            .filter
            .q
            .as_deref()
            .and_then(|q| fts_query(q, query.tenant_id));
        let unpaged = EntryQuery {
            cursor: None,
            id_cursor: None,
            ..query.clone()
        };
        let search_only = FeedFilter {
            q: query.filter.q.clone(),
            ..FeedFilter::default()
        };
        let mut qb = match &fts {
            // A search alone is counted in the FTS index, without reading entries.
            Some(m) if query.filter == search_only => {
                let mut qb = QueryBuilder::<Sqlite>::new(
                    "SELECT count(*) FROM (SELECT 1 FROM entries_fts WHERE entries_fts MATCH ",
                );
                qb.push_bind(m.clone());
                qb
            }
            _ => {
                let mut qb = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM (SELECT 1");
                push_from_where(&mut qb, &unpaged, fts.as_deref(), None);
                qb
            }
        };
        qb.push(" LIMIT ")
            .push_bind(i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX))
            .push(")");
        let n: i64 = qb
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(internal)?;
        let n = u64::try_from(n).unwrap_or(0);
        Ok(if n > cap { (cap, false) } else { (n, true) })
    }

    async fn find(&self, id: Uuid) -> Result<Option<Entry>, StoreError> {
        let row = sqlx::query(&format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        row.as_ref().map(entry_from_row).transpose()
    }

    async fn get(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<Entry>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries WHERE tenant_id = ? AND id = ?"
        ))
        .bind(tenant_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        row.as_ref().map(entry_from_row).transpose()
    }

    async fn chain_links(
        &self,
        tenant_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<ChainLink>, StoreError> {
        super::sqlite_integrity::chain_links(&self.pool, tenant_id, after_seq, limit).await
    }

    async fn perfect_nodes(
        &self,
        tenant_id: Uuid,
        positions: &[(u32, u64)],
    ) -> Result<Vec<app::merkle::Hash>, StoreError> {
        super::sqlite_integrity::perfect_nodes(&self.pool, tenant_id, positions).await
    }

    async fn checkpoints(&self, tenant_id: Uuid) -> Result<Vec<Checkpoint>, StoreError> {
        super::sqlite_integrity::checkpoints(&self.pool, tenant_id).await
    }

    async fn verification_token(&self, tenant_id: Uuid) -> Result<String, StoreError> {
        let token: Option<Option<String>> =
            sqlx::query_scalar("SELECT verification_token FROM tenants WHERE id = ?")
                .bind(tenant_id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
        // Set when the tenant is created (and backfilled on open for older databases).
        token
            .flatten()
            .ok_or_else(|| StoreError::NotFound("tenant".to_owned()))
    }

    async fn tenant_by_verification_token(
        &self,
        token: &str,
    ) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query("SELECT id, slug, name FROM tenants WHERE verification_token = ?")
            .bind(token)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn retention_days(&self, tenant_id: Uuid) -> Result<Option<u32>, StoreError> {
        let days: Option<Option<i64>> =
            sqlx::query_scalar("SELECT retention_days FROM tenants WHERE id = ?")
                .bind(tenant_id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
        let days = days.ok_or_else(|| StoreError::NotFound("tenant".to_owned()))?;
        Ok(days.and_then(|d| u32::try_from(d).ok()))
    }

    async fn record_purge(
        &self,
        tenant_id: Uuid,
        cutoff: DateTime<Utc>,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let _writer = self.write_lock.lock().await;
        super::sqlite_retention::record(&self.pool, tenant_id, cutoff, self.now_ms()).await
    }

    async fn purge_range(
        &self,
        tenant_id: Uuid,
        range: (i64, i64),
        batch: u32,
    ) -> Result<(), StoreError> {
        super::sqlite_retention::delete_range(&self.pool, tenant_id, range, batch).await
    }

    async fn unaudited_purges(&self, tenant_id: Uuid) -> Result<Vec<(i64, i64)>, StoreError> {
        super::sqlite_retention::unaudited(&self.pool, tenant_id).await
    }

    async fn purged_ranges(&self, tenant_id: Uuid) -> Result<Vec<(i64, i64)>, StoreError> {
        super::sqlite_retention::ranges(&self.pool, tenant_id).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(internal)?;
        Ok(())
    }
}
