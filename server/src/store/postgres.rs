//! The PostgreSQL store: for deployments with several `stele` servers on one
//! database. The append is the core's (`app::ssr::log`) and most queries are the
//! ones SQLite runs (`shared_sql.rs`); what is PostgreSQL's own:
//!
//! - **Per-tenant writers** take a row lock on the tenant's row (`FOR NO KEY
//!   UPDATE`) for the rest of their transaction: tenants append in parallel, each
//!   tenant's seq stays gap-free across every server.
//! - **Partitions**: entries are partitioned by tenant (LIST) and, inside a tenant,
//!   by month of `recorded_at` (RANGE). A tenant's partition is created with the
//!   tenant, a month's on the first append that needs it (under the tenant lock).
//!   The purge detaches and drops whole expired months and deletes rows only from
//!   the month the cutoff falls in.
//! - **Search** uses a generated `tsvector` column with a GIN index; each word of
//!   the query must match as a prefix, like SQLite's FTS5 query.

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
use chrono::{DateTime, Datelike, TimeZone, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

type Db = Postgres;
/// Emails are unique without case (a unique index on `lower(email)`).
const EMAIL_IS: &str = "lower(users.email) = lower($1)";
/// Case-insensitive comparison of a column with a bound value.
const CI_OPEN: &str = "lower(";
const CI_CLOSE: &str = ")";

include!("shared_sql.rs");

/// Up to this many entries, a timeframe's page is read through the time index.
const SMALL_TIMEFRAME: i64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timeframe {
    /// No timeframe (or not paged by seq).
    Whole,
    Small,
    /// Many entries; the seq of the newest (0: none).
    Dense(i64),
}

pub struct PgStore {
    pool: PgPool,
    writer: Arc<Writer>,
    group: GroupCommit,
    clock: Arc<dyn Clock>,
}

/// Opens the write transactions (the tenant's row lock is taken in them).
struct Writer {
    pool: PgPool,
}

impl Writer {
    async fn begin_tx(&self) -> Result<DbTx, StoreError> {
        let tx = self.pool.begin().await.map_err(internal)?;
        Ok(DbTx { tx, hooks: TxHooks })
    }
}

/// The tenant's entries partition (all its months hang below it).
fn tenant_partition(tenant_id: Uuid) -> String {
    format!("entries_t{}", tenant_id.simple())
}

/// The month `[from, to)` (ms) a time falls in, and its partition's name suffix.
fn month_of(t: DateTime<Utc>) -> (String, i64, i64) {
    let start = Utc
        .with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(t);
    let (y, m) = if t.month() == 12 {
        (t.year() + 1, 1)
    } else {
        (t.year(), t.month() + 1)
    };
    let end = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().unwrap_or(t);
    (
        format!("{:04}{:02}", t.year(), t.month()),
        start.timestamp_millis(),
        end.timestamp_millis(),
    )
}

/// Writers lock the tenant's row; months are created on demand.
struct TxHooks;

impl TxHooks {
    async fn lock_tenant(&mut self, conn: &mut Conn, tenant_id: Uuid) -> Result<(), StoreError> {
        lock_tenant_row(conn, tenant_id).await
    }

    async fn before_insert(&mut self, conn: &mut Conn, w: &Written) -> Result<(), StoreError> {
        let mut months: Vec<DateTime<Utc>> = w.entries.iter().map(|e| e.recorded_at).collect();
        months.dedup_by_key(|t| (t.year(), t.month()));
        for t in months {
            ensure_month(conn, w.tenant_id, t).await?;
        }
        Ok(())
    }

    /// A transaction-scoped advisory lock on a name, across every server.
    async fn lock_named(&mut self, conn: &mut Conn, name: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(name)
            .execute(conn)
            .await
            .map_err(internal)?;
        Ok(())
    }
}

async fn lock_tenant_row(conn: &mut Conn, tenant_id: Uuid) -> Result<(), StoreError> {
    sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR NO KEY UPDATE")
        .bind(tenant_id.to_string())
        .fetch_optional(conn)
        .await
        .map_err(internal)?;
    Ok(())
}

/// Creates the tenant's partition of the month `t` falls in, if missing. Runs under
/// the tenant's lock, so two servers never race to create the same month.
pub(super) async fn ensure_month(
    conn: &mut Conn,
    tenant_id: Uuid,
    t: DateTime<Utc>,
) -> Result<(), StoreError> {
    let parent = tenant_partition(tenant_id);
    let (suffix, from, to) = month_of(t);
    let name = format!("{parent}_{suffix}");
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&name)
        .fetch_one(&mut *conn)
        .await
        .map_err(internal)?;
    if !exists {
        // Names and bounds are made here from a UUID and integers, never from input.
        sqlx::query(&format!(
            "CREATE TABLE {name} PARTITION OF {parent} FOR VALUES FROM ({from}) TO ({to})"
        ))
        .execute(conn)
        .await
        .map_err(internal)?;
    }
    Ok(())
}

/// Creates the tenant's LIST partition (sub-partitioned by month).
pub(super) async fn create_tenant_partition(
    conn: &mut sqlx::PgConnection,
    tenant_id: Uuid,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {} PARTITION OF entries FOR VALUES IN ('{}') \
         PARTITION BY RANGE (recorded_at)",
        tenant_partition(tenant_id),
        tenant_id
    ))
    .execute(conn)
    .await
    .map_err(internal)?;
    Ok(())
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) and applies the migrations (under
    /// sqlx's migration lock, so servers starting together migrate once).
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        Self::open_with_clock(url, Arc::new(SystemClock)).await
    }

    pub async fn open_with_clock(url: &str, clock: Arc<dyn Clock>) -> Result<Self, sqlx::Error> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        let writer = Arc::new(Writer { pool: pool.clone() });
        let group = GroupCommit::new(
            writer.clone(),
            clock.clone(),
            Lanes::PerTenant,
            GroupLimits::default(),
        );
        Ok(PgStore {
            pool,
            writer,
            group,
            clock,
        })
    }

    /// How a listing's timeframe is best read: up to [`SMALL_TIMEFRAME`] of the
    /// tenant's entries (counted on the time index, stopping past that) are small;
    /// a larger one is dense, with the seq of its newest entry.
    async fn timeframe(&self, query: &EntryQuery) -> Result<Timeframe, StoreError> {
        let (Some(tenant), Some((from, to))) = (query.tenant_id, time_bounds(&query.filter)) else {
            return Ok(Timeframe::Whole);
        };
        let tenant = tenant.to_string();
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM entries WHERE tenant_id = $1 \
             AND occurred_at >= $2 AND occurred_at < $3 LIMIT $4) AS inside",
        )
        .bind(&tenant)
        .bind(from)
        .bind(to)
        .bind(SMALL_TIMEFRAME + 1)
        .fetch_one(&self.pool)
        .await
        .map_err(internal)?;
        if n <= SMALL_TIMEFRAME {
            return Ok(Timeframe::Small);
        }
        if query.filter.until.is_none() {
            // Open to the present: its newest entries are at the head already.
            return Ok(Timeframe::Whole);
        }
        // `seq + 0` keeps the planner on the time index (walking seq down from the
        // head to find the range is what this avoids).
        let newest: Option<i64> = sqlx::query_scalar(
            "SELECT max(seq + 0) FROM entries WHERE tenant_id = $1 \
             AND occurred_at >= $2 AND occurred_at < $3",
        )
        .bind(&tenant)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await
        .map_err(internal)?;
        Ok(Timeframe::Dense(newest.unwrap_or(0)))
    }

    /// The pool, for tests that play the attacker with raw SQL.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether the database holds no tenant yet (`stele copy` writes only there).
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
            .fetch_one(&self.pool)
            .await
            .map_err(internal)?;
        Ok(n == 0)
    }

    /// The month partitions of a tenant with their bounds, oldest first.
    async fn months(&self, tenant_id: Uuid) -> Result<Vec<(String, i64)>, StoreError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = $1 ORDER BY 1",
        )
        .bind(tenant_partition(tenant_id))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        names
            .into_iter()
            .map(|name| {
                let suffix = name.rsplit('_').next().unwrap_or_default();
                let year: i32 = suffix.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0);
                let month: u32 = suffix.get(4..).and_then(|m| m.parse().ok()).unwrap_or(0);
                let start = Utc
                    .with_ymd_and_hms(year, month, 1, 0, 0, 0)
                    .single()
                    .ok_or_else(|| corrupt("partition name"))?;
                Ok((name, month_of(start).2))
            })
            .collect()
    }
}

/// A free-text search as a `tsquery`: every word must match as a prefix; a word with
/// punctuation inside is a phrase of its parts (`acme-hq` is `acme <-> hq:*`).
/// `None` when the text holds no word at all.
fn ts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .filter_map(|w| {
            let parts: Vec<String> = w
                .split(|c: char| !c.is_alphanumeric())
                .filter(|p| !p.is_empty())
                .map(str::to_lowercase)
                .collect();
            if parts.is_empty() {
                return None;
            }
            Some(format!("{}:*", parts.join(" <-> ")))
        })
        .take(16)
        .collect();
    if words.is_empty() {
        None
    } else {
        Some(words.join(" & "))
    }
}

/// A listing's free words as a `tsquery`, if it has any.
fn search_of(query: &EntryQuery) -> Option<String> {
    query.filter.query().text().and_then(|q| ts_query(&q))
}

/// `FROM … WHERE …` of a listing (after the caller's `SELECT`).
fn push_from_where(
    qb: &mut QueryBuilder<'_, Db>,
    query: &EntryQuery,
    ts: Option<&str>,
    joins: Joins,
) {
    let links = match joins {
        Joins::Links => LINK_JOINS,
        Joins::None => "",
    };
    qb.push(format!(" FROM entries e{links} WHERE 1 = 1"));
    if let Some(ts) = ts {
        qb.push(" AND e.search @@ to_tsquery('simple', ")
            .push_bind(ts.to_owned())
            .push(")");
    }
    if let Some(tenant_id) = query.tenant_id {
        qb.push(" AND e.tenant_id = ")
            .push_bind(tenant_id.to_string());
    }
    let cmp = if query.order == Order::NewestFirst {
        " < "
    } else {
        " > "
    };
    if query.page_by_id || query.tenant_id.is_none() {
        if let Some(id) = query.id_cursor {
            qb.push(" AND e.id").push(cmp).push_bind(id.to_string());
        }
    } else if let Some(seq) = query.cursor {
        qb.push(" AND e.seq").push(cmp).push_bind(seq);
    }
    if let Some(max) = query.max_seq {
        qb.push(" AND e.seq <= ").push_bind(max);
    }
    push_filter(qb, &query.filter, false, query.other_targets);
}

impl_store!(PgStore, {
    async fn create_tenant(&self, slug: &str, name: &str) -> Result<Tenant, StoreError> {
        let tenant = Tenant {
            id: Uuid::now_v7(),
            slug: slug.to_owned(),
            name: name.to_owned(),
        };
        let mut tx = self.pool.begin().await.map_err(internal)?;
        insert_tenant(&mut tx, &tenant, self.clock.now().timestamp_millis()).await?;
        create_tenant_partition(&mut tx, tenant.id).await?;
        tx.commit().await.map_err(internal)?;
        Ok(tenant)
    }

    async fn list(&self, query: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
        let query = &resolved(&self.pool, query).await?;
        let ts = search_of(query);
        let by_seq = !(query.page_by_id || query.tenant_id.is_none());
        let timeframe = match by_seq && ts.is_none() {
            true => self.timeframe(query).await?,
            false => Timeframe::Whole,
        };
        if timeframe == Timeframe::Dense(0) {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Db>::new(format!("SELECT {}", prefixed_columns()));
        push_from_where(&mut qb, query, ts.as_deref(), Joins::Links);
        let key = match timeframe {
            _ if !by_seq => "e.id",
            // A small timeframe is read through the time index and sorted.
            Timeframe::Small => "(e.seq + 0)",
            // A dense one is walked down seq from its newest entry, instead of from
            // the head of the log until the timeframe starts.
            Timeframe::Dense(newest) => {
                qb.push(" AND e.seq <= ").push_bind(newest);
                "e.seq"
            }
            Timeframe::Whole => "e.seq",
        };
        fetch_page(&self.pool, qb, query, key).await
    }

    async fn count(&self, query: &EntryQuery, cap: u64) -> Result<(u64, bool), StoreError> {
        let query = &resolved(&self.pool, query).await?;
        let ts = search_of(query);
        let mut qb = QueryBuilder::<Db>::new("SELECT count(*) FROM (SELECT 1");
        push_from_where(&mut qb, &unpaged(query.clone()), ts.as_deref(), Joins::None);
        capped_count(&self.pool, qb, cap).await
    }

    async fn histogram(
        &self,
        query: &EntryQuery,
        (from, to): (i64, i64),
        bucket: i64,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let query = &unpaged(resolved(&self.pool, query).await?);
        let ts = search_of(query);
        let mut qb = histogram_select(from, bucket);
        push_from_where(&mut qb, query, ts.as_deref(), Joins::None);
        push_span(&mut qb, from, to);
        histogram_rows(&self.pool, qb).await
    }

    async fn facet_sample(
        &self,
        query: &EntryQuery,
        limit: u32,
    ) -> Result<Vec<FacetRow>, StoreError> {
        let query = &unpaged(resolved(&self.pool, query).await?);
        let ts = search_of(query);
        let mut qb = QueryBuilder::<Db>::new(format!("SELECT {FACET_COLUMNS}"));
        push_from_where(&mut qb, query, ts.as_deref(), Joins::None);
        let key = if query.tenant_id.is_some() {
            "e.seq"
        } else {
            "e.id"
        };
        facet_rows(&self.pool, qb, key, limit).await
    }

    /// Whole months whose entries all lie in the range (and that are over, and hold
    /// no critical entry) are detached and dropped; the others lose their
    /// non-critical rows of the range in short batches (the DELETE trigger lets
    /// through only recorded ranges).
    async fn purge_range(
        &self,
        tenant_id: Uuid,
        (from, to): (i64, i64),
        batch: u32,
    ) -> Result<(), StoreError> {
        let parent = tenant_partition(tenant_id);
        let this_month = month_of(self.clock.now()).1;
        let critical_sql = critical_types_sql(&self.catalog(tenant_id).await?);
        for (name, month_end) in self.months(tenant_id).await? {
            let (oldest, newest, critical): (Option<i64>, Option<i64>, i64) =
                sqlx::query_as(&format!(
                    "SELECT min(seq), max(seq), count(*) FILTER (WHERE event_type IN ({critical_sql})) \
                     FROM {name}"
                ))
                .fetch_one(&self.pool)
                .await
                .map_err(internal)?;
            // A month holding critical entries is not dropped: it loses its other rows.
            if newest.is_none_or(|n| n <= to) && month_end <= this_month && critical == 0 {
                // Under the tenant's lock, so no append is writing into it.
                let mut tx = self.pool.begin().await.map_err(internal)?;
                lock_tenant_row(&mut tx, tenant_id).await?;
                sqlx::query(&format!("ALTER TABLE {parent} DETACH PARTITION {name}"))
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                sqlx::query(&format!("DROP TABLE {name}"))
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                tx.commit().await.map_err(internal)?;
                tracing::info!(%tenant_id, partition = %name, "purge: dropped an expired month");
                continue;
            }
            if oldest.is_none_or(|o| o > to) {
                continue;
            }
            let start = from.max(oldest.unwrap_or(from));
            delete_seq_batches(
                &self.pool,
                &name,
                tenant_id,
                (start, to),
                batch,
                &critical_sql,
            )
            .await?;
        }
        purge_entry_targets(&self.pool, tenant_id, (from, to)).await?;
        Ok(())
    }
});
