//! Blob uploads: `POST` (start, monolithic, mount), `PATCH` (chunked or streamed), `PUT`
//! (finish), `GET` (status) and `DELETE` (cancel) on `/v2/<name>/blobs/uploads/`.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use zoll_oci::RepoName;

use crate::access::{self, Action, Decision};
use crate::error::{ApiError, ApiResult};
use crate::{App, Identity, header_str, hv, parse_digest, push_rules};

fn session_response(status: StatusCode, repo: &RepoName, id: &str, received: u64) -> Response {
    // Range is inclusive; distribution reports "0-0" for an empty session and clients rely on
    // the same form, so an empty session is reported as "0-0" too.
    let end = received.saturating_sub(1);
    (
        status,
        [
            (
                header::LOCATION,
                hv(&format!("/v2/{repo}/blobs/uploads/{id}")),
            ),
            (header::RANGE, hv(&format!("0-{end}"))),
            (header::CONTENT_LENGTH, hv("0")),
            (
                header::HeaderName::from_static("docker-upload-uuid"),
                hv(id),
            ),
        ],
    )
        .into_response()
}

fn blob_created(repo: &RepoName, digest: &zoll_oci::Digest) -> Response {
    (
        StatusCode::CREATED,
        [
            (header::LOCATION, hv(&format!("/v2/{repo}/blobs/{digest}"))),
            (header::CONTENT_LENGTH, hv("0")),
            (
                header::HeaderName::from_static("docker-content-digest"),
                hv(digest.as_str()),
            ),
        ],
    )
        .into_response()
}

/// Whether a mount into `repo` (push already checked) may read its source: with `from`,
/// the caller must be allowed to pull there; without, any repository could be the source,
/// so only a caller who may pull everything (an administrator, or no authentication) mounts.
async fn may_mount_from(
    app: &App,
    id: &Identity,
    from: Option<&RepoName>,
    digest: &zoll_oci::Digest,
    source: &str,
) -> ApiResult<bool> {
    let ok = match from {
        Some(f) => {
            access::decide(&app.store, id, Action::Pull, f.as_str()).await? == Decision::Allow
        }
        None => id.is_admin(),
    };
    if !ok {
        let target = match from {
            Some(f) => format!("{f}@{digest}"),
            None => format!("*@{digest}"),
        };
        crate::audit::denied(
            app,
            id.name(),
            source,
            Action::Pull,
            &target,
            "blob mount source",
        )
        .await;
    }
    Ok(ok)
}

pub(crate) async fn start(
    app: &App,
    id: &Identity,
    repo: &RepoName,
    q: &HashMap<String, String>,
    h: &HeaderMap,
    body: Body,
    source: &str,
) -> ApiResult {
    if let Some(mount) = q.get("mount") {
        let digest = parse_digest(mount)?;
        let from = match q.get("from") {
            Some(f) => Some(app.repo(f)?),
            None => None,
        };
        if may_mount_from(app, id, from.as_ref(), &digest, source).await? {
            if let Some(size) = app.store.blob_size_anywhere(&digest, from.as_ref()).await? {
                let room = push_rules::upload_room(&app.store, repo.as_str(), 0).await?;
                push_rules::check_room(repo.as_str(), room, size)?;
            }
            if app
                .store
                .mount_blob(repo, &digest, from.as_ref())
                .await?
                .is_some()
            {
                return Ok(blob_created(repo, &digest));
            }
        }
        // Not mountable (or not readable by the caller): the spec says to fall back to an
        // ordinary upload session.
    } else if let Some(d) = q.get("digest") {
        let digest = parse_digest(d)?;
        let incoming = header_str(h, header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok());
        let quota = push_rules::byte_quota(&app.store, repo.as_str(), incoming).await?;
        app.store
            .put_blob(repo, &digest, body.into_data_stream(), quota.as_ref())
            .await?;
        return Ok(blob_created(repo, &digest));
    }
    let id = app.store.start_upload(repo).await?;
    Ok(session_response(StatusCode::ACCEPTED, repo, &id, 0))
}

/// The request's `Content-Length`, when it has a valid one.
fn content_length(h: &HeaderMap) -> Option<u64> {
    header_str(h, header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok())
}

/// Parses `Content-Range` of an upload chunk: `start-end`, also accepting the `bytes ` /
/// `bytes=` prefixes and a `/total` suffix that some clients send. Returns `(start, len)`.
pub(crate) fn content_range(h: &HeaderMap) -> ApiResult<Option<(u64, u64)>> {
    let Some(raw) = header_str(h, header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let bad = || ApiError::range_invalid(format!("malformed Content-Range {raw:?}"));
    let spec = raw.trim();
    let spec = spec
        .strip_prefix("bytes=")
        .or_else(|| spec.strip_prefix("bytes "))
        .unwrap_or(spec);
    let spec = spec.split('/').next().unwrap_or(spec);
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let start: u64 = a.trim().parse().map_err(|_| bad())?;
    let end: u64 = b.trim().parse().map_err(|_| bad())?;
    if end < start {
        return Err(bad());
    }
    // `0-18446744073709551615` would overflow: such a chunk is malformed.
    let len = (end - start).checked_add(1).ok_or_else(bad)?;
    if let Some(cl) = header_str(h, header::CONTENT_LENGTH)
        && cl.trim().parse::<u64>().ok() != Some(len)
    {
        return Err(ApiError::range_invalid(format!(
            "Content-Range {raw:?} does not match Content-Length {cl}"
        )));
    }
    Ok(Some((start, len)))
}

pub(crate) async fn patch(
    app: &App,
    repo: &RepoName,
    id: &str,
    h: &HeaderMap,
    body: Body,
) -> ApiResult {
    let range = content_range(h)?;
    let incoming = range.map(|(_, len)| len).or_else(|| content_length(h));
    let quota = push_rules::byte_quota(&app.store, repo.as_str(), incoming).await?;
    let received = app
        .store
        .append_upload(repo, id, range, body.into_data_stream(), quota.as_ref())
        .await
        .map_err(|e| with_upload_range(e.into(), repo, id))?;
    Ok(session_response(StatusCode::ACCEPTED, repo, id, received))
}

/// A 416 for an upload carries the session's current range so the client can resume.
fn with_upload_range(e: ApiError, repo: &RepoName, id: &str) -> ApiError {
    if e.status != StatusCode::RANGE_NOT_SATISFIABLE {
        return e;
    }
    e.with_header(
        header::LOCATION,
        hv(&format!("/v2/{repo}/blobs/uploads/{id}")),
    )
}

pub(crate) async fn finish(
    app: &App,
    repo: &RepoName,
    id: &str,
    q: &HashMap<String, String>,
    h: &HeaderMap,
    body: Body,
) -> ApiResult {
    let digest = q
        .get("digest")
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
                "the digest query parameter is required to finish an upload",
            )
        })
        .and_then(|d| parse_digest(d))?;
    let range = content_range(h)?;
    let incoming = range.map(|(_, len)| len).or_else(|| content_length(h));
    let quota = push_rules::byte_quota(&app.store, repo.as_str(), incoming).await?;
    app.store
        .finish_upload(
            repo,
            id,
            &digest,
            range,
            body.into_data_stream(),
            quota.as_ref(),
        )
        .await
        .map_err(|e| with_upload_range(e.into(), repo, id))?;
    Ok(blob_created(repo, &digest))
}

pub(crate) async fn status(app: &App, repo: &RepoName, id: &str) -> ApiResult {
    let received = app.store.upload_status(repo, id).await?;
    Ok(session_response(StatusCode::NO_CONTENT, repo, id, received))
}

pub(crate) async fn cancel(app: &App, repo: &RepoName, id: &str) -> ApiResult {
    app.store.cancel_upload(repo, id).await?;
    Ok((StatusCode::NO_CONTENT, [(header::CONTENT_LENGTH, "0")]).into_response())
}
