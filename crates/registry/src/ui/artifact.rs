//! The artifact page (`/ui/repositories/{repo}/artifacts/{digest}`) and its "why is this
//! blocked?" page (`…/{digest}/explain`). Both are authorized as a pull of the repository,
//! exactly as `/v2/` and the scans API decide it, and read only what is bounded: one
//! manifest, at most [`MAX_TAGS`] tags, [`MAX_REFERRERS`] referrers a node of the tree, one
//! level below each referrer, [`MAX_CHILDREN`] children of an index, the scan row. The
//! signatures are read and verified by the policy engine (`Engine::signatures`), within
//! the gate's evidence bounds (`zoll_trust::signatures`) and its bound on concurrent loads;
//! the decision is the engine's (`Engine::decide`), as the pull gate asks it.
//!
//! Evidence that cannot be read is shown as an error, never as its absence.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use zoll_oci::{Digest, Manifest, Reference, RepoName};
use zoll_policy::Decision;
use zoll_store::{ReferrerPage, ReferrerRow, ScanRow, StoreError, StoredManifest};

use super::session::Session;
use super::{Failure, artifact_view, pages};
use crate::App;
use crate::access::{Action, allowed};
use crate::gate::{StoreSource, described, is_runnable, pull_target};

/// Tags of the artifact shown at most.
pub(super) const MAX_TAGS: u64 = 50;
/// Referrers listed per node of the tree at most (the page says when there are more).
pub(super) const MAX_REFERRERS: u64 = 100;
/// Children of an index listed at most.
pub(super) const MAX_CHILDREN: usize = 64;
/// Findings shown at most (the worst first); the scans API has all of them.
pub(super) const MAX_FINDINGS: usize = 500;
/// Largest stored SBOM a page reads, and the packages it lists at most (those matching
/// the page's filter, by name).
const MAX_SBOM: u64 = 16 << 20;
pub(super) const MAX_PACKAGES: usize = 200;

/// A referrer and, one level down, its own referrers (a signature of an SBOM, …).
pub(super) struct Referrer {
    pub(super) row: ReferrerRow,
    pub(super) below: Listed<ReferrerRow>,
}

/// A bounded listing: the rows, whether there were more, or why it could not be read.
pub(super) type Listed<T> = Result<(Vec<T>, bool), String>;

/// A child of an index: its descriptor, its platform as the index states it, and its
/// referrers.
pub(super) struct Child {
    pub(super) digest: String,
    pub(super) media_type: String,
    pub(super) platform: String,
    pub(super) referrers: Listed<ReferrerRow>,
}

/// What the page says about signatures.
pub(super) enum Signatures {
    /// Verified by the registry's trust policy: accepted (with the stage each counts for)
    /// and rejected, each with its format.
    Verified(zoll_policy::Signatures),
    /// No trust policy is configured: nothing to verify against.
    NoPolicy,
    /// The evidence could not be read (or exceeds the bounds): an error, never "none".
    Unreadable(String),
}

/// The registry's scan of the artifact.
pub(super) enum Scan {
    None,
    /// Queued, running, failed or encrypted: its state and error.
    Pending(ScanRow),
    Done {
        row: ScanRow,
        inputs: crate::scan_gate::GateInputs,
        /// The SBOM's packages matching the filter (at most [`MAX_PACKAGES`]) and how many
        /// matched, or why the SBOM could not be read.
        packages: Result<(Vec<zoll_scan::catalog::Package>, usize), String>,
    },
    Unreadable(String),
}

pub(super) struct Artifact {
    pub(super) repo: String,
    pub(super) digest: String,
    pub(super) media_type: String,
    pub(super) manifest_size: u64,
    pub(super) manifest: Option<Manifest>,
    pub(super) tags: (Vec<String>, bool),
    pub(super) children: Vec<Child>,
    pub(super) children_more: bool,
    pub(super) referrers: Listed<Referrer>,
    pub(super) signatures: Signatures,
    pub(super) scan: Scan,
    pub(super) gated: bool,
    /// The SBOM package filter (`q`).
    pub(super) filter: String,
}

/// The path of an artifact's page.
pub(super) fn href(repo: &str, digest: &str) -> String {
    format!("/ui/repositories/{repo}/artifacts/{digest}")
}

/// `…/artifacts/{digest}[/explain]` of a `/ui/repositories/` path: the repository, the
/// digest and whether the explanation is asked for. `None` when the path names no artifact
/// (a digest has a `:`, which no repository name has, so a repository may be called
/// `artifacts`).
pub(super) fn parse_path(rest: &str) -> Option<(&str, &str, bool)> {
    let (repo, tail) = rest.rsplit_once("/artifacts/")?;
    let (digest, explain) = match tail.strip_suffix("/explain") {
        Some(d) => (d, true),
        None => (tail, false),
    };
    digest.contains(':').then_some((repo, digest, explain))
}

/// Authorizes a pull of `name` (as `/v2/` and `GET /api/v1/scans` would) and reads the
/// manifest `digest` names in it.
async fn authorized(
    app: &App,
    s: &Session,
    name: &str,
    digest: &str,
    source: &str,
) -> Result<(RepoName, Arc<StoredManifest>), Failure> {
    let repo = app.repo(name)?;
    let c = super::ctx(app, s, source);
    c.require(Action::Pull, repo.as_str(), "repository.read")
        .await?;
    let digest: Digest = digest
        .parse()
        .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, format!("{e}")))?;
    match app
        .store
        .manifest(&repo, &Reference::Digest(digest.clone()))
        .await
    {
        Ok(m) => Ok((repo, m)),
        Err(StoreError::ManifestUnknown(_) | StoreError::NameUnknown(_)) => Err(Failure::new(
            StatusCode::NOT_FOUND,
            format!("{repo}@{digest} not found"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// At most [`MAX_REFERRERS`] referrers of `subject`, with their annotations.
async fn referrers_of(app: &App, repo: &RepoName, subject: &Digest) -> Listed<ReferrerRow> {
    let page = ReferrerPage {
        limit: MAX_REFERRERS + 1,
        annotations: true,
        ..Default::default()
    };
    match app.store.referrers(repo, subject, &page).await {
        Ok(mut rows) => {
            let more = rows.len() as u64 > MAX_REFERRERS;
            rows.truncate(MAX_REFERRERS as usize);
            Ok((rows, more))
        }
        Err(e) => {
            tracing::error!(error = %e, "console: referrers unreadable");
            Err(format!("the referrers of {subject} cannot be read"))
        }
    }
}

/// The platform an index entry states (`os/architecture[/variant]`), from the stored
/// bytes (`zoll_oci::Descriptor` keeps no platform).
fn platforms(content: &[u8]) -> HashMap<String, String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(content) else {
        return HashMap::new();
    };
    let mut out = HashMap::new();
    for m in v["manifests"].as_array().into_iter().flatten() {
        let (Some(d), Some(p)) = (m["digest"].as_str(), m.get("platform")) else {
            continue;
        };
        let mut text = format!(
            "{}/{}",
            p["os"].as_str().unwrap_or("?"),
            p["architecture"].as_str().unwrap_or("?")
        );
        if let Some(v) = p["variant"].as_str() {
            text.push('/');
            text.push_str(v);
        }
        out.insert(d.to_owned(), text);
    }
    out
}

/// The registry's scan of `digest`, its findings and lint read as the gate reads them
/// (`scan_gate::gate_inputs`: unreadable stored results are an error).
async fn scan_of(app: &App, repo: &RepoName, digest: &Digest, filter: &str) -> Scan {
    let row = match app.store.scan(repo, digest).await {
        Ok(Some(row)) => row,
        Ok(None) => return Scan::None,
        Err(e) => {
            tracing::error!(error = %e, "console: scan unreadable");
            return Scan::Unreadable("the scan of this artifact cannot be read".into());
        }
    };
    if row.state != "done" {
        return Scan::Pending(row);
    }
    match crate::scan_gate::gate_inputs(&app.store, repo, digest).await {
        Ok(Some(mut inputs)) => {
            inputs
                .findings
                .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
            let packages = sbom_packages(app, repo, &row, filter).await;
            Scan::Done {
                row,
                inputs,
                packages,
            }
        }
        // Finished a moment ago and rescanned since: show the state now.
        Ok(None) => Scan::Pending(row),
        Err(e) => Scan::Unreadable(e.to_string()),
    }
}

/// The packages of the scan's stored SBOM whose names contain `filter` (ignoring case), read
/// as the re-match reads it (`scanner::read_doc`) within [`MAX_SBOM`] bytes.
async fn sbom_packages(
    app: &App,
    repo: &RepoName,
    row: &ScanRow,
    filter: &str,
) -> Result<(Vec<zoll_scan::catalog::Package>, usize), String> {
    let unreadable = |why: String| {
        tracing::error!(error = %why, "console: SBOM unreadable");
        "the SBOM of this scan cannot be read".to_owned()
    };
    let digest: Digest = row
        .sbom_digest
        .as_deref()
        .ok_or("the scan recorded no SBOM")?
        .parse()
        .map_err(|e| unreadable(format!("{e}")))?;
    let bytes = crate::scanner::read_doc(&app.store, repo, &digest, MAX_SBOM)
        .await
        .map_err(|e| unreadable(e.to_string()))?;
    let doc: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?;
    let (_, catalog) =
        zoll_scan::sbom::from_cyclonedx(&doc).map_err(|e| unreadable(e.to_string()))?;
    let needle = filter.to_lowercase();
    let mut matching: Vec<_> = catalog
        .packages
        .into_iter()
        .filter(|p| p.name.to_lowercase().contains(&needle))
        .collect();
    let total = matching.len();
    matching.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
    matching.truncate(MAX_PACKAGES);
    Ok((matching, total))
}

/// The signatures of the artifact, verified by the registry's trust policy.
async fn signatures_of(app: &App, repo: &RepoName, m: &StoredManifest) -> Signatures {
    let Some(engine) = &app.pull_gate else {
        return Signatures::NoPolicy;
    };
    let subject = described(m);
    match engine
        .signatures(
            pull_target(app, repo, &subject),
            &StoreSource::new(app.store.clone()),
        )
        .await
    {
        Ok(report) => Signatures::Verified(report),
        Err(e) => Signatures::Unreadable(e.to_string()),
    }
}

/// The artifact page.
pub(super) async fn page(
    app: &App,
    s: &Session,
    name: &str,
    digest: &str,
    filter: &str,
    source: &str,
) -> Result<maud::Markup, Failure> {
    let (repo, m) = authorized(app, s, name, digest, source).await?;
    let manifest = Manifest::parse(&m.content, Some(&m.media_type)).ok();
    let mut tags = app.store.tags_of(&repo, &m.digest, MAX_TAGS + 1).await?;
    let tags_more = tags.len() as u64 > MAX_TAGS;
    tags.truncate(MAX_TAGS as usize);

    let mut children = Vec::new();
    let mut children_more = false;
    if let Some(index) = manifest.as_ref().filter(|x| !x.manifests.is_empty()) {
        let stated = platforms(&m.content);
        children_more = index.manifests.len() > MAX_CHILDREN;
        for d in index.manifests.iter().take(MAX_CHILDREN) {
            children.push(Child {
                digest: d.digest.to_string(),
                media_type: d.media_type.clone(),
                platform: stated.get(d.digest.as_str()).cloned().unwrap_or_default(),
                referrers: referrers_of(app, &repo, &d.digest).await,
            });
        }
    }

    let referrers = match referrers_of(app, &repo, &m.digest).await {
        Ok((rows, more)) => {
            let mut tree = Vec::with_capacity(rows.len());
            for row in rows {
                let below = match row.digest.parse::<Digest>() {
                    Ok(d) => referrers_of(app, &repo, &d).await,
                    Err(e) => Err(format!("stored referrer digest {}: {e}", row.digest)),
                };
                tree.push(Referrer { row, below });
            }
            Ok((tree, more))
        }
        Err(e) => Err(e),
    };
    let signatures = signatures_of(app, &repo, &m).await;
    let scan = scan_of(app, &repo, &m.digest, filter).await;
    let gated = is_runnable(&m.media_type, &m.content);
    Ok(artifact_view::artifact(
        &pages::Frame::of(s),
        &Artifact {
            repo: repo.as_str().to_owned(),
            digest: m.digest.to_string(),
            media_type: m.media_type.clone(),
            manifest_size: m.content.len() as u64,
            manifest,
            tags: (tags, tags_more),
            children,
            children_more,
            referrers,
            signatures,
            scan,
            gated,
            filter: filter.to_owned(),
        },
    ))
}

/// What the explanation page shows.
pub(super) enum Explanation {
    /// `[policy]` is not configured: the pull gate lets everything through.
    NoPolicy,
    /// Signatures, SBOMs and other artifacts that cannot run are never gated.
    NotGated,
    Decided {
        decision: Decision,
        /// The viewer holds `pull-ungated` here: their own pulls pass regardless.
        ungated: bool,
    },
    /// The policy could not be evaluated: the gate refuses (503) and so says this page.
    Failed(String),
}

/// "Why is this blocked?": the pull gate's decision for this digest, as the gate makes it.
pub(super) async fn explain(
    app: &App,
    s: &Session,
    name: &str,
    digest: &str,
    source: &str,
) -> Result<maud::Markup, Failure> {
    let (repo, m) = authorized(app, s, name, digest, source).await?;
    let explanation = match &app.pull_gate {
        None => Explanation::NoPolicy,
        Some(_) if !is_runnable(&m.media_type, &m.content) => Explanation::NotGated,
        Some(engine) => {
            let subject = described(&m);
            match engine
                .decide(
                    pull_target(app, &repo, &subject),
                    &StoreSource::new(app.store.clone()),
                )
                .await
            {
                Ok(decision) => {
                    let ungated =
                        !matches!(s.identity.principal, crate::auth::Principal::Unrestricted)
                            && allowed(&app.store, &s.identity, Action::PullUngated, repo.as_str())
                                .await?;
                    Explanation::Decided { decision, ungated }
                }
                Err(e) => Explanation::Failed(e.to_string()),
            }
        }
    };
    Ok(artifact_view::explain(
        &pages::Frame::of(s),
        repo.as_str(),
        m.digest.as_str(),
        &explanation,
    ))
}

/// What the tags list shows of each row's artifact beyond the tag row itself. Each row
/// costs three bounded reads (one page of referrers, the scan row, the manifest from the
/// store's cache), so a page of `n` rows does at most `3 n`; the stages reached need the
/// signatures loaded and verified, which is not bounded enough for a list: the row links to
/// the explanation instead.
pub(super) struct RowFacts {
    /// Signature referrers (Notation, sigstore bundles) counted; `true`: more than listed.
    pub(super) signatures: Result<(usize, bool), String>,
    pub(super) scan: RowScan,
    /// Layers with an encrypted media type; `None` for an index (its children have layers).
    pub(super) encrypted: Result<Option<usize>, String>,
}

pub(super) enum RowScan {
    None,
    Pending(String),
    Done {
        /// Counts by severity (worst first), suppressed findings not counted.
        counts: Vec<(&'static str, u64)>,
        suppressed: u64,
        lint: String,
        /// Matched against a vulnerability database (without one, no finding means nothing).
        matched: bool,
    },
    Unreadable,
}

/// Severities as the scan summary keys them, worst first.
const SEVERITIES: [(&str, &str); 5] = [
    ("critical", "CRITICAL"),
    ("high", "HIGH"),
    ("medium", "MEDIUM"),
    ("low", "LOW"),
    ("unknown", "UNKNOWN"),
];

fn row_scan(row: Option<ScanRow>) -> RowScan {
    let Some(row) = row else {
        return RowScan::None;
    };
    if row.state != "done" {
        return RowScan::Pending(row.state);
    }
    let Some(sum) = row
        .summary
        .as_deref()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
    else {
        return RowScan::Unreadable;
    };
    let Some(by) = sum["vulnerabilities"].as_object() else {
        return RowScan::Unreadable;
    };
    RowScan::Done {
        counts: SEVERITIES
            .iter()
            .map(|(key, word)| (*word, by.get(*key).and_then(|v| v.as_u64()).unwrap_or(0)))
            .collect(),
        suppressed: sum["suppressed"].as_u64().unwrap_or(0),
        lint: sum["lint_worst"].as_str().unwrap_or("unknown").to_owned(),
        matched: row.db_version.is_some(),
    }
}

/// The facts of each tag row, in order.
pub(super) async fn row_facts(
    app: &App,
    repo: &RepoName,
    rows: &[zoll_store::TagRow],
) -> Result<Vec<RowFacts>, Failure> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let Ok(digest) = r.digest.parse::<Digest>() else {
            out.push(RowFacts {
                signatures: Err("unreadable digest".into()),
                scan: RowScan::Unreadable,
                encrypted: Err("unreadable digest".into()),
            });
            continue;
        };
        let signatures = referrers_of(app, repo, &digest).await.map(|(rows, more)| {
            let n = rows
                .iter()
                .filter(|x| zoll_trust::signatures::is_signature_type(x.artifact_type.as_deref()))
                .count();
            (n, more)
        });
        let scan = match app.store.scan(repo, &digest).await {
            Ok(row) => row_scan(row),
            Err(_) => RowScan::Unreadable,
        };
        let encrypted = match app
            .store
            .manifest(repo, &Reference::Digest(digest.clone()))
            .await
        {
            Ok(m) => match Manifest::parse(&m.content, Some(&m.media_type)) {
                Ok(x) if !x.manifests.is_empty() => Ok(None),
                Ok(x) => Ok(Some(
                    x.layers
                        .iter()
                        .filter(|l| zoll_oci::is_encrypted_layer(&l.media_type))
                        .count(),
                )),
                Err(_) => Err("unreadable manifest".into()),
            },
            // Deleted since the page's query: that row says so, the page stands.
            Err(StoreError::ManifestUnknown(_) | StoreError::NameUnknown(_)) => {
                Err("deleted".into())
            }
            Err(e) => return Err(e.into()),
        };
        out.push(RowFacts {
            signatures,
            scan,
            encrypted,
        });
    }
    Ok(out)
}
