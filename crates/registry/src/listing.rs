//! Tag list and catalog with `n`/`last` pagination, and the referrers API.

use std::collections::HashMap;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use zoll_oci::{Digest, RepoName, media_types as mt};

use crate::error::{ApiError, ApiResult};
use crate::{App, Identity, hv};

/// `n` and `last` from the query; `n` is capped by the configured page limit.
fn page(app: &App, q: &HashMap<String, String>) -> ApiResult<(u64, Option<String>)> {
    let n = match q.get("n") {
        Some(n) => n.parse::<u64>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
                "n must be a non-negative integer",
            )
        })?,
        None => app.limits.max_page,
    };
    Ok((n.min(app.limits.max_page), q.get("last").cloned()))
}

/// Fetches one more than asked to know whether a `Link` to the next page is due.
fn paginate(mut items: Vec<String>, n: u64, path: &str) -> (Vec<String>, Option<String>) {
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if items.len() <= n {
        return (items, None);
    }
    items.truncate(n);
    let link = items
        .last()
        .map(|last| format!("<{path}?n={n}&last={last}>; rel=\"next\""));
    (items, link)
}

fn with_link(body: serde_json::Value, link: Option<String>) -> Response {
    let mut resp = axum::Json(body).into_response();
    if let Some(link) = link {
        resp.headers_mut().insert(header::LINK, hv(&link));
    }
    resp
}

pub(crate) async fn tags(app: &App, repo: &RepoName, q: &HashMap<String, String>) -> ApiResult {
    let (n, last) = page(app, q)?;
    let items = app.store.tags(repo, last.as_deref(), n + 1).await?;
    let (tags, link) = paginate(items, n, &format!("/v2/{repo}/tags/list"));
    Ok(with_link(
        json!({ "name": repo.as_str(), "tags": tags }),
        link,
    ))
}

/// The projects whose repositories `id` may list: `None` for all (administrators, no
/// authentication), else its memberships and the public projects (a robot: its own).
pub(crate) async fn visible_projects(app: &App, id: &Identity) -> ApiResult<Option<Vec<String>>> {
    use crate::auth::Principal;
    let account = match &id.principal {
        Principal::Unrestricted => return Ok(None),
        Principal::Anonymous => None,
        Principal::Account(a) if a.admin => return Ok(None),
        Principal::Account(a) => Some(a),
    };
    if let Some(robot) = account.filter(|a| a.kind == zoll_store::AccountKind::Robot) {
        return Ok(Some(robot.project.iter().cloned().collect()));
    }
    let mut projects: Vec<String> = match account {
        Some(a) => app
            .store
            .memberships(&a.name)
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .collect(),
        None => Vec::new(),
    };
    projects.extend(
        app.store
            .projects()
            .await?
            .into_iter()
            .filter(|p| p.public)
            .map(|p| p.name),
    );
    projects.sort();
    projects.dedup();
    Ok(Some(projects))
}

/// Whether `project` is outside the sorted `visible` projects (`None`: every project).
pub(crate) fn outside(visible: Option<&[String]>, project: &str) -> bool {
    visible.is_some_and(|v| v.binary_search_by(|p| p.as_str().cmp(project)).is_err())
}

/// The repositories the caller may pull from, page by page. Only the projects it can see
/// are queried, so a caller who sees few repositories never walks all of them; a robot's
/// rows are filtered by its repository patterns.
pub(crate) async fn catalog(app: &App, id: &Identity, q: &HashMap<String, String>) -> ApiResult {
    let (n, last) = page(app, q)?;
    let visible = visible_projects(app, id).await?;
    let is_robot = id
        .account()
        .is_some_and(|a| a.kind == zoll_store::AccountKind::Robot);
    let mut items = Vec::new();
    let mut after = last;
    loop {
        let want = n + 1 - items.len() as u64;
        let rows = match &visible {
            None => Some(app.store.catalog(after.as_deref(), want).await?),
            Some(projects) => {
                app.store
                    .catalog_in(projects, after.as_deref(), want)
                    .await?
            }
        };
        // More visible projects than one query names: the whole catalog, filtered.
        let (rows, filter) = match rows {
            Some(rows) => (rows, is_robot),
            None => (app.store.catalog(after.as_deref(), want).await?, true),
        };
        let exhausted = (rows.len() as u64) < want;
        after = rows.last().cloned();
        for r in rows {
            if !filter
                || crate::access::allowed(&app.store, id, crate::access::Action::Pull, &r).await?
            {
                items.push(r);
            }
        }
        if exhausted || items.len() as u64 > n || after.is_none() {
            break;
        }
    }
    let (repos, link) = paginate(items, n, "/v2/_catalog");
    Ok(with_link(json!({ "repositories": repos }), link))
}

/// Most referrers one page of the referrers API lists, and the most annotation bytes it
/// carries (a referrer's annotations can be megabytes; the next page follows the `Link`).
const REFERRERS_PAGE: u64 = 1000;
const REFERRERS_PAGE_BYTES: usize = 4 << 20;

pub(crate) async fn referrers(
    app: &App,
    repo: &RepoName,
    subject: &Digest,
    q: &HashMap<String, String>,
) -> ApiResult {
    let filter = q.get("artifactType").map(String::as_str);
    let (n, last) = page(app, q)?;
    let n = n.min(REFERRERS_PAGE);
    let page = zoll_store::ReferrerPage {
        artifact_type: filter,
        after: last.as_deref(),
        limit: n + 1,
        annotations: true,
    };
    let rows = app.store.referrers(repo, subject, &page).await?;
    let mut manifests = Vec::new();
    let mut bytes = 0;
    let mut next = None;
    for (i, r) in rows.into_iter().enumerate() {
        let size = r.annotations.as_deref().map_or(0, str::len);
        if i as u64 == n || (!manifests.is_empty() && bytes + size > REFERRERS_PAGE_BYTES) {
            next = manifests
                .last()
                .and_then(|m: &serde_json::Value| m["digest"].as_str().map(str::to_owned));
            break;
        }
        bytes += size;
        let mut d = json!({ "mediaType": r.media_type, "digest": r.digest, "size": r.size });
        if let Some(t) = r.artifact_type {
            d["artifactType"] = json!(t);
        }
        if let Some(a) = r
            .annotations
            .and_then(|a| serde_json::from_str::<serde_json::Value>(&a).ok())
        {
            d["annotations"] = a;
        }
        manifests.push(d);
    }
    let body = json!({ "schemaVersion": 2, "mediaType": mt::OCI_INDEX, "manifests": manifests });
    let mut resp = axum::Json(body).into_response();
    let hdrs = resp.headers_mut();
    hdrs.insert(header::CONTENT_TYPE, hv(mt::OCI_INDEX));
    if let Some(f) = filter {
        hdrs.insert("OCI-Filters-Applied", hv("artifactType"));
        if let Some(last) = &next {
            let filter = form_urlencoded(f);
            hdrs.insert(
                header::LINK,
                hv(&format!(
                    "</v2/{repo}/referrers/{subject}?n={n}&last={last}&artifactType={filter}>; rel=\"next\""
                )),
            );
        }
    } else if let Some(last) = &next {
        hdrs.insert(
            header::LINK,
            hv(&format!(
                "</v2/{repo}/referrers/{subject}?n={n}&last={last}>; rel=\"next\""
            )),
        );
    }
    Ok(resp)
}

/// A query value with everything but unreserved characters percent-encoded.
fn form_urlencoded(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
