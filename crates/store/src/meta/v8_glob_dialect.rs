//! Version 8 (both dialects): the registry's stored patterns move to zoll's one dialect.
//!
//! Robot permissions (`accounts.permissions`), immutable-tag rules
//! (`projects.immutable_rules`) and retention's `keep_tags` (`projects.retention`) were
//! written in a dialect where `*` crossed `/`; trust policies, approvals and admission used
//! the dialect in which it does not, so `prod/*` meant two things on one server. Each stored
//! pattern is rewritten with `zoll_glob::legacy` into patterns that match exactly the names
//! it matched before (see that module for the rules), inside the migration's transaction.
//!
//! A value that is not the JSON the registry writes is left as it is: it was unreadable
//! before (robots: no permission; immutable rules: an error on push; retention: no run) and
//! stays so. A repository pattern that would need more than `MAX_ALTERNATIVES` alternatives
//! (five or more `?` that could stand for a `/`) is not rewritten exactly: a robot loses
//! that permission, an immutable rule covers every repository — both fail closed — and the
//! change is logged. Restoring a backup made before this version applies the same rewrite
//! (`backup.rs`).

use serde_json::{Value, json};
use zoll_glob::legacy;

use crate::error::Result;
use crate::meta::Tx;

/// The robot permissions `text` rewritten, or `None` when nothing changes.
pub(crate) fn robot_permissions(text: &str) -> Option<String> {
    let Ok(Value::Array(perms)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    let mut out = Vec::new();
    for perm in perms {
        let Some(old) = perm.get("repositories").and_then(Value::as_str) else {
            out.push(perm); // not what the registry writes: kept as it is
            continue;
        };
        match legacy::rewrite_repositories(old) {
            Ok(alternatives) => out.extend(alternatives.into_iter().map(|p| {
                let mut perm = perm.clone();
                perm["repositories"] = json!(p);
                perm
            })),
            Err(n) => tracing::warn!(
                pattern = old,
                alternatives = n,
                "robot permission dropped by the pattern migration: it cannot be rewritten \
                 exactly; grant it again in the new dialect"
            ),
        }
    }
    changed(text, Value::Array(out))
}

/// The immutable-tag rules `text` rewritten, or `None` when nothing changes.
pub(crate) fn immutable_rules(text: &str) -> Option<String> {
    let Ok(Value::Array(rules)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    let mut out = Vec::new();
    for rule in rules {
        let (Some(tags), repos) = (
            rule.get("tags").and_then(Value::as_str),
            // The old default of an absent `repositories`: every repository.
            rule.get("repositories")
                .and_then(Value::as_str)
                .unwrap_or("*"),
        ) else {
            out.push(rule);
            continue;
        };
        let tags = legacy::rewrite_tags(tags);
        let alternatives = legacy::rewrite_repositories(repos).unwrap_or_else(|n| {
            tracing::warn!(
                pattern = repos,
                alternatives = n,
                "immutable-tag rule widened to every repository by the pattern migration: it \
                 cannot be rewritten exactly"
            );
            vec!["**".to_owned()]
        });
        out.extend(alternatives.into_iter().map(|p| {
            let mut rule = rule.clone();
            rule["repositories"] = json!(p);
            rule["tags"] = json!(tags);
            rule
        }));
    }
    changed(text, Value::Array(out))
}

/// The retention policy `text` rewritten, or `None` when nothing changes.
pub(crate) fn retention(text: &str) -> Option<String> {
    let Ok(mut policy) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    let tags = policy.get_mut("keep_tags")?.as_array_mut()?;
    for t in tags.iter_mut() {
        if let Some(old) = t.as_str() {
            *t = json!(legacy::rewrite_tags(old));
        }
    }
    changed(text, policy)
}

fn changed(text: &str, new: Value) -> Option<String> {
    let before: Value = serde_json::from_str(text).ok()?;
    (before != new).then(|| new.to_string())
}

/// Applies the rewrite to every stored pattern.
pub(crate) async fn migrate(tx: &mut Tx) -> Result<()> {
    let robots: Vec<(String, String)> =
        sqlx::query_as("SELECT name, permissions FROM accounts WHERE permissions IS NOT NULL")
            .fetch_all(&mut **tx)
            .await?;
    for (name, permissions) in robots {
        if let Some(new) = robot_permissions(&permissions) {
            tracing::info!(
                account = name,
                old = permissions,
                new,
                "robot patterns rewritten"
            );
            sqlx::query("UPDATE accounts SET permissions = $1 WHERE name = $2")
                .bind(new)
                .bind(name)
                .execute(&mut **tx)
                .await?;
        }
    }
    let projects: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT name, immutable_rules, retention FROM projects")
            .fetch_all(&mut **tx)
            .await?;
    for (name, rules, kept) in projects {
        let new_rules = immutable_rules(&rules);
        let new_kept = kept.as_deref().and_then(retention);
        if new_rules.is_none() && new_kept.is_none() {
            continue;
        }
        tracing::info!(
            project = name,
            old_rules = rules,
            old_retention = kept,
            new_rules,
            new_retention = new_kept,
            "project patterns rewritten"
        );
        sqlx::query("UPDATE projects SET immutable_rules = $1, retention = $2 WHERE name = $3")
            .bind(new_rules.unwrap_or(rules))
            .bind(new_kept.or(kept))
            .bind(&name)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robot_permissions_become_exact_alternatives() {
        let old = r#"[{"repositories":"*","actions":["pull"]},{"repositories":"a?b","actions":["push"]}]"#;
        let new: Value = serde_json::from_str(&robot_permissions(old).unwrap()).unwrap();
        assert_eq!(
            new,
            json!([
                {"repositories": "**", "actions": ["pull"]},
                {"repositories": "a?b", "actions": ["push"]},
                {"repositories": "a/b", "actions": ["push"]},
            ])
        );
        assert_eq!(
            robot_permissions(r#"[{"repositories":"app","actions":["pull"]}]"#),
            None
        );
        assert_eq!(robot_permissions("not json"), None);
        // Too many alternatives: the permission goes (fails closed).
        let many = r#"[{"repositories":"a?a?a?a?a?a","actions":["pull"]}]"#;
        assert_eq!(robot_permissions(many).unwrap(), "[]");
    }

    #[test]
    fn immutable_rules_get_explicit_repositories() {
        let old = r#"[{"tags":"v**"},{"repositories":"app/*","tags":"*"}]"#;
        let new: Value = serde_json::from_str(&immutable_rules(old).unwrap()).unwrap();
        assert_eq!(
            new,
            json!([
                {"repositories": "**", "tags": "v*"},
                {"repositories": "app/**", "tags": "*"},
            ])
        );
        let many = r#"[{"repositories":"a?a?a?a?a?a","tags":"v1"}]"#;
        let new: Value = serde_json::from_str(&immutable_rules(many).unwrap()).unwrap();
        assert_eq!(
            new,
            json!([{"repositories": "**", "tags": "v1"}]),
            "widened"
        );
    }

    #[test]
    fn retention_keeps_its_other_fields() {
        let old = r#"{"keep_last":3,"keep_tags":["v***","latest"]}"#;
        let new: Value = serde_json::from_str(&retention(old).unwrap()).unwrap();
        assert_eq!(new, json!({"keep_last": 3, "keep_tags": ["v*", "latest"]}));
        assert_eq!(retention(r#"{"keep_last":3}"#), None);
    }
}
