//! Integrity on the server: tree heads and proofs from the stored subtrees, signing
//! checkpoints, and the walk that verifies a tenant's whole log.

use super::session::require_session;
use super::{state, AppState, RoundReport};
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

/// The number of entries in the tenant's chain (its tree size), from the chain
/// links, which retention never removes.
pub async fn tree_size(store: &dyn Store, tenant: Uuid) -> Result<u64, AppError> {
    Ok(store.head(tenant).await?)
}

/// The hashes of the subtrees `[start, end)` of the tenant's tree, from the stored
/// perfect subtrees (an export's proof nodes).
pub async fn subtree_hashes(
    store: &dyn Store,
    tenant: Uuid,
    ranges: &[(u64, u64)],
) -> Result<Vec<Hash>, AppError> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    with_subtrees(store, tenant, |h| {
        ranges.iter().map(|&(a, b)| h(a, b)).collect()
    })
    .await
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

/// Where the stored subtrees disagree with what the entry digests give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeProblem {
    pub level: u32,
    pub index: u64,
    pub missing: bool,
}

impl NodeProblem {
    /// The seq whose append completed this subtree.
    pub fn seq(&self) -> i64 {
        i64::try_from((self.index + 1) << self.level).unwrap_or(i64::MAX)
    }

    pub fn describe(&self) -> String {
        let first = (self.index << self.level) + 1;
        let last = (self.index + 1) << self.level;
        if self.missing {
            format!(
                "merkle node missing: the subtree of seq {first}–{last} (level {}, index {}) is not stored",
                self.level, self.index
            )
        } else {
            format!(
                "merkle node corrupted: the stored subtree of seq {first}–{last} (level {}, index {}) differs from the entry digests",
                self.level, self.index
            )
        }
    }
}

/// Compares subtrees recomputed from digests, `(level, index, hash)` as
/// [`Frontier::push`] yields them, with the stored ones: the first that differs or
/// is missing, in seq order. Levels the store does not keep (it recomputes them from
/// the chain links' digests) are not compared.
pub async fn check_stored_nodes(
    store: &dyn Store,
    tenant: Uuid,
    computed: &[(u32, u64, Hash)],
) -> Result<Option<NodeProblem>, AppError> {
    let mut by_level: std::collections::BTreeMap<u32, Vec<(u64, Hash)>> = Default::default();
    for &(level, idx, hash) in computed.iter().filter(|n| merkle::is_stored(n.0)) {
        by_level.entry(level).or_default().push((idx, hash));
    }
    let mut first: Option<NodeProblem> = None;
    for (level, nodes) in by_level {
        let (lo, hi) = (nodes[0].0, nodes[nodes.len() - 1].0);
        let stored: HashMap<u64, Hash> = store
            .merkle_level(tenant, level, lo, hi)
            .await?
            .into_iter()
            .collect();
        for (index, hash) in nodes {
            let problem = match stored.get(&index) {
                Some(h) if *h == hash => continue,
                Some(_) => NodeProblem {
                    level,
                    index,
                    missing: false,
                },
                None => NodeProblem {
                    level,
                    index,
                    missing: true,
                },
            };
            if first.as_ref().is_none_or(|f| problem.seq() < f.seq()) {
                first = Some(problem);
            }
            break;
        }
    }
    Ok(first)
}

/// The Merkle root of the tenant's first `size` entries, computed without trusting
/// the stored subtrees: from the newest checkpoint at or below `size` whose
/// signature verifies and whose stored subtrees reproduce its signed root, extended
/// with the entry digests of the chain links after it. Every subtree it recomputes
/// is compared with the stored one; any disagreement refuses (nothing is signed).
pub async fn verified_root(state: &AppState, tenant: Uuid, size: u64) -> Result<Hash, AppError> {
    let store = state.store.as_ref();
    let keys = state.trusted_keys();
    let mut checkpoints = store.checkpoints(tenant).await?;
    checkpoints.retain(|c| c.tree_size <= size && c.verify_with(&keys).is_ok());
    checkpoints.sort_by_key(|c| std::cmp::Reverse(c.tree_size));
    let mut frontier = Frontier::default();
    if let Some(cp) = checkpoints.first() {
        let positions = Frontier::peak_positions(cp.tree_size);
        let peaks = store.perfect_nodes(tenant, &positions).await?;
        let stored = Frontier {
            size: cp.tree_size,
            peaks: positions.iter().map(|p| p.0).zip(peaks).collect(),
        };
        if Some(stored.root()) != cp.root() {
            tracing::error!(%tenant, size = cp.tree_size, "stored Merkle subtrees disagree with a signed checkpoint");
            return Err(AppError::Conflict(format!(
                "refused to sign: the stored Merkle subtrees no longer give the root of the checkpoint of {} entries; run Verify integrity",
                cp.tree_size
            )));
        }
        frontier = stored;
    }
    const PAGE: u32 = 1000;
    while frontier.size < size {
        let after = i64::try_from(frontier.size).map_err(|_| AppError::Internal)?;
        let links = store.chain_links(tenant, after, PAGE).await?;
        if links.is_empty() {
            return Err(AppError::Conflict(format!(
                "refused to sign: the chain links end at seq {after}, before {size}"
            )));
        }
        let mut computed = Vec::new();
        for link in links
            .iter()
            .take_while(|l| l.seq <= i64::try_from(size).unwrap_or(i64::MAX))
        {
            if link.seq != i64::try_from(frontier.size + 1).unwrap_or(0) {
                return Err(AppError::Conflict(format!(
                    "refused to sign: the chain links jump to seq {} after {}",
                    link.seq, frontier.size
                )));
            }
            let digest = decode_digest(&link.entry_digest)?;
            computed.extend(frontier.push(leaf_hash(&digest)));
        }
        if let Some(problem) = check_stored_nodes(store, tenant, &computed).await? {
            tracing::error!(%tenant, what = %problem.describe(), "refused to sign a checkpoint");
            return Err(AppError::Conflict(format!(
                "refused to sign: {}; run Verify integrity",
                problem.describe()
            )));
        }
    }
    Ok(frontier.root())
}

fn decode_digest(hex_digest: &str) -> Result<Hash, AppError> {
    hex::decode(hex_digest)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            tracing::error!(
                digest = hex_digest,
                "unreadable entry digest in a chain link"
            );
            AppError::Internal
        })
}

/// Signs the tenant's current tree head and records it with an
/// `audit.checkpoint_signed` entry, in one transaction. The root is the one the
/// entry digests give ([`verified_root`]); the head may have grown meanwhile, which
/// is fine: a checkpoint is a statement about the first `tree_size` entries.
pub async fn sign_checkpoint(
    state: &AppState,
    tenant: Uuid,
    actor: Actor,
    context: Context,
) -> Result<Checkpoint, AppError> {
    let _one = SIGNING.lock().await;
    let size = tree_size(state.store.as_ref(), tenant).await?;
    sign_locked(state, tenant, size, actor, context).await
}

/// One signing at a time, in this process.
static SIGNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// "Sign a checkpoint now": a caller that finds the log unchanged since the newest
/// checkpoint (nothing after it but that checkpoint's own entry), for instance
/// because another click signed it a moment ago, gets that fresh checkpoint instead
/// of signing again.
pub async fn sign_or_reuse(
    state: &AppState,
    tenant: Uuid,
    actor: Actor,
    context: Context,
) -> Result<Checkpoint, AppError> {
    let _one = SIGNING.lock().await;
    let size = tree_size(state.store.as_ref(), tenant).await?;
    if let Some(fresh) = fresh_checkpoint(state, tenant, size).await? {
        return Ok(fresh);
    }
    sign_locked(state, tenant, size, actor, context).await
}

/// Signs the first `size` entries (the head, read under [`SIGNING`]).
async fn sign_locked(
    state: &AppState,
    tenant: Uuid,
    size: u64,
    actor: Actor,
    context: Context,
) -> Result<Checkpoint, AppError> {
    let root = verified_root(state, tenant, size).await?;
    let cp = Checkpoint::sign(&state.signer, tenant, size, &root, state.now());
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

/// The newest checkpoint, if the only entry after it is its own
/// `audit.checkpoint_signed`.
async fn fresh_checkpoint(
    state: &AppState,
    tenant: Uuid,
    size: u64,
) -> Result<Option<Checkpoint>, AppError> {
    let Some(newest) = state
        .store
        .checkpoints(tenant)
        .await?
        .into_iter()
        .max_by_key(|c| (c.tree_size, c.signed_at))
    else {
        return Ok(None);
    };
    if newest.tree_size + 1 != size || newest.verify(&state.signer.verifying_key()).is_err() {
        return Ok(None);
    }
    let head = state
        .store
        .list(&EntryQuery {
            tenant_id: Some(tenant),
            limit: 1,
            ..EntryQuery::default()
        })
        .await?;
    let own = head.first().is_some_and(|e| {
        e.event_type == EventType::AuditCheckpointSigned
            && e.metadata
                .get("root_hash")
                .and_then(serde_json::Value::as_str)
                == Some(newest.root_hash.as_str())
    });
    Ok(own.then_some(newest))
}

/// Signs every tenant whose log grew since its last checkpoint (the periodic job).
pub async fn sign_changed(state: &AppState) -> Result<RoundReport, AppError> {
    super::each_tenant(state, "signing a checkpoint", |tenant| async move {
        let size = tree_size(state.store.as_ref(), tenant.id).await?;
        let covered = state
            .store
            .checkpoints(tenant.id)
            .await?
            .iter()
            .map(|c| c.tree_size)
            .max()
            .unwrap_or(0);
        if size <= covered {
            return Ok(false);
        }
        // Nothing since the last checkpoint but its own `audit.checkpoint_signed`:
        // signing again would only add another such entry, every round.
        if fresh_checkpoint(state, tenant.id, size).await?.is_some() {
            return Ok(false);
        }
        sign_checkpoint(state, tenant.id, Actor::system(), Context::default()).await?;
        Ok(true)
    })
    .await
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
        kept_critical: 0,
    }
}

/// A tree head the log claims somewhere: a checkpoint row, or an
/// `audit.checkpoint_signed` entry's metadata.
struct Claim {
    size: u64,
    root: String,
    /// Where it is claimed, for the report.
    source: String,
}

/// The `audit.checkpoint_signed` entries still readable (purged ones are gone), as
/// `(seq, tree_size, root_hash)`.
async fn signed_in_log(
    store: &dyn Store,
    tenant: Uuid,
) -> Result<Vec<(i64, u64, String)>, AppError> {
    let mut out = Vec::new();
    let mut cursor = 0;
    loop {
        let page = store
            .list(&EntryQuery {
                tenant_id: Some(tenant),
                filter: crate::api::FeedFilter {
                    event_type: Some(EventType::AuditCheckpointSigned.into()),
                    ..Default::default()
                },
                order: Order::OldestFirst,
                cursor: Some(cursor),
                limit: 1000,
                ..EntryQuery::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        for e in &page {
            let size = e
                .metadata
                .get("tree_size")
                .and_then(serde_json::Value::as_u64);
            let root = e
                .metadata
                .get("root_hash")
                .and_then(serde_json::Value::as_str);
            if let (Some(size), Some(root)) = (size, root) {
                out.push((e.seq, size, root.to_owned()));
            }
        }
    }
    Ok(out)
}

/// Walks the tenant's whole log and trusts nothing stored: every entry against its
/// digest and chain link, the chain from genesis, the Merkle tree recomputed from the
/// digests and compared with every stored subtree, every checkpoint (signature and
/// root), and the log's own `audit.checkpoint_signed` entries against the checkpoint
/// rows. Reports OK or the first broken seq and why.
pub async fn verify_log(
    store: &dyn Store,
    tenant: Uuid,
    keys: &[ed25519_dalek::VerifyingKey],
) -> Result<VerifyReport, AppError> {
    let mut checkpoints = store.checkpoints(tenant).await?;
    checkpoints.sort_by_key(|c| c.tree_size);
    let mut claims: Vec<Claim> = Vec::new();
    for cp in &checkpoints {
        if let Err(e) = cp.verify_with(keys) {
            let seq = i64::try_from(cp.tree_size).unwrap_or(i64::MAX);
            return Ok(broken(0, seq, format!("checkpoint signature invalid: {e}")));
        }
        claims.push(Claim {
            size: cp.tree_size,
            root: cp.root_hash.clone(),
            source: format!(
                "the checkpoint of {} entries signed {}",
                cp.tree_size, cp.signed_at
            ),
        });
    }
    // What the log itself says was signed must still be in the checkpoint table: a
    // deleted row is how a rewritten log would hide its old roots.
    let mut missing_rows = Vec::new();
    for (seq, size, root) in signed_in_log(store, tenant).await? {
        if !checkpoints
            .iter()
            .any(|c| c.tree_size == size && c.root_hash == root)
        {
            missing_rows.push((
                seq,
                format!(
                    "checkpoint missing: entry {seq} records a signed checkpoint of {size} entries (root {root}) that the checkpoints table does not hold"
                ),
            ));
        }
        claims.push(Claim {
            size,
            root,
            source: format!("the checkpoint of {size} entries recorded by entry {seq}"),
        });
    }
    claims.sort_by_key(|c| c.size);
    let mut next_claim = 0;
    let mut prev = GENESIS_HASH;
    let mut frontier = Frontier::default();
    let mut expected = 1i64;
    let purged = store.purged_ranges(tenant).await?;
    let mut purged_count = 0u64;
    let mut kept_count = 0u64;
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
        let mut computed = Vec::with_capacity(links.len() * 2);
        let mut page_problem: Option<VerifyReport> = None;
        for link in &links {
            let at = frontier.size;
            if let Some((_, why)) = missing_rows.iter().find(|(s, _)| *s == link.seq) {
                page_problem = Some(broken(at, link.seq, why.clone()));
                break;
            }
            if link.seq != expected {
                page_problem = Some(broken(
                    at,
                    expected,
                    format!(
                        "seq gap: the chain jumps from {} to {}",
                        expected - 1,
                        link.seq
                    ),
                ));
                break;
            }
            let in_purged = purged.iter().any(|(a, b)| (*a..=*b).contains(&link.seq));
            let digest = match by_seq.get(&link.seq) {
                Some(entry) => {
                    let digest = entry_digest(entry);
                    if hex::encode(digest) != entry.entry_digest
                        || entry.entry_digest != link.entry_digest
                    {
                        page_problem = Some(broken(
                            at,
                            link.seq,
                            "content changed: the entry no longer matches the digest in its chain link"
                                .to_owned(),
                        ));
                        break;
                    }
                    if entry.hash != link.hash || entry.prev_hash != hex::encode(prev) {
                        page_problem = Some(broken(
                            at,
                            link.seq,
                            "hash mismatch: the entry's chain fields differ from its link"
                                .to_owned(),
                        ));
                        break;
                    }
                    if in_purged {
                        kept_count += 1;
                    }
                    digest
                }
                // Retention removed this content: the link alone carries the chain.
                None if in_purged => {
                    purged_count += 1;
                    decode_digest(&link.entry_digest)?
                }
                None => {
                    page_problem = Some(broken(
                        at,
                        link.seq,
                        "entry missing: its chain link exists but its content is gone".to_owned(),
                    ));
                    break;
                }
            };
            let hash = chain_hash(&prev, &digest);
            if hex::encode(hash) != link.hash {
                page_problem = Some(broken(
                    at,
                    link.seq,
                    "hash mismatch: the chain hash does not follow from the previous link"
                        .to_owned(),
                ));
                break;
            }
            prev = hash;
            computed.extend(frontier.push(leaf_hash(&digest)));
            while let Some(claim) = claims.get(next_claim).filter(|c| c.size <= frontier.size) {
                if claim.size == frontier.size && claim.root != hex::encode(frontier.root()) {
                    page_problem = Some(broken(
                        frontier.size,
                        link.seq,
                        format!(
                            "checkpoint mismatch: {} has another root than the entry digests give",
                            claim.source
                        ),
                    ));
                    break;
                }
                next_claim += 1;
            }
            if page_problem.is_some() {
                break;
            }
            expected += 1;
        }
        // A stored subtree that differs from the digests comes before any later
        // problem of the same page.
        if let Some(node) = check_stored_nodes(store, tenant, &computed).await? {
            if page_problem
                .as_ref()
                .is_none_or(|p| p.broken_seq.is_some_and(|s| node.seq() <= s))
            {
                let at = u64::try_from(node.seq() - 1).unwrap_or(0);
                return Ok(broken(at, node.seq(), node.describe()));
            }
        }
        if let Some(problem) = page_problem {
            return Ok(problem);
        }
    }
    if let Some(claim) = claims.get(next_claim) {
        return Ok(broken(
            frontier.size,
            expected,
            format!(
                "truncated: {} covers {} entries, the log holds {}",
                claim.source, claim.size, frontier.size
            ),
        ));
    }
    Ok(VerifyReport {
        ok: true,
        entries: frontier.size,
        head_hash: (frontier.size > 0).then(|| hex::encode(prev)),
        checkpoints_checked: checkpoints.len(),
        broken_seq: None,
        reason: None,
        purged: purged_count,
        purged_ranges: purged,
        kept_critical: kept_count,
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
    verify_log(state.store.as_ref(), tenant.id, &state.trusted_keys()).await
}

pub async fn sign_now(tenant: Option<String>) -> Result<IntegrityInfo, AppError> {
    let state = state()?;
    let (session, tenant) = own_tenant(&state, tenant).await?;
    sign_or_reuse(&state, tenant.id, session.actor(), session.context()).await?;
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
