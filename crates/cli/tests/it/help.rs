//! What the binary says about itself: every command's `--help` against a reviewed golden
//! copy, shell completions and the manual page, checked by the tools that consume them
//! (bash parses the script, groff renders the page).

use std::io::Write;
use std::process::{Command, Stdio};

fn zoll(args: &[&str]) -> String {
    // No ZOLL_* from the environment: clap shows an environment variable's value in help.
    let out = Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("run zoll");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Feeds `input` to `cmd` and returns (success, stderr).
fn feed(cmd: &mut Command, input: &str) -> (bool, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn completions_parse_and_name_the_commands() {
    let bash = zoll(&["completion", "bash"]);
    let (parsed, err) = feed(Command::new("bash").arg("-n"), &bash);
    assert!(parsed, "bash cannot parse the completion script: {err}");
    for command in [
        "serve",
        "verify",
        "approve",
        "project",
        "retention-run",
        "completion",
    ] {
        assert!(
            bash.contains(command),
            "{command} missing from the bash completion"
        );
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let script = zoll(&["completion", shell]);
        assert!(script.contains("verify"), "{shell}: {script}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args(["completion", "tcsh"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tcsh"), "{err}");
}

#[test]
fn the_manual_page_renders_without_warnings() {
    let page = zoll(&["man"]);
    assert!(page.contains(".TH zoll 1"), "{page}");
    let (rendered, warnings) = feed(
        Command::new("groff").args(["-man", "-Tutf8", "-ww", "-z"]),
        &page,
    );
    assert!(rendered && warnings.is_empty(), "groff: {warnings}");
    for command in ["serve", "verify", "approve", "project"] {
        assert!(
            page.contains(command),
            "{command} missing from the manual page"
        );
    }
}

/// The subcommands a `--help` lists under "Commands:" (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// Every command's `--help`, walked from `zoll --help` through the binary itself, matches
/// `golden/help.txt` (`ZOLL_UPDATE_GOLDEN=1` rewrites it, for review in the diff), and no
/// command, argument or flag goes undescribed: each entry under Commands, Arguments and
/// Options has text beside or beneath it.
#[test]
fn every_help_matches_the_reviewed_golden_copy() {
    let mut all = String::new();
    let mut queue = vec![Vec::<String>::new()];
    while let Some(path) = queue.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = zoll(&args);
        all.push_str(&format!("## zoll {}\n{help}\n", path.join(" ")));
        for sub in subcommands(&help).into_iter().rev() {
            let mut next = path.clone();
            next.push(sub);
            queue.push(next);
        }
        // An entry is described on its own line (after a run of spaces) or, in long help,
        // on the lines under it.
        let lines: Vec<&str> = help.lines().collect();
        let mut section = "";
        for (i, l) in lines.iter().enumerate() {
            let text = l.trim_start();
            if !l.starts_with(' ') {
                section = l;
                continue;
            }
            let listed = matches!(section, "Commands:" | "Arguments:" | "Options:");
            if !listed || l.len() - text.len() >= 10 || text.is_empty() {
                continue;
            }
            let same_line = text
                .split_once("  ")
                .is_some_and(|(_, rest)| !rest.trim().is_empty());
            let under = lines
                .get(i + 1)
                .is_some_and(|n| n.starts_with("          ") && !n.trim().is_empty());
            assert!(
                same_line || under,
                "zoll {}: {text:?} has no description",
                path.join(" ")
            );
        }
    }
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/golden/help.txt");
    if std::env::var_os("ZOLL_UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &all).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    if want != all {
        let first = want
            .lines()
            .zip(all.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(all.lines().count()));
        panic!(
            "the help differs from {} from line {}: {:?} now, {:?} reviewed (ZOLL_UPDATE_GOLDEN=1 \
             rewrites it; review the diff)",
            golden.display(),
            first + 1,
            all.lines().nth(first),
            want.lines().nth(first)
        );
    }
}
