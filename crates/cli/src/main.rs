//! The `zoll` binary: argument parsing, configuration and logging. Business logic lives in
//! the library crates.

#![forbid(unsafe_code)]

mod config;
mod maintain;
mod scan;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "zoll", version, about = "A trusted OCI registry in one binary")]
struct Cli {
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
    /// Inspect an image or directory: SBOM, vulnerabilities, hardening lint.
    Scan(scan::ScanArgs),
    /// Manage the offline vulnerability database (OSV).
    Db(scan::DbArgs),
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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Gc(args) => maintain::gc(args),
        Command::Scrub(args) => maintain::scrub(args),
        Command::Scan(args) => scan::scan(args),
        Command::Db(args) => scan::db(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line, whatever the error chain carries (TOML errors span several).
            let text = format!("{e:#}");
            let line: Vec<&str> = text.split_whitespace().collect();
            eprintln!("zoll: {}", line.join(" "));
            std::process::ExitCode::FAILURE
        }
    }
}
