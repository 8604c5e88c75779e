//! Files downloaded from http(s) URLs (`ADD https://...`).
//!
//! A download streams to a temp file (never into memory) while its SHA-256 is
//! computed; `ADD --checksum=sha256:...` is verified against it. The content
//! digest is what the step's cache key depends on (like BuildKit, which
//! checksums the content). Per URL we remember the `ETag` and
//! `Last-Modified` the server sent and the digest of what it sent, in
//! `cache/http/<sha256 of url>.json`; the next fetch is a conditional GET
//! (`If-None-Match` / `If-Modified-Since`), and a `304 Not Modified` answer
//! reuses the earlier digest without a download. Bodies are never
//! decompressed (no `Accept-Encoding` handling is enabled in the client).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

/// Failures of an http source; each names the URL.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("downloading {url}: {source}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("downloading {url}: the server answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: checksum mismatch: expected {expected}, got {actual}")]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("ADD --checksum={checksum}: only sha256:<64 hex digits> is supported")]
    UnsupportedChecksum { checksum: String },
    #[error("downloading {url} to {path}: {source}")]
    Io {
        url: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What the server said about a URL the last time, and what it sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// `sha256:<hex>` of the body.
    pub digest: String,
}

/// The result of a fetch.
#[derive(Debug)]
pub enum Fetched {
    /// The server said the earlier download is still current.
    NotModified(Validators),
    /// A new body, in a temp file.
    Downloaded {
        file: tempfile::NamedTempFile,
        validators: Validators,
        /// From `Last-Modified`.
        mtime: Option<SystemTime>,
    },
}

impl Fetched {
    pub fn digest(&self) -> &str {
        match self {
            Fetched::NotModified(v) => &v.digest,
            Fetched::Downloaded { validators, .. } => &validators.digest,
        }
    }
}

/// Remembered validators of URLs, one small JSON file per URL.
#[derive(Debug, Clone)]
pub struct HttpCache {
    dir: PathBuf,
}

impl HttpCache {
    pub fn new(dir: impl Into<PathBuf>) -> HttpCache {
        HttpCache { dir: dir.into() }
    }

    fn file(&self, url: &str) -> PathBuf {
        self.dir.join(format!(
            "{}.json",
            hex::encode(Sha256::digest(url.as_bytes()))
        ))
    }

    /// The validators stored for `url` (none if missing or unreadable).
    pub fn get(&self, url: &str) -> Option<Validators> {
        let bytes = std::fs::read(self.file(url)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores `v` for `url` (temp file, then rename).
    pub fn put(&self, url: &str, v: &Validators) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        std::io::Write::write_all(&mut tmp, &serde_json::to_vec(v)?)?;
        tmp.persist(self.file(url)).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Checks an `ADD --checksum` value's form.
pub fn parse_checksum(checksum: &str) -> Result<String, HttpError> {
    match checksum.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
        }
        _ => Err(HttpError::UnsupportedChecksum {
            checksum: checksum.to_string(),
        }),
    }
}

/// Fetches `url`: a conditional GET when `known` validators are given (and
/// still usable by the caller), else a plain GET streamed into a temp file
/// in `tmp_dir`. Verifies `checksum` when given.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    known: Option<&Validators>,
    checksum: Option<&str>,
    tmp_dir: &Path,
) -> Result<Fetched, HttpError> {
    let expected = checksum.map(parse_checksum).transpose()?;
    let request_err = |source| HttpError::Request {
        url: url.to_string(),
        source,
    };
    let mut req = client.get(url);
    if let Some(k) = known {
        if let Some(e) = &k.etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, e);
        }
        if let Some(m) = &k.last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, m);
        }
    }
    let mut resp = req.send().await.map_err(request_err)?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_MODIFIED
        && let Some(k) = known
    {
        verify(url, expected.as_deref(), &k.digest)?;
        return Ok(Fetched::NotModified(k.clone()));
    }
    if !status.is_success() {
        return Err(HttpError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let etag = header(reqwest::header::ETAG);
    let last_modified = header(reqwest::header::LAST_MODIFIED);
    let mtime = last_modified
        .as_deref()
        .and_then(|m| httpdate::parse_http_date(m).ok());

    let io_err = |path: &Path, source| HttpError::Io {
        url: url.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let file = tempfile::NamedTempFile::new_in(tmp_dir).map_err(|e| io_err(tmp_dir, e))?;
    let path = file.path().to_path_buf();
    let std_file = file.reopen().map_err(|e| io_err(&path, e))?;
    let mut out = tokio::fs::File::from_std(std_file);
    let mut h = Sha256::new();
    while let Some(chunk) = resp.chunk().await.map_err(request_err)? {
        h.update(&chunk);
        out.write_all(&chunk).await.map_err(|e| io_err(&path, e))?;
    }
    out.flush().await.map_err(|e| io_err(&path, e))?;
    out.sync_all().await.map_err(|e| io_err(&path, e))?;
    let digest = format!("sha256:{}", hex::encode(h.finalize()));
    verify(url, expected.as_deref(), &digest)?;
    Ok(Fetched::Downloaded {
        file,
        validators: Validators {
            etag,
            last_modified,
            digest,
        },
        mtime,
    })
}

fn verify(url: &str, expected: Option<&str>, actual: &str) -> Result<(), HttpError> {
    match expected {
        Some(e) if e != actual => Err(HttpError::ChecksumMismatch {
            url: url.to_string(),
            expected: e.to_string(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_must_be_sha256_with_64_hex_digits() {
        let ok = format!("sha256:{}", "A".repeat(64));
        assert_eq!(
            parse_checksum(&ok).unwrap(),
            format!("sha256:{}", "a".repeat(64))
        );
        assert!(parse_checksum("sha256:abc").is_err());
        assert!(parse_checksum(&format!("sha512:{}", "a".repeat(64))).is_err());
    }

    /// A one-file HTTP/1.1 server on 127.0.0.1 that sends an ETag and
    /// answers a matching If-None-Match with 304. Returns the URL and a
    /// counter of full (200) responses.
    fn etag_server(body: &'static str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/file.bin", listener.local_addr().unwrap());
        let full = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = full.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut matched = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if line.to_ascii_lowercase().starts_with("if-none-match:")
                        && line.contains("\"v1\"")
                    {
                        matched = true;
                    }
                }
                let reply = if matched {
                    "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                } else {
                    count.fetch_add(1, Ordering::SeqCst);
                    format!(
                        "HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        (url, full)
    }

    #[tokio::test]
    async fn unchanged_etag_gives_not_modified_without_a_download() {
        use std::sync::atomic::Ordering;
        let (url, full) = etag_server("payload");
        let t = tempfile::tempdir().unwrap();
        let client = reqwest::Client::new();
        let first = fetch(&client, &url, None, None, t.path()).await.unwrap();
        let Fetched::Downloaded {
            file,
            validators,
            mtime,
        } = first
        else {
            panic!("expected a download");
        };
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), "payload");
        assert_eq!(validators.etag.as_deref(), Some("\"v1\""));
        assert_eq!(
            mtime,
            Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_445_412_480))
        );
        let second = fetch(&client, &url, Some(&validators), None, t.path())
            .await
            .unwrap();
        assert!(matches!(second, Fetched::NotModified(ref v) if v.digest == validators.digest));
        assert_eq!(full.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn checksum_mismatch_names_expected_and_actual_digests() {
        let (url, _) = etag_server("payload");
        let t = tempfile::tempdir().unwrap();
        let wrong = format!("sha256:{}", "0".repeat(64));
        let err = fetch(&reqwest::Client::new(), &url, None, Some(&wrong), t.path())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("checksum mismatch") && text.contains(&wrong),
            "{text}"
        );
    }

    #[test]
    fn validators_round_trip_through_the_cache_dir() {
        let t = tempfile::tempdir().unwrap();
        let cache = HttpCache::new(t.path().join("http"));
        assert!(cache.get("http://x/a").is_none());
        let v = Validators {
            etag: Some("\"e1\"".into()),
            last_modified: None,
            digest: "sha256:00".into(),
        };
        cache.put("http://x/a", &v).unwrap();
        assert_eq!(cache.get("http://x/a"), Some(v));
        assert!(cache.get("http://x/b").is_none());
    }
}
