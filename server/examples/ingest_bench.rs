//! Ingest throughput benchmark: starts N real `stele serve` processes (the release
//! binary) on one database, has C producers post batches of B events through the
//! ingestion API to them in turn until E events are acknowledged, and prints events
//! per second and request latency (p50 / p95 / max).
//!
//! ```sh
//! cargo build --release -p server
//! # SQLite (a fresh file), one server:
//! cargo run --release -p server --example ingest_bench -- sqlite:///tmp/ingest/stele.db 1
//! # PostgreSQL, three servers on one (empty) database:
//! createdb -h 127.0.0.1 -U postgres stele_ingest
//! cargo run --release -p server --example ingest_bench -- postgres://postgres@127.0.0.1/stele_ingest 3
//! ```
//!
//! Optional: `CLIENTS` (default 8), `BATCH` (100), `EVENTS` (200000), `TENANTS` (1;
//! producer c writes to tenant c mod TENANTS).

use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn stele(data: &std::path::Path, url: &str) -> Command {
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("stele")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "target/release/stele".into());
    let mut c = Command::new(bin);
    c.env("STELE_DATA_DIR", data).env("STELE_DATABASE_URL", url);
    c
}

fn post(addr: &str, key: &str, body: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    let req = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    answer.get(9..12)?.parse().ok()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(servers)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: ingest_bench DATABASE_URL SERVERS");
    };
    let servers: usize = servers.parse()?;
    let (clients, batch, events, tenants) = (
        env_or("CLIENTS", 8),
        env_or("BATCH", 100),
        env_or("EVENTS", 200_000),
        env_or("TENANTS", 1),
    );
    let data = tempfile::tempdir()?;
    let run = |args: &[&str]| -> anyhow::Result<String> {
        let out = stele(data.path(), url).args(args).output()?;
        anyhow::ensure!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let mut keys = Vec::new();
    for t in 0..tenants {
        let slug = format!("ingest{}-{t}", std::process::id());
        run(&[
            "tenant",
            "create",
            "--slug",
            &slug,
            "--name",
            "Ingest bench",
        ])?;
        let out = run(&[
            "api-key", "create", "--tenant", &slug, "--name", "bench", "--scope", "write",
        ])?;
        keys.push(
            out.lines()
                .find_map(|l| l.strip_prefix("secret (shown once, store it now): "))
                .ok_or_else(|| anyhow::anyhow!("no key printed"))?
                .trim()
                .to_owned(),
        );
    }
    let mut children: Vec<Child> = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..servers {
        let mut child = stele(data.path(), url)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--checkpoint-every",
                "0",
            ])
            .arg("--dist")
            .arg(data.path().join("no-dist"))
            .env("STELE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line)?;
        addrs.push(
            line.trim()
                .strip_prefix("Stele is running at http://")
                .ok_or_else(|| anyhow::anyhow!("server did not start: {line}"))?
                .to_owned(),
        );
        children.push(child);
    }
    let sent = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let key = keys[(c % tenants) as usize].clone();
            let (addrs, sent, latencies) = (addrs.clone(), sent.clone(), latencies.clone());
            std::thread::spawn(move || {
                let mut n = 0usize;
                loop {
                    let first = sent.fetch_add(batch, Ordering::Relaxed);
                    if first >= events {
                        break;
                    }
                    let body = json!({"events": (0..batch).map(|i| json!({
                        "event_type": "extension.updated",
                        "description": format!("Bench update {}", first + i),
                        "instance": {"id": format!("pbx-{}", (first + i) % 50), "name": "Bench PBX"},
                        "target": {"kind": "extension", "id": format!("{}", (first + i) % 400)},
                        "before": {"ring_timeout_s": 20, "name": "Reception"},
                        "after": {"ring_timeout_s": 25, "name": "Front desk"},
                        "idempotency_key": format!("bench-{c}-{n}-{i}"),
                    })).collect::<Vec<_>>()})
                    .to_string();
                    let t = Instant::now();
                    let status = post(&addrs[(c as usize + n) % addrs.len()], &key, &body);
                    assert_eq!(status, Some(200), "a batch was not acknowledged");
                    latencies
                        .lock()
                        .expect("latencies")
                        .push(t.elapsed().as_secs_f64() * 1000.0);
                    n += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| anyhow::anyhow!("a producer failed"))?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let mut l = latencies.lock().expect("latencies").clone();
    l.sort_by(f64::total_cmp);
    let pick = |p: f64| l[((l.len() as f64 - 1.0) * p).round() as usize];
    let done = l.len() as u64 * batch;
    println!(
        "{} server(s), {tenants} tenant(s), {clients} producers, batches of {batch}: {done} events in {elapsed:.1} s = {:.0} events/s; \
         batch latency p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        servers,
        done as f64 / elapsed,
        pick(0.5),
        pick(0.95),
        l[l.len() - 1]
    );
    Ok(())
}
