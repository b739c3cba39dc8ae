//! Java archives: `META-INF/maven/**/pom.properties` and `META-INF/MANIFEST.MF`, recursing into
//! nested archives (WEB-INF/lib, BOOT-INF/lib) held in memory, with depth, member count and size
//! bounds.

use std::io::{Cursor, Read, Seek};
use std::path::Path;

use super::{Package, PackageKind, package};
use crate::limits::Limits;
use crate::purl;

const EXTENSIONS: &[&str] = &[".jar", ".war", ".ear", ".jpi", ".hpi"];

pub(super) fn wants(file: &str) -> bool {
    EXTENSIONS.iter().any(|e| file.ends_with(e))
}

pub(super) fn read(file: &Path, path: &str, limits: &Limits) -> Vec<Package> {
    let Ok(f) = std::fs::File::open(file) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    archive(f, &format!("/{path}"), 0, limits, &mut out);
    out
}

fn archive<R: Read + Seek>(
    reader: R,
    location: &str,
    depth: usize,
    limits: &Limits,
    out: &mut Vec<Package>,
) {
    let Ok(mut zip) = zip::ZipArchive::new(reader) else {
        return;
    };
    let mut poms: Vec<(String, String, String)> = Vec::new();
    let mut manifest: Option<String> = None;
    let mut nested: Vec<(String, Vec<u8>)> = Vec::new();
    let members = zip.len().min(limits.max_archive_members);
    for i in 0..members {
        let Ok(mut entry) = zip.by_index(i) else {
            continue;
        };
        let Ok(name) = entry.name().map(|n| n.into_owned()) else {
            continue;
        };
        let small = entry.size() <= limits.max_archive_member_bytes;
        if name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties") && small {
            if let Some(text) = read_text(&mut entry, limits)
                && let Some(p) = pom_properties(&text)
            {
                poms.push(p);
            }
        } else if name == "META-INF/MANIFEST.MF" && small {
            manifest = read_text(&mut entry, limits);
        } else if wants(&name) && depth + 1 < limits.max_archive_depth && small {
            let mut bytes = Vec::new();
            if (&mut entry)
                .take(limits.max_archive_member_bytes)
                .read_to_end(&mut bytes)
                .is_ok()
            {
                nested.push((name, bytes));
            }
        }
    }
    if poms.is_empty()
        && let Some(p) = from_manifest(manifest.as_deref(), location)
    {
        out.push(p);
    }
    for (group, artifact, version) in poms {
        out.push(maven(&group, &artifact, &version, location));
    }
    for (name, bytes) in nested {
        archive(
            Cursor::new(bytes),
            &format!("{location}:{name}"),
            depth + 1,
            limits,
            out,
        );
    }
}

fn read_text<R: Read>(r: &mut R, limits: &Limits) -> Option<String> {
    let mut buf = Vec::new();
    r.take(limits.max_archive_member_bytes)
        .read_to_end(&mut buf)
        .ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn pom_properties(text: &str) -> Option<(String, String, String)> {
    let get = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_owned())
    };
    Some((get("groupId")?, get("artifactId")?, get("version")?))
}

fn maven(group: &str, artifact: &str, version: &str, location: &str) -> Package {
    let mut p = package(PackageKind::Java, artifact, version, "");
    p.location = location.to_owned();
    p.source_name = Some(group.to_owned());
    p.purl = purl::for_package(&p, None);
    p
}

/// No pom.properties: the manifest's title/version, else the file name `name-1.2.3.jar`.
fn from_manifest(manifest: Option<&str>, location: &str) -> Option<Package> {
    let attr = |key: &str| -> Option<String> {
        manifest?
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_owned())
    };
    let file = location.rsplit(['/', ':']).next().unwrap_or(location);
    let stem = EXTENSIONS
        .iter()
        .find_map(|e| file.strip_suffix(e))
        .unwrap_or(file);
    let (file_name, file_version) = match stem.rfind('-') {
        Some(i) if stem[i + 1..].starts_with(|c: char| c.is_ascii_digit()) => {
            (&stem[..i], Some(&stem[i + 1..]))
        }
        _ => (stem, None),
    };
    let version = attr("Implementation-Version")
        .or_else(|| attr("Bundle-Version"))
        .or_else(|| file_version.map(str::to_owned))?;
    let name = file_name.to_owned();
    let group = attr("Implementation-Vendor-Id").or_else(|| {
        attr("Bundle-SymbolicName").map(|s| s.split(';').next().unwrap_or("").to_owned())
    });
    let mut p = package(PackageKind::Java, &name, &version, "");
    p.location = location.to_owned();
    p.source_name = group.map(|g| {
        g.strip_suffix(&format!(".{name}"))
            .map(str::to_owned)
            .unwrap_or(g)
    });
    p.purl = purl::for_package(&p, None);
    Some(p)
}
