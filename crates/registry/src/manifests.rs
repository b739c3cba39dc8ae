//! `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use zoll_oci::{Reference, RepoName, Tag};

use crate::error::{ApiError, ApiResult};
use crate::{App, header_str, hv};

/// Whether a client's `Accept` headers admit `media_type`. No Accept header, `*/*` and
/// `application/*` admit anything. An OCI or Docker manifest is withheld from a client that
/// lists manifest types but not this one, as distribution does, rather than handing it a
/// format it said it cannot read.
fn accepts(h: &HeaderMap, media_type: &str) -> bool {
    let mut any = false;
    for value in h.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let t = item.split(';').next().unwrap_or("").trim();
            if t.is_empty() {
                continue;
            }
            any = true;
            if t == media_type || t == "*/*" || t == "application/*" {
                return true;
            }
        }
    }
    !any
}

/// The answer to a manifest `GET`/`HEAD` of `m`, which the caller resolved (and gated).
pub(crate) fn get(
    m: &zoll_store::StoredManifest,
    reference: &Reference,
    h: &HeaderMap,
    head: bool,
) -> ApiResult {
    if !accepts(h, &m.media_type) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            format!(
                "manifest {reference} is {}, which the Accept header does not admit",
                m.media_type
            ),
        ));
    }
    let body = if head {
        Body::empty()
    } else {
        Body::from(m.content.clone())
    };
    let mut resp = Response::new(body);
    let hdrs = resp.headers_mut();
    hdrs.insert(header::CONTENT_TYPE, hv(&m.media_type));
    hdrs.insert(header::CONTENT_LENGTH, m.content.len().into());
    hdrs.insert("Docker-Content-Digest", hv(m.digest.as_str()));
    hdrs.insert(header::ETAG, hv(&format!("\"{}\"", m.digest)));
    Ok(resp)
}

pub(crate) async fn put(
    app: &App,
    repo: &RepoName,
    reference: &Reference,
    tag_params: &[String],
    h: &HeaderMap,
    body: Body,
) -> ApiResult {
    let also_tag = tag_params
        .iter()
        .map(|t| Tag::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", e.to_string()))?;
    let limit = app.limits.max_manifest_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "SIZE_INVALID",
            format!("manifest exceeds the limit of {limit} bytes"),
        )
    };
    if let Some(cl) = header_str(h, header::CONTENT_LENGTH)
        && cl.trim().parse::<usize>().is_ok_and(|n| n > limit)
    {
        return Err(too_large());
    }
    let bytes = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", e.to_string())
            }
        })?
        .to_bytes();
    if zoll_oci::json::too_deep(&bytes, app.limits.max_json_depth) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            format!(
                "manifest JSON nests deeper than {} levels",
                app.limits.max_json_depth
            ),
        ));
    }
    let content_type = header_str(h, header::CONTENT_TYPE);
    let tags: Vec<&str> = match reference {
        Reference::Tag(t) => Some(t.as_str()),
        Reference::Digest(_) => None,
    }
    .into_iter()
    .chain(also_tag.iter().map(Tag::as_str))
    .collect();
    let policy = crate::push_rules::push_policy(&app.store, repo.as_str(), &tags).await?;
    let put = app
        .store
        .put_manifest_with(repo, reference, &also_tag, content_type, &bytes, &policy)
        .await?;
    let mut resp = (
        StatusCode::CREATED,
        [
            (
                header::LOCATION,
                hv(&format!("/v2/{repo}/manifests/{}", put.digest)),
            ),
            (header::CONTENT_LENGTH, hv("0")),
        ],
    )
        .into_response();
    let hdrs = resp.headers_mut();
    hdrs.insert("Docker-Content-Digest", hv(put.digest.as_str()));
    if !also_tag.is_empty() {
        let tags: Vec<&str> = also_tag.iter().map(Tag::as_str).collect();
        hdrs.insert("OCI-Tag", hv(&tags.join(", ")));
    }
    if let Some(subject) = put.subject {
        hdrs.insert("OCI-Subject", hv(subject.as_str()));
    }
    Ok(resp)
}

pub(crate) async fn delete(app: &App, repo: &RepoName, reference: &Reference) -> ApiResult {
    let tags = match reference {
        Reference::Tag(t) => vec![t.as_str().to_owned()],
        // A delete checks every tag (immutable-tag rules): all of them.
        Reference::Digest(d) => app.store.tags_of(repo, d, u64::MAX).await?,
    };
    crate::push_rules::check_delete(&app.store, repo.as_str(), &tags).await?;
    app.store.delete_manifest(repo, reference).await?;
    Ok((StatusCode::ACCEPTED, [(header::CONTENT_LENGTH, "0")]).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoll_oci::media_types as mt;

    #[test]
    fn accept_negotiation() {
        let check = |accept: &[&str], media_type: &str, expect: bool| {
            let mut h = HeaderMap::new();
            for a in accept {
                h.append(header::ACCEPT, a.parse().unwrap());
            }
            assert_eq!(accepts(&h, media_type), expect, "{accept:?} {media_type}");
        };
        check(&[], mt::OCI_MANIFEST, true);
        check(&["*/*"], mt::OCI_MANIFEST, true);
        check(&[mt::DOCKER_MANIFEST], mt::OCI_MANIFEST, false);
        check(
            &[mt::DOCKER_MANIFEST, mt::OCI_MANIFEST],
            mt::OCI_MANIFEST,
            true,
        );
        check(
            &["application/vnd.oci.image.manifest.v1+json; q=0.5, text/plain"],
            mt::OCI_MANIFEST,
            true,
        );
        check(&[mt::OCI_INDEX], mt::OCI_MANIFEST, false);
    }
}
