//! Retention: each tenant keeps content 30, 90 or 365 days (default) or forever. The
//! daily purge and a super admin's manual purge both go through [`purge_tenant`],
//! which removes content from the oldest end (the store's one deletion path) and
//! appends `audit.purged` with the range and count. Chain links stay.

use super::session::require_session;
use super::state;
use super::AppState;
use crate::api::{AppError, PurgeOutcome};
use crate::auth::{require, Permission, Role, Scope};
use crate::catalog::EventType;
use crate::entry::{Actor, Context, NewEntry};
use crate::store::Mutation;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

/// What an owner may choose: days, or `None` for unlimited.
pub const CHOICES: [Option<u32>; 4] = [Some(30), Some(90), Some(365), None];
/// Entries deleted per short transaction.
pub const PURGE_BATCH: u32 = 500;

fn label(days: Option<u32>) -> String {
    days.map_or_else(|| "unlimited".to_owned(), |d| format!("{d} days"))
}

/// Purges the tenant's content recorded before `cutoff` and audits it.
pub async fn purge_tenant(
    state: &AppState,
    tenant: Uuid,
    cutoff: DateTime<Utc>,
    actor: Actor,
    context: Context,
    why: &str,
) -> Result<Option<(i64, i64)>, AppError> {
    let Some((from, to)) = state
        .store
        .purge_before(tenant, cutoff, PURGE_BATCH)
        .await?
    else {
        return Ok(None);
    };
    let count = to - from + 1;
    let entry = NewEntry::new(
        EventType::AuditPurged,
        actor,
        format!(
            "Purged the content of {count} entries (seq {from}–{to}) recorded before {}",
            cutoff.format("%Y-%m-%d %H:%M UTC")
        ),
    )
    .meta("from_seq", json!(from))
    .meta("to_seq", json!(to))
    .meta("count", json!(count))
    .meta("cutoff", json!(crate::canonical::format_time(&cutoff)))
    .meta("reason", json!(why))
    .context(context);
    state.store.append(tenant, vec![entry]).await?;
    Ok(Some((from, to)))
}

/// The daily purge: every tenant with a retention period loses the content older
/// than it. Returns how many tenants were purged.
pub async fn purge_due(state: &AppState) -> Result<usize, AppError> {
    let mut purged = 0;
    for tenant in state.store.tenants().await? {
        let Some(days) = state.store.retention_days(tenant.id).await? else {
            continue;
        };
        let cutoff = Utc::now() - Duration::days(i64::from(days));
        let why = format!("retention of {days} days");
        if purge_tenant(
            state,
            tenant.id,
            cutoff,
            Actor::system(),
            Context::default(),
            &why,
        )
        .await?
        .is_some()
        {
            purged += 1;
        }
    }
    Ok(purged)
}

pub async fn retention_setting() -> Result<Option<u32>, AppError> {
    let state = state()?;
    let (_, tenant) = super::admin::managing(&state).await?;
    Ok(state.store.retention_days(tenant).await?)
}

pub async fn set_retention(days: Option<u32>) -> Result<Option<u32>, AppError> {
    let state = state()?;
    let (session, tenant) = super::admin::managing(&state).await?;
    if session.caller.role != Some(Role::Owner) {
        return Err(AppError::Forbidden(
            "forbidden: only owners change the tenant's retention".to_owned(),
        ));
    }
    if !CHOICES.contains(&days) {
        return Err(AppError::BadRequest(
            "retention must be 30, 90 or 365 days, or unlimited".to_owned(),
        ));
    }
    let before = state.store.retention_days(tenant).await?;
    if before == days {
        return Ok(days);
    }
    let entry = NewEntry::new(
        EventType::TenantSettingsChanged,
        session.actor(),
        format!(
            "Changed retention from {} to {}",
            label(before),
            label(days)
        ),
    )
    .target("tenant", tenant.to_string(), None)
    .change("retention_days", Some(json!(before)), Some(json!(days)))
    .context(session.context());
    state
        .store
        .commit(
            tenant,
            Mutation::SetRetention {
                tenant_id: tenant,
                days,
            },
            vec![entry],
        )
        .await?;
    Ok(days)
}

/// A super admin's "purge older than X days", confirmed by typing the tenant's slug.
pub async fn manual_purge(
    tenant: String,
    older_than_days: u32,
    confirm: String,
) -> Result<PurgeOutcome, AppError> {
    let state = state()?;
    let session = require_session(&state).await?;
    require(
        Some(&session.caller),
        Permission::AuditPurge,
        Scope::Platform,
    )?;
    let t = state
        .store
        .tenant_by_slug(&tenant)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("tenant `{tenant}` not found")))?;
    if confirm.trim() != t.slug {
        return Err(AppError::BadRequest(format!(
            "to confirm, type the tenant's slug `{}` exactly",
            t.slug
        )));
    }
    if older_than_days == 0 {
        return Err(AppError::BadRequest(
            "older than must be at least 1 day".to_owned(),
        ));
    }
    let cutoff = Utc::now() - Duration::days(i64::from(older_than_days));
    let range = purge_tenant(
        &state,
        t.id,
        cutoff,
        session.actor(),
        session.context(),
        &format!("manual purge of entries older than {older_than_days} days"),
    )
    .await?;
    Ok(PurgeOutcome {
        from_seq: range.map(|r| r.0),
        to_seq: range.map(|r| r.1),
        count: range.map_or(0, |(a, b)| u64::try_from(b - a + 1).unwrap_or(0)),
    })
}
