//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`, with single `Range` requests.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use zoll_oci::{Digest, RepoName};

use crate::error::{ApiError, ApiResult};
use crate::{App, header_str, hv};

/// A satisfiable byte range `(start, len)`, or why not. `Ok(None)`: serve the whole blob
/// (no Range header, or a form we are allowed to ignore such as multiple ranges).
pub(crate) fn byte_range(h: &HeaderMap, size: u64) -> ApiResult<Option<(u64, u64)>> {
    let Some(spec) = header_str(h, header::RANGE) else {
        return Ok(None);
    };
    let unsatisfiable = || {
        ApiError::range_invalid(format!(
            "range {spec:?} cannot be satisfied for {size} bytes"
        ))
        .with_header(header::CONTENT_RANGE, hv(&format!("bytes */{size}")))
    };
    let Some(spec) = spec.trim().strip_prefix("bytes=") else {
        return Err(unsatisfiable());
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        // Suffix range: the last `b` bytes.
        let n: u64 = b.parse().map_err(|_| unsatisfiable())?;
        if n == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().map_err(|_| unsatisfiable())?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| unsatisfiable())?
                .min(size.saturating_sub(1))
        };
        (start, end)
    };
    if start >= size || end < start {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end - start + 1)))
}

pub(crate) async fn get(
    app: &App,
    repo: &RepoName,
    digest: &Digest,
    h: &HeaderMap,
    head: bool,
) -> ApiResult {
    let size = app.store.blob_size(repo, digest).await?;
    let range = byte_range(h, size)?;
    let mut resp = if head {
        app.store.check_blob_bytes(digest, size).await?;
        Response::new(Body::empty())
    } else {
        let stream = app.store.read_blob(digest, size, range).await?;
        Response::new(Body::from_stream(stream))
    };
    let hdrs = resp.headers_mut();
    hdrs.insert(header::CONTENT_TYPE, hv("application/octet-stream"));
    hdrs.insert("Docker-Content-Digest", hv(digest.as_str()));
    hdrs.insert(header::ACCEPT_RANGES, hv("bytes"));
    hdrs.insert(header::ETAG, hv(&format!("\"{digest}\"")));
    match range {
        Some((start, len)) => {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            let end = start + len - 1;
            let hdrs = resp.headers_mut();
            hdrs.insert(header::CONTENT_LENGTH, len.into());
            hdrs.insert(
                header::CONTENT_RANGE,
                hv(&format!("bytes {start}-{end}/{size}")),
            );
        }
        None => {
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, size.into());
        }
    }
    Ok(resp)
}

pub(crate) async fn delete(app: &App, repo: &RepoName, digest: &Digest) -> ApiResult {
    app.store.delete_blob(repo, digest).await?;
    Ok((StatusCode::ACCEPTED, [(header::CONTENT_LENGTH, "0")]).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(range: &str, size: u64, expect: Result<Option<(u64, u64)>, ()>) {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, range.parse().unwrap());
        assert_eq!(byte_range(&h, size).map_err(|_| ()), expect, "{range}");
    }

    #[test]
    fn ranges() {
        check("bytes=0-9", 100, Ok(Some((0, 10))));
        check("bytes=90-", 100, Ok(Some((90, 10))));
        check("bytes=-5", 100, Ok(Some((95, 5))));
        check("bytes=95-200", 100, Ok(Some((95, 5))));
        check("bytes=100-", 100, Err(()));
        check("bytes=5-1", 100, Err(()));
        check("bytes=0-1,5-6", 100, Ok(None));
        check("items=0-1", 100, Err(()));
        check("bytes=-0", 100, Err(()));
    }
}
