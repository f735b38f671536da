//! The built site's static files: the bundle (JS, wasm, CSS) under names that carry a
//! hash of their content, cached by browsers for a year; everything served brotli- or
//! gzip-compressed when the browser accepts it.
//!
//! Compressed copies are made once, at start, beside the built files (`banter.wasm.br`,
//! `banter.wasm.gz`), in the background: the first requests may go out uncompressed.
//! The site's directory is then all a deployment needs; no build step has to know.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::SystemTime,
};

use app::{assets::SiteAssets, OUTPUT_NAME};
use axum::{
    body::Body,
    extract::Request,
    http::{header, request::Parts, HeaderValue, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use tower_http::services::ServeDir;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Unversioned files (the icon, a bundle asked for by its plain name) are checked
/// with the server on each use: a new build must show at once.
const REVALIDATE: &str = "no-cache";
/// What is worth compressing; images and fonts are compressed already.
const COMPRESSIBLE: [&str; 6] = ["js", "wasm", "css", "svg", "json", "txt"];

/// The bundle's files, each with its content hash.
#[derive(Clone, Debug)]
pub struct Bundle {
    pkg_dir: String,
    /// `(extension, hash)` for `js`, `wasm` and `css`.
    hashes: Vec<(&'static str, String)>,
}

fn hash_file(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let digest = Sha256::digest(&bytes);
    Some(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
}

impl Bundle {
    /// Hashes the bundle in `site_root/pkg_dir`. A file that is missing (the site not
    /// built) keeps its plain name.
    pub fn read(site_root: &Path, pkg_dir: &str) -> Bundle {
        let dir = site_root.join(pkg_dir);
        let hashes = ["js", "wasm", "css"]
            .into_iter()
            .filter_map(|ext| {
                let hash = hash_file(&dir.join(format!("{OUTPUT_NAME}.{ext}")))?;
                Some((ext, hash))
            })
            .collect();
        Bundle {
            pkg_dir: pkg_dir.to_string(),
            hashes,
        }
    }

    fn hash_of(&self, ext: &str) -> Option<&str> {
        self.hashes
            .iter()
            .find(|(e, _)| *e == ext)
            .map(|(_, hash)| hash.as_str())
    }

    /// The URLs pages link.
    pub fn site_assets(&self) -> SiteAssets {
        let url = |ext: &str| match self.hash_of(ext) {
            Some(hash) => format!("/{}/{OUTPUT_NAME}.{hash}.{ext}", self.pkg_dir),
            None => format!("/{}/{OUTPUT_NAME}.{ext}", self.pkg_dir),
        };
        SiteAssets {
            js: url("js"),
            wasm: url("wasm"),
            css: url("css"),
        }
    }

    /// For a versioned URL of the current bundle, the plain path of its file.
    fn unversioned(&self, path: &str) -> Option<String> {
        let name = path.strip_prefix(&format!("/{}/{OUTPUT_NAME}.", self.pkg_dir))?;
        let (hash, ext) = name.split_once('.')?;
        (self.hash_of(ext)? == hash).then(|| format!("/{}/{OUTPUT_NAME}.{ext}", self.pkg_dir))
    }
}

/// Serves the static file `request` asks for from `site_root`, or answers `None` when
/// there is none (the caller renders the not-found page).
pub async fn serve(bundle: &Bundle, site_root: &Path, request: &Parts) -> Option<Response> {
    let path = request.uri.path();
    let (path, cache) = match bundle.unversioned(path) {
        Some(plain) => (plain, IMMUTABLE),
        None => (path.to_string(), REVALIDATE),
    };
    let mut file_request = Request::new(Body::empty());
    *file_request.method_mut() = request.method.clone();
    *file_request.uri_mut() = Uri::builder().path_and_query(path).build().ok()?;
    *file_request.headers_mut() = request.headers.clone();
    let files = ServeDir::new(site_root)
        .precompressed_br()
        .precompressed_gzip()
        .append_index_html_on_directories(false);
    let response = files.oneshot(file_request).await.ok()?;
    if response.status() == StatusCode::NOT_FOUND {
        return None;
    }
    let mut response = response.map(Body::new).into_response();
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    Some(response)
}

/// Writes `.br` and `.gz` copies of every compressible file under `dir` that lacks a
/// current one. Copies are written under a temporary name and renamed, so a reader
/// never sees half of one (several servers may share a site directory).
pub fn precompress(dir: &Path) -> std::io::Result<usize> {
    if !dir.exists() {
        return Ok(0); // the site is not built: nothing to serve either
    }
    let mut made = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            made += precompress(&path)?;
            continue;
        }
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        if !COMPRESSIBLE.contains(&ext) {
            continue;
        }
        let modified = std::fs::metadata(&path)?.modified()?;
        for (suffix, compress) in [
            ("br", brotli_bytes as fn(&[u8]) -> std::io::Result<Vec<u8>>),
            ("gz", gzip_bytes),
        ] {
            let target = sibling(&path, suffix);
            if is_current(&target, modified) {
                continue;
            }
            let packed = compress(&std::fs::read(&path)?)?;
            let temporary = sibling(&path, &format!("{suffix}.{}.tmp", std::process::id()));
            std::fs::write(&temporary, packed)?;
            std::fs::rename(&temporary, &target)?;
            made += 1;
        }
    }
    Ok(made)
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn is_current(copy: &Path, source_modified: SystemTime) -> bool {
    std::fs::metadata(copy)
        .and_then(|m| m.modified())
        .is_ok_and(|copied| copied >= source_modified)
}

fn brotli_bytes(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() / 3);
    {
        // The most (quality 11) for release bundles, a second or two once per build;
        // a debug build's wasm (about 9 MB) gets a quick pass instead.
        let quality = if bytes.len() > 4 << 20 { 5 } else { 11 };
        let mut writer = brotli::CompressorWriter::new(&mut out, 64 * 1024, quality, 22);
        writer.write_all(bytes)?;
    }
    Ok(out)
}

fn gzip_bytes(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::best(),
    );
    encoder.write_all(bytes)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> (PathBuf, Bundle) {
        let root = std::env::temp_dir().join(format!(
            "banter_assets_{}_{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        std::fs::write(root.join("pkg/banter.js"), "export default 1;".repeat(100)).unwrap();
        std::fs::write(root.join("pkg/banter.css"), "body{}").unwrap();
        let bundle = Bundle::read(&root, "pkg");
        (root, bundle)
    }

    #[test]
    fn versioned_names_follow_the_content() {
        let (root, bundle) = site();
        let assets = bundle.site_assets();
        let hash = bundle.hash_of("js").unwrap().to_string();
        assert_eq!(hash.len(), 16);
        assert_eq!(assets.js, format!("/pkg/banter.{hash}.js"));
        assert_eq!(assets.wasm, "/pkg/banter.wasm", "not built: plain name");
        assert_eq!(
            bundle.unversioned(&assets.js).as_deref(),
            Some("/pkg/banter.js")
        );
        assert_eq!(
            bundle.unversioned("/pkg/banter.0000000000000000.js"),
            None,
            "stale"
        );
        std::fs::write(root.join("pkg/banter.js"), "changed").unwrap();
        assert_ne!(Bundle::read(&root, "pkg").hash_of("js").unwrap(), hash);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn compressed_copies_are_made_once_and_decompress_to_the_file() {
        let (root, _) = site();
        assert_eq!(precompress(&root).unwrap(), 4, "br and gz of two files");
        assert_eq!(precompress(&root).unwrap(), 0, "already current");
        let original = std::fs::read(root.join("pkg/banter.js")).unwrap();
        let mut unpacked = Vec::new();
        let packed = std::fs::read(root.join("pkg/banter.js.br")).unwrap();
        brotli::BrotliDecompress(&mut packed.as_slice(), &mut unpacked).unwrap();
        assert_eq!(unpacked, original);
        assert!(packed.len() < original.len() / 4);
        let mut unpacked = Vec::new();
        let packed = std::fs::read(root.join("pkg/banter.js.gz")).unwrap();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(packed.as_slice()),
            &mut unpacked,
        )
        .unwrap();
        assert_eq!(unpacked, original);
        std::fs::remove_dir_all(root).unwrap();
    }
}
