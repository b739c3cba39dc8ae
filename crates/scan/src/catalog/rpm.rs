//! rpm: the SQLite package database (`rpmdb.sqlite`, RPM ≥ 4.16: Fedora ≥ 33, RHEL/Rocky/Alma
//! ≥ 9). Read with rusqlite opened read-only and immutable, so a hostile database file can
//! never make SQLite write a journal or WAL beside it.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::rpm_header::RpmHeader;
use super::{Distro, Package, PackageKind, package};
use crate::purl;

const PATHS: &[&str] = &[
    "var/lib/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
];

/// Packages in one database we read at most (a real one has a few thousand).
const MAX_PACKAGES: usize = 200_000;
/// Bytes of one header blob.
const MAX_HEADER: usize = 16 << 20;

pub(super) fn wants(path: &str) -> bool {
    PATHS.contains(&path)
}

pub(super) fn read(
    file: &Path,
    path: &str,
    distro: Option<&Distro>,
) -> Result<Vec<Package>, String> {
    let uri = format!("file:{}?immutable=1", file.display());
    let conn = Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    let mut stmt = conn
        .prepare("SELECT blob FROM Packages")
        .map_err(|e| e.to_string())?;
    let mut rows = stmt.query([]).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        if out.len() >= MAX_PACKAGES {
            break;
        }
        let blob: Vec<u8> = row.get(0).map_err(|e| e.to_string())?;
        if blob.len() > MAX_HEADER {
            continue;
        }
        let Ok(h) = RpmHeader::parse(&blob) else {
            continue;
        };
        let (Some(name), Some(version), Some(release)) =
            (h.string(1000), h.string(1001), h.string(1002))
        else {
            continue;
        };
        // The public keys rpm imports are stored as pseudo-packages.
        if name == "gpg-pubkey" {
            continue;
        }
        let epoch = h.int(1003);
        let full = match epoch {
            Some(e) if e != 0 => format!("{e}:{version}-{release}"),
            _ => format!("{version}-{release}"),
        };
        let mut p = package(PackageKind::Rpm, &name, &full, path);
        p.arch = h.string(1022);
        p.licenses = h.string(1014).into_iter().collect();
        if let Some(srpm) = h.string(1044)
            && let Some((src, ver)) = split_source_rpm(&srpm)
        {
            p.source_name = Some(src);
            p.source_version = Some(ver);
        }
        p.purl = purl::for_package(&p, distro);
        out.push(p);
    }
    Ok(out)
}

/// `openssl-3.0.7-27.el9.src.rpm` → (`openssl`, `3.0.7-27.el9`).
fn split_source_rpm(srpm: &str) -> Option<(String, String)> {
    let base = srpm.strip_suffix(".rpm")?;
    let base = base.rsplit_once('.')?.0; // drop the architecture (src / nosrc)
    let (rest, release) = base.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    Some((name.to_owned(), format!("{version}-{release}")))
}
