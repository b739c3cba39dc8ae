//! What an identity may do: one function of (identity, action, repository), consulted by
//! every endpoint, by the token endpoint when it decides what a token grants, and (later) by
//! the trust-policy pull gate, which asks for [`Action::PullUngated`] to let a CI robot
//! through.
//!
//! Roles per project (the first path component of a repository name): project admin,
//! maintainer, developer (push), guest (pull); a system administrator may do everything.
//! Robots hold explicit permissions in their one project. Anonymous requests may pull from
//! public projects only. A Bearer token further limits pull, push and delete to the access it
//! lists.

use serde::{Deserialize, Serialize};
use zoll_store::{AccountKind, Store, StoreError};

use crate::auth::{Identity, Principal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Pull,
    Push,
    Delete,
    /// Pull past the trust-policy gate (for robots that must fetch unsigned builds).
    PullUngated,
    /// Immutable-tag rules, retention, webhooks of the project.
    ManagePolicies,
    /// Members and robots of the project.
    ManageMembers,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::PullUngated => "pull-ungated",
            Action::ManagePolicies => "manage-policies",
            Action::ManageMembers => "manage-members",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "pull" => Action::Pull,
            "push" => Action::Push,
            "delete" => Action::Delete,
            "pull-ungated" => Action::PullUngated,
            "manage-policies" => Action::ManagePolicies,
            "manage-members" => Action::ManageMembers,
            _ => return None,
        })
    }

    /// Actions a registry token can carry (the rest is decided by the account alone).
    fn in_token(self) -> bool {
        matches!(self, Action::Pull | Action::Push | Action::Delete)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ProjectAdmin,
    Maintainer,
    Developer,
    Guest,
}

pub const ROLES: [Role; 4] = [
    Role::ProjectAdmin,
    Role::Maintainer,
    Role::Developer,
    Role::Guest,
];

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ProjectAdmin => "project-admin",
            Role::Maintainer => "maintainer",
            Role::Developer => "developer",
            Role::Guest => "guest",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        ROLES.into_iter().find(|r| r.as_str() == s)
    }

    pub fn allows(self, a: Action) -> bool {
        use Action::*;
        match self {
            Role::ProjectAdmin => !matches!(a, PullUngated),
            Role::Maintainer => matches!(a, Pull | Push | Delete | ManagePolicies),
            Role::Developer => matches!(a, Pull | Push),
            Role::Guest => matches!(a, Pull),
        }
    }
}

/// One permission of a robot: actions on the repositories of its project matching a
/// pattern (relative to the project: `*`, `app`, `app/*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotPermission {
    pub repositories: String,
    pub actions: Vec<Action>,
}

/// The project of a repository name: its first path component.
pub fn project_of(repo: &str) -> &str {
    repo.split('/').next().unwrap_or(repo)
}

/// `*` matches any run of characters (slashes included), `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matcher with one backtrack point: linear in practice, no recursion.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The identity may not (403, or 401 for anonymous requests so that clients log in).
    Deny,
    /// The account may, but the presented token does not carry this access: get a new token.
    NeedScope,
}

/// May `id` do `action` on repository `repo`?
pub async fn decide(
    store: &Store,
    id: &Identity,
    action: Action,
    repo: &str,
) -> Result<Decision, StoreError> {
    if !allowed(store, id, action, repo).await? {
        return Ok(Decision::Deny);
    }
    if let Some(access) = &id.token_access {
        if action.in_token() && !token_grants(access, action, repo) {
            return Ok(Decision::NeedScope);
        }
    }
    Ok(Decision::Allow)
}

fn token_grants(access: &[crate::auth::jwt::Access], action: Action, repo: &str) -> bool {
    access.iter().any(|a| {
        a.kind == "repository"
            && a.name == repo
            && a.actions.iter().any(|x| x == action.as_str() || x == "*")
    })
}

/// The account's own permission, without regard to any token.
pub async fn allowed(
    store: &Store,
    id: &Identity,
    action: Action,
    repo: &str,
) -> Result<bool, StoreError> {
    let project = project_of(repo);
    let account = match &id.principal {
        Principal::Unrestricted => return Ok(true),
        Principal::Anonymous => {
            return Ok(action == Action::Pull && is_public(store, project).await?);
        }
        Principal::Account(a) => a,
    };
    if account.kind == AccountKind::Robot {
        if account.project.as_deref() != Some(project) {
            return Ok(false);
        }
        let perms: Vec<RobotPermission> = account
            .permissions
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default();
        let rel = repo
            .strip_prefix(project)
            .unwrap_or("")
            .trim_start_matches('/');
        return Ok(perms
            .iter()
            .any(|p| p.actions.contains(&action) && glob(&p.repositories, rel)));
    }
    if account.admin {
        return Ok(action != Action::PullUngated);
    }
    if let Some(role) = store
        .member_role(project, &account.name)
        .await?
        .as_deref()
        .and_then(Role::parse)
    {
        if role.allows(action) {
            return Ok(true);
        }
    }
    Ok(action == Action::Pull && is_public(store, project).await?)
}

async fn is_public(store: &Store, project: &str) -> Result<bool, StoreError> {
    Ok(store.project(project).await?.is_some_and(|p| p.public))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let check = |p: &str, t: &str, expect: bool| assert_eq!(glob(p, t), expect, "{p} {t}");
        check("*", "", true);
        check("*", "a/b", true);
        check("v*", "v1.2", true);
        check("v*", "latest", false);
        check("release-?", "release-1", true);
        check("release-?", "release-10", false);
        check("app/*", "app/x/y", true);
        check("app", "app/x", false);
        check("*-rc*", "1.0-rc2", true);
        check("a*b*c", "aXbYbZc", true);
        check("a*b*c", "aXbYbZ", false);
    }

    #[test]
    fn roles() {
        use Action::*;
        let table = [
            (Role::ProjectAdmin, [true, true, true, true, true]),
            (Role::Maintainer, [true, true, true, true, false]),
            (Role::Developer, [true, true, false, false, false]),
            (Role::Guest, [true, false, false, false, false]),
        ];
        for (role, expect) in table {
            let got = [Pull, Push, Delete, ManagePolicies, ManageMembers].map(|a| role.allows(a));
            assert_eq!(got, expect, "{role:?}");
            assert!(!role.allows(PullUngated));
        }
    }
}
