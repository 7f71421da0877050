//! Signed checkpoints: a tenant's tree head (size, Merkle root, time) signed with the
//! server's Ed25519 key, like Certificate Transparency's signed tree heads. The exact
//! bytes signed are [`signed_bytes`] (docs/INTEGRITY.md). Verification needs only the
//! public key, so it runs offline (`stele verify`) and in the browser.

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub tenant_id: Uuid,
    pub tree_size: u64,
    /// Hex Merkle root over the first `tree_size` entry digests (RFC 9162).
    pub root_hash: String,
    pub signed_at: DateTime<Utc>,
    /// Hex of the first 8 bytes of SHA-256(public key).
    pub key_id: String,
    /// Hex Ed25519 signature of [`signed_bytes`].
    pub signature: String,
}

/// The exact bytes a checkpoint's signature covers (UTF-8, `\n` after every line).
pub fn signed_bytes(tenant_id: Uuid, tree_size: u64, root_hex: &str, signed_at_ms: i64) -> Vec<u8> {
    format!(
        "stele-checkpoint/v1\ntenant {tenant_id}\nsize {tree_size}\nroot {root_hex}\ntime {signed_at_ms}\n"
    )
    .into_bytes()
}

pub fn key_id(public: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(public.as_bytes())[..8])
}

/// Why a checkpoint does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the public key is not 32 hex-encoded bytes of an Ed25519 key")]
    BadPublicKey,
    #[error("the checkpoint was signed by key {0}, not by this public key")]
    OtherKey(String),
    #[error("the checkpoint's signature is malformed")]
    BadSignature,
    #[error("the checkpoint's signature does not verify: it was forged or altered")]
    Forged,
}

pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, CheckpointError> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(CheckpointError::BadPublicKey)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| CheckpointError::BadPublicKey)
}

impl Checkpoint {
    pub fn sign(
        key: &SigningKey,
        tenant_id: Uuid,
        tree_size: u64,
        root: &[u8; 32],
        signed_at: DateTime<Utc>,
    ) -> Self {
        let signed_at = crate::canonical::truncate_to_millis(signed_at);
        let root_hash = hex::encode(root);
        let sig = key.sign(&signed_bytes(
            tenant_id,
            tree_size,
            &root_hash,
            signed_at.timestamp_millis(),
        ));
        Checkpoint {
            tenant_id,
            tree_size,
            root_hash,
            signed_at,
            key_id: key_id(&key.verifying_key()),
            signature: hex::encode(sig.to_bytes()),
        }
    }

    pub fn verify(&self, public: &VerifyingKey) -> Result<(), CheckpointError> {
        if self.key_id != key_id(public) {
            return Err(CheckpointError::OtherKey(self.key_id.clone()));
        }
        let sig: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(CheckpointError::BadSignature)?;
        let bytes = signed_bytes(
            self.tenant_id,
            self.tree_size,
            &self.root_hash,
            self.signed_at.timestamp_millis(),
        );
        public
            .verify(&bytes, &Signature::from_bytes(&sig))
            .map_err(|_| CheckpointError::Forged)
    }

    /// The root as bytes, if it is well-formed hex.
    pub fn root(&self) -> Option<[u8; 32]> {
        hex::decode(&self.root_hash).ok()?.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_verifies_and_any_change_is_caught() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let t = Uuid::from_u128(42);
        let at = DateTime::from_timestamp_millis(1_795_000_000_000).unwrap();
        let cp = Checkpoint::sign(&key, t, 10, &[3u8; 32], at);
        // A fixed key, tenant, size, root and time give fixed bytes (docs/INTEGRITY.md).
        assert_eq!(
            String::from_utf8(signed_bytes(t, 10, &cp.root_hash, 1_795_000_000_000)).unwrap(),
            "stele-checkpoint/v1\ntenant 00000000-0000-0000-0000-00000000002a\nsize 10\nroot 0303030303030303030303030303030303030303030303030303030303030303\ntime 1795000000000\n"
        );
        let public = key.verifying_key();
        assert_eq!(cp.verify(&public), Ok(()));
        let mut bigger = cp.clone();
        bigger.tree_size = 11;
        assert_eq!(bigger.verify(&public), Err(CheckpointError::Forged));
        let mut other_root = cp.clone();
        other_root.root_hash = hex::encode([4u8; 32]);
        assert_eq!(other_root.verify(&public), Err(CheckpointError::Forged));
        let stranger = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        assert!(matches!(
            cp.verify(&stranger),
            Err(CheckpointError::OtherKey(_))
        ));
        assert_eq!(
            parse_public_key(&hex::encode(public.as_bytes())),
            Ok(public)
        );
        assert_eq!(parse_public_key("zz"), Err(CheckpointError::BadPublicKey));
    }

    /// The vector printed in docs/INTEGRITY.md.
    #[test]
    fn the_documented_test_vector() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public = key.verifying_key();
        assert_eq!(
            hex::encode(public.as_bytes()),
            "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
        );
        assert_eq!(key_id(&public), "fe812c12f3ab4ce6");
        let root: [u8; 32] =
            hex::decode("47af9e133e8e200ca8f29735d9594d9dbef3d4ffc7cb044715bfffea7d93ad4f")
                .unwrap()
                .try_into()
                .unwrap();
        let tenant = Uuid::parse_str("01937f3e-0000-7000-8000-00000000000a").unwrap();
        let at = DateTime::from_timestamp_millis(1_795_000_000_000).unwrap();
        let cp = Checkpoint::sign(&key, tenant, 3, &root, at);
        assert_eq!(
            cp.signature,
            "b4f89e07940c11b0efd3ff95341231dcf3118b738cf14c114a21f2822d8cb1163dcd117626b901c4dcd9ed0e40c7b87643a717f12659a6b69ea706b0c32d530a"
        );
    }
}
