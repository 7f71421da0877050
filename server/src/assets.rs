//! The frontend's files (Trunk's `dist/`): served precompressed and cached by name.
//!
//! - At startup every compressible file gets a brotli (`.br`, quality 11) and a gzip
//!   (`.gz`, level 9) sibling, written once next to it (again only when the file is
//!   newer than its sibling); `ServeDir` then answers with whichever encoding the
//!   browser accepts, with `Vary: Accept-Encoding`.
//! - Trunk names every asset after its content hash (`frontend-<hash>_bg.wasm`):
//!   such a name never changes its bytes, so it is cached for a year, `immutable`.
//!   `index.html` (and every client-side route answered with it) is `no-cache`: the
//!   browser revalidates it, so a new release is picked up at the next load.

use axum::http::{header, HeaderValue};
use axum::response::Response;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Extensions worth compressing (already-compressed formats are left alone).
const COMPRESSIBLE: &[&str] = &["html", "js", "wasm", "css", "svg", "json", "txt", "map"];

/// Writes the `.br` and `.gz` siblings of the compressible files under `dist`
/// that lack a fresh one. A directory Stele cannot write to is served uncompressed
/// (with a warning): compression is an optimization, never a reason not to start.
pub fn precompress(dist: &Path) {
    let mut files = Vec::new();
    collect(dist, &mut files);
    for file in files {
        if let Err(err) = precompress_file(&file) {
            tracing::warn!(file = %file.display(), %err, "could not precompress a frontend file; it is served uncompressed");
        }
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| COMPRESSIBLE.contains(&e))
        {
            out.push(path);
        }
    }
}

fn sibling(file: &Path, ext: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

fn is_fresh(file: &Path, compressed: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(file), modified(compressed)) {
        (Some(original), Some(done)) => done >= original,
        _ => false,
    }
}

fn precompress_file(file: &Path) -> std::io::Result<()> {
    let br = sibling(file, "br");
    let gz = sibling(file, "gz");
    if is_fresh(file, &br) && is_fresh(file, &gz) {
        return Ok(());
    }
    let bytes = std::fs::read(file)?;
    let mut compressed = Vec::new();
    {
        let params = brotli::enc::BrotliEncoderParams {
            quality: 11,
            lgwin: 22,
            ..Default::default()
        };
        brotli::BrotliCompress(&mut bytes.as_slice(), &mut compressed, &params)?;
    }
    write_atomically(&br, &compressed)?;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&bytes)?;
    write_atomically(&gz, &encoder.finish()?)?;
    Ok(())
}

/// Writes through a temporary file and a rename, so a server starting beside
/// another never serves a half-written sibling.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = sibling(path, &format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Whether a file name carries Trunk's content hash (`name-<16 hex>` before the
/// extension, `_bg` allowed after it).
fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    if !name.contains('.') {
        return false;
    }
    let stem = name.split('.').next().unwrap_or(name);
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-').is_some_and(|(_, hash)| {
        (8..=16).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The cache policy of a static answer, by the path asked for.
pub fn cache_headers(path: &str, mut response: Response) -> Response {
    if !response.status().is_success() && response.status() != 304 {
        return response;
    }
    let value = if is_hashed(path) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    response
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn trunk_names_are_hashed_and_routes_are_not() {
        for hashed in [
            "/frontend-1a2b3c4d5e6f7a8b_bg.wasm",
            "/frontend-1a2b3c4d5e6f7a8b.js",
            "/frontend-5aee81bcf22caf3_bg.wasm",
            "/stele-0123456789abcdef.css",
        ] {
            assert!(is_hashed(hashed), "{hashed}");
        }
        for plain in [
            "/",
            "/index.html",
            "/audit",
            "/entries/0190c3d1-aaaa-7bbb-8ccc-123456789abc",
            "/frontend-xyz.js",
            "/verify/abcdef0123456789",
        ] {
            assert!(!is_hashed(plain), "{plain}");
        }
    }
}
