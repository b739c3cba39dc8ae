//! Language package metadata kept as bytes: Python `*.dist-info/METADATA` and
//! `*.egg-info/PKG-INFO`, npm `node_modules/**/package.json` and `package-lock.json`.

use serde_json::Value;

use super::{Package, PackageKind, field, package, rfc822_stanzas};

pub(super) fn wants(path: &str, file: &str) -> bool {
    let parent = path.rsplit('/').nth(1).unwrap_or("");
    match file {
        "METADATA" => parent.ends_with(".dist-info"),
        "PKG-INFO" => parent.ends_with(".egg-info"),
        "package.json" => is_installed_npm_package(path),
        "package-lock.json" => !path.contains("node_modules/"),
        _ => false,
    }
}

/// `…/node_modules/<name>/package.json` or `…/node_modules/@scope/<name>/package.json`.
fn is_installed_npm_package(path: &str) -> bool {
    let mut parts = path.rsplit('/').skip(1);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some("node_modules"), _) => true,
        (Some(_), Some(scope), Some("node_modules")) => scope.starts_with('@'),
        _ => false,
    }
}

pub(super) fn parse(path: &str, file: &str, bytes: &[u8]) -> Vec<Package> {
    match file {
        "METADATA" | "PKG-INFO" => python(path, bytes).into_iter().collect(),
        "package.json" => npm_package(path, bytes).into_iter().collect(),
        "package-lock.json" => npm_lock(path, bytes),
        _ => Vec::new(),
    }
}

fn python(path: &str, bytes: &[u8]) -> Option<Package> {
    let text = String::from_utf8_lossy(bytes);
    // Only the header block: the body (long description) may contain anything.
    let header = text.split("\n\n").next()?;
    let stanzas = rfc822_stanzas(header);
    let stanza = stanzas.first()?;
    let name = field(stanza, "Name")?;
    let version = field(stanza, "Version")?;
    let mut p = package(PackageKind::Python, name, version, path);
    if let Some(l) = field(stanza, "License-Expression").or_else(|| field(stanza, "License"))
        && !l.is_empty()
        && l != "UNKNOWN"
        && !l.contains('\n')
    {
        p.licenses.push(l.to_owned());
    }
    Some(p.with_purl())
}

fn npm_package(path: &str, bytes: &[u8]) -> Option<Package> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let name = v.get("name")?.as_str()?;
    let version = v.get("version")?.as_str()?;
    let mut p = package(PackageKind::Npm, name, version, path);
    if let Some(l) = v.get("license").and_then(Value::as_str) {
        p.licenses.push(l.to_owned());
    }
    Some(p.with_purl())
}

/// Lockfile v2/v3 (`packages` keyed by install path) and v1 (nested `dependencies`).
fn npm_lock(path: &str, bytes: &[u8]) -> Vec<Package> {
    let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(pkgs) = v.get("packages").and_then(Value::as_object) {
        for (key, meta) in pkgs {
            // The root project ("" key) is listed too, as syft and trivy list it.
            let at = match key.rfind("node_modules/") {
                Some(at) => at,
                None if key.is_empty() => {
                    let name = meta.get("name").and_then(Value::as_str);
                    if let (Some(name), Some(version)) =
                        (name, meta.get("version").and_then(Value::as_str))
                    {
                        out.push(package(PackageKind::Npm, name, version, path));
                    }
                    continue;
                }
                None => continue,
            };
            if meta.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let name = meta
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(&key[at + "node_modules/".len()..]);
            let Some(version) = meta.get("version").and_then(Value::as_str) else {
                continue;
            };
            let mut p = package(PackageKind::Npm, name, version, path);
            if let Some(l) = meta.get("license").and_then(Value::as_str) {
                p.licenses.push(l.to_owned());
            }
            out.push(p.with_purl());
        }
    } else if let Some(deps) = v.get("dependencies").and_then(Value::as_object) {
        let mut stack: Vec<(&String, &Value, usize)> =
            deps.iter().map(|(k, v)| (k, v, 0)).collect();
        while let Some((name, meta, depth)) = stack.pop() {
            if let Some(version) = meta.get("version").and_then(Value::as_str) {
                out.push(package(PackageKind::Npm, name, version, path));
            }
            if depth < 64
                && let Some(nested) = meta.get("dependencies").and_then(Value::as_object)
            {
                stack.extend(nested.iter().map(|(k, v)| (k, v, depth + 1)));
            }
        }
    }
    out
}
