//! Integration tests: the real router over a real store. The suite is the store
//! conformance suite: it runs on SQLite files by default and on the local
//! PostgreSQL server (a fresh database per test) with
//! `STELE_TEST_DATABASE=postgres://user@host:port` (`.ci/test` runs both).

mod aging;
mod catalog;
mod copy;
mod export;
mod http;
mod ingest;
mod integrity;
mod scale;
mod secrets;
mod shapes;
mod store;

use app::catalog::EventType;
use app::clock::{Clock, ManualClock};
use app::entry::{Actor, NewEntry, Tenant};
use app::store::Store;
use server::store::{PgStore, SqliteStore};
use std::io::{Read, Write};
use std::process::Command;
use std::sync::Arc;
use tempfile::TempDir;

/// The PostgreSQL server to test against, if this run is the PostgreSQL one.
pub fn postgres_server() -> Option<String> {
    std::env::var("STELE_TEST_DATABASE")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .map(|u| u.trim_end_matches('/').to_owned())
}

/// Creates an empty database on a PostgreSQL server; answers its name.
pub async fn create_database(server: &str, prefix: &str) -> String {
    let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
    let mut admin: sqlx::PgConnection = sqlx::Connection::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    name
}

/// Every entry of a tenant, oldest first, read page by page with the keyset cursor.
pub async fn all_entries(store: &dyn Store, tenant_id: uuid::Uuid) -> Vec<app::entry::Entry> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list(&app::store::EntryQuery {
                tenant_id: Some(tenant_id),
                order: app::store::Order::OldestFirst,
                cursor,
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some(last.seq);
        out.extend(page);
    }
    out
}

/// One test's database: a temporary directory (for files a test writes), and
/// either a SQLite file in it or a fresh PostgreSQL database dropped afterwards.
pub struct TestDb {
    dir: TempDir,
    pub url: String,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        match postgres_server() {
            None => {
                let url = format!("sqlite://{}", dir.path().join("stele.db").display());
                TestDb {
                    dir,
                    url,
                    postgres: None,
                }
            }
            Some(server) => {
                let name = create_database(&server, "stele_test").await;
                TestDb {
                    dir,
                    url: format!("{server}/{name}"),
                    postgres: Some((server, name)),
                }
            }
        }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// Opens (another) store on this database.
    pub async fn open(&self, clock: Arc<dyn Clock>) -> TestStore {
        if self.is_postgres() {
            let pg = Arc::new(PgStore::open_with_clock(&self.url, clock).await.unwrap());
            TestStore {
                raw: Raw::Postgres(pg.pool().clone()),
                store: pg,
            }
        } else {
            let lite = SqliteStore::open_with_clock(&self.url, clock)
                .await
                .unwrap();
            TestStore {
                raw: Raw::Sqlite(lite.pool().clone()),
                store: Arc::new(lite),
            }
        }
    }
}

impl TestDb {
    /// A store whose "dense timeframe" threshold is `entries` (SQLite reads small
    /// and large timeframes two ways; PostgreSQL has one way, so it ignores this).
    pub async fn open_dense(&self, entries: i64) -> TestStore {
        if self.is_postgres() {
            return self.open(Arc::new(app::clock::SystemClock)).await;
        }
        let lite = SqliteStore::open(&self.url)
            .await
            .unwrap()
            .with_dense_range(entries);
        TestStore {
            raw: Raw::Sqlite(lite.pool().clone()),
            store: Arc::new(lite),
        }
    }
}

impl TestDb {
    /// Someone with their own connection to the database and the power to switch
    /// Stele's triggers off: on SQLite by dropping them, on PostgreSQL with
    /// `session_replication_role = replica` (no trigger fires for this session).
    pub async fn attacker(&self) -> Attacker {
        if self.is_postgres() {
            let mut conn: sqlx::PgConnection = sqlx::Connection::connect(&self.url).await.unwrap();
            sqlx::query("SET session_replication_role = replica")
                .execute(&mut conn)
                .await
                .unwrap();
            Attacker::Postgres(tokio::sync::Mutex::new(conn))
        } else {
            Attacker::Sqlite(tokio::sync::Mutex::new(
                sqlx::Connection::connect(&self.url).await.unwrap(),
            ))
        }
    }
}

pub enum Attacker {
    Sqlite(tokio::sync::Mutex<sqlx::SqliteConnection>),
    Postgres(tokio::sync::Mutex<sqlx::PgConnection>),
}

impl Attacker {
    /// Runs a statement written for SQLite; on PostgreSQL, `DROP TRIGGER` is not
    /// needed (no trigger fires for this session) and blobs are spelled `decode`.
    pub async fn sql(&self, sql: &str) {
        let result = match self {
            Attacker::Sqlite(c) => sqlx::query(sql)
                .execute(&mut *c.lock().await)
                .await
                .map(|r| r.rows_affected()),
            Attacker::Postgres(c) => {
                if sql.starts_with("DROP TRIGGER") {
                    return;
                }
                let sql = sql.replace("zeroblob(32)", "decode(repeat('00', 32), 'hex')");
                let mut sql = sql;
                while let Some(at) = sql.find(" x'") {
                    let end = at + 3 + sql[at + 3..].find('\'').unwrap();
                    sql = format!(
                        "{} decode('{}', 'hex'){}",
                        &sql[..at],
                        &sql[at + 3..end],
                        &sql[end + 1..]
                    );
                }
                sqlx::query(&sql)
                    .execute(&mut *c.lock().await)
                    .await
                    .map(|r| r.rows_affected())
            }
        };
        if let Err(e) = result {
            panic!("{sql}: {e}");
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = self.postgres.take() {
            // Drop runs inside the test's runtime: clean up from a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut admin) = <sqlx::PgConnection as sqlx::Connection>::connect(
                        &format!("{server}/postgres"),
                    )
                    .await
                    {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut admin)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// A store under test, usable as `&dyn Store`, with raw SQL access for tests that
/// play the attacker (statements written in the SQL both stores speak).
pub struct TestStore {
    store: Arc<dyn Store>,
    raw: Raw,
}

impl std::ops::Deref for TestStore {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

impl TestStore {
    pub fn shared(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Runs one statement as an attacker with database access would.
    pub async fn exec(&self, sql: &str) -> Result<u64, String> {
        match &self.raw {
            Raw::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()),
            Raw::Postgres(p) => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()),
        }
        .map_err(|e| e.to_string())
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.raw, Raw::Postgres(_))
    }

    /// Makes the database refuse (mid-transaction) any entry with this description.
    pub async fn poison_inserts(&self, description: &str) {
        if self.is_postgres() {
            self.exec(&format!(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.description = '{description}' THEN RAISE EXCEPTION 'poisoned'; END IF; \
                 RETURN NEW; END $$"
            ))
            .await
            .unwrap();
            self.exec("CREATE TRIGGER poison BEFORE INSERT ON entries FOR EACH ROW EXECUTE FUNCTION poison()")
                .await
                .unwrap();
        } else {
            self.exec(&format!(
                "CREATE TRIGGER poison BEFORE INSERT ON entries WHEN NEW.description = '{description}' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
            ))
            .await
            .unwrap();
        }
    }

    pub async fn cure_inserts(&self) {
        if self.is_postgres() {
            self.exec("DROP TRIGGER poison ON entries").await.unwrap();
        } else {
            self.exec("DROP TRIGGER poison").await.unwrap();
        }
    }

    /// Makes every purge of this tenant's content fail (as a disk fault would)
    /// while the row `fault.active` is 1 (`UPDATE fault SET active = 0` ends it).
    /// On PostgreSQL a purge also drops whole months, so the fault covers those
    /// statements too.
    pub async fn fail_purges_of(&self, tenant: uuid::Uuid) {
        self.exec("CREATE TABLE fault (active INTEGER NOT NULL)")
            .await
            .unwrap();
        self.exec("INSERT INTO fault (active) VALUES (1)")
            .await
            .unwrap();
        if self.is_postgres() {
            for sql in [
                format!(
                    "CREATE FUNCTION fail_first() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     IF OLD.tenant_id = '{tenant}' AND (SELECT active FROM fault) = 1 THEN \
                     RAISE EXCEPTION 'simulated disk failure'; END IF; RETURN OLD; END $$"
                ),
                "CREATE TRIGGER fail_first BEFORE DELETE ON entries FOR EACH ROW \
                 EXECUTE FUNCTION fail_first()"
                    .to_owned(),
                format!(
                    "CREATE FUNCTION fail_first_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ \
                     BEGIN IF current_query() LIKE '%{}%' AND (SELECT active FROM fault) = 1 THEN \
                     RAISE EXCEPTION 'simulated disk failure'; END IF; END $$",
                    tenant.simple()
                ),
                "CREATE EVENT TRIGGER fail_first_ddl ON ddl_command_start \
                 WHEN TAG IN ('ALTER TABLE', 'DROP TABLE') EXECUTE FUNCTION fail_first_ddl()"
                    .to_owned(),
            ] {
                self.exec(&sql).await.unwrap();
            }
        } else {
            self.exec(&format!(
                "CREATE TRIGGER fail_first BEFORE DELETE ON entries \
                 WHEN OLD.tenant_id = '{tenant}' AND (SELECT active FROM fault) = 1 \
                 BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END"
            ))
            .await
            .unwrap();
        }
    }

    /// One integer a query answers.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match &self.raw {
            Raw::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
            Raw::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        }
    }
}

/// A fresh database (SQLite file or PostgreSQL database) and a store on it.
pub async fn fresh_store() -> (TestDb, TestStore) {
    let db = TestDb::new().await;
    let store = db.open(Arc::new(app::clock::SystemClock)).await;
    (db, store)
}

/// What the database holds, as bytes: on SQLite the file and its write-ahead log;
/// on PostgreSQL every table's rows as `pg_dump` reads them (the server's own
/// files, WAL and backups are outside what Stele controls: README, "Running on
/// PostgreSQL").
pub fn stored_bytes(db: &TestDb) -> Vec<u8> {
    if db.is_postgres() {
        let out = std::process::Command::new("pg_dump")
            .args(["--data-only", "--dbname", &db.url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return out.stdout;
    }
    let mut bytes = Vec::new();
    for name in ["stele.db", "stele.db-wal"] {
        if let Ok(b) = std::fs::read(db.path().join(name)) {
            bytes.extend(b);
        }
    }
    bytes
}

/// The `stele` binary on this test's data directory and database.
pub fn command(db: &TestDb) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stele"));
    c.env("STELE_DATA_DIR", db.path());
    if db.is_postgres() {
        c.env("STELE_DATABASE_URL", &db.url);
    }
    c
}

pub fn stele(db: &TestDb, args: &[&str]) -> String {
    let out = command(db).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A plain HTTP/1.1 request; returns the status code and body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    try_http(addr, method, path, headers, body).unwrap()
}

/// [`http`], answering `None` when the server cannot be reached or hangs up.
pub fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let status = answer.get(9..12)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// Creates an API key (scope `write`) for a tenant with the CLI; answers the secret.
pub fn api_key(db: &TestDb, tenant: &str) -> String {
    let out = stele(
        db,
        &[
            "api-key", "create", "--tenant", tenant, "--name", "sync", "--scope", "write",
        ],
    );
    out.lines()
        .find_map(|l| l.strip_prefix("secret (shown once, store it now): "))
        .unwrap()
        .trim()
        .to_owned()
}

/// Starts `stele serve` on the test's database (checkpoint rounds every
/// `checkpoint_every` seconds, its log to `log`); answers it and its address.
pub fn serve(
    db: &TestDb,
    checkpoint_every: &str,
    log: &std::path::Path,
    level: &str,
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = command(db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--checkpoint-every",
            checkpoint_every,
        ])
        .arg("--dist")
        .arg(db.path().join("no-dist"))
        .env("STELE_LOG", level)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("Stele is running at http://")
        .unwrap_or_else(|| panic!("the server did not start: {line}"))
        .to_owned();
    (child, addr)
}

/// A clock standing at a fixed day (not today), for tests that age things.
pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at(
        chrono::DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .unwrap()
            .into(),
    ))
}

/// A fresh database whose store reads time from `clock`.
pub async fn fresh_store_with(clock: Arc<ManualClock>) -> (TestDb, TestStore) {
    let db = TestDb::new().await;
    let store = db.open(clock).await;
    (db, store)
}

/// The server functions' state over `store`, with a fixed signing key.
pub fn state_for(
    store: Arc<dyn Store>,
    platform_tenant: uuid::Uuid,
    seed: u8,
) -> app::ssr::AppState {
    app::ssr::AppState {
        store,
        platform_tenant,
        secure_cookies: false,
        public_url: "http://stele.test".into(),
        signer: Arc::new(ed25519_dalek::SigningKey::from_bytes(&[seed; 32])),
        previous_keys: Arc::default(),
    }
}

/// Signs the tenant's head as the periodic job would.
pub async fn sign(state: &app::ssr::AppState, tenant: uuid::Uuid) -> app::checkpoint::Checkpoint {
    app::ssr::integrity::sign_checkpoint(state, tenant, Actor::system(), Default::default())
        .await
        .unwrap()
}

pub async fn tenant(store: &dyn Store, slug: &str) -> Tenant {
    store
        .create_tenant(slug, &format!("{slug} MSP"))
        .await
        .unwrap()
}

pub fn entry(n: usize) -> NewEntry {
    NewEntry::new(
        EventType::ExtensionUpdated,
        Actor::user("u1", Some("Jane Doe"), Some("jane@msp.example")),
        format!("Updated extension {n}"),
    )
    .instance("pbx-1", "Acme HQ")
    .change(
        "ring_timeout_s",
        Some(serde_json::json!(20)),
        Some(serde_json::json!(n)),
    )
}

/// The log the in-place migration tests write with the current schema, and what a
/// migrated store must answer for it.
pub struct MigrationLog {
    pub tenant: Tenant,
    pub entries: Vec<app::entry::Entry>,
    pub root: app::merkle::Hash,
    /// The stored Merkle rows of the current schema (levels 4 and up).
    pub nodes: Vec<(i64, i64, Vec<u8>)>,
}

/// A store's stored Merkle rows, by level and index (store-specific SQL pools).
#[allow(async_fn_in_trait)] // tests only: never sent across threads
pub trait MerkleRows {
    async fn merkle_rows(&self) -> Vec<(i64, i64, Vec<u8>)>;
}

const MERKLE_ROWS: &str = "SELECT level, idx, hash FROM merkle_nodes ORDER BY level, idx";

impl MerkleRows for SqliteStore {
    async fn merkle_rows(&self) -> Vec<(i64, i64, Vec<u8>)> {
        sqlx::query_as(MERKLE_ROWS)
            .fetch_all(self.pool())
            .await
            .unwrap()
    }
}

impl MerkleRows for PgStore {
    async fn merkle_rows(&self) -> Vec<(i64, i64, Vec<u8>)> {
        sqlx::query_as(MERKLE_ROWS)
            .fetch_all(self.pool())
            .await
            .unwrap()
    }
}

/// Writes 45 entries (one with a target) through `store`.
pub async fn write_migration_log(store: &(impl Store + MerkleRows)) -> MigrationLog {
    let t = tenant(store, "acme").await;
    let mut batch: Vec<NewEntry> = (1..=45).map(entry).collect();
    batch[3] = batch[3]
        .clone()
        .target("trunk", "SIP-6", Some("Main trunk"));
    store.append(t.id, batch).await.unwrap();
    let log = MigrationLog {
        entries: all_entries(store, t.id).await,
        root: app::ssr::integrity::root_at(store, t.id, 45).await.unwrap(),
        nodes: store.merkle_rows().await,
        tenant: t,
    };
    assert!(!log.nodes.is_empty());
    log
}

/// A migrated store holds the same log: entries and hashes, the stored Merkle rows
/// (`nodes`), the root, a proof through recomputed low levels; it verifies and
/// appends go on from its tip.
pub async fn check_migrated(store: &(impl Store + MerkleRows), log: &MigrationLog) {
    let t = log.tenant.id;
    assert_eq!(all_entries(store, t).await, log.entries);
    assert_eq!(
        store.merkle_rows().await,
        log.nodes,
        "levels 4 and up remain"
    );
    assert_eq!(
        app::ssr::integrity::root_at(store, t, 45).await.unwrap(),
        log.root
    );
    let proof = app::ssr::integrity::inclusion_proof(store, t, 37, 45)
        .await
        .unwrap();
    let digest: [u8; 32] = hex::decode(&log.entries[37].entry_digest)
        .unwrap()
        .try_into()
        .unwrap();
    assert!(app::merkle::verify_inclusion(
        37,
        45,
        &app::merkle::leaf_hash(&digest),
        &proof,
        &log.root
    ));
    let report = app::ssr::integrity::verify_log(store, t, &[])
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
    let next = store.append(t, vec![entry(46)]).await.unwrap();
    assert_eq!(next[0].seq, 46);
    let report = app::ssr::integrity::verify_log(store, t, &[])
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
}

/// `migrator` cut back to its migrations up to `version`: a database of an earlier
/// schema.
pub fn migrations_up_to(
    mut migrator: sqlx::migrate::Migrator,
    version: i64,
) -> sqlx::migrate::Migrator {
    migrator.migrations = std::borrow::Cow::Owned(
        migrator
            .migrations
            .iter()
            .filter(|m| m.version <= version)
            .cloned()
            .collect(),
    );
    migrator
}
