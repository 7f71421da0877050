//! The SQLite store (WAL mode): Stele's embedded default.
//!
//! Writes run in `BEGIN IMMEDIATE` transactions, which take SQLite's single write
//! lock up front, so two writers (even in two processes) can never read the same
//! chain head; an in-process mutex keeps this process's writers from spinning on
//! `SQLITE_BUSY`. Together they give each tenant a gap-free seq. The append itself
//! is the core's (`app::ssr::log`); the shared queries are in `shared_sql.rs`.

use super::internal;
use app::api::FeedFilter;
use app::auth::Role;
use app::catalog::{Action, CategoryName, TypeName};
use app::checkpoint::Checkpoint;
use app::clock::{Clock, SystemClock};
use app::entry::{
    Actor, ActorKind, Appended, Change, Context, Entry, InstanceRef, NewEntry, Source, SourceKind,
    Target, Tenant,
};
use app::query::{Field, Term};
use app::ssr::group::{GroupCommit, GroupLimits, Lanes};
use app::ssr::log::{KeyRecord, LogTx, TxSource, Written};
use app::store::{
    ApiKeyRecord, AttemptCount, AttemptRules, ChainLink, EntryQuery, FacetRow, InstanceRecord,
    Mutation, Order, SessionRecord, Store, StoreError, UserRecord, MAX_PAGE,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};
use uuid::Uuid;

type Db = Sqlite;
/// Emails are unique and compared without case (the column is `COLLATE NOCASE`).
const EMAIL_IS: &str = "users.email = $1";
/// Case-insensitive comparison of a column with a bound value.
const CI_OPEN: &str = "";
const CI_CLOSE: &str = " COLLATE NOCASE";

include!("shared_sql.rs");

pub struct SqliteStore {
    pool: SqlitePool,
    writer: Arc<Writer>,
    group: GroupCommit,
    dense_range: i64,
    clock: Arc<dyn Clock>,
}

/// Opens the write transactions: this process's writers take turns on a mutex,
/// then `BEGIN IMMEDIATE` takes the file's write lock (against other processes).
struct Writer {
    pool: SqlitePool,
    write_lock: Arc<Mutex<()>>,
}

impl Writer {
    async fn begin_tx(&self) -> Result<DbTx, StoreError> {
        let writer = self.write_lock.clone().lock_owned().await;
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(internal)?;
        Ok(DbTx {
            tx,
            hooks: TxHooks { _writer: writer },
        })
    }
}

/// SQLite serializes every writer: the transaction already holds the write lock.
struct TxHooks {
    _writer: OwnedMutexGuard<()>,
}

impl TxHooks {
    async fn lock_tenant(&mut self, _: &mut Conn, _: Uuid) -> Result<(), StoreError> {
        Ok(())
    }

    async fn before_insert(&mut self, _: &mut Conn, _: &Written) -> Result<(), StoreError> {
        Ok(())
    }

    async fn lock_named(&mut self, _: &mut Conn, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

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
            // Acknowledged means on disk: every commit syncs the write-ahead log; group
            // commit shares that sync between everyone waiting for it.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Purged means gone: deleted content is overwritten, not left in free pages.
            .pragma("secure_delete", "ON")
            // 32 MiB of page cache per connection (SQLite's default is 2 MiB): an
            // append touches the newest leaf of every index, which then stay cached.
            .pragma("cache_size", "-32768");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        let writer = Arc::new(Writer {
            pool: pool.clone(),
            write_lock: Arc::new(Mutex::new(())),
        });
        let group = GroupCommit::new(
            writer.clone(),
            clock.clone(),
            Lanes::One,
            GroupLimits::default(),
        );
        let store = SqliteStore {
            pool,
            writer,
            group,
            dense_range: DENSE_RANGE,
            clock,
        };
        store
            .backfill()
            .await
            .map_err(|e| sqlx::Error::Protocol(format!("integrity backfill failed: {e}")))?;
        Ok(store)
    }

    /// Gives every tenant the Merkle subtrees of its chain links and a verification
    /// token: databases from before those existed (SQLite-only by nature: PostgreSQL
    /// deployments start with them). The subtrees are built as appends build them,
    /// from the stored frontier.
    async fn backfill(&self) -> Result<(), StoreError> {
        let tenants: Vec<String> = sqlx::query_scalar("SELECT id FROM tenants")
            .fetch_all(&self.pool)
            .await
            .map_err(internal)?;
        for tenant in tenants {
            let tenant_id = parse_uuid(&tenant, "tenant id")?;
            let mut t = self.writer.begin_tx().await?;
            // Every block of 16 leaves completes a stored subtree of the lowest kept
            // level, gap-free from the start: the largest index there (read from the
            // primary key without a scan) gives how many leaves the stored tree covers.
            let blocks: i64 = sqlx::query_scalar(
                "SELECT coalesce(max(idx) + 1, 0) FROM merkle_nodes WHERE tenant_id = $1 AND level = $2",
            )
            .bind(&tenant)
            .bind(i64::from(app::merkle::STORED_FROM_LEVEL))
            .fetch_one(&mut *t.tx)
            .await
            .map_err(internal)?;
            let leaves = blocks << app::merkle::STORED_FROM_LEVEL;
            let links: Vec<Vec<u8>> = sqlx::query_scalar(
                "SELECT entry_digest FROM chain_links WHERE tenant_id = $1 AND seq > $2 ORDER BY seq",
            )
            .bind(&tenant)
            .bind(leaves)
            .fetch_all(&mut *t.tx)
            .await
            .map_err(internal)?;
            if !links.is_empty() {
                let size = db_u64(leaves, "merkle leaf count")?;
                let mut frontier = app::ssr::log::frontier(&mut t, tenant_id, size).await?;
                let mut written = Written {
                    tenant_id,
                    ..Written::default()
                };
                for digest in &links {
                    let digest = to_hash(digest)?;
                    written
                        .nodes
                        .extend(frontier.push(app::merkle::leaf_hash(&digest)));
                }
                // Up to 15 newest leaves complete no stored subtree: nothing to do.
                if written
                    .nodes
                    .iter()
                    .any(|(level, _, _)| app::merkle::is_stored(*level))
                {
                    insert_written(&mut t.tx, &written).await?;
                    tracing::info!(%tenant, leaves = links.len(), "built the Merkle tree of existing entries");
                }
            }
            sqlx::query(
                "UPDATE tenants SET verification_token = $1 WHERE id = $2 AND verification_token IS NULL",
            )
            .bind(app::ssr::secrets::random_token())
            .bind(&tenant)
            .execute(&mut *t.tx)
            .await
            .map_err(internal)?;
            t.tx.commit().await.map_err(internal)?;
        }
        Ok(())
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
        "{{description event_type instance_name actor_label targets changes}} : ({})",
        words.join(" AND ")
    );
    Some(match tenant {
        Some(t) => format!("scope : t{} AND {terms}", t.simple()),
        None => terms,
    })
}

/// A listing's free words as an FTS5 match, if it has any.
fn search_of(query: &EntryQuery) -> Option<String> {
    query
        .filter
        .query()
        .text()
        .and_then(|q| fts_query(&q, query.tenant_id))
}

/// `FROM … WHERE …` of a listing (after the caller's `SELECT`): the FTS join when
/// searching, the tenant, the filters and the keyset cursor.
fn push_from_where(
    qb: &mut QueryBuilder<'_, Sqlite>,
    query: &EntryQuery,
    fts: Option<&str>,
    seq_bound: Option<i64>,
    joins: Joins,
) {
    let links = match joins {
        Joins::Links => LINK_JOINS,
        Joins::None => "",
    };
    match fts {
        Some(m) => {
            qb.push(format!(
                " FROM entries_fts f CROSS JOIN entries e ON e.rowid = f.rowid{links} \
                 WHERE entries_fts MATCH "
            ))
            .push_bind(m.to_owned());
        }
        None => {
            qb.push(format!(" FROM entries e{links} WHERE 1 = 1"));
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
    push_filter(qb, &query.filter, seq_bound.is_some(), query.other_targets);
}

impl SqliteStore {
    /// Where a newest-first walk of a dense timeframe starts ([`Self::dense_range_head`]);
    /// `None` for a search, the master view or a sparse timeframe.
    async fn seq_bound(
        &self,
        query: &EntryQuery,
        fts: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        Ok(match (fts, query.tenant_id, time_bounds(&query.filter)) {
            (None, Some(tenant), Some(range)) if !query.page_by_id => {
                self.dense_range_head(tenant, range).await?
            }
            _ => None,
        })
    }

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
        // A timeframe open towards now ("last 90 days") holds the newest entries:
        // walk down from the head, without finding the range's newest entry first
        // (that reads every entry of the range in the time index).
        if to == i64::MAX {
            return Ok(Some(i64::MAX));
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

impl_store!(SqliteStore, {
    async fn create_tenant(&self, slug: &str, name: &str) -> Result<Tenant, StoreError> {
        let tenant = Tenant {
            id: Uuid::now_v7(),
            slug: slug.to_owned(),
            name: name.to_owned(),
        };
        let mut conn = self.pool.acquire().await.map_err(internal)?;
        insert_tenant(&mut conn, &tenant, self.now_ms()).await?;
        Ok(tenant)
    }

    async fn list(&self, query: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
        let query = &resolved(&self.pool, query).await?;
        let fts = search_of(query);
        let seq_bound = self.seq_bound(query, fts.as_deref()).await?;
        if seq_bound == Some(0) {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {}", prefixed_columns()));
        push_from_where(&mut qb, query, fts.as_deref(), seq_bound, Joins::Links);
        let key = match (&fts, query.page_by_id || query.tenant_id.is_none()) {
            (Some(_), _) => "f.rowid",
            (None, true) => "e.id",
            (None, false) => "e.seq",
        };
        fetch_page(&self.pool, qb, query, key).await
    }

    async fn count(&self, query: &EntryQuery, cap: u64) -> Result<(u64, bool), StoreError> {
        let query = &unpaged(resolved(&self.pool, query).await?);
        let fts = search_of(query);
        let search_only = FeedFilter {
            q: query.filter.q.clone(),
            ..FeedFilter::default()
        };
        let qb = match &fts {
            // A search alone is counted in the FTS index, without reading entries.
            Some(m) if query.filter == search_only && query.filter.query().terms.is_empty() => {
                let mut qb = QueryBuilder::<Sqlite>::new(
                    "SELECT count(*) FROM (SELECT 1 FROM entries_fts WHERE entries_fts MATCH ",
                );
                qb.push_bind(m.clone());
                qb
            }
            _ => {
                let mut qb = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM (SELECT 1");
                push_from_where(&mut qb, query, fts.as_deref(), None, Joins::None);
                qb
            }
        };
        capped_count(&self.pool, qb, cap).await
    }

    async fn histogram(
        &self,
        query: &EntryQuery,
        (from, to): (i64, i64),
        bucket: i64,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let query = &unpaged(resolved(&self.pool, query).await?);
        let fts = search_of(query);
        let mut qb = histogram_select(from, bucket);
        push_from_where(&mut qb, query, fts.as_deref(), None, Joins::None);
        push_span(&mut qb, from, to);
        histogram_rows(&self.pool, qb).await
    }

    async fn facet_sample(
        &self,
        query: &EntryQuery,
        limit: u32,
    ) -> Result<Vec<FacetRow>, StoreError> {
        let query = &unpaged(resolved(&self.pool, query).await?);
        let fts = search_of(query);
        // Newest first by seq, as a listing walks it (a dense timeframe from its head).
        let seq_bound = self.seq_bound(query, fts.as_deref()).await?;
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {FACET_COLUMNS}"));
        push_from_where(&mut qb, query, fts.as_deref(), seq_bound, Joins::None);
        let key = match (&fts, query.tenant_id) {
            (Some(_), _) => "f.rowid",
            (None, Some(_)) => "e.seq",
            (None, None) => "e.id",
        };
        facet_rows(&self.pool, qb, key, limit).await
    }

    async fn purge_range(
        &self,
        tenant_id: Uuid,
        range: (i64, i64),
        batch: u32,
    ) -> Result<(), StoreError> {
        let catalog = self.catalog(tenant_id).await?;
        let critical = critical_types_sql(&catalog);
        delete_seq_batches(&self.pool, "entries", tenant_id, range, batch, &critical).await?;
        purge_entry_targets(&self.pool, tenant_id, range).await?;
        super::sqlite_retention::merge_search_index(&self.pool).await?;
        super::sqlite_retention::truncate_wal(&self.pool, tenant_id).await
    }
});
