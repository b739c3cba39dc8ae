//! Sigstore bundles v0.3 (protobuf-specs JSON) holding a DSSE envelope, signed with a public
//! key (no certificate, no transparency log: `tlogEntries` is empty), as cosign attaches them
//! to images: an OCI 1.1 referrer with `artifactType` = the bundle media type.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zoll_oci::Descriptor;

use crate::dsse::{self, DsseError, Envelope};
use crate::keys::{HashAlgorithm, KeyError, KeySource, PublicKey};

pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
pub const ANNOTATION_CONTENT: &str = "dev.sigstore.bundle.content";
pub const ANNOTATION_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";
/// The predicate type cosign 3 uses for a plain image signature.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub media_type: String,
    pub verification_material: VerificationMaterial,
    pub dsse_envelope: Envelope,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    pub public_key: PublicKeyHint,
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyHint {
    pub hint: String,
}

/// The hint naming a public key: base64 of the SHA-256 of its DER SubjectPublicKeyInfo.
pub fn key_hint(key: &PublicKey) -> String {
    zoll_stdx::base64::encode(&HashAlgorithm::Sha256.digest(key.spki_der()))
}

impl Bundle {
    /// Signs an in-toto statement (JSON bytes) into a bundle.
    pub fn sign_statement(key: &dyn KeySource, statement: &[u8]) -> Result<Bundle, KeyError> {
        let hint = key_hint(key.public_key());
        Ok(Bundle {
            media_type: MEDIA_TYPE.to_owned(),
            verification_material: VerificationMaterial {
                public_key: PublicKeyHint { hint },
                tlog_entries: Vec::new(),
            },
            dsse_envelope: dsse::sign(key, dsse::IN_TOTO_PAYLOAD_TYPE, statement, "")?,
        })
    }

    pub fn parse(bytes: &[u8]) -> Result<Bundle, DsseError> {
        if bytes.len() > dsse::MAX_DSSE_LEN {
            return Err(DsseError::TooLarge);
        }
        let b: Bundle = serde_json::from_slice(bytes)
            .map_err(|e| DsseError::Malformed(format!("bundle: {e}")))?;
        if b.media_type != MEDIA_TYPE {
            return Err(DsseError::Malformed(format!(
                "bundle media type {:?}",
                b.media_type
            )));
        }
        b.dsse_envelope.check()?;
        Ok(b)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("bundles serialize")
    }
}

/// Manifest annotations describing a bundle referrer.
pub fn referrer_annotations(predicate_type: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (ANNOTATION_CONTENT.to_owned(), "dsse-envelope".to_owned()),
        (
            ANNOTATION_PREDICATE_TYPE.to_owned(),
            predicate_type.to_owned(),
        ),
        (
            crate::artifact::ANNOTATION_CREATED.to_owned(),
            crate::artifact::created_now(),
        ),
    ])
}

/// The layer descriptor of a bundle blob.
pub fn layer(bundle_json: &[u8]) -> Descriptor {
    let digest = zoll_oci::Digest::sha256(bundle_json);
    Descriptor {
        media_type: MEDIA_TYPE.to_owned(),
        annotations: Some(BTreeMap::from([(
            "org.opencontainers.image.title".to_owned(),
            format!(
                "{}-{}.sigstore.json",
                digest.algorithm().as_str(),
                digest.hex()
            ),
        )])),
        digest,
        size: bundle_json.len() as u64,
        artifact_type: None,
        urls: None,
    }
}
