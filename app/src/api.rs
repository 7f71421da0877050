//! Server functions: typed public endpoints shared by the wasm client and the server.
//! Each is a thin shell over its server half in `crate::ssr`, which authorizes itself.
//!
//! Error policy: every server function returns [`AppError`]. A user's mistake is a
//! specific 4xx variant with a message meant for them; anything else is logged on the
//! server and reaches the client only as [`AppError::Internal`], never with SQL or a
//! stack trace. The server maps each variant to its HTTP status in one place.

use crate::auth::{Caller, Role};
use crate::catalog::Action;
use crate::entry::Entry;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::{Json, JsonEncoding};
use server_fn::error::{FromServerFnError, ServerFnErrorErr};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// The request is valid but the log's state refuses it (e.g. stored Merkle
    /// subtrees that disagree with the entry digests: nothing is signed).
    #[error("{0}")]
    Conflict(String),
    #[error("an internal error occurred; it has been logged")]
    Internal,
    /// The request did not reach the server function (network, unreachable server).
    #[error("the server could not be reached: {0}")]
    Transport(String),
}

impl AppError {
    /// The HTTP status the server answers with for this error.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthorized(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::BadRequest(_) => 400,
            AppError::TooManyRequests(_) => 429,
            AppError::Conflict(_) => 409,
            AppError::Internal => 500,
            AppError::Transport(_) => 502,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => {
                AppError::BadRequest(format!("invalid arguments: {m}"))
            }
            // On the server, decoding fails only on the caller's arguments; in the
            // browser it means the answer could not be read.
            ServerFnErrorErr::Deserialization(m) if cfg!(feature = "ssr") => {
                AppError::BadRequest(format!("invalid arguments: {m}"))
            }
            ServerFnErrorErr::ServerError(_)
            | ServerFnErrorErr::MiddlewareError(_)
            | ServerFnErrorErr::Serialization(_) => AppError::Internal,
            other => AppError::Transport(other.to_string()),
        }
    }
}

/// The logged-in user, as the UI sees them. Carries no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub email: String,
    pub name: Option<String>,
    pub tenant_slug: Option<String>,
    pub role: Option<Role>,
    pub super_admin: bool,
    pub grants: Vec<String>,
}

impl From<Caller> for Me {
    fn from(c: Caller) -> Self {
        Me {
            email: c.email,
            name: c.name,
            tenant_slug: c.tenant_slug,
            role: c.role,
            super_admin: c.super_admin,
            grants: c.grants,
        }
    }
}

impl Me {
    /// Whether the tenant-wide feed is theirs to read (the server decides anyway).
    pub fn sees_tenant_feed(&self) -> bool {
        self.role.is_some_and(|r| r >= Role::Admin)
    }

    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{n} <{}>", self.email),
            None => self.email.clone(),
        }
    }
}

/// The filters a feed accepts. Every field is optional; absent means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedFilter {
    pub category: Option<crate::catalog::CategoryName>,
    pub event_type: Option<crate::catalog::TypeName>,
    pub action: Option<Action>,
    pub instance_id: Option<String>,
    #[serde(default)]
    pub target_kind: Option<String>,
    #[serde(default)]
    pub target_id: Option<String>,
    /// An actor id (user, API key), or `system` for the System actor.
    #[serde(default)]
    pub actor: Option<String>,
    /// An instance's or target's name, matched case-insensitively.
    #[serde(default)]
    pub resource: Option<String>,
    /// Who wrote the entries: an API key's id, or `stele` for Stele itself.
    #[serde(default)]
    pub source: Option<String>,
    /// When it happened: from `since` (inclusive) to `until` (exclusive).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// The search: free words over description, event type, instance, actor, target
    /// names and ids and changed paths and values, with `field:value` terms
    /// ([`crate::query`]).
    #[serde(default)]
    pub q: Option<String>,
}

/// The longest text a filter field may hold.
pub const MAX_FILTER_TEXT: usize = 200;

impl FeedFilter {
    /// Refuses what no feed can answer: over-long text, an empty or inverted time range.
    /// Blank text fields count as absent.
    pub fn validated(mut self) -> Result<Self, AppError> {
        for (name, field) in [
            ("instance", &mut self.instance_id),
            ("target kind", &mut self.target_kind),
            ("target id", &mut self.target_id),
            ("actor", &mut self.actor),
            ("source", &mut self.source),
            ("resource name", &mut self.resource),
            ("search", &mut self.q),
        ] {
            let most = if name == "search" {
                crate::query::MAX_QUERY
            } else {
                MAX_FILTER_TEXT
            };
            if let Some(text) = field.as_deref().map(str::trim) {
                if text.chars().count() > most {
                    return Err(AppError::BadRequest(format!(
                        "the {name} filter is longer than {most} characters"
                    )));
                }
                *field = (!text.is_empty()).then(|| text.to_owned());
            }
        }
        if let Some(q) = &self.q {
            crate::query::parse(q)
                .map_err(|e| AppError::BadRequest(format!("the search is not understood {e}")))?;
        }
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since >= until {
                return Err(AppError::BadRequest(
                    "the timeframe ends before it starts".to_owned(),
                ));
            }
        }
        Ok(self)
    }

    /// The timeframe the feed shows: `since`/`until` narrowed by the search's
    /// `after:` (inclusive) and `before:` (exclusive).
    pub fn timeframe(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let terms = self.query();
        (
            [self.since, terms.after()].into_iter().flatten().max(),
            [self.until, terms.before()].into_iter().flatten().min(),
        )
    }

    /// The search as terms and free words. A search [`validated`](Self::validated)
    /// refused never reaches a store; were one to, its text is searched as words.
    pub fn query(&self) -> crate::query::Query {
        let text = self.q.as_deref().unwrap_or_default();
        crate::query::parse(text).unwrap_or_else(|_| crate::query::Query {
            terms: Vec::new(),
            words: text.split_whitespace().map(str::to_owned).collect(),
        })
    }
}

/// How many of a view's newest entries its facets count.
pub const FACET_SAMPLE: u32 = 10_000;

/// A view's histogram and facets ([`feed_summary`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ViewSummary {
    /// The start of the first bucket.
    pub from: DateTime<Utc>,
    /// The length of every bucket, in milliseconds.
    pub bucket_ms: i64,
    /// Entries per bucket, oldest first: bucket `i` starts at `from + i × bucket_ms`.
    pub counts: Vec<u64>,
    /// The most frequent values among the view's newest entries, most first.
    pub facets: Vec<Facet>,
    /// How many entries the facets counted; at most [`FACET_SAMPLE`].
    pub sampled: u64,
}

/// One facet value: `field` is the URL key it filters by (`actor`, `instance_id`,
/// `event_type`), `value` the key's value, `label` what the reader sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facet {
    pub field: String,
    pub value: String,
    pub label: String,
    pub count: u64,
}

/// One page of a feed, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedPage {
    pub tenant_slug: String,
    pub tenant_name: String,
    pub entries: Vec<Entry>,
    /// Pass back as `cursor` to load the next (older) page; `None` at the end.
    pub next_cursor: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceView {
    pub id: String,
    pub name: String,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterRow {
    pub tenant_slug: String,
    pub tenant_name: String,
    pub entry: Entry,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterPage {
    /// Every tenant, (slug, name), for the tenant filter.
    pub tenants: Vec<(String, String)>,
    pub rows: Vec<MasterRow>,
    /// The page shown, from 1.
    pub page: u32,
    pub page_size: u32,
    /// How many entries match; a lower bound when `total_exact` is false.
    pub total: u64,
    pub total_exact: bool,
}

/// Page sizes the master view offers.
pub const MASTER_PAGE_SIZES: [u32; 3] = [25, 50, 100];
/// Counting stops here; beyond, the master view shows "more than N".
pub const COUNT_CAP: u64 = 10_000;

/// One entry with its tenant, for the detail page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryDetail {
    pub tenant_slug: String,
    pub tenant_name: String,
    /// The entry's category label as its tenant's catalog names it.
    #[serde(default)]
    pub category_label: String,
    pub entry: Entry,
}

/// One catalog pack as a tenant sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub types: usize,
}

/// Everything a tenant's log can hold (`/catalog`, `GET /api/v1/catalog`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogView {
    pub tenant_slug: String,
    /// Built-in types, then the switched-on packs', then the tenant's own.
    pub types: Vec<crate::catalog::TypeDef>,
    /// `(slug, pill label)` of every category the types use.
    pub categories: Vec<(String, String)>,
    pub packs: Vec<PackView>,
    /// Whether the caller may register types and switch packs.
    pub can_manage: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub removed: bool,
    pub has_password: bool,
    pub grants: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedUser {
    pub user: UserView,
    /// A one-time link for the new user to set a password; shown once.
    pub set_password_link: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub revoked: bool,
    /// The user the key is revoked with (its creator, unless moved).
    #[serde(default)]
    pub responsible: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedApiKey {
    pub key: ApiKeyView,
    /// The secret, shown once; Stele keeps only its hash.
    pub secret: String,
}

/// Entries per feed page.
pub const FEED_PAGE_SIZE: u32 = 50;

/// Who is logged in, if anyone.
#[server(prefix = "/api", endpoint = "current_user", input = Json)]
pub async fn current_user() -> Result<Option<Me>, AppError> {
    crate::ssr::session::me().await
}

#[server(prefix = "/api", endpoint = "login", input = Json)]
pub async fn login(email: String, password: String) -> Result<Me, AppError> {
    crate::ssr::session::login(email, password).await
}

#[server(prefix = "/api", endpoint = "logout", input = Json)]
pub async fn logout() -> Result<(), AppError> {
    crate::ssr::session::logout().await
}

#[server(prefix = "/api", endpoint = "set_password", input = Json)]
pub async fn set_password(token: String, password: String) -> Result<(), AppError> {
    crate::ssr::session::set_password(token, password).await
}

/// The tenant feed (admins, owners, super admins), newest first, keyset-paged by seq.
/// `tenant` is a slug; without it, the caller's own tenant.
#[server(prefix = "/api", endpoint = "tenant_feed", input = Json)]
pub async fn tenant_feed(
    tenant: Option<String>,
    filter: FeedFilter,
    cursor: Option<i64>,
) -> Result<FeedPage, AppError> {
    crate::ssr::feeds::tenant_feed(tenant, filter, cursor).await
}

/// One instance's feed (members with a grant, admins, owners, super admins).
#[server(prefix = "/api", endpoint = "instance_feed", input = Json)]
pub async fn instance_feed(
    tenant: Option<String>,
    instance_id: String,
    filter: FeedFilter,
    cursor: Option<i64>,
) -> Result<FeedPage, AppError> {
    crate::ssr::feeds::instance_feed(tenant, instance_id, filter, cursor).await
}

/// A picture of a feed's view: entries over time and its most frequent actors,
/// instances and event types. `instance_id` narrows it to one instance's feed
/// (which needs only that instance's grant).
#[server(prefix = "/api", endpoint = "feed_summary", input = Json)]
pub async fn feed_summary(
    tenant: Option<String>,
    instance_id: Option<String>,
    filter: FeedFilter,
) -> Result<ViewSummary, AppError> {
    crate::ssr::feeds::feed_summary(tenant, instance_id, filter).await
}

/// Everyone who has acted in the tenant's log lately, and its API keys: what the
/// tenant feed's Actor filter offers (people, producers' actors, keys, System).
#[server(prefix = "/api", endpoint = "actors", input = Json)]
pub async fn actors(tenant: Option<String>) -> Result<Vec<Facet>, AppError> {
    crate::ssr::feeds::actors(tenant).await
}

/// Every tenant, as `(slug, name)`: what a super admin chooses from (super admins only).
#[server(prefix = "/api", endpoint = "tenants", input = Json)]
pub async fn tenants() -> Result<Vec<(String, String)>, AppError> {
    crate::ssr::feeds::tenants().await
}

/// The instances whose history the caller may read.
#[server(prefix = "/api", endpoint = "instances", input = Json)]
pub async fn instances(tenant: Option<String>) -> Result<Vec<InstanceView>, AppError> {
    crate::ssr::feeds::instances(tenant).await
}

/// The cross-tenant master view (super admins), newest first, by page number.
#[server(prefix = "/api", endpoint = "master_feed", input = Json)]
pub async fn master_feed(
    tenant: Option<String>,
    filter: FeedFilter,
    page: u32,
    page_size: u32,
) -> Result<MasterPage, AppError> {
    crate::ssr::feeds::master_feed(tenant, filter, page, page_size).await
}

/// One entry, for whoever may read its feed (instance entries: members with the
/// grant too). Another tenant's entry answers 404.
#[server(prefix = "/api", endpoint = "get_entry", input = Json)]
pub async fn get_entry(id: Uuid) -> Result<EntryDetail, AppError> {
    crate::ssr::feeds::entry(id).await
}

/// The tenant's users (its owners and admins; a super admin names the tenant, to read).
#[server(prefix = "/api", endpoint = "users", input = Json)]
pub async fn users(tenant: Option<String>) -> Result<Vec<UserView>, AppError> {
    crate::ssr::admin::users(tenant).await
}

#[server(prefix = "/api", endpoint = "create_user", input = Json)]
pub async fn create_user(email: String, name: String, role: Role) -> Result<CreatedUser, AppError> {
    crate::ssr::admin::create_user(email, name, role).await
}

#[server(prefix = "/api", endpoint = "change_role", input = Json)]
pub async fn change_role(user_id: Uuid, role: Role) -> Result<UserView, AppError> {
    crate::ssr::admin::change_role(user_id, role).await
}

#[server(prefix = "/api", endpoint = "remove_user", input = Json)]
pub async fn remove_user(user_id: Uuid) -> Result<(), AppError> {
    crate::ssr::admin::remove_user(user_id).await
}

#[server(prefix = "/api", endpoint = "set_grant", input = Json)]
pub async fn set_grant(
    user_id: Uuid,
    instance_id: String,
    granted: bool,
) -> Result<UserView, AppError> {
    crate::ssr::admin::set_grant(user_id, instance_id, granted).await
}

/// What the tenant's log can hold: built-in, pack and own event types.
#[server(prefix = "/api", endpoint = "catalog", input = Json)]
pub async fn catalog(tenant: Option<String>) -> Result<CatalogView, AppError> {
    crate::ssr::catalog::catalog_of(tenant).await
}

/// Registers or changes one of the tenant's own event types (owners).
#[server(prefix = "/api", endpoint = "put_event_type", input = Json)]
pub async fn put_event_type(
    tenant: Option<String>,
    input: crate::catalog::TypeInput,
) -> Result<crate::catalog::TypeDef, AppError> {
    crate::ssr::catalog::put_own_type(tenant, input).await
}

/// Retires one of the tenant's own event types (owners).
#[server(prefix = "/api", endpoint = "retire_event_type", input = Json)]
pub async fn retire_event_type(tenant: Option<String>, name: String) -> Result<(), AppError> {
    crate::ssr::catalog::retire_own_type(tenant, name).await
}

/// Switches a catalog pack on or off (owners).
#[server(prefix = "/api", endpoint = "set_catalog_pack", input = Json)]
pub async fn set_catalog_pack(
    tenant: Option<String>,
    pack: String,
    on: bool,
) -> Result<(), AppError> {
    crate::ssr::catalog::switch_pack(tenant, pack, on).await
}

#[server(prefix = "/api", endpoint = "api_keys", input = Json)]
pub async fn api_keys(tenant: Option<String>) -> Result<Vec<ApiKeyView>, AppError> {
    crate::ssr::admin::api_keys(tenant).await
}

#[server(prefix = "/api", endpoint = "create_api_key", input = Json)]
pub async fn create_api_key(name: String, scopes: Vec<String>) -> Result<CreatedApiKey, AppError> {
    crate::ssr::admin::create_api_key(name, scopes).await
}

#[server(prefix = "/api", endpoint = "revoke_api_key", input = Json)]
pub async fn revoke_api_key(id: Uuid) -> Result<(), AppError> {
    crate::ssr::admin::revoke_api_key(id).await
}

/// Moves an API key to another user of the tenant, so it outlives its creator's
/// removal (admins, owners).
#[server(prefix = "/api", endpoint = "transfer_api_key", input = Json)]
pub async fn transfer_api_key(id: Uuid, to_user: Uuid) -> Result<(), AppError> {
    crate::ssr::admin::transfer_api_key(id, to_user).await
}

/// The sensitive-field list: the built-in names and the tenant's own additions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensitiveFieldList {
    pub builtin: Vec<String>,
    pub tenant: Vec<String>,
}

#[server(prefix = "/api", endpoint = "sensitive_fields", input = Json)]
pub async fn sensitive_fields(tenant: Option<String>) -> Result<SensitiveFieldList, AppError> {
    crate::ssr::admin::sensitive_fields(tenant).await
}

/// Replaces the tenant's additions (owners only); audited as `tenant.settings_changed`.
#[server(prefix = "/api", endpoint = "set_sensitive_fields", input = Json)]
pub async fn set_sensitive_fields(fields: Vec<String>) -> Result<SensitiveFieldList, AppError> {
    crate::ssr::admin::set_sensitive_fields(fields).await
}

/// What verifying a tenant's log found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub ok: bool,
    /// Entries verified (before the break, if any).
    pub entries: u64,
    /// The chain hash of the newest entry, when everything verified.
    pub head_hash: Option<String>,
    pub checkpoints_checked: usize,
    /// The first seq that does not verify, and why.
    pub broken_seq: Option<i64>,
    pub reason: Option<String>,
    /// Entries whose content retention purged (their links still verified), and the
    /// purged seq ranges.
    #[serde(default)]
    pub purged: u64,
    #[serde(default)]
    pub purged_ranges: Vec<(i64, i64)>,
    /// Critical entries inside the purged ranges, whose content retention kept (and
    /// which verified like any other).
    #[serde(default)]
    pub kept_critical: u64,
}

/// The tenant's public verification material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityInfo {
    /// Hex Ed25519 public key that signs checkpoints.
    pub public_key: String,
    /// The unguessable page where the tenant's checkpoints are published.
    pub verification_path: String,
    pub checkpoints: Vec<crate::checkpoint::Checkpoint>,
}

/// Walks the tenant's whole chain (admins, owners, super admins).
#[server(prefix = "/api", endpoint = "verify_integrity", input = Json)]
pub async fn verify_integrity(tenant: Option<String>) -> Result<VerifyReport, AppError> {
    crate::ssr::integrity::verify_integrity(tenant).await
}

/// Signs a checkpoint of the tenant's tree head now (admins, owners).
#[server(prefix = "/api", endpoint = "sign_checkpoint_now", input = Json)]
pub async fn sign_checkpoint_now(tenant: Option<String>) -> Result<IntegrityInfo, AppError> {
    crate::ssr::integrity::sign_now(tenant).await
}

#[server(prefix = "/api", endpoint = "integrity", input = Json)]
pub async fn integrity(tenant: Option<String>) -> Result<IntegrityInfo, AppError> {
    crate::ssr::integrity::integrity_info(tenant).await
}

/// What the public verification page shows: sizes, roots and signatures, never an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedCheckpoints {
    pub tenant_name: String,
    pub public_key: String,
    pub checkpoints: Vec<crate::checkpoint::Checkpoint>,
}

/// The public verification page's data. No login: the unguessable token is the
/// capability, and the answer holds no entry.
#[server(prefix = "/api", endpoint = "public_verification", input = Json)]
pub async fn public_verification(token: String) -> Result<PublishedCheckpoints, AppError> {
    crate::ssr::integrity::public_verification(token).await
}

/// An entry's inclusion proof against the newest checkpoint that covers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionAnswer {
    pub checkpoint: crate::checkpoint::Checkpoint,
    pub leaf_index: u64,
    /// RFC 9162 inclusion path, hex.
    pub proof: Vec<String>,
}

/// For the public page: the proof that entry `seq` is in the newest checkpoint
/// covering it. No login: the token is the capability; the answer holds only hashes.
#[server(prefix = "/api", endpoint = "public_inclusion", input = Json)]
pub async fn public_inclusion(token: String, seq: i64) -> Result<InclusionAnswer, AppError> {
    crate::ssr::integrity::public_inclusion(token, seq).await
}

/// What a manual purge removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeOutcome {
    pub from_seq: Option<i64>,
    pub to_seq: Option<i64>,
    pub count: u64,
}

/// The tenant's retention in days (`None`: unlimited). Admins and owners.
#[server(prefix = "/api", endpoint = "retention_setting", input = Json)]
pub async fn retention_setting(tenant: Option<String>) -> Result<Option<u32>, AppError> {
    crate::ssr::retention::retention_setting(tenant).await
}

/// Owners choose 30, 90 or 365 days or unlimited; audited as `tenant.settings_changed`.
#[server(prefix = "/api", endpoint = "set_retention", input = Json)]
pub async fn set_retention(days: Option<u32>) -> Result<Option<u32>, AppError> {
    crate::ssr::retention::set_retention(days).await
}

/// Super admins: purge one tenant's content older than N days, confirmed by its slug.
#[server(prefix = "/api", endpoint = "manual_purge", input = Json)]
pub async fn manual_purge(
    tenant: String,
    older_than_days: u32,
    confirm: String,
) -> Result<PurgeOutcome, AppError> {
    crate::ssr::retention::manual_purge(tenant, older_than_days, confirm).await
}
