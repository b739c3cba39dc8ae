//! The `zoll` binary: argument parsing, configuration and logging. Business logic lives in
//! the library crates.

#![forbid(unsafe_code)]

mod config;
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
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ZOLL_LISTEN")]
    listen: Option<String>,
    /// Data directory (blobs and metadata).
    #[arg(long, env = "ZOLL_DATA")]
    data: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, env = "ZOLL_CONFIG")]
    config: Option<PathBuf>,
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
