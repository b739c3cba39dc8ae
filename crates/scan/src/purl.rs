//! Package URLs (purl spec): `pkg:type/namespace/name@version?qualifiers`, percent-encoded,
//! qualifiers sorted by key, in the same shape syft and trivy write for each ecosystem.

use crate::catalog::{Distro, Package, PackageKind};

/// The purl of a package; `distro` adds the `distro` qualifier of OS packages.
pub fn for_package(p: &Package, distro: Option<&Distro>) -> String {
    let mut qualifiers: Vec<(&str, String)> = Vec::new();
    let os_namespace = |default: &str| {
        distro
            .map(|d| d.id.clone())
            .unwrap_or_else(|| default.to_owned())
    };
    let (ty, namespace, name, version) = match p.kind {
        PackageKind::Deb | PackageKind::Apk | PackageKind::Rpm => {
            let (ty, default_ns) = match p.kind {
                PackageKind::Deb => ("deb", "debian"),
                PackageKind::Apk => ("apk", "alpine"),
                _ => ("rpm", "redhat"),
            };
            if let Some(a) = &p.arch {
                qualifiers.push(("arch", a.clone()));
            }
            if let Some(d) = distro {
                qualifiers.push(("distro", d.purl_qualifier()));
            }
            let mut version = p.version.clone();
            if p.kind == PackageKind::Rpm
                && let Some((epoch, rest)) = p.version.split_once(':')
            {
                qualifiers.push(("epoch", epoch.to_owned()));
                version = rest.to_owned();
            }
            if let Some(src) = &p.source_name {
                match &p.source_version {
                    Some(v) if v != &p.version && p.kind == PackageKind::Deb => {
                        qualifiers.push(("upstream", format!("{src}@{v}")))
                    }
                    _ if src != &p.name => qualifiers.push(("upstream", src.clone())),
                    _ => {}
                }
            }
            (ty, Some(os_namespace(default_ns)), p.name.clone(), version)
        }
        PackageKind::Python => (
            "pypi",
            None,
            p.name.to_lowercase().replace('_', "-"),
            p.version.clone(),
        ),
        PackageKind::Npm => match p.name.split_once('/') {
            Some((scope, name)) if scope.starts_with('@') => (
                "npm",
                Some(scope.to_owned()),
                name.to_owned(),
                p.version.clone(),
            ),
            _ => ("npm", None, p.name.clone(), p.version.clone()),
        },
        PackageKind::Go | PackageKind::GoStdlib => match p.name.rsplit_once('/') {
            Some((ns, name)) => (
                "golang",
                Some(ns.to_owned()),
                name.to_owned(),
                p.version.clone(),
            ),
            None => ("golang", None, p.name.clone(), p.version.clone()),
        },
        PackageKind::Rust => ("cargo", None, p.name.clone(), p.version.clone()),
        PackageKind::Java => (
            "maven",
            p.source_name.clone(),
            p.name.clone(),
            p.version.clone(),
        ),
    };
    let mut out = format!("pkg:{ty}/");
    if let Some(ns) = namespace {
        for seg in ns.split('/').filter(|s| !s.is_empty()) {
            out.push_str(&encode(seg));
            out.push('/');
        }
    }
    out.push_str(&encode(&name));
    if !version.is_empty() {
        out.push('@');
        out.push_str(&encode(&version));
    }
    qualifiers.sort_by(|a, b| a.0.cmp(b.0));
    for (i, (k, v)) in qualifiers.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

/// Percent-encodes everything but the unreserved characters and `:` (left as is, like the
/// reference implementations, so epochs read `1:2.3`).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
