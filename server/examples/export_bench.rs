//! Export memory benchmark: streams a tenant's whole log as CSV and as NDJSON through
//! the same code as `GET /api/v1/events/export`, and prints rows, bytes, time and the
//! process's peak resident memory (VmHWM) after 10 % of the rows and at the end.
//!
//! ```sh
//! cargo run --release -p server --example export_bench -- /tmp/bench/stele.db bench
//! ```

use app::store::{EntryQuery, Store};
use futures::StreamExt;
use server::export::{chunks, Format};
use server::store::SqliteStore;
use std::sync::Arc;
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(slug)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: export_bench DB_FILE TENANT_SLUG");
    };
    let sqlite = SqliteStore::open(&format!("sqlite://{path}")).await?;
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let tenant = store
        .tenant_by_slug(slug)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no tenant {slug}"))?;
    let last = i64::try_from(
        app::ssr::integrity::tree_size(store.as_ref(), tenant.id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    )?;
    println!(
        "tenant {slug}: {last} entries; peak RSS before: {:.1} MB",
        peak_rss_mb()
    );
    for format in [Format::Csv, Format::Ndjson] {
        let started = Instant::now();
        let query = EntryQuery {
            tenant_id: Some(tenant.id),
            ..EntryQuery::default()
        };
        let mut stream = Box::pin(chunks(store.clone(), query, last, format));
        let (mut bytes, mut rows, mut at_tenth) = (0usize, 0usize, None);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            bytes += chunk.len();
            rows += chunk.matches('\n').count();
            if at_tenth.is_none() && rows as i64 >= last / 10 {
                at_tenth = Some(peak_rss_mb());
            }
        }
        println!(
            "{:?}: {rows} lines, {:.0} MB in {:.1} s; peak RSS at 10 %: {:.1} MB, at 100 %: {:.1} MB",
            format,
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64(),
            at_tenth.unwrap_or_default(),
            peak_rss_mb()
        );
    }
    Ok(())
}
