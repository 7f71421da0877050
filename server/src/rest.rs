//! The REST API for producer systems and SIEM pipelines (SPEC "Ingestion API"):
//! `POST /api/v1/events`, `GET /api/v1/events?after_seq=N`, and the OpenAPI document
//! at `/api/v1/openapi.json`, generated from the types and handlers below.
//!
//! Callers authenticate with a tenant API key (`Authorization: Bearer …`); the key
//! decides the tenant, and [`app::auth::require`] decides what it may do.

use crate::ingest::{self, FieldError, Known, RequestError};
use app::api::{AppError, FeedFilter};
use app::auth::{require, Caller, Permission, Scope};
use app::entry::{Actor, Context, Entry};
use app::ssr::secrets::token_hash;
use app::ssr::AppState;
use app::store::{ApiKeyRecord, EntryQuery, Order, MAX_PAGE};
use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::header::{AUTHORIZATION, USER_AGENT, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use uuid::Uuid;

/// Every error of the REST API has this shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code, e.g. `too_many_events`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

/// A REST error: its status and body.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            message: message.into(),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        ApiError::new(e.status, e.code, e.message)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let code = match &e {
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::BadRequest(_) => "bad_request",
            AppError::TooManyRequests(_) => "too_many_requests",
            AppError::Conflict(_) => "conflict",
            AppError::Internal | AppError::Transport(_) => "internal",
        };
        ApiError::new(e.status(), code, e.to_string())
    }
}

impl From<app::store::StoreError> for ApiError {
    fn from(e: app::store::StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The API key of the request: known, not revoked. Anything else answers 401.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Caller, ApiKeyRecord), ApiError> {
    let unauthorized = |code, message: &str| ApiError::new(401, code, message);
    let value = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            unauthorized(
                "missing_api_key",
                "send a tenant API key as `Authorization: Bearer <key>`",
            )
        })?;
    let secret = value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            unauthorized(
                "missing_api_key",
                "the Authorization header must be `Bearer <key>`",
            )
        })?;
    let key = state
        .store
        .api_key_by_hash(&token_hash(secret))
        .await?
        .ok_or_else(|| unauthorized("invalid_api_key", "this API key is not valid"))?;
    if key.revoked {
        return Err(unauthorized("revoked_api_key", "this API key was revoked"));
    }
    let caller = Caller::api_key(key.id, &key.name, key.tenant_id, key.scopes.clone());
    Ok((caller, key))
}

// ---- POST /api/v1/events -------------------------------------------------------

/// One event, as a producer sends it. Only `event_type` and `description` are
/// required.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation only: events are validated field by field in `ingest`
pub struct EventIn {
    /// A dotted name from Stele's catalog, a switched-on pack (`host.create`,
    /// `byok.kms.rotate`) or the tenant's own types (`custom.…`), e.g. `extension.updated`.
    #[schema(example = "extension.updated")]
    event_type: String,
    /// A human-readable sentence (at most 2,000 characters).
    #[schema(example = "Renamed extension 101 to Front Desk")]
    description: String,
    /// Who did it: a user, or `"system"`. Default: the API key itself. Events no
    /// person causes (`alert.auto_resolved`, `service.auto_restarted`) are always by System.
    actor: Option<ActorIn>,
    /// The PBX instance; `name` may be left out for an instance Stele knows.
    instance: Option<InstanceIn>,
    /// The thing changed.
    target: Option<TargetIn>,
    /// Several things it touches (at most 20), instead of `target`: the first is the
    /// main one; the target filters match any of them.
    targets: Option<Vec<TargetIn>>,
    /// The state before; Stele computes `changes` from `before` and `after`.
    #[schema(value_type = Option<Object>)]
    before: Option<serde_json::Value>,
    /// The state after.
    #[schema(value_type = Option<Object>)]
    after: Option<serde_json::Value>,
    /// Explicit changes, instead of before/after.
    changes: Option<Vec<ChangeDoc>>,
    /// A JSON object. For `config.parameter_pushed`: `parameter`, `value`,
    /// `previous_value` (absent when created); Stele adds `outcome` (created or changed).
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    /// When it happened (RFC 3339); default: when Stele records it.
    #[schema(example = "2026-11-23T09:30:00Z", format = DateTime)]
    occurred_at: Option<String>,
    /// Where the original action came from; default: this request's IP and user agent.
    context: Option<ContextDoc>,
    /// A retry with the same key returns the original entry and writes nothing.
    idempotency_key: Option<String>,
}

/// `{"kind": "user", "id": …, "name"?, "email"?, "label"?}` or `{"kind": "system"}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ActorIn {
    /// `user` (default) or `system`.
    kind: Option<String>,
    /// The user's id in the producer's system (required for users).
    id: Option<String>,
    name: Option<String>,
    email: Option<String>,
    /// Overrides the label Stele derives: `Name <email>`, else email, else name, else id.
    label: Option<String>,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct InstanceIn {
    id: String,
    name: Option<String>,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TargetIn {
    /// e.g. `extension`, `trunk`, `user`.
    kind: String,
    id: String,
    name: Option<String>,
}

/// One changed field, by path (`sip.codec`, `extensions[id=101].name`, `codecs[0]`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ChangeDoc {
    path: String,
    /// Absent when the field was created.
    #[schema(value_type = Option<Object>)]
    old: Option<serde_json::Value>,
    /// Absent when the field was removed.
    #[schema(value_type = Option<Object>)]
    new: Option<serde_json::Value>,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ContextDoc {
    ip: Option<String>,
    user_agent: Option<String>,
    session_id: Option<String>,
    request_id: Option<String>,
}

/// A batch: at most 1,000 events and 1 MiB. One event object, or a bare array of
/// events, is accepted too.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct BatchIn {
    events: Vec<EventIn>,
}

/// What happened to each event of the request, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResponse {
    /// Events written now.
    pub accepted: usize,
    /// Events whose idempotency key was used before: nothing was written.
    pub replayed: usize,
    /// Events refused; nothing of theirs was written.
    pub rejected: usize,
    pub results: Vec<EventResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventResult {
    /// The event's position in the request, from 0.
    pub index: usize,
    /// `created`, `replayed` or `rejected`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// The entry's chain hash (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Why it was refused: one error per field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

fn request_context(req: &Request) -> Context {
    let header = |name: axum::http::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(|s| s.chars().take(512).collect::<String>())
    };
    Context {
        ip: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        user_agent: header(USER_AGENT),
        session_id: None,
        request_id: header(axum::http::HeaderName::from_static("x-request-id")),
    }
}

/// Appends events. Invalid events are refused with their errors; the valid ones of
/// the batch commit atomically.
#[utoipa::path(
    post,
    path = "/api/v1/events",
    tag = "events",
    request_body(content = BatchIn, description = "A batch `{\"events\": [...]}`, a bare array of events, or one event object"),
    responses(
        (status = 200, description = "Every event was written (or replayed)", body = IngestResponse),
        (status = 207, description = "Some events were refused; the others were written in one transaction", body = IngestResponse),
        (status = 422, description = "Every event was refused; nothing was written", body = IngestResponse),
        (status = 400, description = "Malformed JSON, nesting deeper than 32, an empty batch, or an unknown top-level field; nothing was written", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "The key lacks the `events:write` scope", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB or more than 1,000 events; nothing was written", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn post_events(State(state): State<AppState>, req: Request) -> Response {
    match ingest_request(&state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn ingest_request(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let (caller, key) = authenticate(state, req.headers()).await?;
    require(
        Some(&caller),
        Permission::EventsWrite,
        Scope::Tenant(key.tenant_id),
    )?;
    let context = request_context(&req);
    let body: Body = req.into_body();
    let bytes = to_bytes(body, ingest::MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::new(
            413,
            "body_too_large",
            format!(
                "the request body exceeds the limit of {} bytes (1 MiB)",
                ingest::MAX_BODY_BYTES
            ),
        )
    })?;
    let events = ingest::parse_request(&bytes)?;

    // The registry is read only for events that leave an instance's name out.
    let instances: HashMap<String, String> = if ingest::needs_instance_names(&events) {
        state
            .store
            .instances(key.tenant_id)
            .await?
            .into_iter()
            .map(|i| (i.id, i.name))
            .collect()
    } else {
        HashMap::new()
    };
    let key_actor = Actor::api_key(key.id.to_string(), &key.name);
    let mut stele_users = std::collections::HashSet::new();
    for id in ingest::actor_ids(&events) {
        if let Ok(uuid) = Uuid::parse_str(&id) {
            if state.store.user_by_id(uuid).await?.is_some() {
                stele_users.insert(id);
            }
        }
    }
    // So is the catalog, for events whose type is not built in.
    let catalog = if ingest::needs_catalog(&events) {
        state.store.catalog(key.tenant_id).await?
    } else {
        app::catalog::TenantCatalog::default()
    };
    let schemas = ingest::schemas_for(&events, &catalog);
    let known = Known {
        catalog: &catalog,
        schemas: &schemas,
        stele_users: &stele_users,
        instances: &instances,
        key_actor: &key_actor,
        request_context: &context,
        now: state.now(),
    };
    let mut results = Vec::with_capacity(events.len());
    let mut valid = Vec::new();
    let scope = key.id.to_string();
    for (index, event) in events.iter().enumerate() {
        match ingest::validate_event(event, &known) {
            Ok(mut entry) => {
                entry.source = app::entry::Source::api_key(key.id.to_string(), &key.name);
                if entry.idempotency_key.is_some() {
                    use sha2::Digest;
                    entry.idempotency_scope = Some(scope.clone());
                    entry.request_hash = Some(hex::encode(sha2::Sha256::digest(
                        app::canonical::jcs(event).as_bytes(),
                    )));
                }
                valid.push((index, entry));
                results.push(None);
            }
            Err(errors) => results.push(Some(EventResult {
                index,
                status: "rejected".to_owned(),
                id: None,
                seq: None,
                hash: None,
                errors,
            })),
        }
    }
    let (indexes, batch): (Vec<usize>, Vec<_>) = valid.into_iter().unzip();
    let appended = match state.store.append(key.tenant_id, batch).await {
        Err(app::store::StoreError::Conflict(message)) => {
            return Err(ApiError::new(409, "idempotency_conflict", message));
        }
        other => other?,
    };
    for (index, a) in indexes.into_iter().zip(appended) {
        results[index] = Some(EventResult {
            index,
            status: if a.replayed { "replayed" } else { "created" }.to_owned(),
            id: Some(a.id),
            seq: Some(a.seq),
            hash: Some(a.hash),
            errors: Vec::new(),
        });
    }
    let results: Vec<EventResult> = results.into_iter().flatten().collect();
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    let response = IngestResponse {
        accepted: count("created"),
        replayed: count("replayed"),
        rejected: count("rejected"),
        results,
    };
    let status = match (response.rejected, response.results.len()) {
        (0, _) => StatusCode::OK,
        (r, n) if r == n => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::MULTI_STATUS,
    };
    if response.accepted > 0 {
        tracing::info!(
            tenant = %key.tenant_id,
            key = %key.id,
            accepted = response.accepted,
            rejected = response.rejected,
            "ingested events"
        );
    }
    Ok((status, Json(response)).into_response())
}

// ---- GET /api/v1/events ----------------------------------------------------------

/// An entry as stored, with its chain fields.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation of `app::entry::Entry`'s JSON; a test keeps them equal
pub struct EntryDoc {
    id: Uuid,
    tenant_id: Uuid,
    /// Per-tenant position, 1, 2, 3 … without gaps.
    seq: i64,
    #[schema(format = DateTime)]
    recorded_at: String,
    #[schema(format = DateTime)]
    occurred_at: String,
    event_type: String,
    /// The type's category when the entry was written (not hashed).
    category: String,
    /// The type's action when the entry was written (not hashed).
    action: String,
    description: String,
    /// `{kind: user|system|api_key, id, label}`
    #[schema(value_type = Object)]
    actor: serde_json::Value,
    /// `{id, name}` snapshotted at write time, or null.
    #[schema(value_type = Option<Object>)]
    instance: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    target: Option<serde_json::Value>,
    /// More `{kind, id, name}` the entry touches (hashed when not empty).
    #[schema(value_type = Vec<Object>)]
    other_targets: Vec<serde_json::Value>,
    changes: Vec<ChangeDoc>,
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
    context: ContextDoc,
    /// The canonical form's version the entry was sealed with (1 or 2).
    v: u64,
    /// Who wrote it (version 2 on): `{kind: stele|api_key, id, name}`.
    #[schema(value_type = Option<Object>)]
    source: Option<serde_json::Value>,
    idempotency_key: Option<String>,
    /// Hex SHA-256 of the entry's canonical form (docs/INTEGRITY.md).
    entry_digest: String,
    prev_hash: String,
    hash: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventsPage {
    /// Oldest first, by seq.
    #[schema(value_type = Vec<EntryDoc>)]
    pub entries: Vec<Entry>,
    /// Pass as `after_seq` for the next page.
    pub next_after_seq: i64,
    /// Whether more entries match right now.
    pub has_more: bool,
}

const READ_PARAMS: &[&str] = &[
    "after_seq",
    "limit",
    "category",
    "action",
    "event_type",
    "instance_id",
    "source",
];

fn invalid(name: &str, why: String) -> ApiError {
    ApiError::new(400, "invalid_parameter", format!("{name}: {why}"))
}

/// Refuses any query parameter the endpoint does not know.
fn only_known(params: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(bad) => Err(ApiError::new(
            400,
            "unknown_parameter",
            format!(
                "unknown query parameter `{bad}`; expected one of: {}",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// The feed filters among the query parameters (each endpoint decides which it
/// accepts with [`only_known`]); `from` / `to` are RFC 3339 bounds on `occurred_at`.
fn feed_filter(params: &HashMap<String, String>) -> Result<FeedFilter, ApiError> {
    fn parsed<T: FromStr<Err: std::fmt::Display>>(
        params: &HashMap<String, String>,
        name: &str,
    ) -> Result<Option<T>, ApiError> {
        params
            .get(name)
            .map(|v| T::from_str(v).map_err(|e| invalid(name, e.to_string())))
            .transpose()
    }
    let time = |name: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
        params
            .get(name)
            .map(|v| {
                chrono::DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| {
                        invalid(
                            name,
                            format!("`{v}` is not an RFC 3339 time, e.g. 2026-11-01T00:00:00Z"),
                        )
                    })
            })
            .transpose()
    };
    let text = |k: &str| params.get(k).cloned();
    Ok(FeedFilter {
        category: parsed(params, "category")?,
        action: parsed(params, "action")?,
        event_type: parsed(params, "event_type")?,
        instance_id: text("instance_id"),
        target_kind: text("target_kind"),
        target_id: text("target_id"),
        actor: text("actor"),
        source: text("source"),
        resource: text("resource"),
        q: text("q"),
        since: time("from")?,
        until: time("to")?,
    })
}

fn parse_read_params(params: &HashMap<String, String>) -> Result<(i64, u32, FeedFilter), ApiError> {
    only_known(params, READ_PARAMS)?;
    let after_seq = match params.get("after_seq") {
        None => 0,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| invalid("after_seq", format!("`{v}` is not a whole number ≥ 0")))?,
    };
    let limit = match params.get("limit") {
        None => 100,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| invalid("limit", format!("`{v}` is not between 1 and {MAX_PAGE}")))?,
    };
    Ok((after_seq, limit, feed_filter(params)?))
}

/// Reads the tenant's entries in seq order, for SIEM consumers: resume anywhere with
/// `after_seq`; without filters, a jump in seq means entries are missing.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    params(
        ("after_seq" = Option<i64>, Query, description = "Entries with seq above this (default 0)"),
        ("limit" = Option<u32>, Query, description = "Page size, 1–1000 (default 100)"),
        ("category" = Option<String>, Query, description = "A catalog category, e.g. `config`"),
        ("action" = Option<String>, Query, description = "An action, e.g. `delete`"),
        ("event_type" = Option<String>, Query, description = "A catalog event type"),
        ("instance_id" = Option<String>, Query, description = "One instance's entries"),
        ("source" = Option<String>, Query, description = "Entries one API key wrote (its id), or `stele`"),
    ),
    responses(
        (status = 200, description = "One page, oldest first", body = EventsPage),
        (status = 400, description = "An unknown or invalid query parameter", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "The key lacks the `events:read` scope", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let result = async {
        let (caller, key) = authenticate(&state, &headers).await?;
        require(
            Some(&caller),
            Permission::AuditView,
            Scope::Tenant(key.tenant_id),
        )?;
        let (after_seq, limit, filter) = parse_read_params(&params)?;
        app::ssr::catalog::check_filter(&state, key.tenant_id, &filter).await?;
        let mut entries = state
            .store
            .list(&EntryQuery {
                tenant_id: Some(key.tenant_id),
                filter,
                order: Order::OldestFirst,
                cursor: Some(after_seq),
                limit: limit + 1,
                ..EntryQuery::default()
            })
            .await?;
        let has_more = entries.len() > limit as usize;
        entries.truncate(limit as usize);
        let next_after_seq = entries.last().map_or(after_seq, |e| e.seq);
        Ok::<_, ApiError>(Json(EventsPage {
            entries,
            next_after_seq,
            has_more,
        }))
    };
    match result.await {
        Ok(page) => page.into_response(),
        Err(e) => e.into_response(),
    }
}

// ---- GET /api/v1/events/export ---------------------------------------------------

const EXPORT_PARAMS: &[&str] = &[
    "format",
    "tenant",
    "category",
    "action",
    "event_type",
    "instance_id",
    "target_kind",
    "target_id",
    "actor",
    "source",
    "resource",
    "q",
    "from",
    "to",
];

fn export_filter(params: &HashMap<String, String>) -> Result<FeedFilter, ApiError> {
    only_known(params, EXPORT_PARAMS)?;
    Ok(feed_filter(params)?.validated()?)
}

/// The caller of an export: a browser session (the feed's Export button) or an API
/// key with `events:read`. Either way `audit.export` is required of the tenant.
async fn export_caller(
    state: &AppState,
    parts: &axum::http::request::Parts,
    tenant_slug: Option<&str>,
) -> Result<(Caller, app::entry::Tenant, Actor, Context), ApiError> {
    if parts.headers.contains_key(AUTHORIZATION) {
        let (caller, key) = authenticate(state, &parts.headers).await?;
        let tenant = state
            .store
            .tenant_by_id(key.tenant_id)
            .await?
            .ok_or_else(|| ApiError::new(404, "not_found", "not found"))?;
        let actor = Actor::api_key(key.id.to_string(), &key.name);
        return Ok((caller, tenant, actor, Context::default()));
    }
    // A cookie-authenticated export writes `audit.exported` (and may sign a
    // checkpoint): only Stele's own pages may start it.
    if crate::http::carries_session(&parts.headers) && !crate::http::from_own_pages(&parts.headers)
    {
        tracing::warn!("refused an export started from another site");
        return Err(ApiError::new(
            403,
            "forbidden",
            "forbidden: exports with a session start from Stele's own pages (automation uses an API key)",
        ));
    }
    let info = app::ssr::session::request_info_of(parts);
    let session = app::ssr::session::current_with(state, info)
        .await?
        .ok_or_else(|| ApiError::new(401, "unauthorized", "log in, or send an API key"))?;
    let tenant = app::ssr::feeds::target_tenant(state, &session, tenant_slug).await?;
    Ok((
        session.caller.clone(),
        tenant,
        session.actor(),
        session.context(),
    ))
}

/// Exports exactly what the filters select, oldest first, streamed: CSV (every field,
/// formula-like cells neutralized) or NDJSON (entries with chain fields, for
/// `stele verify`). Appends `audit.exported` with the filters, format and row count.
#[utoipa::path(
    get,
    path = "/api/v1/events/export",
    tag = "events",
    params(
        ("format" = String, Query, description = "`csv` or `ndjson`"),
        ("from" = Option<String>, Query, description = "RFC 3339: entries that occurred at or after"),
        ("to" = Option<String>, Query, description = "RFC 3339: entries that occurred before"),
        ("category" = Option<String>, Query), ("action" = Option<String>, Query),
        ("event_type" = Option<String>, Query), ("instance_id" = Option<String>, Query),
        ("source" = Option<String>, Query, description = "An API key's id, or `stele`"),
        ("target_kind" = Option<String>, Query), ("target_id" = Option<String>, Query),
        ("actor" = Option<String>, Query), ("resource" = Option<String>, Query),
        ("q" = Option<String>, Query, description = "Free-text search"),
        ("tenant" = Option<String>, Query, description = "Tenant slug (super admins, with a session)"),
    ),
    responses(
        (status = 200, description = "The file: `audit-logs-{tenant-slug}-{timestamp}.{csv|ndjson}`"),
        (status = 400, description = "An unknown or invalid parameter", body = ErrorBody),
        (status = 401, description = "No session and no valid API key", body = ErrorBody),
        (status = 403, description = "The caller may not export this tenant", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn export_events(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let result = async {
        let (caller, tenant, actor, context) =
            export_caller(&state, &parts, params.get("tenant").map(String::as_str)).await?;
        require(
            Some(&caller),
            Permission::AuditExport,
            Scope::Tenant(tenant.id),
        )?;
        let format = params
            .get("format")
            .and_then(|f| crate::export::Format::parse(f))
            .ok_or_else(|| {
                ApiError::new(400, "invalid_parameter", "format: expected csv or ndjson")
            })?;
        let filter = export_filter(&params)?;
        app::ssr::catalog::check_filter(&state, tenant.id, &filter).await?;
        let last_seq =
            i64::try_from(app::ssr::integrity::tree_size(state.store.as_ref(), tenant.id).await?)
                .unwrap_or(i64::MAX);
        let query = EntryQuery {
            tenant_id: Some(tenant.id),
            filter: filter.clone(),
            max_seq: Some(last_seq),
            ..EntryQuery::default()
        };
        let (rows, _) = state.store.count(&query, u64::MAX - 1).await?;
        let now = state.now();
        let name = format!(
            "audit-logs-{}-{}.{}",
            tenant.slug,
            now.format("%Y%m%dT%H%M%SZ"),
            format.extension()
        );
        let header = match format {
            crate::export::Format::Ndjson => {
                Some(export_header(&state, &tenant, &filter, last_seq, &actor, &context).await?)
            }
            crate::export::Format::Csv => None,
        };
        let audit = app::entry::NewEntry::new(
            app::catalog::EventType::AuditExported,
            actor,
            format!(
                "Exported {rows} entries as {}",
                format.extension().to_uppercase()
            ),
        )
        .meta("format", serde_json::json!(format.extension()))
        .meta("rows", serde_json::json!(rows))
        .meta("filters", serde_json::to_value(&filter).unwrap_or_default())
        .meta("file", serde_json::json!(name))
        .context(context);
        state.store.append(tenant.id, vec![audit]).await?;
        let body = match header {
            Some(header) => Body::from_stream(crate::export::ndjson_chunks(
                state.store.clone(),
                state.signer.clone(),
                query,
                &header,
            )),
            None => Body::from_stream(crate::export::csv_chunks(
                state.store.clone(),
                query,
                last_seq,
            )),
        };
        Ok::<_, ApiError>(
            (
                [
                    (
                        axum::http::header::CONTENT_TYPE,
                        format.content_type().to_owned(),
                    ),
                    (
                        axum::http::header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                body,
            )
                .into_response(),
        )
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// The header of an NDJSON export up to `last_seq`: the window after what retention
/// purged, and a checkpoint covering `last_seq` (signed now, audited, if no
/// checkpoint by the current key covers it yet).
pub async fn export_header(
    state: &AppState,
    tenant: &app::entry::Tenant,
    filter: &FeedFilter,
    last_seq: i64,
    actor: &Actor,
    context: &Context,
) -> Result<app::verify::ExportHeader, ApiError> {
    let purged = state.store.purged_ranges(tenant.id).await?;
    let purged_end = purged.iter().map(|r| r.1).max().unwrap_or(0);
    // Critical entries keep their content inside purged ranges: then the export
    // starts at seq 1 and holds them among proof nodes for what was purged.
    let kept = if purged_end > 0 {
        app::ssr::retention::kept_in(state, tenant.id, (1, purged_end)).await?
    } else {
        0
    };
    let from_seq = if kept > 0 { 1 } else { purged_end + 1 };
    let covering = state
        .store
        .checkpoints(tenant.id)
        .await?
        .into_iter()
        .filter(|c| {
            i64::try_from(c.tree_size).unwrap_or(i64::MAX) >= last_seq
                && c.verify(&state.signer.verifying_key()).is_ok()
        })
        .min_by_key(|c| c.tree_size);
    let checkpoint = match covering {
        Some(cp) => cp,
        None => {
            app::ssr::integrity::sign_checkpoint(state, tenant.id, actor.clone(), context.clone())
                .await?
        }
    };
    let prev_link = if from_seq > 1 {
        state
            .store
            .chain_links(tenant.id, from_seq - 2, 1)
            .await?
            .into_iter()
            .next()
            .map(|l| app::verify::LinkOut {
                seq: l.seq,
                hash: l.hash,
            })
    } else {
        None
    };
    Ok(app::verify::ExportHeader {
        stele_export: app::verify::EXPORT_VERSION,
        tenant_id: tenant.id,
        tenant_slug: tenant.slug.clone(),
        exported_at: app::canonical::format_time(&state.now()),
        filtered: *filter != FeedFilter::default(),
        filters: serde_json::to_value(filter).unwrap_or_default(),
        from_seq,
        to_seq: last_seq,
        purged_ranges: purged,
        checkpoint,
        prev_link,
    })
}

// ---- public verification ---------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKeyOut {
    /// Hex Ed25519 public key that signs every checkpoint.
    pub public_key: String,
    pub key_id: String,
}

/// A tenant's published checkpoints (reveals sizes and roots, never an entry).
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationOut {
    pub tenant_slug: String,
    pub tenant_name: String,
    pub public_key: String,
    /// The C2SP signed-note verifier key of this tenant's checkpoints
    /// (`stele/<tenant id>+<key id>+<base64 key>`).
    pub note_verifier_key: String,
    /// Newest first. Each signs `stele-checkpoint/v1` bytes (docs/INTEGRITY.md), and
    /// carries the same tree head as a C2SP signed note in `note`.
    #[schema(value_type = Vec<Object>)]
    pub checkpoints: Vec<app::checkpoint::Checkpoint>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionOut {
    pub seq: i64,
    /// seq − 1: the leaf's index in the Merkle tree.
    pub leaf_index: u64,
    pub tree_size: u64,
    pub entry_digest: String,
    pub root_hash: String,
    /// RFC 9162 inclusion path, hex.
    pub proof: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyOut {
    pub first: u64,
    pub second: u64,
    pub first_root: String,
    pub second_root: String,
    /// RFC 9162 consistency path, hex.
    pub proof: Vec<String>,
}

/// The key that signs checkpoints.
#[utoipa::path(get, path = "/api/v1/public-key", tag = "verification",
    responses((status = 200, body = PublicKeyOut)))]
pub async fn public_key(State(state): State<AppState>) -> Response {
    let public = state.signer.verifying_key();
    Json(PublicKeyOut {
        public_key: hex::encode(public.as_bytes()),
        key_id: app::checkpoint::key_id(&public),
    })
    .into_response()
}

/// The tenant of a verification token and its tree size.
async fn token_head(state: &AppState, token: &str) -> Result<(app::entry::Tenant, u64), ApiError> {
    let tenant = app::ssr::integrity::tenant_of_token(state.store.as_ref(), token).await?;
    let head = app::ssr::integrity::tree_size(state.store.as_ref(), tenant.id).await?;
    Ok((tenant, head))
}

fn number(params: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| invalid(name, format!("`{v}` is not a whole number")))
        })
        .transpose()
}

/// A tenant's checkpoints, under its unguessable verification link.
#[utoipa::path(get, path = "/api/v1/verify/{token}", tag = "verification",
    params(("token" = String, Path, description = "The tenant's verification token")),
    responses((status = 200, body = VerificationOut), (status = 404, body = ErrorBody)))]
pub async fn verification(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Response {
    let result = async {
        let tenant = app::ssr::integrity::tenant_of_token(state.store.as_ref(), &token).await?;
        Ok::<_, ApiError>(Json(VerificationOut {
            public_key: hex::encode(state.signer.verifying_key().as_bytes()),
            note_verifier_key: app::checkpoint::note_verifier_key(
                &app::checkpoint::note_origin(tenant.id),
                &state.signer.verifying_key(),
            ),
            checkpoints: state.store.checkpoints(tenant.id).await?,
            tenant_slug: tenant.slug,
            tenant_name: tenant.name,
        }))
    };
    result
        .await
        .map_or_else(IntoResponse::into_response, IntoResponse::into_response)
}

/// The tenant's newest checkpoint as a C2SP tlog-checkpoint in a C2SP signed note
/// (`text/plain`), for transparency-log tooling.
#[utoipa::path(get, path = "/api/v1/verify/{token}/checkpoint", tag = "verification",
    params(("token" = String, Path, description = "The tenant's verification token")),
    responses((status = 200, description = "The signed note", content_type = "text/plain"),
        (status = 404, body = ErrorBody)))]
pub async fn note_checkpoint(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Response {
    let result = async {
        let tenant = app::ssr::integrity::tenant_of_token(state.store.as_ref(), &token).await?;
        let note = state
            .store
            .checkpoints(tenant.id)
            .await?
            .into_iter()
            .filter_map(|c| c.note.map(|n| (c.tree_size, c.signed_at, n)))
            .max_by_key(|(size, at, _)| (*size, *at))
            .map(|(_, _, n)| n)
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "not_found",
                    "no checkpoint has been signed as a note yet",
                )
            })?;
        Ok::<_, ApiError>(
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; charset=utf-8",
                )],
                note,
            )
                .into_response(),
        )
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// The inclusion proof of entry `seq` in the tree of `tree_size` entries (default:
/// the whole log), computed from stored subtrees in O(log n).
#[utoipa::path(get, path = "/api/v1/verify/{token}/inclusion", tag = "verification",
    params(("token" = String, Path), ("seq" = u64, Query), ("tree_size" = Option<u64>, Query)),
    responses((status = 200, body = InclusionOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn inclusion(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let result = async {
        let (tenant, head) = token_head(&state, &token).await?;
        let size = number(&params, "tree_size")?.unwrap_or(head);
        let seq = number(&params, "seq")?
            .ok_or_else(|| ApiError::new(400, "invalid_parameter", "seq is required"))?;
        if size > head || seq == 0 || seq > size {
            return Err(ApiError::new(
                400,
                "invalid_parameter",
                format!("need 1 ≤ seq ≤ tree_size ≤ {head}"),
            ));
        }
        let seq_i = i64::try_from(seq).unwrap_or(i64::MAX);
        let link = state
            .store
            .chain_links(tenant.id, seq_i - 1, 1)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::new(404, "not_found", "no chain link at this seq"))?;
        let store = state.store.as_ref();
        let proof = app::ssr::integrity::inclusion_proof(store, tenant.id, seq - 1, size).await?;
        let root = app::ssr::integrity::root_at(store, tenant.id, size).await?;
        Ok::<_, ApiError>(Json(InclusionOut {
            seq: seq_i,
            leaf_index: seq - 1,
            tree_size: size,
            entry_digest: link.entry_digest,
            root_hash: hex::encode(root),
            proof: proof.iter().map(hex::encode).collect(),
        }))
    };
    result
        .await
        .map_or_else(IntoResponse::into_response, IntoResponse::into_response)
}

/// The consistency proof that the tree of `second` entries extends the tree of `first`.
#[utoipa::path(get, path = "/api/v1/verify/{token}/consistency", tag = "verification",
    params(("token" = String, Path), ("first" = u64, Query), ("second" = Option<u64>, Query)),
    responses((status = 200, body = ConsistencyOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn consistency(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let result = async {
        let (tenant, head) = token_head(&state, &token).await?;
        let second = number(&params, "second")?.unwrap_or(head);
        let first = number(&params, "first")?
            .ok_or_else(|| ApiError::new(400, "invalid_parameter", "first is required"))?;
        if first == 0 || first > second || second > head {
            return Err(ApiError::new(
                400,
                "invalid_parameter",
                format!("need 1 ≤ first ≤ second ≤ {head}"),
            ));
        }
        let store = state.store.as_ref();
        let proof = app::ssr::integrity::consistency_proof(store, tenant.id, first, second).await?;
        Ok::<_, ApiError>(Json(ConsistencyOut {
            first,
            second,
            first_root: hex::encode(app::ssr::integrity::root_at(store, tenant.id, first).await?),
            second_root: hex::encode(app::ssr::integrity::root_at(store, tenant.id, second).await?),
            proof: proof.iter().map(hex::encode).collect(),
        }))
    };
    result
        .await
        .map_or_else(IntoResponse::into_response, IntoResponse::into_response)
}

// ---- the catalog: /api/v1/catalog -------------------------------------------------

/// A tenant event type to register or change (`custom.…`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation of `app::catalog::TypeInput`; a test keeps them equal
pub struct TypeIn {
    /// `custom.` and dotted lowercase words, e.g. `custom.backup.completed`.
    #[schema(example = "custom.backup.completed")]
    name: String,
    /// A built-in or pack category's slug, or one of the tenant's own.
    #[schema(example = "backups")]
    category: String,
    /// The pill label of a new category of the tenant's own.
    #[schema(example = "Backups")]
    category_label: Option<String>,
    /// create, update, delete, enable, disable, rotate, assign, unassign, revoke, …
    #[schema(example = "complete")]
    action: String,
    /// One line, at most 200 characters.
    description: String,
    /// A JSON Schema the events' `metadata` must satisfy; errors name their path.
    #[schema(value_type = Option<Object>)]
    schema: Option<serde_json::Value>,
    /// Keep this type's entries whatever the retention.
    critical: Option<bool>,
}

/// What the tenant's log can hold: `app::api::CatalogView`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct CatalogOut {
    tenant_slug: String,
    /// `{name, category, category_label, action, description, schema, critical,
    /// retired, origin: {kind: builtin|pack|tenant, id}}`
    #[schema(value_type = Vec<Object>)]
    types: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    categories: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    packs: Vec<serde_json::Value>,
    can_manage: bool,
}

/// The key's tenant, after checking the key may do `permission` there.
async fn catalog_caller(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(ApiKeyRecord, app::ssr::catalog::Editor), ApiError> {
    let (caller, key) = authenticate(state, headers).await?;
    require(
        Some(&caller),
        Permission::ManageCatalog,
        Scope::Tenant(key.tenant_id),
    )?;
    let editor = app::ssr::catalog::Editor {
        actor: Actor::api_key(key.id.to_string(), &key.name),
        context: Context::default(),
    };
    Ok((key, editor))
}

/// Every event type the tenant can receive: built in, its packs' and its own.
#[utoipa::path(
    get,
    path = "/api/v1/catalog",
    tag = "catalog",
    responses(
        (status = 200, description = "The tenant's catalog", body = CatalogOut),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "The key has neither `events:read` nor `catalog:write`", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get_catalog(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let result = async {
        let (caller, key) = authenticate(&state, &headers).await?;
        let scope = Scope::Tenant(key.tenant_id);
        let can_manage = require(Some(&caller), Permission::ManageCatalog, scope.clone()).is_ok();
        if !can_manage {
            require(Some(&caller), Permission::AuditView, scope)?;
        }
        let tenant = state
            .store
            .tenant_by_id(key.tenant_id)
            .await?
            .ok_or_else(|| ApiError::new(404, "not_found", "the key's tenant is gone"))?;
        let view = app::ssr::catalog::view(&state, tenant.id, tenant.slug, can_manage).await?;
        Ok::<_, ApiError>(Json(view))
    };
    result
        .await
        .map_or_else(IntoResponse::into_response, IntoResponse::into_response)
}

/// Registers a tenant event type, or changes (and un-retires) the one of that name.
/// Audited as `catalog.type_registered` / `catalog.type_changed`.
#[utoipa::path(
    post,
    path = "/api/v1/catalog/types",
    tag = "catalog",
    request_body = TypeIn,
    responses(
        (status = 200, description = "Registered or changed: the type as the catalog lists it"),
        (status = 400, description = "Not a valid type: the message names the field", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "The key lacks the `catalog:write` scope", body = ErrorBody),
        (status = 409, description = "The catalog changed meanwhile; nothing was written", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn post_catalog_type(State(state): State<AppState>, req: Request) -> Response {
    let result = async {
        let (key, editor) = catalog_caller(&state, req.headers()).await?;
        let bytes = to_bytes(req.into_body(), 64 * 1024)
            .await
            .map_err(|_| ApiError::new(413, "body_too_large", "a type is at most 64 KiB"))?;
        let input: app::catalog::TypeInput = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::new(400, "invalid_type", format!("not a type: {e}")))?;
        let def = app::ssr::catalog::put_type(&state, key.tenant_id, editor, input).await?;
        Ok::<_, ApiError>(Json(def))
    };
    result
        .await
        .map_or_else(IntoResponse::into_response, IntoResponse::into_response)
}

/// Retires a tenant event type: new events of it are refused (422), its entries stay
/// readable and filterable. Audited as `catalog.type_retired`.
#[utoipa::path(
    post,
    path = "/api/v1/catalog/types/{name}/retire",
    tag = "catalog",
    params(("name" = String, Path, description = "The type's name, `custom.…`")),
    responses(
        (status = 204, description = "Retired (or retired already)"),
        (status = 403, description = "The key lacks the `catalog:write` scope", body = ErrorBody),
        (status = 404, description = "The tenant has no such type", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn retire_catalog_type(
    State(state): State<AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let (key, editor) = catalog_caller(&state, &headers).await?;
        app::ssr::catalog::retire_type(&state, key.tenant_id, editor, &name).await?;
        Ok::<_, ApiError>(StatusCode::NO_CONTENT)
    };
    result
        .await
        .map_or_else(IntoResponse::into_response, IntoResponse::into_response)
}

/// Switches a catalog pack on (`POST`) or off (`DELETE`) for the key's tenant.
/// Audited as `catalog.pack_enabled` / `catalog.pack_disabled`.
#[utoipa::path(
    post,
    path = "/api/v1/catalog/packs/{pack}",
    tag = "catalog",
    params(("pack" = String, Path, description = "`monitoring` or `api_gateway`")),
    responses(
        (status = 204, description = "Switched on (or on already)"),
        (status = 403, description = "The key lacks the `catalog:write` scope", body = ErrorBody),
        (status = 404, description = "No such pack", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn enable_pack(
    State(state): State<AppState>,
    axum::extract::Path(pack): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    switch_pack(state, pack, headers, true).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/catalog/packs/{pack}",
    tag = "catalog",
    params(("pack" = String, Path, description = "`monitoring` or `api_gateway`")),
    responses(
        (status = 204, description = "Switched off: its types are refused from now on, their entries stay"),
        (status = 403, description = "The key lacks the `catalog:write` scope", body = ErrorBody),
        (status = 404, description = "No such pack", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn disable_pack(
    State(state): State<AppState>,
    axum::extract::Path(pack): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    switch_pack(state, pack, headers, false).await
}

async fn switch_pack(state: AppState, pack: String, headers: HeaderMap, on: bool) -> Response {
    let result = async {
        let (key, editor) = catalog_caller(&state, &headers).await?;
        app::ssr::catalog::set_pack(&state, key.tenant_id, editor, &pack, on).await?;
        Ok::<_, ApiError>(StatusCode::NO_CONTENT)
    };
    result
        .await
        .map_or_else(IntoResponse::into_response, IntoResponse::into_response)
}

// ---- the OpenAPI document --------------------------------------------------------

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A tenant API key (`stele api-key create` or the Administration page)",
                    ))
                    .build(),
            ),
        );
    }
}

/// Lists the catalog in the document, from the definitions ingestion checks against:
/// `event_type`'s description names every built-in and pack type.
struct CatalogNames;

/// The catalog's names as the OpenAPI document states them.
pub fn catalog_description() -> String {
    let builtin: Vec<&str> = app::catalog::EventType::ALL
        .iter()
        .filter(|t| t.category() != app::catalog::Category::Audit)
        .map(|t| t.as_str())
        .collect();
    let mut text = format!(
        "A built-in type, a type of a pack the tenant switched on, or one of the tenant's \
         own (`custom.…`, see /api/v1/catalog). Built in: {}.",
        builtin.join(", ")
    );
    for pack in app::packs::PACKS {
        let names: Vec<&str> = pack.types.iter().map(|t| t.name).collect();
        text.push_str(&format!(
            " Pack `{}` ({}): {}.",
            pack.id,
            pack.name,
            names.join(", ")
        ));
    }
    text
}

impl Modify for CatalogNames {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::Schema;
        use utoipa::openapi::RefOr;
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        if let Some(RefOr::T(Schema::Object(event))) = components.schemas.get_mut("EventIn") {
            if let Some(RefOr::T(Schema::Object(field))) = event.properties.get_mut("event_type") {
                field.description = Some(catalog_description());
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Stele ingestion and read API",
        description = "Producer systems post audit events; SIEM pipelines read them by seq. \
Limits: 1 MiB and 1,000 events per request, 64 KiB per event, JSON nesting depth 32."
    ),
    paths(post_events, get_events, export_events, get_catalog, post_catalog_type, retire_catalog_type, enable_pack, disable_pack, public_key, verification, note_checkpoint, inclusion, consistency),
    components(schemas(
        BatchIn, EventIn, ActorIn, InstanceIn, TargetIn, ChangeDoc, ContextDoc,
        IngestResponse, EventResult, FieldError, EventsPage, EntryDoc, ErrorBody, ErrorDetail,
        PublicKeyOut, VerificationOut, InclusionOut, ConsistencyOut, TypeIn, CatalogOut
    )),
    modifiers(&BearerKey, &CatalogNames),
    tags(
        (name = "events", description = "Audit events"),
        (name = "catalog", description = "The event types a tenant can post: packs and its own types"),
        (name = "verification", description = "Public, unauthenticated: checkpoints and proofs")
    )
)]
pub struct ApiDoc;

pub async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::RefOr;

    fn properties(doc: &utoipa::openapi::OpenApi, name: &str) -> Vec<String> {
        let components = doc.components.as_ref().expect("components");
        match components.schemas.get(name) {
            Some(RefOr::T(Schema::Object(o))) => {
                let mut keys: Vec<String> = o.properties.keys().cloned().collect();
                keys.sort();
                keys
            }
            _ => panic!("{name} is not an object schema"),
        }
    }

    #[test]
    fn the_document_describes_what_the_code_accepts_and_returns() {
        let doc = ApiDoc::openapi();
        let mut accepted: Vec<String> =
            ingest::EVENT_FIELDS.iter().map(|s| s.to_string()).collect();
        accepted.sort();
        assert_eq!(properties(&doc, "EventIn"), accepted);

        let entry =
            app::entry::NewEntry::new(app::catalog::EventType::AlertMuted, Actor::system(), "x")
                .seal(Uuid::nil(), Uuid::nil(), 1, chrono::Utc::now(), &[0; 32]);
        let json = serde_json::to_value(&entry).unwrap();
        let mut fields: Vec<String> = json.as_object().unwrap().keys().cloned().collect();
        fields.sort();
        assert_eq!(properties(&doc, "EntryDoc"), fields);

        let mut params: Vec<String> = READ_PARAMS.iter().map(|s| s.to_string()).collect();
        params.sort();
        let get = doc.paths.paths["/api/v1/events"].get.as_ref().unwrap();
        let mut documented: Vec<String> = get
            .parameters
            .as_ref()
            .unwrap()
            .iter()
            .map(|p| p.name.clone())
            .collect();
        documented.sort();
        assert_eq!(documented, params);
        let input = app::catalog::TypeInput {
            name: "custom.x".into(),
            category: "config".into(),
            category_label: None,
            action: app::catalog::Action::Create,
            description: "x".into(),
            schema: None,
            critical: false,
        };
        let json = serde_json::to_value(&input).unwrap();
        let mut fields: Vec<String> = json.as_object().unwrap().keys().cloned().collect();
        fields.sort();
        assert_eq!(properties(&doc, "TypeIn"), fields);
        // The document names every type ingestion accepts without registering.
        let text = serde_json::to_string(&doc).unwrap();
        for name in app::catalog::EventType::ALL
            .iter()
            .filter(|t| t.category() != app::catalog::Category::Audit)
            .map(|t| t.as_str())
            .chain(
                app::packs::PACKS
                    .iter()
                    .flat_map(|p| p.types.iter().map(|t| t.name)),
            )
        {
            assert!(
                text.contains(&format!(" {name},")) || text.contains(&format!(" {name}.")),
                "{name}"
            );
        }
        let post = doc.paths.paths["/api/v1/events"].post.as_ref().unwrap();
        for status in ["200", "207", "400", "401", "403", "413", "422"] {
            assert!(post.responses.responses.contains_key(status), "{status}");
        }
    }
}
