//! Collecting the signatures of an image, written once over [`RepositoryReader`]: list
//! them cheaply ([`index`]: the referrers whose artifact type carries signatures, and the
//! cosign `sha256-<hex>.sig` tag), then [`load`] each manifest and the blobs verification
//! needs and turn them into [`SignatureArtifact`]s. The pull gate, admission, `zoll policy`
//! and `zoll verify` all collect through here, whatever backend they read.
//!
//! Fail closed: evidence that exists but cannot be read is a [`ReadError`], never an empty
//! list; so is a referrer list longer than is read. What is absent (a manifest deleted
//! between listing and loading, a missing or oversized blob) is not evidence, and only the
//! artifact it belongs to is lost.

use zoll_oci::{Descriptor, Digest, Manifest, Reference, Tag};

use crate::cosign::{bundle, simple_signing};
use crate::notation;
use crate::repository::{BackendError, RepositoryReader};
use crate::verify::{self, SignatureArtifact, MAX_SIGNATURE_BLOB};

/// Most signature-bearing referrers considered for one subject.
pub const MAX_REFERRERS: usize = 256;

/// Most referrers listed for one subject; a longer list is refused, not cut: evidence
/// beyond what is read is not evidence that may be ignored.
pub const MAX_LISTED: usize = 1000;

/// Largest signature manifest read (the registry's default manifest limit).
pub const MAX_SIGNATURE_MANIFEST: u64 = 4 << 20;

/// Evidence that exists but could not be read: no decision may be made without it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot read {what}: {reason}")]
pub struct ReadError {
    pub what: String,
    pub reason: String,
}

fn read_error(what: impl Into<String>, e: impl std::fmt::Display) -> ReadError {
    ReadError {
        what: what.into(),
        reason: e.to_string(),
    }
}

/// The signature-bearing manifests present for a subject, in a canonical order (what
/// decides whether a cached decision is still valid).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SignatureIndex {
    /// Referrer manifests whose artifact type carries signatures or attestations.
    pub referrers: Vec<Digest>,
    /// The manifest the cosign `sha256-<hex>.sig` tag points to.
    pub cosign_tag: Option<Digest>,
    /// Every referrer digest (signatures, SBOMs, scan reports): a change to any of them
    /// invalidates cached decisions.
    pub all: Vec<Digest>,
}

impl SignatureIndex {
    pub fn new(referrers: &[Descriptor], cosign_tag: Option<Digest>) -> SignatureIndex {
        let sorted = |digests: Vec<Digest>| {
            let mut digests = digests;
            digests.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            digests.dedup();
            digests.truncate(MAX_REFERRERS);
            digests
        };
        SignatureIndex {
            referrers: sorted(
                referrers
                    .iter()
                    .filter(|d| is_signature_type(d.artifact_type.as_deref()))
                    .map(|d| d.digest.clone())
                    .collect(),
            ),
            cosign_tag,
            all: sorted(referrers.iter().map(|d| d.digest.clone()).collect()),
        }
    }

    /// Every manifest to load, the cosign tag's last.
    pub fn manifests(&self) -> impl Iterator<Item = &Digest> {
        self.referrers.iter().chain(self.cosign_tag.iter())
    }
}

/// Artifact types whose manifests carry signatures zoll verifies.
pub fn is_signature_type(artifact_type: Option<&str>) -> bool {
    artifact_type == Some(notation::ARTIFACT_TYPE) || artifact_type == Some(bundle::MEDIA_TYPE)
}

/// Lists the signatures of `subject` without loading them.
pub async fn index(
    repo: &dyn RepositoryReader,
    subject: &Descriptor,
) -> Result<SignatureIndex, ReadError> {
    let what = || format!("signatures of {}", subject.digest);
    let referrers = repo
        .referrers(&subject.digest, MAX_LISTED + 1)
        .await
        .map_err(|e| read_error(what(), e))?;
    if referrers.len() > MAX_LISTED {
        return Err(read_error(
            what(),
            format!("more than {MAX_LISTED} referrers; they are not judged"),
        ));
    }
    let tag = Tag::parse(&simple_signing::signature_tag(&subject.digest))
        .map_err(|e| read_error(what(), e))?;
    let cosign_tag = repo
        .resolve(&Reference::Tag(tag))
        .await
        .map_err(|e| read_error(what(), e))?
        .map(|d| d.digest);
    Ok(SignatureIndex::new(&referrers, cosign_tag))
}

/// Loads the manifests of `index` and the blobs verification needs (each bounded by
/// [`MAX_SIGNATURE_BLOB`]) and turns them into artifacts.
pub async fn load(
    repo: &dyn RepositoryReader,
    index: &SignatureIndex,
) -> Result<Vec<SignatureArtifact>, ReadError> {
    let mut out = Vec::new();
    for digest in index.manifests() {
        let failed = |e: BackendError| read_error(format!("signature manifest {digest}"), e);
        // Deleted between listing and loading: it no longer counts.
        let Some(bytes) = repo
            .manifest(digest, MAX_SIGNATURE_MANIFEST)
            .await
            .map_err(failed)?
        else {
            continue;
        };
        // Not a manifest: it carries no signature zoll could verify.
        let Ok(manifest) = Manifest::parse(&bytes, None) else {
            continue;
        };
        let mut blobs = Vec::new();
        for layer in verify::plan(&manifest) {
            if let Some(data) = repo
                .blob(&layer, MAX_SIGNATURE_BLOB)
                .await
                .map_err(failed)?
            {
                blobs.push((layer, data));
            }
        }
        out.extend(verify::collect(digest, &manifest, &blobs));
    }
    Ok(out)
}

/// [`index`], then [`load`].
pub async fn find(
    repo: &dyn RepositoryReader,
    subject: &Descriptor,
) -> Result<Vec<SignatureArtifact>, ReadError> {
    load(repo, &index(repo, subject).await?).await
}
