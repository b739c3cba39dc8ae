//! SPDX 2.3 JSON: one package per catalog entry with its purl as a PACKAGE-MANAGER external
//! reference, the image as the described package, CONTAINS relationships.

use serde_json::{Value, json};

use super::{Subject, content_uuid, rfc3339_now};
use crate::catalog::Catalog;

pub fn to_spdx(subject: &Subject, catalog: &Catalog) -> Value {
    let purls: Vec<&str> = catalog.packages.iter().map(|p| p.purl.as_str()).collect();
    let uuid = content_uuid(&[
        &subject.name,
        subject.digest.as_deref().unwrap_or(""),
        &purls.join("\n"),
    ]);
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Subject",
        "name": subject.name,
        "versionInfo": subject.digest.clone().unwrap_or_else(|| "NOASSERTION".into()),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": if subject.digest.is_some() { "CONTAINER" } else { "FILE" },
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Subject",
    })];
    if let Some(d) = &catalog.distro {
        packages.push(json!({
            "SPDXID": "SPDXRef-OperatingSystem",
            "name": d.id,
            "versionInfo": d.version_id.clone().unwrap_or_else(|| "NOASSERTION".into()),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "OPERATING-SYSTEM",
        }));
        relationships.push(contains("SPDXRef-OperatingSystem"));
    }
    for (i, p) in catalog.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{i}");
        let mut pkg = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            // Declared licenses are free text in most package databases, not SPDX expressions;
            // they are kept in the comment rather than written as invalid expressions.
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "sourceInfo": format!("found in {}", p.location),
            "primaryPackagePurpose": "LIBRARY",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": p.purl,
            }],
        });
        if !p.licenses.is_empty() {
            pkg["comment"] = json!(format!("declared license: {}", p.licenses.join(", ")));
        }
        packages.push(pkg);
        relationships.push(contains(&id));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": subject.name,
        "documentNamespace": format!("https://zoll.invalid/spdx/{uuid}"),
        "creationInfo": {
            "created": rfc3339_now(),
            "creators": [format!("Tool: zoll-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    })
}

fn contains(id: &str) -> Value {
    json!({ "spdxElementId": "SPDXRef-Subject", "relationshipType": "CONTAINS", "relatedSpdxElement": id })
}
