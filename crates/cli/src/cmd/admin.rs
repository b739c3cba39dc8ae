//! Administration that works on a running registry and, for recovery, without one: `user`,
//! `audit`, `backup` talk to the management API by default (the registry keeps serving);
//! with `--offline` they open the data directory like `zoll gc` (an embedded store only
//! while `serve` is stopped; PostgreSQL + S3 at any time). `restore` and
//! `user import-htpasswd` are offline only: they fill a store before it serves.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use futures_util::StreamExt;
use serde_json::{Value, json};
use zoll_registry::auth::password;
use zoll_stdx::progress::Progress;
use zoll_store::{Account, AuditRecord, BackupWriter};

use crate::config;
use crate::output::{Format, View, plural};
use crate::progress::Bar;
use crate::remote::{Api, Remote, new_password};
use crate::{StoreArgs, open_existing_store, open_store, runtime};

/// Where an administration command works.
#[derive(clap::Args)]
pub struct Target {
    /// Work on the data directory instead of a running registry (recovery: the embedded
    /// registry must be stopped; with PostgreSQL + S3 it may keep running).
    #[arg(long)]
    offline: bool,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    remote: Remote,
}

impl Target {
    fn format(&self) -> Format {
        self.remote.out.output
    }
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a local user. The new password comes from ZOLL_NEW_PASSWORD, a prompt on a
    /// terminal (typed twice), or standard input.
    Add {
        /// The account name.
        name: String,
        /// System administrator.
        #[arg(long)]
        admin: bool,
        /// Read the new password from standard input even on a terminal.
        #[arg(long)]
        new_password_stdin: bool,
        #[command(flatten)]
        target: Target,
    },
    /// List the accounts (users and robots).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Delete an account.
    Delete {
        /// The account name.
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Set a user's password (your own, or anyone's as a system administrator; with
    /// --offline, the way back in when the administrator password is lost).
    Passwd {
        /// The account name.
        name: String,
        /// Read the new password from standard input even on a terminal.
        #[arg(long)]
        new_password_stdin: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Import users from an htpasswd file (offline; bcrypt hashes, upgraded to argon2id at
    /// login).
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
    Verify {
        #[command(flatten)]
        target: Target,
    },
    /// Write the trail to standard output as JSON lines or CSV.
    Export {
        /// jsonl or csv.
        #[arg(long = "format", value_name = "jsonl|csv", default_value = "jsonl")]
        format: String,
        /// Only records after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[command(flatten)]
        target: Target,
    },
}

const ACCOUNTS: View = View {
    columns: &[
        ("NAME", "name"),
        ("KIND", "kind"),
        ("ADMIN", "admin"),
        ("DISABLED", "disabled"),
        ("PROJECT", "project"),
        ("EXPIRES", "expires_ms"),
        ("CREATED", "created_ms"),
    ],
    empty: "no accounts",
};

fn check_name(name: &str) -> anyhow::Result<()> {
    zoll_registry::auth::check_account_name(name).map_err(anyhow::Error::msg)
}

/// A registry that could not be reached: say that these commands also work offline.
fn offline_hint(e: anyhow::Error) -> anyhow::Error {
    let line = format!("{e:#}");
    if line.starts_with("cannot reach") {
        anyhow::anyhow!(
            "{line} (is `zoll serve` running there? `zoll user`, `audit` and `backup` also \
             work --offline on the data directory)"
        )
    } else {
        e
    }
}

pub fn user(cmd: UserCmd) -> anyhow::Result<()> {
    user_on(cmd).map_err(offline_hint)
}

fn user_on(cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add {
            name,
            admin,
            new_password_stdin,
            target,
        } => {
            check_name(&name)?;
            if target.offline {
                let pass = new_password(&name, new_password_stdin)?;
                return on_store(&target, true, |store| async move {
                    let created = store
                        .put_account(&Account::user(&name, password::hash(&pass), admin), false)
                        .await
                        .context("cannot store the account")?;
                    if !created {
                        bail!("account {name} exists");
                    }
                    println!("user {name} created{}", administrator(admin));
                    Ok(())
                });
            }
            let (api, pass) = caller_and_new_password(&target, &name, new_password_stdin)?;
            let body = json!({"name": name, "password": pass, "admin": admin});
            let v = runtime()?.block_on(api.call("POST", "/users", Some(body)))?;
            finish(
                target.format(),
                &v,
                &format!("user {name} created{}", administrator(admin)),
            );
            Ok(())
        }
        UserCmd::List { target } => {
            let format = target.format();
            let v = if target.offline {
                offline(&target, |store| async move {
                    let list = store.accounts(None).await?;
                    Ok(json!(
                        list.iter()
                            .map(zoll_registry::account_json)
                            .collect::<Vec<_>>()
                    ))
                })?
            } else {
                let api = Api::connect(&target.remote)?;
                runtime()?.block_on(api.call("GET", "/users", None))?
            };
            format.print(&v, Some(&ACCOUNTS));
            Ok(())
        }
        UserCmd::Delete { name, target } => {
            if target.offline {
                return offline(&target, |store| async move {
                    if !store.delete_account(&name).await? {
                        bail!("no account {name}");
                    }
                    println!("account {name} deleted");
                    Ok(())
                });
            }
            let api = Api::connect(&target.remote)?;
            let v = runtime()?.block_on(api.call("DELETE", &format!("/users/{name}"), None))?;
            finish(target.format(), &v, &format!("account {name} deleted"));
            Ok(())
        }
        UserCmd::Passwd {
            name,
            new_password_stdin,
            target,
        } => {
            if target.offline {
                let pass = new_password(&name, new_password_stdin)?;
                return offline(&target, |store| async move {
                    if !store
                        .set_password_hash(&name, &password::hash(&pass))
                        .await?
                    {
                        bail!("no account {name}");
                    }
                    println!("password of {name} set");
                    Ok(())
                });
            }
            let (api, pass) = caller_and_new_password(&target, &name, new_password_stdin)?;
            let path = format!("/users/{name}/password");
            let v = runtime()?.block_on(api.call("PUT", &path, Some(json!({"password": pass}))))?;
            finish(target.format(), &v, &format!("password of {name} set"));
            Ok(())
        }
        UserCmd::ImportHtpasswd { file, store } => import_htpasswd(&file, &store),
    }
}

/// The connection as the caller (their password read first) and the new password of
/// `name`, for `user add` and `user passwd` online.
fn caller_and_new_password(
    target: &Target,
    name: &str,
    new_password_stdin: bool,
) -> anyhow::Result<(Api, String)> {
    let api = Api::connect(&target.remote)?;
    Ok((api, new_password(name, new_password_stdin)?))
}

fn administrator(admin: bool) -> &'static str {
    if admin { " (administrator)" } else { "" }
}

/// What a change prints: a sentence for people, the registry's answer for machines.
fn finish(format: Format, answer: &Value, sentence: &str) {
    if format.is_machine() {
        format.print(answer, None);
    } else {
        println!("{sentence}");
    }
}

/// Runs `work` on the store of `target`'s data directory, which must exist.
fn offline<F, Fut, T>(target: &Target, work: F) -> anyhow::Result<T>
where
    F: FnOnce(Arc<zoll_store::Store>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    on_store(target, false, work)
}

/// Runs `work` on the store of `target`'s data directory; `create` makes one if there is
/// none (`user add` may set up accounts before the first start).
fn on_store<F, Fut, T>(target: &Target, create: bool, work: F) -> anyhow::Result<T>
where
    F: FnOnce(Arc<zoll_store::Store>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let c = config::load_for(&target.store)?;
    runtime()?.block_on(async {
        let store = if create {
            open_store(&c).await?
        } else {
            open_existing_store(&c).await?
        };
        let store = Arc::new(store);
        let r = work(store.clone()).await;
        store.close().await;
        r
    })
}

fn import_htpasswd(file: &Path, store: &StoreArgs) -> anyhow::Result<()> {
    let c = config::load_for(store)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
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
        println!("imported {}", plural(imported, "user", "users"));
        Ok(())
    })
}

pub fn audit(cmd: AuditCmd) -> anyhow::Result<()> {
    audit_on(cmd).map_err(offline_hint)
}

fn audit_on(cmd: AuditCmd) -> anyhow::Result<()> {
    match cmd {
        AuditCmd::Verify { target } => {
            let v = if target.offline {
                offline(&target, |store| async move {
                    let r = store
                        .audit_verify()
                        .await
                        .context("cannot read the audit trail")?;
                    Ok(json!({
                        "records": r.records,
                        "head_seq": r.head_seq,
                        "head_hash": r.head_hash,
                        "intact": r.intact(),
                        "findings": r.findings.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    }))
                })?
            } else {
                let api = Api::connect(&target.remote)?;
                runtime()?.block_on(api.call("GET", "/audit/verify", None))?
            };
            let findings = v["findings"].as_array().cloned().unwrap_or_default();
            if target.format().is_machine() {
                target.format().print(&v, None);
            } else {
                for f in &findings {
                    println!("{}", f.as_str().unwrap_or_default());
                }
                println!(
                    "audit: {}, head seq {} hash {}",
                    plural(v["records"].as_u64().unwrap_or(0), "record", "records"),
                    v["head_seq"],
                    v["head_hash"].as_str().unwrap_or_default()
                );
            }
            if v["intact"] != true {
                bail!(
                    "the audit trail was tampered with ({})",
                    plural(findings.len() as u64, "finding", "findings")
                );
            }
            if !target.format().is_machine() {
                println!("audit: chain intact");
            }
            Ok(())
        }
        AuditCmd::Export {
            format,
            after,
            target,
        } => {
            if format != "jsonl" && format != "csv" {
                bail!("unknown format {format:?} (jsonl or csv)");
            }
            if target.offline {
                return offline(&target, |store| async move {
                    export(&format, after, |after| {
                        let store = store.clone();
                        async move { Ok(store.audit_records(after, 1000).await?) }
                    })
                    .await
                });
            }
            let api = Api::connect(&target.remote)?;
            runtime()?.block_on(export(&format, after, |after| {
                let api = &api;
                async move {
                    let page = api
                        .call(
                            "GET",
                            &format!("/audit?after={after}&limit=1000&format=json"),
                            None,
                        )
                        .await?;
                    serde_json::from_value::<Vec<AuditRecord>>(page)
                        .context("the registry's audit page is not a list of records")
                }
            }))
        }
    }
}

/// Prints the trail after `after` page by page, as `page(after)` delivers it.
async fn export<F, Fut>(format: &str, mut after: i64, mut page: F) -> anyhow::Result<()>
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Vec<AuditRecord>>>,
{
    let mut first = true;
    let mut out = std::io::stdout().lock();
    loop {
        let records = page(after).await?;
        let Some(last) = records.last() else { break };
        if last.seq <= after {
            bail!("the audit trail's pages do not advance (seq {})", last.seq);
        }
        after = last.seq;
        let text = match format {
            "csv" => zoll_registry::export::csv_rows(&records, first),
            _ => zoll_registry::export::jsonl(&records),
        };
        first = false;
        std::io::Write::write_all(&mut out, text.as_bytes())?;
    }
    if first && format == "csv" {
        println!("{}", zoll_registry::export::CSV_HEADER);
    }
    Ok(())
}

/// Write a consistent backup of metadata and blobs into DIR.
#[derive(clap::Args)]
pub struct BackupArgs {
    /// A new or empty directory.
    dir: PathBuf,
    #[command(flatten)]
    target: Target,
}

pub fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let BackupArgs { dir, target } = args;
    let r = if target.offline {
        let bar = Bar::new("backup", target.format().is_machine());
        offline(&target, |store| {
            let dir = dir.clone();
            async move { store.backup_with(&dir, &bar).await.context("backup failed") }
        })?
    } else {
        let api = Api::connect(&target.remote)?;
        let bar = Bar::new("backup", target.format().is_machine());
        runtime()?
            .block_on(backup_online(&api, &dir, &bar))
            .map_err(offline_hint)
            .context("backup failed")?
    };
    let v = json!({
        "dir": dir,
        "rows": r.rows,
        "blobs": r.blobs,
        "blob_bytes": r.blob_bytes,
        "bytes_included": r.bytes_included,
    });
    let sentence = format!(
        "backup: {}, {} ({} bytes{}) in {}",
        plural(r.rows, "metadata row", "metadata rows"),
        plural(r.blobs, "blob", "blobs"),
        r.blob_bytes,
        if r.bytes_included {
            ""
        } else {
            ", listed only: they stay in the bucket"
        },
        dir.display()
    );
    finish(target.format(), &v, &sentence);
    Ok(())
}

/// Longest line of the backup stream: a row with a manifest (hex, so twice its bytes).
const MAX_BACKUP_LINE: usize = 64 << 20;

/// Reads the registry's backup stream into `dir`: rows and the blob list as they come, then
/// each blob's bytes (checked against its digest), `backup.json` last.
async fn backup_online(
    api: &Api,
    dir: &Path,
    progress: &dyn Progress,
) -> anyhow::Result<zoll_store::BackupReport> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} is not empty", dir.display());
    }
    let resp = api.send("GET", "/backup", None).await?;
    let mut lines = Lines::new(resp.bytes_stream());
    let header: Value = lines
        .next_json()
        .await?
        .context("the backup stream is empty")?;
    let format = header["format"].as_str().unwrap_or_default();
    if format != zoll_store::BACKUP_FORMAT {
        bail!(
            "the registry writes backups in format {format:?}; this zoll writes {}",
            zoll_store::BACKUP_FORMAT
        );
    }
    let bytes_included = header["bytes_included"] == true;
    let mut out = BackupWriter::create(dir, bytes_included)?;
    let mut blobs = Vec::new();
    let end = loop {
        let Some(v) = lines.next_json().await? else {
            bail!("the registry's backup stream ended early; the backup is incomplete");
        };
        if let Some(table) = v["table"].as_str() {
            out.row(table, &v["row"].to_string())?;
        } else if let Some(digest) = v["blob"].as_str() {
            let d: zoll_oci::Digest = digest.parse().context("a blob line without a digest")?;
            let size = v["size"].as_u64().context("a blob line without a size")?;
            out.blob(&d, size)?;
            blobs.push((d, size));
        } else if v.get("end").is_some() {
            break v["end"].clone();
        } else {
            bail!("unknown line in the backup stream");
        }
    };
    if end["blobs"].as_u64() != Some(blobs.len() as u64) {
        bail!(
            "the backup stream lists {} blobs, its end says {}",
            blobs.len(),
            end["blobs"]
        );
    }
    if bytes_included {
        let total = blobs
            .iter()
            .try_fold(0u64, |sum, (_, size)| sum.checked_add(*size))
            .context("the backup stream's blob sizes add up to more than 2^64 bytes")?;
        progress.grow(total);
        for (d, size) in &blobs {
            let resp = api.send("GET", &format!("/backup/blobs/{d}"), None).await?;
            out.blob_bytes(d, *size, resp.bytes_stream(), progress)
                .await?;
        }
    }
    // Checked before `backup.json` marks the directory a complete backup.
    if end["rows"].as_u64() != Some(out.rows()) {
        bail!(
            "the backup stream holds {} rows, its end says {}; the backup is incomplete",
            out.rows(),
            end["rows"]
        );
    }
    Ok(out.finish(zoll_stdx::time::now_ms())?)
}

/// JSON lines of a response body, each at most [`MAX_BACKUP_LINE`] bytes.
struct Lines<S> {
    body: S,
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no line end (searched once, not per chunk).
    searched: usize,
    done: bool,
}

impl<S> Lines<S>
where
    S: futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
{
    fn new(body: S) -> Self {
        Lines {
            body,
            buf: Vec::new(),
            searched: 0,
            done: false,
        }
    }

    async fn next_json(&mut self) -> anyhow::Result<Option<Value>> {
        loop {
            if let Some(at) = self.buf[self.searched..].iter().position(|b| *b == b'\n') {
                let end = self.searched + at;
                self.searched = 0;
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                return serde_json::from_slice(&line[..end])
                    .map(Some)
                    .context("a line of the backup stream is not JSON");
            }
            if self.buf.len() > MAX_BACKUP_LINE {
                bail!("a line of the backup stream is longer than {MAX_BACKUP_LINE} bytes");
            }
            if self.done {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                bail!("the registry's backup stream ended inside a line");
            }
            self.searched = self.buf.len();
            match self.body.next().await {
                Some(chunk) => self
                    .buf
                    .extend_from_slice(&chunk.context("reading the backup stream")?),
                None => self.done = true,
            }
        }
    }
}

/// Restore a backup from DIR into an empty store.
#[derive(clap::Args)]
pub struct RestoreArgs {
    /// A directory `zoll backup` wrote.
    dir: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let RestoreArgs { dir, store } = args;
    let c = config::load_for(&store)?;
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
            "restore: {}, {} ({} bytes)",
            plural(r.rows, "metadata row", "metadata rows"),
            plural(r.blobs, "blob", "blobs"),
            r.blob_bytes
        );
        Ok(())
    })
}
