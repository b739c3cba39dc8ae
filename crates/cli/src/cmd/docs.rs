//! `zoll completion SHELL` and `zoll man`: generated from the same clap definitions that
//! parse the command line, so they cannot drift from it.

use std::io::Write;

use anyhow::Context;

/// Writes the completion script for `shell` to standard output.
pub fn completion(mut cli: clap::Command, shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cli, "zoll", &mut out);
    std::io::stdout()
        .write_all(&out)
        .context("cannot write the completion script")
}

/// Writes the manual page (roff) to standard output.
pub fn man(cli: clap::Command) -> anyhow::Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cli)
        .render(&mut out)
        .context("cannot render the manual page")?;
    std::io::stdout()
        .write_all(&out)
        .context("cannot write the manual page")
}
