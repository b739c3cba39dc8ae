//! The `zoll` binary: argument parsing, configuration and logging. Business logic lives in
//! the library crates. `cmd/` holds one module per command family, `serve/` the wiring
//! of the server (pull gate, admission mount, schedules), `remote.rs` the management-API
//! client.

#![forbid(unsafe_code)]

mod cmd;
mod config;
mod connect;
mod logging;
mod output;
mod progress;
mod remote;
mod serve;

use std::path::PathBuf;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use cmd::{
    admin, admission, approvals, crypt, docs, gov, key, maintain, policy, scan, scans, sign, verify,
};

#[derive(Parser)]
#[command(name = "zoll", version, about = "A trusted OCI registry in one binary")]
struct Cli {
    /// No progress bars (they are drawn only when standard error is a terminal).
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry (embedded default: ./zoll-data with local disk + SQLite, 127.0.0.1:5000).
    Serve(ServeArgs),
    /// Remove blobs no manifest references (also scheduled inside `serve`).
    Gc(GcArgs),
    /// Re-hash every stored blob and quarantine damaged ones (also scheduled inside `serve`).
    Scrub(StoreArgs),
    /// Apply pending metadata schema migrations (also done at start-up unless
    /// metadata.migrate_on_start = false).
    Migrate(StoreArgs),
    /// Encrypt image layers (ocicrypt format), or add/remove recipients of an encrypted image.
    Encrypt(crypt::EncryptArgs),
    /// Decrypt image layers; output is published only after every layer verified.
    Decrypt(crypt::DecryptArgs),
    /// Keys and certificates: generate, certify, import-cosign.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Sign an image (Notation JWS/COSE, cosign bundle or legacy .sig), with --stage NAME for
    /// a pipeline stage; or ask a quorum key of the registry to sign it (--remote).
    Sign(sign::SignArgs),
    /// Signing requests of the registry's quorum keys: list, show.
    #[command(subcommand)]
    Approvals(approvals::ApprovalsCmd),
    /// Approve a signing request: sign its canonical bytes with your key and send that.
    Approve(approvals::ApproveArgs),
    /// Reject a signing request (as an approver with --key, or withdraw it with --reason).
    Reject(approvals::RejectArgs),
    /// Trust policy: explain a decision.
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
    /// Attach a DSSE-signed in-toto attestation to an image.
    Attest(sign::AttestArgs),
    /// Verify an image's signatures; exit status 0 only when trusted.
    Verify(verify::VerifyArgs),
    /// Accounts: add, list, delete, passwd (a running registry, or --offline).
    #[command(subcommand)]
    User(admin::UserCmd),
    /// The tamper-evident audit trail: verify, export (a running registry, or --offline).
    #[command(subcommand)]
    Audit(admin::AuditCmd),
    /// Write a consistent backup of metadata and blobs into DIR (from a running registry,
    /// or --offline from the data directory).
    Backup(admin::BackupArgs),
    /// Restore a backup from DIR into an empty store (offline).
    Restore(admin::RestoreArgs),
    /// Scan results the registry keeps: list, show, rescan.
    #[command(subcommand)]
    Scans(scans::ScansCmd),
    /// Projects, members, quotas and policies (management API).
    #[command(subcommand)]
    Project(gov::ProjectCmd),
    /// Robot accounts (management API).
    #[command(subcommand)]
    Robot(gov::RobotCmd),
    /// Webhooks and their delivery log (management API).
    #[command(subcommand)]
    Webhook(gov::WebhookCmd),
    /// Inspect an image or directory: SBOM, vulnerabilities, hardening lint.
    Scan(scan::ScanArgs),
    /// Manage the offline vulnerability database (OSV).
    Db(scan::DbArgs),
    /// Run the Kubernetes admission webhook against a zoll registry.
    Admission(admission::AdmissionArgs),
    /// Print the shell completion script (`zoll completion bash > /etc/bash_completion.d/zoll`).
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (`zoll man | man -l -`).
    Man,
}

/// Where the data is: shared by every command that opens the store.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// Data directory (blobs and metadata).
    #[arg(long, env = "ZOLL_DATA")]
    data: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, env = "ZOLL_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct GcArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// List what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keep unreferenced blobs uploaded or linked less than this many seconds ago
    /// (default: gc.grace_secs from the configuration).
    #[arg(long)]
    grace_secs: Option<u64>,
    /// Also remove untagged manifests nothing needs (default: gc.untagged).
    #[arg(long)]
    untagged: bool,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "ZOLL_LISTEN")]
    listen: Option<String>,
    /// Log format: human or json.
    #[arg(long, env = "ZOLL_LOG_FORMAT")]
    log_format: Option<String>,
    /// PEM certificate chain; with --tls-key, serve HTTPS.
    #[arg(long, env = "ZOLL_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "ZOLL_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Turn authentication off: anyone may do anything. Local experiments and tests only;
    /// refused on non-loopback addresses.
    #[arg(long)]
    no_auth: bool,
}

/// The one async runtime of a command (the server builds its own in `serve`).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    zoll_stdx::rt::multi_thread().context("cannot start the async runtime")
}

/// Opens the store of the offline commands that read existing data (gc, scrub, audit,
/// backup): an embedded store must already be there. Opening creates a store, so a
/// mistyped `--data` would otherwise be answered from a new, empty one (and leave it behind).
async fn open_existing_store(c: &config::Config) -> anyhow::Result<zoll_store::Store> {
    let embedded_metadata = c.storage.data_dir.join("metadata.db");
    if c.metadata.url.is_none() && !embedded_metadata.is_file() {
        anyhow::bail!(
            "no zoll data in {}: check --data (ZOLL_DATA), or start `zoll serve` there once",
            c.storage.data_dir.display()
        );
    }
    open_store(c).await
}

/// Opens the store the configuration names, creating it if need be (`serve`, `restore`, and
/// `user add` / `user import-htpasswd`, which may set up accounts before the first start).
async fn open_store(c: &config::Config) -> anyhow::Result<zoll_store::Store> {
    zoll_store::Store::open(c.store_config())
        .await
        .with_context(|| {
            format!(
                "cannot open data directory {}",
                c.storage.data_dir.display()
            )
        })
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    progress::set_quiet(cli.quiet);
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Gc(args) => maintain::gc(args),
        Command::Scrub(args) => maintain::scrub(args),
        Command::Migrate(args) => maintain::migrate(args),
        Command::Encrypt(args) => crypt::encrypt(args),
        Command::Decrypt(args) => crypt::decrypt(args),
        Command::Key(command) => key::run(command),
        Command::Sign(args) => sign::sign(args),
        Command::Attest(args) => sign::attest(args),
        Command::Approvals(c) => approvals::approvals(c),
        Command::Approve(args) => approvals::approve(args),
        Command::Reject(args) => approvals::reject(args),
        Command::Policy(c) => policy::policy(c),
        Command::Verify(args) => verify::verify(args),
        Command::User(c) => admin::user(c),
        Command::Audit(c) => admin::audit(c),
        Command::Backup(args) => admin::backup(args),
        Command::Restore(args) => admin::restore(args),
        Command::Scans(c) => scans::scans(c),
        Command::Project(c) => gov::project(c),
        Command::Robot(c) => gov::robot(c),
        Command::Webhook(c) => gov::webhook(c),
        Command::Scan(args) => scan::scan(args),
        Command::Db(args) => scan::db(args),
        Command::Admission(args) => admission::run(args),
        Command::Completion { shell } => docs::completion(Cli::command(), shell),
        Command::Man => docs::man(Cli::command()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zoll: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error as one line: its causes joined by ": ", leaving out a cause whose text the line
/// already carries (an error that prints its source, then that source again, said "No such
/// file or directory (os error 2): No such file or directory (os error 2)"), and whitespace
/// (TOML errors span several lines) folded.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn an_error_line_says_each_cause_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let store = zoll_store::StoreError::from(io);
        let e = anyhow::Error::new(store).context("restore failed");
        let line = super::one_line(&e);
        assert_eq!(line.matches("entity not found").count(), 1, "{line}");
        assert!(
            line.starts_with("restore failed: storage I/O failed"),
            "{line}"
        );
        let toml = anyhow::anyhow!("TOML parse error at line 2\n  |\n2 | x =\n  |    ^");
        assert!(!super::one_line(&toml).contains('\n'));
    }

    /// Every command, subcommand, argument and flag says what it is: `--help` never shows a
    /// bare name, nor the doc comment of a shared argument group in place of a command's own.
    #[test]
    fn every_command_and_argument_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
            if about.trim().is_empty() || about.starts_with("Where the management API is") {
                missing.push(format!("{path}: no description of its own"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if arg
                    .get_help()
                    .is_none_or(|h| h.to_string().trim().is_empty())
                {
                    missing.push(format!("{path}: argument {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        let cli = super::Cli::command();
        for sub in cli.get_subcommands() {
            walk(sub, "zoll", &mut missing);
        }
        assert!(missing.is_empty(), "undescribed:\n{}", missing.join("\n"));
    }
}
