//! The parsers a request meets before a handler: the route of its path, Basic credentials,
//! `Range` and `Content-Range`. Input: the path, then header values (Authorization, Range,
//! Content-Range, Content-Length), one per line.
use axum::http::{HeaderMap, HeaderValue, header};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let mut lines = data.split(|b| *b == b'\n');
        let path = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
        let mut headers = HeaderMap::new();
        for (name, value) in [
            header::AUTHORIZATION,
            header::RANGE,
            header::CONTENT_RANGE,
            header::CONTENT_LENGTH,
        ]
        .into_iter()
        .zip(lines)
        {
            if let Ok(v) = HeaderValue::from_bytes(value) {
                headers.insert(name, v);
            }
        }
        for size in [0, 1, 1 << 20, u64::MAX] {
            zoll_registry::fuzzing::request(&path, &headers, size);
        }
    });
}
