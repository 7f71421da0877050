//! Command line and environment: every flag has a `STELE_*` variable.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "stele",
    version,
    about = "Stele: the tamper-evident audit log for MSPs"
)]
pub struct Cli {
    /// What to do; without a subcommand, `stele` serves (flags then come from `STELE_*`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The command to run: `serve` with environment configuration when none was given.
    pub fn command(self) -> Command {
        self.command
            .unwrap_or_else(|| match Cli::parse_from(["stele", "serve"]).command {
                Some(serve) => serve,
                None => unreachable!("`serve` was given"),
            })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (the default).
    Serve(ServeArgs),
    /// Create and migrate the database, then exit.
    Migrate(StoreArgs),
    /// Generate realistic demo history for one tenant through the normal append path.
    Demo(DemoArgs),
    /// Purge content older than each tenant's retention, now (what the daily job does).
    Purge(PurgeArgs),
    /// Verify an NDJSON export offline against a signed checkpoint; exits non-zero
    /// naming the first problem.
    Verify(VerifyArgs),
    /// Copy a SQLite deployment into an empty PostgreSQL database, then verify the
    /// copy end to end (every tenant's chain, Merkle tree and checkpoints).
    Copy(CopyArgs),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (an MSP account).
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// Short name used in URLs and export file names: a-z, 0-9 and '-'.
        #[arg(long)]
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from stdin with --password-stdin; otherwise
    /// a one-time set-password link is printed.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// The tenant's slug (omit for a platform super admin).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// member, admin or owner (required with --tenant).
        #[arg(long)]
        role: Option<String>,
        /// Make the user a platform super admin.
        #[arg(long)]
        super_admin: bool,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        /// Base URL for the set-password link.
        #[arg(
            long,
            env = "STELE_PUBLIC_URL",
            default_value = "http://127.0.0.1:3000"
        )]
        public_url: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key for a tenant and print its secret once.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// write (post events), read (read events) or catalog (register event
        /// types, switch packs); repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory for Stele's data; the SQLite database is `stele.db` inside it.
    #[arg(long, env = "STELE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL; overrides --data-dir (`sqlite://path/to/file.db`).
    #[arg(long, env = "STELE_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// The database URL to open, creating the data directory when it is used.
    pub fn resolve(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the data directory {}: {e}",
                self.data_dir.display()
            )
        })?;
        Ok(format!(
            "sqlite://{}",
            self.data_dir.join("stele.db").display()
        ))
    }
}

#[derive(Debug, Clone, Args)]
pub struct CopyArgs {
    /// The source: `sqlite://path/to/stele.db`.
    #[arg(long)]
    pub from: String,
    /// The destination, an empty database: `postgres://user@host/db`.
    #[arg(long)]
    pub to: String,
    /// The signing key whose checkpoints the copy must verify with (default: the
    /// `signing.key` next to the source database).
    #[arg(long)]
    pub signing_key: Option<PathBuf>,
    /// Public keys (hex) of earlier signing keys, after a rotation.
    #[arg(long)]
    pub previous_public_key: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "STELE_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// The built frontend (Trunk's output).
    #[arg(long, env = "STELE_DIST", default_value = "./dist")]
    pub dist: PathBuf,
    /// Demo mode: seed demo tenants, accounts and history on first start.
    #[arg(long, env = "STELE_DEMO")]
    pub demo: bool,
    /// The URL users reach Stele at (for set-password links); `https://…` also marks
    /// cookies Secure. Defaults to `http://<listen>`.
    #[arg(long, env = "STELE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The Ed25519 checkpoint signing key (created on first start, mode 0600).
    /// Defaults to `signing.key` in the data directory; in production keep it
    /// elsewhere (README "Keeping the signing key apart"), so that whoever holds the
    /// data directory cannot re-sign a rewritten log.
    #[arg(long, env = "STELE_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
    /// Public keys (hex) of earlier signing keys, after a rotation: checkpoints they
    /// signed keep verifying. Repeat the flag, or separate with commas.
    #[arg(
        long = "previous-public-key",
        env = "STELE_PREVIOUS_PUBLIC_KEYS",
        value_delimiter = ','
    )]
    pub previous_public_keys: Vec<String>,
    /// Seconds between checkpoint rounds (each tenant whose log grew is signed);
    /// 0 turns periodic signing off.
    #[arg(long, env = "STELE_CHECKPOINT_EVERY", default_value_t = 600)]
    pub checkpoint_every: u64,
    /// The daily retention purge runs at this time of day, UTC (HH:MM).
    #[arg(long, env = "STELE_PURGE_AT", default_value = "03:30", value_parser = parse_time_of_day)]
    pub purge_at: chrono::NaiveTime,
}

fn parse_time_of_day(s: &str) -> Result<chrono::NaiveTime, String> {
    chrono::NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| format!("`{s}` is not a time of day like 03:30"))
}

#[derive(Debug, Clone, Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Required: purge now.
    #[arg(long, required = true)]
    pub now: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The tenant to create and fill (`northwind` seeds the full demo: both demo
    /// tenants, their accounts and the super admin).
    #[arg(long, default_value = crate::demo::DEMO_SLUG)]
    pub tenant: String,
    /// How many entries to generate.
    #[arg(long, default_value_t = 400)]
    pub events: u32,
    /// Seed of the generator: the same seed gives the same history.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// How many days of history, ending now.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The NDJSON export (docs/INTEGRITY.md "Exports"). Exports carry their own
    /// checkpoint and proofs; older exports (plain entry lines from seq 1) need
    /// --checkpoint.
    pub file: PathBuf,
    /// A checkpoint obtained apart from the export: a checkpoint JSON, the public
    /// verification endpoint's JSON, or a C2SP signed note. It must agree with the
    /// export's own checkpoint of the same size.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// The server's public key (hex), or a file holding it; checks the signatures.
    /// Repeat for keys from before a rotation.
    #[arg(long)]
    pub public_key: Vec<String>,
}
