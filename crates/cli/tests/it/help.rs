//! What the binary says about itself: shell completions and the manual page, checked by the
//! tools that consume them (bash parses the script, groff renders the page).

use std::io::Write;
use std::process::{Command, Stdio};

fn zoll(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args(args)
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
