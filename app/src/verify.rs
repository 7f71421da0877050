//! Offline verification of an NDJSON export against a signed checkpoint: no server,
//! no database. Used by `stele verify` and compiled to wasm for the browser. The
//! format and the order in which problems are reported are specified in
//! docs/INTEGRITY.md ("Exports"), precisely enough to re-implement this file.
//!
//! An export (version 2) is a header line (the tenant, the window, the filters, the
//! purged ranges and a checkpoint covering every entry), then entry lines and proof
//! lines in seq order, then a closing line signed by the server. The entries' digests
//! and the proof nodes together give the Merkle root of the checkpoint, so every
//! entry is proved to sit at its seq in the signed log, whatever window or filter
//! the export was made with and whatever was purged before it.

use crate::canonical::{chain_hash, entry_digest};
use crate::checkpoint::{key_id, Checkpoint};
use crate::entry::Entry;
use crate::merkle::{leaf_hash, root_from_parts, Frontier, Hash, MultiproofError};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// The export format version written in the header.
pub const EXPORT_VERSION: u64 = 2;

/// The first problem found: where, and why. Line 0 is the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} (seq {seq}): {reason}")]
pub struct Problem {
    pub line: usize,
    pub seq: i64,
    pub reason: String,
}

fn problem(line: usize, seq: i64, reason: impl Into<String>) -> Problem {
    Problem {
        line,
        seq,
        reason: reason.into(),
    }
}

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportHeader {
    /// Always [`EXPORT_VERSION`].
    pub stele_export: u64,
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    /// RFC 3339, UTC.
    pub exported_at: String,
    /// Whether filters (a timeframe included) chose the entries: then entries of the
    /// window that did not match are absent, and proof nodes stand for them.
    pub filtered: bool,
    /// The filters as the server understood them (informational).
    pub filters: serde_json::Value,
    /// The window: the first seq whose content was still kept, and the last seq the
    /// export covers.
    pub from_seq: i64,
    pub to_seq: i64,
    /// Seq ranges (inclusive) whose content retention purged.
    pub purged_ranges: Vec<(i64, i64)>,
    /// A checkpoint whose size covers `to_seq`.
    pub checkpoint: Checkpoint,
    /// The chain link just before `from_seq` (`None` when `from_seq` is 1).
    pub prev_link: Option<LinkOut>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkOut {
    pub seq: i64,
    pub hash: String,
}

/// A proof line: the Merkle subtree hash of leaves `[start, end)` (leaf = seq − 1),
/// standing for entries the export does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofNode {
    pub start: u64,
    pub end: u64,
    pub hash: String,
}

/// The closing line: how many entry lines there are, the SHA-256 of every line
/// before it (each followed by `\n`), and the server's signature of both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportEnd {
    pub entries: u64,
    pub sha256: String,
    pub key_id: String,
    pub signature: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofLine {
    proof: ProofNode,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndLine {
    stele_export_end: ExportEnd,
}

/// The exact bytes the closing signature covers.
pub fn end_signed_bytes(tenant_id: Uuid, sha256_hex: &str, entries: u64) -> Vec<u8> {
    format!("stele-export/v1\ntenant {tenant_id}\nsha256 {sha256_hex}\nentries {entries}\n")
        .into_bytes()
}

pub fn header_line(h: &ExportHeader) -> String {
    let mut line = serde_json::to_string(h).unwrap_or_default();
    line.push('\n');
    line
}

pub fn proof_line(start: u64, end: u64, hash: &Hash) -> String {
    let mut line = serde_json::to_string(&ProofLine {
        proof: ProofNode {
            start,
            end,
            hash: hex::encode(hash),
        },
    })
    .unwrap_or_default();
    line.push('\n');
    line
}

/// The closing line, given the running hash of every line before it.
pub fn end_line(key: &SigningKey, tenant_id: Uuid, lines_hash: Sha256, entries: u64) -> String {
    let sha = hex::encode(lines_hash.finalize());
    let signature = key.sign(&end_signed_bytes(tenant_id, &sha, entries));
    let mut line = serde_json::to_string(&EndLine {
        stele_export_end: ExportEnd {
            entries,
            sha256: sha,
            key_id: key_id(&key.verifying_key()),
            signature: hex::encode(signature.to_bytes()),
        },
    })
    .unwrap_or_default();
    line.push('\n');
    line
}

/// What a successful verification proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    pub entries: u64,
    /// The first and last seq of the entries in the file.
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    /// The window the export declares, and whether every kept entry of it is in the
    /// file (an unfiltered export); `None` for an export of the first version.
    pub window: Option<(i64, i64)>,
    pub complete: bool,
    pub purged_ranges: Vec<(i64, i64)>,
    /// Entries of the file inside the purged ranges: critical ones, whose content
    /// retention keeps.
    pub kept_critical: u64,
    pub head_hash: String,
    pub checkpoint_size: u64,
    /// Whether the checkpoint's (and the closing line's) signatures were checked
    /// against a public key given by the verifier.
    pub signature_checked: bool,
}

impl ExportReport {
    /// One sentence saying exactly what was proved.
    pub fn summary(&self) -> String {
        let range = match (self.first_seq, self.last_seq) {
            (Some(a), Some(b)) => format!("seq {a}–{b}"),
            _ => "no entries".to_owned(),
        };
        let mut s = format!(
            "{} entries ({range}) are in the signed log at their seq, unchanged, under the checkpoint of {} entries",
            self.entries, self.checkpoint_size
        );
        match self.window {
            Some((from, to)) if self.complete => {
                s.push_str(&format!("; the export holds every entry of seq {from}–{to}"));
            }
            Some((from, to)) => s.push_str(&format!(
                "; a filtered export of seq {from}–{to}: entries that did not match its filters are left out"
            )),
            None => {}
        }
        for (a, b) in &self.purged_ranges {
            s.push_str(&format!("; seq {a}–{b} purged by retention"));
        }
        if self.kept_critical > 0 {
            s.push_str(&format!(
                " ({} critical entries of it kept, and verified)",
                self.kept_critical
            ));
        }
        s.push_str(if self.signature_checked {
            "; signatures valid"
        } else {
            "; signatures NOT checked (no public key given)"
        });
        s
    }
}

/// Checks an entry line on its own: its digest, its chain hash, and its link to the
/// entry before it when that is `prev` (seq, hash).
fn check_entry(line_no: usize, entry: &Entry, prev: Option<(i64, &str)>) -> Result<Hash, Problem> {
    let digest = entry_digest(entry);
    if hex::encode(digest) != entry.entry_digest {
        return Err(problem(
            line_no,
            entry.seq,
            "content changed: the entry does not match its digest",
        ));
    }
    let prev_hash: [u8; 32] = hex::decode(&entry.prev_hash)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| problem(line_no, entry.seq, "malformed prev_hash"))?;
    if hex::encode(chain_hash(&prev_hash, &digest)) != entry.hash {
        return Err(problem(
            line_no,
            entry.seq,
            "hash mismatch: the chain hash does not follow from prev_hash and the digest",
        ));
    }
    if let Some((seq, hash)) = prev {
        if seq == entry.seq - 1 && hash != entry.prev_hash {
            return Err(problem(
                line_no,
                entry.seq,
                "hash mismatch: the chain does not follow from the previous entry",
            ));
        }
    }
    Ok(digest)
}

/// Picks, among checkpoints obtained apart from the export, the one of the export's
/// size; it must carry the same root.
fn matching(external: &[Checkpoint], own: &Checkpoint) -> Result<(), Problem> {
    match external.iter().find(|c| c.tree_size == own.tree_size) {
        Some(c) if c.root_hash == own.root_hash && c.tenant_id == own.tenant_id => Ok(()),
        Some(_) => Err(problem(
            1,
            0,
            format!(
                "checkpoint mismatch: the given checkpoint of {} entries has another root than the export's",
                own.tree_size
            ),
        )),
        None => Err(problem(
            1,
            0,
            format!(
                "the given checkpoints do not include the export's checkpoint of {} entries",
                own.tree_size
            ),
        )),
    }
}

/// Verifies an export. `external`: checkpoints obtained apart from the export (the
/// export's own checkpoint must be among them); `keys`: the public keys to check
/// signatures with (none: signatures are not checked, and the report says so).
/// Exports of the first version (plain entry lines from seq 1) need `external`.
pub fn verify_export<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    external: Option<&[Checkpoint]>,
    keys: &[VerifyingKey],
) -> Result<ExportReport, Problem> {
    let mut lines = lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let Some(&(_, first)) = lines.peek() else {
        return Err(problem(0, 0, "the export is empty"));
    };
    if first.trim_start().starts_with("{\"stele_export\"") {
        verify_v2(lines, external, keys)
    } else {
        let cp = external
            .and_then(|c| c.iter().max_by_key(|c| c.tree_size))
            .ok_or_else(|| {
                problem(
                    0,
                    0,
                    "this export has no header: give the checkpoint to check it against",
                )
            })?;
        verify_v1(lines, cp, keys)
    }
}

fn check_checkpoint(cp: &Checkpoint, keys: &[VerifyingKey]) -> Result<bool, Problem> {
    if keys.is_empty() {
        return Ok(false);
    }
    cp.verify_with(keys)
        .map_err(|e| problem(1, 0, format!("checkpoint: {e}")))?;
    Ok(true)
}

fn verify_v2<'a>(
    mut lines: impl Iterator<Item = (usize, &'a str)>,
    external: Option<&[Checkpoint]>,
    keys: &[VerifyingKey],
) -> Result<ExportReport, Problem> {
    let mut running = Sha256::new();
    let (_, first) = lines
        .next()
        .ok_or_else(|| problem(0, 0, "the export is empty"))?;
    let header: ExportHeader = serde_json::from_str(first)
        .map_err(|e| problem(1, 0, format!("not an export header: {e}")))?;
    if header.stele_export != EXPORT_VERSION {
        return Err(problem(
            1,
            0,
            format!(
                "export version {} is not known to this verifier",
                header.stele_export
            ),
        ));
    }
    running.update(first.as_bytes());
    running.update(b"\n");
    let cp = &header.checkpoint;
    if cp.tenant_id != header.tenant_id {
        return Err(problem(1, 0, "the checkpoint is another tenant's"));
    }
    let signature_checked = check_checkpoint(cp, keys)?;
    if let Some(external) = external {
        matching(external, cp)?;
    }
    let size = cp.tree_size;
    if header.to_seq > i64::try_from(size).unwrap_or(i64::MAX) {
        return Err(problem(
            1,
            header.to_seq,
            format!(
                "outside the signature: the export runs to seq {}, its checkpoint covers {size} entries",
                header.to_seq
            ),
        ));
    }
    let mut leaves: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut proofs: HashMap<(u64, u64), Hash> = HashMap::new();
    let mut prev: Option<(i64, String)> =
        header.prev_link.as_ref().map(|l| (l.seq, l.hash.clone()));
    let mut entries = 0u64;
    let mut first_seq = None;
    let mut last_seq: Option<i64> = None;
    let mut contiguous = true;
    // Retention purges from the oldest end: seq 1..=purged_end lost their content
    // except critical entries, which an export holds among proof nodes.
    let purged_end = header.purged_ranges.iter().map(|r| r.1).max().unwrap_or(0);
    let mut kept_critical = 0u64;
    let mut closing: Option<(usize, ExportEnd)> = None;
    for (line_no, line) in lines {
        if closing.is_some() {
            return Err(problem(line_no, 0, "a line after the closing line"));
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| problem(line_no, 0, format!("not JSON: {e}")))?;
        if value.get("stele_export_end").is_some() {
            let end: EndLine = serde_json::from_value(value)
                .map_err(|e| problem(line_no, 0, format!("malformed closing line: {e}")))?;
            closing = Some((line_no, end.stele_export_end));
            continue;
        }
        running.update(line.as_bytes());
        running.update(b"\n");
        if value.get("proof").is_some() {
            let p: ProofLine = serde_json::from_value(value)
                .map_err(|e| problem(line_no, 0, format!("malformed proof line: {e}")))?;
            let hash: Hash = hex::decode(&p.proof.hash)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| problem(line_no, 0, "malformed proof hash"))?;
            if p.proof.start >= p.proof.end
                || proofs.insert((p.proof.start, p.proof.end), hash).is_some()
            {
                return Err(problem(line_no, 0, "a repeated or empty proof node"));
            }
            continue;
        }
        let entry: Entry = serde_json::from_value(value)
            .map_err(|e| problem(line_no, 0, format!("not an entry: {e}")))?;
        if entry.tenant_id != header.tenant_id {
            return Err(problem(line_no, entry.seq, "another tenant's entry"));
        }
        if entry.seq < header.from_seq || entry.seq > header.to_seq {
            return Err(problem(
                line_no,
                entry.seq,
                format!(
                    "outside the export's window seq {}–{}",
                    header.from_seq, header.to_seq
                ),
            ));
        }
        if last_seq.is_some_and(|l| entry.seq <= l) {
            return Err(problem(
                line_no,
                entry.seq,
                "out of order or repeated: seq must grow",
            ));
        }
        let expected_next = last_seq.map_or(header.from_seq, |l| l + 1);
        // A gap is only allowed where content was purged.
        if entry.seq != expected_next && entry.seq - 1 > purged_end {
            contiguous = false;
        }
        if entry.seq <= purged_end {
            kept_critical += 1;
        }
        let digest = check_entry(
            line_no,
            &entry,
            prev.as_ref().map(|(s, h)| (*s, h.as_str())),
        )?;
        leaves.insert(
            u64::try_from(entry.seq - 1).map_err(|_| problem(line_no, entry.seq, "seq below 1"))?,
            leaf_hash(&digest),
        );
        prev = Some((entry.seq, entry.hash.clone()));
        first_seq.get_or_insert(entry.seq);
        last_seq = Some(entry.seq);
        entries += 1;
    }
    let Some((end_no, end)) = closing else {
        return Err(problem(
            0,
            0,
            "incomplete: the export has no closing line (it was cut short)",
        ));
    };
    if end.entries != entries {
        return Err(problem(
            end_no,
            0,
            format!(
                "the closing line counts {} entries, the file holds {entries}",
                end.entries
            ),
        ));
    }
    let sha = hex::encode(running.finalize());
    if sha != end.sha256 {
        return Err(problem(
            end_no,
            0,
            "altered: the lines before the closing line are not the ones the server wrote",
        ));
    }
    if !keys.is_empty() {
        let key = keys
            .iter()
            .find(|k| key_id(k) == end.key_id)
            .ok_or_else(|| {
                problem(
                    end_no,
                    0,
                    format!(
                        "the export was signed by key {}, not by a given public key",
                        end.key_id
                    ),
                )
            })?;
        let sig: [u8; 64] = hex::decode(&end.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| problem(end_no, 0, "malformed closing signature"))?;
        key.verify(
            &end_signed_bytes(header.tenant_id, &end.sha256, end.entries),
            &Signature::from_bytes(&sig),
        )
        .map_err(|_| {
            problem(
                end_no,
                0,
                "the closing signature does not verify: the export was forged or altered",
            )
        })?;
    }
    let root = root_from_parts(size, &leaves, &proofs).map_err(|e| match e {
        MultiproofError::Uncovered { start, end } => problem(
            0,
            i64::try_from(start + 1).unwrap_or(0),
            format!(
                "missing: neither an entry nor a proof covers seq {}–{end}",
                start + 1
            ),
        ),
        MultiproofError::Unused { start, end } => problem(
            0,
            i64::try_from(start + 1).unwrap_or(0),
            format!(
                "a proof node for seq {}–{end} that this tree has no place for",
                start + 1
            ),
        ),
    })?;
    if cp.root() != Some(root) {
        return Err(problem(
            0,
            0,
            format!(
                "checkpoint mismatch: the entries and proofs give another Merkle root than the checkpoint of {size} entries"
            ),
        ));
    }
    // An unfiltered export starts at the latest right after the purged ranges and
    // holds every seq from there to its end that kept its content.
    let complete = !header.filtered
        && contiguous
        && header.from_seq <= purged_end + 1
        && last_seq.map_or(header.from_seq > header.to_seq, |l| l == header.to_seq);
    Ok(ExportReport {
        entries,
        first_seq,
        last_seq,
        window: Some((header.from_seq, header.to_seq)),
        complete,
        purged_ranges: header.purged_ranges,
        kept_critical,
        head_hash: prev.map(|p| p.1).unwrap_or_default(),
        checkpoint_size: size,
        signature_checked,
    })
}

/// The first version: entry lines from seq 1, checked against a checkpoint given
/// apart. No line may lie beyond the checkpoint's size: nothing there is signed.
fn verify_v1<'a>(
    lines: impl Iterator<Item = (usize, &'a str)>,
    cp: &Checkpoint,
    keys: &[VerifyingKey],
) -> Result<ExportReport, Problem> {
    let signature_checked = check_checkpoint(cp, keys)?;
    let mut frontier = Frontier::default();
    let mut prev: Option<(i64, String)> = None;
    let mut line_no = 0;
    for (no, line) in lines {
        line_no = no;
        let entry: Entry = serde_json::from_str(line)
            .map_err(|e| problem(line_no, 0, format!("not an entry: {e}")))?;
        if entry.tenant_id != cp.tenant_id {
            return Err(problem(line_no, entry.seq, "another tenant's entry"));
        }
        let expected = i64::try_from(frontier.size).unwrap_or(i64::MAX) + 1;
        if entry.seq != expected {
            return Err(problem(
                line_no,
                entry.seq,
                format!("seq gap: expected seq {expected}"),
            ));
        }
        if frontier.size >= cp.tree_size {
            return Err(problem(
                line_no,
                entry.seq,
                format!(
                    "outside the signature: the checkpoint covers {} entries",
                    cp.tree_size
                ),
            ));
        }
        if entry.seq == 1 && entry.prev_hash != hex::encode(crate::canonical::GENESIS_HASH) {
            return Err(problem(
                line_no,
                1,
                "hash mismatch: seq 1 does not start from genesis",
            ));
        }
        let digest = check_entry(
            line_no,
            &entry,
            prev.as_ref().map(|(s, h)| (*s, h.as_str())),
        )?;
        frontier.push(leaf_hash(&digest));
        prev = Some((entry.seq, entry.hash.clone()));
    }
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
    if cp.root() != Some(frontier.root()) {
        return Err(problem(
            line_no,
            i64::try_from(frontier.size).unwrap_or(0),
            format!(
                "checkpoint mismatch: the first {} entries have another Merkle root",
                cp.tree_size
            ),
        ));
    }
    let last = i64::try_from(frontier.size).unwrap_or(0);
    Ok(ExportReport {
        entries: frontier.size,
        first_seq: (last > 0).then_some(1),
        last_seq: (last > 0).then_some(last),
        window: None,
        complete: true,
        purged_ranges: Vec::new(),
        kept_critical: 0,
        head_hash: prev.map(|p| p.1).unwrap_or_default(),
        checkpoint_size: cp.tree_size,
        signature_checked,
    })
}

/// Reads checkpoints in every form Stele publishes: one checkpoint as JSON, the
/// public verification endpoint's JSON (`{"checkpoints": [...], ...}`), a JSON array
/// of checkpoints, or a C2SP signed note (checked against `keys`, which it needs).
pub fn parse_checkpoints(
    text: &str,
    tenant_hint: Option<Uuid>,
    keys: &[VerifyingKey],
) -> Result<Vec<Checkpoint>, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: serde_json::Value =
            serde_json::from_str(trimmed).map_err(|e| format!("not JSON: {e}"))?;
        let list = match value {
            serde_json::Value::Array(items) => items,
            serde_json::Value::Object(ref o) if o.contains_key("checkpoints") => o["checkpoints"]
                .as_array()
                .cloned()
                .ok_or("`checkpoints` is not a list")?,
            single => vec![single],
        };
        return list
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(|e| format!("not a checkpoint: {e}")))
            .collect();
    }
    // A C2SP note names the tenant in its origin (`stele/<tenant id>`).
    let origin = trimmed.lines().next().unwrap_or_default();
    let tenant = origin
        .strip_prefix("stele/")
        .and_then(|t| Uuid::parse_str(t).ok())
        .or(tenant_hint)
        .ok_or("not a checkpoint: neither JSON nor a C2SP note with a `stele/<tenant>` origin")?;
    let mut last = String::from("no public key given to open the C2SP note with");
    for key in keys {
        match crate::checkpoint::open_note(text, key) {
            Ok(head) => {
                return Ok(vec![Checkpoint {
                    tenant_id: tenant,
                    tree_size: head.tree_size,
                    root_hash: hex::encode(head.root),
                    signed_at: chrono::DateTime::UNIX_EPOCH,
                    key_id: key_id(key),
                    signature: String::new(),
                    note: Some(text.to_owned()),
                }])
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}
