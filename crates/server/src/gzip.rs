//! gzip for the embedded web UI. The build's JavaScript is ~465 KB and ~157 KB gzipped: on
//! a phone over a slow link that is most of the first load. Each file is compressed once,
//! on its first request, and kept (the build is a fixed, small set of files).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{LazyLock, Mutex};

use axum::http::{HeaderMap, header};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

/// Smaller files gain less than the header and the CPU cost.
const MIN_SIZE: usize = 1024;

/// Compressed files by content hash (a rebuilt file in a debug build gets a new entry).
static CACHE: LazyLock<Mutex<HashMap<[u8; 32], Bytes>>> = LazyLock::new(Default::default);

/// Whether a file of this type and size is worth sending gzipped (text, not images or fonts
/// that are compressed already).
pub(crate) fn worth_it(content_type: &str, len: usize) -> bool {
    len >= MIN_SIZE
        && (content_type.starts_with("text/")
            || content_type.starts_with("application/json")
            || content_type.starts_with("application/manifest+json")
            || content_type.starts_with("image/svg+xml")
            || content_type.starts_with("application/wasm"))
}

/// Whether the request's `Accept-Encoding` takes gzip: `gzip` (or `x-gzip`) with a
/// weight above 0, or else `*` with a weight above 0. An explicit `gzip;q=0` refuses it
/// whatever `*` says (RFC 9110 §12.5.3).
pub(crate) fn accepted(request: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    let codings = request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for coding in codings {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let weighted = parts.all(|p| {
            let Some((key, value)) = p.split_once('=') else {
                return true;
            };
            !key.trim().eq_ignore_ascii_case("q")
                || value.trim().parse::<f32>().is_ok_and(|q| q > 0.0)
        });
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(weighted);
        } else if name == "*" {
            any = Some(weighted);
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// `data` gzipped, compressed on the first call for this content hash. `None` if the
/// encoder failed (it writes to memory, so it should not): the caller sends the plain copy.
pub(crate) fn compressed(sha256: &[u8; 32], data: &[u8]) -> Option<Bytes> {
    if let Some(hit) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(sha256) {
        return Some(hit.clone());
    }
    // Compressed outside the lock: two first requests at once both compress, both fine.
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 3), Compression::best());
    encoder.write_all(data).ok()?;
    let bytes = Bytes::from(encoder.finish().ok()?);
    CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(*sha256, bytes.clone());
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn request(accept: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, accept.parse().unwrap());
        headers
    }

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        for yes in [
            "gzip",
            "gzip, deflate, br",
            "br;q=1.0, GZIP;q=0.5",
            "*",
            "x-gzip",
        ] {
            assert!(accepted(&request(yes)), "{yes}");
        }
        for no in [
            "gzip;q=0, *",
            "*, gzip;q=0",
            "gzip; Q=0",
            "identity",
            "br",
            "gzip;q=0",
            "gzip; q=0.0, br",
            "*;q=0",
            "gzipper",
        ] {
            assert!(!accepted(&request(no)), "{no}");
        }
        assert!(!accepted(&HeaderMap::new()));
    }

    #[test]
    fn only_text_of_some_size_is_worth_it() {
        assert!(worth_it("text/javascript; charset=utf-8", 4096));
        assert!(worth_it("image/svg+xml", 4096));
        assert!(!worth_it("text/javascript; charset=utf-8", 100));
        assert!(!worth_it("font/woff2", 1 << 20));
        assert!(!worth_it("image/png", 1 << 20));
    }

    #[test]
    fn compresses_once_and_round_trips() {
        let data = "export const x = 1;\n".repeat(500);
        let sha = [7; 32];
        let first = compressed(&sha, data.as_bytes()).unwrap();
        assert!(first.len() < data.len() / 10, "{} bytes", first.len());
        let mut out = String::new();
        flate2::read::GzDecoder::new(&first[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, data);
        // The second call is the cached copy, not a new compression.
        assert_eq!(
            compressed(&sha, data.as_bytes()).unwrap().as_ptr(),
            first.as_ptr()
        );
    }
}
