//! Several stateless servers on one database: three real `stele serve` processes
//! (on PostgreSQL in the PostgreSQL run, on one SQLite file otherwise), concurrent
//! producers writing single events and batches with idempotency keys to all of
//! them, one server killed with SIGKILL mid-run. Afterwards every acknowledged event
//! is there exactly once, every tenant's seq is gap-free, and the chain and the
//! checkpoints (signed by whichever server claimed each round) verify.

use super::{stele, try_http, TestDb};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Server {
    child: std::process::Child,
    addr: String,
}

fn start(db: &TestDb, n: usize) -> Server {
    let log = db.path().join(format!("server{n}.log"));
    let (child, addr) = super::serve(db, "1", &log, "info");
    Server { child, addr }
}

/// What a producer was told: idempotency key → (tenant, entry id, seq).
type Acked = Arc<Mutex<HashMap<String, (String, String, i64)>>>;

fn event(key: &str) -> Value {
    json!({
        "event_type": "extension.updated",
        "description": format!("Sync {key}"),
        "instance": {"id": "pbx-1", "name": "HQ"},
        "target": {"kind": "extension", "id": key},
        "before": {"ring_timeout_s": 20},
        "after": {"ring_timeout_s": 25},
        "idempotency_key": key,
    })
}

/// Sends one request to the servers in turn, starting at `first`, until one
/// answers (a producer's retry, with the same idempotency keys).
fn send(addrs: &[String], first: usize, key: &str, body: &str) -> (u16, Value) {
    let auth = format!("Bearer {key}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    for attempt in 0..30 {
        let addr = &addrs[(first + attempt) % addrs.len()];
        if let Some((status, text)) = try_http(addr, "POST", "/api/v1/events", &headers, body) {
            return (status, serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no server answered");
}

#[test]
fn three_servers_on_one_database_lose_nothing_when_one_is_killed() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = runtime.block_on(TestDb::new());
    let tenants = ["acme", "harbor"];
    for t in tenants {
        stele(&db, &["tenant", "create", "--slug", t, "--name", t]);
    }
    let keys: Vec<String> = tenants.iter().map(|t| super::api_key(&db, t)).collect();
    // The first server creates the shared signing key; the others start after it.
    let mut servers = vec![start(&db, 0)];
    servers.push(start(&db, 1));
    servers.push(start(&db, 2));
    let addrs: Vec<String> = servers.iter().map(|s| s.addr.clone()).collect();

    let acked: Acked = Arc::default();
    let unexpected = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..6usize {
        let (addrs, acked, unexpected, stop) = (
            addrs.clone(),
            acked.clone(),
            unexpected.clone(),
            stop.clone(),
        );
        let tenant = tenants[c % 2].to_owned();
        let key = keys[c % 2].clone();
        clients.push(std::thread::spawn(move || {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let size = if n.is_multiple_of(3) { 1 } else { n % 17 + 2 };
                let ids: Vec<String> = (0..size).map(|i| format!("c{c}-{n}-{i}")).collect();
                let body = if size == 1 {
                    event(&ids[0]).to_string()
                } else {
                    json!({"events": ids.iter().map(|k| event(k)).collect::<Vec<_>>()}).to_string()
                };
                let (status, answer) = send(&addrs, c + n, &key, &body);
                if status != 200 {
                    unexpected
                        .lock()
                        .unwrap()
                        .push(format!("{status}: {answer}"));
                    continue;
                }
                let results = answer["results"].as_array().cloned().unwrap_or_default();
                let mut map = acked.lock().unwrap();
                for (k, r) in ids.iter().zip(&results) {
                    let got = (
                        tenant.clone(),
                        r["id"].as_str().unwrap_or_default().to_owned(),
                        r["seq"].as_i64().unwrap_or(0),
                    );
                    if let Some(before) = map.insert(k.clone(), got.clone()) {
                        // A retry answered after an earlier acknowledgement: the same entry.
                        if before != got {
                            unexpected
                                .lock()
                                .unwrap()
                                .push(format!("{k}: {before:?} then {got:?}"));
                        }
                    }
                }
                drop(map);
                // Now and then a producer sends a request again (it missed the answer).
                if n.is_multiple_of(7) {
                    let (status, again) = send(&addrs, c + n + 1, &key, &body);
                    if status != 200 || again["replayed"].as_u64() != Some(size as u64) {
                        unexpected
                            .lock()
                            .unwrap()
                            .push(format!("resend: {status} {again}"));
                    }
                }
            }
        }));
    }
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let killed_after = acked.lock().unwrap().len();
    servers[1].child.kill().unwrap(); // SIGKILL: no shutdown, mid-request
    servers[1].child.wait().unwrap();
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let elapsed = started.elapsed();
    // Let a checkpoint round pass after the last write, then stop the others.
    std::thread::sleep(Duration::from_millis(2500));
    for (i, s) in servers.iter_mut().enumerate() {
        if i != 1 {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
    }
    let problems = unexpected.lock().unwrap().clone();
    assert!(problems.is_empty(), "{problems:#?}");
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > killed_after && killed_after > 0,
        "writes went on before and after the kill ({killed_after} then {})",
        acked.len()
    );
    eprintln!(
        "3 servers: {} events acknowledged in {:.1} s, one server killed after {killed_after}",
        acked.len(),
        elapsed.as_secs_f64()
    );

    runtime.block_on(async {
        let store = db.open(Arc::new(app::clock::SystemClock)).await;
        let seed = std::fs::read_to_string(db.path().join("signing.key")).unwrap();
        let seed: [u8; 32] = hex::decode(seed.trim()).unwrap().try_into().unwrap();
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        for slug in tenants {
            let tenant = store.tenant_by_slug(slug).await.unwrap().unwrap();
            let head = i64::try_from(store.head(tenant.id).await.unwrap()).unwrap();
            let mut by_key: HashMap<String, Vec<(String, i64)>> = HashMap::new();
            let mut seqs = Vec::new();
            for e in super::all_entries(&*store, tenant.id).await {
                seqs.push(e.seq);
                if let Some(k) = e.idempotency_key {
                    by_key.entry(k).or_default().push((e.id.to_string(), e.seq));
                }
            }
            assert_eq!(
                seqs,
                (1..=head).collect::<Vec<_>>(),
                "{slug}: seq is gap-free"
            );
            assert!(
                by_key.values().all(|v| v.len() == 1),
                "{slug}: a key written twice"
            );
            for (k, (t, id, seq)) in acked.iter().filter(|(_, v)| v.0 == slug) {
                let found = by_key
                    .get(k)
                    .unwrap_or_else(|| panic!("{t}: acknowledged {k} is lost"));
                assert_eq!(found[0], (id.clone(), *seq), "{k}");
            }
            let report = app::ssr::integrity::verify_log(&*store, tenant.id, &[public])
                .await
                .unwrap();
            assert!(report.ok, "{slug}: {report:?}");
            assert!(report.checkpoints_checked >= 1, "{slug}: {report:?}");
        }
    });
}
