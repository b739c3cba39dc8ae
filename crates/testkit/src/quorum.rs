//! A quorum-key file for tests of the approvals: a fresh file key and two approvers.

use std::path::{Path, PathBuf};

use zoll_trust::keys::{KeyKind, KeySource, generate_key};

/// Writes `approvals.toml` in `dir` with the key `name` (a fresh P-256 file key,
/// `cosign-legacy`) for the repositories matching `repositories`: 2 of the 2 approvers
/// `alice` and `bob` (fresh keys, public halves only), a one-hour timelock and a two-hour
/// expiry. Returns its path.
pub fn quorum_keys_file(dir: &Path, name: &str, repositories: &str) -> PathBuf {
    let quorum = generate_key(KeyKind::EcP256).expect("generates a key");
    std::fs::write(dir.join("quorum.key"), quorum.private_pem.as_bytes()).unwrap();
    for approver in ["alice", "bob"] {
        let k = generate_key(KeyKind::EcP256).expect("generates a key");
        let pem = k.key.public_key().to_pem();
        std::fs::write(dir.join(format!("{approver}.pub")), pem).unwrap();
    }
    let path = dir.join("approvals.toml");
    let config = format!(
        r#"version = 1
[[key]]
name = "{name}"
key = "quorum.key"
format = "cosign-legacy"
quorum = 2
timelock_secs = 3600
expiry_secs = 7200
repositories = ["{repositories}"]
approvers = [
  {{ name = "alice", key = "alice.pub" }},
  {{ name = "bob", key = "bob.pub" }},
]
"#
    );
    std::fs::write(&path, config).unwrap();
    path
}
