//! Administration for owners and admins: users, roles, instance grants, API keys.
//! Every change is audited in the access category, with before and after values, in
//! the same transaction as the change.

use super::secrets::{random_token, token_hash};
use super::session::{require_session, Session};
use super::{state, AppState};
use crate::api::{ApiKeyView, AppError, CreatedApiKey, CreatedUser, SensitiveFieldList, UserView};
use crate::auth::{require, Permission, Role, Scope};
use crate::catalog::EventType;
use crate::entry::NewEntry;
use crate::store::{ApiKeyRecord, Mutation, UserRecord};
use chrono::Duration;
use serde_json::json;
use uuid::Uuid;

/// Scopes an API key may carry.
pub const API_KEY_SCOPES: [&str; 3] = ["events:write", "events:read", "catalog:write"];
/// How long a set-password link stays valid.
pub const SET_PASSWORD_HOURS: i64 = 72;

/// The caller's own tenant, after checking they may manage its access.
pub(crate) async fn managing(state: &AppState) -> Result<(Session, Uuid), AppError> {
    let session = require_session(state).await?;
    let tenant = session.caller.tenant_id.ok_or_else(|| {
        AppError::BadRequest("platform accounts manage no tenant's users".to_owned())
    })?;
    require(
        Some(&session.caller),
        Permission::ManageAccess,
        Scope::Tenant(tenant),
    )?;
    Ok((session, tenant))
}

/// The tenant whose administration the caller reads: the one named (a super admin
/// any, others only their own), else their own (as [`managing`]). Platform accounts read a tenant's settings but
/// change none of them: every change goes through [`managing`].
pub(crate) async fn reading(state: &AppState, tenant: Option<String>) -> Result<Uuid, AppError> {
    let session = require_session(state).await?;
    match tenant.filter(|t| !t.is_empty()) {
        // Only a super admin may name another tenant than their own (others: 404).
        Some(slug) => {
            let t = super::feeds::target_tenant(state, &session, Some(&slug)).await?;
            require(
                Some(&session.caller),
                Permission::ManageAccess,
                Scope::Tenant(t.id),
            )?;
            Ok(t.id)
        }
        _ => managing(state).await.map(|(_, t)| t),
    }
}

/// A user of the caller's tenant (others answer 404).
async fn load_user(state: &AppState, tenant: Uuid, id: Uuid) -> Result<UserRecord, AppError> {
    state
        .store
        .user_by_id(id)
        .await?
        .filter(|u| u.tenant_id == Some(tenant) && !u.removed)
        .ok_or_else(|| AppError::NotFound("user not found".to_owned()))
}

fn label(u: &UserRecord) -> String {
    crate::entry::Actor::user(u.id.to_string(), u.name.as_deref(), Some(&u.email)).label
}

/// Admins manage members and admins; only owners touch owners.
fn may_manage(session: &Session, target_role: Role) -> Result<(), AppError> {
    let mine = session.caller.role.unwrap_or(Role::Member);
    if target_role > mine {
        return Err(AppError::Forbidden(format!(
            "forbidden: an {mine} cannot manage an {target_role}"
        )));
    }
    Ok(())
}

async fn view(state: &AppState, u: UserRecord) -> Result<UserView, AppError> {
    let grants = state.store.grants_of(u.id).await?;
    Ok(UserView {
        id: u.id,
        email: u.email,
        name: u.name,
        role: u.role,
        removed: u.removed,
        has_password: u.password_hash.is_some(),
        grants,
    })
}

pub async fn users(tenant: Option<String>) -> Result<Vec<UserView>, AppError> {
    let state = state()?;
    let tenant = reading(&state, tenant).await?;
    let mut out = Vec::new();
    for u in state.store.users_of(tenant).await? {
        out.push(view(&state, u).await?);
    }
    Ok(out)
}

pub async fn create_user(email: String, name: String, role: Role) -> Result<CreatedUser, AppError> {
    let state = state()?;
    let (session, tenant) = managing(&state).await?;
    let email = email.trim().to_owned();
    let name = Some(name.trim().to_owned()).filter(|n| !n.is_empty());
    if email.len() > 254 || !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
        return Err(AppError::BadRequest(format!(
            "`{email}` is not an email address"
        )));
    }
    may_manage(&session, role)?;
    // Addresses are unique across Stele; refusing one must not say where it is used.
    let taken = || {
        AppError::BadRequest(
            "this address cannot be invited: it is already in use; invite the person with another address"
                .to_owned(),
        )
    };
    if let Some(existing) = state.store.user_by_email(&email).await? {
        return Err(if existing.tenant_id == Some(tenant) {
            AppError::BadRequest(format!("{email} is already a user of this tenant"))
        } else {
            taken()
        });
    }
    let user = UserRecord {
        id: Uuid::now_v7(),
        tenant_id: Some(tenant),
        email: email.clone(),
        name: name.clone(),
        role: Some(role),
        super_admin: false,
        password_hash: None,
        removed: false,
    };
    let token = random_token();
    let entry = NewEntry::new(
        EventType::UserInvited,
        session.actor(),
        format!("Invited {} as {role}", label(&user)),
    )
    .target("user", user.id.to_string(), Some(&label(&user)))
    .change("email", None, Some(json!(email)))
    .change("name", None, name.as_ref().map(|n| json!(n)))
    .change("role", None, Some(json!(role.as_str())))
    .context(session.context());
    let mutation = Mutation::CreateUser {
        user: user.clone(),
        set_password: Some((
            token_hash(&token),
            state.now() + Duration::hours(SET_PASSWORD_HOURS),
        )),
    };
    match state.store.commit(tenant, mutation, vec![entry]).await {
        Err(crate::store::StoreError::Conflict(_)) => return Err(taken()),
        other => other?,
    };
    Ok(CreatedUser {
        set_password_link: format!("{}/set-password?token={token}", state.public_url),
        user: view(&state, user).await?,
    })
}

pub async fn change_role(user_id: Uuid, role: Role) -> Result<UserView, AppError> {
    let state = state()?;
    let (session, tenant) = managing(&state).await?;
    let user = load_user(&state, tenant, user_id).await?;
    if user.id == session.caller.user_id {
        return Err(AppError::BadRequest(
            "you cannot change your own role".to_owned(),
        ));
    }
    let old = user.role.unwrap_or(Role::Member);
    may_manage(&session, old)?;
    may_manage(&session, role)?;
    if old == role {
        return Err(AppError::BadRequest(format!(
            "{} already is {role}",
            user.email
        )));
    }
    let entry = NewEntry::new(
        EventType::UserRoleChanged,
        session.actor(),
        format!("Changed the role of {} from {old} to {role}", label(&user)),
    )
    .target("user", user.id.to_string(), Some(&label(&user)))
    .change(
        "role",
        Some(json!(old.as_str())),
        Some(json!(role.as_str())),
    )
    .context(session.context());
    state
        .store
        .commit(tenant, Mutation::ChangeRole { user_id, role }, vec![entry])
        .await?;
    view(&state, load_user(&state, tenant, user_id).await?).await
}

pub async fn remove_user(user_id: Uuid) -> Result<(), AppError> {
    let state = state()?;
    let (session, tenant) = managing(&state).await?;
    let user = load_user(&state, tenant, user_id).await?;
    if user.id == session.caller.user_id {
        return Err(AppError::BadRequest(
            "you cannot remove yourself".to_owned(),
        ));
    }
    let role = user.role.unwrap_or(Role::Member);
    may_manage(&session, role)?;
    // The keys this person created stop working with them.
    let keys: Vec<_> = state
        .store
        .api_keys(tenant)
        .await?
        .into_iter()
        .filter(|k| k.created_by == Some(user.id) && !k.revoked)
        .map(|k| json!({"id": k.id, "name": k.name}))
        .collect();
    let entry = NewEntry::new(
        EventType::UserRemoved,
        session.actor(),
        match keys.len() {
            0 => format!("Removed {}", label(&user)),
            n => format!(
                "Removed {} and revoked the {n} API key(s) they created",
                label(&user)
            ),
        },
    )
    .target("user", user.id.to_string(), Some(&label(&user)))
    .change("email", Some(json!(user.email)), None)
    .change("role", Some(json!(role.as_str())), None)
    .meta("revoked_keys", json!(keys))
    .context(session.context());
    state
        .store
        .commit(tenant, Mutation::RemoveUser { user_id }, vec![entry])
        .await?;
    Ok(())
}

pub async fn set_grant(
    user_id: Uuid,
    instance_id: String,
    granted: bool,
) -> Result<UserView, AppError> {
    let state = state()?;
    let (session, tenant) = managing(&state).await?;
    let user = load_user(&state, tenant, user_id).await?;
    let instance = state
        .store
        .instances(tenant)
        .await?
        .into_iter()
        .find(|i| i.id == instance_id)
        .ok_or_else(|| AppError::NotFound("instance not found".to_owned()))?;
    let had = state.store.grants_of(user_id).await?.contains(&instance_id);
    if had == granted {
        return Err(AppError::BadRequest(format!(
            "{} {} access to {}",
            user.email,
            if granted { "already has" } else { "has no" },
            instance.name
        )));
    }
    let (event, verb, mutation) = if granted {
        (
            EventType::InstanceAccessGranted,
            "Granted",
            Mutation::Grant {
                user_id,
                instance_id: instance_id.clone(),
            },
        )
    } else {
        (
            EventType::InstanceAccessRevoked,
            "Revoked",
            Mutation::Revoke {
                user_id,
                instance_id: instance_id.clone(),
            },
        )
    };
    let entry = NewEntry::new(
        event,
        session.actor(),
        format!("{verb} {} access to {}", label(&user), instance.name),
    )
    .instance(&instance.id, &instance.name)
    .target("user", user.id.to_string(), Some(&label(&user)))
    .change("access", Some(json!(had)), Some(json!(granted)))
    .context(session.context());
    state.store.commit(tenant, mutation, vec![entry]).await?;
    view(&state, user).await
}

fn key_view(k: ApiKeyRecord) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        name: k.name,
        prefix: k.prefix,
        scopes: k.scopes,
        created_at: k.created_at,
        revoked: k.revoked,
        responsible: k.created_by,
    }
}

pub async fn api_keys(tenant: Option<String>) -> Result<Vec<ApiKeyView>, AppError> {
    let state = state()?;
    let tenant = reading(&state, tenant).await?;
    Ok(state
        .store
        .api_keys(tenant)
        .await?
        .into_iter()
        .map(key_view)
        .collect())
}

/// Issues a key for a tenant; the secret is returned here once and stored only hashed.
pub async fn issue_api_key(
    state: &AppState,
    tenant: Uuid,
    name: &str,
    scopes: &[String],
    session: Option<&Session>,
) -> Result<(ApiKeyRecord, String), AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::BadRequest(
            "an API key needs a name of 1 to 100 characters".to_owned(),
        ));
    }
    if scopes.is_empty() {
        return Err(AppError::BadRequest(
            "an API key needs at least one scope".to_owned(),
        ));
    }
    if let Some(bad) = scopes
        .iter()
        .find(|s| !API_KEY_SCOPES.contains(&s.as_str()))
    {
        return Err(AppError::BadRequest(format!(
            "unknown scope `{bad}`: expected {}",
            API_KEY_SCOPES.join(" or ")
        )));
    }
    // A key can do no more than the person who creates it: only owners (and the
    // command line) hand out `catalog:write`.
    if let Some(session) = session {
        if scopes.iter().any(|s| s == "catalog:write") {
            require(
                Some(&session.caller),
                Permission::ManageCatalog,
                Scope::Tenant(tenant),
            )
            .map_err(|_| {
                AppError::Forbidden(
                    "forbidden: only owners create keys that manage the event catalog".to_owned(),
                )
            })?;
        }
    }
    let secret = format!("stk_{}", random_token());
    let key = ApiKeyRecord {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        name: name.to_owned(),
        prefix: secret[..12].to_owned(),
        scopes: scopes.to_vec(),
        created_at: state.now(),
        revoked: false,
        created_by: session.map(|s| s.caller.user_id),
    };
    let actor = session.map_or_else(crate::entry::Actor::system, Session::actor);
    let mut entry = NewEntry::new(
        EventType::ApiKeyCreated,
        actor,
        format!("Created API key \"{name}\""),
    )
    .target("api_key", key.id.to_string(), Some(name))
    .change("name", None, Some(json!(name)))
    .change("scopes", None, Some(json!(scopes)))
    .meta("prefix", json!(key.prefix));
    if let Some(s) = session {
        entry = entry.context(s.context());
    }
    state
        .store
        .commit(
            tenant,
            Mutation::CreateApiKey {
                key: key.clone(),
                key_hash: token_hash(&secret),
                created_by: session.map(|s| s.caller.user_id),
            },
            vec![entry],
        )
        .await?;
    Ok((key, secret))
}

pub async fn create_api_key(name: String, scopes: Vec<String>) -> Result<CreatedApiKey, AppError> {
    let state = state()?;
    let (session, tenant) = managing(&state).await?;
    let (key, secret) = issue_api_key(&state, tenant, &name, &scopes, Some(&session)).await?;
    Ok(CreatedApiKey {
        key: key_view(key),
        secret,
    })
}

/// The tenant's key with this id, if it still works; 404 otherwise.
async fn active_key(state: &AppState, tenant: Uuid, id: Uuid) -> Result<ApiKeyRecord, AppError> {
    state
        .store
        .api_keys(tenant)
        .await?
        .into_iter()
        .find(|k| k.id == id && !k.revoked)
        .ok_or_else(|| AppError::NotFound("API key not found".to_owned()))
}

pub async fn revoke_api_key(id: Uuid) -> Result<(), AppError> {
    let state = state()?;
    let (session, tenant) = managing(&state).await?;
    let key = active_key(&state, tenant, id).await?;
    let entry = NewEntry::new(
        EventType::ApiKeyRevoked,
        session.actor(),
        format!("Revoked API key \"{}\"", key.name),
    )
    .target("api_key", key.id.to_string(), Some(&key.name))
    .change("revoked", Some(json!(false)), Some(json!(true)))
    .context(session.context());
    state
        .store
        .commit(tenant, Mutation::RevokeApiKey { id }, vec![entry])
        .await?;
    Ok(())
}

pub async fn transfer_api_key(id: Uuid, to_user: Uuid) -> Result<(), AppError> {
    let state = state()?;
    let (session, tenant) = managing(&state).await?;
    let key = active_key(&state, tenant, id).await?;
    let to = load_user(&state, tenant, to_user).await?;
    if to.removed {
        return Err(AppError::BadRequest(format!(
            "{} was removed: move the key to a current user",
            to.email
        )));
    }
    let from = match key.created_by {
        Some(u) => state.store.user_by_id(u).await?.map(|u| label(&u)),
        None => None,
    };
    let entry = NewEntry::new(
        EventType::TenantSettingsChanged,
        session.actor(),
        format!("Moved API key \"{}\" to {}", key.name, label(&to)),
    )
    .target("api_key", key.id.to_string(), Some(&key.name))
    .change(
        "responsible_user",
        from.map(|f| json!(f)),
        Some(json!(label(&to))),
    )
    .context(session.context());
    state
        .store
        .commit(
            tenant,
            Mutation::TransferApiKey { id, to_user },
            vec![entry],
        )
        .await?;
    Ok(())
}

/// At most this many tenant additions to the sensitive-field list.
pub const MAX_SENSITIVE_FIELDS: usize = 50;

async fn sensitive_view(state: &AppState, tenant: Uuid) -> Result<SensitiveFieldList, AppError> {
    Ok(SensitiveFieldList {
        builtin: crate::diff::DEFAULT_SENSITIVE
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        tenant: state.store.sensitive_fields(tenant).await?,
    })
}

pub async fn sensitive_fields(tenant: Option<String>) -> Result<SensitiveFieldList, AppError> {
    let state = state()?;
    let tenant = reading(&state, tenant).await?;
    sensitive_view(&state, tenant).await
}

pub async fn set_sensitive_fields(fields: Vec<String>) -> Result<SensitiveFieldList, AppError> {
    let state = state()?;
    let (session, tenant) = managing(&state).await?;
    if session.caller.role != Some(Role::Owner) {
        return Err(AppError::Forbidden(
            "forbidden: only owners change the tenant's settings".to_owned(),
        ));
    }
    let mut clean: Vec<String> = Vec::new();
    for field in &fields {
        let f = field.trim().to_lowercase();
        let valid = !f.is_empty()
            && f.len() <= 64
            && f.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(AppError::BadRequest(format!(
                "`{field}` is not a field name: use 1 to 64 letters, digits, `_` or `-`"
            )));
        }
        if !clean.contains(&f) && !crate::diff::DEFAULT_SENSITIVE.contains(&f.as_str()) {
            clean.push(f);
        }
    }
    if clean.len() > MAX_SENSITIVE_FIELDS {
        return Err(AppError::BadRequest(format!(
            "at most {MAX_SENSITIVE_FIELDS} additional sensitive fields"
        )));
    }
    let before = state.store.sensitive_fields(tenant).await?;
    if before == clean {
        return sensitive_view(&state, tenant).await;
    }
    let entry = NewEntry::new(
        EventType::TenantSettingsChanged,
        session.actor(),
        "Changed the tenant's sensitive fields",
    )
    .target("tenant", tenant.to_string(), None)
    .change("sensitive_fields", Some(json!(before)), Some(json!(clean)))
    .context(session.context());
    state
        .store
        .commit(
            tenant,
            Mutation::SetSensitiveFields {
                tenant_id: tenant,
                fields: clean,
            },
            vec![entry],
        )
        .await?;
    sensitive_view(&state, tenant).await
}
