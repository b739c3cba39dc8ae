//! Shared test support: a SoftHSM2 token with keys made by `pkcs11-tool` (an independent
//! PKCS#11 client), peers on PATH, paths of the vectors.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const TOKEN: &str = "zoll-test";
pub const PIN: &str = "1234";

/// Fails (never skips) when a peer is missing, naming the installer.
pub fn require_peer(program: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "peer `{program}` is missing: run scripts/install-peers.sh (scripts/peers.d/trust.sh)"
    );
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

/// Keys the shared token holds: (label, id, pkcs11-tool key type).
pub const TOKEN_KEYS: &[(&str, &str, &str)] = &[
    ("ec256", "01", "EC:prime256v1"),
    ("ec384", "02", "EC:secp384r1"),
    ("rsa2048", "03", "rsa:2048"),
    ("rsa3072", "04", "rsa:3072"),
];

/// One SoftHSM2 token directory per test process, made before the module is first loaded
/// (SoftHSM reads its configuration once, at C_Initialize).
pub fn softhsm() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        assert!(
            Path::new(SOFTHSM_MODULE).exists(),
            "SoftHSM2 is missing: run scripts/install-peers.sh (scripts/peers.d/trust.sh)"
        );
        require_peer("softhsm2-util");
        require_peer("pkcs11-tool");
        let dir = std::env::temp_dir().join(format!("zoll-trust-softhsm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.join("tokens").display()
            ),
        )
        .unwrap();
        // Set once, before any PKCS#11 use in this process; child processes inherit it.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        run(Command::new("softhsm2-util").args([
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--pin",
            PIN,
            "--so-pin",
            "5678",
        ]));
        for (label, id, key_type) in TOKEN_KEYS {
            run(Command::new("pkcs11-tool").args([
                "--module",
                SOFTHSM_MODULE,
                "--token-label",
                TOKEN,
                "--login",
                "--pin",
                PIN,
                "--keypairgen",
                "--key-type",
                key_type,
                "--label",
                label,
                "--id",
                id,
            ]));
        }
        dir
    })
}

/// The URI of a key on the shared token.
pub fn hsm_uri(label: &str) -> String {
    softhsm();
    format!("pkcs11:token={TOKEN};object={label}?module-path={SOFTHSM_MODULE}&pin-value={PIN}")
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
