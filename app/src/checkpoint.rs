//! Signed checkpoints: a tenant's tree head (size, Merkle root, time) signed with the
//! server's Ed25519 key, like Certificate Transparency's signed tree heads. The exact
//! bytes signed are [`signed_bytes`] (docs/INTEGRITY.md). Verification needs only the
//! public key, so it runs offline (`stele verify`) and in the browser.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
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
    /// The same tree head as a C2SP `tlog-checkpoint` in a C2SP `signed-note`
    /// ([`note_text`], signed by the same key); `None` for checkpoints signed before
    /// Stele published notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The origin line of a tenant's C2SP checkpoints, which is also the name of the
/// note key that signs them: `stele/<tenant id>`.
pub fn note_origin(tenant_id: Uuid) -> String {
    format!("stele/{tenant_id}")
}

/// The C2SP tlog-checkpoint body: origin, size and base64 root, one per line.
pub fn note_text(tenant_id: Uuid, tree_size: u64, root: &[u8; 32]) -> String {
    format!(
        "{}\n{tree_size}\n{}\n",
        note_origin(tenant_id),
        B64.encode(root)
    )
}

/// The C2SP signed-note key id of an Ed25519 key under `name`:
/// `SHA-256(name || 0x0A || 0x01 || public key)[:4]`.
pub fn note_key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, 0x01]);
    h.update(public.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The C2SP verifier key: `<name>+<hex key id>+<base64(0x01 || public key)>`.
pub fn note_verifier_key(name: &str, public: &VerifyingKey) -> String {
    let mut key = vec![0x01];
    key.extend_from_slice(public.as_bytes());
    format!(
        "{name}+{}+{}",
        hex::encode(note_key_id(name, public)),
        B64.encode(key)
    )
}

fn sign_note(key: &SigningKey, tenant_id: Uuid, tree_size: u64, root: &[u8; 32]) -> String {
    let text = note_text(tenant_id, tree_size, root);
    let name = note_origin(tenant_id);
    let mut sig = note_key_id(&name, &key.verifying_key()).to_vec();
    sig.extend_from_slice(&key.sign(text.as_bytes()).to_bytes());
    format!("{text}\n\u{2014} {name} {}\n", B64.encode(sig))
}

/// A tree head read from a C2SP signed note whose signature by `public` verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteHead {
    pub origin: String,
    pub tree_size: u64,
    pub root: [u8; 32],
}

/// Opens a C2SP signed note carrying a tlog-checkpoint: the text before the last
/// blank line, then signature lines `— <name> <base64(key id || signature)>`. The
/// signature of `public` under the origin's name must be present and valid.
pub fn open_note(note: &str, public: &VerifyingKey) -> Result<NoteHead, CheckpointError> {
    let malformed = |why: &str| CheckpointError::Malformed(why.to_owned());
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| malformed("no blank line before the signatures"))?;
    let text = &note[..=split];
    let mut lines = text.lines();
    let origin = lines.next().unwrap_or_default().to_owned();
    let tree_size: u64 = lines
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| malformed("the second line is not a tree size"))?;
    let root: [u8; 32] = lines
        .next()
        .and_then(|l| B64.decode(l).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed("the third line is not a base64 SHA-256 root"))?;
    let want_id = note_key_id(&origin, public);
    let mut found = false;
    for line in note[split + 2..].lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return Err(malformed("a signature line does not start with an em dash"));
        };
        let (name, sig) = rest
            .rsplit_once(' ')
            .ok_or_else(|| malformed("a signature line has no signature"))?;
        let sig = B64
            .decode(sig)
            .map_err(|_| malformed("a signature is not base64"))?;
        if name != origin || sig.len() != 68 || sig[..4] != want_id {
            continue; // another signer's line: ignored, as the spec says
        }
        let bytes: [u8; 64] = sig[4..]
            .try_into()
            .map_err(|_| CheckpointError::BadSignature)?;
        public
            .verify(text.as_bytes(), &Signature::from_bytes(&bytes))
            .map_err(|_| CheckpointError::Forged)?;
        found = true;
    }
    if !found {
        return Err(CheckpointError::OtherKey(hex::encode(want_id)));
    }
    Ok(NoteHead {
        origin,
        tree_size,
        root,
    })
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
    #[error("not a C2SP signed checkpoint: {0}")]
    Malformed(String),
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
            note: Some(sign_note(key, tenant_id, tree_size, root)),
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

    /// Checks the signature with whichever of `keys` signed it (key rotation: old
    /// checkpoints name the key id of the key of their time).
    pub fn verify_with(&self, keys: &[VerifyingKey]) -> Result<(), CheckpointError> {
        match keys.iter().find(|k| key_id(k) == self.key_id) {
            Some(k) => self.verify(k),
            None => Err(CheckpointError::OtherKey(self.key_id.clone())),
        }
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

    #[test]
    fn the_c2sp_note_opens_with_the_key_and_nothing_else() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let t = Uuid::from_u128(42);
        let at = DateTime::from_timestamp_millis(1_795_000_000_000).unwrap();
        let cp = Checkpoint::sign(&key, t, 10, &[3u8; 32], at);
        let note = cp.note.clone().unwrap();
        let head = open_note(&note, &key.verifying_key()).unwrap();
        assert_eq!(head.tree_size, 10);
        assert_eq!(head.root, [3u8; 32]);
        assert_eq!(head.origin, format!("stele/{t}"));
        let forged = note.replace("\n10\n", "\n11\n");
        assert_eq!(
            open_note(&forged, &key.verifying_key()),
            Err(CheckpointError::Forged)
        );
        let stranger = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        assert!(matches!(
            open_note(&note, &stranger),
            Err(CheckpointError::OtherKey(_))
        ));
        assert!(matches!(
            open_note("just text", &key.verifying_key()),
            Err(CheckpointError::Malformed(_))
        ));
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
