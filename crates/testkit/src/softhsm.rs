//! A SoftHSM2 token for one test process, made by independent tools (softhsm2-util and
//! OpenSC's pkcs11-tool) before zoll first loads the module.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::require_peer;

pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const SOFTHSM_TOKEN: &str = "zoll-test";
pub const SOFTHSM_PIN: &str = "1234";
/// The key pairs on the token: (label, id, pkcs11-tool key type). The trust tests sign with
/// each kind; the policy and approval tests use the last three as a stage key, a quorum
/// key and an approver's key.
pub const SOFTHSM_KEYS: &[(&str, &str, &str)] = &[
    ("ec256", "01", "EC:prime256v1"),
    ("ec384", "02", "EC:secp384r1"),
    ("rsa2048", "03", "rsa:2048"),
    ("rsa3072", "04", "rsa:3072"),
    ("stage", "05", "EC:prime256v1"),
    ("quorum", "06", "EC:prime256v1"),
    ("approver", "07", "EC:prime256v1"),
];

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `pkcs11:` URI (module and PIN included) of the key pair `label` (one of
/// [`SOFTHSM_KEYS`]) on this process's token.
pub fn softhsm_key(label: &str) -> String {
    assert!(
        SOFTHSM_KEYS.iter().any(|(l, _, _)| *l == label),
        "no SoftHSM key {label:?}"
    );
    softhsm_token();
    format!(
        "pkcs11:token={SOFTHSM_TOKEN};object={label}?module-path={SOFTHSM_MODULE}&pin-value={SOFTHSM_PIN}"
    )
}

/// This process's token directory: the first call creates the token with every key of
/// [`SOFTHSM_KEYS`] and sets `SOFTHSM2_CONF` (before any PKCS#11 use: SoftHSM reads its
/// configuration once, at C_Initialize; child processes inherit it). Fails (never skips)
/// when SoftHSM2 or OpenSC is missing.
pub fn softhsm_token() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        assert!(
            Path::new(SOFTHSM_MODULE).exists(),
            "SoftHSM2 is missing: run scripts/install-peers.sh"
        );
        require_peer("softhsm2-util");
        require_peer("pkcs11-tool");
        let dir = std::env::temp_dir().join(format!("zoll-softhsm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tokens")).expect("token directory");
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.join("tokens").display()
            ),
        )
        .expect("softhsm2.conf");
        std::env::set_var("SOFTHSM2_CONF", &conf);
        run(Command::new("softhsm2-util").args([
            "--init-token",
            "--free",
            "--label",
            SOFTHSM_TOKEN,
            "--pin",
            SOFTHSM_PIN,
            "--so-pin",
            "5678",
        ]));
        for (label, id, key_type) in SOFTHSM_KEYS {
            run(Command::new("pkcs11-tool").args([
                "--module",
                SOFTHSM_MODULE,
                "--token-label",
                SOFTHSM_TOKEN,
                "--login",
                "--pin",
                SOFTHSM_PIN,
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
