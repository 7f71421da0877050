//! Moving a deployment: copies a SQLite database into an empty PostgreSQL one,
//! table by table and row for row (entries with their chain, links, Merkle
//! subtrees, entry targets, checkpoints, purge records, idempotency keys, accounts,
//! sessions and settings, the tenants' catalogs), then verifies the destination end to end before it reports success.
//! Throttling state and claimed job rounds are per moment, not per deployment, and
//! are not copied.

use super::{internal, PgStore, SqliteStore};
use app::store::{Store, StoreError};
use chrono::DateTime;
use futures::TryStreamExt;
use sqlx::{Postgres, QueryBuilder, Row};
use std::collections::HashSet;
use uuid::Uuid;

/// In foreign-key order. Both schemas name these tables and columns alike.
const TABLES: &[&str] = &[
    "tenants",
    "users",
    "instances",
    "instance_grants",
    "sessions",
    "password_tokens",
    "api_keys",
    "entries",
    "entry_targets",
    "chain_links",
    "merkle_nodes",
    "checkpoints",
    "purged_ranges",
    "purge_audits",
    "idempotency_keys",
];

/// Rows per INSERT statement.
const CHUNK: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Bytes,
}

#[derive(Debug)]
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// What was copied and checked.
#[derive(Debug, Default)]
pub struct CopyReport {
    pub rows: Vec<(&'static str, u64)>,
    pub tenants: usize,
    pub entries_verified: u64,
    pub checkpoints_verified: usize,
}

/// The destination's columns of a table (generated ones excluded) and their kinds.
async fn columns(pg: &sqlx::PgPool, table: &str) -> Result<Vec<(String, Kind)>, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER' \
         ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(pg)
    .await
    .map_err(internal)?;
    rows.into_iter()
        .map(|(name, ty)| {
            let kind = match ty.as_str() {
                "bigint" | "integer" => Kind::Int,
                "text" => Kind::Text,
                "bytea" => Kind::Bytes,
                other => {
                    return Err(StoreError::Internal(
                        format!("copy: column {table}.{name} has unexpected type {other}").into(),
                    ))
                }
            };
            Ok((name, kind))
        })
        .collect()
}

async fn insert_chunk(
    conn: &mut sqlx::PgConnection,
    table: &str,
    cols: &[(String, Kind)],
    rows: &[Vec<Value>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
    let mut qb =
        QueryBuilder::<Postgres>::new(format!("INSERT INTO {table} ({}) ", names.join(", ")));
    qb.push_values(rows, |mut b, row| {
        for v in row {
            match v {
                Value::Int(x) => b.push_bind(*x),
                Value::Text(x) => b.push_bind(x.clone()),
                Value::Bytes(x) => b.push_bind(x.clone()),
            };
        }
    });
    qb.build().execute(conn).await.map_err(internal)?;
    Ok(())
}

/// Copies `from` (SQLite) into `to` (an empty PostgreSQL database), then verifies
/// every tenant of the destination with `keys` (the signing key's public half and
/// any earlier ones) and compares it with the source.
pub async fn sqlite_to_postgres(
    from: &SqliteStore,
    to: &PgStore,
    keys: &[ed25519_dalek::VerifyingKey],
) -> Result<CopyReport, StoreError> {
    let pg = to.pool();
    for table in ["tenants", "users"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(pg)
            .await
            .map_err(internal)?;
        if n > 0 {
            return Err(StoreError::Conflict(format!(
                "the destination is not empty ({table} holds {n} rows): copy only into a new database"
            )));
        }
    }
    let mut report = CopyReport::default();
    let mut tx = pg.begin().await.map_err(internal)?;
    let mut months: HashSet<(String, String)> = HashSet::new();
    for &table in TABLES {
        let cols = columns(pg, table).await?;
        let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
        let sql = format!("SELECT {} FROM {table}", names.join(", "));
        let mut stream = sqlx::query(&sql).fetch(from.pool());
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut copied = 0u64;
        while let Some(row) = stream.try_next().await.map_err(internal)? {
            let mut values = Vec::with_capacity(cols.len());
            for (i, (_, kind)) in cols.iter().enumerate() {
                values.push(match kind {
                    Kind::Int => Value::Int(row.try_get(i).map_err(internal)?),
                    Kind::Text => Value::Text(row.try_get(i).map_err(internal)?),
                    Kind::Bytes => Value::Bytes(row.try_get(i).map_err(internal)?),
                });
            }
            if table == "tenants" {
                let id: String = row.try_get(0).map_err(internal)?;
                let id = Uuid::parse_str(&id).map_err(internal)?;
                // The tenant's row first: its partition is created below, after it.
                insert_chunk(&mut tx, table, &cols, &[values]).await?;
                super::postgres::create_tenant_partition(&mut tx, id).await?;
                copied += 1;
                continue;
            }
            if table == "entries" {
                let tenant: String = row.try_get("tenant_id").map_err(internal)?;
                let recorded: i64 = row.try_get("recorded_at").map_err(internal)?;
                let at = DateTime::from_timestamp_millis(recorded)
                    .ok_or_else(|| StoreError::Invalid(format!("stored time {recorded}")))?;
                let month = at.format("%Y%m").to_string();
                if months.insert((tenant.clone(), month)) {
                    let id = Uuid::parse_str(&tenant).map_err(internal)?;
                    super::postgres::ensure_month(&mut tx, id, at).await?;
                }
            }
            chunk.push(values);
            if chunk.len() == CHUNK {
                insert_chunk(&mut tx, table, &cols, &chunk).await?;
                copied += chunk.len() as u64;
                chunk.clear();
            }
        }
        insert_chunk(&mut tx, table, &cols, &chunk).await?;
        copied += chunk.len() as u64;
        tracing::info!(table, rows = copied, "copied");
        report.rows.push((table, copied));
    }
    tx.commit().await.map_err(internal)?;

    // End to end: the destination must verify on its own, and say what the source says.
    for tenant in from.tenants().await? {
        let dest = to.tenant_by_id(tenant.id).await?.ok_or_else(|| {
            StoreError::Internal(format!("tenant {} missing", tenant.slug).into())
        })?;
        let v = app::ssr::integrity::verify_log(to, dest.id, keys)
            .await
            .map_err(|e| StoreError::Invalid(format!("verifying `{}`: {e}", tenant.slug)))?;
        if !v.ok {
            return Err(StoreError::Invalid(format!(
                "the copy of tenant `{}` does not verify: {} (at seq {:?}); the destination is not usable, drop it",
                tenant.slug,
                v.reason.unwrap_or_default(),
                v.broken_seq
            )));
        }
        let same = from.head(tenant.id).await? == to.head(tenant.id).await?
            && from.checkpoints(tenant.id).await? == to.checkpoints(tenant.id).await?
            && from.purged_ranges(tenant.id).await? == to.purged_ranges(tenant.id).await?
            && from.users_of(tenant.id).await? == to.users_of(tenant.id).await?
            && from.api_keys(tenant.id).await? == to.api_keys(tenant.id).await?
            && from.sensitive_fields(tenant.id).await? == to.sensitive_fields(tenant.id).await?
            && from.retention_days(tenant.id).await? == to.retention_days(tenant.id).await?
            && from.catalog(tenant.id).await? == to.catalog(tenant.id).await?;
        if !same {
            return Err(StoreError::Invalid(format!(
                "the copy of tenant `{}` differs from its source; the destination is not usable, drop it",
                tenant.slug
            )));
        }
        report.tenants += 1;
        report.entries_verified += v.entries;
        report.checkpoints_verified += v.checkpoints_checked;
    }
    Ok(report)
}
