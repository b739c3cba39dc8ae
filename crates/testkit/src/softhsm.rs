//! A SoftHSM2 token for one test process, made by independent tools (softhsm2-util and
//! OpenSC's pkcs11-tool) before zoll first loads the module.

use std::ffi::OsStr;
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

/// Where the tests' SoftHSM configuration lives: `SOFTHSM2_CONF`, which `.cargo/config.toml`
/// sets for every process cargo starts (test binaries and the `zoll` processes they spawn)
/// to `target/zoll-test-softhsm/softhsm2.conf`. It comes from the environment, never from
/// `set_var`: changing the environment of a running multi-threaded process is unsound (and
/// `unsafe` since edition 2024). A `SOFTHSM2_CONF` of the user's own is refused, so that the
/// tests never overwrite a real token configuration.
pub fn softhsm_conf() -> PathBuf {
    let conf = std::env::var_os("SOFTHSM2_CONF")
        .map(PathBuf::from)
        .expect("SOFTHSM2_CONF is set by .cargo/config.toml: run the tests through cargo");
    assert!(
        conf.parent().and_then(Path::file_name) == Some(OsStr::new("zoll-test-softhsm")),
        "SOFTHSM2_CONF={} is not the tests' own (.../zoll-test-softhsm/softhsm2.conf): unset it \
         so that the tests do not overwrite your token configuration",
        conf.display()
    );
    conf
}

/// The tests' token directory (holding [`softhsm_conf`]): the first call in a process waits
/// for any other test process using it (an exclusive lock held until this process ends),
/// then creates the token afresh with every key of [`SOFTHSM_KEYS`], before any PKCS#11 use
/// (SoftHSM reads its configuration once, at C_Initialize). Fails (never skips) when
/// SoftHSM2 or OpenSC is missing.
pub fn softhsm_token() -> &'static Path {
    static DIR: OnceLock<(PathBuf, std::fs::File)> = OnceLock::new();
    &DIR.get_or_init(|| {
        assert!(
            Path::new(SOFTHSM_MODULE).exists(),
            "SoftHSM2 is missing: run scripts/install-peers.sh"
        );
        require_peer("softhsm2-util");
        require_peer("pkcs11-tool");
        let conf = softhsm_conf();
        let dir = conf.parent().expect("a directory").to_path_buf();
        std::fs::create_dir_all(&dir).expect("token directory");
        let lock = std::fs::File::create(dir.join("lock")).expect("lock file");
        lock.lock().expect("the token lock");
        let _ = std::fs::remove_dir_all(dir.join("tokens"));
        std::fs::create_dir_all(dir.join("tokens")).expect("token directory");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.join("tokens").display()
            ),
        )
        .expect("softhsm2.conf");
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
        (dir, lock)
    })
    .0
}
