//! Secrets: random 256-bit tokens stored only as SHA-256 hashes, and argon2id
//! password hashes. Nothing here is ever logged or sent to the browser.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh random 256-bit token, hex encoded (session ids, set-password links).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The only form in which a token is stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A reference to a session that can be written to the log: derived from the stored
/// hash, so it can neither be turned back into the cookie nor used as one.
pub fn session_ref(id_hash: &str) -> String {
    format!("s-{}", &id_hash[..16.min(id_hash.len())])
}

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_LEN: usize = 12;

pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Checks a password against a stored hash. With no stored hash it still does the
/// work of one verification, so timing does not tell whether an account exists.
/// Runs password hashing on the blocking pool, at most as many at once as there are
/// cores, so a burst of logins never stalls the async workers (`/healthz` and every
/// other request keep answering).
pub async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, crate::api::AppError> {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let permits = PERMITS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    let _permit = permits
        .acquire()
        .await
        .map_err(|_| crate::api::AppError::Internal)?;
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        tracing::error!(error = %e, "password hashing task failed");
        crate::api::AppError::Internal
    })
}

/// [`verify_password`] on the blocking pool.
pub async fn verify_password_off_thread(
    password: String,
    stored: Option<String>,
) -> Result<bool, crate::api::AppError> {
    off_thread(move || verify_password(&password, stored.as_deref())).await
}

pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default());
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (dummy.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
        && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify_password("correct horse battery", Some(&h)));
        assert!(!verify_password("wrong horse battery", Some(&h)));
        assert!(!verify_password("correct horse battery", None));
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token());
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
        let reference = session_ref(&token_hash(&a));
        assert_eq!(reference.len(), 18);
        assert!(
            !a.contains(&reference[2..]),
            "a session ref must not reveal the id"
        );
    }
}
