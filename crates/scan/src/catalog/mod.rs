//! Package catalogers: each reads what the walker kept of one kind of file and returns
//! packages. [`want`] tells the walker which files to keep while it streams the layers.

mod apk;
mod binary;
mod dpkg;
mod elf;
mod java;
mod lang;
mod os;
mod rpm;
mod rpm_header;

use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::purl;
use crate::walk::{Content, FsIndex, Node, NodeKind, Walked};

pub use os::Distro;

/// What the walker should keep of a file while it streams past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Nothing,
    /// Read into memory (package databases, manifests, small text files).
    Bytes,
    /// Copy into the workspace for random access (archives, SQLite databases).
    File,
    /// Like `File`, but only when the file starts with the ELF magic (Go / Rust binaries).
    FileIfElf,
}

/// The package ecosystems zoll catalogs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageKind {
    Deb,
    Apk,
    Rpm,
    Python,
    Npm,
    Go,
    GoStdlib,
    Rust,
    Java,
}

/// One package found in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub kind: PackageKind,
    pub purl: String,
    /// Debian source package, Alpine origin, RPM source package: what distro advisories name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// The file the package was recorded in (package database, metadata file, binary, archive).
    pub location: String,
    /// The index of the layer that introduced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
}

/// Everything the catalogers found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalog {
    pub distro: Option<Distro>,
    pub packages: Vec<Package>,
}

pub(crate) fn want(path: &str, mode: u32, size: u64) -> Want {
    let file = path.rsplit('/').next().unwrap_or(path);
    if os::wants(path) || dpkg::wants(path) || apk::wants(path) || lang::wants(path, file) {
        return Want::Bytes;
    }
    if LINT_FILES.contains(&path) {
        return Want::Bytes;
    }
    if rpm::wants(path) || java::wants(file) {
        return Want::File;
    }
    if mode & 0o111 != 0 && size >= 64 {
        return Want::FileIfElf;
    }
    Want::Nothing
}

/// Files the hardening lint reads.
const LINT_FILES: &[&str] = &["etc/passwd", "etc/shadow", "etc/group"];

/// Package databases rewritten by several layers; attributed by [`package_db_keys`].
pub(crate) fn is_package_db(path: &str) -> bool {
    dpkg::wants(path) || apk::wants(path) || rpm::wants(path)
}

/// The identities of the packages in the index's package databases right now.
pub(crate) fn package_db_keys(index: &FsIndex) -> Vec<String> {
    let mut out = Vec::new();
    for (path, node) in index.iter().filter(|(p, _)| is_package_db(p)) {
        for p in db_packages(path, node, None) {
            out.push(key(&p));
        }
    }
    out
}

fn db_packages(path: &str, node: &Node, distro: Option<&Distro>) -> Vec<Package> {
    match &node.content {
        Content::Bytes(b) if dpkg::wants(path) => dpkg::parse(b, path, distro),
        Content::Bytes(b) if apk::wants(path) => apk::parse(b, path, distro),
        Content::Spooled(f) if rpm::wants(path) => {
            rpm::read(&f.path, path, distro).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// The package parsers, for the fuzz targets (`cargo afl build` sets `--cfg fuzzing`).
#[cfg(fuzzing)]
pub mod fuzzing {
    use super::*;

    /// The packages a file at `path` holding `bytes` yields, through whichever cataloger
    /// claims the path (binaries and Java archives through a temporary file, as the walker
    /// spools them), and the distribution an os-release text names.
    pub fn packages(path: &str, bytes: &[u8], limits: &Limits) -> Vec<Package> {
        let file = path.rsplit('/').next().unwrap_or(path);
        let _ = os::parse_os_release(&String::from_utf8_lossy(bytes));
        if dpkg::wants(path) {
            return dpkg::parse(bytes, path, None);
        }
        if apk::wants(path) {
            return apk::parse(bytes, path, None);
        }
        if lang::wants(path, file) {
            return lang::parse(path, file, bytes);
        }
        let Ok(mut spool) = tempfile::NamedTempFile::new() else {
            return Vec::new();
        };
        if std::io::Write::write_all(&mut spool, bytes).is_err() {
            return Vec::new();
        }
        if java::wants(file) {
            java::read(spool.path(), path, limits)
        } else {
            binary::read(spool.path(), path, limits)
        }
    }

    /// An rpm header blob as rpmdb.sqlite stores it.
    pub fn rpm_header(blob: &[u8]) {
        if let Ok(h) = rpm_header::RpmHeader::parse(blob) {
            for tag in [1000, 1001, 1002, 1022, 1044, 1014] {
                let _ = h.string(tag);
                let _ = h.int(tag);
            }
        }
    }
}

/// The identity used for layer attribution.
fn key(p: &Package) -> String {
    format!("{:?}|{}|{}|{}", p.kind, p.location, p.name, p.version)
}

/// Runs every cataloger over a walked image.
pub fn catalog(walked: &Walked, limits: &Limits) -> Catalog {
    let distro = os::detect(&walked.index);
    let mut packages = Vec::new();
    for (path, node) in walked.index.iter() {
        if node.kind != NodeKind::File {
            continue;
        }
        let file = path.rsplit('/').next().unwrap_or(path);
        let found = if is_package_db(path) {
            let mut found = db_packages(path, node, distro.as_ref());
            for p in &mut found {
                p.layer = walked.introduced.get(&key(p)).copied().or(Some(node.layer));
            }
            found
        } else {
            let mut found = match &node.content {
                Content::Bytes(b) => lang::parse(path, file, b),
                Content::Spooled(f) if java::wants(file) => java::read(&f.path, path, limits),
                Content::Spooled(f) => binary::read(&f.path, path, limits),
                Content::NotKept => Vec::new(),
            };
            for p in &mut found {
                p.layer = Some(node.layer);
            }
            found
        };
        packages.extend(found);
    }
    packages.sort_by(|a, b| {
        (a.kind, &a.name, &a.version, &a.location).cmp(&(b.kind, &b.name, &b.version, &b.location))
    });
    packages.dedup_by(|a, b| a.purl == b.purl && a.location == b.location);
    Catalog { distro, packages }
}

/// A package with the fields every cataloger fills the same way.
pub(crate) fn package(kind: PackageKind, name: &str, version: &str, location: &str) -> Package {
    Package {
        name: name.to_owned(),
        version: version.to_owned(),
        kind,
        purl: String::new(),
        source_name: None,
        source_version: None,
        arch: None,
        licenses: Vec::new(),
        location: format!("/{location}"),
        layer: None,
    }
    .with_purl()
}

impl Package {
    /// Recomputes the purl from the other fields (catalogers call it after setting them).
    pub(crate) fn with_purl(mut self) -> Self {
        self.purl = purl::for_package(&self, None);
        self
    }
}

/// Splits RFC 822-style stanzas (`Key: value`, continuation lines start with a space) as dpkg
/// status files and Python METADATA use them.
pub(crate) fn rfc822_stanzas(text: &str) -> Vec<Vec<(&str, String)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(&str, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, v)) = cur.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim(), v.trim().to_owned()));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub(crate) fn field<'a>(stanza: &'a [(&str, String)], key: &str) -> Option<&'a str> {
    stanza
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}
