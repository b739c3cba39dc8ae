//! Real root filesystems and images, cataloged by zoll and by syft and trivy: the package sets
//! must be equal except for the differences each fixture's expectation file
//! (tests/expect/<fixture>.toml) lists and explains.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zoll_scan::catalog::PackageKind;
use zoll_scan::job::{self, BlobSource, Inspection};
use zoll_scan::{Limits, ScanError};

use crate::peers;

#[derive(Deserialize)]
struct Expect {
    #[serde(default)]
    peer: BTreeMap<String, PeerDiff>,
}

#[derive(Deserialize, Default)]
struct PeerDiff {
    #[serde(default)]
    only_peer: Vec<Difference>,
    #[serde(default)]
    only_zoll: Vec<Difference>,
}

#[derive(Deserialize)]
struct Difference {
    package: String,
    why: String,
}

fn packages(i: &Inspection) -> BTreeSet<String> {
    i.catalog
        .packages
        .iter()
        .map(|p| format!("{}@{}", p.name, p.version))
        .collect()
}

/// Asserts that zoll and `peer` differ on `fixture` exactly as its expectation file says.
fn check(fixture: &str, zoll: &BTreeSet<String>, peer: &str, theirs: &BTreeSet<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expect")
        .join(format!("{fixture}.toml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let expect: Expect =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let listed = expect
        .peer
        .get(peer)
        .map(|d| (d.only_peer.as_slice(), d.only_zoll.as_slice()))
        .unwrap_or((&[], &[]));
    for d in listed.0.iter().chain(listed.1) {
        assert!(
            !d.why.trim().is_empty(),
            "{fixture}: {} has no explanation",
            d.package
        );
    }
    // `{go}`: the version of the Go toolchain the fixture was built with (recorded by
    // tests/rootfs/artifacts.sh), which both tools report for the standard library.
    let go = std::fs::read_to_string(format!("{}.go-version", peers::artifacts().display()))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    let expand = |d: &Difference| d.package.replace("{go}", &go);
    let want_peer: BTreeSet<String> = listed.0.iter().map(expand).collect();
    let want_zoll: BTreeSet<String> = listed.1.iter().map(expand).collect();
    let only_peer: BTreeSet<String> = theirs.difference(zoll).cloned().collect();
    let only_zoll: BTreeSet<String> = zoll.difference(theirs).cloned().collect();
    assert_eq!(
        (&only_peer, &only_zoll),
        (&want_peer, &want_zoll),
        "{fixture} vs {peer}: (only {peer}, only zoll) differ from {}; zoll found {} packages, {peer} {}",
        path.display(),
        zoll.len(),
        theirs.len()
    );
}

fn inspect_dir(path: &Path) -> Inspection {
    job::inspect_dir(path, &Limits::default()).expect("inspect")
}

#[test]
fn debian_bookworm_minbase_matches_syft_and_trivy() {
    let root = peers::debian_minbase();
    let zoll = inspect_dir(&root);
    let distro = zoll.catalog.distro.clone().expect("distro detected");
    assert_eq!(
        (distro.id.as_str(), distro.version_id.as_deref()),
        ("debian", Some("12"))
    );
    assert!(
        zoll.catalog
            .packages
            .iter()
            .all(|p| p.kind == PackageKind::Deb && p.source_name.is_some())
    );
    // libc6 is built from glibc: advisories are keyed by the source package.
    let libc = zoll
        .catalog
        .packages
        .iter()
        .find(|p| p.name == "libc6")
        .expect("libc6");
    assert_eq!(libc.source_name.as_deref(), Some("glibc"));
    let ours = packages(&zoll);
    check(
        "debian-bookworm-minbase",
        &ours,
        "syft",
        &peers::syft(&format!("dir:{}", root.display())),
    );
    check(
        "debian-bookworm-minbase",
        &ours,
        "trivy",
        &peers::trivy(&["rootfs", root.to_str().expect("utf-8")]),
    );
}

#[test]
fn alpine_matches_syft_and_trivy() {
    let root = peers::alpine();
    let zoll = inspect_dir(&root);
    assert_eq!(
        zoll.catalog.distro.as_ref().map(|d| d.id.as_str()),
        Some("alpine")
    );
    let crypto = zoll
        .catalog
        .packages
        .iter()
        .find(|p| p.name == "libcrypto3")
        .expect("libcrypto3");
    assert_eq!(crypto.source_name.as_deref(), Some("openssl"));
    let ours = packages(&zoll);
    check(
        "alpine",
        &ours,
        "syft",
        &peers::syft(&format!("dir:{}", root.display())),
    );
    check(
        "alpine",
        &ours,
        "trivy",
        &peers::trivy(&["rootfs", root.to_str().expect("utf-8")]),
    );
}

#[test]
fn language_artifacts_match_syft_and_trivy() {
    let root = peers::artifacts();
    let zoll = inspect_dir(&root);
    let kinds: BTreeSet<PackageKind> = zoll.catalog.packages.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [
            PackageKind::Python,
            PackageKind::Npm,
            PackageKind::Go,
            PackageKind::GoStdlib,
            PackageKind::Rust,
            PackageKind::Java
        ]
        .into_iter()
        .collect()
    );
    let ours = packages(&zoll);
    check(
        "artifacts",
        &ours,
        "syft",
        &peers::syft(&format!("dir:{}", root.display())),
    );
    // trivy cannot read jars offline (it needs its Java DB first), so the jar is left out of its
    // run and zoll's Java packages out of the comparison; see tests/expect/artifacts.toml.
    let java = root.join("app/java");
    let no_java: BTreeSet<String> = zoll
        .catalog
        .packages
        .iter()
        .filter(|p| p.kind != PackageKind::Java)
        .map(|p| format!("{}@{}", p.name, p.version))
        .collect();
    check(
        "artifacts",
        &no_java,
        "trivy",
        &peers::trivy(&[
            "rootfs",
            "--skip-dirs",
            java.to_str().expect("utf-8"),
            root.to_str().expect("utf-8"),
        ]),
    );
}

#[test]
fn rpm_database_matches_syft_and_trivy() {
    let root = peers::rpm();
    let zoll = inspect_dir(&root);
    assert_eq!(
        zoll.catalog
            .distro
            .as_ref()
            .and_then(|d| d.osv_ecosystem())
            .as_deref(),
        Some("Rocky Linux:9")
    );
    let libs = zoll
        .catalog
        .packages
        .iter()
        .find(|p| p.name == "openssl-libs")
        .expect("openssl-libs");
    assert_eq!(
        (libs.version.as_str(), libs.source_name.as_deref()),
        ("1:3.0.7-25.el9", Some("openssl"))
    );
    assert_eq!(
        libs.purl,
        "pkg:rpm/rocky/openssl-libs@3.0.7-25.el9?arch=x86_64&distro=rocky-9.3&epoch=1&upstream=openssl"
    );
    let ours = packages(&zoll);
    check(
        "rpm",
        &ours,
        "syft",
        &peers::syft(&format!("dir:{}", root.display())),
    );
    check(
        "rpm",
        &ours,
        "trivy",
        &peers::trivy(&["rootfs", root.to_str().expect("utf-8")]),
    );
}

/// Blobs of an OCI layout directory, for the library-level image test (the CLI goes through
/// zoll-client, which verifies digests while streaming).
struct LayoutBlobs(PathBuf);

impl BlobSource for LayoutBlobs {
    fn open(
        &mut self,
        _media_type: &str,
        digest: &str,
        _size: u64,
    ) -> Result<Box<dyn Read + '_>, ScanError> {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        let f = std::fs::File::open(self.0.join("blobs/sha256").join(hex))
            .map_err(ScanError::io(digest))?;
        Ok(Box::new(std::io::BufReader::new(f)))
    }
}

pub fn inspect_layout(layout: &Path) -> Inspection {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let manifest = std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .expect("manifest");
    job::inspect_image(
        "multilayer:v1",
        &digest,
        &manifest,
        &mut LayoutBlobs(layout.to_path_buf()),
        &Limits::default(),
    )
    .expect("inspect")
}

#[test]
fn multilayer_whiteouts_match_syft_and_trivy() {
    let layout = peers::multilayer();
    let zoll = inspect_layout(&layout);
    let find = |name: &str| zoll.catalog.packages.iter().find(|p| p.name == name);
    // Deleted by layer 1 (database rewritten, files whited out), by layer 2 (whiteout of the
    // dist-info directory) and by layer 2's opaque node_modules.
    assert!(find("sudo").is_none() && find("scanelf").is_none());
    assert!(find("demo-pkg").is_none() && find("left-pad").is_none());
    // Attribution: base packages to layer 0, the npm package to layer 2.
    assert_eq!(find("musl").and_then(|p| p.layer), Some(0));
    assert_eq!(find("is-odd").and_then(|p| p.layer), Some(2));
    assert_eq!(zoll.subject.layers.len(), 4);
    let ours = packages(&zoll);
    check(
        "multilayer",
        &ours,
        "syft",
        &peers::syft(&format!("oci-dir:{}", layout.display())),
    );
    check(
        "multilayer",
        &ours,
        "trivy",
        &peers::trivy(&["image", "--input", layout.to_str().expect("utf-8")]),
    );
}
