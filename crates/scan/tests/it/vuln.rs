//! Matching against the hand-written OSV fixture database (tests/fixtures/osv): Debian
//! backports and source keying, not-affected and unfixed entries, ranges in each ecosystem,
//! withdrawn advisories; VEX and allowlists; re-matching a stored SBOM; gate conditions.

use std::path::PathBuf;

use zoll_scan::catalog::{Catalog, Distro, Package, PackageKind};
use zoll_scan::lint::LintReport;
use zoll_scan::vuln::{self, Condition, Db, Severity, Suppressions, Verdict};

pub fn fixture_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let files: Vec<PathBuf> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/osv"))
            .expect("fixtures")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
    let path = dir.path().join("osv.jsonl");
    vuln::import(&path, &files).expect("import");
    let db = Db::load(&path).expect("load");
    (dir, db)
}

fn distro(id: &str, version: &str) -> Option<Distro> {
    Some(Distro {
        id: id.into(),
        version_id: Some(version.into()),
        codename: None,
        pretty_name: None,
    })
}

fn pkg(kind: PackageKind, name: &str, version: &str, source: Option<(&str, &str)>) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
        kind,
        purl: format!("pkg:test/{name}@{version}"),
        source_name: source.map(|s| s.0.into()),
        source_version: source.map(|s| s.1.into()),
        arch: None,
        licenses: vec![],
        location: "/fixture".into(),
        layer: Some(0),
    }
}

/// `expect`: the finding ids, each with its severity and fix, in report order.
fn check(db: &Db, distro: Option<Distro>, p: Package, expect: &[(&str, Severity, Option<&str>)]) {
    let what = format!("{} {}", p.name, p.version);
    let catalog = Catalog {
        distro,
        packages: vec![p],
    };
    let got: Vec<(String, Severity, Option<String>)> = vuln::match_catalog(&catalog, db)
        .into_iter()
        .map(|f| (f.id, f.severity, f.fixed))
        .collect();
    let want: Vec<(String, Severity, Option<String>)> = expect
        .iter()
        .map(|(i, s, f)| (i.to_string(), *s, f.map(str::to_owned)))
        .collect();
    assert_eq!(got, want, "{what}");
}

#[test]
fn debian_backports_and_source_keying() {
    let (_d, db) = fixture_db();
    let deb12 = || distro("debian", "12");
    let libc = |v: &str| pkg(PackageKind::Deb, "libc6", v, Some(("glibc", v)));
    check(
        &db,
        deb12(),
        libc("2.36-9+deb12u3"),
        &[("CVE-2099-0001", Severity::Critical, Some("2.36-9+deb12u4"))],
    );
    check(&db, deb12(), libc("2.36-9+deb12u4"), &[]);
    check(&db, deb12(), libc("2.36-9+deb12u10"), &[]);
    check(
        &db,
        deb12(),
        libc("2.36-9"),
        &[("CVE-2099-0001", Severity::Critical, Some("2.36-9+deb12u4"))],
    );
    // The same version under Debian 11 is judged by the Debian 11 entry.
    check(&db, distro("debian", "11"), libc("2.31-13+deb11u9"), &[]);
    // not-affected in bookworm (fixed "0"), affected in bullseye.
    check(
        &db,
        deb12(),
        pkg(
            PackageKind::Deb,
            "zlib1g",
            "1:1.2.13.dfsg-1",
            Some(("zlib", "1:1.2.13.dfsg-1")),
        ),
        &[],
    );
    check(
        &db,
        distro("debian", "11"),
        pkg(
            PackageKind::Deb,
            "zlib1g",
            "1:1.2.11.dfsg-2+deb11u2",
            Some(("zlib", "1:1.2.11.dfsg-2+deb11u2")),
        ),
        &[("DEBIAN-CVE-2099-0002", Severity::Unknown, None)],
    );
    // Unfixed: affected, no fix, the distro's urgency.
    check(
        &db,
        deb12(),
        pkg(
            PackageKind::Deb,
            "bash",
            "5.2.15-2+b7",
            Some(("bash", "5.2.15-2")),
        ),
        &[("CVE-2099-0003", Severity::High, None)],
    );
    // binNMU: the binary's version is 1.0-2+b1 but the source is 1.0-1, which is what counts.
    check(
        &db,
        deb12(),
        pkg(
            PackageKind::Deb,
            "libfoo1",
            "1.0-1+b1",
            Some(("foo-src", "1.0-1")),
        ),
        &[(
            "CVE-2099-0004",
            Severity::Medium,
            Some("1.0-2 (source foo-src)"),
        )],
    );
}

#[test]
fn language_and_other_distro_ecosystems() {
    let (_d, db) = fixture_db();
    let alpine = || distro("alpine", "3.23.6");
    check(
        &db,
        alpine(),
        pkg(
            PackageKind::Apk,
            "libcrypto3",
            "3.3.1-r0",
            Some(("openssl", "3.3.1-r0")),
        ),
        &[("CVE-2099-0010", Severity::Medium, Some("3.3.2-r0"))],
    );
    check(
        &db,
        alpine(),
        pkg(
            PackageKind::Apk,
            "libcrypto3",
            "3.3.2-r0",
            Some(("openssl", "3.3.2-r0")),
        ),
        &[],
    );
    // PyPI: normalised names, pre-releases inside the range.
    check(
        &db,
        None,
        pkg(PackageKind::Python, "jinja2", "3.1.3", None),
        &[("CVE-2099-0020", Severity::High, Some("3.1.4"))],
    );
    check(
        &db,
        None,
        pkg(PackageKind::Python, "Jinja2", "2.0rc1", None),
        &[("CVE-2099-0020", Severity::High, Some("3.1.4"))],
    );
    check(
        &db,
        None,
        pkg(PackageKind::Python, "jinja2", "2.0b1", None),
        &[],
    );
    check(
        &db,
        None,
        pkg(PackageKind::Python, "jinja2", "3.1.4", None),
        &[],
    );
    // npm: two ranges; a pre-release inside the second.
    check(
        &db,
        None,
        pkg(PackageKind::Npm, "@scope/lib", "1.4.1", None),
        &[("CVE-2099-0030", Severity::Critical, Some("1.4.2"))],
    );
    check(
        &db,
        None,
        pkg(PackageKind::Npm, "@scope/lib", "1.5.0", None),
        &[],
    );
    check(
        &db,
        None,
        pkg(PackageKind::Npm, "@scope/lib", "2.0.0-beta.2", None),
        &[("CVE-2099-0030", Severity::Critical, Some("2.0.1"))],
    );
    // Go: module versions carry a v prefix, OSV events do not; last_affected is inclusive.
    check(
        &db,
        None,
        pkg(PackageKind::GoStdlib, "stdlib", "v1.19.8", None),
        &[("CVE-2099-0040", Severity::Unknown, Some("1.20.14"))],
    );
    check(
        &db,
        None,
        pkg(PackageKind::GoStdlib, "stdlib", "v1.21.7", None),
        &[],
    );
    check(
        &db,
        None,
        pkg(PackageKind::Go, "example.com/greet", "v1.4.0", None),
        &[("CVE-2099-0040", Severity::Unknown, None)],
    );
    check(
        &db,
        None,
        pkg(PackageKind::Go, "example.com/greet", "v1.4.1", None),
        &[],
    );
    // crates.io: enumerated versions.
    check(
        &db,
        None,
        pkg(PackageKind::Rust, "itoa", "1.0.11", None),
        &[("CVE-2099-0050", Severity::Unknown, None)],
    );
    check(
        &db,
        None,
        pkg(PackageKind::Rust, "itoa", "1.0.9", None),
        &[],
    );
    // Maven: group:artifact, 1.2.3 < 1.2.10.
    let demo = |v: &str| pkg(PackageKind::Java, "demo", v, Some(("com.example", "")));
    check(
        &db,
        None,
        demo("1.2.3"),
        &[("CVE-2099-0060", Severity::Critical, Some("1.2.10"))],
    );
    check(&db, None, demo("1.2.10"), &[]);
    // rpm: epoch and release.
    let rocky = || distro("rocky", "9.3");
    check(
        &db,
        rocky(),
        pkg(PackageKind::Rpm, "openssl", "1:3.0.7-25.el9", None),
        &[("CVE-2099-0070", Severity::High, Some("1:3.0.7-27.el9"))],
    );
    check(
        &db,
        rocky(),
        pkg(PackageKind::Rpm, "openssl", "1:3.0.7-27.el9", None),
        &[],
    );
    // Withdrawn: never matches.
    check(
        &db,
        None,
        pkg(PackageKind::Python, "six", "1.16.0", None),
        &[],
    );
}

#[test]
fn vex_and_allowlist_suppress_with_reasons() {
    let (_d, db) = fixture_db();
    let mut p = pkg(PackageKind::Python, "jinja2", "3.1.3", None);
    p.purl = "pkg:pypi/jinja2@3.1.3".into();
    let catalog = Catalog {
        distro: None,
        packages: vec![
            p.clone(),
            pkg(PackageKind::Npm, "@scope/lib", "1.4.1", None),
        ],
    };
    let mut findings = vuln::match_catalog(&catalog, &db);
    let mut s = Suppressions::default();
    s.add_openvex(&serde_json::json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/1",
        "author": "security@example.com",
        "timestamp": "2025-01-01T00:00:00Z",
        "version": 1,
        "statements": [{
            "vulnerability": {"name": "CVE-2099-0020"},
            "products": [{"@id": "pkg:pypi/jinja2"}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path"
        }]
    }))
    .expect("openvex");
    s.add_allowlist_toml(
        "[[allow]]\nid = \"GHSA-npm1-xxxx-0001\"\npackage = \"@scope/lib\"\nreason = \"only used at build time\"\nauthor = \"alice\"\nexpires = \"2030-01-31\"\n",
        "allow.toml",
    )
    .expect("allowlist");
    let jan_2030 = 1_896_134_400; // 2030-02-01T00:00:00Z: the first second after the expiry day
    s.apply(&mut findings, &[], jan_2030 - 86_400);
    let by: Vec<(String, Option<String>)> = findings
        .iter()
        .map(|f| (f.id.clone(), f.suppressed.as_ref().map(|x| x.by.clone())))
        .collect();
    assert_eq!(
        by,
        vec![
            ("CVE-2099-0030".into(), Some("allowlist".into())),
            ("CVE-2099-0020".into(), Some("vex".into()))
        ]
    );
    let gate = Condition::NoVulnerabilityAtOrAbove {
        severity: Severity::Critical,
    };
    assert_eq!(
        vuln::evaluate(&gate, &findings, &LintReport::default()),
        Verdict::Met
    );
    // After the expiry day the allowlist entry no longer suppresses, and the gate names the CVE.
    s.apply(&mut findings, &[], jan_2030 + 1);
    assert_eq!(s.expired(jan_2030 + 1).len(), 1);
    match vuln::evaluate(&gate, &findings, &LintReport::default()) {
        Verdict::NotMet { reason, causes } => {
            assert_eq!(causes, vec!["CVE-2099-0030".to_owned()]);
            assert!(
                reason.starts_with("CRITICAL CVE-2099-0030 in @scope/lib 1.4.1"),
                "{reason}"
            );
        }
        Verdict::Met => panic!("expired allowlist entry still suppresses"),
    }
}

#[test]
fn allowlist_entries_need_reason_author_and_expiry() {
    let mut s = Suppressions::default();
    for (text, needle) in [
        (
            "[[allow]]\nid = \"CVE-1\"\nreason = \"\"\nauthor = \"a\"\nexpires = \"2030-01-01\"\n",
            "needs a reason and an author",
        ),
        (
            "[[allow]]\nid = \"CVE-1\"\nreason = \"r\"\nauthor = \"a\"\nexpires = \"soon\"\n",
            "is not YYYY-MM-DD",
        ),
        (
            "[[allow]]\nid = \"CVE-1\"\nreason = \"r\"\nexpires = \"2030-01-01\"\n",
            "missing field `author`",
        ),
    ] {
        match s.add_allowlist_toml(text, "allow.toml") {
            Err(zoll_scan::ScanError::BadInput { what, reason }) => {
                assert_eq!(what, "allow.toml");
                assert!(reason.contains(needle), "{reason}");
            }
            other => panic!("expected BadInput, got {other:?}"),
        }
    }
}

#[test]
fn import_real_format_zip_is_idempotent_and_keeps_newest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/osv");
    // An ecosystem dump as osv.dev publishes it: <ID>.json members at the root of a deflate zip.
    let zip = dir.path().join("all.zip");
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile, pathlib\nz = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\nfor p in sorted(pathlib.Path(sys.argv[2]).glob('*.json')): z.write(p, p.name)\nz.writestr('broken.json', '{not json')\nz.writestr('README', 'not a record')\nz.close()",
            zip.to_str().expect("utf-8"),
            fixtures,
        ])
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let db = dir.path().join("osv.jsonl");
    let first = vuln::import(&db, std::slice::from_ref(&zip)).expect("import");
    assert_eq!(
        (first.added, first.updated, first.withdrawn, first.total),
        (14, 0, 1, 14)
    );
    assert_eq!(first.rejected, vec!["broken.json".to_owned()]);
    let again = vuln::import(&db, std::slice::from_ref(&zip)).expect("re-import");
    assert_eq!((again.added, again.updated, again.unchanged), (0, 0, 14));
    let v1 = Db::load(&db).expect("load").digest;
    // A newer copy replaces; an older one does not.
    let newer = dir.path().join("newer.json");
    std::fs::write(&newer, r#"{"id":"DEBIAN-CVE-2099-0003","modified":"2025-06-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"bash"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"5.2.15-2+deb12u1"}]}]}]}"#).expect("write");
    let older = dir.path().join("older.json");
    std::fs::write(
        &older,
        r#"[{"id":"DSA-9001-1","modified":"2020-01-01T00:00:00Z","affected":[]}]"#,
    )
    .expect("write");
    let r = vuln::import(&db, &[newer, older]).expect("import");
    assert_eq!((r.added, r.updated, r.unchanged), (0, 1, 1));
    let loaded = Db::load(&db).expect("load");
    assert_ne!(
        loaded.digest, v1,
        "the database version changes with its content"
    );
    let bash = loaded
        .advisories
        .iter()
        .find(|a| a.id == "DEBIAN-CVE-2099-0003")
        .expect("kept");
    assert_eq!(bash.modified, "2025-06-01T00:00:00Z");
    // Not OSV at all: a clear error naming the file.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "[1, 2]").expect("write");
    match vuln::import(&db, &[bad]) {
        Err(zoll_scan::ScanError::BadInput { reason, .. }) => {
            assert!(reason.contains("record 0 is not OSV"), "{reason}")
        }
        other => panic!("expected BadInput, got {other:?}"),
    }
}

#[test]
fn cvss_scores() {
    // Base scores from FIRST's calculators (v3.1, v4.0) and NVD's (v2).
    for (v, severity, score) in [
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            Severity::Critical,
            9.8,
        ),
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
            Severity::Critical,
            10.0,
        ),
        (
            "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
            Severity::Medium,
            5.9,
        ),
        (
            "CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N",
            Severity::Medium,
            5.5,
        ),
        (
            "CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N",
            Severity::Medium,
            5.4,
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            Severity::Critical,
            9.3,
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:H/VA:N/SC:N/SI:N/SA:N",
            Severity::High,
            8.7,
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H",
            Severity::Critical,
            10.0,
        ),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", Severity::High, 7.5),
        ("AV:N/AC:M/Au:N/C:P/I:P/A:P", Severity::Medium, 6.8),
        ("AV:N/AC:L/Au:N/C:C/I:C/A:C", Severity::High, 10.0),
    ] {
        assert_eq!(vuln::cvss(v), Some((severity, score)), "{v}");
    }
    assert_eq!(vuln::cvss("CVSS:3.1/AV:N"), None);
    assert_eq!(vuln::cvss("CVSS:4.0/AV:N/AC:L"), None);
    assert_eq!(vuln::cvss("not a vector"), None);
}

/// Finding 9: advisories whose only vector is CVSS v4 (RustSec's, as osv.dev exports them)
/// or v2 were UNKNOWN and passed a "no CRITICAL" gate.
#[test]
fn v4_and_v2_only_advisories_are_scored_and_gated() {
    let (_d, db) = fixture_db();
    check(
        &db,
        None,
        pkg(PackageKind::Rust, "lz4_flex", "0.11.5", None),
        &[("CVE-2026-32829", Severity::High, Some("0.11.6"))],
    );
    check(
        &db,
        None,
        pkg(PackageKind::Python, "oldlib", "1.0", None),
        &[("CVE-2099-0222", Severity::High, Some("1.1"))],
    );
    let findings = vuln::match_catalog(
        &Catalog {
            distro: None,
            packages: vec![pkg(PackageKind::Rust, "lz4_flex", "0.11.5", None)],
        },
        &db,
    );
    let gate = Condition::NoVulnerabilityAtOrAbove {
        severity: Severity::High,
    };
    assert!(matches!(
        vuln::evaluate(&gate, &findings, &LintReport::default()),
        Verdict::NotMet { .. }
    ));
}

/// Issue 16: an allowlist entry names the package the way advisories do, often the source
/// package (`openssl` for the binary `libssl3`); an entry that matches nothing is reported.
#[test]
fn allowlist_entries_match_source_packages_and_stale_ones_are_reported() {
    let mut findings: Vec<vuln::Finding> = serde_json::from_str(
        r#"[{"id":"CVE-2099-7777","severity":"HIGH","package":"libssl3","source":"openssl",
            "version":"3.0.11-1","purl":"pkg:deb/debian/libssl3@3.0.11-1","kind":"deb",
            "location":"var/lib/dpkg/status"}]"#,
    )
    .unwrap();
    let mut s = Suppressions::default();
    s.add_allowlist_toml(
        "[[allow]]\nid = \"CVE-2099-7777\"\npackage = \"openssl\"\nreason = \"not reachable\"\n\
         author = \"alice\"\nexpires = \"2099-12-31\"\n\
         [[allow]]\nid = \"CVE-2099-0404\"\nreason = \"typo or fixed\"\nauthor = \"bob\"\n\
         expires = \"2099-12-31\"\n",
        "allow.toml",
    )
    .unwrap();
    let now = 1_800_000_000;
    s.apply(&mut findings, &[], now);
    assert_eq!(
        findings[0].suppressed.as_ref().map(|x| x.by.as_str()),
        Some("allowlist")
    );
    let stale: Vec<&str> = s
        .unmatched(&findings, now)
        .iter()
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(stale, vec!["CVE-2099-0404"]);
}
