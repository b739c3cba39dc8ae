//! dpkg: `var/lib/dpkg/status` and the per-package files of `var/lib/dpkg/status.d/`
//! (distroless images), with the source package and its version.

use super::{Distro, Package, PackageKind, field, package, rfc822_stanzas};
use crate::purl;

pub(super) fn wants(path: &str) -> bool {
    if path == "var/lib/dpkg/status" {
        return true;
    }
    match path.strip_prefix("var/lib/dpkg/status.d/") {
        Some(name) => !name.contains('/') && !name.ends_with(".md5sums"),
        None => false,
    }
}

pub(super) fn parse(bytes: &[u8], path: &str, distro: Option<&Distro>) -> Vec<Package> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    for stanza in rfc822_stanzas(&text) {
        let (Some(name), Some(version)) = (field(&stanza, "Package"), field(&stanza, "Version"))
        else {
            continue;
        };
        // Removed packages whose configuration files remain are not installed.
        if let Some(status) = field(&stanza, "Status")
            && !status.ends_with(" installed")
        {
            continue;
        }
        let mut p = package(PackageKind::Deb, name, version, path);
        p.arch = field(&stanza, "Architecture").map(str::to_owned);
        // `Source: name` or `Source: name (version)` when the source version differs.
        if let Some(source) = field(&stanza, "Source") {
            let mut parts = source.splitn(2, ' ');
            let src = parts.next().unwrap_or(name);
            let ver = parts.next().map(|v| {
                v.trim()
                    .trim_start_matches('(')
                    .trim_end_matches(')')
                    .to_owned()
            });
            p.source_name = Some(src.to_owned());
            p.source_version = Some(ver.unwrap_or_else(|| version.to_owned()));
        } else {
            p.source_name = Some(name.to_owned());
            p.source_version = Some(version.to_owned());
        }
        p.purl = purl::for_package(&p, distro);
        out.push(p);
    }
    out
}
