//! apk: `lib/apk/db/installed`, with the origin (the aport that Alpine's advisories name).

use super::{Distro, Package, PackageKind, package};
use crate::purl;

pub(super) fn wants(path: &str) -> bool {
    path == "lib/apk/db/installed"
}

pub(super) fn parse(bytes: &[u8], path: &str, distro: Option<&Distro>) -> Vec<Package> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut name = None;
        let mut version = None;
        let mut arch = None;
        let mut origin = None;
        let mut license = None;
        for line in block.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            match k {
                "P" => name = Some(v),
                "V" => version = Some(v),
                "A" => arch = Some(v),
                "o" => origin = Some(v),
                "L" => license = Some(v),
                _ => {}
            }
        }
        let (Some(name), Some(version)) = (name, version) else {
            continue;
        };
        let mut p = package(PackageKind::Apk, name, version, path);
        p.arch = arch.map(str::to_owned);
        p.source_name = Some(origin.unwrap_or(name).to_owned());
        p.source_version = Some(version.to_owned());
        p.licenses = license.map(|l| vec![l.to_owned()]).unwrap_or_default();
        p.purl = purl::for_package(&p, distro);
        out.push(p);
    }
    out
}
