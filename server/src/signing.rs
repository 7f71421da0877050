//! The server's Ed25519 signing key: created on first start in the data directory
//! (file mode 0600), read on every later start. The file holds the 32-byte seed as hex.

use anyhow::Context as _;
use ed25519_dalek::SigningKey;
use std::path::Path;

pub fn load_or_create(path: &Path) -> anyhow::Result<SigningKey> {
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the signing key {}", path.display()))?;
        let seed: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("{} does not hold a 32-byte hex seed", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the signing key is readable by others; chmod 600 it");
            }
        }
        return Ok(SigningKey::from_bytes(&seed));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let seed = app::ssr::secrets::random_token();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create the signing key {}", path.display()))?;
    std::io::Write::write_all(&mut file, seed.as_bytes())?;
    let key = SigningKey::from_bytes(
        &hex::decode(&seed)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("seed length"))?,
    );
    tracing::info!(path = %path.display(), key_id = %app::checkpoint::key_id(&key.verifying_key()), "created the checkpoint signing key");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/signing.key");
        let first = load_or_create(&path).unwrap();
        let again = load_or_create(&path).unwrap();
        assert_eq!(first.to_bytes(), again.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::write(&path, "not hex").unwrap();
        assert!(load_or_create(&path).is_err());
    }
}
