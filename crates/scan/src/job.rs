//! What the registry and the CLI call: inspect an image (manifest + a blob reader) or a
//! directory, and re-match a stored SBOM without reading layers.
//!
//! Registry integration, in order: on a manifest push, run [`inspect_image`] on a blocking
//! worker with a [`BlobSource`] over the store; attach [`Inspection::cyclonedx`] (and the
//! vulnerability and lint reports from [`crate::report`]) as referrers; keep the CycloneDX
//! bytes. When the vulnerability database changes, call [`crate::vuln::rematch_sbom`] on each
//! stored CycloneDX document: no layer is read.

use std::io::Read;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{self, Catalog};
use crate::error::ScanError;
use crate::limits::Limits;
use crate::lint::{self, ImageConfig, LintReport};
use crate::sbom::{self, Subject};
use crate::walk::{self, Walked, Walker, Warning};

/// Media types of layers the walker reads (the tar is told apart by its magic bytes anyway).
const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// Reads blobs of the image being inspected, by digest. The registry implements it over its
/// store (bytes already verified at push), the CLI over `zoll-client`.
pub trait BlobSource {
    /// A stream of the blob's bytes, as the manifest describes it. The stream must fail, not
    /// end, if the bytes do not match the digest.
    fn open(
        &mut self,
        media_type: &str,
        digest: &str,
        size: u64,
    ) -> Result<Box<dyn Read + '_>, ScanError>;
}

/// The result of inspecting one image or directory.
#[derive(Debug, Serialize, Deserialize)]
pub struct Inspection {
    pub subject: Subject,
    pub catalog: Catalog,
    pub lint: LintReport,
    /// Layer members skipped safely (hostile or unreadable).
    pub warnings: Vec<Warning>,
}

impl Inspection {
    pub fn cyclonedx(&self) -> Value {
        sbom::to_cyclonedx(&self.subject, &self.catalog)
    }

    pub fn spdx(&self) -> Value {
        sbom::to_spdx(&self.subject, &self.catalog)
    }
}

#[derive(Deserialize)]
struct ManifestView {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    config: Option<DescriptorView>,
    #[serde(default)]
    layers: Vec<DescriptorView>,
}

#[derive(Deserialize)]
struct DescriptorView {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
}

/// Inspects an image: `manifest` is the image manifest's bytes (OCI or Docker schema 2), `name`
/// what to call it, `digest` its digest. Layers are streamed once each, in order.
pub fn inspect_image(
    name: &str,
    digest: &str,
    manifest: &[u8],
    blobs: &mut dyn BlobSource,
    limits: &Limits,
) -> Result<Inspection, ScanError> {
    let m: ManifestView =
        serde_json::from_slice(manifest).map_err(|e| ScanError::BadManifest(e.to_string()))?;
    if m.media_type
        .as_deref()
        .is_some_and(|t| t.contains("index") || t.contains("manifest.list"))
    {
        return Err(ScanError::BadManifest(
            "an image index: select a platform manifest first".into(),
        ));
    }
    let config_desc = m
        .config
        .ok_or_else(|| ScanError::BadManifest("no config descriptor".into()))?;
    if m.layers.len() > limits.max_layers {
        return Err(ScanError::TooManyLayers {
            count: m.layers.len(),
            limit: limits.max_layers,
        });
    }
    let config = read_config(blobs, &config_desc)?;
    let mut walker = Walker::new(limits);
    if let Some((layer, l)) = m
        .layers
        .iter()
        .enumerate()
        .find(|(_, l)| l.media_type.ends_with("+encrypted"))
    {
        return Err(ScanError::Encrypted {
            layer,
            media_type: l.media_type.clone(),
        });
    }
    for (i, layer) in m.layers.iter().enumerate() {
        if !LAYER_TYPES.contains(&layer.media_type.as_str()) {
            return Err(ScanError::UnsupportedLayer {
                layer: i,
                media_type: layer.media_type.clone(),
            });
        }
        let reader = blobs.open(&layer.media_type, &layer.digest, layer.size)?;
        walker.apply_layer(reader)?;
    }
    let walked = walker.finish();
    let subject = Subject {
        name: name.to_owned(),
        digest: Some(digest.to_owned()),
        layers: m.layers.iter().map(|l| l.digest.clone()).collect(),
    };
    Ok(finish(subject, walked, Some(&config), name, limits))
}

/// Inspects a directory on the host as a one-layer image without a config.
pub fn inspect_dir(path: &std::path::Path, limits: &Limits) -> Result<Inspection, ScanError> {
    let walked = walk::walk_dir(path, limits)?;
    let subject = Subject {
        name: path.display().to_string(),
        digest: None,
        layers: Vec::new(),
    };
    Ok(finish(subject, walked, None, "", limits))
}

fn finish(
    subject: Subject,
    walked: Walked,
    config: Option<&ImageConfig>,
    reference: &str,
    limits: &Limits,
) -> Inspection {
    let catalog = catalog::catalog(&walked, limits);
    let lint = lint::run(&walked.index, config, reference);
    Inspection {
        subject,
        catalog,
        lint,
        warnings: walked.warnings,
    }
}

/// Bytes of an image config we read.
const MAX_CONFIG: u64 = 8 << 20;

fn read_config(
    blobs: &mut dyn BlobSource,
    desc: &DescriptorView,
) -> Result<ImageConfig, ScanError> {
    if desc.size > MAX_CONFIG {
        return Err(ScanError::BadConfig(format!(
            "{} bytes, above {MAX_CONFIG}",
            desc.size
        )));
    }
    let mut bytes = Vec::new();
    blobs
        .open(&desc.media_type, &desc.digest, desc.size)?
        .take(MAX_CONFIG)
        .read_to_end(&mut bytes)
        .map_err(ScanError::io("image config"))?;
    ImageConfig::parse(&bytes)
}

/// Picks the manifest for `os`/`architecture` from an image index (OCI or Docker list):
/// returns its media type, digest and size.
pub fn select_platform(
    index: &[u8],
    os: &str,
    architecture: &str,
) -> Result<(String, String, u64), ScanError> {
    #[derive(Deserialize)]
    struct Index {
        manifests: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        #[serde(rename = "mediaType")]
        media_type: String,
        digest: String,
        size: u64,
        platform: Option<Platform>,
    }
    #[derive(Deserialize)]
    struct Platform {
        os: String,
        architecture: String,
    }
    let idx: Index =
        serde_json::from_slice(index).map_err(|e| ScanError::BadManifest(e.to_string()))?;
    idx.manifests
        .into_iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.os == os && p.architecture == architecture)
        })
        .map(|m| (m.media_type, m.digest, m.size))
        .ok_or_else(|| {
            ScanError::BadManifest(format!("the index has no manifest for {os}/{architecture}"))
        })
}

/// Whether manifest bytes are an image index / manifest list.
pub fn is_index(manifest: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, rename = "mediaType")]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
    }
    serde_json::from_slice::<Probe>(manifest)
        .map(|p| {
            p.manifests.is_some()
                || p.media_type
                    .is_some_and(|t| t.contains("index") || t.contains("manifest.list"))
        })
        .unwrap_or(false)
}
