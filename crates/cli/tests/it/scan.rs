//! `zoll scan` and `zoll db` as a process, on an OCI layout built by the tests: findings,
//! suppression, exit codes, re-matching a stored SBOM, and the SBOMs checked by independent
//! validators (CycloneDX's JSON schema via cyclonedx-python-lib, SPDX via pyspdxtools, and syft
//! reading zoll's CycloneDX back).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use zoll_testkit::{TarEntry, TestImage};

const INSTALL: &str = "run scripts/install-peers.sh (scripts/peers.d/scan.sh)";

const STATUS: &str = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u3\n\n\
Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b7\nSource: bash (5.2.15-2)\n\n\
Package: oldpkg\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0\n";

fn zoll(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args(args)
        .output()
        .expect("zoll runs")
}

fn osv_fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scan/tests/fixtures/osv");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

/// A two-layer Debian-like image: a package database, a Python package, accounts with an empty
/// password, a setuid file; the second layer deletes a Python package by whiteout.
async fn image(dir: &Path) {
    TestImage::new()
        .layer(&[
            TarEntry::file("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"),
            TarEntry::file("var/lib/dpkg/status", STATUS),
            TarEntry::file("etc/passwd", "root:x:0:0:root:/root:/bin/bash\nguest:x:1000:1000::/home/guest:/bin/sh\n"),
            TarEntry::file("etc/shadow", "root:*:19000:0:99999:7:::\nguest::19000:0:99999:7:::\n"),
            TarEntry::file("usr/bin/su", "\x7fELF-not-really").mode(0o4755),
            TarEntry::file("usr/lib/python3/dist-packages/Jinja2-3.1.3.dist-info/METADATA", "Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.3\n\n"),
            TarEntry::file("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n\n"),
        ])
        .layer(&[TarEntry::whiteout("usr/lib/python3/dist-packages/six-1.16.0.dist-info")])
        .config(|c| {
            c["config"]["Env"] = json!(["PATH=/usr/bin", "AWS_SECRET_ACCESS_KEY=hunter2"]);
            c["history"] = json!([{"created_by": "ADD https://example.com/x.tgz /opt/"}, {"created_by": "RUN pip uninstall -y six"}]);
        })
        .write_layout(dir, "v1")
        .await;
}

struct Setup {
    _tmp: tempfile::TempDir,
    target: String,
    db: String,
    dir: PathBuf,
}

async fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tempdir");
    let layout = tmp.path().join("layout");
    image(&layout).await;
    let db = tmp.path().join("osv.jsonl");
    let mut args = vec![
        "db".to_owned(),
        "import".to_owned(),
        "--db".to_owned(),
        db.display().to_string(),
    ];
    args.extend(osv_fixtures().iter().map(|p| p.display().to_string()));
    let out = Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args(&args)
        .output()
        .expect("zoll runs");
    assert!(
        out.status.success(),
        "db import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("14 added"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    Setup {
        dir: tmp.path().to_path_buf(),
        target: format!("oci:{}:v1", layout.display()),
        db: db.display().to_string(),
        _tmp: tmp,
    }
}

fn json_out(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "zoll failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn ids(report: &Value) -> Vec<(String, String, bool)> {
    report["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities")
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap_or("").to_owned(),
                f["package"].as_str().unwrap_or("").to_owned(),
                f.get("suppressed").is_some(),
            )
        })
        .collect()
}

#[tokio::test]
async fn scan_reports_findings_lint_and_exit_codes() {
    let s = setup().await;
    let report = json_out(&zoll(&[
        "scan", &s.target, "--db", &s.db, "--format", "json",
    ]));
    assert_eq!(
        report["packages"], 3,
        "libc6, bash and Jinja2; six deleted by whiteout, oldpkg not installed"
    );
    assert_eq!(
        ids(&report),
        vec![
            ("CVE-2099-0001".into(), "libc6".into(), false),
            ("CVE-2099-0003".into(), "bash".into(), false),
            ("CVE-2099-0020".into(), "Jinja2".into(), false),
        ]
    );
    let failed: Vec<(String, String)> = report["lint"]["results"]
        .as_array()
        .expect("lint")
        .iter()
        .filter(|r| r["level"] != "PASS")
        .map(|r| {
            (
                r["code"].as_str().unwrap_or("").to_owned(),
                r["level"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for want in [
        ("CIS-DI-0001", "WARN"),
        ("CIS-DI-0009", "FATAL"),
        ("CIS-DI-0010", "FATAL"),
        ("CIS-DI-0008", "INFO"),
        ("DKL-LI-0001", "FATAL"),
    ] {
        assert!(
            failed.contains(&(want.0.to_owned(), want.1.to_owned())),
            "{want:?} not in {failed:?}"
        );
    }
    // The secret's value never appears in a report.
    assert!(!report.to_string().contains("hunter2"));

    let critical = zoll(&[
        "scan",
        &s.target,
        "--db",
        &s.db,
        "--severity",
        "CRITICAL",
        "--exit-code",
        "3",
        "--format",
        "json",
    ]);
    assert_eq!(critical.status.code(), Some(3));
    assert_eq!(
        ids(&json_out_any(&critical)),
        vec![("CVE-2099-0001".into(), "libc6".into(), false)]
    );

    // A VEX statement and an allowlist entry suppress both critical/high findings.
    let vex = s.dir.join("vex.json");
    std::fs::write(&vex, json!({"@context": "https://openvex.dev/ns/v0.2.0", "author": "sec@example.com", "statements": [
        {"vulnerability": {"name": "CVE-2099-0001"}, "products": [{"@id": "pkg:deb/debian/libc6"}], "status": "not_affected", "justification": "vulnerable_code_not_present"}]}).to_string()).expect("write");
    let allow = s.dir.join("allow.toml");
    std::fs::write(&allow, "[[allow]]\nid = \"CVE-2099-0020\"\npackage = \"Jinja2\"\nreason = \"templates are not user-controlled\"\nauthor = \"bob\"\nexpires = \"2999-12-31\"\n").expect("write");
    let ok = zoll(&[
        "scan",
        &s.target,
        "--db",
        &s.db,
        "--severity",
        "CRITICAL,HIGH",
        "--exit-code",
        "3",
        "--vex",
        vex.to_str().unwrap_or(""),
        "--allowlist",
        allow.to_str().unwrap_or(""),
        "--format",
        "json",
    ]);
    assert_eq!(
        ok.status.code(),
        Some(3),
        "bash's unfixed HIGH finding is still open"
    );
    assert_eq!(
        ids(&json_out_any(&ok)),
        vec![
            ("CVE-2099-0001".into(), "libc6".into(), true),
            ("CVE-2099-0003".into(), "bash".into(), false),
            ("CVE-2099-0020".into(), "Jinja2".into(), true)
        ]
    );
    let lint_gate = zoll(&[
        "scan",
        &s.target,
        "--skip-db",
        "--lint-fail",
        "FATAL",
        "--exit-code",
        "4",
        "--format",
        "table",
    ]);
    assert_eq!(lint_gate.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&lint_gate.stdout).contains("DKL-LI-0001"));
}

fn json_out_any(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[tokio::test]
async fn stored_sbom_is_rematched_without_layers() {
    let s = setup().await;
    let sbom = s.dir.join("sbom.cdx.json");
    let out = zoll(&[
        "scan",
        &s.target,
        "--skip-db",
        "--format",
        "cyclonedx",
        "-o",
        sbom.to_str().unwrap_or(""),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The layout is gone: only the SBOM is left.
    std::fs::remove_dir_all(s.dir.join("layout")).expect("remove layout");
    let rematched = json_out(&zoll(&[
        "scan",
        &format!("sbom:{}", sbom.display()),
        "--db",
        &s.db,
        "--format",
        "json",
    ]));
    assert_eq!(
        ids(&rematched),
        vec![
            ("CVE-2099-0001".into(), "libc6".into(), false),
            ("CVE-2099-0003".into(), "bash".into(), false),
            ("CVE-2099-0020".into(), "Jinja2".into(), false)
        ]
    );
}

#[tokio::test]
async fn sboms_pass_independent_validators() {
    let s = setup().await;
    let cdx = s.dir.join("sbom.cdx.json");
    let spdx = s.dir.join("sbom.spdx.json");
    let sarif = s.dir.join("report.sarif");
    for (format, path) in [("cyclonedx", &cdx), ("spdx", &spdx), ("sarif", &sarif)] {
        let out = zoll(&[
            "scan",
            &s.target,
            "--db",
            &s.db,
            "--format",
            format,
            "-o",
            path.to_str().unwrap_or(""),
        ]);
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // CycloneDX 1.6 JSON schema, strict, with CycloneDX's own validator.
    let check = Command::new("python3")
        .args(["-c", "import sys\nfrom cyclonedx.validation.json import JsonStrictValidator\nfrom cyclonedx.schema import SchemaVersion\nerr = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\nprint(err or '')\nsys.exit(1 if err else 0)", cdx.to_str().unwrap_or("")])
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(
        check.status.success(),
        "CycloneDX validation failed ({INSTALL}): {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // SPDX 2.3 with the SPDX project's validator.
    let check = Command::new("pyspdxtools")
        .args(["-i", spdx.to_str().unwrap_or("")])
        .output()
        .unwrap_or_else(|e| panic!("pyspdxtools did not start ({e}); {INSTALL}"));
    assert!(
        check.status.success(),
        "SPDX validation failed: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // syft reads zoll's CycloneDX back with the same packages and purls.
    let conv = Command::new("syft")
        .args(["convert", cdx.to_str().unwrap_or(""), "-o", "syft-json"])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .output()
        .unwrap_or_else(|e| panic!("syft did not start ({e}); {INSTALL}"));
    assert!(
        conv.status.success(),
        "syft convert: {}",
        String::from_utf8_lossy(&conv.stderr)
    );
    let doc: Value = serde_json::from_slice(&conv.stdout).expect("syft JSON");
    let mut purls: Vec<String> = doc["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter_map(|a| a["purl"].as_str().map(str::to_owned))
        .collect();
    purls.sort();
    assert_eq!(
        purls,
        vec![
            "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64&distro=debian-12&upstream=bash%405.2.15-2",
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u3?arch=amd64&distro=debian-12&upstream=glibc",
            "pkg:pypi/jinja2@3.1.3",
        ]
    );
    let sarif: Value =
        serde_json::from_slice(&std::fs::read(&sarif).expect("sarif")).expect("json");
    assert_eq!(sarif["version"], "2.1.0");
    let rules: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["ruleId"].as_str())
        .collect();
    assert!(
        rules.contains(&"CVE-2099-0001") && rules.contains(&"DKL-LI-0001"),
        "{rules:?}"
    );
}

#[tokio::test]
async fn bad_input_is_one_line_and_nonzero() {
    let s = setup().await;
    for (args, needle) in [
        (
            vec!["scan", "dir:/nonexistent/zoll", "--skip-db"],
            "/nonexistent/zoll",
        ),
        (vec!["scan", &s.target, "--format", "xml"], "unknown format"),
        (
            vec!["scan", &s.target, "--severity", "SEVERE"],
            "unknown severity",
        ),
        (
            vec!["scan", &s.target, "--db", "/nonexistent/osv.jsonl"],
            "zoll db import",
        ),
        (
            vec!["scan", "oci:/nonexistent/layout:v1", "--skip-db"],
            "/nonexistent/layout",
        ),
        (
            vec!["db", "import", "--db", &s.db, "/nonexistent.zip"],
            "/nonexistent.zip",
        ),
    ] {
        let out = zoll(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("zoll: ") && err.contains(needle),
            "{args:?}: {err}"
        );
    }
}

/// A first run without a vulnerability database still gives the SBOM and the lint, with a
/// warning that says how to get a database; --require-db makes it an error (issue 16).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_database_the_sbom_and_lint_still_answer() {
    let s = setup().await;
    let empty = tempfile::tempdir().unwrap();
    let data = empty.path().to_str().unwrap();
    let out = zoll(&["scan", &s.target, "--format", "json", "--data", data]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("no vulnerability database") && err.contains("zoll db import"),
        "{err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["packages"].as_u64().is_some_and(|n| n > 0),
        "{report}"
    );
    assert!(report["lint"]["results"].as_array().is_some(), "{report}");
    let out = zoll(&["scan", &s.target, "--require-db", "--data", data]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("zoll db import"), "{err}");
}
