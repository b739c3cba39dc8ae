//! Logging for every command that logs (`serve`, `admission`, the store commands): level
//! from `ZOLL_LOG` or the configuration, human or JSON lines on standard error.

use anyhow::{Context, bail};

use crate::config::Config;

pub fn init(c: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ZOLL_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&c.log.level))
        .context("invalid log level")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match c.log.format.as_str() {
        "human" => builder.init(),
        "json" => builder.json().init(),
        other => bail!("unknown log format {other:?} (use human or json)"),
    }
    Ok(())
}
