//! The Notation payload: `{"targetArtifact": <descriptor>}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zoll_oci::{Descriptor, Digest};

use super::EnvelopeError;

/// The descriptor of the signed artifact, fields in the order Go's `ocispec.Descriptor`
/// marshals them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetArtifact {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    pub target_artifact: TargetArtifact,
}

impl Payload {
    pub fn new(target: &Descriptor) -> Payload {
        Payload {
            target_artifact: TargetArtifact {
                media_type: target.media_type.clone(),
                digest: target.digest.clone(),
                size: target.size,
                annotations: None,
            },
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        crate::go_json::marshal(self)
    }

    pub fn parse(bytes: &[u8]) -> Result<Payload, EnvelopeError> {
        serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Malformed(format!("payload: {e}")))
    }
}

/// The descriptor a payload names.
pub fn target_descriptor(payload: &Payload) -> Descriptor {
    Descriptor {
        media_type: payload.target_artifact.media_type.clone(),
        digest: payload.target_artifact.digest.clone(),
        size: payload.target_artifact.size,
        artifact_type: None,
        annotations: payload.target_artifact.annotations.clone(),
        urls: None,
    }
}
