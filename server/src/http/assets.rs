//! The built web assets (`pkg/` from cargo-leptos, files from `public/`), loaded into memory at
//! start and compressed once with brotli and gzip at their best settings, so each request is a
//! map look-up and the browser gets the smallest bytes without the server compressing per request.

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
};

use axum::{
    body::Body,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::Response,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};

/// Files smaller than this are not worth compressing.
const MIN_COMPRESS_BYTES: usize = 512;

struct Asset {
    content_type: &'static str,
    raw: Vec<u8>,
    gzip: Option<Vec<u8>>,
    brotli: Option<Vec<u8>>,
    etag: HeaderValue,
    /// Content-hashed names never change content: cache them for a year.
    immutable: bool,
}

#[derive(Default)]
pub struct StaticAssets {
    files: HashMap<String, Asset>,
}

/// The name of the build manifest cargo-leptos writes.
pub const MANIFEST_FILE: &str = "hash.txt";

/// What cargo-leptos wrote about the build: the content hashes in the file names, when enabled,
/// and where that was read from (Leptos reads the same file for its script tags).
#[derive(Clone, Debug, Default)]
pub struct BuildManifest {
    pub hashes: HashMap<String, String>,
    pub path: Option<PathBuf>,
}

/// Why the built site cannot serve working pages.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error(
        "the site directory {site} holds content-hashed assets (pkg/{name}.<hash>.js) but no \
         {MANIFEST_FILE} saying which are current, so pages would ask for files that do not \
         exist. Copy the site directory whole, as `cargo xtask run` builds it (target/site, \
         which holds {MANIFEST_FILE}), or set site_dir to it"
    )]
    NoManifest { site: String, name: String },
    #[error(
        "{manifest} names {file}, which is not in {site}: the manifest and the assets are of \
         different builds. Copy the whole site directory of one build (target/site)"
    )]
    Mismatch {
        manifest: String,
        file: String,
        site: String,
    },
}

impl BuildManifest {
    /// The manifests of the site in `site_dir`: its own `hash.txt` (the xtask copies it there,
    /// so the directory carries everything), and the one cargo-leptos leaves beside the server
    /// binary (a build run in place).
    pub fn candidates(site_dir: &Path) -> Vec<BuildManifest> {
        let beside_exe = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join(MANIFEST_FILE)));
        [Some(site_dir.join(MANIFEST_FILE)), beside_exe]
            .into_iter()
            .flatten()
            .filter_map(|path| {
                let text = std::fs::read_to_string(&path).ok()?;
                let hashes = text
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                // Leptos joins this to the binary's directory: absolute, it is used as it is.
                let path = std::path::absolute(&path).unwrap_or(path);
                Some(BuildManifest {
                    hashes,
                    path: Some(path),
                })
            })
            .collect()
    }

    /// Of the manifests found, the one whose files the site has: a site's own copy can be
    /// older than the build beside the binary (a `cargo leptos build` after `cargo xtask run`),
    /// or the reverse. With none fitting, the first (its check then says what is wrong).
    pub fn choose(
        candidates: Vec<BuildManifest>,
        assets: &StaticAssets,
        site_dir: &Path,
        pkg_dir: &str,
        output_name: &str,
    ) -> BuildManifest {
        let fitting = candidates
            .iter()
            .position(|m| m.check(assets, site_dir, pkg_dir, output_name).is_ok());
        match fitting {
            Some(i) => candidates.into_iter().nth(i).unwrap_or_default(),
            None => candidates.into_iter().next().unwrap_or_default(),
        }
    }

    pub fn hashed(&self) -> bool {
        !self.hashes.is_empty()
    }

    fn file(&self, kind: &str, output_name: &str, ext: &str) -> String {
        match self.hashes.get(kind) {
            Some(hash) => format!("{output_name}.{hash}.{ext}"),
            None => format!("{output_name}.{ext}"),
        }
    }

    /// The stylesheet's URL path, e.g. `/pkg/mailkey.3f2a….css`.
    pub fn css_href(&self, pkg_dir: &str, output_name: &str) -> String {
        format!("/{pkg_dir}/{}", self.file("css", output_name, "css"))
    }

    /// Whether pages built from this manifest will find their files in `assets`: the script,
    /// the wasm and the stylesheet it names. `Ok` for a site with no assets at all (the caller
    /// warns: the API works, pages come without styles or interactivity).
    pub fn check(
        &self,
        assets: &StaticAssets,
        site_dir: &Path,
        pkg_dir: &str,
        output_name: &str,
    ) -> Result<(), SiteError> {
        if assets.is_empty() {
            return Ok(());
        }
        let site = site_dir.display().to_string();
        if !self.hashed() {
            let hashed_build = assets.files.keys().any(|k| {
                k.strip_prefix(&format!("/{pkg_dir}/{output_name}."))
                    .is_some_and(|rest| rest.matches('.').count() == 1 && rest.ends_with(".js"))
            });
            if hashed_build {
                return Err(SiteError::NoManifest {
                    site,
                    name: output_name.into(),
                });
            }
        }
        for (kind, ext) in [("js", "js"), ("wasm", "wasm"), ("css", "css")] {
            let file = self.file(kind, output_name, ext);
            let wanted = if kind == "wasm" {
                // cargo-leptos names the wasm `<name>_bg.wasm` without hashing.
                vec![
                    format!("/{pkg_dir}/{file}"),
                    format!("/{pkg_dir}/{output_name}_bg.wasm"),
                ]
            } else {
                vec![format!("/{pkg_dir}/{file}")]
            };
            if !wanted.iter().any(|w| assets.files.contains_key(w)) {
                return Err(SiteError::Mismatch {
                    manifest: self
                        .path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "the build".into()),
                    file: format!("{pkg_dir}/{file}"),
                    site,
                });
            }
        }
        Ok(())
    }
}

impl StaticAssets {
    /// Reads every file below `site_dir`. A missing directory gives an empty set (the server
    /// still answers the API; pages then load without styles or interactivity).
    pub fn load(site_dir: &Path, pkg_dir: &str, hashed: bool) -> std::io::Result<StaticAssets> {
        let mut files = HashMap::new();
        if !site_dir.is_dir() {
            return Ok(StaticAssets { files });
        }
        let mut stack: Vec<PathBuf> = vec![site_dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path
                    .strip_prefix(site_dir)
                    .expect("walked paths are below the root")
                    .to_string_lossy()
                    .replace('\\', "/");
                // The manifest is read at start, not served.
                if rel == MANIFEST_FILE {
                    continue;
                }
                let raw = std::fs::read(&path)?;
                let immutable = hashed && rel.starts_with(&format!("{pkg_dir}/"));
                files.insert(format!("/{rel}"), Asset::new(&rel, raw, immutable));
            }
        }
        Ok(StaticAssets { files })
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The response for `path`, or `None` when it is not an asset.
    pub fn respond(&self, method: &Method, path: &str, headers: &HeaderMap) -> Option<Response> {
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let asset = self.files.get(path)?;
        let mut builder = Response::builder()
            .header(header::CONTENT_TYPE, asset.content_type)
            .header(header::ETAG, asset.etag.clone())
            .header(header::VARY, "accept-encoding")
            .header(
                header::CACHE_CONTROL,
                if asset.immutable {
                    "public, max-age=31536000, immutable"
                } else {
                    "public, no-cache"
                },
            );
        let not_modified = headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == asset.etag.as_bytes());
        if not_modified {
            return Some(
                builder
                    .status(StatusCode::NOT_MODIFIED)
                    .body(Body::empty())
                    .expect("static headers are valid"),
            );
        }
        let accepts = |enc: &str| {
            headers
                .get_all(header::ACCEPT_ENCODING)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|e| e.split(';').next().is_some_and(|name| name.trim() == enc))
        };
        let body = match (&asset.brotli, &asset.gzip) {
            (Some(br), _) if accepts("br") => {
                builder = builder.header(header::CONTENT_ENCODING, "br");
                br
            }
            (_, Some(gz)) if accepts("gzip") => {
                builder = builder.header(header::CONTENT_ENCODING, "gzip");
                gz
            }
            _ => &asset.raw,
        };
        let body = if method == Method::HEAD {
            Body::empty()
        } else {
            Body::from(body.clone())
        };
        Some(builder.body(body).expect("static headers are valid"))
    }
}

impl Asset {
    fn new(rel: &str, raw: Vec<u8>, immutable: bool) -> Asset {
        let content_type = content_type(rel);
        let compressible = raw.len() >= MIN_COMPRESS_BYTES && is_compressible(content_type);
        let digest = Sha256::digest(&raw);
        let etag = HeaderValue::from_str(&format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..18])))
            .expect("base64 is header-safe");
        Asset {
            content_type,
            gzip: compressible.then(|| gzip(&raw)),
            brotli: compressible.then(|| brotli(&raw)),
            raw,
            etag,
            immutable,
        }
    }
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(raw).expect("writing to memory cannot fail");
    enc.finish().expect("writing to memory cannot fail")
}

fn brotli(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
        w.write_all(raw).expect("writing to memory cannot fail");
    }
    out
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn is_compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || matches!(
            content_type,
            "application/wasm"
                | "application/json"
                | "application/manifest+json"
                | "image/svg+xml"
                | "image/x-icon"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pkg")).unwrap();
        std::fs::write(
            dir.path().join("pkg/app.abc.js"),
            "console.log(1);\n".repeat(100),
        )
        .unwrap();
        std::fs::write(dir.path().join("favicon.svg"), "<svg/>").unwrap();
        dir
    }

    fn get(assets: &StaticAssets, path: &str, pairs: &[(&'static str, &str)]) -> Option<Response> {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        assets.respond(&Method::GET, path, &h)
    }

    #[test]
    fn serves_the_best_encoding_the_client_accepts() {
        let dir = site();
        let a = StaticAssets::load(dir.path(), "pkg", true).unwrap();
        let br = get(
            &a,
            "/pkg/app.abc.js",
            &[("accept-encoding", "gzip, deflate, br")],
        )
        .unwrap();
        assert_eq!(br.headers()[header::CONTENT_ENCODING], "br");
        assert_eq!(
            br.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let gz = get(&a, "/pkg/app.abc.js", &[("accept-encoding", "gzip")]).unwrap();
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
        let raw = get(&a, "/pkg/app.abc.js", &[]).unwrap();
        assert!(raw.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(
            raw.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
    }

    #[test]
    fn small_and_unhashed_files_are_revalidated_not_compressed() {
        let dir = site();
        let a = StaticAssets::load(dir.path(), "pkg", true).unwrap();
        let icon = get(&a, "/favicon.svg", &[("accept-encoding", "br")]).unwrap();
        assert!(icon.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(icon.headers()[header::CACHE_CONTROL], "public, no-cache");
        let etag = icon.headers()[header::ETAG].to_str().unwrap().to_string();
        let again = get(&a, "/favicon.svg", &[("if-none-match", &etag)]).unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn unknown_paths_and_missing_site_are_not_assets() {
        let dir = site();
        let a = StaticAssets::load(dir.path(), "pkg", false).unwrap();
        assert!(get(&a, "/pkg/none.js", &[]).is_none());
        assert!(get(&a, "/../etc/passwd", &[]).is_none());
        let none = StaticAssets::load(&dir.path().join("missing"), "pkg", false).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn manifest_builds_the_hashed_stylesheet_path() {
        let mut m = BuildManifest::default();
        assert_eq!(m.css_href("pkg", "mailkey"), "/pkg/mailkey.css");
        m.hashes.insert("css".into(), "abc123".into());
        assert_eq!(m.css_href("pkg", "mailkey"), "/pkg/mailkey.abc123.css");
    }
}
