//! The log's core, written once for every store: sequencing, redaction, sealing,
//! the Merkle frontier, idempotency replay, the instance registry rules and the
//! purge-range policy. A store only provides [`LogTx`], a transaction with a few
//! primitives (lock the tenant, read the head from the chain links, find a key,
//! insert what the core computed, commit), so two stores cannot drift apart on
//! what an append means.

use crate::catalog::EventType;
use crate::diff::Redactor;
use crate::entry::{Appended, Entry, InstanceRef, NewEntry};
use crate::merkle::{leaf_hash, Frontier, Hash};
use crate::store::{Mutation, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

/// An idempotency key as remembered: the producer's scope, the key, the hash of the
/// request that used it, and the entry it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub scope: String,
    pub key: String,
    pub request_hash: Option<String>,
    pub entry_id: Uuid,
    pub seq: i64,
    pub hash: String,
}

/// Everything one append writes, computed by the core, inserted by the store in the
/// same transaction.
#[derive(Debug, Default)]
pub struct Written {
    pub tenant_id: Uuid,
    /// Sealed entries in seq order; each one's chain link is `(seq, entry_digest, hash)`.
    pub entries: Vec<Entry>,
    /// The perfect Merkle subtrees `(level, index, hash)` the new leaves complete.
    pub nodes: Vec<(u32, u64, Hash)>,
    pub keys: Vec<KeyRecord>,
    /// The instance registry after this batch: latest name, deleted once deleted.
    pub instances: Vec<(InstanceRef, bool)>,
}

/// One write transaction of a store. Dropping it without [`LogTx::commit`] rolls
/// everything back.
#[async_trait]
pub trait LogTx: Send {
    /// Serializes this tenant's writers until the transaction ends (across every
    /// process on the database) and answers the tenant's own sensitive-field
    /// additions; `None` when there is no such tenant.
    async fn lock_tenant(&mut self, tenant_id: Uuid) -> Result<Option<Vec<String>>, StoreError>;

    /// The newest chain link `(seq, hash)`, read from the chain links (never from
    /// the entries, which retention deletes).
    async fn head(&mut self, tenant_id: Uuid) -> Result<Option<(i64, String)>, StoreError>;

    /// One stored perfect subtree.
    async fn node(
        &mut self,
        tenant_id: Uuid,
        level: u32,
        idx: u64,
    ) -> Result<Option<Hash>, StoreError>;

    /// The remembered keys among `keys` (any scope: the core picks the caller's
    /// scope, or the unscoped era's `''`), in one lookup for a whole batch.
    async fn find_keys(
        &mut self,
        tenant_id: Uuid,
        keys: &[String],
    ) -> Result<Vec<KeyRecord>, StoreError>;

    /// Applies an account mutation.
    async fn apply(&mut self, mutation: &Mutation, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Inserts entries with their chain links, subtrees, keys and instance rows.
    async fn insert(&mut self, written: &Written) -> Result<(), StoreError>;

    /// The last seq a recorded purge range covers (0 when none).
    async fn purged_through(&mut self, tenant_id: Uuid) -> Result<i64, StoreError>;

    /// The newest seq among the tenant's entries recorded before `cutoff`.
    async fn last_recorded_before(
        &mut self,
        tenant_id: Uuid,
        cutoff: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError>;

    async fn insert_purge_range(
        &mut self,
        tenant_id: Uuid,
        range: (i64, i64),
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Opens the savepoint one request of a group writes under.
    async fn savepoint(&mut self) -> Result<(), StoreError>;

    /// Keeps what was written since [`LogTx::savepoint`].
    async fn release_savepoint(&mut self) -> Result<(), StoreError>;

    /// Undoes what was written since [`LogTx::savepoint`], locks taken before it kept.
    async fn rollback_to_savepoint(&mut self) -> Result<(), StoreError>;

    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Where a store's write transactions come from: what [`GroupCommit`]'s writers
/// open one transaction per group with.
#[async_trait]
pub trait TxSource: Send + Sync + 'static {
    async fn begin(&self) -> Result<Box<dyn LogTx>, StoreError>;
}

fn decode_hash(hex_text: &str, what: &str) -> Result<Hash, StoreError> {
    hex::decode(hex_text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError::Internal(format!("stored row has an unreadable {what}").into()))
}

/// The tenant's frontier for a tree of `size` leaves, read from the stored peaks.
pub async fn frontier(
    tx: &mut dyn LogTx,
    tenant_id: Uuid,
    size: u64,
) -> Result<Frontier, StoreError> {
    let mut peaks = Vec::new();
    for (level, idx) in Frontier::peak_positions(size) {
        let hash = tx.node(tenant_id, level, idx).await?.ok_or_else(|| {
            StoreError::Internal("stored merkle frontier is missing a node".into())
        })?;
        peaks.push((level, hash));
    }
    Ok(Frontier { size, peaks })
}

/// Where a tenant's log stands inside a write transaction: what the next entry is
/// masked with, numbered after, chained to and added to.
#[derive(Clone)]
pub(crate) struct Tip {
    redactor: Redactor,
    seq: i64,
    prev: Hash,
    frontier: Frontier,
}

/// The tenant's tip, read from the chain links and the stored peaks. `extra_sensitive`
/// is what [`LogTx::lock_tenant`] answered.
pub(crate) async fn tip(
    tx: &mut dyn LogTx,
    tenant_id: Uuid,
    extra_sensitive: &[String],
) -> Result<Tip, StoreError> {
    // A tenant whose every entry was purged still continues its chain: the head
    // comes from the links.
    let (seq, prev) = match tx.head(tenant_id).await? {
        None => (0i64, crate::canonical::GENESIS_HASH),
        Some((seq, hash)) => (seq, decode_hash(&hash, "chain hash")?),
    };
    let size = u64::try_from(seq).map_err(|_| StoreError::Internal("negative head".into()))?;
    Ok(Tip {
        redactor: Redactor::new(extra_sensitive),
        seq,
        prev,
        frontier: frontier(tx, tenant_id, size).await?,
    })
}

/// The append (SPEC "The record") in its own transaction: under the tenant's lock,
/// applies the mutation, then for each entry replays a used idempotency key or
/// masks, numbers, seals and chains it, extends the Merkle tree, and commits it all
/// at once. Stores run appends through [`GroupCommit`], which does the same for
/// many requests in one transaction.
pub async fn commit(
    mut tx: Box<dyn LogTx>,
    now: DateTime<Utc>,
    tenant_id: Uuid,
    mutation: Mutation,
    batch: Vec<NewEntry>,
) -> Result<Vec<Appended>, StoreError> {
    let extra_sensitive = tx
        .lock_tenant(tenant_id)
        .await?
        .ok_or_else(|| StoreError::NotFound("tenant".to_owned()))?;
    let start = tip(tx.as_mut(), tenant_id, &extra_sensitive).await?;
    let (appended, _) = append_at(tx.as_mut(), start, now, tenant_id, &mutation, batch).await?;
    tx.commit().await?;
    Ok(appended)
}

/// One request's append inside an open transaction, from the tenant's `tip`: the
/// mutation, then the entries. Returns what it appended and the tip after it; on an
/// error the caller rolls the request's writes back.
pub(crate) async fn append_at(
    tx: &mut dyn LogTx,
    tip: Tip,
    now: DateTime<Utc>,
    tenant_id: Uuid,
    mutation: &Mutation,
    batch: Vec<NewEntry>,
) -> Result<(Vec<Appended>, Tip), StoreError> {
    tx.apply(mutation, now).await?;
    let known = known_keys(tx, tenant_id, batch.iter()).await?;
    let (appended, tip, written) = prepare(tip, now, tenant_id, batch, &known)?;
    if !written.entries.is_empty() || !written.keys.is_empty() {
        tx.insert(&written).await?;
    }
    Ok((appended, tip))
}

/// Idempotency keys used before, by (scope, key).
pub(crate) type KnownKeys = HashMap<(String, String), KeyRecord>;

/// The stored idempotency keys that `entries` ask about, in one lookup.
pub(crate) async fn known_keys<'a>(
    tx: &mut dyn LogTx,
    tenant_id: Uuid,
    entries: impl Iterator<Item = &'a NewEntry>,
) -> Result<KnownKeys, StoreError> {
    let mut asked: Vec<String> = entries.filter_map(|n| n.idempotency_key.clone()).collect();
    asked.sort();
    asked.dedup();
    let mut known = KnownKeys::new();
    if !asked.is_empty() {
        for k in tx.find_keys(tenant_id, &asked).await? {
            known.insert((k.scope.clone(), k.key.clone()), k);
        }
    }
    Ok(known)
}

/// Computes one request's entries from the tenant's `tip`, writing nothing: for
/// each entry, replays a used idempotency key (from `known`, or earlier in the
/// batch) or masks, numbers, seals and chains it and extends the Merkle tree.
/// Returns what it appended, the tip after it and what the store must insert.
pub(crate) fn prepare(
    mut tip: Tip,
    now: DateTime<Utc>,
    tenant_id: Uuid,
    batch: Vec<NewEntry>,
    known: &KnownKeys,
) -> Result<(Vec<Appended>, Tip, Written), StoreError> {
    let mut written = Written {
        tenant_id,
        ..Written::default()
    };
    let mut instances: Vec<(InstanceRef, bool)> = Vec::new();
    let mut fresh_keys: HashMap<(String, String), usize> = HashMap::new();
    let mut appended = Vec::with_capacity(batch.len());
    for mut new in batch {
        if let Some(key) = new.idempotency_key.clone() {
            let scope = new.idempotency_scope.clone().unwrap_or_default();
            let earlier = match fresh_keys.get(&(scope.clone(), key.clone())) {
                Some(&i) => Some(written.keys[i].clone()),
                None => known
                    .get(&(scope.clone(), key.clone()))
                    .or_else(|| known.get(&(String::new(), key.clone())))
                    .cloned(),
            };
            if let Some(original) = earlier {
                if let (Some(stored), Some(now)) = (&original.request_hash, &new.request_hash) {
                    if stored != now {
                        return Err(StoreError::Conflict(format!(
                            "idempotency key `{key}` was used before for a different event: send a new key for a new event"
                        )));
                    }
                }
                appended.push(Appended {
                    id: original.entry_id,
                    seq: original.seq,
                    hash: original.hash,
                    replayed: true,
                });
                continue;
            }
        }
        tip.redactor.apply(&mut new);
        tip.seq += 1;
        let seq = tip.seq;
        let key = new.idempotency_key.clone().map(|k| {
            (
                k,
                new.idempotency_scope.clone().unwrap_or_default(),
                new.request_hash.clone(),
            )
        });
        let entry = new.seal(Uuid::now_v7(), tenant_id, seq, now, &tip.prev);
        if let Some((key, scope, request_hash)) = key {
            fresh_keys.insert((scope.clone(), key.clone()), written.keys.len());
            written.keys.push(KeyRecord {
                scope,
                key,
                request_hash,
                entry_id: entry.id,
                seq,
                hash: entry.hash.clone(),
            });
        }
        let digest = decode_hash(&entry.entry_digest, "entry digest")?;
        written.nodes.extend(tip.frontier.push(leaf_hash(&digest)));
        if let Some(instance) = &entry.instance {
            let deleted = entry.event_type == EventType::InstanceDeleted;
            match instances.iter_mut().find(|(i, _)| i.id == instance.id) {
                Some((known, was_deleted)) => {
                    known.name.clone_from(&instance.name);
                    *was_deleted |= deleted;
                }
                None => instances.push((instance.clone(), deleted)),
            }
        }
        tip.prev = decode_hash(&entry.hash, "chain hash")?;
        appended.push(Appended::from(&entry));
        written.entries.push(entry);
    }
    written.instances = instances;
    Ok((appended, tip, written))
}

/// Records the range a purge will remove: from the end of the last recorded range
/// to the newest entry recorded before `cutoff`. Entries are recorded in seq order,
/// so the range is contiguous from the oldest end. `None` when nothing is due.
pub async fn record_purge(
    mut tx: Box<dyn LogTx>,
    now: DateTime<Utc>,
    tenant_id: Uuid,
    cutoff: DateTime<Utc>,
) -> Result<Option<(i64, i64)>, StoreError> {
    tx.lock_tenant(tenant_id)
        .await?
        .ok_or_else(|| StoreError::NotFound("tenant".to_owned()))?;
    let start = tx.purged_through(tenant_id).await? + 1;
    let Some(end) = tx
        .last_recorded_before(tenant_id, cutoff)
        .await?
        .filter(|e| *e >= start)
    else {
        return Ok(None);
    };
    tx.insert_purge_range(tenant_id, (start, end), now).await?;
    tx.commit().await?;
    Ok(Some((start, end)))
}
