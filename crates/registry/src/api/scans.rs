//! Scan results in the management API:
//! - `GET /api/v1/scans?repository=R&digest=D` (or `&tag=T`): state, summary, findings and
//!   lint of an image;
//! - `GET /api/v1/scans?repository=R[&last=D]`: the repository's scans, a page at a time
//!   (state and summary; `next` names the following page);
//! - `POST /api/v1/scans` `{"repository": R, "digest": D}` (or `"tag": T`): scan it (again);
//! - `GET /api/v1/vulnerabilities/ID`: the images whose findings name an advisory id or
//!   alias, limited to the projects the caller may pull from.

use axum::body::Body;
use serde::Deserialize;
use serde_json::{Value, json};
use zoll_oci::{Digest, Reference, RepoName, Tag};
use zoll_store::{ScanRow, StoreError};

use crate::access::{Action, allowed, project_of};
use crate::api::{Ctx, bad, json_body, not_found, ok};
use crate::error::ApiResult;

pub(super) async fn route(c: &Ctx<'_>, m: &str, segs: &[&str], body: Body) -> ApiResult {
    match (m, segs) {
        ("GET", ["scans"]) => get(c).await,
        ("POST", ["scans"]) => rescan(c, body).await,
        ("GET", ["vulnerabilities", id]) => affected(c, id).await,
        _ => Err(not_found("endpoint")),
    }
}

/// The image a request names: a repository and a digest, or a tag resolved here.
async fn target(
    c: &Ctx<'_>,
    repository: &str,
    digest: Option<&str>,
    tag: Option<&str>,
) -> ApiResult<(RepoName, Digest)> {
    let repo = RepoName::parse(repository, 255).map_err(|e| bad(e.to_string()))?;
    let digest = match (digest, tag) {
        (Some(d), None) => d.parse().map_err(|e| bad(format!("{e}")))?,
        (None, Some(t)) => {
            let tag = Tag::parse(t).map_err(|e| bad(e.to_string()))?;
            match c.app.store.manifest(&repo, &Reference::Tag(tag)).await {
                Ok(m) => m.digest.clone(),
                Err(StoreError::ManifestUnknown(_)) => {
                    return Err(not_found(&format!("{repo}:{t}")));
                }
                Err(e) => return Err(e.into()),
            }
        }
        _ => return Err(bad("name the image by digest or by tag, not both")),
    };
    Ok((repo, digest))
}

/// One scan as listed: what it found in sum, not the findings.
fn summary_json(row: &ScanRow) -> Value {
    json!({
        "repository": row.repo,
        "digest": row.digest,
        "state": row.state,
        "finished": row.finished_ms.map(zoll_stdx::time::rfc3339_ms),
        "database": row.db_version,
        "summary": parsed(row.summary.as_deref()),
        "error": row.error,
    })
}

/// Scans listed per page of `GET /scans?repository=R` at most.
const SCANS_PAGE: u64 = 500;

async fn list(c: &Ctx<'_>, repository: &str) -> ApiResult {
    let repo = RepoName::parse(repository, 255).map_err(|e| bad(e.to_string()))?;
    c.require(Action::Pull, repo.as_str(), "scan.read").await?;
    let last = c.query.get("last").map(String::as_str).unwrap_or("");
    let rows = c.app.store.scans_in(&repo, last, SCANS_PAGE).await?;
    let next = (rows.len() as u64 == SCANS_PAGE)
        .then(|| rows.last().map(|r| r.digest.clone()))
        .flatten();
    ok(json!({
        "scans": rows.iter().map(summary_json).collect::<Vec<_>>(),
        "next": next,
    }))
}

fn parsed(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

pub(super) async fn get(c: &Ctx<'_>) -> ApiResult {
    let Some(r) = c.query.get("repository") else {
        return Err(bad("the repository query parameter is required"));
    };
    let (d, t) = (c.query.get("digest"), c.query.get("tag"));
    if d.is_none() && t.is_none() {
        return list(c, r).await;
    }
    let (repo, digest) = target(c, r, d.map(String::as_str), t.map(String::as_str)).await?;
    c.require(Action::Pull, repo.as_str(), "scan.read").await?;
    let Some(row) = c.app.store.scan(&repo, &digest).await? else {
        return Err(not_found(&format!("scan of {repo}@{digest}")));
    };
    ok(json!({
        "repository": row.repo,
        "digest": row.digest,
        "state": row.state,
        "attempts": row.attempts,
        "queued": zoll_stdx::time::rfc3339_ms(row.queued_ms),
        "finished": row.finished_ms.map(zoll_stdx::time::rfc3339_ms),
        "error": row.error,
        "database": row.db_version,
        "sbom": row.sbom_digest,
        "report": row.report_digest,
        "summary": parsed(row.summary.as_deref()),
        "vulnerabilities": parsed(row.findings.as_deref()),
        "lint": parsed(row.lint.as_deref()),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rescan {
    repository: String,
    digest: Option<String>,
    tag: Option<String>,
}

pub(super) async fn rescan(c: &Ctx<'_>, body: Body) -> ApiResult {
    let req: Rescan = json_body(body).await?;
    let (repo, digest) = target(
        c,
        &req.repository,
        req.digest.as_deref(),
        req.tag.as_deref(),
    )
    .await?;
    c.require(Action::Push, repo.as_str(), "scan.request")
        .await?;
    c.app.store.rescan(&repo, &digest).await?;
    c.app.scanner.wakeup.notify_one();
    c.audit("scan.request", &format!("{repo}@{digest}"), "ok", "")
        .await;
    ok(json!({"repository": repo.as_str(), "digest": digest, "state": "queued"}))
}

/// Images listed per page of `/vulnerabilities/{id}` at most.
const AFFECTED_PAGE: u64 = 1000;

/// `GET /api/v1/vulnerabilities/{id}?last=REPO@DIGEST`: the images the caller may pull whose
/// findings name the advisory, a page at a time (`next` names the following page). Only
/// the caller's visible projects are looked at row by row.
pub(super) async fn affected(c: &Ctx<'_>, ident: &str) -> ApiResult {
    if ident.is_empty() || ident.len() > 128 {
        return Err(bad("an advisory id is 1 to 128 characters"));
    }
    let last = c.query.get("last").map(String::as_str).unwrap_or("");
    let (after_repo, after_digest) = last.split_once('@').unwrap_or((last, ""));
    let visible = crate::listing::visible_projects(c.app, c.id).await?;
    let is_robot =
        c.id.account()
            .is_some_and(|a| a.kind == zoll_store::AccountKind::Robot);
    let rows = c
        .app
        .store
        .images_affected_by(ident, (after_repo, after_digest), AFFECTED_PAGE)
        .await?;
    let next = (rows.len() as u64 == AFFECTED_PAGE)
        .then(|| rows.last().map(|r| format!("{}@{}", r.repo, r.digest)))
        .flatten();
    let mut images = Vec::new();
    let mut robot_may: std::collections::HashMap<String, bool> = Default::default();
    for img in rows {
        let project = project_of(&img.repo);
        if crate::listing::outside(visible.as_deref(), project) {
            continue;
        }
        if is_robot {
            let may = match robot_may.get(&img.repo) {
                Some(m) => *m,
                None => {
                    let m = allowed(&c.app.store, c.id, Action::Pull, &img.repo).await?;
                    robot_may.insert(img.repo.clone(), m);
                    m
                }
            };
            if !may {
                continue;
            }
        }
        images.push(json!({
            "repository": img.repo,
            "project": project,
            "digest": img.digest,
            "severity": img.severity,
            "suppressed": img.suppressed,
        }));
    }
    ok(json!({"id": ident, "images": images, "next": next}))
}
