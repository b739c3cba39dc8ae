//! Whole images: encrypt, decrypt or re-wrap every selected layer of an image manifest or
//! of every selected platform of an index, and write the new manifests. Reading and writing
//! go through [`ImageSource`] / [`ImageSink`], so this module knows no registry or layout.
//!
//! Nothing reaches the sink until every layer is done and verified: new layer blobs are
//! staged (in the sink's staging directory) and published only at the end, so a wrong key,
//! a tampered layer or a failed HMAC leaves the destination untouched.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use serde_json::{Map, Value};
use zoll_oci::Digest;

use crate::error::{CryptError, Result, malformed};
use crate::layer;
use crate::spec::{KeyRing, Recipient};
use crate::wrap::{self, ANNOTATION_PREFIX, WrapSettings};

/// Manifests larger than this are refused.
const MAX_MANIFEST: u64 = 4 << 20;
/// Children of an index, layers of a manifest.
const MAX_ENTRIES: usize = 10_000;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const ENCRYPTED_SUFFIX: &str = "+encrypted";

/// A content descriptor as found in manifests (unknown fields kept).
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub annotations: BTreeMap<String, String>,
}

/// Where an image is read from.
pub trait ImageSource {
    /// The bytes of the manifest or index `desc` names, at most `limit` bytes.
    fn manifest(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>>;
    /// The blob's bytes. The caller checks digest and size.
    fn blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>>;
}

/// Where an image is written to.
pub trait ImageSink {
    /// A directory for staging files, on the destination's file system where possible.
    fn staging_dir(&self) -> PathBuf;
    fn has_blob(&self, desc: &Descriptor) -> Result<bool>;
    /// Publishes a staged, verified file as the blob `desc`.
    fn publish_blob(&self, desc: &Descriptor, staged: tempfile::NamedTempFile) -> Result<()>;
    /// Copies an unchanged blob from the source.
    fn copy_blob(&self, desc: &Descriptor, src: &dyn ImageSource) -> Result<()>;
    /// Stores a manifest (by digest; children of an index).
    fn put_manifest(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor>;
}

/// `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl std::str::FromStr for Platform {
    type Err = CryptError;
    fn from_str(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: parts.get(2).map(|v| (*v).to_owned()),
            }),
            _ => Err(CryptError::InvalidSpec {
                spec: s.to_owned(),
                reason: "a platform is OS/ARCH[/VARIANT]".into(),
            }),
        }
    }
}

impl Platform {
    fn matches(&self, v: Option<&Value>) -> bool {
        let Some(p) = v else { return false };
        let field = |k: &str| p.get(k).and_then(Value::as_str);
        field("os") == Some(&self.os)
            && field("architecture") == Some(&self.architecture)
            && (self.variant.is_none() || field("variant") == self.variant.as_deref())
    }
}

/// Which layers and platforms an operation applies to. Empty lists mean all.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Layer indices; negative counts from the top (-1 is the last layer).
    pub layers: Vec<i64>,
    pub platforms: Vec<Platform>,
}

impl Selection {
    fn platform_selected(&self, platform: Option<&Value>) -> bool {
        self.platforms.is_empty() || self.platforms.iter().any(|p| p.matches(platform))
    }

    /// Indices of the selected layers; `explicit` tells whether the user named them.
    fn layer_indices(&self, count: usize) -> Result<(Vec<usize>, bool)> {
        if self.layers.is_empty() {
            return Ok(((0..count).collect(), false));
        }
        let mut out = Vec::new();
        for &i in &self.layers {
            let idx = if i < 0 { count as i64 + i } else { i };
            if idx < 0 || idx >= count as i64 {
                return Err(CryptError::InvalidSpec {
                    spec: i.to_string(),
                    reason: format!("layer index out of range (the image has {count} layers)"),
                });
            }
            if !out.contains(&(idx as usize)) {
                out.push(idx as usize);
            }
        }
        Ok((out, true))
    }
}

/// What to do to each selected layer.
pub enum Operation<'a> {
    Encrypt {
        recipients: &'a [Recipient],
        settings: WrapSettings,
    },
    Decrypt {
        keys: &'a KeyRing,
    },
    AddRecipients {
        keys: &'a KeyRing,
        recipients: &'a [Recipient],
        settings: WrapSettings,
    },
    RemoveRecipients {
        recipients: &'a [Recipient],
    },
}

/// What an operation did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Layers changed (encrypted, decrypted or re-wrapped).
    pub layers_changed: usize,
    /// Selected layers left as they were (already in the wanted state, or not a layer).
    pub layers_skipped: usize,
    /// Decrypted layers whose private options named another digest than the decrypted
    /// bytes have (skopeo does this when it compresses while encrypting); they are named by
    /// their real digest.
    pub digest_claims_corrected: usize,
}

/// Applies `op` to the image `root` from `src`, writing to `dst`. Returns the new root
/// descriptor (the caller tags it) and its manifest bytes.
pub fn transform(
    src: &dyn ImageSource,
    dst: &dyn ImageSink,
    root: &Descriptor,
    op: &Operation<'_>,
    selection: &Selection,
) -> Result<(Descriptor, Vec<u8>, Report)> {
    let mut plan = Plan {
        staging: dst.staging_dir(),
        staged: Vec::new(),
        copies: Vec::new(),
        children: Vec::new(),
        report: Report::default(),
    };
    let (media_type, bytes) = plan.manifest(src, root, op, selection, 0)?;
    // Everything is staged and verified: publish blobs, then manifests (children first).
    for (desc, staged) in plan.staged.drain(..) {
        dst.publish_blob(&desc, staged)?;
    }
    for desc in &plan.copies {
        if !dst.has_blob(desc)? {
            dst.copy_blob(desc, src)?;
        }
    }
    for (mt, body) in &plan.children {
        dst.put_manifest(mt, body)?;
    }
    let new_root = Descriptor {
        media_type: media_type.clone(),
        digest: Digest::sha256(&bytes),
        size: bytes.len() as u64,
        annotations: root.annotations.clone(),
    };
    Ok((new_root, bytes, plan.report))
}

struct Plan {
    staging: PathBuf,
    staged: Vec<(Descriptor, tempfile::NamedTempFile)>,
    copies: Vec<Descriptor>,
    children: Vec<(String, Vec<u8>)>,
    report: Report,
}

fn fetch_manifest(src: &dyn ImageSource, desc: &Descriptor) -> Result<Vec<u8>> {
    let bytes = src.manifest(desc, MAX_MANIFEST)?;
    let actual = Digest::of(desc.digest.algorithm(), &bytes);
    if actual != desc.digest {
        return Err(CryptError::DigestMismatch {
            expected: desc.digest.clone(),
            actual,
        });
    }
    Ok(bytes)
}

fn descriptor_of(v: &Value) -> Result<Descriptor> {
    let media_type = v
        .get("mediaType")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("manifest", "descriptor without mediaType"))?
        .to_owned();
    let digest = v
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("manifest", "descriptor without digest"))?
        .parse()
        .map_err(|e| malformed("manifest", format!("descriptor digest: {e}")))?;
    let size = v
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("manifest", "descriptor without size"))?;
    let mut annotations = BTreeMap::new();
    if let Some(Value::Object(a)) = v.get("annotations") {
        for (k, val) in a {
            if let Some(s) = val.as_str() {
                annotations.insert(k.clone(), s.to_owned());
            }
        }
    }
    Ok(Descriptor {
        media_type,
        digest,
        size,
        annotations,
    })
}

/// Writes the changed fields of `desc` into the descriptor object `v` (other fields stay).
fn update_descriptor(v: &mut Value, desc: &Descriptor) {
    let obj = v.as_object_mut().expect("descriptor object");
    obj.insert("mediaType".into(), desc.media_type.clone().into());
    obj.insert("digest".into(), desc.digest.to_string().into());
    obj.insert("size".into(), desc.size.into());
    if desc.annotations.is_empty() {
        obj.remove("annotations");
    } else {
        let map: Map<String, Value> = desc
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        obj.insert("annotations".into(), Value::Object(map));
    }
}

fn array_mut<'v>(doc: &'v mut Value, field: &str) -> Result<&'v mut Vec<Value>> {
    match doc.get_mut(field) {
        Some(Value::Array(a)) if a.len() <= MAX_ENTRIES => Ok(a),
        Some(Value::Array(_)) => Err(CryptError::Limit(format!(
            "more than {MAX_ENTRIES} {field}"
        ))),
        _ => Err(malformed("manifest", format!("{field} missing"))),
    }
}

impl Plan {
    /// Transforms one manifest or index; returns its new media type and bytes.
    fn manifest(
        &mut self,
        src: &dyn ImageSource,
        desc: &Descriptor,
        op: &Operation<'_>,
        selection: &Selection,
        depth: usize,
    ) -> Result<(String, Vec<u8>)> {
        let bytes = fetch_manifest(src, desc)?;
        let mut doc: Value =
            serde_json::from_slice(&bytes).map_err(|e| malformed("manifest", e.to_string()))?;
        let media_type = doc
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or(&desc.media_type)
            .to_owned();
        match media_type.as_str() {
            OCI_INDEX | DOCKER_LIST if depth == 0 => {
                self.index(src, doc, &media_type, op, selection)
            }
            OCI_MANIFEST | DOCKER_MANIFEST => {
                let (changed, converted) = self.image(src, &mut doc, &media_type, op, selection)?;
                if !changed && !converted {
                    return Ok((media_type, bytes));
                }
                let mt = if converted {
                    OCI_MANIFEST.to_owned()
                } else {
                    media_type
                };
                Ok((mt, serde_json::to_vec(&doc).expect("json")))
            }
            other => Err(CryptError::Unsupported {
                what: "manifest media type",
                value: other.to_owned(),
            }),
        }
    }

    fn index(
        &mut self,
        src: &dyn ImageSource,
        mut doc: Value,
        media_type: &str,
        op: &Operation<'_>,
        selection: &Selection,
    ) -> Result<(String, Vec<u8>)> {
        let children = array_mut(&mut doc, "manifests")?.clone();
        let mut new_children = Vec::with_capacity(children.len());
        let mut any_converted = false;
        for mut child in children {
            let cdesc = descriptor_of(&child)?;
            let is_image = matches!(cdesc.media_type.as_str(), OCI_MANIFEST | DOCKER_MANIFEST);
            if is_image && selection.platform_selected(child.get("platform")) {
                let (mt, new_bytes) = self.manifest(src, &cdesc, op, selection, 1)?;
                any_converted |= mt == OCI_MANIFEST && cdesc.media_type == DOCKER_MANIFEST;
                let new_desc = Descriptor {
                    media_type: mt.clone(),
                    digest: Digest::sha256(&new_bytes),
                    size: new_bytes.len() as u64,
                    annotations: cdesc.annotations.clone(),
                };
                update_descriptor(&mut child, &new_desc);
                self.children.push((mt, new_bytes));
            } else {
                // Passed through as it is, with everything it references.
                let bytes = fetch_manifest(src, &cdesc)?;
                self.copy_tree(&cdesc, &bytes)?;
                self.children.push((cdesc.media_type.clone(), bytes));
            }
            new_children.push(child);
        }
        *array_mut(&mut doc, "manifests")? = new_children;
        let mt = if media_type == DOCKER_LIST && any_converted {
            doc.as_object_mut()
                .expect("object")
                .insert("mediaType".into(), OCI_INDEX.into());
            OCI_INDEX.to_owned()
        } else {
            media_type.to_owned()
        };
        Ok((mt, serde_json::to_vec(&doc).expect("json")))
    }

    /// Records the blobs of an unchanged child manifest for copying.
    fn copy_tree(&mut self, desc: &Descriptor, bytes: &[u8]) -> Result<()> {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| malformed("manifest", e.to_string()))?;
        if matches!(desc.media_type.as_str(), OCI_MANIFEST | DOCKER_MANIFEST) {
            if let Some(c) = doc.get("config") {
                self.copies.push(descriptor_of(c)?);
            }
            if let Some(Value::Array(layers)) = doc.get("layers") {
                for l in layers {
                    let d = descriptor_of(l)?;
                    if !zoll_oci::is_non_distributable(&d.media_type) {
                        self.copies.push(d);
                    }
                }
            }
            Ok(())
        } else {
            Err(CryptError::Unsupported {
                what: "nested index",
                value: desc.digest.to_string(),
            })
        }
    }

    /// Transforms the layers of one image manifest in place. Returns (any layer changed,
    /// Docker manifest converted to OCI).
    fn image(
        &mut self,
        src: &dyn ImageSource,
        doc: &mut Value,
        media_type: &str,
        op: &Operation<'_>,
        selection: &Selection,
    ) -> Result<(bool, bool)> {
        let convert = media_type == DOCKER_MANIFEST && matches!(op, Operation::Encrypt { .. });
        let config = doc
            .get("config")
            .ok_or_else(|| malformed("manifest", "config missing"))
            .and_then(descriptor_of)?;
        self.copies.push(config);
        let layers = array_mut(doc, "layers")?;
        let (selected, explicit) = selection.layer_indices(layers.len())?;
        let mut changed = false;
        for (i, layer) in layers.iter_mut().enumerate() {
            let desc = descriptor_of(layer)?;
            let new = if selected.contains(&i) {
                self.layer(src, &desc, op, explicit)?
            } else {
                None
            };
            match new {
                Some(new) => {
                    update_descriptor(layer, &new);
                    self.report.layers_changed += 1;
                    changed = true;
                }
                None => {
                    if selected.contains(&i) {
                        self.report.layers_skipped += 1;
                    }
                    if !zoll_oci::is_non_distributable(&desc.media_type) {
                        self.copies.push(desc.clone());
                    }
                    if convert {
                        let mt = docker_to_oci(&desc.media_type);
                        layer
                            .as_object_mut()
                            .expect("object")
                            .insert("mediaType".into(), mt.into());
                    }
                }
            }
        }
        if convert {
            let obj = doc.as_object_mut().expect("object");
            obj.insert("mediaType".into(), OCI_MANIFEST.into());
            if let Some(Value::Object(c)) = obj.get_mut("config")
                && c.get("mediaType").and_then(Value::as_str) == Some(DOCKER_CONFIG)
            {
                c.insert("mediaType".into(), OCI_CONFIG.into());
            }
        }
        Ok((changed, convert))
    }

    /// One layer; `None` when it stays as it is.
    fn layer(
        &mut self,
        src: &dyn ImageSource,
        desc: &Descriptor,
        op: &Operation<'_>,
        explicit: bool,
    ) -> Result<Option<Descriptor>> {
        let encrypted =
            desc.media_type.ends_with(ENCRYPTED_SUFFIX) || wrap::is_encrypted(&desc.annotations);
        match op {
            Operation::Encrypt {
                recipients,
                settings,
            } => {
                if encrypted {
                    return if explicit {
                        Err(CryptError::AlreadyEncrypted(desc.digest.clone()))
                    } else {
                        Ok(None)
                    };
                }
                if !is_layer(&desc.media_type) {
                    return Ok(None);
                }
                let mut staged = tempfile::Builder::new()
                    .prefix(".zoll-encrypt-")
                    .tempfile_in(&self.staging)?;
                let input = src.blob(desc)?;
                let out = layer::encrypt(input, staged.as_file_mut(), &desc.digest, desc.size)?;
                staged.as_file_mut().sync_data()?;
                let mut annotations: BTreeMap<String, String> = desc
                    .annotations
                    .iter()
                    .filter(|(k, _)| !k.starts_with(ANNOTATION_PREFIX))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                annotations.extend(wrap::annotations_for(
                    &out.private,
                    &out.public,
                    recipients,
                    *settings,
                )?);
                let new = Descriptor {
                    media_type: format!("{}{ENCRYPTED_SUFFIX}", docker_to_oci(&desc.media_type)),
                    digest: out.digest,
                    size: out.size,
                    annotations,
                };
                self.staged.push((new.clone(), staged));
                Ok(Some(new))
            }
            Operation::Decrypt { keys } => {
                if !encrypted {
                    return Ok(None);
                }
                let (private, public) =
                    wrap::unwrap_options(&desc.annotations, keys, &desc.digest)?;
                let input = src.blob(desc)?;
                let verified = layer::decrypt_to_staging(
                    input,
                    &self.staging,
                    &desc.digest,
                    desc.size,
                    &private,
                    &public,
                )?;
                let new = Descriptor {
                    media_type: desc
                        .media_type
                        .trim_end_matches(ENCRYPTED_SUFFIX)
                        .to_owned(),
                    digest: verified.digest.clone(),
                    size: verified.size,
                    annotations: desc
                        .annotations
                        .iter()
                        .filter(|(k, _)| !k.starts_with(ANNOTATION_PREFIX))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                };
                if !verified.claimed_digest_matched {
                    self.report.digest_claims_corrected += 1;
                }
                self.staged.push((new.clone(), verified.file));
                Ok(Some(new))
            }
            Operation::AddRecipients {
                keys,
                recipients,
                settings,
            } => {
                if !encrypted {
                    return Ok(None);
                }
                let annotations = wrap::add_recipients(
                    &desc.annotations,
                    keys,
                    recipients,
                    *settings,
                    &desc.digest,
                )?;
                self.copies.push(desc.clone());
                Ok(Some(Descriptor {
                    annotations,
                    ..desc.clone()
                }))
            }
            Operation::RemoveRecipients { recipients } => {
                if !encrypted {
                    return Ok(None);
                }
                let annotations =
                    wrap::remove_recipients(&desc.annotations, recipients, &desc.digest)?;
                self.copies.push(desc.clone());
                Ok(Some(Descriptor {
                    annotations,
                    ..desc.clone()
                }))
            }
        }
    }
}

/// Layer media types ocicrypt encrypts.
fn is_layer(media_type: &str) -> bool {
    let mt = docker_to_oci(media_type);
    mt.starts_with("application/vnd.oci.image.layer.")
        || mt == "application/vnd.wasm.content.layer.v1+wasm"
}

fn docker_to_oci(media_type: &str) -> String {
    match media_type {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.v1.tar+gzip".into()
        }
        "application/vnd.docker.image.rootfs.diff.tar" => {
            "application/vnd.oci.image.layer.v1.tar".into()
        }
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip".into()
        }
        other => other.to_owned(),
    }
}
