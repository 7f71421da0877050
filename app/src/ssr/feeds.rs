//! The three feeds, each gated by `require` on the server.

use super::session::{require_session, Session};
use super::{state, AppState};
use crate::api::{
    AppError, EntryDetail, FeedFilter, FeedPage, InstanceView, MasterPage, MasterRow, COUNT_CAP,
    FEED_PAGE_SIZE, MASTER_PAGE_SIZES,
};
use crate::auth::{require, Permission, Scope};
use crate::entry::Tenant;
use crate::store::{EntryQuery, Order};
use std::collections::HashMap;
use uuid::Uuid;

/// The tenant a request is about: the one named (super admins may name any; others
/// only their own, or get 404), else the caller's own.
pub async fn target_tenant(
    state: &AppState,
    session: &Session,
    slug: Option<&str>,
) -> Result<Tenant, AppError> {
    let not_found = || AppError::NotFound("not found".to_owned());
    match slug {
        Some(slug) => {
            let tenant = state
                .store
                .tenant_by_slug(slug)
                .await?
                .ok_or_else(not_found)?;
            if !session.caller.super_admin && session.caller.tenant_id != Some(tenant.id) {
                return Err(not_found());
            }
            Ok(tenant)
        }
        None => match session.caller.tenant_id {
            Some(id) => state.store.tenant_by_id(id).await?.ok_or_else(not_found),
            None => Err(AppError::BadRequest(
                "choose a tenant: platform accounts belong to none".to_owned(),
            )),
        },
    }
}

fn check_cursor(cursor: Option<i64>) -> Result<(), AppError> {
    if cursor.is_some_and(|c| c < 1) {
        return Err(AppError::BadRequest(
            "cursor must be a positive seq".to_owned(),
        ));
    }
    Ok(())
}

async fn page(
    state: &AppState,
    tenant: Tenant,
    filter: FeedFilter,
    cursor: Option<i64>,
) -> Result<FeedPage, AppError> {
    let filter = filter.validated()?;
    super::catalog::check_filter(state, tenant.id, &filter).await?;
    let mut entries = state
        .store
        .list(&EntryQuery {
            tenant_id: Some(tenant.id),
            filter,
            order: Order::NewestFirst,
            cursor,
            limit: FEED_PAGE_SIZE + 1,
            ..EntryQuery::default()
        })
        .await?;
    let next_cursor = if entries.len() > FEED_PAGE_SIZE as usize {
        entries.truncate(FEED_PAGE_SIZE as usize);
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(FeedPage {
        tenant_slug: tenant.slug,
        tenant_name: tenant.name,
        entries,
        next_cursor,
    })
}

pub async fn tenant_feed(
    tenant: Option<String>,
    filter: FeedFilter,
    cursor: Option<i64>,
) -> Result<FeedPage, AppError> {
    let state = state()?;
    check_cursor(cursor)?;
    let session = require_session(&state).await?;
    let tenant = target_tenant(&state, &session, tenant.as_deref()).await?;
    may_read(&state, &session, &tenant, None).await?;
    let tenant_id = tenant.id;
    let answer = page(&state, tenant, filter.clone(), cursor).await?;
    record_view(&state, &session, &[tenant_id], "tenant feed", &filter).await?;
    Ok(answer)
}

/// How long one reading of a view stands for the next ones of the same session.
const VIEW_WINDOW_SECS: i64 = 3_600;

/// Reading the log is itself recorded: `audit.viewed` in each of `logs`, with the
/// view and its filters, at most once per session, view and filters per clock hour
/// (on any number of servers: the hour is claimed through the store, once).
async fn record_view(
    state: &AppState,
    session: &Session,
    logs: &[Uuid],
    view: &str,
    filter: &FeedFilter,
) -> Result<(), AppError> {
    let filters = serde_json::to_value(filter).unwrap_or_default();
    let key = super::secrets::token_hash(&format!("{}|{view}|{filters}", session.id_hash));
    let hour = state.now().timestamp().div_euclid(VIEW_WINDOW_SECS);
    if !state
        .store
        .claim_round(&format!("viewed:{key}"), hour)
        .await?
    {
        return Ok(());
    }
    // Claims of hours gone by can never be claimed again: they go.
    state.store.forget_rounds("viewed:", hour).await?;
    let filtered = filter != &FeedFilter::default();
    for log in logs {
        let entry = crate::entry::NewEntry::new(
            crate::catalog::EventType::AuditViewed,
            session.actor(),
            format!(
                "Viewed the {view}{}",
                if filtered { ", filtered" } else { "" }
            ),
        )
        .meta("view", serde_json::json!(view))
        .meta("filters", filters.clone())
        .context(session.context());
        state.store.append(*log, vec![entry]).await?;
    }
    Ok(())
}

pub async fn instance_feed(
    tenant: Option<String>,
    instance_id: String,
    mut filter: FeedFilter,
    cursor: Option<i64>,
) -> Result<FeedPage, AppError> {
    let state = state()?;
    check_cursor(cursor)?;
    let session = require_session(&state).await?;
    let tenant = target_tenant(&state, &session, tenant.as_deref()).await?;
    may_read(&state, &session, &tenant, Some(&instance_id)).await?;
    filter.instance_id = Some(instance_id);
    page(&state, tenant, filter, cursor).await
}

/// Whether the caller may read the tenant's feed, or with `instance` that instance's
/// (a grant suffices; an instance the tenant never had is not found).
async fn may_read(
    state: &AppState,
    session: &Session,
    tenant: &Tenant,
    instance: Option<&str>,
) -> Result<(), AppError> {
    let Some(id) = instance else {
        return require(
            Some(&session.caller),
            Permission::AuditView,
            Scope::Tenant(tenant.id),
        );
    };
    require(
        Some(&session.caller),
        Permission::AuditView,
        Scope::Instance(tenant.id, id),
    )?;
    let known = state.store.instances(tenant.id).await?;
    if !known.iter().any(|i| i.id == id) {
        return Err(AppError::NotFound("not found".to_owned()));
    }
    Ok(())
}

/// The session of a super admin, who reads across tenants; anyone else is refused.
async fn platform_session(state: &AppState) -> Result<Session, AppError> {
    let session = require_session(state).await?;
    require(
        Some(&session.caller),
        Permission::AuditView,
        Scope::Platform,
    )?;
    Ok(session)
}

/// Every tenant, for a super admin to choose one (the platform's own included).
pub async fn tenants() -> Result<Vec<(String, String)>, AppError> {
    let state = state()?;
    platform_session(&state).await?;
    Ok(state
        .store
        .tenants()
        .await?
        .into_iter()
        .map(|t| (t.slug, t.name))
        .collect())
}

/// The instances whose feeds the caller may read.
pub async fn instances(tenant: Option<String>) -> Result<Vec<InstanceView>, AppError> {
    let state = state()?;
    let session = require_session(&state).await?;
    let tenant = target_tenant(&state, &session, tenant.as_deref()).await?;
    let all = state.store.instances(tenant.id).await?;
    Ok(all
        .into_iter()
        .filter(|i| {
            require(
                Some(&session.caller),
                Permission::AuditView,
                Scope::Instance(tenant.id, &i.id),
            )
            .is_ok()
        })
        .map(|i| InstanceView {
            id: i.id,
            name: i.name,
            deleted: i.deleted,
        })
        .collect())
}

pub async fn master_feed(
    tenant: Option<String>,
    filter: FeedFilter,
    page: u32,
    page_size: u32,
) -> Result<MasterPage, AppError> {
    let state = state()?;
    let session = platform_session(&state).await?;
    if !MASTER_PAGE_SIZES.contains(&page_size) {
        return Err(AppError::BadRequest(format!(
            "page size must be one of {MASTER_PAGE_SIZES:?}"
        )));
    }
    let page = page.max(1);
    let offset = (page - 1)
        .checked_mul(page_size)
        .ok_or_else(|| AppError::BadRequest("page number is too large".to_owned()))?;
    let tenants = state.store.tenants().await?;
    let tenant_id = match tenant.as_deref().filter(|t| !t.is_empty()) {
        Some(slug) => Some(
            tenants
                .iter()
                .find(|t| t.slug == slug)
                .map(|t| t.id)
                .ok_or_else(|| AppError::NotFound(format!("tenant `{slug}` not found")))?,
        ),
        None => None,
    };
    let query = EntryQuery {
        tenant_id,
        filter: filter.validated()?,
        order: Order::NewestFirst,
        page_by_id: true,
        limit: page_size,
        offset,
        ..EntryQuery::default()
    };
    let (total, total_exact) = state.store.count(&query, COUNT_CAP).await?;
    let entries = state.store.list(&query).await?;
    // The platform's log records it, and so does the log of a tenant looked at alone.
    let mut logs = vec![state.platform_tenant];
    logs.extend(tenant_id);
    record_view(&state, &session, &logs, "master view", &query.filter).await?;
    let names: HashMap<Uuid, (String, String)> = tenants
        .iter()
        .map(|t| (t.id, (t.slug.clone(), t.name.clone())))
        .collect();
    Ok(MasterPage {
        tenants: tenants.into_iter().map(|t| (t.slug, t.name)).collect(),
        rows: entries
            .into_iter()
            .map(|entry| {
                let (slug, name) = names.get(&entry.tenant_id).cloned().unwrap_or_default();
                MasterRow {
                    tenant_slug: slug,
                    tenant_name: name,
                    entry,
                }
            })
            .collect(),
        page,
        page_size,
        total,
        total_exact,
    })
}

/// One entry, authorized like the feed it belongs to.
pub async fn entry(id: Uuid) -> Result<EntryDetail, AppError> {
    let state = state()?;
    let session = require_session(&state).await?;
    let not_found = || AppError::NotFound("entry not found".to_owned());
    let entry = state.store.find(id).await?.ok_or_else(not_found)?;
    let scope = match &entry.instance {
        Some(i) => Scope::Instance(entry.tenant_id, &i.id),
        None => Scope::Tenant(entry.tenant_id),
    };
    require(Some(&session.caller), Permission::AuditView, scope)?;
    let tenant = state
        .store
        .tenant_by_id(entry.tenant_id)
        .await?
        .ok_or_else(not_found)?;
    let catalog = state.store.catalog(tenant.id).await?;
    Ok(EntryDetail {
        tenant_slug: tenant.slug,
        tenant_name: tenant.name,
        category_label: catalog.category_label(entry.category()),
        entry,
    })
}

/// A feed's histogram and facets (the tenant feed's, or with `instance_id` an
/// instance's), gated like the feed itself.
pub async fn feed_summary(
    tenant: Option<String>,
    instance_id: Option<String>,
    mut filter: FeedFilter,
) -> Result<crate::api::ViewSummary, AppError> {
    let state = state()?;
    let session = require_session(&state).await?;
    let tenant = target_tenant(&state, &session, tenant.as_deref()).await?;
    may_read(&state, &session, &tenant, instance_id.as_deref()).await?;
    if instance_id.is_some() {
        filter.instance_id = instance_id;
    }
    let filter = filter.validated()?;
    super::catalog::check_filter(&state, tenant.id, &filter).await?;
    let query = EntryQuery {
        tenant_id: Some(tenant.id),
        filter,
        ..EntryQuery::default()
    };
    Ok(summarize(state.store.as_ref(), tenant.id, &query).await?)
}

/// Bucket lengths a histogram may use, shortest first (ms).
const BUCKETS: [i64; 17] = {
    const M: i64 = 60_000;
    const H: i64 = 60 * M;
    const D: i64 = 24 * H;
    [
        M,
        5 * M,
        10 * M,
        15 * M,
        30 * M,
        H,
        2 * H,
        3 * H,
        6 * H,
        12 * H,
        D,
        2 * D,
        7 * D,
        14 * D,
        30 * D,
        90 * D,
        365 * D,
    ]
};

/// At most this many bars.
const MAX_BARS: i64 = 90;

/// The shortest bucket that draws `span` ms in at most [`MAX_BARS`] bars.
pub fn bucket_for(span: i64) -> i64 {
    BUCKETS
        .into_iter()
        .find(|b| span / b < MAX_BARS)
        .unwrap_or(BUCKETS[BUCKETS.len() - 1])
}

/// The view's histogram (over its timeframe; all time runs from the tenant's oldest
/// entry to now) and its facets (top five actors, instances and event types of its
/// newest [`FACET_SAMPLE`](crate::api::FACET_SAMPLE) entries).
pub async fn summarize(
    store: &dyn crate::store::Store,
    tenant: Uuid,
    query: &EntryQuery,
) -> Result<crate::api::ViewSummary, crate::store::StoreError> {
    let now = store.clock().now().timestamp_millis();
    let (since, until) = query.filter.timeframe();
    let from = match since {
        Some(t) => t.timestamp_millis(),
        None => store
            .earliest(tenant)
            .await?
            .unwrap_or(now - 24 * 3_600_000)
            .min(now),
    };
    let to = until
        .map_or(now + 1, |t| t.timestamp_millis())
        .max(from + 1);
    let bucket = bucket_for(to - from);
    let start = from.div_euclid(bucket) * bucket;
    let bars = usize::try_from((to - start + bucket - 1) / bucket).unwrap_or(1);
    let mut counts = vec![0u64; bars.max(1)];
    for (b, n) in store.histogram(query, (start, to), bucket).await? {
        if let Some(slot) = usize::try_from(b).ok().and_then(|i| counts.get_mut(i)) {
            *slot = n;
        }
    }
    let sample = store.facet_sample(query, crate::api::FACET_SAMPLE).await?;
    let mut facets = Vec::new();
    let mut top = |field: &str, keyed: Vec<(String, String)>| {
        let mut all = tally(field, keyed);
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        facets.extend(all.into_iter().take(5));
    };
    top(
        "actor",
        sample
            .iter()
            .map(|r| match (r.actor_kind.as_str(), &r.actor_id) {
                ("system", _) | (_, None) => ("system".to_owned(), "System".to_owned()),
                (_, Some(id)) => (id.clone(), r.actor_label.clone()),
            })
            .collect(),
    );
    if query.filter.instance_id.is_none() {
        top(
            "instance_id",
            sample
                .iter()
                .filter_map(|r| {
                    let id = r.instance_id.clone()?;
                    let name = r.instance_name.clone().unwrap_or_else(|| id.clone());
                    Some((id, name))
                })
                .collect(),
        );
    }
    top(
        "event_type",
        sample
            .iter()
            .map(|r| (r.event_type.clone(), r.event_type.clone()))
            .collect(),
    );
    Ok(crate::api::ViewSummary {
        from: chrono::DateTime::from_timestamp_millis(start).unwrap_or_default(),
        bucket_ms: bucket,
        counts,
        facets,
        sampled: sample.len() as u64,
    })
}

/// How often each `(value, label)` occurs, as facets of `field` (the first label
/// seen names a value), in no order.
fn tally(field: &str, keyed: impl IntoIterator<Item = (String, String)>) -> Vec<crate::api::Facet> {
    let mut counts: HashMap<String, (String, u64)> = HashMap::new();
    for (value, label) in keyed {
        counts.entry(value).or_insert((label, 0)).1 += 1;
    }
    counts
        .into_iter()
        .map(|(value, (label, count))| crate::api::Facet {
            field: field.to_owned(),
            value,
            label,
            count,
        })
        .collect()
}

/// The actors of the tenant's newest entries (by how often they act) and its API
/// keys, as filter choices (`field` is `actor`).
pub async fn actors(tenant: Option<String>) -> Result<Vec<crate::api::Facet>, AppError> {
    let state = state()?;
    let session = require_session(&state).await?;
    let tenant = target_tenant(&state, &session, tenant.as_deref()).await?;
    may_read(&state, &session, &tenant, None).await?;
    let query = EntryQuery {
        tenant_id: Some(tenant.id),
        ..EntryQuery::default()
    };
    let sample = state
        .store
        .facet_sample(&query, crate::api::FACET_SAMPLE)
        .await?;
    let mut all = tally(
        "actor",
        sample
            .iter()
            .filter(|r| r.actor_kind != "system")
            .filter_map(|r| Some((r.actor_id.clone()?, r.actor_label.clone()))),
    );
    // Keys that wrote nothing lately are choices too.
    for key in state.store.api_keys(tenant.id).await? {
        let value = key.id.to_string();
        if !all.iter().any(|f| f.value == value) {
            all.push(crate::api::Facet {
                field: "actor".to_owned(),
                value,
                label: format!("{} (API key)", key.name),
                count: 0,
            });
        }
    }
    all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
    Ok(all)
}
