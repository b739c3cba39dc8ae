//! CycloneDX 1.6 JSON. zoll's own facts that CycloneDX has no field for (source package, layer,
//! package kind) travel as `zoll:` properties, which is what makes the document re-matchable.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Subject, content_uuid, rfc3339_now};
use crate::catalog::{Catalog, Distro, Package, PackageKind};
use crate::error::ScanError;

const KIND: &str = "zoll:package:kind";
const SOURCE_NAME: &str = "zoll:package:source-name";
const SOURCE_VERSION: &str = "zoll:package:source-version";
const LAYER: &str = "zoll:package:layer";
const LOCATION: &str = "zoll:package:location";
const ARCH: &str = "zoll:package:arch";
const LAYER_DIGEST: &str = "zoll:layer:digest";

pub fn to_cyclonedx(subject: &Subject, catalog: &Catalog) -> Value {
    let mut components = Vec::new();
    if let Some(d) = &catalog.distro {
        let mut os = json!({
            "bom-ref": format!("os:{}", d.purl_qualifier()),
            "type": "operating-system",
            "name": d.id,
        });
        if let Some(v) = &d.version_id {
            os["version"] = json!(v);
        }
        if let Some(p) = &d.pretty_name {
            os["description"] = json!(p);
        }
        components.push(os);
    }
    for (i, p) in catalog.packages.iter().enumerate() {
        components.push(component(i, p, subject));
    }
    let purls: Vec<&str> = catalog.packages.iter().map(|p| p.purl.as_str()).collect();
    let serial = content_uuid(&[
        &[
            subject.name.as_str(),
            subject.digest.as_deref().unwrap_or(""),
        ]
        .concat(),
        &purls.join("\n"),
    ]);
    let mut meta_component = json!({
        "bom-ref": "subject",
        "type": if subject.digest.is_some() { "container" } else { "file" },
        "name": subject.name,
    });
    if let Some(d) = &subject.digest {
        meta_component["version"] = json!(d);
    }
    let mut props: Vec<Value> = subject
        .layers
        .iter()
        .map(|l| prop(LAYER_DIGEST, l))
        .collect();
    if let Some(d) = &catalog.distro {
        props.push(prop("zoll:distro:id", &d.id));
        if let Some(v) = &d.version_id {
            props.push(prop("zoll:distro:version-id", v));
        }
        if let Some(c) = &d.codename {
            props.push(prop("zoll:distro:codename", c));
        }
    }
    if !props.is_empty() {
        meta_component["properties"] = json!(props);
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{serial}"),
        "version": 1,
        "metadata": {
            "timestamp": rfc3339_now(),
            "tools": { "components": [ { "type": "application", "name": "zoll", "version": env!("CARGO_PKG_VERSION") } ] },
            "component": meta_component,
        },
        "components": components,
    })
}

fn component(i: usize, p: &Package, subject: &Subject) -> Value {
    let mut c = json!({
        "bom-ref": format!("pkg-{i}:{}", p.purl),
        "type": "library",
        "name": p.name,
        "version": p.version,
        "purl": p.purl,
    });
    if matches!(p.kind, PackageKind::Java)
        && let Some(g) = &p.source_name
    {
        c["group"] = json!(g);
    }
    if !p.licenses.is_empty() {
        c["licenses"] = json!(
            p.licenses
                .iter()
                .map(|l| json!({ "license": { "name": l } }))
                .collect::<Vec<_>>()
        );
    }
    let mut props = vec![prop(KIND, kind_name(p.kind)), prop(LOCATION, &p.location)];
    if let Some(s) = &p.source_name {
        props.push(prop(SOURCE_NAME, s));
    }
    if let Some(s) = &p.source_version {
        props.push(prop(SOURCE_VERSION, s));
    }
    if let Some(a) = &p.arch {
        props.push(prop(ARCH, a));
    }
    if let Some(l) = p.layer {
        props.push(prop(LAYER, &l.to_string()));
        if let Some(d) = subject.layers.get(l) {
            props.push(prop(LAYER_DIGEST, d));
        }
    }
    c["properties"] = json!(props);
    c
}

fn prop(name: &str, value: &str) -> Value {
    json!({ "name": name, "value": value })
}

pub(crate) fn kind_name(k: PackageKind) -> &'static str {
    match k {
        PackageKind::Deb => "deb",
        PackageKind::Apk => "apk",
        PackageKind::Rpm => "rpm",
        PackageKind::Python => "python",
        PackageKind::Npm => "npm",
        PackageKind::Go => "go",
        PackageKind::GoStdlib => "go-stdlib",
        PackageKind::Rust => "rust",
        PackageKind::Java => "java",
    }
}

fn kind_from(name: &str) -> Option<PackageKind> {
    serde_json::from_value(json!(name)).ok()
}

/// Reads a CycloneDX document zoll wrote back into the subject and catalog it describes.
pub fn from_cyclonedx(doc: &Value) -> Result<(Subject, Catalog), ScanError> {
    let bad = |r: &str| ScanError::bad_input("CycloneDX document", r);
    if doc.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
        return Err(bad("bomFormat is not CycloneDX"));
    }
    let meta = doc
        .pointer("/metadata/component")
        .cloned()
        .unwrap_or(Value::Null);
    let props = properties(&meta);
    let subject = Subject {
        name: meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        digest: meta
            .get("version")
            .and_then(Value::as_str)
            .map(str::to_owned),
        layers: meta
            .get("properties")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|p| p.get("name").and_then(Value::as_str) == Some(LAYER_DIGEST))
                    .filter_map(|p| p.get("value").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let distro = props.get("zoll:distro:id").map(|id| Distro {
        id: id.clone(),
        version_id: props.get("zoll:distro:version-id").cloned(),
        codename: props.get("zoll:distro:codename").cloned(),
        pretty_name: None,
    });
    let mut packages = Vec::new();
    for c in doc
        .get("components")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let p = properties(c);
        let Some(kind) = p.get(KIND).and_then(|k| kind_from(k)) else {
            continue;
        };
        let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        packages.push(Package {
            name: text("name"),
            version: text("version"),
            kind,
            purl: text("purl"),
            source_name: p.get(SOURCE_NAME).cloned(),
            source_version: p.get(SOURCE_VERSION).cloned(),
            arch: p.get(ARCH).cloned(),
            licenses: c
                .get("licenses")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|l| {
                            l.pointer("/license/name")
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        })
                        .collect()
                })
                .unwrap_or_default(),
            location: p.get(LOCATION).cloned().unwrap_or_default(),
            layer: p.get(LAYER).and_then(|l| l.parse().ok()),
        });
    }
    Ok((subject, Catalog { distro, packages }))
}

fn properties(v: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for p in v
        .get("properties")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        if let (Some(n), Some(val)) = (
            p.get("name").and_then(Value::as_str),
            p.get("value").and_then(Value::as_str),
        ) {
            out.entry(n.to_owned()).or_insert_with(|| val.to_owned());
        }
    }
    out
}
