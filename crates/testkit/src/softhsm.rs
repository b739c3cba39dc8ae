//! A SoftHSM2 token for one test process, made by independent tools (softhsm2-util and
//! OpenSC's pkcs11-tool) before zoll first loads the module.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "zoll-test";
const PIN: &str = "1234";
/// The EC P-256 key pairs on the token, by label.
pub const SOFTHSM_LABELS: [&str; 3] = ["stage", "quorum", "approver"];

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
/// [`SOFTHSM_LABELS`]) on this process's token; the first call creates the token and sets
/// `SOFTHSM2_CONF`. Fails (never skips) when SoftHSM2 or OpenSC is missing.
pub fn softhsm_key(label: &str) -> String {
    assert!(SOFTHSM_LABELS.contains(&label), "no SoftHSM key {label:?}");
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        assert!(
            Path::new(SOFTHSM_MODULE).exists(),
            "SoftHSM2 is missing: run scripts/install-peers.sh (scripts/peers.d/policy.sh)"
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
            TOKEN,
            "--pin",
            PIN,
            "--so-pin",
            "5678",
        ]));
        for (i, label) in SOFTHSM_LABELS.iter().enumerate() {
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
                "EC:prime256v1",
                "--label",
                label,
                "--id",
                &format!("{:02x}", i + 1),
            ]));
        }
        dir
    });
    format!("pkcs11:token={TOKEN};object={label}?module-path={SOFTHSM_MODULE}&pin-value={PIN}")
}
