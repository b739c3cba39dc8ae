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
use zoll_glob::Glob;
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

    /// What the action lets one do, for refusals people read ("may not {phrase} in team").
    pub fn phrase(self) -> &'static str {
        match self {
            Action::Pull => "read",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::PullUngated => "pull past the trust policy",
            Action::ManagePolicies => "manage the policies (immutable tags, retention, webhooks)",
            Action::ManageMembers => "manage the members and robots",
        }
    }

    /// The roles that hold this action, most powerful first, as a phrase ("project-admin or
    /// maintainer"); `None` for what no role holds (pull-ungated: robots and administrators).
    pub fn granted_by(self) -> Option<String> {
        let roles: Vec<&str> = ROLES
            .into_iter()
            .filter(|r| r.allows(self))
            .map(Role::as_str)
            .collect();
        match roles.as_slice() {
            [] => None,
            [one] => Some((*one).to_owned()),
            [init @ .., last] => Some(format!("{} or {last}", init.join(", "))),
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
/// pattern relative to the project, in zoll's one dialect (`zoll-glob`): `**` (all), `app`,
/// `app/*` (one level below `app`), `app/**` (any depth); the empty pattern means the
/// project itself only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotPermission {
    pub repositories: String,
    pub actions: Vec<Action>,
}

/// The pattern that matches every repository of a project (and the project itself).
pub const ALL_REPOSITORIES: &str = "**";

/// The project of a repository name: its first path component.
pub fn project_of(repo: &str) -> &str {
    repo.split('/').next().unwrap_or(repo)
}

/// Whether the project-relative name `rel` (`""` for the project itself) matches `pattern`
/// (see [`RobotPermission`]). A stored pattern that does not parse matches nothing.
pub fn matches_relative(pattern: &str, rel: &str) -> bool {
    Glob::parse_relative(pattern).is_ok_and(|g| g.matches(rel))
}

/// The name of `repo` relative to its project (`""` for the project itself).
pub fn relative_name(repo: &str) -> &str {
    repo.strip_prefix(project_of(repo))
        .unwrap_or("")
        .trim_start_matches('/')
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
    if let Some(access) = &id.token_access
        && action.in_token()
        && !token_grants(access, action, repo)
    {
        return Ok(Decision::NeedScope);
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
        let perms = robot_permissions(account);
        let rel = relative_name(repo);
        return Ok(perms
            .iter()
            .any(|p| p.actions.contains(&action) && matches_relative(&p.repositories, rel)));
    }
    if account.admin {
        return Ok(action != Action::PullUngated);
    }
    if let Some(role) = store
        .member_role(project, &account.name)
        .await?
        .as_deref()
        .and_then(Role::parse)
        && role.allows(action)
    {
        return Ok(true);
    }
    Ok(action == Action::Pull && is_public(store, project).await?)
}

/// Whether every repository `inner` matches is also matched by `outer` (both relative to a
/// project; see [`Glob::covers`], which proves only the shapes grants use and refuses the
/// rest). Patterns that do not parse cover and are covered by nothing.
pub fn covers(outer: &str, inner: &str) -> bool {
    match (Glob::parse_relative(outer), Glob::parse_relative(inner)) {
        (Ok(outer), Ok(inner)) => outer.covers(&inner),
        _ => false,
    }
}

/// Whether `id` itself holds `action` on every repository of its project that `pattern`
/// matches — the test for granting it to someone else (a robot, a member's role): nobody
/// grants what they do not hold. [`Action::PullUngated`], a way around the trust policy,
/// is held for granting by system administrators only.
pub fn holds(
    id: &Identity,
    project: &str,
    pattern: &str,
    action: Action,
    role: Option<Role>,
) -> bool {
    match &id.principal {
        Principal::Unrestricted => true,
        Principal::Anonymous => false,
        Principal::Account(a) if a.admin && a.kind != AccountKind::Robot => true,
        Principal::Account(_) if action == Action::PullUngated => false,
        Principal::Account(a) if a.kind == AccountKind::Robot => {
            if a.project.as_deref() != Some(project) {
                return false;
            }
            robot_permissions(a)
                .iter()
                .any(|p| p.actions.contains(&action) && covers(&p.repositories, pattern))
        }
        Principal::Account(_) => role.is_some_and(|r| r.allows(action)),
    }
}

/// Every action, least powerful first.
pub const ALL_ACTIONS: [Action; 6] = [
    Action::Pull,
    Action::Push,
    Action::Delete,
    Action::PullUngated,
    Action::ManagePolicies,
    Action::ManageMembers,
];

/// What a member of `project` with `role` may do: the actions it allows.
pub fn role_actions(role: Role) -> Vec<Action> {
    ALL_ACTIONS
        .into_iter()
        .filter(|a| role.allows(*a))
        .collect()
}

/// The caller's own role in `project` (users only; what [`holds`] needs).
pub async fn own_role(
    store: &Store,
    id: &Identity,
    project: &str,
) -> Result<Option<Role>, StoreError> {
    match id.account() {
        Some(a) if a.kind == AccountKind::User => Ok(store
            .member_role(project, &a.name)
            .await?
            .as_deref()
            .and_then(Role::parse)),
        _ => Ok(None),
    }
}

/// The first action `id` would grant by handing out `role` in `project` without holding it.
pub fn missing_for_role(
    id: &Identity,
    project: &str,
    role: Role,
    own: Option<Role>,
) -> Option<Action> {
    role_actions(role)
        .into_iter()
        .find(|a| !holds(id, project, ALL_REPOSITORIES, *a, own))
}

/// The first (pattern, action) of `perms` that `id` does not hold in `project`.
pub fn missing_for_robot(
    id: &Identity,
    project: &str,
    perms: &[RobotPermission],
    own: Option<Role>,
) -> Option<(String, Action)> {
    perms.iter().find_map(|p| {
        p.actions
            .iter()
            .find(|a| !holds(id, project, &p.repositories, **a, own))
            .map(|a| (p.repositories.clone(), *a))
    })
}

/// A robot's permissions as stored. Unreadable ones grant nothing.
pub fn robot_permissions(a: &zoll_store::Account) -> Vec<RobotPermission> {
    a.permissions
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default()
}

async fn is_public(store: &Store, project: &str) -> Result<bool, StoreError> {
    Ok(store.project(project).await?.is_some_and(|p| p.public))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_patterns() {
        let check =
            |p: &str, t: &str, expect: bool| assert_eq!(matches_relative(p, t), expect, "{p} {t}");
        check("**", "", true);
        check("**", "a/b", true);
        check("*", "a/b", false);
        check("app/*", "app/x", true);
        check("app/*", "app/x/y", false);
        check("app/**", "app/x/y", true);
        check("app", "app/x", false);
        check("", "", true);
        check("", "app", false);
        check("a/***", "a/b", false); // does not parse: matches nothing
        assert_eq!(relative_name("proj/app/x"), "app/x");
        assert_eq!(relative_name("proj"), "");
    }

    #[test]
    fn coverage_of_robot_patterns() {
        let check = |outer: &str, inner: &str, expect: bool| {
            assert_eq!(covers(outer, inner), expect, "{outer} covers {inner}")
        };
        check("**", "anything/**", true);
        check("app", "app", true);
        check("app/*", "app/x", true);
        check("app/*", "app/x*", true);
        check("app/**", "app/x/**", true);
        check("app**", "app-2", true);
        check("app/*", "**", false);
        check("app/*", "app/**", false);
        check("app", "app/*", false);
        check("app**", "ap**", false);
        check("a/***", "a/***", false); // does not parse
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
