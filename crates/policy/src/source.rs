//! Where the evidence comes from. A [`SignatureSource`] opens a repository of a registry
//! as a `zoll_trust::repository::RepositoryReader` (the registry's store, or
//! [`ClientSource`] over `zoll-client` for any registry or OCI layout); what is read through
//! it, and how, is `zoll_trust::signatures`, written once for every backend:
//! `index` lists the signature artifacts of a subject cheaply (referrer digests and the
//! cosign `.sig` tag, which is also what decides whether a cached decision is still valid)
//! and `load` loads them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zoll_client::{ClientConfig, ImageRef, Location, Repository};
use zoll_oci::{Descriptor, Digest, Reference, RepoName};
use zoll_trust::repository::RepositoryReader;
use zoll_trust::signatures::{self, ReadError};
use zoll_trust::verify::SignatureArtifact;

use crate::PolicyError;

pub use zoll_trust::signatures::SignatureIndex;

/// Opens the repositories the engine and the admission webhook read.
pub trait SignatureSource: Send + Sync {
    /// The repository `repository` of `registry` (`oci:DIR` for a layout).
    fn open(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Arc<dyn RepositoryReader>, PolicyError>;
}

/// Names the repository in an error of the shared algorithm.
fn read_error(registry: &str, repository: &str) -> impl Fn(ReadError) -> PolicyError + use<> {
    let place = format!("{registry}/{repository}");
    move |e| {
        let what = format!("{} in {place}", e.what);
        match e.excess {
            true => PolicyError::Excess {
                what,
                reason: e.reason,
            },
            false => PolicyError::Source {
                what,
                reason: e.reason,
            },
        }
    }
}

fn source_error(what: impl Into<String>, e: impl std::fmt::Display) -> PolicyError {
    PolicyError::Source {
        what: what.into(),
        reason: e.to_string(),
    }
}

impl dyn SignatureSource + '_ {
    /// The signature artifacts present for `subject` in `repository` (cheap: listings
    /// only), fingerprinting the referrers of the artifact types `also` with them.
    pub async fn index(
        &self,
        registry: &str,
        repository: &str,
        subject: &Descriptor,
        also: &[&str],
    ) -> Result<SignatureIndex, PolicyError> {
        let repo = self.open(registry, repository)?;
        signatures::index(repo.as_ref(), subject, also)
            .await
            .map_err(read_error(registry, repository))
    }

    /// Loads the manifests of `index` and the blobs verification needs and turns them into
    /// artifacts.
    pub async fn load(
        &self,
        registry: &str,
        repository: &str,
        index: &SignatureIndex,
    ) -> Result<Vec<SignatureArtifact>, PolicyError> {
        let repo = self.open(registry, repository)?;
        signatures::load(repo.as_ref(), index)
            .await
            .map_err(read_error(registry, repository))
    }

    /// At most `limit` indexes in `repository` that list `child` among their manifests (for
    /// the pull gate: a platform manifest is allowed when an index containing it is).
    pub async fn parents(
        &self,
        registry: &str,
        repository: &str,
        child: &Digest,
        limit: usize,
    ) -> Result<Vec<Descriptor>, PolicyError> {
        let repo = self.open(registry, repository)?;
        repo.parents(child, limit)
            .await
            .map_err(|e| source_error(format!("indexes containing {child}"), e))
    }

    /// The descriptor of the manifest `reference` names in `registry/repository`.
    pub async fn resolve(
        &self,
        registry: &str,
        repository: &str,
        reference: &Reference,
    ) -> Result<Descriptor, PolicyError> {
        let sep = if matches!(reference, Reference::Digest(_)) {
            "@"
        } else {
            ":"
        };
        let what = || format!("{registry}/{repository}{sep}{reference}");
        let repo = self.open(registry, repository)?;
        repo.resolve(reference)
            .await
            .map_err(|e| source_error(what(), e))?
            .ok_or_else(|| source_error(what(), "manifest unknown"))
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

impl SignatureSource for ClientSource {
    fn open(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Arc<dyn RepositoryReader>, PolicyError> {
        Ok(self.repository(registry, repository)?)
    }
}
