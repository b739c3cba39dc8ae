//! Governance through a running registry's management API (`--registry`, `--user`, password
//! from `ZOLL_PASSWORD`, a prompt or stdin): `project ...`, `robot ...`, `webhook ...`.
//! Accounts, the audit trail and backups, which also work offline, are in `admin.rs`.

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::output::{Format, View};
use crate::remote::{Remote, call};

#[derive(Subcommand)]
pub enum ProjectCmd {
    /// List the projects you can see.
    List(Remote),
    /// Create a project (system administrators).
    Create {
        /// The project name (the first path segment of its repositories).
        name: String,
        /// Anyone, even without an account, may pull from it.
        #[arg(long)]
        public: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete an empty project (system administrators).
    Delete {
        /// The project name.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Give an account a role: project-admin, maintainer, developer or guest.
    Member {
        /// The project.
        project: String,
        /// The account (a user, or a robot as robot$PROJECT+NAME).
        account: String,
        /// project-admin, maintainer, developer or guest.
        role: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Set the storage quota (omit a limit to lift it).
    Quota {
        /// The project.
        project: String,
        /// Most bytes the project's blobs may take.
        #[arg(long)]
        max_bytes: Option<u64>,
        /// Most artifacts (manifests) the project may hold.
        #[arg(long)]
        max_artifacts: Option<u64>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Set the immutable-tag rules: tag patterns (`v*`), optionally `REPOS:TAGS`.
    Immutable {
        /// The project.
        project: String,
        /// Tag patterns (`v*`), or `REPOS:TAGS` to limit a rule to some repositories; none
        /// clears the rules.
        patterns: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Set the retention policy.
    Retention {
        /// The project.
        project: String,
        /// Keep the newest N artifacts of each repository.
        #[arg(long)]
        keep_last: Option<u32>,
        /// Keep artifacts with a tag matching this pattern (repeatable).
        #[arg(long)]
        keep_tag: Vec<String>,
        /// Keep artifacts pushed in the last N days.
        #[arg(long)]
        keep_days: Option<u32>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Run the retention policy now (a dry run unless --apply).
    RetentionRun {
        /// The project.
        project: String,
        /// Delete what the policy does not keep (without it: only list it).
        #[arg(long)]
        apply: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
pub enum RobotCmd {
    /// List the project's robot accounts and what each may do.
    List {
        /// The project.
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Create a robot account; prints its secret once.
    Create {
        /// The project it belongs to.
        project: String,
        /// Its short name; the account is robot$PROJECT+NAME.
        name: String,
        /// pull, push, delete, pull-ungated (repeatable).
        #[arg(long = "action", required = true)]
        actions: Vec<String>,
        /// Repositories of the project it may act on (relative pattern: `**` all, `app/*` one
        /// level below app, `app/**` any depth).
        #[arg(long, default_value = "**")]
        repositories: String,
        /// 1 to 36500.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500))]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete a robot account.
    Delete {
        /// The project it belongs to.
        project: String,
        /// Its short name.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
pub enum WebhookCmd {
    /// List the project's webhooks.
    List {
        /// The project.
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Add a webhook; the HMAC secret is read from ZOLL_WEBHOOK_SECRET.
    Add {
        /// The project whose events it receives.
        project: String,
        /// Where the events are POSTed (https://...).
        url: String,
        /// Event types (repeatable; default all).
        #[arg(long = "event")]
        events: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete a webhook.
    Delete {
        /// The project.
        project: String,
        /// The webhook id (from `zoll webhook list`).
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// The webhook's recent deliveries and their attempts.
    Deliveries {
        /// The project.
        project: String,
        /// The webhook id (from `zoll webhook list`).
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// sends more is refused, not buffered.
const PROJECTS: View = View {
    columns: &[
        ("NAME", "name"),
        ("PUBLIC", "public"),
        ("MAX BYTES", "quota.max_bytes"),
        ("MAX ARTIFACTS", "quota.max_artifacts"),
        ("CREATED", "created_ms"),
    ],
    empty: "no projects",
};

const ROBOTS: View = View {
    columns: &[
        ("NAME", "name"),
        ("DISABLED", "disabled"),
        ("EXPIRES", "expires_ms"),
        ("DESCRIPTION", "description"),
        ("CREATED", "created_ms"),
    ],
    empty: "no robot accounts",
};

const WEBHOOKS: View = View {
    columns: &[
        ("ID", "id"),
        ("URL", "url"),
        ("EVENTS", "events"),
        ("ENABLED", "enabled"),
        ("CREATED", "created_ms"),
    ],
    empty: "no webhooks",
};

const DELIVERIES: View = View {
    columns: &[
        ("ID", "id"),
        ("EVENT", "event_type"),
        ("STATE", "state"),
        ("ATTEMPTS", "attempts"),
        ("NEXT", "next_ms"),
        ("CREATED", "created_ms"),
    ],
    empty: "no deliveries",
};

/// One management call; the answer and the format it is to be printed in.
fn send(
    remote: &Remote,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(Value, Format)> {
    Ok((call(remote, method, path, body)?, remote.out.output))
}

pub fn project(cmd: ProjectCmd) -> anyhow::Result<()> {
    let view = matches!(cmd, ProjectCmd::List(_)).then_some(&PROJECTS);
    let (v, format) = match cmd {
        ProjectCmd::List(r) => send(&r, "GET", "/projects", None)?,
        ProjectCmd::Create {
            name,
            public,
            remote,
        } => send(
            &remote,
            "POST",
            "/projects",
            Some(json!({"name": name, "public": public})),
        )?,
        ProjectCmd::Delete { name, remote } => {
            send(&remote, "DELETE", &format!("/projects/{name}"), None)?
        }
        ProjectCmd::Member {
            project,
            account,
            role,
            remote,
        } => send(
            &remote,
            "PUT",
            &format!("/projects/{project}/members/{account}"),
            Some(json!({"role": role})),
        )?,
        ProjectCmd::Quota {
            project,
            max_bytes,
            max_artifacts,
            remote,
        } => send(
            &remote,
            "PUT",
            &format!("/projects/{project}/quota"),
            Some(json!({"max_bytes": max_bytes, "max_artifacts": max_artifacts})),
        )?,
        ProjectCmd::Immutable {
            project,
            patterns,
            remote,
        } => {
            let rules: Vec<Value> = patterns
                .iter()
                .map(|p| match p.split_once(':') {
                    Some((repos, tags)) => json!({"repositories": repos, "tags": tags}),
                    None => json!({"repositories": "**", "tags": p}),
                })
                .collect();
            send(
                &remote,
                "PUT",
                &format!("/projects/{project}/immutable"),
                Some(json!(rules)),
            )?
        }
        ProjectCmd::Retention {
            project,
            keep_last,
            keep_tag,
            keep_days,
            remote,
        } => send(
            &remote,
            "PUT",
            &format!("/projects/{project}/retention"),
            Some(json!({"keep_last": keep_last, "keep_tags": keep_tag, "keep_days": keep_days})),
        )?,
        ProjectCmd::RetentionRun {
            project,
            apply,
            remote,
        } => send(
            &remote,
            "POST",
            &format!("/projects/{project}/retention/run?dry_run={}", !apply),
            None,
        )?,
    };
    format.print(&v, view);
    Ok(())
}

pub fn robot(cmd: RobotCmd) -> anyhow::Result<()> {
    let view = matches!(cmd, RobotCmd::List { .. }).then_some(&ROBOTS);
    let (v, format) = match cmd {
        RobotCmd::List { project, remote } => {
            send(&remote, "GET", &format!("/projects/{project}/robots"), None)?
        }
        RobotCmd::Create {
            project,
            name,
            actions,
            repositories,
            expires_in_days,
            remote,
        } => send(
            &remote,
            "POST",
            &format!("/projects/{project}/robots"),
            Some(json!({
                "name": name,
                "permissions": [{"repositories": repositories, "actions": actions}],
                "expires_in_days": expires_in_days,
            })),
        )?,
        RobotCmd::Delete {
            project,
            name,
            remote,
        } => send(
            &remote,
            "DELETE",
            &format!("/projects/{project}/robots/{name}"),
            None,
        )?,
    };
    format.print(&v, view);
    Ok(())
}

pub fn webhook(cmd: WebhookCmd) -> anyhow::Result<()> {
    let view = match cmd {
        WebhookCmd::List { .. } => Some(&WEBHOOKS),
        WebhookCmd::Deliveries { .. } => Some(&DELIVERIES),
        _ => None,
    };
    let (v, format) = match cmd {
        WebhookCmd::List { project, remote } => send(
            &remote,
            "GET",
            &format!("/projects/{project}/webhooks"),
            None,
        )?,
        WebhookCmd::Add {
            project,
            url,
            events,
            remote,
        } => {
            let secret = std::env::var("ZOLL_WEBHOOK_SECRET")
                .context("set ZOLL_WEBHOOK_SECRET to the webhook's HMAC secret")?;
            send(
                &remote,
                "POST",
                &format!("/projects/{project}/webhooks"),
                Some(json!({"url": url, "secret": secret, "events": events})),
            )?
        }
        WebhookCmd::Delete {
            project,
            id,
            remote,
        } => send(
            &remote,
            "DELETE",
            &format!("/projects/{project}/webhooks/{id}"),
            None,
        )?,
        WebhookCmd::Deliveries {
            project,
            id,
            remote,
        } => send(
            &remote,
            "GET",
            &format!("/projects/{project}/webhooks/{id}/deliveries"),
            None,
        )?,
    };
    format.print(&v, view);
    Ok(())
}
