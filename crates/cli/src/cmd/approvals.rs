//! Quorum-approved signing from the command line (`docs/policy.md`): `zoll sign --remote`
//! asks a server-held key to sign, `zoll approvals list|show` shows what waits and exactly
//! what would be signed, `zoll approve` / `zoll reject` sign the request's canonical bytes
//! with the approver's own key (a PEM file or a `pkcs11:` URI) and send the signature. All
//! of it through `zoll_approval::client` against `/api/v1/approvals`.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::Value;
use zoll_approval::client::ApprovalsClient;
use zoll_approval::request::{Canonical, sign_vote};
use zoll_approval::{APPROVE, REJECT};
use zoll_client::{ImageRef, Location};
use zoll_stdx::text::shown;
use zoll_trust::keys;

use crate::remote::{Remote, read_password};
use crate::runtime;

#[derive(Subcommand)]
pub enum ApprovalsCmd {
    /// Signing requests waiting for approval (with --all: also the ended ones).
    List {
        /// Also the requests that ended (signed, rejected, expired, failed).
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Exactly what a request would sign: digest, repository, stage and the canonical bytes
    /// approvers sign.
    Show {
        /// The request id (from `zoll approvals list`).
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(clap::Args)]
pub struct ApproveArgs {
    /// The request id (from `zoll approvals list`).
    id: String,
    /// The approver's private key: a PEM file or a pkcs11: URI.
    #[arg(long)]
    key: String,
    /// Approve without being asked (scripts). Without it the request is shown and a
    /// terminal asks for confirmation; with no terminal nothing is approved.
    #[arg(long, short = 'y')]
    yes: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct RejectArgs {
    /// The request id.
    id: String,
    /// Reject as an approver: sign the rejection with this key (PEM file or pkcs11: URI).
    #[arg(long, conflicts_with = "reason")]
    key: Option<String>,
    /// Withdraw the request without an approver key (its requester, or someone who may
    /// manage the project's policies), saying why.
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

fn client(remote: &Remote) -> anyhow::Result<ApprovalsClient> {
    let credentials = remote.credentials()?;
    let (http, base) = remote.endpoint()?;
    Ok(ApprovalsClient::with_http(
        base.as_str(),
        http,
        Some(credentials),
    ))
}

/// One line per request: id, state, votes, key, image, stage.
fn line(v: &Value) -> String {
    let approvals = v["votes"]
        .as_array()
        .map(|votes| votes.iter().filter(|x| x["decision"] == APPROVE).count())
        .unwrap_or(0);
    let stage = Canonical::parse(v["canonical"].as_str().unwrap_or("").as_bytes())
        .ok()
        .and_then(|c| c.claims.get(zoll_policy::STAGE_CLAIM).cloned())
        .unwrap_or_else(|| "-".into());
    let text = |k: &str| shown(v[k].as_str().unwrap_or("?"));
    format!(
        "{}  {:<10} {}/{}  {}  {}@{}  stage {}",
        text("id"),
        text("state"),
        approvals,
        v["quorum"],
        text("key"),
        text("repository"),
        text("digest"),
        shown(&stage),
    )
}

/// State, outcome and votes of a request as the server reports them.
fn status(v: &Value) -> String {
    let mut out = format!("state      {}", shown(v["state"].as_str().unwrap_or("?")));
    if let Some(o) = v["outcome"].as_str().filter(|o| !o.is_empty()) {
        out.push_str(&format!(" ({})", shown(o)));
    }
    out.push('\n');
    for vote in v["votes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "vote       {} {}\n",
            shown(vote["approver"].as_str().unwrap_or("?")),
            shown(vote["decision"].as_str().unwrap_or("?")),
        ));
    }
    out
}

pub fn approvals(cmd: ApprovalsCmd) -> anyhow::Result<()> {
    match cmd {
        ApprovalsCmd::List { all, remote } => {
            let api = client(&remote)?;
            let v = runtime()?.block_on(api.list(all))?;
            if remote.out.output.is_machine() {
                remote.out.output.print(&v, None);
                return Ok(());
            }
            let list = v.as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no {}signing requests", if all { "" } else { "open " });
            }
            for r in &list {
                println!("{}", line(r));
            }
            Ok(())
        }
        ApprovalsCmd::Show { id, remote } => {
            let api = client(&remote)?;
            let (canonical, bytes, v) = runtime()?.block_on(async {
                let (c, bytes) = api.canonical(&id).await?;
                let v = api.get(&id).await?;
                Ok::<_, zoll_approval::ApprovalError>((c, bytes, v))
            })?;
            if remote.out.output.is_machine() {
                remote.out.output.print(&v, None);
                return Ok(());
            }
            print!("{}{}", canonical.describe(), status(&v));
            println!(
                "canonical bytes (approvers sign \"zoll approval v1\\n<approve|reject>\\n\" followed by these):"
            );
            println!("{}", String::from_utf8_lossy(&bytes));
            Ok(())
        }
    }
}

/// Signs the request's canonical bytes for `decision` with `key` and sends the vote; prints
/// what was signed and the request's state. With `confirm`, the request is shown first and
/// the vote is sent only if the person at the terminal says yes.
fn vote(remote: &Remote, id: &str, key: &str, decision: &str, confirm: bool) -> anyhow::Result<()> {
    if confirm && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!(
            "nothing approved: no terminal to confirm on; read the request with `zoll approvals \
             show` and pass --yes"
        );
    }
    let key = keys::open_key(key)?;
    let api = client(remote)?;
    let rt = runtime()?;
    let (canonical, bytes) = rt.block_on(api.canonical(id))?;
    if confirm {
        eprint!("{}", canonical.describe());
        confirmed(&format!("{decision} request {id}?"))?;
    }
    let v = rt.block_on(async {
        let signature = sign_vote(key.as_ref(), decision, &bytes)
            .map_err(|e| zoll_approval::ApprovalError::Sign(e.to_string()))?;
        api.vote(id, decision, &signature).await
    })?;
    if remote.out.output.is_machine() {
        remote.out.output.print(&v, None);
        return Ok(());
    }
    print!("{}{}", canonical.describe(), status(&v));
    Ok(())
}

/// Asks `question` on the terminal (the caller checked there is one); an error unless the
/// answer is yes.
fn confirmed(question: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, Read, Write};
    let stdin = std::io::stdin();
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    stdin
        .lock()
        .take(16)
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => bail!("not approved: the answer was not yes"),
    }
}

pub fn approve(args: ApproveArgs) -> anyhow::Result<()> {
    vote(&args.remote, &args.id, &args.key, APPROVE, !args.yes)
}

pub fn reject(args: RejectArgs) -> anyhow::Result<()> {
    match &args.key {
        Some(key) => vote(&args.remote, &args.id, key, REJECT, false),
        None => {
            let api = client(&args.remote)?;
            let reason = args.reason.unwrap_or_default();
            let v = runtime()?.block_on(api.withdraw(&args.id, &reason))?;
            if args.remote.out.output.is_machine() {
                args.remote.out.output.print(&v, None);
                return Ok(());
            }
            print!("{}", status(&v));
            Ok(())
        }
    }
}

/// `zoll sign --remote --key QUORUM_KEY REF`: a pending request for the server's key; prints
/// its id on standard output (and what it asks for on standard error).
pub fn request(
    image: &ImageRef,
    quorum_key: &str,
    claims: &BTreeMap<String, String>,
    user: &str,
    connection: &crate::connect::Connection,
) -> anyhow::Result<()> {
    let Location::Registry { registry, repo } = &image.location else {
        bail!("--remote signs in a registry: give host[:port]/repository:tag");
    };
    let Some(reference) = &image.reference else {
        bail!("--remote needs a tag or digest: {registry}/{repo}:TAG or @sha256:...");
    };
    let config = connection.client_config()?;
    let password = read_password(user, false)?;
    let base = zoll_client::http::base_url(registry, config.plain_http)?;
    let api = ApprovalsClient::with_http(
        base.as_str(),
        zoll_client::http::http_client(&config)?,
        Some((user.to_owned(), password)),
    );
    let v = runtime()?.block_on(api.request(
        quorum_key,
        registry,
        repo.as_str(),
        &reference.to_string(),
        claims,
    ))?;
    let id = v["id"]
        .as_str()
        .context("the server returned no request id")?;
    let canonical = Canonical::parse(v["canonical"].as_str().unwrap_or("").as_bytes())
        .map_err(|e| anyhow::anyhow!("the server returned an unreadable request: {e}"))?;
    eprint!("{}", canonical.describe());
    println!("{id}");
    Ok(())
}
