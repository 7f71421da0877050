//! The server halves of the server functions. Each reads load → authorize → perform →
//! respond; authorization always goes through [`crate::auth::require`].

pub mod admin;
pub mod catalog;
pub mod feeds;
pub mod group;
pub mod integrity;
pub mod log;
pub mod retention;
pub mod secrets;
pub mod session;
pub mod throttle;

use crate::api::AppError;
use crate::store::{Store, StoreError};
use leptos::prelude::use_context;
use std::sync::Arc;
use uuid::Uuid;

/// What every server function can reach, provided per request by the server.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The tenant that holds platform-level entries (super admins' logins, failed
    /// logins for unknown emails).
    pub platform_tenant: Uuid,
    /// Mark cookies `Secure` (set when Stele is served over https).
    pub secure_cookies: bool,
    /// Where set-password links point to, e.g. `http://127.0.0.1:3000`.
    pub public_url: String,
    /// The Ed25519 key that signs checkpoints.
    pub signer: Arc<ed25519_dalek::SigningKey>,
    /// Public keys that signed earlier checkpoints (key rotation): verification
    /// accepts a checkpoint signed by the current key or by one of these.
    pub previous_keys: Arc<Vec<ed25519_dalek::VerifyingKey>>,
}

impl AppState {
    /// Now, by the store's clock (tests move it).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.store.clock().now()
    }

    /// The current signing key's public half, then the previous ones.
    pub fn trusted_keys(&self) -> Vec<ed25519_dalek::VerifyingKey> {
        let mut keys = vec![self.signer.verifying_key()];
        keys.extend(self.previous_keys.iter().copied());
        keys
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => AppError::NotFound(format!("{what} not found")),
            StoreError::Conflict(m) | StoreError::Invalid(m) => AppError::BadRequest(m),
            StoreError::Internal(source) => {
                tracing::error!(error = %source, "store error");
                AppError::Internal
            }
        }
    }
}

/// What one round of a background job did, tenant by tenant.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoundReport {
    /// Tenants the job did something for.
    pub done: Vec<Uuid>,
    /// Tenants it failed for, with the error the caller may see.
    pub failed: Vec<(Uuid, String)>,
}

/// Runs one round of a background job over every tenant, each on its own: a
/// tenant's failure is logged and reported, and the others are still served.
/// `job` answers whether it did something for the tenant.
pub async fn each_tenant<F>(
    state: &AppState,
    what: &str,
    job: impl Fn(crate::entry::Tenant) -> F,
) -> Result<RoundReport, AppError>
where
    F: std::future::Future<Output = Result<bool, AppError>>,
{
    let mut report = RoundReport::default();
    for tenant in state.store.tenants().await? {
        let (id, slug) = (tenant.id, tenant.slug.clone());
        match job(tenant).await {
            Ok(true) => report.done.push(id),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(tenant = %slug, error = %e, "{what} failed for this tenant");
                report.failed.push((id, e.to_string()));
            }
        }
    }
    Ok(report)
}

pub(crate) fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the server function context");
        AppError::Internal
    })
}

/// Claims the current round of a periodic job (rounds are `period` long, counted
/// from the epoch by the store's clock): true for exactly one server per round on
/// the database, so N servers run each checkpoint and purge round once.
pub async fn claim_round(
    state: &AppState,
    job: &str,
    period: std::time::Duration,
) -> Result<bool, StoreError> {
    let period = i64::try_from(period.as_secs()).unwrap_or(i64::MAX).max(1);
    let round = state.now().timestamp().div_euclid(period);
    state.store.claim_round(job, round).await
}
