//! Where the evidence comes from. A [`SignatureSource`] lists the signature artifacts of a
//! subject cheaply ([`SignatureSource::index`]: referrer digests and the cosign `.sig` tag,
//! which is also what decides whether a cached decision is still valid) and loads them
//! ([`SignatureSource::load`]). The registry implements it over its store; [`ClientSource`]
//! implements it over `zoll-client` for any registry or OCI layout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zoll_client::{ClientConfig, ClientError, ImageRef, Location, Repository};
use zoll_oci::{Descriptor, Digest, Manifest, Reference, RepoName, Tag};
use zoll_trust::cosign::{bundle, simple_signing};
use zoll_trust::notation;
use zoll_trust::verify::{self, SignatureArtifact, MAX_SIGNATURE_BLOB};

use crate::scan::BoxFuture;
use crate::PolicyError;

/// Most referrers considered for one subject.
pub const MAX_REFERRERS: usize = 256;

/// The signature-bearing manifests present for a subject, in a canonical order.
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
        let mut all: Vec<Digest> = referrers.iter().map(|d| d.digest.clone()).collect();
        all.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        all.dedup();
        all.truncate(MAX_REFERRERS);
        let mut signing: Vec<Digest> = referrers
            .iter()
            .filter(|d| is_signature_type(d.artifact_type.as_deref()))
            .map(|d| d.digest.clone())
            .collect();
        signing.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        signing.dedup();
        signing.truncate(MAX_REFERRERS);
        SignatureIndex {
            referrers: signing,
            cosign_tag,
            all,
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

/// Reads signatures for the engine.
pub trait SignatureSource: Send + Sync {
    /// The signature artifacts present for `subject` in `repository` (cheap: listings only).
    fn index<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a str,
        subject: &'a Descriptor,
    ) -> BoxFuture<'a, Result<SignatureIndex, PolicyError>>;

    /// Fetches the manifests of `index` and the blobs verification needs (each bounded by
    /// [`MAX_SIGNATURE_BLOB`]) and turns them into artifacts.
    fn load<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a str,
        index: &'a SignatureIndex,
    ) -> BoxFuture<'a, Result<Vec<SignatureArtifact>, PolicyError>>;

    /// Indexes in `repository` that list `child` among their manifests (for the pull gate:
    /// a platform manifest is allowed when an index containing it is). Default: none.
    fn parents<'a>(
        &'a self,
        _registry: &'a str,
        _repository: &'a str,
        _child: &'a Digest,
    ) -> BoxFuture<'a, Result<Vec<Descriptor>, PolicyError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// A [`SignatureSource`] that can also resolve a tag: what the admission webhook needs.
pub trait ImageSource: SignatureSource {
    /// The descriptor of the manifest `reference` names in `registry/repository`.
    fn resolve<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a str,
        reference: &'a Reference,
    ) -> BoxFuture<'a, Result<Descriptor, PolicyError>>;
}

/// The blobs of a signature manifest that verification needs.
pub fn plan(manifest_bytes: &[u8]) -> Vec<Descriptor> {
    match Manifest::parse(manifest_bytes, None) {
        Ok(m) => verify::plan(&m),
        Err(_) => Vec::new(),
    }
}

/// Turns one signature manifest and its fetched blobs into artifacts.
pub fn artifacts_of(
    digest: &Digest,
    manifest_bytes: &[u8],
    blobs: &[(Descriptor, Vec<u8>)],
) -> Vec<SignatureArtifact> {
    match Manifest::parse(manifest_bytes, None) {
        Ok(m) => verify::collect(digest, &m, blobs),
        Err(_) => Vec::new(),
    }
}

fn source_error(what: impl Into<String>, e: impl std::fmt::Display) -> PolicyError {
    PolicyError::Source {
        what: what.into(),
        reason: e.to_string(),
    }
}

/// A [`SignatureSource`] over `zoll-client`: any registry (or OCI layout when `registry`
/// is `oci:DIR`). Repositories are opened once and kept (their tokens with them).
pub struct ClientSource {
    config: ClientConfig,
    repos: Mutex<HashMap<String, Arc<Repository>>>,
}

/// Most repositories kept open.
const MAX_OPEN_REPOS: usize = 1024;

impl ClientSource {
    pub fn new(config: ClientConfig) -> ClientSource {
        ClientSource {
            config,
            repos: Mutex::new(HashMap::new()),
        }
    }

    /// The repository `registry/repository` (or the layout `oci:DIR` when `registry` is
    /// `oci:DIR` and `repository` is empty).
    pub fn repository(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Arc<Repository>, PolicyError> {
        let key = format!("{registry}/{repository}");
        if let Some(r) = self.repos.lock().expect("not poisoned").get(&key) {
            return Ok(r.clone());
        }
        let location = match registry.strip_prefix("oci:") {
            Some(dir) => Location::Layout { dir: dir.into() },
            None => Location::Registry {
                registry: registry.to_owned(),
                repo: RepoName::parse(repository, 255).map_err(|e| source_error(&key, e))?,
            },
        };
        let image = ImageRef {
            location,
            reference: None,
        };
        let repo =
            Arc::new(Repository::open(&image, &self.config).map_err(|e| source_error(&key, e))?);
        let mut repos = self.repos.lock().expect("not poisoned");
        if repos.len() >= MAX_OPEN_REPOS {
            repos.clear();
        }
        repos.insert(key, repo.clone());
        Ok(repo)
    }
}

impl ImageSource for ClientSource {
    fn resolve<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a str,
        reference: &'a Reference,
    ) -> BoxFuture<'a, Result<Descriptor, PolicyError>> {
        Box::pin(async move {
            let repo = self.repository(registry, repository)?;
            repo.resolve(Some(reference)).await.map_err(|e| {
                let sep = if matches!(reference, Reference::Digest(_)) {
                    "@"
                } else {
                    ":"
                };
                source_error(format!("{registry}/{repository}{sep}{reference}"), e)
            })
        })
    }
}

impl SignatureSource for ClientSource {
    fn index<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a str,
        subject: &'a Descriptor,
    ) -> BoxFuture<'a, Result<SignatureIndex, PolicyError>> {
        Box::pin(async move {
            let what = || format!("signatures of {registry}/{repository}@{}", subject.digest);
            let repo = self.repository(registry, repository)?;
            let referrers = repo
                .referrers(&subject.digest, None)
                .await
                .map_err(|e| source_error(what(), e))?;
            let tag = Tag::parse(&simple_signing::signature_tag(&subject.digest))
                .map_err(|e| source_error(what(), e))?;
            let cosign_tag = match repo.resolve(Some(&Reference::Tag(tag))).await {
                Ok(d) => Some(d.digest),
                Err(ClientError::NotFound(_)) => None,
                Err(e) => return Err(source_error(what(), e)),
            };
            Ok(SignatureIndex::new(&referrers, cosign_tag))
        })
    }

    fn load<'a>(
        &'a self,
        registry: &'a str,
        repository: &'a str,
        index: &'a SignatureIndex,
    ) -> BoxFuture<'a, Result<Vec<SignatureArtifact>, PolicyError>> {
        Box::pin(async move {
            let repo = self.repository(registry, repository)?;
            let mut out = Vec::new();
            for digest in index.manifests() {
                let what = || format!("{registry}/{repository}@{digest}");
                let (_, bytes) = match repo
                    .fetch_manifest(&Reference::Digest(digest.clone()))
                    .await
                {
                    Ok(found) => found,
                    // Deleted between listing and loading: it no longer counts.
                    Err(ClientError::NotFound(_)) => continue,
                    Err(e) => return Err(source_error(what(), e)),
                };
                let Ok(manifest) = Manifest::parse(&bytes, None) else {
                    continue;
                };
                let mut blobs = Vec::new();
                for layer in verify::plan(&manifest) {
                    match repo.fetch_blob_bytes(&layer, MAX_SIGNATURE_BLOB).await {
                        Ok(data) => blobs.push((layer, data.to_vec())),
                        // Oversized or missing blobs make that artifact fail, not the decision.
                        Err(ClientError::TooLarge { .. } | ClientError::NotFound(_)) => {}
                        Err(e) => return Err(source_error(what(), e)),
                    }
                }
                out.extend(verify::collect(digest, &manifest, &blobs));
            }
            Ok(out)
        })
    }
}
