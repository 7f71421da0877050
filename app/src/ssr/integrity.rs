//! Integrity on the server: tree heads and proofs from the stored subtrees, signing
//! checkpoints, and the walk that verifies a tenant's whole log.

use super::session::require_session;
use super::{state, AppState};
use crate::api::{AppError, InclusionAnswer, IntegrityInfo, PublishedCheckpoints, VerifyReport};
use crate::auth::{require, Permission, Scope};
use crate::canonical::{chain_hash, entry_digest, GENESIS_HASH};
use crate::catalog::EventType;
use crate::checkpoint::Checkpoint;
use crate::entry::{Actor, Context, NewEntry, Tenant};
use crate::merkle::{self, leaf_hash, Frontier, Hash};
use crate::store::{EntryQuery, Mutation, Order, Store};
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

/// Runs a Merkle computation `f` over the tenant's stored perfect subtrees: once to
/// learn which it needs, then with their hashes. O(log n) lookups for a proof.
async fn with_subtrees<T>(
    store: &dyn Store,
    tenant: Uuid,
    f: impl Fn(&mut dyn FnMut(u64, u64) -> Result<Hash, ()>) -> Result<T, ()>,
) -> Result<T, AppError> {
    let mut wanted = Vec::new();
    let _ = f(&mut |a, b| {
        merkle::subtree(a, b, &mut |level, idx| {
            wanted.push((level, idx));
            Ok::<_, ()>([0; 32])
        })
    });
    wanted.sort_unstable();
    wanted.dedup();
    let hashes = store.perfect_nodes(tenant, &wanted).await?;
    let known: HashMap<(u32, u64), Hash> = wanted.into_iter().zip(hashes).collect();
    f(&mut |a, b| {
        merkle::subtree(a, b, &mut |level, idx| {
            known.get(&(level, idx)).copied().ok_or(())
        })
    })
    .map_err(|()| AppError::Internal)
}

/// The number of entries in the tenant's chain (its tree size).
pub async fn tree_size(store: &dyn Store, tenant: Uuid) -> Result<u64, AppError> {
    let newest = store
        .list(&EntryQuery {
            tenant_id: Some(tenant),
            limit: 1,
            ..EntryQuery::default()
        })
        .await?;
    Ok(newest
        .first()
        .map_or(0, |e| u64::try_from(e.seq).unwrap_or(0)))
}

pub async fn root_at(store: &dyn Store, tenant: Uuid, size: u64) -> Result<Hash, AppError> {
    if size == 0 {
        return Ok(merkle::empty_root());
    }
    with_subtrees(store, tenant, |h| h(0, size)).await
}

pub async fn inclusion_proof(
    store: &dyn Store,
    tenant: Uuid,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, AppError> {
    with_subtrees(store, tenant, |mut h| {
        merkle::inclusion_proof(index, size, &mut h)
    })
    .await
}

pub async fn consistency_proof(
    store: &dyn Store,
    tenant: Uuid,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, AppError> {
    with_subtrees(store, tenant, |mut h| {
        merkle::consistency_proof(first, second, &mut h)
    })
    .await
}

/// Signs the tenant's current tree head and records it with an
/// `audit.checkpoint_signed` entry, in one transaction.
pub async fn sign_checkpoint(
    state: &AppState,
    tenant: Uuid,
    actor: Actor,
    context: Context,
) -> Result<Checkpoint, AppError> {
    let size = tree_size(state.store.as_ref(), tenant).await?;
    let root = root_at(state.store.as_ref(), tenant, size).await?;
    let cp = Checkpoint::sign(&state.signer, tenant, size, &root, chrono::Utc::now());
    let entry = NewEntry::new(
        EventType::AuditCheckpointSigned,
        actor,
        format!("Signed a checkpoint of the first {size} entries"),
    )
    .meta("tree_size", json!(size))
    .meta("root_hash", json!(cp.root_hash))
    .meta("key_id", json!(cp.key_id))
    .context(context);
    state
        .store
        .commit(tenant, Mutation::AddCheckpoint(cp.clone()), vec![entry])
        .await?;
    Ok(cp)
}

/// Signs every tenant whose log grew since its last checkpoint (the periodic job).
pub async fn sign_changed(state: &AppState) -> Result<usize, AppError> {
    let mut signed = 0;
    for tenant in state.store.tenants().await? {
        let size = tree_size(state.store.as_ref(), tenant.id).await?;
        let last = state.store.checkpoints(tenant.id).await?;
        let covered = last.first().map_or(0, |c| c.tree_size);
        if size > covered {
            sign_checkpoint(state, tenant.id, Actor::system(), Context::default()).await?;
            signed += 1;
        }
    }
    Ok(signed)
}

fn broken(entries: u64, seq: i64, reason: String) -> VerifyReport {
    VerifyReport {
        ok: false,
        entries,
        head_hash: None,
        checkpoints_checked: 0,
        broken_seq: Some(seq),
        reason: Some(reason),
        purged: 0,
        purged_ranges: Vec::new(),
    }
}

/// Walks the tenant's whole log: every entry against its digest and chain link, the
/// chain from genesis, and every checkpoint's root and signature. Reports OK or the
/// first broken seq and why.
pub async fn verify_log(
    store: &dyn Store,
    tenant: Uuid,
    public: &ed25519_dalek::VerifyingKey,
) -> Result<VerifyReport, AppError> {
    let mut checkpoints = store.checkpoints(tenant).await?;
    checkpoints.sort_by_key(|c| c.tree_size);
    let mut next_checkpoint = 0;
    let mut prev = GENESIS_HASH;
    let mut frontier = Frontier::default();
    let mut expected = 1i64;
    let purged = store.purged_ranges(tenant).await?;
    let mut purged_count = 0u64;
    const PAGE: u32 = 1000;
    loop {
        let links = store.chain_links(tenant, expected - 1, PAGE).await?;
        let entries = store
            .list(&EntryQuery {
                tenant_id: Some(tenant),
                order: Order::OldestFirst,
                cursor: Some(expected - 1),
                limit: PAGE,
                ..EntryQuery::default()
            })
            .await?;
        if links.is_empty() {
            if let Some(orphan) = entries.first() {
                return Ok(broken(
                    frontier.size,
                    orphan.seq,
                    format!("link missing: entry {} has no chain link", orphan.seq),
                ));
            }
            break;
        }
        let by_seq: HashMap<i64, _> = entries.iter().map(|e| (e.seq, e)).collect();
        for link in &links {
            let at = frontier.size;
            if link.seq != expected {
                return Ok(broken(
                    at,
                    expected,
                    format!(
                        "seq gap: the chain jumps from {} to {}",
                        expected - 1,
                        link.seq
                    ),
                ));
            }
            let digest = match by_seq.get(&link.seq) {
                Some(entry) => {
                    let digest = entry_digest(entry);
                    if hex::encode(digest) != entry.entry_digest
                        || entry.entry_digest != link.entry_digest
                    {
                        return Ok(broken(
                            at,
                            link.seq,
                            "content changed: the entry no longer matches the digest in its chain link"
                                .to_owned(),
                        ));
                    }
                    if entry.hash != link.hash || entry.prev_hash != hex::encode(prev) {
                        return Ok(broken(
                            at,
                            link.seq,
                            "hash mismatch: the entry's chain fields differ from its link"
                                .to_owned(),
                        ));
                    }
                    digest
                }
                // Retention removed this content: the link alone carries the chain.
                None if purged.iter().any(|(a, b)| (*a..=*b).contains(&link.seq)) => {
                    purged_count += 1;
                    hex::decode(&link.entry_digest)
                        .ok()
                        .and_then(|b| b.try_into().ok())
                        .ok_or(AppError::Internal)?
                }
                None => {
                    return Ok(broken(
                        at,
                        link.seq,
                        "entry missing: its chain link exists but its content is gone".to_owned(),
                    ))
                }
            };
            let hash = chain_hash(&prev, &digest);
            if hex::encode(hash) != link.hash {
                return Ok(broken(
                    at,
                    link.seq,
                    "hash mismatch: the chain hash does not follow from the previous link"
                        .to_owned(),
                ));
            }
            prev = hash;
            frontier.push(leaf_hash(&digest));
            while let Some(cp) = checkpoints
                .get(next_checkpoint)
                .filter(|c| c.tree_size <= frontier.size)
            {
                if let Err(e) = cp.verify(public) {
                    return Ok(broken(
                        frontier.size,
                        link.seq,
                        format!("checkpoint signature invalid: {e}"),
                    ));
                }
                if cp.tree_size == frontier.size && cp.root() != Some(frontier.root()) {
                    return Ok(broken(
                        frontier.size,
                        link.seq,
                        format!(
                            "checkpoint mismatch: the checkpoint of {} entries signed {} has another root",
                            cp.tree_size, cp.signed_at
                        ),
                    ));
                }
                next_checkpoint += 1;
            }
            expected += 1;
        }
    }
    if let Some(cp) = checkpoints.get(next_checkpoint) {
        if let Err(e) = cp.verify(public) {
            return Ok(broken(
                frontier.size,
                expected,
                format!("checkpoint signature invalid: {e}"),
            ));
        }
        return Ok(broken(
            frontier.size,
            expected,
            format!(
                "truncated: the checkpoint signed {} covers {} entries, the log holds {}",
                cp.signed_at, cp.tree_size, frontier.size
            ),
        ));
    }
    Ok(VerifyReport {
        ok: true,
        entries: frontier.size,
        head_hash: (frontier.size > 0).then(|| hex::encode(prev)),
        checkpoints_checked: next_checkpoint,
        broken_seq: None,
        reason: None,
        purged: purged_count,
        purged_ranges: purged,
    })
}

async fn own_tenant(
    state: &AppState,
    slug: Option<String>,
) -> Result<(super::session::Session, Tenant), AppError> {
    let session = require_session(state).await?;
    let slug = slug.filter(|s| !s.is_empty());
    let tenant = super::feeds::target_tenant(state, &session, slug.as_deref()).await?;
    require(
        Some(&session.caller),
        Permission::AuditView,
        Scope::Tenant(tenant.id),
    )?;
    Ok((session, tenant))
}

pub async fn verify_integrity(tenant: Option<String>) -> Result<VerifyReport, AppError> {
    let state = state()?;
    let (_, tenant) = own_tenant(&state, tenant).await?;
    verify_log(
        state.store.as_ref(),
        tenant.id,
        &state.signer.verifying_key(),
    )
    .await
}

pub async fn sign_now(tenant: Option<String>) -> Result<IntegrityInfo, AppError> {
    let state = state()?;
    let (session, tenant) = own_tenant(&state, tenant).await?;
    sign_checkpoint(&state, tenant.id, session.actor(), session.context()).await?;
    info(&state, &tenant).await
}

pub async fn integrity_info(tenant: Option<String>) -> Result<IntegrityInfo, AppError> {
    let state = state()?;
    let (_, tenant) = own_tenant(&state, tenant).await?;
    info(&state, &tenant).await
}

async fn info(state: &AppState, tenant: &Tenant) -> Result<IntegrityInfo, AppError> {
    let token = state.store.verification_token(tenant.id).await?;
    Ok(IntegrityInfo {
        public_key: hex::encode(state.signer.verifying_key().as_bytes()),
        verification_path: format!("/verify/{token}"),
        checkpoints: state.store.checkpoints(tenant.id).await?,
    })
}

/// The tenant a public verification token stands for; 404 for any other string.
pub async fn tenant_of_token(store: &dyn Store, token: &str) -> Result<Tenant, AppError> {
    store
        .tenant_by_verification_token(token)
        .await?
        .ok_or_else(|| {
            AppError::NotFound("there is no verification page at this address".to_owned())
        })
}

pub async fn public_verification(token: String) -> Result<PublishedCheckpoints, AppError> {
    let state = state()?;
    let tenant = tenant_of_token(state.store.as_ref(), token.trim()).await?;
    Ok(PublishedCheckpoints {
        tenant_name: tenant.name,
        public_key: hex::encode(state.signer.verifying_key().as_bytes()),
        checkpoints: state.store.checkpoints(tenant.id).await?,
    })
}

pub async fn public_inclusion(token: String, seq: i64) -> Result<InclusionAnswer, AppError> {
    let state = state()?;
    let tenant = tenant_of_token(state.store.as_ref(), token.trim()).await?;
    let index =
        u64::try_from(seq - 1).map_err(|_| AppError::BadRequest("seq starts at 1".to_owned()))?;
    let checkpoint = state
        .store
        .checkpoints(tenant.id)
        .await?
        .into_iter()
        .filter(|c| c.tree_size > index)
        .max_by_key(|c| c.signed_at)
        .ok_or_else(|| {
            AppError::BadRequest(format!(
                "no checkpoint covers entry {seq} yet: sign one, then try again"
            ))
        })?;
    let proof =
        inclusion_proof(state.store.as_ref(), tenant.id, index, checkpoint.tree_size).await?;
    Ok(InclusionAnswer {
        checkpoint,
        leaf_index: index,
        proof: proof.iter().map(hex::encode).collect(),
    })
}
