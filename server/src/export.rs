//! Exports: CSV and NDJSON of exactly what a feed's filters select, streamed page by
//! page (constant memory whatever the size). NDJSON lines are entries with their chain
//! fields, so `stele verify` can check them; CSV cells that a spreadsheet would run as
//! a formula are neutralized.

use app::entry::Entry;
use app::store::{EntryQuery, Order, Store, StoreError};
use app::verify::{end_line, header_line, proof_line, ExportHeader};
use futures::stream::{self, Stream};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use uuid::Uuid;

/// Entries read per page while streaming.
pub const PAGE: u32 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(Format::Csv),
            "ndjson" => Some(Format::Ndjson),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
        }
    }
}

/// Every field, in this order, as the CSV header.
pub const CSV_COLUMNS: [&str; 28] = [
    "id",
    "tenant_id",
    "seq",
    "recorded_at",
    "occurred_at",
    "event_type",
    "category",
    "action",
    "description",
    "actor_kind",
    "actor_id",
    "actor_label",
    "instance_id",
    "instance_name",
    "target_kind",
    "target_id",
    "target_name",
    "other_targets",
    "changes",
    "metadata",
    "ip",
    "user_agent",
    "session_id",
    "request_id",
    "idempotency_key",
    "entry_digest",
    "prev_hash",
    "hash",
];

/// One CSV cell: a leading `=`, `+`, `-` or `@` (or tab/CR, which some spreadsheets
/// also act on) gets a `'` in front so it reads as text; then RFC 4180 quoting.
pub fn csv_cell(value: &str) -> String {
    let neutral = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    };
    if neutral.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

fn csv_row(cells: &[String]) -> String {
    let mut line = cells
        .iter()
        .map(|c| csv_cell(c))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

pub fn csv_header() -> String {
    csv_row(&CSV_COLUMNS.map(str::to_owned))
}

pub fn csv_line(e: &Entry) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let time = |t| app::canonical::format_time(t);
    let cells = [
        e.id.to_string(),
        e.tenant_id.to_string(),
        e.seq.to_string(),
        time(&e.recorded_at),
        time(&e.occurred_at),
        e.event_type.as_str().to_owned(),
        e.category().as_str().to_owned(),
        e.action().as_str().to_owned(),
        e.description.clone(),
        e.actor.kind.as_str().to_owned(),
        opt(&e.actor.id),
        e.actor.label.clone(),
        e.instance
            .as_ref()
            .map(|i| i.id.clone())
            .unwrap_or_default(),
        e.instance
            .as_ref()
            .map(|i| i.name.clone())
            .unwrap_or_default(),
        e.target
            .as_ref()
            .map(|t| t.kind.clone())
            .unwrap_or_default(),
        e.target.as_ref().map(|t| t.id.clone()).unwrap_or_default(),
        e.target
            .as_ref()
            .and_then(|t| t.name.clone())
            .unwrap_or_default(),
        if e.other_targets.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&e.other_targets).unwrap_or_default()
        },
        serde_json::to_string(&e.changes).unwrap_or_default(),
        serde_json::to_string(&e.metadata).unwrap_or_default(),
        opt(&e.context.ip),
        opt(&e.context.user_agent),
        opt(&e.context.session_id),
        opt(&e.context.request_id),
        opt(&e.idempotency_key),
        e.entry_digest.clone(),
        e.prev_hash.clone(),
        e.hash.clone(),
    ];
    csv_row(&cells)
}

pub fn ndjson_line(e: &Entry) -> String {
    let mut line = serde_json::to_string(e).unwrap_or_default();
    line.push('\n');
    line
}

/// The CSV export as a stream of text chunks: the header, then a chunk per page of
/// entries, oldest first, up to and including `last_seq`.
pub fn csv_chunks(
    store: Arc<dyn Store>,
    query: EntryQuery,
    last_seq: i64,
) -> impl Stream<Item = Result<String, app::store::StoreError>> + Send {
    let start = stream::once(async { Ok(csv_header()) });
    let pages = stream::unfold(Some(0i64), move |cursor| {
        let store = store.clone();
        let query = query.clone();
        async move {
            let after = cursor?;
            if after >= last_seq {
                return None;
            }
            let page = store
                .list(&EntryQuery {
                    order: Order::OldestFirst,
                    cursor: Some(after),
                    max_seq: Some(last_seq),
                    limit: PAGE,
                    ..query
                })
                .await;
            match page {
                Err(e) => Some((Err(e), None)),
                Ok(entries) if entries.is_empty() => None,
                Ok(entries) => {
                    let next = entries.last().map(|e| e.seq);
                    let text: String = entries.iter().map(csv_line).collect();
                    Some((Ok(text), next))
                }
            }
        }
    });
    futures::StreamExt::chain(start, pages)
}

/// Where an NDJSON export stands while it streams.
struct Ndjson {
    store: Arc<dyn Store>,
    signer: Arc<ed25519_dalek::SigningKey>,
    tenant: Uuid,
    query: EntryQuery,
    last_seq: i64,
    /// The checkpoint's size: proof nodes reach up to it.
    size: u64,
    /// The first leaf not yet covered by an entry or a proof node.
    next_leaf: u64,
    cursor: i64,
    /// SHA-256 of every line written so far (each with its `\n`).
    hasher: Sha256,
    entries: u64,
    header: Option<String>,
    done: bool,
}

fn app_error(e: app::api::AppError) -> StoreError {
    StoreError::Internal(Box::new(e))
}

impl Ndjson {
    /// Proof lines for leaves `[self.next_leaf, upto)`.
    async fn proofs_until(&mut self, upto: u64, out: &mut String) -> Result<(), StoreError> {
        let ranges = app::merkle::cover(self.next_leaf, upto, self.size);
        let hashes = app::ssr::integrity::subtree_hashes(self.store.as_ref(), self.tenant, &ranges)
            .await
            .map_err(app_error)?;
        for ((a, b), h) in ranges.into_iter().zip(hashes) {
            out.push_str(&proof_line(a, b, &h));
        }
        self.next_leaf = self.next_leaf.max(upto);
        Ok(())
    }

    async fn next_chunk(&mut self) -> Result<Option<String>, StoreError> {
        if let Some(h) = self.header.take() {
            self.hasher.update(h.as_bytes());
            return Ok(Some(h));
        }
        if self.done {
            return Ok(None);
        }
        let page = if self.cursor < self.last_seq {
            self.store
                .list(&EntryQuery {
                    order: Order::OldestFirst,
                    cursor: Some(self.cursor),
                    max_seq: Some(self.last_seq),
                    limit: PAGE,
                    ..self.query.clone()
                })
                .await?
        } else {
            Vec::new()
        };
        let mut out = String::new();
        if page.is_empty() {
            self.proofs_until(self.size, &mut out).await?;
            self.hasher.update(out.as_bytes());
            out.push_str(&end_line(
                &self.signer,
                self.tenant,
                self.hasher.clone(),
                self.entries,
            ));
            self.done = true;
            return Ok(Some(out));
        }
        for e in &page {
            let leaf =
                u64::try_from(e.seq - 1).map_err(|_| app_error(app::api::AppError::Internal))?;
            self.proofs_until(leaf, &mut out).await?;
            out.push_str(&ndjson_line(e));
            self.next_leaf = leaf + 1;
            self.entries += 1;
        }
        self.cursor = page.last().map_or(self.last_seq, |e| e.seq);
        self.hasher.update(out.as_bytes());
        Ok(Some(out))
    }
}

/// The NDJSON export (docs/INTEGRITY.md "Exports"): the header, then entries with
/// the proof nodes for the leaves between them, oldest first, up to `last_seq`, then
/// the signed closing line. Any reader with the public key can check it offline.
pub fn ndjson_chunks(
    store: Arc<dyn Store>,
    signer: Arc<ed25519_dalek::SigningKey>,
    query: EntryQuery,
    header: &ExportHeader,
) -> impl Stream<Item = Result<String, StoreError>> + Send {
    let state = Ndjson {
        store,
        signer,
        tenant: header.tenant_id,
        query,
        last_seq: header.to_seq,
        size: header.checkpoint.tree_size,
        next_leaf: 0,
        cursor: 0,
        hasher: Sha256::new(),
        entries: 0,
        header: Some(header_line(header)),
        done: false,
    };
    stream::unfold(state, |mut state| async move {
        match state.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), state)),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "export stream failed");
                state.done = true;
                Some((Err(e), state))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralized_and_cells_quoted() {
        assert_eq!(csv_cell("=SUM(A1:A9)"), "'=SUM(A1:A9)");
        assert_eq!(csv_cell("+1 555"), "'+1 555");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@cmd"), "'@cmd");
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(csv_cell("=a,b"), "\"'=a,b\"");
        assert_eq!(
            csv_header().trim_end().split(',').count(),
            CSV_COLUMNS.len()
        );
    }
}
