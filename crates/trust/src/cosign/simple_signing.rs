//! Legacy cosign signatures: a manifest tagged `sha256-<hex>.sig` whose layers are
//! simple-signing payloads, each signed in its `dev.cosignproject.cosign/signature` annotation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zoll_oci::{Descriptor, Digest, Manifest};

use crate::keys::{KeyError, KeySource};
use zoll_stdx::base64;

pub const LAYER_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const SIGNATURE_TYPE: &str = "cosign container image signature";
/// Payloads larger than this are refused (cosign's are a few hundred bytes).
pub const MAX_PAYLOAD_LEN: u64 = 128 * 1024;
/// A `.sig` manifest with more signers than this is refused.
pub const MAX_SIGNERS: usize = 256;

/// The tag cosign keeps a digest's signatures under.
pub fn signature_tag(digest: &Digest) -> String {
    format!("{}-{}.sig", digest.algorithm().as_str(), digest.hex())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleSigning {
    pub critical: Critical,
    #[serde(default)]
    pub optional: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    pub identity: Identity,
    pub image: Image,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl SimpleSigning {
    pub fn new(
        docker_reference: &str,
        digest: &Digest,
        optional: BTreeMap<String, serde_json::Value>,
    ) -> SimpleSigning {
        SimpleSigning {
            critical: Critical {
                identity: Identity {
                    docker_reference: docker_reference.to_owned(),
                },
                image: Image {
                    docker_manifest_digest: digest.to_string(),
                },
                kind: SIGNATURE_TYPE.to_owned(),
            },
            optional: if optional.is_empty() {
                None
            } else {
                Some(optional)
            },
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<SimpleSigning, String> {
        let p: SimpleSigning =
            serde_json::from_slice(bytes).map_err(|e| format!("simple signing payload: {e}"))?;
        if p.critical.kind != SIGNATURE_TYPE {
            return Err(format!("simple signing type {:?}", p.critical.kind));
        }
        Ok(p)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        crate::go_json::marshal(self)
    }
}

/// A signed layer: the payload to upload and its descriptor with the signature annotation.
pub fn sign_layer(key: &dyn KeySource, payload: &[u8]) -> Result<Descriptor, KeyError> {
    let signature = crate::dsse::sigstore_signature(key, payload)?;
    let mut annotations = BTreeMap::new();
    annotations.insert(SIGNATURE_ANNOTATION.to_owned(), base64::encode(&signature));
    Ok(Descriptor {
        media_type: LAYER_MEDIA_TYPE.to_owned(),
        digest: Digest::sha256(payload),
        size: payload.len() as u64,
        artifact_type: None,
        annotations: Some(annotations),
        urls: None,
    })
}

#[derive(Serialize)]
struct Config<'a> {
    architecture: &'a str,
    config: BTreeMap<String, String>,
    created: &'a str,
    history: Vec<BTreeMap<&'a str, &'a str>>,
    os: &'a str,
    rootfs: RootFs,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SigManifest<'a> {
    schema_version: u32,
    media_type: &'static str,
    config: Descriptor,
    layers: &'a [Descriptor],
}

/// The `.sig` manifest after adding `layer` to what `existing` (the current `.sig` manifest, if
/// any) holds: earlier signers are kept, an identical layer is not added twice. Returns the
/// config blob and the manifest.
pub fn append(
    existing: Option<&Manifest>,
    layer: Descriptor,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut layers: Vec<Descriptor> = existing.map(|m| m.layers.clone()).unwrap_or_default();
    if layers.len() >= MAX_SIGNERS {
        return Err(format!(
            "the signature manifest already has {MAX_SIGNERS} signatures"
        ));
    }
    if !layers
        .iter()
        .any(|l| l.digest == layer.digest && l.annotations == layer.annotations)
    {
        layers.push(layer);
    }
    let epoch = "0001-01-01T00:00:00Z";
    let config = serde_json::to_vec(&Config {
        architecture: "",
        config: BTreeMap::new(),
        created: epoch,
        history: vec![BTreeMap::from([("created", epoch)])],
        os: "",
        rootfs: RootFs {
            kind: "layers",
            diff_ids: layers.iter().map(|l| l.digest.to_string()).collect(),
        },
    })
    .expect("configs serialize");
    let config_desc = Descriptor {
        media_type: CONFIG_MEDIA_TYPE.to_owned(),
        digest: Digest::sha256(&config),
        size: config.len() as u64,
        artifact_type: None,
        annotations: None,
        urls: None,
    };
    let manifest = serde_json::to_vec(&SigManifest {
        schema_version: 2,
        media_type: crate::artifact::OCI_MANIFEST,
        config: config_desc,
        layers: &layers,
    })
    .expect("manifests serialize");
    Ok((config, manifest))
}
