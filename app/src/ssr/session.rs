//! Sessions: who is calling, login, logout. The session id lives only in an HttpOnly
//! cookie and, hashed, in the database; the log gets a derived reference.

use super::secrets::{
    hash_password, random_token, session_ref, token_hash, verify_password_off_thread,
};
use super::{state, AppState};
use crate::api::{AppError, Me};
use crate::auth::Caller;
use crate::catalog::EventType;
use crate::entry::{Actor, ActorKind, Context, NewEntry};
use crate::store::{Mutation, UserRecord};
use axum::http::header::{COOKIE, SET_COOKIE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use chrono::Duration;
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;
use serde_json::json;
use std::net::SocketAddr;
use uuid::Uuid;

pub const COOKIE_NAME: &str = "stele_session";
pub const SESSION_HOURS: i64 = 12;

/// What the request says about where it came from.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub session_cookie: Option<String>,
}

pub fn request_info() -> RequestInfo {
    use_context::<Parts>()
        .map(|parts| request_info_of(&parts))
        .unwrap_or_default()
}

/// What a request's head says about the caller (for REST handlers outside Leptos).
pub fn request_info_of(parts: &Parts) -> RequestInfo {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect::<String>())
    };
    let session_cookie = parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    RequestInfo {
        ip: parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        user_agent: header(USER_AGENT.as_str()),
        request_id: header("x-request-id"),
        session_cookie,
    }
}

/// A logged-in caller and the session they came with.
#[derive(Debug, Clone)]
pub struct Session {
    pub caller: Caller,
    pub id_hash: String,
    pub info: RequestInfo,
}

impl Session {
    /// The actor and context of an entry written on this caller's behalf.
    pub fn actor(&self) -> Actor {
        Actor::user(
            self.caller.user_id.to_string(),
            self.caller.name.as_deref(),
            Some(&self.caller.email),
        )
    }

    pub fn context(&self) -> Context {
        context(&self.info, Some(&self.id_hash))
    }

    /// The tenant whose log records this caller's own actions.
    pub fn home_tenant(&self, state: &AppState) -> Uuid {
        self.caller.tenant_id.unwrap_or(state.platform_tenant)
    }
}

/// Whether a login's email field holds something shaped like an address (one `@`,
/// a dot in the domain, no spaces, at most 254 characters).
pub fn plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

pub fn context(info: &RequestInfo, session_hash: Option<&str>) -> Context {
    Context {
        ip: info.ip.clone(),
        user_agent: info.user_agent.clone(),
        session_id: session_hash.map(session_ref),
        request_id: info.request_id.clone(),
    }
}

async fn caller_for(state: &AppState, user: UserRecord) -> Result<Caller, AppError> {
    let tenant = match user.tenant_id {
        Some(t) => state.store.tenant_by_id(t).await?,
        None => None,
    };
    let grants = state.store.grants_of(user.id).await?;
    Ok(Caller {
        user_id: user.id,
        email: user.email,
        name: user.name,
        tenant_id: user.tenant_id,
        tenant_slug: tenant.map(|t| t.slug),
        role: user.role,
        super_admin: user.super_admin,
        grants,
        key_scopes: None,
    })
}

/// The caller of this request, if their session is valid (known, not revoked, not
/// expired, user not removed).
pub async fn current(state: &AppState) -> Result<Option<Session>, AppError> {
    current_with(state, request_info()).await
}

/// The session a request's head carries, if it is valid.
pub async fn current_with(
    state: &AppState,
    info: RequestInfo,
) -> Result<Option<Session>, AppError> {
    let Some(cookie) = info.session_cookie.clone() else {
        return Ok(None);
    };
    let id_hash = token_hash(&cookie);
    let Some(session) = state.store.session(&id_hash).await? else {
        return Ok(None);
    };
    if session.revoked || session.expires_at <= state.now() {
        return Ok(None);
    }
    let Some(user) = state.store.user_by_id(session.user_id).await? else {
        return Ok(None);
    };
    if user.removed {
        return Ok(None);
    }
    Ok(Some(Session {
        caller: caller_for(state, user).await?,
        id_hash,
        info,
    }))
}

/// The caller, or 401.
pub async fn require_session(state: &AppState) -> Result<Session, AppError> {
    current(state)
        .await?
        .ok_or_else(|| AppError::Unauthorized("log in to continue".to_owned()))
}

fn set_cookie(state: &AppState, value: &str, max_age_secs: i64) {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    );
    if let (Some(res), Ok(v)) = (
        use_context::<ResponseOptions>(),
        HeaderValue::from_str(&cookie),
    ) {
        res.insert_header(SET_COOKIE, v);
    }
}

pub async fn me() -> Result<Option<Me>, AppError> {
    let state = state()?;
    Ok(current(&state).await?.map(|s| Me::from(s.caller)))
}

pub async fn login(email: String, password: String) -> Result<Me, AppError> {
    let state = state()?;
    let info = request_info();
    let email = email.trim().to_owned();
    if email.is_empty() || password.is_empty() {
        return Err(AppError::BadRequest(
            "enter your email and password".to_owned(),
        ));
    }
    // Refused before anything is remembered or checked.
    if email.len() > 254 || password.len() > 1024 {
        return Err(AppError::BadRequest(
            "the email must be at most 254 characters and the password at most 1024".to_owned(),
        ));
    }
    // Counted before the password is checked, so parallel tries cannot outrun it.
    let attempt = super::throttle::attempt(state.store.as_ref(), &email, info.ip.as_deref())
        .await?
        .map_err(|wait| {
            AppError::TooManyRequests(format!("too many failed logins; try again in {wait} s"))
        })?;
    let user = state.store.user_by_email(&email).await?;
    let usable = user.as_ref().filter(|u| !u.removed);
    let ok =
        verify_password_off_thread(password, usable.and_then(|u| u.password_hash.clone())).await?;
    let Some(user) = usable.filter(|_| ok).cloned() else {
        // What was typed is echoed only when it looks like an email address: a
        // password typed into the email field must never reach the log.
        let shown = plausible_email(&email).then(|| email.clone());
        let label = shown
            .clone()
            .unwrap_or_else(|| "(not an email address)".to_owned());
        let (tenant, actor) = match &user {
            Some(u) => (
                u.tenant_id.unwrap_or(state.platform_tenant),
                Actor::user(u.id.to_string(), u.name.as_deref(), Some(&u.email)),
            ),
            None => (
                state.platform_tenant,
                Actor {
                    kind: ActorKind::User,
                    id: None,
                    label: label.clone(),
                },
            ),
        };
        let entry = NewEntry::new(
            EventType::AuthLoginFailed,
            actor,
            format!("Failed login for {label}"),
        )
        .meta("attempted_email", json!(shown))
        .context(context(&info, None));
        state
            .store
            .commit(tenant, Mutation::None, vec![entry])
            .await?;
        return Err(AppError::Unauthorized("wrong email or password".to_owned()));
    };
    super::throttle::succeeded(state.store.as_ref(), attempt).await?;
    let session_id = random_token();
    let id_hash = token_hash(&session_id);
    let caller = caller_for(&state, user).await?;
    let entry = NewEntry::new(
        EventType::AuthLoginSucceeded,
        Actor::user(
            caller.user_id.to_string(),
            caller.name.as_deref(),
            Some(&caller.email),
        ),
        "Signed in",
    )
    .context(context(&info, Some(&id_hash)));
    state
        .store
        .commit(
            caller.tenant_id.unwrap_or(state.platform_tenant),
            Mutation::CreateSession {
                id_hash,
                user_id: caller.user_id,
                expires_at: state.now() + Duration::hours(SESSION_HOURS),
            },
            vec![entry],
        )
        .await?;
    set_cookie(&state, &session_id, SESSION_HOURS * 3600);
    Ok(Me::from(caller))
}

pub async fn logout() -> Result<(), AppError> {
    let state = state()?;
    if let Some(session) = current(&state).await? {
        let entry = NewEntry::new(EventType::AuthLogout, session.actor(), "Signed out")
            .context(session.context());
        state
            .store
            .commit(
                session.home_tenant(&state),
                Mutation::RevokeSession {
                    id_hash: session.id_hash.clone(),
                },
                vec![entry],
            )
            .await?;
    }
    set_cookie(&state, "", 0);
    Ok(())
}

/// Sets a password through a one-time link.
pub async fn set_password(token: String, password: String) -> Result<(), AppError> {
    let state = state()?;
    let info = request_info();
    if password.chars().count() < super::secrets::MIN_PASSWORD_LEN {
        return Err(AppError::BadRequest(format!(
            "the password must have at least {} characters",
            super::secrets::MIN_PASSWORD_LEN
        )));
    }
    let hash = token_hash(token.trim());
    let invalid =
        || AppError::BadRequest("this set-password link is invalid, used or expired".to_owned());
    let user_id = state
        .store
        .password_token_user(&hash)
        .await?
        .ok_or_else(invalid)?;
    let user = state.store.user_by_id(user_id).await?.ok_or_else(invalid)?;
    let password_hash = super::secrets::off_thread(move || hash_password(&password))
        .await?
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            AppError::Internal
        })?;
    let entry = NewEntry::new(
        EventType::AuthPasswordResetCompleted,
        Actor::user(user.id.to_string(), user.name.as_deref(), Some(&user.email)),
        "Set a new password with a one-time link",
    )
    .target("user", user.id.to_string(), Some(&user.email))
    .context(context(&info, None));
    state
        .store
        .commit(
            user.tenant_id.unwrap_or(state.platform_tenant),
            Mutation::UsePasswordToken {
                token_hash: hash,
                password_hash,
            },
            vec![entry],
        )
        .await?;
    Ok(())
}
