//! Push rules: what the push and delete paths apply per project — that the project exists
//! (or who makes it by pushing), immutable-tag rules and quotas. The rules are JSON in the
//! project row; the store enforces them inside its transactions (a moved immutable tag or an
//! exceeded quota writes nothing).

use serde::{Deserialize, Serialize};
use zoll_store::{Project, PushPolicy, Quota, Store, StoreError};

use zoll_glob::Glob;

use crate::access::{ALL_REPOSITORIES, project_of, relative_name};

/// Tags matching `tags` in repositories matching `repositories` (relative to the project,
/// `**` for all; zoll's one pattern dialect, `zoll-glob`) cannot be moved or deleted once
/// pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImmutableRule {
    #[serde(default = "all")]
    pub repositories: String,
    pub tags: String,
}

fn all() -> String {
    ALL_REPOSITORIES.into()
}

impl ImmutableRule {
    /// Why the rule's patterns cannot be used, if they cannot.
    pub fn invalid(&self) -> Option<String> {
        let repos = Glob::parse_relative(&self.repositories)
            .map_err(|e| format!("repositories {:?}: {e}", self.repositories));
        let tags = Glob::parse(&self.tags).map_err(|e| format!("tags {:?}: {e}", self.tags));
        repos.and(tags).err()
    }
}

/// The refusal of a push by anyone but a system administrator, the same whether the project
/// is missing or private: which private projects exist is not told to those outside them
/// (review finding).
pub(crate) fn push_refused(who: &str, repo: &str) -> String {
    let project = project_of(repo);
    format!(
        "{who} may not push {repo}: pushing needs the push permission in an existing project \
         (a system administrator creates one with `zoll project create {project}`)"
    )
}

/// Who makes a project by pushing into it when it does not exist (`[projects]
/// create_on_push`). Nobody else may push there; nobody becomes a member by pushing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CreateOnPush {
    /// A system administrator's push creates the project (private, no members), audited as
    /// `project.create`.
    #[default]
    Admins,
    /// Projects are made only by `zoll project create`; pushes into others are refused.
    Never,
}

/// Applies the project rule to a push by `id` into `repo`: nothing when the project exists
/// (or authentication is off); creates it when `rule` lets `id` do so; otherwise the refusal
/// that names the missing project.
pub(crate) async fn project_for_push(
    app: &crate::App,
    id: &crate::Identity,
    repo: &str,
    source: &str,
) -> Result<Option<String>, StoreError> {
    use crate::auth::Principal;
    let project = project_of(repo);
    let account = match &id.principal {
        Principal::Unrestricted => return Ok(None),
        Principal::Anonymous => None,
        Principal::Account(a) => Some(a),
    };
    if app.store.project(project).await?.is_some() {
        return Ok(None);
    }
    let admin = account.is_some_and(|a| a.admin && a.kind == zoll_store::AccountKind::User);
    if !admin {
        return Ok(Some(push_refused(id.name(), repo)));
    }
    if app.create_projects_on_push == CreateOnPush::Never {
        return Ok(Some(format!(
            "project {project} does not exist and pushes create no projects here \
             ([projects] create_on_push = \"never\"); create it with \
             `zoll project create {project}`"
        )));
    }
    if crate::api::valid_project(project).is_err() {
        return Ok(Some(format!(
            "project {project:?} does not exist and cannot be created: a project name is one \
             path component of at most 64 characters"
        )));
    }
    if app
        .store
        .create_project(&Project::new(project, false))
        .await?
    {
        crate::audit::record(
            app,
            id.name(),
            source,
            "project.create",
            project,
            "ok",
            &format!("private; created by a push to {repo}"),
        )
        .await;
    }
    Ok(None)
}

/// Tags that clients move as they add signatures, attestations, SBOMs and referrers to an
/// image (cosign's `sha256-<hex>.sig`/`.att`/`.sbom`, the OCI 1.1 referrers tag schema's
/// `sha256-<hex>`). Immutability never applies to them, so that an immutable release can
/// still be signed (the failure Harbor #17332 describes).
pub fn is_supplement_tag(tag: &str) -> bool {
    let base = tag
        .strip_suffix(".sig")
        .or_else(|| tag.strip_suffix(".att"))
        .or_else(|| tag.strip_suffix(".sbom"))
        .unwrap_or(tag);
    let hex_of = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    base.strip_prefix("sha256-").is_some_and(|h| hex_of(h, 64))
        || base.strip_prefix("sha512-").is_some_and(|h| hex_of(h, 128))
}

/// The project's immutable-tag rules. Rules that do not parse (their JSON or a pattern) are
/// an error, never "no rules": that would let immutable tags move.
pub fn rules(project: &Project) -> Result<Vec<ImmutableRule>, StoreError> {
    let unreadable = |e: String| {
        StoreError::Unreadable(format!(
            "the immutable-tag rules of project {}: {e}",
            project.name
        ))
    };
    let rules: Vec<ImmutableRule> =
        serde_json::from_str(&project.immutable_rules).map_err(|e| unreadable(e.to_string()))?;
    match rules.iter().find_map(ImmutableRule::invalid) {
        Some(why) => Err(unreadable(why)),
        None => Ok(rules),
    }
}

/// Whether `tag` in `repo` is immutable under `rules`.
pub fn is_immutable(rules: &[ImmutableRule], repo: &str, tag: &str) -> bool {
    if is_supplement_tag(tag) {
        return false;
    }
    let rel = relative_name(repo);
    rules.iter().any(|r| {
        // Checked by `rules`; a pattern that does not parse counts as matching (immutable).
        let repos = Glob::parse_relative(&r.repositories).map_or(true, |g| g.matches(rel));
        repos && Glob::parse(&r.tags).map_or(true, |g| g.matches(tag))
    })
}

/// The push policy for `tags` pushed to `repo`.
pub async fn push_policy(
    store: &Store,
    repo: &str,
    tags: &[&str],
) -> Result<PushPolicy, StoreError> {
    let Some(project) = store.project(project_of(repo)).await? else {
        return Ok(PushPolicy::default());
    };
    let rules = rules(&project)?;
    Ok(PushPolicy {
        immutable_tags: tags
            .iter()
            .filter(|t| is_immutable(&rules, repo, t))
            .map(|t| (*t).to_owned())
            .collect(),
        quota: quota(&project),
    })
}

pub fn quota(project: &Project) -> Option<Quota> {
    (project.quota_bytes.is_some() || project.quota_artifacts.is_some()).then(|| Quota {
        project: project.name.clone(),
        max_bytes: project.quota_bytes,
        max_artifacts: project.quota_artifacts,
    })
}

/// The size a blob uploaded into `repo` may reach under its project's byte quota (`None`:
/// no byte quota). What is taken counts the project's manifests, every blob linked into it
/// (referenced or not yet: blobs pushed without a manifest take room until GC removes them)
/// and the bytes its other open uploads staged; `own_staged` is what this upload staged
/// already.
pub async fn upload_room(
    store: &Store,
    repo: &str,
    own_staged: u64,
) -> Result<Option<u64>, StoreError> {
    let Some(project) = store.project(project_of(repo)).await? else {
        return Ok(None);
    };
    let Some(max) = project.quota_bytes else {
        return Ok(None);
    };
    let usage = store.usage(&project.name).await?;
    let footprint = store.upload_footprint(&project.name).await?;
    let taken = usage
        .manifest_bytes
        .saturating_add(footprint.linked_bytes)
        .saturating_add(footprint.staged_bytes.saturating_sub(own_staged));
    Ok(Some(max.saturating_sub(taken)))
}

/// The project byte quota an upload into `repo` of `incoming` bytes (when the request says)
/// must respect, for the store to reserve room under; `None` without one.
pub async fn byte_quota(
    store: &Store,
    repo: &str,
    incoming: Option<u64>,
) -> Result<Option<zoll_store::ByteQuota>, StoreError> {
    let Some(project) = store.project(project_of(repo)).await? else {
        return Ok(None);
    };
    Ok(project.quota_bytes.map(|max| zoll_store::ByteQuota {
        scope: project.name.clone(),
        max,
        incoming,
    }))
}

/// Refuses an upload of `incoming` more bytes when `room` (from [`upload_room`]) cannot
/// take them.
pub fn check_room(repo: &str, room: Option<u64>, incoming: u64) -> Result<(), StoreError> {
    match room {
        Some(room) if incoming > room => Err(StoreError::Denied(format!(
            "quota of project {} exceeded: this upload needs {incoming} bytes, {room} are left",
            project_of(repo)
        ))),
        _ => Ok(()),
    }
}

/// Refuses deleting `tags` of `repo` when one is immutable.
pub async fn check_delete(store: &Store, repo: &str, tags: &[String]) -> Result<(), StoreError> {
    let Some(project) = store.project(project_of(repo)).await? else {
        return Ok(());
    };
    let rules = rules(&project)?;
    if let Some(t) = tags.iter().find(|t| is_immutable(&rules, repo, t)) {
        return Err(StoreError::Denied(format!(
            "tag {t} is immutable and cannot be deleted"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supplement_tags_are_never_immutable() {
        let h = "a".repeat(64);
        let rules = vec![ImmutableRule {
            repositories: "**".into(),
            tags: "*".into(),
        }];
        for tag in [
            format!("sha256-{h}.sig"),
            format!("sha256-{h}.att"),
            format!("sha256-{h}"),
        ] {
            assert!(!is_immutable(&rules, "team/app", &tag), "{tag}");
        }
        assert!(is_immutable(&rules, "team/app", "v1"));
        assert!(is_immutable(&rules, "team/app", "sha256-short.sig"));
        let only = vec![ImmutableRule {
            repositories: "app".into(),
            tags: "v*".into(),
        }];
        assert!(is_immutable(&only, "team/app", "v1"));
        assert!(!is_immutable(&only, "team/other", "v1"));
        assert!(!is_immutable(&only, "team/app", "latest"));
    }
}
