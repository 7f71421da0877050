//! Ingest benchmark, in one run:
//!
//! 1. **Append path vs floor.** The demo's mix of EVENTS entries (generated first,
//!    untimed) is appended through Stele's own path (`Store::append`, batches of
//!    BATCH); then the very rows it wrote (entries, chain links, Merkle subtrees)
//!    are inserted into a second fresh database of the same schema by a plain loop
//!    of multi-row prepared statements (64 rows each, like Stele's own inserts), in
//!    transactions of the same size. Both rates and
//!    their ratio are printed, and the bytes per entry on disk.
//! 2. **HTTP.** A real `stele serve` (the release binary) on a fresh database, with
//!    1, 8 and 32 producers posting single events, then batches of 100, for
//!    SECONDS each over keep-alive connections: events/s and p50/p90/p99 latency.
//!
//! ```sh
//! cargo build --release -p server --bins --examples
//! target/release/examples/ingest_bench sqlite
//! target/release/examples/ingest_bench postgres://postgres@127.0.0.1:5432
//! ```
//!
//! Optional: `EVENTS` (default 200000), `BATCH` (500), `SECONDS` (5),
//! `SERVERS` (1; more servers on the same database share the producers).

use server::demo::{self, DemoPlan};
use sqlx::{Column, Row, TypeInfo, ValueRef};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Where the benchmark's fresh databases come from.
enum Target {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Target {
    /// A new, empty database named `name`, as a URL.
    async fn fresh(&self, name: &str) -> anyhow::Result<String> {
        match self {
            Target::Sqlite(dir) => Ok(format!(
                "sqlite://{}",
                dir.path().join(format!("{name}.db")).display()
            )),
            Target::Postgres(server) => {
                let db = format!("stele_bench_{name}_{}", std::process::id());
                let admin = sqlx::PgPool::connect(&format!("{server}/postgres")).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
                    .execute(&admin)
                    .await?;
                sqlx::query(&format!("CREATE DATABASE {db}"))
                    .execute(&admin)
                    .await?;
                Ok(format!("{server}/{db}"))
            }
        }
    }

    async fn drop_all(&self) {
        if let Target::Postgres(server) = self {
            if let Ok(admin) = sqlx::PgPool::connect(&format!("{server}/postgres")).await {
                for name in ["append", "floor", "http"] {
                    let db = format!("stele_bench_{name}_{}", std::process::id());
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                        .execute(&admin)
                        .await;
                }
            }
        }
    }
}

/// One stored value, whatever its column's type.
#[derive(Clone)]
enum Val {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// The rows of one table, read back with their column names.
struct Rows {
    columns: Vec<String>,
    rows: Vec<Vec<Val>>,
}

fn sqlite_val(row: &sqlx::sqlite::SqliteRow, i: usize) -> anyhow::Result<Val> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Val::Null);
    }
    Ok(match raw.type_info().name() {
        "INTEGER" => Val::Int(row.try_get(i)?),
        "BLOB" => Val::Bytes(row.try_get(i)?),
        _ => Val::Text(row.try_get(i)?),
    })
}

/// The written rows the floor inserts again: entries, chain links, subtrees.
const TABLES: [(&str, &str); 3] = [
    ("entries", "seq"),
    ("chain_links", "seq"),
    ("merkle_nodes", "level, idx"),
];

async fn read_tables(url: &str) -> anyhow::Result<Vec<Rows>> {
    let pool = sqlx::SqlitePool::connect(url).await?;
    let mut out = Vec::new();
    for (table, order) in TABLES {
        let sql = format!("SELECT * FROM {table} ORDER BY {order}");
        let mut rows = Rows {
            columns: Vec::new(),
            rows: Vec::new(),
        };
        for r in sqlx::query(&sql).fetch_all(&pool).await? {
            if rows.columns.is_empty() {
                rows.columns = r.columns().iter().map(|c| c.name().to_owned()).collect();
            }
            rows.rows.push(
                (0..r.len())
                    .map(|i| sqlite_val(&r, i))
                    .collect::<anyhow::Result<_>>()?,
            );
        }
        out.push(rows);
    }
    Ok(out)
}

/// Which commit of the floor a row belongs to: entries and links by seq, a subtree
/// by the leaf that completed it.
fn commit_of(table: usize, rows: &Rows, row: &[Val], batch: u64) -> u64 {
    let col = |name: &str| {
        rows.columns
            .iter()
            .position(|c| c == name)
            .and_then(|i| match &row[i] {
                Val::Int(v) => Some(*v as u64),
                _ => None,
            })
            .unwrap_or(0)
    };
    let last_leaf = if table == 2 {
        ((col("idx") + 1) << col("level")) - 1
    } else {
        col("seq") - 1
    };
    last_leaf / batch
}

/// The floor: every row inserted again by a prepared statement, in commits of
/// `batch` entries (with their links and subtrees). Answers the time it took.
async fn floor_insert(
    pool: &sqlx::SqlitePool,
    tables: &[Rows],
    batch: u64,
) -> anyhow::Result<Duration> {
    // Multi-row statements of up to FLOOR_ROWS rows, as Stele's own inserts.
    const FLOOR_ROWS: usize = 64;
    let statement = |t: usize, n: usize| {
        let (table, _) = TABLES[t];
        let columns = &tables[t].columns;
        let rows: Vec<String> = (0..n)
            .map(|r| {
                let marks: Vec<String> = (1..=columns.len())
                    .map(|i| format!("${}", r * columns.len() + i))
                    .collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        format!(
            "INSERT INTO {table} ({}) VALUES {}",
            columns.join(", "),
            rows.join(", ")
        )
    };
    let full: Vec<String> = (0..tables.len())
        .map(|t| statement(t, FLOOR_ROWS))
        .collect();
    let commits = tables[0].rows.len().div_ceil(batch as usize).max(1);
    let mut plan: Vec<Vec<Vec<&Vec<Val>>>> = vec![vec![Vec::new(); tables.len()]; commits];
    for (t, rows) in tables.iter().enumerate() {
        for row in &rows.rows {
            let c = (commit_of(t, rows, row, batch) as usize).min(commits - 1);
            plan[c][t].push(row);
        }
    }
    let started = Instant::now();
    for commit in plan {
        let mut tx = pool.begin().await?;
        for (t, rows) in commit.iter().enumerate() {
            for chunk in rows.chunks(FLOOR_ROWS) {
                let partial;
                let sql = if chunk.len() == FLOOR_ROWS {
                    &full[t]
                } else {
                    partial = statement(t, chunk.len());
                    &partial
                };
                let mut q = sqlx::query::<sqlx::Sqlite>(sql);
                for v in chunk.iter().flat_map(|row| row.iter()) {
                    q = match v {
                        Val::Null => q.bind(None::<String>),
                        Val::Int(i) => q.bind(*i),
                        Val::Text(s) => q.bind(s.as_str()),
                        Val::Bytes(b) => q.bind(b.as_slice()),
                    };
                }
                q.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
    }
    Ok(started.elapsed())
}

/// The bytes the database holds per entry (SQLite: the file after a checkpoint;
/// PostgreSQL: the database's size).
async fn bytes_on_disk(url: &str) -> anyhow::Result<u64> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let pool = sqlx::SqlitePool::connect(url).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(std::fs::metadata(path)?.len())
    } else {
        let pool = sqlx::PgPool::connect(url).await?;
        let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(&pool)
            .await?;
        Ok(size as u64)
    }
}

async fn append_vs_floor(target: &Target, events: u64, batch: u64) -> anyhow::Result<()> {
    let people = demo::staff("bench");
    let plan = DemoPlan {
        events: u32::try_from(events)?,
        seed: 7,
        days: 365,
    };
    let generated = demo::history_events(&demo::NORTHWIND, people, &plan)?;
    let n = generated.len();

    let url = target.fresh("append").await?;
    let store = server::store::open(&url).await?;
    let tenant = store.create_tenant("bench", "Bench").await?;
    let empty = bytes_on_disk(&url).await?;
    let started = Instant::now();
    for chunk in generated.chunks(batch as usize) {
        store.append(tenant.id, chunk.to_vec()).await?;
    }
    let append = started.elapsed();
    drop(store);
    let bytes = bytes_on_disk(&url).await?.saturating_sub(empty);

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("== append path vs floor: {n} demo entries, commits of {batch}");
    println!(
        "Stele append path   {:>9.0} events/s  ({:.1} s)",
        rate(append),
        append.as_secs_f64()
    );
    println!("bytes per entry     {:>9.0}", bytes as f64 / n as f64);
    if !url.starts_with("sqlite:") {
        // PostgreSQL's month partitions are Stele's to create: no floor there.
        return Ok(());
    }
    let mut tables = read_tables(&url).await?;
    let floor_url = target.fresh("floor").await?;
    // The same schema (migrated by Stele) and a tenant for the rows.
    let floor_store = server::store::open(&floor_url).await?;
    let floor_tenant = floor_store.create_tenant("bench", "Bench").await?;
    drop(floor_store);
    let (from, to) = (tenant.id.to_string(), floor_tenant.id.to_string());
    for rows in &mut tables {
        for row in &mut rows.rows {
            for v in row.iter_mut() {
                if matches!(v, Val::Text(t) if *t == from) {
                    *v = Val::Text(to.clone());
                }
            }
        }
    }
    let options = floor_url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()?
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
        .foreign_keys(true)
        .pragma("secure_delete", "ON")
        .pragma("cache_size", "-32768");
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let floor = floor_insert(&pool, &tables, batch).await?;
    println!(
        "raw floor           {:>9.0} rows/s    ({:.1} s; the same rows, schema and commit size)",
        rate(floor),
        floor.as_secs_f64()
    );
    println!(
        "ratio               {:>9.2}",
        floor.as_secs_f64() / append.as_secs_f64()
    );
    Ok(())
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

/// A producer's keep-alive connection.
struct Conn {
    addr: String,
    reader: Option<BufReader<TcpStream>>,
}

impl Conn {
    /// Posts one body and answers the status (reconnecting once if the server
    /// closed the connection).
    fn post(&mut self, key: &str, body: &str) -> anyhow::Result<u16> {
        for _ in 0..2 {
            if self.reader.is_none() {
                let s = TcpStream::connect(&self.addr)?;
                s.set_nodelay(true)?;
                self.reader = Some(BufReader::new(s));
            }
            let reader = self.reader.as_mut().expect("connected");
            let req = format!(
                "POST /api/v1/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                self.addr,
                body.len()
            );
            if reader.get_mut().write_all(req.as_bytes()).is_err() {
                self.reader = None;
                continue;
            }
            let mut status_line = String::new();
            if reader.read_line(&mut status_line)? == 0 {
                self.reader = None;
                continue;
            }
            let status: u16 = status_line.get(9..12).unwrap_or("0").parse()?;
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line)?;
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse()?;
                    }
                }
            }
            let mut answer = vec![0; length];
            reader.read_exact(&mut answer)?;
            return Ok(status);
        }
        anyhow::bail!("the server closed the connection twice")
    }
}

fn start_servers(
    data: &std::path::Path,
    url: &str,
    servers: u64,
) -> anyhow::Result<(Vec<Child>, Vec<String>)> {
    let mut children = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..servers {
        let mut child = stele(data, url)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--checkpoint-every",
                "0",
            ])
            .arg("--dist")
            .arg(data.join("no-dist"))
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
    Ok((children, addrs))
}

fn event(producer: usize, n: u64, i: u64) -> serde_json::Value {
    serde_json::json!({
        "event_type": "extension.updated",
        "description": format!("Bench update {producer}-{n}-{i}"),
        "instance": {"id": format!("pbx-{}", (n + i) % 50), "name": "Bench PBX"},
        "target": {"kind": "extension", "id": format!("{}", (n * 7 + i) % 400)},
        "before": {"ring_timeout_s": 20, "name": "Reception"},
        "after": {"ring_timeout_s": 25, "name": "Front desk"},
        "idempotency_key": format!("bench-{producer}-{n}-{i}"),
    })
}

fn http_round(
    addrs: &[String],
    key: &str,
    clients: usize,
    size: u64,
    seconds: u64,
) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let round = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let (stop, latencies) = (stop.clone(), latencies.clone());
            let key = key.to_owned();
            let mut conn = Conn {
                addr: addrs[c % addrs.len()].clone(),
                reader: None,
            };
            let salt = round.elapsed().as_nanos() as u64 ^ (size << 32);
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut n = 0u64;
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let body = if size == 1 {
                        event(c, salt + n, 0).to_string()
                    } else {
                        serde_json::json!({"events": (0..size).map(|i| event(c, salt + n, i)).collect::<Vec<_>>()})
                            .to_string()
                    };
                    let t = Instant::now();
                    let status = conn.post(&key, &body)?;
                    anyhow::ensure!(status == 200, "a request was answered {status}");
                    mine.push(t.elapsed().as_secs_f64() * 1000.0);
                    n += 1;
                }
                latencies.lock().expect("latencies").extend(mine);
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a producer panicked"))??;
    }
    let elapsed = round.elapsed().as_secs_f64();
    let mut l = latencies.lock().expect("latencies").clone();
    l.sort_by(f64::total_cmp);
    let pick = |p: f64| l[((l.len() as f64 - 1.0) * p).round() as usize];
    let shape = if size == 1 {
        "single events".to_owned()
    } else {
        format!("batches of {size}")
    };
    println!(
        "{clients:>2} producers, {shape:<16} {:>8.0} events/s   request p50 {:>6.2} ms  p90 {:>6.2} ms  p99 {:>6.2} ms",
        (l.len() as u64 * size) as f64 / elapsed,
        pick(0.5),
        pick(0.9),
        pick(0.99),
    );
    Ok(())
}

async fn http(target: &Target, seconds: u64, servers: u64) -> anyhow::Result<()> {
    let url = target.fresh("http").await?;
    let data = tempfile::tempdir()?;
    let run = |args: &[&str]| -> anyhow::Result<String> {
        let out = stele(data.path(), &url).args(args).output()?;
        anyhow::ensure!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    run(&["tenant", "create", "--slug", "ingest", "--name", "Ingest"])?;
    let out = run(&[
        "api-key", "create", "--tenant", "ingest", "--name", "bench", "--scope", "write",
    ])?;
    let key = out
        .lines()
        .find_map(|l| l.strip_prefix("secret (shown once, store it now): "))
        .ok_or_else(|| anyhow::anyhow!("no key printed"))?
        .trim()
        .to_owned();
    let (mut children, addrs) = start_servers(data.path(), &url, servers)?;
    println!("== HTTP ingest: {servers} server(s), {seconds} s per round, keep-alive connections");
    let mut result = Ok(());
    'rounds: for size in [1u64, 100] {
        for clients in [1usize, 8, 32] {
            result = http_round(&addrs, &key, clients, size, seconds);
            if result.is_err() {
                break 'rounds;
            }
        }
    }
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    result
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let target = match args.get(1).map(String::as_str) {
        Some("sqlite") => Target::Sqlite(tempfile::tempdir()?),
        Some(url) if url.starts_with("postgres://") => {
            Target::Postgres(url.trim_end_matches('/').to_owned())
        }
        _ => anyhow::bail!("usage: ingest_bench sqlite|postgres://user@host:port"),
    };
    let (events, batch, seconds, servers) = (
        env_or("EVENTS", 200_000),
        env_or("BATCH", 500).max(1),
        env_or("SECONDS", 5),
        env_or("SERVERS", 1).max(1),
    );
    let result = async {
        append_vs_floor(&target, events, batch).await?;
        http(&target, seconds, servers).await
    }
    .await;
    target.drop_all().await;
    result
}
