//! `stele`: wires configuration, store and router, and runs the CLI subcommands.

use app::auth::Role;
use clap::Parser;
use server::cli::{self, NewUser, PasswordSource};
use server::config::{
    ApiKeyCommand, Cli, Command, DemoArgs, PurgeArgs, ServeArgs, StoreArgs, TenantCommand,
    UserCommand, VerifyArgs,
};
use server::demo::{self, DemoPlan};
use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("STELE_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command() {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(args) => migrate(args).await,
        Command::Demo(args) => generate_demo(args).await,
        Command::Verify(args) => verify(args),
        Command::Purge(args) => purge(args).await,
        Command::Copy(args) => copy(args).await,
        Command::Tenant(cmd) => tenant(cmd).await,
        Command::User(cmd) => user(cmd).await,
        Command::ApiKey(cmd) => api_key(cmd).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stele: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn purge(args: PurgeArgs) -> anyhow::Result<()> {
    let store = server::store::open(&args.store.resolve()?).await?;
    let platform = cli::platform_tenant(store.as_ref()).await?;
    // Purging signs nothing: a throwaway signer will do.
    let throwaway = ed25519_dalek::SigningKey::from_bytes(
        &hex::decode(app::ssr::secrets::random_token())?
            .try_into()
            .map_err(|_| anyhow::anyhow!("seed length"))?,
    );
    let state = app_state(store, platform.id, String::new(), throwaway);
    let report = app::ssr::retention::purge_due(&state)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("purged old content of {} tenant(s)", report.done.len());
    for (tenant, why) in &report.failed {
        eprintln!("stele: purging tenant {tenant} failed: {why}");
    }
    anyhow::ensure!(
        report.failed.is_empty(),
        "{} tenant(s) could not be purged",
        report.failed.len()
    );
    Ok(())
}

fn read_text(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let export = read_text(&args.file)?;
    let keys = args
        .public_key
        .iter()
        .map(|k| {
            let text = if std::path::Path::new(k).exists() {
                read_text(std::path::Path::new(k))?
            } else {
                k.clone()
            };
            Ok(app::checkpoint::parse_public_key(&text)?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let external = args
        .checkpoint
        .as_ref()
        .map(|path| {
            app::verify::parse_checkpoints(&read_text(path)?, None, &keys)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        })
        .transpose()?;
    let report = app::verify::verify_export(export.lines(), external.as_deref(), &keys)
        .map_err(|p| anyhow::anyhow!("verification failed: {p}"))?;
    println!("OK: {}", report.summary());
    Ok(())
}

async fn migrate(args: StoreArgs) -> anyhow::Result<()> {
    server::store::open(&args.resolve()?).await?;
    println!("database is up to date");
    Ok(())
}

async fn generate_demo(args: DemoArgs) -> anyhow::Result<()> {
    let store = server::store::open(&args.store.resolve()?).await?;
    let plan = DemoPlan {
        events: args.events,
        seed: args.seed,
        days: args.days,
    };
    if args.tenant == demo::DEMO_SLUG {
        anyhow::ensure!(
            demo::seed_all(store.as_ref(), &plan).await?,
            "the demo tenants exist already; choose another --tenant"
        );
        println!("created the demo tenants, accounts and history");
        return Ok(());
    }
    let tenant = cli::create_tenant(store.as_ref(), &args.tenant, &args.tenant).await?;
    let people = demo::staff(&args.tenant);
    demo::history(store.as_ref(), &tenant, &demo::NORTHWIND, people, &plan).await?;
    println!(
        "created tenant `{}` with {} entries",
        tenant.slug,
        plan.events.max(6) + 1
    );
    Ok(())
}

async fn tenant(cmd: TenantCommand) -> anyhow::Result<()> {
    let TenantCommand::Create { store, slug, name } = cmd;
    let store = server::store::open(&store.resolve()?).await?;
    let t = cli::create_tenant(store.as_ref(), &slug, &name).await?;
    println!("created tenant `{}` ({})", t.slug, t.id);
    Ok(())
}

async fn user(cmd: UserCommand) -> anyhow::Result<()> {
    let UserCommand::Create {
        store,
        tenant,
        email,
        name,
        role,
        super_admin,
        password_stdin,
        public_url,
    } = cmd;
    let store = server::store::open(&store.resolve()?).await?;
    let platform = cli::platform_tenant(store.as_ref()).await?;
    let tenant = match tenant {
        Some(slug) => Some(store.tenant_by_slug(&slug).await?.ok_or_else(|| {
            anyhow::anyhow!("no tenant `{slug}`: create it with `stele tenant create`")
        })?),
        None => None,
    };
    anyhow::ensure!(
        tenant.is_some() || super_admin,
        "give --tenant (with --role) or --super-admin"
    );
    let role = role
        .map(|r| r.parse::<Role>().map_err(|e| anyhow::anyhow!("{e}")))
        .transpose()?;
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        PasswordSource::Given(line.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        PasswordSource::Link { public_url }
    };
    let (user, link) = cli::create_user(
        store.as_ref(),
        &platform,
        NewUser {
            tenant: tenant.as_ref(),
            email: &email,
            name: name.as_deref(),
            role,
            super_admin,
        },
        password,
    )
    .await?;
    println!("created user {} ({})", user.email, user.id);
    if let Some(link) = link {
        println!("one-time set-password link (valid 72 h): {link}");
    }
    Ok(())
}

async fn api_key(cmd: ApiKeyCommand) -> anyhow::Result<()> {
    let ApiKeyCommand::Create {
        store,
        tenant,
        name,
        scopes,
    } = cmd;
    let store = server::store::open(&store.resolve()?).await?;
    let platform = cli::platform_tenant(store.as_ref()).await?;
    let t = store
        .tenant_by_slug(&tenant)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no tenant `{tenant}`"))?;
    let scopes: Vec<String> = scopes
        .iter()
        .map(|s| match s.as_str() {
            "write" => "events:write".to_owned(),
            "read" => "events:read".to_owned(),
            "catalog" => "catalog:write".to_owned(),
            other => other.to_owned(),
        })
        .collect();
    // Issuing a key signs nothing: a throwaway signer will do.
    let throwaway = ed25519_dalek::SigningKey::from_bytes(
        &hex::decode(app::ssr::secrets::random_token())?
            .try_into()
            .map_err(|_| anyhow::anyhow!("seed length"))?,
    );
    let state = app_state(
        store,
        platform.id,
        "http://127.0.0.1:3000".to_owned(),
        throwaway,
    );
    let (key, secret) = app::ssr::admin::issue_api_key(&state, t.id, &name, &scopes, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "created API key \"{}\" ({}) with scopes {}",
        key.name,
        key.id,
        key.scopes.join(", ")
    );
    println!("secret (shown once, store it now): {secret}");
    Ok(())
}

async fn copy(args: server::config::CopyArgs) -> anyhow::Result<()> {
    let Some(path) = args.from.strip_prefix("sqlite://") else {
        anyhow::bail!("--from must be a sqlite:// URL (the deployment to move)");
    };
    if !(args.to.starts_with("postgres://") || args.to.starts_with("postgresql://")) {
        anyhow::bail!("--to must be a postgres:// URL (an empty database)");
    }
    if !std::path::Path::new(path).exists() {
        anyhow::bail!("there is no database at {path}");
    }
    let key_path = args.signing_key.clone().unwrap_or_else(|| {
        std::path::Path::new(path)
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("signing.key")
    });
    let mut keys = Vec::new();
    if key_path.exists() {
        keys.push(server::signing::load_or_create(&key_path)?.verifying_key());
    } else if args.signing_key.is_some() {
        anyhow::bail!("there is no signing key at {}", key_path.display());
    } else {
        // A deployment that never signed a checkpoint needs no key; one that did
        // fails verification below, saying the checkpoints cannot be checked.
        eprintln!(
            "no signing key at {}: checkpoints can only be verified with --signing-key",
            key_path.display()
        );
    }
    for k in &args.previous_public_key {
        keys.push(
            app::checkpoint::parse_public_key(k)
                .map_err(|e| anyhow::anyhow!("--previous-public-key `{k}`: {e}"))?,
        );
    }
    let from = server::store::SqliteStore::open(&args.from).await?;
    let to = server::store::PgStore::open(&args.to).await?;
    let report = server::store::copy::sqlite_to_postgres(&from, &to, &keys)
        .await
        .map_err(|e| match e {
            app::store::StoreError::Internal(source) => anyhow::anyhow!("copy failed: {source}"),
            other => anyhow::anyhow!("copy failed: {other}"),
        })?;
    for (table, rows) in &report.rows {
        println!("{table:>18}: {rows} rows");
    }
    println!(
        "copied and verified {} tenants: {} entries, {} checkpoints; the destination is ready",
        report.tenants, report.entries_verified, report.checkpoints_verified
    );
    Ok(())
}

fn app_state(
    store: Arc<dyn app::store::Store>,
    platform_tenant: uuid::Uuid,
    public_url: String,
    signer: ed25519_dalek::SigningKey,
) -> app::ssr::AppState {
    app::ssr::AppState {
        store,
        platform_tenant,
        secure_cookies: public_url.starts_with("https://"),
        public_url,
        signer: Arc::new(signer),
        previous_keys: Arc::default(),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = server::store::open(&args.store.resolve()?).await?;
    let platform = cli::platform_tenant(store.as_ref()).await?;
    if args.demo && demo::seed_all(store.as_ref(), &DemoPlan::default()).await? {
        tracing::info!("seeded the demo tenants, accounts and history");
    }
    if !args.dist.join("index.html").exists() {
        tracing::warn!(dist = %args.dist.display(), "no index.html in the dist directory: build the frontend with trunk");
    }
    server::assets::precompress(&args.dist);
    let fns: Vec<_> = server_fn::axum::server_fn_paths().map(|(p, _)| p).collect();
    tracing::info!(server_functions = ?fns, "registered server functions");
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let public_url = args.public_url.clone().unwrap_or_else(|| url.clone());
    let key_path = args
        .signing_key
        .clone()
        .unwrap_or_else(|| args.store.data_dir.join("signing.key"));
    if key_path.starts_with(&args.store.data_dir) && !args.demo {
        tracing::warn!(key = %key_path.display(),
            "the signing key is inside the data directory: whoever copies the directory can re-sign a rewritten log; keep it apart with --signing-key (README)");
    }
    let signer = server::signing::load_or_create(&key_path)?;
    let mut state = app_state(
        store,
        platform.id,
        public_url.trim_end_matches('/').to_owned(),
        signer,
    );
    state.previous_keys = Arc::new(
        args.previous_public_keys
            .iter()
            .filter(|k| !k.trim().is_empty())
            .map(|k| {
                app::checkpoint::parse_public_key(k)
                    .map_err(|e| anyhow::anyhow!("--previous-public-key `{k}`: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
    );
    if args.checkpoint_every > 0 {
        let every = std::time::Duration::from_secs(args.checkpoint_every);
        let job = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                // One server per round signs, whichever claims it first.
                match app::ssr::claim_round(&job, "checkpoint", every).await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, "checkpoint round: could not claim it");
                        continue;
                    }
                }
                match app::ssr::integrity::sign_changed(&job).await {
                    Ok(r) if r.done.is_empty() && r.failed.is_empty() => {}
                    Ok(r) => tracing::info!(
                        signed = r.done.len(),
                        failed = r.failed.len(),
                        "checkpoint round done"
                    ),
                    Err(e) => tracing::error!(error = %e, "checkpoint round failed"),
                }
            }
        });
    }
    {
        let job = state.clone();
        let at = args.purge_at;
        tokio::spawn(async move {
            loop {
                let now = chrono::Utc::now();
                let today = now.date_naive().and_time(at).and_utc();
                let next = if today > now {
                    today
                } else {
                    today + chrono::Duration::days(1)
                };
                let wait = (next - now).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                match app::ssr::claim_round(&job, "purge", std::time::Duration::from_secs(86_400))
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, "daily purge: could not claim it");
                        continue;
                    }
                }
                match app::ssr::retention::purge_due(&job).await {
                    Ok(r) => tracing::info!(
                        purged = r.done.len(),
                        failed = r.failed.len(),
                        "daily retention purge done"
                    ),
                    Err(e) => tracing::error!(error = %e, "daily retention purge failed"),
                }
            }
        });
    }
    let router = server::http::router(state, &args.dist);
    tracing::info!(%url, "Stele is listening");
    println!("Stele is running at {url}");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
