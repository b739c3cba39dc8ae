//! Peer programs the tests drive (skopeo, oras, softhsm2-util, trivy, …): installed by
//! `scripts/install-peers.sh`; a test that needs one fails when it is missing, never skips.

use std::process::Command;

/// Fails (never skips) when the peer program is missing, naming the installer.
pub fn require_peer(program: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "peer `{program}` is missing: run scripts/install-peers.sh"
    );
}
