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
    require(
        Some(&session.caller),
        Permission::AuditView,
        Scope::Tenant(tenant.id),
    )?;
    page(&state, tenant, filter, cursor).await
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
    require(
        Some(&session.caller),
        Permission::AuditView,
        Scope::Instance(tenant.id, &instance_id),
    )?;
    let known = state.store.instances(tenant.id).await?;
    if !known.iter().any(|i| i.id == instance_id) {
        return Err(AppError::NotFound("not found".to_owned()));
    }
    filter.instance_id = Some(instance_id);
    page(&state, tenant, filter, cursor).await
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
    let session = require_session(&state).await?;
    require(
        Some(&session.caller),
        Permission::AuditView,
        Scope::Platform,
    )?;
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
