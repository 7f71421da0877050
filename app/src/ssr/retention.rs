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
use crate::store::{EntryQuery, Mutation};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

/// What an owner may choose: days, or `None` for unlimited.
pub const CHOICES: [Option<u32>; 4] = [Some(30), Some(90), Some(365), None];
/// Entries deleted per short transaction.
pub const PURGE_BATCH: u32 = 500;
/// The largest "older than" a manual purge takes (100 years).
pub const MAX_MANUAL_DAYS: u32 = 36_500;

fn label(days: Option<u32>) -> String {
    days.map_or_else(|| "unlimited".to_owned(), |d| format!("{d} days"))
}

/// How many entries of a purged range kept their content (the critical ones).
pub async fn kept_in(
    state: &AppState,
    tenant: Uuid,
    (from, to): (i64, i64),
) -> Result<i64, AppError> {
    let upto = |max_seq: i64| EntryQuery {
        tenant_id: Some(tenant),
        max_seq: Some(max_seq),
        ..EntryQuery::default()
    };
    let (through_to, _) = state.store.count(&upto(to), u64::MAX - 1).await?;
    let (before, _) = if from > 1 {
        state.store.count(&upto(from - 1), u64::MAX - 1).await?
    } else {
        (0, true)
    };
    Ok(i64::try_from(through_to.saturating_sub(before)).unwrap_or(0))
}

/// Deletes a recorded range's content, then appends its `audit.purged` entry
/// together with the mark that it was audited (one transaction).
async fn finish_purge(
    state: &AppState,
    tenant: Uuid,
    (from, to): (i64, i64),
    actor: Actor,
    context: Context,
    why: &str,
) -> Result<(), AppError> {
    state
        .store
        .purge_range(tenant, (from, to), PURGE_BATCH)
        .await?;
    let count = to - from + 1;
    let kept = kept_in(state, tenant, (from, to)).await?;
    let description = if kept == 0 {
        format!("Purged the content of {count} entries (seq {from}–{to}): {why}")
    } else {
        format!(
            "Purged the content of {} of {count} entries (seq {from}–{to}), keeping {kept} critical entries: {why}",
            count - kept
        )
    };
    let entry = NewEntry::new(EventType::AuditPurged, actor, description)
        .meta("from_seq", json!(from))
        .meta("to_seq", json!(to))
        .meta("count", json!(count))
        .meta("kept_critical", json!(kept))
        .meta("reason", json!(why))
        .context(context);
    state
        .store
        .commit(
            tenant,
            Mutation::PurgeAudited {
                tenant_id: tenant,
                from_seq: from,
            },
            vec![entry],
        )
        .await?;
    Ok(())
}

/// Purges the tenant's content recorded before `cutoff` and audits it. A range an
/// interrupted purge recorded but did not finish (or did not audit) is finished and
/// audited first. Returns the seq range purged now, all of it (ranges are
/// contiguous from the oldest end), if any.
pub async fn purge_tenant(
    state: &AppState,
    tenant: Uuid,
    cutoff: DateTime<Utc>,
    actor: Actor,
    context: Context,
    why: &str,
) -> Result<Option<(i64, i64)>, AppError> {
    let mut done: Option<(i64, i64)> = None;
    let mut widen = |(a, b): (i64, i64)| {
        done = Some(done.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
    };
    for range in state.store.unaudited_purges(tenant).await? {
        finish_purge(
            state,
            tenant,
            range,
            Actor::system(),
            Context::default(),
            "finishing a purge that was interrupted",
        )
        .await?;
        widen(range);
    }
    if let Some(range) = state.store.record_purge(tenant, cutoff).await? {
        let why = format!(
            "{why}: recorded before {}",
            cutoff.format("%Y-%m-%d %H:%M UTC")
        );
        finish_purge(state, tenant, range, actor, context, &why).await?;
        widen(range);
    }
    Ok(done)
}

/// The daily purge: every tenant with a retention period loses the content older
/// than it. Each tenant is purged on its own: a failure is logged and reported, and
/// the other tenants are still purged.
pub async fn purge_due(state: &AppState) -> Result<super::RoundReport, AppError> {
    super::each_tenant(state, "retention purge", |tenant| async move {
        let Some(days) = state.store.retention_days(tenant.id).await? else {
            return Ok(false);
        };
        let cutoff = state.now() - Duration::days(i64::from(days));
        let purged = purge_tenant(
            state,
            tenant.id,
            cutoff,
            Actor::system(),
            Context::default(),
            &format!("retention of {days} days"),
        )
        .await?;
        Ok(purged.is_some())
    })
    .await
}

pub async fn retention_setting(tenant: Option<String>) -> Result<Option<u32>, AppError> {
    let state = state()?;
    let tenant = super::admin::reading(&state, tenant).await?;
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
    if older_than_days == 0 || older_than_days > MAX_MANUAL_DAYS {
        return Err(AppError::BadRequest(format!(
            "older than must be between 1 and {MAX_MANUAL_DAYS} days"
        )));
    }
    let cutoff = state.now() - Duration::days(i64::from(older_than_days));
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
