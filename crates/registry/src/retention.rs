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
    /// Why it is kept (every rule that keeps it) or deleted (why no rule keeps it).
    pub reasons: Vec<String>,
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
            let age_ms = now - a.pushed_ms;
            let age_days = age_ms.div_euclid(86_400_000);
            let kept_tag = a
                .tags
                .iter()
                .find(|t| keep_tags.iter().any(|pat| pat.matches(t)));
            let immutable_tag = a.tags.iter().find(|t| is_immutable(&immutable, &repo, t));
            // Every rule that keeps it; none: why each rule did not.
            let mut reasons = Vec::new();
            if let Some(n) = policy.keep_last.filter(|n| rank < *n as usize) {
                reasons.push(format!(
                    "among the newest {n} of {repo} (number {})",
                    rank + 1
                ));
            }
            if let Some(t) = kept_tag {
                reasons.push(format!("tag {t} matches keep_tags"));
            }
            if let Some(d) = policy
                .keep_days
                .filter(|d| age_ms < i64::from(*d) * 86_400_000)
            {
                reasons.push(format!("pushed {age_days} days ago, within {d} days"));
            }
            if signed {
                reasons.push("signed".to_owned());
            }
            if let Some(t) = immutable_tag {
                reasons.push(format!("tag {t} is immutable"));
            }
            let keep = !reasons.is_empty();
            if !keep {
                if let Some(n) = policy.keep_last {
                    reasons.push(format!(
                        "not among the newest {n} of {repo} (number {})",
                        rank + 1
                    ));
                }
                if !policy.keep_tags.is_empty() {
                    reasons.push(format!(
                        "no tag matches keep_tags ({})",
                        policy.keep_tags.join(", ")
                    ));
                }
                if let Some(d) = policy.keep_days {
                    reasons.push(format!(
                        "pushed {age_days} days ago, before the last {d} days"
                    ));
                }
                reasons.push("unsigned".to_owned());
                reasons.push("no immutable tag".to_owned());
            }
            let item = RetentionItem {
                repository: repo.clone(),
                digest: a.digest.clone(),
                tags: a.tags.clone(),
                pushed_ms: a.pushed_ms,
                reasons,
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
