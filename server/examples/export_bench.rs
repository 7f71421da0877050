//! Export benchmark: streams a tenant's whole log as CSV and as NDJSON through the
//! same code as `GET /api/v1/events/export`, and prints rows, bytes, time and the
//! process's peak resident memory (VmHWM) after 10 % of the rows and at the end; then
//! times the offline verification of the NDJSON file (`stele verify`'s code) and the
//! in-app verification walk (`Verify integrity`). It signs a checkpoint in the
//! database with a throwaway key, as an export does.
//!
//! ```sh
//! cargo run --release -p server --example export_bench -- /tmp/bench/stele.db bench
//! ```

use app::store::{EntryQuery, Store};
use futures::StreamExt;
use server::export::{csv_chunks, ndjson_chunks};
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
    let state = app::ssr::AppState {
        store: store.clone(),
        platform_tenant: tenant.id,
        secure_cookies: false,
        public_url: String::new(),
        signer: Arc::new(ed25519_dalek::SigningKey::from_bytes(&[9u8; 32])),
        previous_keys: Arc::default(),
    };
    let header = server::rest::export_header(
        &state,
        &tenant,
        &app::api::FeedFilter::default(),
        last,
        &app::entry::Actor::system(),
        &app::entry::Context::default(),
    )
    .await
    .map_err(|_| anyhow::anyhow!("could not make the export header"))?;
    let out = std::env::temp_dir().join("stele-export-bench.ndjson");
    for ndjson in [false, true] {
        let started = Instant::now();
        let query = EntryQuery {
            tenant_id: Some(tenant.id),
            ..EntryQuery::default()
        };
        let mut stream = if ndjson {
            ndjson_chunks(store.clone(), state.signer.clone(), query, &header).boxed()
        } else {
            csv_chunks(store.clone(), query, last).boxed()
        };
        let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
        let (mut bytes, mut rows, mut at_tenth) = (0usize, 0usize, None);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if ndjson {
                std::io::Write::write_all(&mut file, chunk.as_bytes())?;
            }
            bytes += chunk.len();
            rows += chunk.matches('\n').count();
            if at_tenth.is_none() && rows as i64 >= last / 10 {
                at_tenth = Some(peak_rss_mb());
            }
        }
        drop(file);
        println!(
            "{}: {rows} lines, {:.0} MB in {:.1} s ({:.0} rows/s); peak RSS at 10 %: {:.1} MB, at 100 %: {:.1} MB",
            if ndjson { "NDJSON" } else { "CSV" },
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64(),
            rows as f64 / started.elapsed().as_secs_f64(),
            at_tenth.unwrap_or_default(),
            peak_rss_mb()
        );
    }
    let text = std::fs::read_to_string(&out)?;
    let started = Instant::now();
    let report = app::verify::verify_export(text.lines(), None, &state.trusted_keys())
        .map_err(|p| anyhow::anyhow!("offline verification failed: {p}"))?;
    println!(
        "offline verification: {} entries in {:.1} s ({:.0} entries/s): {}",
        report.entries,
        started.elapsed().as_secs_f64(),
        report.entries as f64 / started.elapsed().as_secs_f64(),
        report.summary()
    );
    drop(text);
    let _ = std::fs::remove_file(&out);
    let started = Instant::now();
    let walk = app::ssr::integrity::verify_log(store.as_ref(), tenant.id, &state.trusted_keys())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "in-app verification: {} entries in {:.1} s ({:.0} entries/s), ok = {}",
        walk.entries,
        started.elapsed().as_secs_f64(),
        walk.entries as f64 / started.elapsed().as_secs_f64(),
        walk.ok
    );
    Ok(())
}
