//! Governance commands. Offline ones open the store like `zoll gc` (the embedded backend
//! while `serve` is stopped; shared backends at any time): `user add`, `user
//! import-htpasswd`, `audit verify`, `audit export`, `backup`, `restore`. The rest talk to
//! a running registry's management API (`--registry`, `--user`, password from
//! `ZOLL_PASSWORD` or stdin): `project ...`, `robot ...`, `webhook ...`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use zoll_registry::auth::password;
use zoll_store::Account;

use crate::StoreArgs;
use crate::config;
use crate::progress::Bar;
use crate::remote::{Remote, call, read_password, show};
use crate::{open_existing_store, open_store, runtime};

#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a local user; the password comes from ZOLL_PASSWORD, a prompt on a terminal,
    /// or standard input.
    Add {
        /// The account name.
        name: String,
        /// Read the password from standard input even on a terminal.
        #[arg(long)]
        password_stdin: bool,
        /// System administrator.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Import users from an htpasswd file (bcrypt hashes; upgraded to argon2id at login).
    ImportHtpasswd {
        /// The htpasswd file (`name:$2y$...` lines).
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain; exit status 1 and each finding with its position if broken.
    Verify(StoreArgs),
    /// Write the trail to standard output as JSON lines or CSV.
    Export {
        /// jsonl or csv.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Only records after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub fn user(cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add {
            name,
            admin,
            password_stdin,
            store,
        } => {
            zoll_registry::auth::check_account_name(&name).map_err(anyhow::Error::msg)?;
            let c = config::load_for(&store)?;
            let pass = read_password(&name, password_stdin)?;
            let hash = password::hash(&pass);
            runtime()?.block_on(async {
                let store = open_store(&c).await?;
                let created = store
                    .put_account(&Account::user(&name, hash, admin), false)
                    .await;
                store.close().await;
                if !created.context("cannot store the account")? {
                    bail!("account {name} exists");
                }
                println!(
                    "user {name} created{}",
                    if admin { " (administrator)" } else { "" }
                );
                Ok(())
            })
        }
        UserCmd::ImportHtpasswd { file, store } => {
            let c = config::load_for(&store)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let (users, rejected) = password::parse_htpasswd(&text);
            for line in &rejected {
                eprintln!(
                    "zoll: {}:{line}: not a bcrypt entry, skipped",
                    file.display()
                );
            }
            runtime()?.block_on(async {
                let store = open_store(&c).await?;
                let mut imported = 0;
                for (name, hash) in users {
                    if let Err(why) = zoll_registry::auth::check_account_name(&name) {
                        eprintln!("zoll: {why}, skipped");
                        continue;
                    }
                    if store
                        .put_account(&Account::user(&name, hash, false), false)
                        .await?
                    {
                        imported += 1;
                    } else {
                        eprintln!("zoll: account {name} exists, skipped");
                    }
                }
                store.close().await;
                println!("imported {imported} users");
                Ok(())
            })
        }
    }
}

pub fn audit(cmd: AuditCmd) -> anyhow::Result<()> {
    match cmd {
        AuditCmd::Verify(args) => {
            let c = config::load_for(&args)?;
            runtime()?.block_on(async {
                let store = open_existing_store(&c).await?;
                let report = store.audit_verify().await;
                store.close().await;
                let r = report.context("cannot read the audit trail")?;
                for f in &r.findings {
                    println!("{f}");
                }
                println!(
                    "audit: {} records, head seq {} hash {}",
                    r.records, r.head_seq, r.head_hash
                );
                if !r.intact() {
                    bail!(
                        "the audit trail was tampered with ({} findings)",
                        r.findings.len()
                    );
                }
                println!("audit: chain intact");
                Ok(())
            })
        }
        AuditCmd::Export {
            format,
            after,
            store,
        } => {
            let c = config::load_for(&store)?;
            if format != "jsonl" && format != "csv" {
                bail!("unknown format {format:?} (jsonl or csv)");
            }
            runtime()?.block_on(async {
                let store = open_existing_store(&c).await?;
                let mut after = after;
                let mut first = true;
                let mut out = std::io::stdout().lock();
                loop {
                    let page = store.audit_records(after, 1000).await?;
                    let Some(last) = page.last() else { break };
                    after = last.seq;
                    let text = match format.as_str() {
                        "csv" => zoll_registry::export::csv_rows(&page, first),
                        _ => zoll_registry::export::jsonl(&page),
                    };
                    first = false;
                    std::io::Write::write_all(&mut out, text.as_bytes())?;
                }
                if first && format == "csv" {
                    println!("{}", zoll_registry::export::CSV_HEADER);
                }
                store.close().await;
                Ok(())
            })
        }
    }
}

pub fn backup(dir: PathBuf, args: StoreArgs) -> anyhow::Result<()> {
    let c = config::load_for(&args)?;
    runtime()?.block_on(async {
        let store = open_existing_store(&c).await?;
        let r = store.backup_with(&dir, &Bar::new("backup", false)).await;
        store.close().await;
        let r = r.context("backup failed")?;
        println!(
            "backup: {} metadata rows, {} blobs ({} bytes{}) in {}",
            r.rows,
            r.blobs,
            r.blob_bytes,
            if r.bytes_included {
                ""
            } else {
                ", listed only: they stay in the bucket"
            },
            dir.display()
        );
        Ok(())
    })
}

pub fn restore(dir: PathBuf, args: StoreArgs) -> anyhow::Result<()> {
    let c = config::load_for(&args)?;
    // Checked before the target store is opened (and so created): a wrong path leaves
    // nothing behind.
    if !dir.join("backup.json").is_file() {
        bail!("{} is not a zoll backup (no backup.json)", dir.display());
    }
    runtime()?.block_on(async {
        let store = open_store(&c).await?;
        let r = store.restore_with(&dir, &Bar::new("restore", false)).await;
        store.close().await;
        let r = r.context("restore failed")?;
        println!(
            "restore: {} metadata rows, {} blobs ({} bytes)",
            r.rows, r.blobs, r.blob_bytes
        );
        Ok(())
    })
}

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
pub fn project(cmd: ProjectCmd) -> anyhow::Result<()> {
    let v = match cmd {
        ProjectCmd::List(r) => call(&r, "GET", "/projects", None)?,
        ProjectCmd::Create {
            name,
            public,
            remote,
        } => call(
            &remote,
            "POST",
            "/projects",
            Some(json!({"name": name, "public": public})),
        )?,
        ProjectCmd::Delete { name, remote } => {
            call(&remote, "DELETE", &format!("/projects/{name}"), None)?
        }
        ProjectCmd::Member {
            project,
            account,
            role,
            remote,
        } => call(
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
        } => call(
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
            call(
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
        } => call(
            &remote,
            "PUT",
            &format!("/projects/{project}/retention"),
            Some(json!({"keep_last": keep_last, "keep_tags": keep_tag, "keep_days": keep_days})),
        )?,
        ProjectCmd::RetentionRun {
            project,
            apply,
            remote,
        } => call(
            &remote,
            "POST",
            &format!("/projects/{project}/retention/run?dry_run={}", !apply),
            None,
        )?,
    };
    show(&v);
    Ok(())
}

pub fn robot(cmd: RobotCmd) -> anyhow::Result<()> {
    let v = match cmd {
        RobotCmd::List { project, remote } => {
            call(&remote, "GET", &format!("/projects/{project}/robots"), None)?
        }
        RobotCmd::Create {
            project,
            name,
            actions,
            repositories,
            expires_in_days,
            remote,
        } => call(
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
        } => call(
            &remote,
            "DELETE",
            &format!("/projects/{project}/robots/{name}"),
            None,
        )?,
    };
    show(&v);
    Ok(())
}

pub fn webhook(cmd: WebhookCmd) -> anyhow::Result<()> {
    let v = match cmd {
        WebhookCmd::List { project, remote } => call(
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
            call(
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
        } => call(
            &remote,
            "DELETE",
            &format!("/projects/{project}/webhooks/{id}"),
            None,
        )?,
        WebhookCmd::Deliveries {
            project,
            id,
            remote,
        } => call(
            &remote,
            "GET",
            &format!("/projects/{project}/webhooks/{id}/deliveries"),
            None,
        )?,
    };
    show(&v);
    Ok(())
}
