//! Just enough manifest parsing for a registry: which kind a document is, which content it
//! references (so a push can be checked for missing blobs), its subject and artifact type.
//! The stored bytes are always the client's bytes; this view is never re-serialized.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::digest::Digest;
use crate::media_type::media_types as mt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    #[error("schemaVersion must be 2")]
    SchemaVersion,
    #[error("Content-Type {header:?} does not match the manifest's mediaType {body:?}")]
    MediaTypeMismatch { header: String, body: String },
    #[error("unsupported manifest media type {0:?}")]
    Unsupported(String),
    #[error("manifest field {0:?} is missing")]
    Missing(&'static str),
    /// A document that could be read as an image and as an index (CVE-2021-41190): the
    /// spec says a manifest must not be ambiguous, and clients disagree on which it is.
    #[error("ambiguous manifest: {0}")]
    Ambiguous(&'static str),
    #[error("manifest JSON nests deeper than {0} levels")]
    TooDeep(usize),
}

/// The two shapes a manifest can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// OCI image manifest or Docker schema2 manifest: a config and layers.
    Image,
    /// OCI image index or Docker manifest list: child manifests.
    Index,
}

impl ManifestKind {
    pub fn of_media_type(media_type: &str) -> Option<ManifestKind> {
        match media_type {
            mt::OCI_MANIFEST | mt::DOCKER_MANIFEST => Some(ManifestKind::Image),
            mt::OCI_INDEX | mt::DOCKER_MANIFEST_LIST => Some(ManifestKind::Index),
            _ => None,
        }
    }
}

/// A content descriptor (OCI image spec, descriptor.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

/// The parsed view of a manifest document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub kind: ManifestKind,
    pub media_type: String,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Manifest {
    /// Parses `bytes` uploaded with the given `Content-Type` header (if any).
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
        if crate::json::too_deep(bytes, crate::json::MAX_DEPTH) {
            return Err(ManifestError::TooDeep(crate::json::MAX_DEPTH));
        }
        let raw: Raw =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        if raw.schema_version != Some(2) {
            return Err(ManifestError::SchemaVersion);
        }
        let header = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim())
            .filter(|c| ManifestKind::of_media_type(c).is_some());
        let media_type = match (header, raw.media_type.as_deref()) {
            (Some(h), Some(b)) if h != b => {
                return Err(ManifestError::MediaTypeMismatch {
                    header: h.to_owned(),
                    body: b.to_owned(),
                });
            }
            (_, Some(b)) => b.to_owned(),
            (Some(h), None) => h.to_owned(),
            (None, None) if raw.manifests.is_some() => mt::OCI_INDEX.to_owned(),
            (None, None) => mt::OCI_MANIFEST.to_owned(),
        };
        let kind = ManifestKind::of_media_type(&media_type)
            .ok_or_else(|| ManifestError::Unsupported(media_type.clone()))?;
        let (config, layers, manifests) = match kind {
            ManifestKind::Image if raw.manifests.is_some() => {
                return Err(ManifestError::Ambiguous(
                    "an image manifest must not have a \"manifests\" field",
                ));
            }
            ManifestKind::Index if raw.config.is_some() || raw.layers.is_some() => {
                return Err(ManifestError::Ambiguous(
                    "an index must not have \"config\" or \"layers\" fields",
                ));
            }
            ManifestKind::Image => {
                let config = raw.config.ok_or(ManifestError::Missing("config"))?;
                let layers = raw.layers.ok_or(ManifestError::Missing("layers"))?;
                (Some(config), layers, Vec::new())
            }
            ManifestKind::Index => {
                let manifests = raw.manifests.ok_or(ManifestError::Missing("manifests"))?;
                (None, Vec::new(), manifests)
            }
        };
        Ok(Manifest {
            kind,
            media_type,
            config,
            layers,
            manifests,
            subject: raw.subject,
            artifact_type: raw.artifact_type,
            annotations: raw.annotations,
        })
    }

    /// The artifact type the referrers API reports: `artifactType`, else (for image
    /// manifests) the config media type, as distribution-spec 1.1 requires.
    pub fn effective_artifact_type(&self) -> Option<&str> {
        self.artifact_type
            .as_deref()
            .or_else(|| self.config.as_ref().map(|c| c.media_type.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

    fn check(body: &str, content_type: Option<&str>, expect: Result<(ManifestKind, &str), &str>) {
        let got = Manifest::parse(body.as_bytes(), content_type);
        match (got, expect) {
            (Ok(m), Ok((kind, mt))) => {
                assert_eq!(m.kind, kind);
                assert_eq!(m.media_type, mt);
            }
            (Err(e), Err(msg)) => assert!(e.to_string().contains(msg), "{e} vs {msg}"),
            (got, expect) => panic!("{body}: got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn parse_cases() {
        let cfg = format!(
            r#"{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D}","size":2}}"#
        );
        let image = format!(r#"{{"schemaVersion":2,"config":{cfg},"layers":[]}}"#);
        check(&image, None, Ok((ManifestKind::Image, mt::OCI_MANIFEST)));
        check(
            &image,
            Some(mt::DOCKER_MANIFEST),
            Ok((ManifestKind::Image, mt::DOCKER_MANIFEST)),
        );
        let typed = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{cfg},"layers":[]}}"#,
            mt::OCI_MANIFEST
        );
        check(&typed, Some(mt::DOCKER_MANIFEST), Err("does not match"));
        check(
            r#"{"schemaVersion":2,"manifests":[]}"#,
            None,
            Ok((ManifestKind::Index, mt::OCI_INDEX)),
        );
        check(r#"{"schemaVersion":1}"#, None, Err("schemaVersion"));
        // CVE-2021-41190: no document may read as both an image and an index.
        let both = format!(r#"{{"schemaVersion":2,"config":{cfg},"layers":[],"manifests":[]}}"#);
        check(&both, None, Err("ambiguous"));
        check(&both, Some(mt::OCI_MANIFEST), Err("ambiguous"));
        check(&both, Some(mt::OCI_INDEX), Err("ambiguous"));
        let typed_with_manifests = typed.replace(r#""layers":[]"#, r#""layers":[],"manifests":[]"#);
        check(
            &typed_with_manifests,
            None,
            Err("must not have a \"manifests\""),
        );
        check(
            &format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[],"layers":[]}}"#,
                mt::OCI_INDEX
            ),
            None,
            Err("must not have \"config\" or \"layers\""),
        );
        let deep = format!(
            r#"{{"schemaVersion":2,"config":{cfg},"layers":[],"x":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        check(&deep, None, Err("deeper than 128"));
        check(r#"{"schemaVersion":2}"#, None, Err("\"config\""));
        check("not json", None, Err("not valid JSON"));
        let bad_digest = image.replace(D, "sha256:abc");
        check(&bad_digest, None, Err("not valid JSON"));
        check(
            r#"{"schemaVersion":2,"mediaType":"application/x-other","manifests":[]}"#,
            None,
            Err("unsupported manifest media type"),
        );
    }
}
