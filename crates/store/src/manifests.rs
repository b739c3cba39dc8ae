//! Manifest push, pull and delete. A push is checked before anything is written: the
//! document parses, its digest matches the reference, and every blob or child manifest it
//! references is in the repository (a subject need not exist yet).

use std::sync::Arc;

use zoll_oci::{Digest, Manifest, ManifestKind, Reference, RepoName, Tag, is_non_distributable};

use crate::Store;
use crate::error::{Result, StoreError};
use crate::meta::NewManifest;
use crate::meta::Removal;

/// An image manifest whose config is a container image configuration and that has a
/// filesystem layer: what scanning is for. Signatures, SBOMs and other artifacts are image
/// manifests too, with other configs, or (cosign's legacy `.sig`) an image config over a
/// simple-signing "layer".
fn is_container_image(m: &Manifest) -> bool {
    const CONFIGS: [&str; 2] = [
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    ];
    m.kind == ManifestKind::Image
        && m.config
            .as_ref()
            .is_some_and(|c| CONFIGS.contains(&c.media_type.as_str()))
        && m.layers
            .iter()
            .any(|l| zoll_oci::is_filesystem_layer(&l.media_type))
}

/// A stored manifest as served.
#[derive(Debug)]
pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub content: bytes::Bytes,
}

/// What a project's policies require of a push, decided by the caller: tags that must not
/// move once set, and a quota checked inside the push transaction (exact: usage is derived
/// from manifest references, and pushes to one project are serialized on its row).
#[derive(Debug, Clone, Default)]
pub struct PushPolicy {
    /// Tags of this push that may be created, or re-pushed with the same digest, but never
    /// pointed at another manifest.
    pub immutable_tags: Vec<String>,
    pub quota: Option<Quota>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// The project (first path component) whose repositories share the quota.
    pub project: String,
    pub max_bytes: Option<u64>,
    pub max_artifacts: Option<u64>,
}

/// What a successful push reports back.
#[derive(Debug)]
pub struct ManifestPut {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

impl Store {
    /// Stores a manifest pushed to `reference`; `also_tag` are further tags to point at it
    /// (the `?tag=` parameters of a push by digest).
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        also_tag: &[Tag],
        content_type: Option<&str>,
        content: &[u8],
    ) -> Result<ManifestPut> {
        let policy = PushPolicy::default();
        self.put_manifest_with(repo, reference, also_tag, content_type, content, &policy)
            .await
    }

    /// `put_manifest` under a project's push policy; a violation is `StoreError::Denied`
    /// and writes nothing.
    pub async fn put_manifest_with(
        &self,
        repo: &RepoName,
        reference: &Reference,
        also_tag: &[Tag],
        content_type: Option<&str>,
        content: &[u8],
        policy: &PushPolicy,
    ) -> Result<ManifestPut> {
        let manifest = Manifest::parse(content, content_type)
            .map_err(|e| StoreError::ManifestInvalid(e.to_string()))?;
        let digest = match reference {
            Reference::Digest(d) => {
                let actual = Digest::of(d.algorithm(), content);
                if &actual != d {
                    return Err(StoreError::DigestMismatch {
                        expected: d.clone(),
                        actual,
                    });
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256(content),
        };
        let repo_id = self.repo_for_write(repo).await?;

        let children: Vec<&str> = manifest
            .config
            .iter()
            .chain(&manifest.layers)
            .chain(&manifest.manifests)
            .map(|d| d.digest.as_str())
            .collect();
        let annotations = manifest
            .annotations
            .as_ref()
            .map(|a| serde_json::to_string(a).expect("string map serializes"));
        self.meta
            .put_manifest(NewManifest {
                repo_id,
                digest: digest.as_str(),
                media_type: &manifest.media_type,
                content,
                subject: manifest.subject.as_ref().map(|s| s.digest.as_str()),
                artifact_type: manifest.effective_artifact_type(),
                annotations,
                blobs: match manifest.kind {
                    ManifestKind::Image => manifest
                        .config
                        .iter()
                        .chain(&manifest.layers)
                        .filter(|d| !is_non_distributable(&d.media_type))
                        .map(|d| (d.digest.as_str(), d.size))
                        .collect(),
                    ManifestKind::Index => Vec::new(),
                },
                manifests: manifest
                    .manifests
                    .iter()
                    .map(|d| d.digest.as_str())
                    .collect(),
                children,
                tags: match reference {
                    Reference::Tag(t) => Some(t),
                    Reference::Digest(_) => None,
                }
                .into_iter()
                .chain(also_tag)
                .map(Tag::as_str)
                .collect(),
                immutable_tags: policy.immutable_tags.iter().map(String::as_str).collect(),
                quota: policy.quota.as_ref(),
                scan: self.config.scan_on_push && is_container_image(&manifest),
            })
            .await?;
        self.cache.invalidate_repo(repo_id);
        Ok(ManifestPut {
            digest,
            subject: manifest.subject.map(|s| s.digest),
        })
    }

    /// Resolves a tag or digest in `repo` to the stored manifest.
    pub async fn manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Arc<StoredManifest>> {
        let unknown = || StoreError::ManifestUnknown(reference.to_string());
        let repo_id = self.repo(repo).await?.ok_or_else(unknown)?;
        let digest = match reference {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(t) => match self.cache.tag(repo_id, t.as_str()) {
                Some(d) => d,
                None => {
                    let generation = self.cache.generation();
                    let found = self.meta.tag(repo_id, t.as_str()).await?;
                    let d: Digest = found.ok_or_else(unknown)?.parse().map_err(|_| unknown())?;
                    self.cache
                        .fill_tag(generation, repo_id, t.as_str(), d.clone());
                    d
                }
            },
        };
        if let Some(m) = self.cache.manifest(repo_id, &digest) {
            return Ok(m);
        }
        let generation = self.cache.generation();
        let row = self
            .meta
            .manifest(repo_id, digest.as_str())
            .await?
            .ok_or_else(unknown)?;
        if Digest::of(digest.algorithm(), &row.content) != digest {
            tracing::error!(%digest, repo = %repo, "stored manifest does not match its digest");
            return Err(StoreError::Corrupt(digest));
        }
        let m = Arc::new(StoredManifest {
            digest,
            media_type: row.media_type,
            content: row.content.into(),
        });
        self.cache.fill_manifest(generation, repo_id, m.clone());
        Ok(m)
    }

    /// At most `n` tags in `repo` that point at `digest`, by name (`u64::MAX`: all).
    pub async fn tags_of(&self, repo: &RepoName, digest: &Digest, n: u64) -> Result<Vec<String>> {
        match self.repo(repo).await? {
            Some(id) => self.meta.tags_of(id, digest.as_str(), n).await,
            None => Ok(Vec::new()),
        }
    }

    /// Deletes a manifest (by digest, with its tags) or only a tag (by tag).
    pub async fn delete_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<()> {
        let unknown = || StoreError::ManifestUnknown(reference.to_string());
        let repo_id = self.repo(repo).await?.ok_or_else(unknown)?;
        let deleted = match reference {
            Reference::Digest(d) => match self.meta.delete_manifest(repo_id, d.as_str()).await? {
                Removal::Done => true,
                Removal::Absent => false,
                Removal::Referenced(index) => {
                    return Err(StoreError::Referenced(format!(
                        "manifest {d} is listed by index {index} of {repo}; delete the index \
                         first"
                    )));
                }
            },
            Reference::Tag(t) => self.meta.delete_tag(repo_id, t.as_str()).await?,
        };
        self.cache.invalidate_repo(repo_id);
        if deleted { Ok(()) } else { Err(unknown()) }
    }
}
