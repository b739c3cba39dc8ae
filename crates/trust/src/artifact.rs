//! OCI 1.1 artifact manifests that carry signatures: an empty config, the signature blobs as
//! layers, and a `subject` pointing at the signed manifest.

use std::collections::BTreeMap;

use serde::Serialize;
use zoll_oci::Descriptor;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The empty JSON object, the content of the empty descriptor.
pub const EMPTY_CONFIG: &[u8] = b"{}";
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactManifest<'a> {
    schema_version: u32,
    media_type: &'static str,
    artifact_type: &'a str,
    config: Descriptor,
    layers: &'a [Descriptor],
    subject: &'a Descriptor,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

/// The descriptor of [`EMPTY_CONFIG`].
pub fn empty_descriptor() -> Descriptor {
    Descriptor {
        media_type: EMPTY_MEDIA_TYPE.to_owned(),
        digest: zoll_oci::Digest::sha256(EMPTY_CONFIG),
        size: EMPTY_CONFIG.len() as u64,
        artifact_type: None,
        annotations: None,
        urls: None,
    }
}

/// Serializes an artifact manifest. The subject keeps only what a descriptor must carry.
pub fn artifact_manifest(
    artifact_type: &str,
    layers: &[Descriptor],
    subject: &Descriptor,
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    let subject = Descriptor {
        annotations: None,
        urls: None,
        artifact_type: None,
        ..subject.clone()
    };
    serde_json::to_vec(&ArtifactManifest {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        artifact_type,
        config: empty_descriptor(),
        layers,
        subject: &subject,
        annotations,
    })
    .expect("manifests serialize")
}

/// `now` as the RFC 3339 `org.opencontainers.image.created` value.
pub fn created_now() -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("0 ns")
        .format(&Rfc3339)
        .expect("formats")
}
