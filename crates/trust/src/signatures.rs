//! Collecting the signatures of an image, written once over [`RepositoryReader`]: list
//! them cheaply ([`index`]: the referrers of each signature artifact type, and the cosign
//! `sha256-<hex>.sig` tag), then [`load`] each manifest and the blobs verification needs
//! and turn them into [`SignatureArtifact`]s. The pull gate, admission, `zoll policy` and
//! `zoll verify` all collect through here, whatever backend they read.
//!
//! Fail closed: evidence that exists but cannot be read is a [`ReadError`], never an empty
//! list; so is more evidence than is judged ([`MAX_REFERRERS`], [`MAX_EVIDENCE`],
//! [`MAX_ARTIFACTS`]: an `excess` error, which the policy engine turns into a refusal).
//! Policies only ever require signatures to be present, so what is absent or too large to
//! be a signature (a manifest deleted between listing and loading or listed over
//! [`MAX_SIGNATURE_MANIFEST`], a missing blob or one over its format's maximum) is not
//! evidence, and only the artifact it belongs to is lost.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use zoll_oci::{Descriptor, Digest, Manifest, Reference, Tag};

use crate::cosign::{bundle, simple_signing};
use crate::notation;
use crate::repository::{BackendError, RepositoryReader};
use crate::verify::{self, SignatureArtifact};

/// Most signature-bearing referrers judged for one subject (of each signature artifact
/// type). More are refused, not cut: which ones a cut would keep is an order an attacker
/// can grind digests for.
pub const MAX_REFERRERS: usize = 256;

/// Most referrers of another artifact type a caller asks to have in the fingerprint (scan
/// reports); more are refused like signatures.
pub const MAX_LISTED: usize = 1000;

/// Largest signature manifest read. A larger one is not evidence (evaluation only ever
/// requires signatures to be present, so a dropped one can only refuse), whatever the
/// registry's own manifest limit: one oversized manifest must not make every pull fail.
pub const MAX_SIGNATURE_MANIFEST: u64 = 4 << 20;

/// Most bytes of manifests and blobs one [`load`] holds. Honest evidence is a few KiB a
/// signature (a cosign payload is a few hundred bytes, a Notation envelope with its chain
/// a few KiB): 64 MiB leaves room for every one of [`MAX_REFERRERS`] referrers with a
/// generous certificate chain, or four of the largest bundles a parser accepts, while an
/// attacker who can push to one repository can no longer make one pull hold 256 × 256 ×
/// 16 MiB. Many decisions may run at once; each holds at most this.
pub const MAX_EVIDENCE: u64 = 64 << 20;

/// Most artifacts one [`load`] verifies: an envelope or a bundle for each referrer of
/// either signature type and every signer of the cosign tag is 768; more is not honest
/// evidence, and each one costs a signature verification per policy.
pub const MAX_ARTIFACTS: usize = 2 * MAX_REFERRERS + simple_signing::MAX_SIGNERS;

/// Evidence that exists but could not be read: no decision may be made without it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot read {what}: {reason}")]
pub struct ReadError {
    pub what: String,
    pub reason: String,
    /// There is more evidence than is judged (too many referrers, too many bytes): not a
    /// failure to read but a refusal, the same every time for the same referrers.
    pub excess: bool,
}

fn read_error(what: impl Into<String>, e: impl std::fmt::Display) -> ReadError {
    ReadError {
        what: what.into(),
        reason: e.to_string(),
        excess: false,
    }
}

fn excess(what: impl Into<String>, reason: String) -> ReadError {
    ReadError {
        what: what.into(),
        reason,
        excess: true,
    }
}

/// A manifest listed for a subject: its digest and the size it is listed with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Listed {
    pub digest: Digest,
    pub size: u64,
}

impl From<&Descriptor> for Listed {
    fn from(d: &Descriptor) -> Listed {
        Listed {
            digest: d.digest.clone(),
            size: d.size,
        }
    }
}

/// The signature-bearing manifests present for a subject, in a canonical order, and a
/// fingerprint of everything listed (what decides whether a cached decision is still
/// valid).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SignatureIndex {
    /// Referrer manifests whose artifact type carries signatures or attestations, every
    /// one listed (a longer list is refused by [`index`]), sorted by digest.
    pub referrers: Vec<Listed>,
    /// The manifest the cosign `sha256-<hex>.sig` tag points to.
    pub cosign_tag: Option<Listed>,
    /// SHA-256 over every descriptor listed (signature referrers and those of the
    /// `also` types [`index`] was asked for, scan reports): a change to any of them
    /// invalidates cached decisions. `None` when nothing was listed.
    pub fingerprint: Option<Digest>,
}

impl SignatureIndex {
    /// The index of `listed` (referrers of any artifact type; those of a signature type
    /// are loaded, all are fingerprinted).
    pub fn new(listed: &[Descriptor], cosign_tag: Option<&Descriptor>) -> SignatureIndex {
        let mut referrers: Vec<Listed> = listed
            .iter()
            .filter(|d| is_signature_type(d.artifact_type.as_deref()))
            .map(Listed::from)
            .collect();
        referrers.sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));
        referrers.dedup();
        let mut lines: Vec<String> = listed
            .iter()
            .map(|d| {
                let t = d.artifact_type.as_deref().unwrap_or_default();
                format!("referrer {} {} {t}\n", d.digest, d.size)
            })
            .chain(cosign_tag.map(|d| format!("tag {} {}\n", d.digest, d.size)))
            .collect();
        lines.sort();
        lines.dedup();
        let fingerprint = (!lines.is_empty()).then(|| Digest::sha256(lines.concat().as_bytes()));
        SignatureIndex {
            referrers,
            cosign_tag: cosign_tag.map(Listed::from),
            fingerprint,
        }
    }

    /// Every manifest to load, the cosign tag's last.
    pub fn manifests(&self) -> impl Iterator<Item = &Listed> {
        self.referrers.iter().chain(self.cosign_tag.iter())
    }
}

/// Artifact types whose manifests carry signatures zoll verifies.
pub const SIGNATURE_TYPES: [&str; 2] = [notation::ARTIFACT_TYPE, bundle::MEDIA_TYPE];

/// Whether referrers of `artifact_type` carry signatures zoll verifies.
pub fn is_signature_type(artifact_type: Option<&str>) -> bool {
    artifact_type.is_some_and(|t| SIGNATURE_TYPES.contains(&t))
}

/// Lists the signatures of `subject` without loading them, and the referrers of the
/// artifact types `also` (for the fingerprint only). Only these types are listed: a
/// thousand unrelated referrers neither hide a signature nor lock the image out.
pub async fn index(
    repo: &dyn RepositoryReader,
    subject: &Descriptor,
    also: &[&str],
) -> Result<SignatureIndex, ReadError> {
    let what = || format!("signatures of {}", subject.digest);
    let mut listed = Vec::new();
    let types = SIGNATURE_TYPES.iter().map(|t| (*t, MAX_REFERRERS));
    for (artifact_type, bound) in types.chain(also.iter().map(|t| (*t, MAX_LISTED))) {
        let found = repo
            .referrers(&subject.digest, Some(artifact_type), bound + 1)
            .await
            .map_err(|e| read_error(what(), e))?;
        // A backend may answer more than it was asked for or ignore the filter: only
        // what was asked for counts, all of it.
        let found: Vec<Descriptor> = found
            .into_iter()
            .filter(|d| d.artifact_type.as_deref() == Some(artifact_type))
            .collect();
        if found.len() > bound {
            return Err(excess(
                what(),
                format!("more than {bound} referrers of type {artifact_type}; they are not judged"),
            ));
        }
        listed.extend(found);
    }
    let tag = Tag::parse(&simple_signing::signature_tag(&subject.digest))
        .map_err(|e| read_error(what(), e))?;
    let cosign_tag = repo
        .resolve(&Reference::Tag(tag))
        .await
        .map_err(|e| read_error(what(), e))?;
    Ok(SignatureIndex::new(&listed, cosign_tag.as_ref()))
}

/// What one [`load`] has spent of [`MAX_EVIDENCE`], and the blobs it holds by digest.
struct Budget {
    left: u64,
    blobs: HashMap<Digest, Option<Bytes>>,
}

impl Budget {
    /// Takes `size` bytes of the budget before they are read. Refusing, rather than
    /// skipping the rest, is deterministic and says why: whatever is skipped would be
    /// decided by digest order, which an attacker grinds, and "no signature" would hide
    /// that there was too much to read.
    fn spend(&mut self, size: u64) -> Result<(), ReadError> {
        self.left = self.left.checked_sub(size).ok_or_else(|| {
            excess(
                "signature evidence",
                format!("signature evidence exceeds {MAX_EVIDENCE} bytes; it is not judged"),
            )
        })?;
        Ok(())
    }
}

/// Loads the manifests of `index` and the blobs verification needs and turns them into
/// artifacts, holding at most [`MAX_EVIDENCE`] bytes: each blob is read once however many
/// manifests list it, and makes an artifact only where it says something new.
pub async fn load(
    repo: &dyn RepositoryReader,
    index: &SignatureIndex,
) -> Result<Vec<SignatureArtifact>, ReadError> {
    let mut budget = Budget {
        left: MAX_EVIDENCE,
        blobs: HashMap::new(),
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for listed in index.manifests() {
        let digest = &listed.digest;
        // Too large to be a signature zoll reads: absent, on every backend alike.
        if listed.size > MAX_SIGNATURE_MANIFEST {
            continue;
        }
        budget.spend(listed.size)?;
        let failed = |e: BackendError| read_error(format!("signature manifest {digest}"), e);
        // Deleted between listing and loading: it no longer counts.
        let Some(bytes) = repo
            .manifest(digest, MAX_SIGNATURE_MANIFEST)
            .await
            .map_err(failed)?
        else {
            continue;
        };
        // Listed smaller than it is (a hand-written referrers tag): what it really holds.
        budget.spend((bytes.len() as u64).saturating_sub(listed.size))?;
        // Not a manifest: it carries no signature zoll could verify.
        let Ok(manifest) = Manifest::parse(&bytes, None) else {
            continue;
        };
        drop(bytes);
        for layer in verify::plan(&manifest) {
            if budget.blobs.contains_key(&layer.digest) {
                continue;
            }
            let fits = verify::max_blob(&layer.media_type).is_some_and(|max| layer.size <= max);
            let data = if fits {
                budget.spend(layer.size)?;
                repo.blob(&layer, layer.size)
                    .await
                    .map_err(failed)?
                    .filter(|b| Digest::of(layer.digest.algorithm(), b) == layer.digest)
                    .map(Bytes::from)
            } else {
                None
            };
            budget.blobs.insert(layer.digest.clone(), data);
        }
        let artifacts = verify::collect(digest, &manifest, |layer| {
            // The same bytes (with the same cosign signature beside them) prove the same
            // signer again: verified once, however many manifests list them.
            let signature = (layer.media_type == simple_signing::LAYER_MEDIA_TYPE)
                .then(|| verify::cosign_signature(layer))
                .flatten();
            if !seen.insert((layer.digest.clone(), signature)) {
                return None;
            }
            budget.blobs.get(&layer.digest).cloned().flatten()
        });
        out.extend(artifacts);
        if out.len() > MAX_ARTIFACTS {
            return Err(excess(
                "signature evidence",
                format!("more than {MAX_ARTIFACTS} signatures; they are not judged"),
            ));
        }
    }
    Ok(out)
}

/// [`index`], then [`load`].
pub async fn find(
    repo: &dyn RepositoryReader,
    subject: &Descriptor,
) -> Result<Vec<SignatureArtifact>, ReadError> {
    load(repo, &index(repo, subject, &[]).await?).await
}
