//! The storage trait (server only). Every backend implements exactly these
//! insert-only operations; there is no update or delete of an entry here, and the
//! only deletion Stele will ever have is the retention purge (SPEC "Retention").

use crate::api::FeedFilter;
use crate::auth::Role;
use crate::entry::{Appended, Entry, NewEntry, Tenant};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Which end of a tenant's log a listing starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Newest first; the cursor is "entries with seq below this".
    #[default]
    NewestFirst,
    /// Oldest first; the cursor is "entries with seq above this".
    OldestFirst,
}

/// A page request over one tenant's entries, keyset-paged by seq.
#[derive(Debug, Clone, Default)]
pub struct EntryQuery {
    /// The tenant, or `None` for the cross-tenant master view.
    pub tenant_id: Option<Uuid>,
    pub filter: FeedFilter,
    pub order: Order,
    /// Keyset cursor within one tenant: a seq.
    pub cursor: Option<i64>,
    /// Page by entry id instead of seq (the master view, across tenants): ids are
    /// UUIDv7, so time-ordered. `id_cursor` is then the keyset cursor.
    pub page_by_id: bool,
    pub id_cursor: Option<Uuid>,
    pub limit: u32,
    /// Rows to skip (the master view's page numbers).
    pub offset: u32,
    /// Only entries up to this seq (an export's fixed end).
    pub max_seq: Option<i64>,
    /// Whether the target and resource filters must also look at entries' other
    /// targets. The store sets it (only when some entry names the filtered resource
    /// beyond its first target); what callers pass is ignored.
    pub other_targets: bool,
}

/// The columns the facets count, of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetRow {
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_label: String,
    pub instance_id: Option<String>,
    pub instance_name: Option<String>,
    pub event_type: String,
}

/// A user as stored. Server-only: it carries the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub email: String,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub super_admin: bool,
    pub password_hash: Option<String>,
    pub removed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// The first characters of the secret, shown to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub revoked: bool,
    /// The user who created it (none for keys made on the command line).
    pub created_by: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    pub id: String,
    pub name: String,
    pub deleted: bool,
}

/// A change to accounts, committed in the same transaction as the entries that audit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// Only the entries (e.g. a failed login).
    None,
    CreateSession {
        id_hash: String,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    },
    RevokeSession {
        id_hash: String,
    },
    /// Creates a user, with a one-time set-password token (hash and expiry) if given.
    CreateUser {
        user: UserRecord,
        set_password: Option<(String, DateTime<Utc>)>,
    },
    /// Consumes a set-password token (it must be unused and unexpired) and sets the hash.
    UsePasswordToken {
        token_hash: String,
        password_hash: String,
    },
    ChangeRole {
        user_id: Uuid,
        role: Role,
    },
    /// Marks the user removed (their address can be invited again), revokes their
    /// sessions and grants, and revokes the API keys they created.
    RemoveUser {
        user_id: Uuid,
    },
    Grant {
        user_id: Uuid,
        instance_id: String,
    },
    Revoke {
        user_id: Uuid,
        instance_id: String,
    },
    CreateApiKey {
        key: ApiKeyRecord,
        key_hash: String,
        created_by: Option<Uuid>,
    },
    RevokeApiKey {
        id: Uuid,
    },
    /// Makes another user responsible for a key (it is revoked with that user).
    TransferApiKey {
        id: Uuid,
        to_user: Uuid,
    },
    /// Replaces the tenant's own additions to the sensitive-field list.
    SetSensitiveFields {
        tenant_id: Uuid,
        fields: Vec<String>,
    },
    /// Replaces the tenant's catalog (packs and own event types) if it is still
    /// `before`; otherwise the commit fails with a conflict and changes nothing.
    SetCatalog {
        tenant_id: Uuid,
        before: crate::catalog::TenantCatalog,
        after: crate::catalog::TenantCatalog,
    },
    /// Records a signed checkpoint of the tenant's tree head.
    AddCheckpoint(crate::checkpoint::Checkpoint),
    /// Sets how many days the tenant keeps content (`None`: forever).
    SetRetention {
        tenant_id: Uuid,
        days: Option<u32>,
    },
    /// Marks a purged range as audited: its `audit.purged` entry commits with it, so
    /// a purge interrupted before its entry was written is audited when finished.
    PurgeAudited {
        tenant_id: Uuid,
        from_seq: i64,
    },
}

/// One link of a tenant's hash chain, kept even after retention purges the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    pub seq: i64,
    pub entry_digest: String,
    pub hash: String,
}

/// The login attempts recorded under one throttling key in the current window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptCount {
    pub count: u64,
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
}

/// The throttling rules [`Store::login_attempt`] applies under its lock:
/// `Err(seconds to wait)` refuses the attempt.
pub type AttemptRules = dyn Fn(&[AttemptCount], DateTime<Utc>) -> Result<(), u64> + Send + Sync;

/// The largest page a caller may ask for.
pub const MAX_PAGE: u32 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// The source is logged on the server; clients only ever see a generic message.
    #[error("internal store error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The clock every time Stele stamps or compares comes from (tests move it).
    fn clock(&self) -> std::sync::Arc<dyn crate::clock::Clock>;

    /// The tenant's tree size: the newest seq of its chain links, which retention
    /// never removes (0 for an empty log). Never read from the entries table.
    async fn head(&self, tenant_id: Uuid) -> Result<u64, StoreError>;

    /// Creates a tenant; a taken slug is a [`StoreError::Conflict`].
    async fn create_tenant(&self, slug: &str, name: &str) -> Result<Tenant, StoreError>;

    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError>;

    async fn tenant_by_id(&self, id: Uuid) -> Result<Option<Tenant>, StoreError>;

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError>;

    /// Appends a batch to one tenant's log in one transaction: all entries or none.
    /// Writes per tenant are serialized, so seq has no gap; returns id, seq and hash
    /// of each entry in batch order. Every entry is masked with the tenant's
    /// [`crate::diff::Redactor`] before it is sealed. An entry whose idempotency key
    /// the tenant has used already is not written: its slot reports the original
    /// entry with `replayed` set. Entries naming an instance keep the instance
    /// registry current (and `instance.deleted` marks it deleted).
    async fn append(
        &self,
        tenant_id: Uuid,
        batch: Vec<NewEntry>,
    ) -> Result<Vec<Appended>, StoreError> {
        self.commit(tenant_id, Mutation::None, batch).await
    }

    /// Applies an account mutation and appends the entries that audit it, in one
    /// transaction: both or neither. The algorithm is the core's
    /// ([`crate::ssr::log::commit`]); the store only provides the transaction.
    async fn commit(
        &self,
        tenant_id: Uuid,
        mutation: Mutation,
        batch: Vec<NewEntry>,
    ) -> Result<Vec<Appended>, StoreError> {
        if batch.is_empty() && mutation == Mutation::None {
            return Ok(Vec::new());
        }
        let tx = self.begin().await?;
        crate::ssr::log::commit(tx, self.clock().now(), tenant_id, mutation, batch).await
    }

    /// What the store's group committer has committed (none for a store without one).
    fn group_stats(&self) -> crate::ssr::group::GroupStats {
        crate::ssr::group::GroupStats::default()
    }

    /// Opens a write transaction (see [`crate::ssr::log::LogTx`]).
    async fn begin(&self) -> Result<Box<dyn crate::ssr::log::LogTx>, StoreError>;

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError>;

    /// The tenant's users, removed ones included, by email.
    async fn users_of(&self, tenant_id: Uuid) -> Result<Vec<UserRecord>, StoreError>;

    /// The instance ids a user was granted.
    async fn grants_of(&self, user_id: Uuid) -> Result<Vec<String>, StoreError>;

    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// The user a set-password token belongs to, if it is unused and unexpired.
    async fn password_token_user(&self, token_hash: &str) -> Result<Option<Uuid>, StoreError>;

    /// The tenant's instances, deleted ones included, by name.
    async fn instances(&self, tenant_id: Uuid) -> Result<Vec<InstanceRecord>, StoreError>;

    async fn api_keys(&self, tenant_id: Uuid) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// The API key with this secret hash, revoked or not.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// The tenant's own additions to the sensitive-field list (masked like the
    /// built-in ones in every entry appended afterwards).
    async fn sensitive_fields(&self, tenant_id: Uuid) -> Result<Vec<String>, StoreError>;

    /// The tenant's packs and own event types (empty for an unknown tenant).
    async fn catalog(&self, tenant_id: Uuid) -> Result<crate::catalog::TenantCatalog, StoreError>;

    /// One page of a tenant's entries matching the filter.
    async fn list(&self, query: &EntryQuery) -> Result<Vec<Entry>, StoreError>;

    /// How many entries match (cursor and paging ignored), counting at most `cap`:
    /// `(count, exact)`; past the cap, `(cap, false)`.
    async fn count(&self, query: &EntryQuery, cap: u64) -> Result<(u64, bool), StoreError>;

    /// Matching entries per time bucket: `(bucket, count)` for the non-empty
    /// buckets of `[from, to)` (ms), bucket `i` starting at `from + i × bucket`.
    /// One aggregate query; cursor and paging are ignored.
    async fn histogram(
        &self,
        query: &EntryQuery,
        span: (i64, i64),
        bucket: i64,
    ) -> Result<Vec<(i64, u64)>, StoreError>;

    /// Who, where and what of the newest `limit` matching entries, newest first.
    async fn facet_sample(
        &self,
        query: &EntryQuery,
        limit: u32,
    ) -> Result<Vec<FacetRow>, StoreError>;

    /// When the tenant's oldest retained entry happened (ms), if it has any.
    async fn earliest(&self, tenant_id: Uuid) -> Result<Option<i64>, StoreError>;

    /// One entry by id, whatever its tenant (the caller authorizes afterwards).
    async fn find(&self, id: Uuid) -> Result<Option<Entry>, StoreError>;

    /// One entry of one tenant; another tenant's entry is `None`.
    async fn get(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<Entry>, StoreError>;

    /// The tenant's chain links after `after_seq`, by seq.
    async fn chain_links(
        &self,
        tenant_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<ChainLink>, StoreError>;

    /// The stored subtrees of one level with index in `from..=to`, by index.
    async fn merkle_level(
        &self,
        tenant_id: Uuid,
        level: u32,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, crate::merkle::Hash)>, StoreError>;

    /// Stored perfect Merkle subtrees `(level, index)` of the tenant's tree, in order.
    async fn perfect_nodes(
        &self,
        tenant_id: Uuid,
        positions: &[(u32, u64)],
    ) -> Result<Vec<crate::merkle::Hash>, StoreError>;

    /// The tenant's signed checkpoints, newest first.
    async fn checkpoints(
        &self,
        tenant_id: Uuid,
    ) -> Result<Vec<crate::checkpoint::Checkpoint>, StoreError>;

    /// The unguessable token of the tenant's public verification page.
    async fn verification_token(&self, tenant_id: Uuid) -> Result<String, StoreError>;

    async fn tenant_by_verification_token(&self, token: &str)
        -> Result<Option<Tenant>, StoreError>;

    /// How many days the tenant keeps content (`None`: forever).
    async fn retention_days(&self, tenant_id: Uuid) -> Result<Option<u32>, StoreError>;

    /// Records the range a purge will remove: the tenant's entries recorded before
    /// `cutoff` that no earlier range covers (contiguous from the oldest end, because
    /// entries are recorded in seq order). Returns it, or `None` when nothing is due.
    async fn record_purge(
        &self,
        tenant_id: Uuid,
        cutoff: DateTime<Utc>,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let tx = self.begin().await?;
        crate::ssr::log::record_purge(tx, self.clock().now(), tenant_id, cutoff).await
    }

    /// The one deletion path (SPEC "Retention"): removes the content of a recorded
    /// range from the oldest end, in short batches, then makes the bytes
    /// unrecoverable (search index, free pages, write-ahead log). Chain links and
    /// Merkle subtrees stay. Deleting a range again is harmless.
    async fn purge_range(
        &self,
        tenant_id: Uuid,
        range: (i64, i64),
        batch: u32,
    ) -> Result<(), StoreError>;

    /// Recorded ranges whose `audit.purged` entry has not been written, oldest first.
    async fn unaudited_purges(&self, tenant_id: Uuid) -> Result<Vec<(i64, i64)>, StoreError>;

    /// The seq ranges retention purged, oldest first.
    async fn purged_ranges(&self, tenant_id: Uuid) -> Result<Vec<(i64, i64)>, StoreError>;

    /// Claims one round of a background job (`job`, numbered `round`) for the
    /// caller: true for exactly one caller per round across every server on the
    /// database, so several servers run the checkpoint and purge rounds once.
    async fn claim_round(&self, job: &str, round: i64) -> Result<bool, StoreError>;

    /// Forgets the claimed rounds below `round` of the jobs whose names start with
    /// `prefix` (rounds that can no longer be claimed, such as past hours); answers
    /// how many.
    async fn forget_rounds(&self, prefix: &str, round: i64) -> Result<u64, StoreError>;

    /// Login throttling shared by every server on the database. Under one lock:
    /// counts the attempts recorded under each key since `since`, asks `rules`, and
    /// when they allow it records this attempt (`attempt_id`) under every key.
    /// Attempts older than `since` are forgotten on the way.
    async fn login_attempt(
        &self,
        keys: &[String],
        since: DateTime<Utc>,
        attempt_id: &str,
        rules: &AttemptRules,
    ) -> Result<Result<(), u64>, StoreError>;

    /// A login succeeded: forgets every attempt under `pair_key` and this attempt
    /// under every key.
    async fn login_succeeded(&self, pair_key: &str, attempt_id: &str) -> Result<(), StoreError>;

    /// Whether the store answers (for `/healthz`).
    async fn ping(&self) -> Result<(), StoreError>;
}
