//! Compiled binaries that carry their dependency list: Go build info (Go ≥ 1.18's inline
//! format, in `.go.buildinfo` or found by its magic) and Rust binaries built with
//! cargo-auditable (zlib-compressed JSON in the `.dep-v0` section).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use super::elf::{find_section, has_section_table, read_at};
use super::{Package, PackageKind, package};
use crate::limits::Limits;

const GO_MAGIC: &[u8] = b"\xff Go buildinf:";
/// Bytes of build info we read (version + module list); real ones are a few KiB.
const MAX_GO_INFO: u64 = 4 << 20;
const MAX_RUST_COMPRESSED: u64 = 8 << 20;
const MAX_RUST_JSON: u64 = 32 << 20;

pub(super) fn read(file: &Path, path: &str, limits: &Limits) -> Vec<Package> {
    let Ok(mut f) = File::open(file) else {
        return Vec::new();
    };
    if let Some(found) = go(&mut f, path, limits) {
        return found;
    }
    rust(&mut f, path).unwrap_or_default()
}

fn go(f: &mut File, path: &str, limits: &Limits) -> Option<Vec<Package>> {
    let data = match find_section(f, ".go.buildinfo") {
        Some(s) => read_at(f, s.offset, s.size.min(MAX_GO_INFO))?,
        // Only binaries whose section table is gone are searched for the magic.
        None if !has_section_table(f) => scan_for_magic(f, limits)?,
        None => return None,
    };
    let at = data.windows(GO_MAGIC.len()).position(|w| w == GO_MAGIC)?;
    let info = &data[at..];
    if info.len() < 32 || info[15] & 2 == 0 {
        return None; // pre-1.18 pointer format: not supported
    }
    let mut rest = &info[32..];
    let go_version = varint_string(&mut rest)?;
    let modinfo = varint_string(&mut rest)?;
    // The module list is wrapped in 16-byte sentinels.
    let modinfo = if modinfo.len() >= 33 && modinfo.as_bytes()[modinfo.len() - 17] == b'\n' {
        &modinfo[16..modinfo.len() - 16]
    } else {
        modinfo.as_str()
    };
    let mut out = Vec::new();
    let mut last_dep: Option<usize> = None;
    for line in modinfo.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        match cols.as_slice() {
            ["mod", module, version, ..] => {
                out.push(package(PackageKind::Go, module, version, path));
                last_dep = None;
            }
            ["dep", module, version, ..] => {
                out.push(package(PackageKind::Go, module, version, path));
                last_dep = Some(out.len() - 1);
            }
            ["=>", module, version, ..] => {
                if let Some(i) = last_dep {
                    out[i] = package(PackageKind::Go, module, version, path);
                }
            }
            _ => {}
        }
    }
    let version = go_version.trim_start_matches("go");
    let version = version.split(' ').next().unwrap_or(version);
    out.push(package(
        PackageKind::GoStdlib,
        "stdlib",
        &format!("v{version}"),
        path,
    ));
    Some(out)
}

/// Stripped or unusual binaries without the section: look for the 16-byte-aligned magic.
fn scan_for_magic(f: &mut File, limits: &Limits) -> Option<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(0)).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    let mut base: u64 = 0;
    loop {
        if base > limits.max_spool_bytes {
            return None;
        }
        let n = read_full(f, &mut buf)?;
        if n < GO_MAGIC.len() {
            return None;
        }
        let chunk = &buf[..n];
        let mut i = 0;
        while i + GO_MAGIC.len() <= n {
            if &chunk[i..i + GO_MAGIC.len()] == GO_MAGIC {
                return read_at(
                    f,
                    base + i as u64,
                    MAX_GO_INFO.min(f.metadata().ok()?.len() - base - i as u64),
                );
            }
            i += 16;
        }
        if n < buf.len() {
            return None;
        }
        base += n as u64;
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]).ok()? {
            0 => break,
            k => n += k,
        }
    }
    Some(n)
}

fn varint_string(rest: &mut &[u8]) -> Option<String> {
    let mut len: u64 = 0;
    let mut shift = 0;
    loop {
        let (&b, tail) = rest.split_first()?;
        *rest = tail;
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 35 {
            return None;
        }
    }
    let len = usize::try_from(len).ok()?;
    if len > rest.len() {
        return None;
    }
    let s = String::from_utf8_lossy(&rest[..len]).into_owned();
    *rest = &rest[len..];
    Some(s)
}

#[derive(Deserialize)]
struct Audit {
    packages: Vec<AuditPackage>,
}

#[derive(Deserialize)]
struct AuditPackage {
    name: String,
    version: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    kind: String,
}

fn rust(f: &mut File, path: &str) -> Option<Vec<Package>> {
    let s = find_section(f, ".dep-v0")?;
    if s.size > MAX_RUST_COMPRESSED {
        return None;
    }
    let compressed = read_at(f, s.offset, s.size)?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed.as_slice())
        .take(MAX_RUST_JSON)
        .read_to_end(&mut json)
        .ok()?;
    let audit: Audit = serde_json::from_slice(&json).ok()?;
    Some(
        audit
            .packages
            .into_iter()
            // Build-time dependencies (build scripts, proc macros) are not in the binary.
            .filter(|p| p.kind != "build")
            .map(|p| {
                let mut pkg = package(PackageKind::Rust, &p.name, &p.version, path);
                if p.source != "crates.io" && !p.source.is_empty() {
                    pkg.source_name = Some(p.source);
                }
                pkg.with_purl()
            })
            .collect(),
    )
}
