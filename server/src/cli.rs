//! Bootstrap subcommands: tenants, users and API keys from the command line, so a
//! production start needs no default password. Entries they write are by System.

use app::auth::Role;
use app::catalog::EventType;
use app::entry::{Actor, NewEntry, Tenant};
use app::ssr::secrets::{hash_password, random_token, token_hash, MIN_PASSWORD_LEN};
use app::store::{Mutation, Store, UserRecord};
use chrono::{Duration, Utc};
use serde_json::json;
use uuid::Uuid;

/// The tenant that holds platform-level entries (super admins, unknown logins).
pub const PLATFORM_SLUG: &str = "platform";

pub async fn platform_tenant(store: &dyn Store) -> anyhow::Result<Tenant> {
    if let Some(t) = store.tenant_by_slug(PLATFORM_SLUG).await? {
        return Ok(t);
    }
    Ok(store.create_tenant(PLATFORM_SLUG, "Stele platform").await?)
}

pub fn check_slug(slug: &str) -> anyhow::Result<()> {
    let ok = (2..=40).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    anyhow::ensure!(
        ok,
        "a tenant slug has 2 to 40 characters: lowercase letters, digits and '-'"
    );
    anyhow::ensure!(slug != PLATFORM_SLUG, "the slug `platform` is reserved");
    Ok(())
}

pub async fn create_tenant(store: &dyn Store, slug: &str, name: &str) -> anyhow::Result<Tenant> {
    check_slug(slug)?;
    anyhow::ensure!(!name.trim().is_empty(), "a tenant needs a name");
    let tenant = store.create_tenant(slug, name.trim()).await?;
    store
        .append(
            tenant.id,
            vec![NewEntry::new(
                EventType::TenantSettingsChanged,
                Actor::system(),
                format!("Created tenant {}", tenant.name),
            )
            .change("name", None, Some(json!(tenant.name)))
            .change("slug", None, Some(json!(tenant.slug)))
            .meta("via", json!("cli"))],
        )
        .await?;
    Ok(tenant)
}

/// How the new user gets a password.
pub enum PasswordSource {
    /// Set now (read from stdin by the caller, or the demo password).
    Given(String),
    /// A one-time set-password link, returned to print.
    Link { public_url: String },
}

pub struct NewUser<'a> {
    pub tenant: Option<&'a Tenant>,
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub role: Option<Role>,
    pub super_admin: bool,
}

/// Creates a user and audits it; returns the user and, for `Link`, the link.
pub async fn create_user(
    store: &dyn Store,
    platform: &Tenant,
    new: NewUser<'_>,
    password: PasswordSource,
) -> anyhow::Result<(UserRecord, Option<String>)> {
    let email = new.email.trim();
    anyhow::ensure!(
        email.contains('@') && email.len() <= 254,
        "`{email}` is not an email address"
    );
    anyhow::ensure!(
        new.tenant.is_some() == new.role.is_some(),
        "a tenant user needs --role, and a super admin without a tenant has none"
    );
    let (password_hash, link) = match password {
        PasswordSource::Given(p) => {
            anyhow::ensure!(
                p.chars().count() >= MIN_PASSWORD_LEN,
                "the password must have at least {MIN_PASSWORD_LEN} characters"
            );
            (
                Some(hash_password(&p).map_err(|e| anyhow::anyhow!("{e}"))?),
                None,
            )
        }
        PasswordSource::Link { public_url } => {
            let token = random_token();
            (
                None,
                Some((
                    token.clone(),
                    format!("{public_url}/set-password?token={token}"),
                )),
            )
        }
    };
    let user = UserRecord {
        id: Uuid::now_v7(),
        tenant_id: new.tenant.map(|t| t.id),
        email: email.to_owned(),
        name: new
            .name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        role: new.role,
        super_admin: new.super_admin,
        password_hash,
        removed: false,
    };
    let label = Actor::user(user.id.to_string(), user.name.as_deref(), Some(&user.email)).label;
    let what = match (new.role, new.super_admin) {
        (Some(r), false) => r.to_string(),
        (Some(r), true) => format!("{r} and super admin"),
        (None, _) => "super admin".to_owned(),
    };
    let entry = NewEntry::new(
        EventType::UserInvited,
        Actor::system(),
        format!("Created {label} as {what}"),
    )
    .target("user", user.id.to_string(), Some(&label))
    .change("email", None, Some(json!(user.email)))
    .change("role", None, Some(json!(what)))
    .meta("via", json!("cli"));
    let mutation = Mutation::CreateUser {
        user: user.clone(),
        set_password: link
            .as_ref()
            .map(|(token, _)| (token_hash(token), Utc::now() + Duration::hours(72))),
    };
    store
        .commit(new.tenant.unwrap_or(platform).id, mutation, vec![entry])
        .await?;
    Ok((user, link.map(|(_, l)| l)))
}
