//! Shared test support: a SoftHSM2 token with keys made by `pkcs11-tool` (an independent
//! PKCS#11 client), peers on PATH, paths of the vectors.

use std::path::{Path, PathBuf};
use std::process::Command;

pub use zoll_testkit::{
    SOFTHSM_KEYS as TOKEN_KEYS, SOFTHSM_MODULE, SOFTHSM_PIN as PIN, SOFTHSM_TOKEN as TOKEN,
    require_peer, softhsm_key as hsm_uri,
};

/// The shared token of this test process (`zoll_testkit::softhsm_token`).
pub fn softhsm() -> &'static Path {
    zoll_testkit::softhsm_token()
}

pub fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn vectors() -> PathBuf {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/notation");
    assert!(
        shared.exists(),
        "the Notation vectors are missing: expected shared/ beside the repository ({})",
        shared.display()
    );
    shared
}

/// The npm peers' node_modules (installed by scripts/peers.d/trust.sh into .peers/trust-node).
pub fn node_modules() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.peers/trust-node/node_modules");
    assert!(
        dir.join("@sigstore/verify/package.json").exists(),
        "npm @sigstore/verify is missing from .peers/trust-node: run scripts/install-peers.sh (scripts/peers.d/trust.sh)"
    );
    dir
}

/// A helper script of the peer tests (tests/peers/NAME).
pub fn peer_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}
