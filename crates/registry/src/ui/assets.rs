//! The console's static files, embedded in the binary: the vendored htmx (2.0.11, from the
//! npm package `htmx.org`, `dist/htmx.min.js`, Zero-Clause BSD licence in
//! `static/htmx-LICENSE`) and our style sheet. Their names carry the version or a hash of
//! the content, so browsers may keep them for a year.

use std::sync::OnceLock;

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

const HTMX: &[u8] = include_bytes!("static/htmx-2.0.11.min.js");
const CSS: &[u8] = include_bytes!("static/console.css");

/// Where pages load htmx from.
pub(crate) const HTMX_PATH: &str = "/ui/static/htmx-2.0.11.min.js";

/// Where pages load the style sheet from: its name carries the first 12 hex digits of its
/// SHA-256, so a changed sheet is a new URL.
pub(crate) fn css_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, CSS);
        let hex = zoll_stdx::hex::encode(d.as_ref());
        format!("/ui/static/console-{}.css", &hex[..12])
    })
}

/// `GET`/`HEAD /ui/static/{name}`.
pub(super) fn serve(method: &Method, name: &str) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = format!("/ui/static/{name}");
    let (bytes, kind) = if path == HTMX_PATH {
        (HTMX, "text/javascript; charset=utf-8")
    } else if path == css_path() {
        (CSS, "text/css; charset=utf-8")
    } else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    let body = if method == Method::HEAD {
        &[][..]
    } else {
        bytes
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        body,
    )
        .into_response()
}
