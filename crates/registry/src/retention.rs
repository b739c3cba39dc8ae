//! Retention: per project, which tagged artifacts to keep; the others are deleted (their
//! tags with them; their blobs, signatures and other referrers follow through garbage
//! collection). An artifact is kept if ANY rule keeps it: among the newest `keep_last` by push
//! time in its repository, a tag matching `keep_tags`, pushed within `keep_days`, signed
//! (a signature referrer or a cosign `.sig` tag), or carrying an immutable tag. Manifests
//! that only carry signature/referrer tags are not artifacts of their own here.

use serde::{Deserialize, Serialize};
use zoll_store::{AuditEntry, StoreError};

use zoll_glob::Glob;

use crate::App;
use crate::push_rules::{is_immutable, is_supplement_tag, rules};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_days: Option<u32>,
}

impl RetentionPolicy {
    /// A policy must keep something by rule; one that names nothing would delete everything
    /// unsigned and is refused.
    pub fn is_valid(&self) -> bool {
        // A rule that keeps nothing (`keep_last: 0`, `keep_days: 0`, an empty pattern) is no
        // rule: alone it would delete everything unsigned.
        let last = self.keep_last.is_some_and(|n| n > 0);
        let days = self.keep_days.is_some_and(|d| d > 0);
        let tags = !self.keep_tags.is_empty();
        let no_empty = self.keep_last != Some(0)
            && self.keep_days != Some(0)
            && self.keep_tags.iter().all(|t| Glob::parse(t).is_ok());
        no_empty && (last || days || tags)
    }
}

/// Artifact types of signatures (Notation, cosign).
const SIGNATURE_TYPES: [&str; 3] = [
    "application/vnd.cncf.notary.signature",
    "application/vnd.dev.cosign.artifact.sig.v1+json",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionItem {
    pub repository: String,
    pub digest: String,
    pub tags: Vec<String>,
    pub pushed_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionReport {
    pub dry_run: bool,
    pub deleted: Vec<RetentionItem>,
    pub kept: Vec<RetentionItem>,
}

/// Applies the project's policy (or reports what it would do with `dry_run`).
pub async fn run(app: &App, project: &str, dry_run: bool) -> Result<RetentionReport, StoreError> {
    let mut report = RetentionReport {
        dry_run,
        ..RetentionReport::default()
    };
    let Some(p) = app.store.project(project).await? else {
        return Ok(report);
    };
    let Some(policy) = p
        .retention
        .as_deref()
        .and_then(|r| serde_json::from_str::<RetentionPolicy>(r).ok())
        .filter(RetentionPolicy::is_valid)
    else {
        return Ok(report);
    };
    let immutable = rules(&p)?;
    // All parse: `is_valid` checked them.
    let keep_tags: Vec<Glob> = policy
        .keep_tags
        .iter()
        .filter_map(|t| Glob::parse(t).ok())
        .collect();
    let now = app.store.now_ms();
    for repo in app.store.project_repositories(project).await? {
        let mut artifacts = app.store.tagged_artifacts(&repo).await?;
        artifacts.retain(|a| a.tags.iter().any(|t| !is_supplement_tag(t)));
        artifacts.sort_by(|a, b| b.pushed_ms.cmp(&a.pushed_ms).then(a.digest.cmp(&b.digest)));
        for (rank, a) in artifacts.into_iter().enumerate() {
            let signed = a
                .referrer_types
                .iter()
                .any(|t| SIGNATURE_TYPES.contains(&t.as_str()))
                || a.cosign_signature;
            let keep = policy.keep_last.is_some_and(|n| rank < n as usize)
                || a.tags
                    .iter()
                    .any(|t| keep_tags.iter().any(|pat| pat.matches(t)))
                || policy
                    .keep_days
                    .is_some_and(|d| now - a.pushed_ms < i64::from(d) * 86_400_000)
                || signed
                || a.tags.iter().any(|t| is_immutable(&immutable, &repo, t));
            let item = RetentionItem {
                repository: repo.clone(),
                digest: a.digest.clone(),
                tags: a.tags.clone(),
                pushed_ms: a.pushed_ms,
            };
            if keep {
                report.kept.push(item);
                continue;
            }
            if !dry_run {
                app.store.delete_manifest_row(&repo, &a.digest).await?;
                let target = format!("{repo}@{}", a.digest);
                let entry = AuditEntry {
                    actor: "retention".into(),
                    source: "-".into(),
                    action: "manifest.delete".into(),
                    target: target.clone(),
                    outcome: "ok".into(),
                    detail: format!("retention policy of {project}; tags {}", a.tags.join(",")),
                };
                if let Err(e) = app.store.audit(&entry).await {
                    tracing::error!(error = %e, "could not write the audit record");
                }
                crate::events::emit(
                    app,
                    crate::events::Event::new(crate::events::DELETED, &target).actor("retention"),
                )
                .await;
            }
            report.deleted.push(item);
        }
    }
    Ok(report)
}

/// Runs every project's retention policy every `interval` until the process ends.
pub async fn scheduled(app: std::sync::Arc<App>, interval: std::time::Duration) {
    if interval.is_zero() {
        return;
    }
    loop {
        tokio::time::sleep(interval).await;
        let projects = match app.store.projects().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "retention: cannot list projects");
                continue;
            }
        };
        for p in projects.iter().filter(|p| p.retention.is_some()) {
            match run(&app, &p.name, false).await {
                Ok(r) if !r.deleted.is_empty() => tracing::info!(
                    project = p.name,
                    deleted = r.deleted.len(),
                    "retention deleted artifacts"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(project = p.name, error = %e, "retention failed"),
            }
        }
    }
}
