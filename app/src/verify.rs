//! Offline verification of an NDJSON export (one entry per line, with its chain
//! fields) against a signed checkpoint: no server, no database. Used by
//! `stele verify` and compiled to wasm for the browser.

use crate::canonical::{ChainError, ChainVerifier};
use crate::checkpoint::Checkpoint;
use crate::entry::Entry;
use crate::merkle::{leaf_hash, Frontier};
use ed25519_dalek::VerifyingKey;

/// The first problem found: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} (seq {seq}): {reason}")]
pub struct Problem {
    pub line: usize,
    pub seq: i64,
    pub reason: String,
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    pub entries: u64,
    pub head_hash: String,
    /// The checkpoint's size, when one was checked.
    pub checkpoint_size: Option<u64>,
    pub signature_checked: bool,
}

/// Verifies an export that starts at seq 1: each entry against its digest, the chain
/// from genesis, and the Merkle root at the checkpoint's size against the checkpoint
/// (and its signature, given the public key).
pub fn verify_export<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    checkpoint: Option<&Checkpoint>,
    public: Option<&VerifyingKey>,
) -> Result<ExportReport, Problem> {
    let problem = |line: usize, seq: i64, reason: String| Problem { line, seq, reason };
    let mut signature_checked = false;
    if let Some(cp) = checkpoint {
        if let Some(key) = public {
            cp.verify(key)
                .map_err(|e| problem(0, 0, format!("checkpoint: {e}")))?;
            signature_checked = true;
        }
    }
    let mut chain = ChainVerifier::default();
    let mut frontier = Frontier::default();
    let mut tenant = None;
    let mut line_no = 0;
    for (i, line) in lines.into_iter().enumerate() {
        line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let entry: Entry = serde_json::from_str(line)
            .map_err(|e| problem(line_no, 0, format!("not an entry: {e}")))?;
        if *tenant.get_or_insert(entry.tenant_id) != entry.tenant_id {
            return Err(problem(
                line_no,
                entry.seq,
                "another tenant's entry".to_owned(),
            ));
        }
        chain.push(&entry).map_err(|e| {
            let reason = match e {
                ChainError::SeqGap { expected, .. } => format!("seq gap: expected seq {expected}"),
                ChainError::ContentChanged { .. } => {
                    "content changed: the entry does not match its digest".to_owned()
                }
                ChainError::BrokenLink { .. }
                | ChainError::HashMismatch { .. }
                | ChainError::Malformed { .. } => {
                    "hash mismatch: the chain does not follow from the previous entry".to_owned()
                }
            };
            problem(line_no, entry.seq, reason)
        })?;
        // Verified just now: the stored digest is the entry's canonical digest.
        let digest: [u8; 32] = hex::decode(&entry.entry_digest)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| problem(line_no, entry.seq, "malformed entry digest".to_owned()))?;
        frontier.push(leaf_hash(&digest));
        if let Some(cp) = checkpoint.filter(|c| c.tree_size == frontier.size) {
            if Some(entry.tenant_id) != Some(cp.tenant_id) {
                return Err(problem(
                    line_no,
                    entry.seq,
                    "the checkpoint is another tenant's".to_owned(),
                ));
            }
            if cp.root() != Some(frontier.root()) {
                return Err(problem(
                    line_no,
                    entry.seq,
                    format!(
                        "checkpoint mismatch: the first {} entries have another Merkle root",
                        cp.tree_size
                    ),
                ));
            }
        }
    }
    if let Some(cp) = checkpoint {
        if cp.tree_size > frontier.size {
            return Err(problem(
                line_no,
                i64::try_from(frontier.size).unwrap_or(i64::MAX) + 1,
                format!(
                    "truncated: the checkpoint covers {} entries, the export holds {}",
                    cp.tree_size, frontier.size
                ),
            ));
        }
    }
    Ok(ExportReport {
        entries: frontier.size,
        head_hash: chain.head(),
        checkpoint_size: checkpoint.map(|c| c.tree_size),
        signature_checked,
    })
}
