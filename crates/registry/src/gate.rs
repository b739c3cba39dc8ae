//! The trust-policy pull gate: `GET`/`HEAD` of a manifest (by tag or digest) that the
//! policy for its repository refuses gets `403 DENIED` naming what is missing. The decision
//! is `zoll-policy`'s; this module supplies its evidence from the store ([`StoreSource`])
//! and says which manifests are not gated at all:
//! - artifacts that cannot run (signatures, attestations, SBOMs: no image config, no layer
//!   tarballs), so that verifiers and the pipeline can always read them;
//! - requests by an identity holding `pull-ungated` on the repository (a CI robot that must
//!   pull a build before it signs it). With authentication off there is no such identity:
//!   the gate applies to everyone.

use std::sync::Arc;

use axum::http::StatusCode;
use futures_util::StreamExt;
use zoll_oci::{Descriptor, Digest, Manifest, Reference, RepoName, Tag};
use zoll_policy::scan::BoxFuture;
use zoll_policy::source::{artifacts_of, plan};
use zoll_policy::{Gate, ImageSource, PolicyError, SignatureIndex, SignatureSource, Target};
use zoll_store::{ReferrerRow, Store, StoreError};
use zoll_trust::cosign::simple_signing;
use zoll_trust::verify::{SignatureArtifact, MAX_SIGNATURE_BLOB};

use crate::access::{self, Action};
use crate::auth::{Identity, Principal};
use crate::error::{ApiError, ApiResult};
use crate::{audit, App};

/// Indexes consulted for a platform manifest.
const MAX_PARENTS: u32 = 16;

/// Whether a manifest is gated: an image manifest with a layer tarball (something a
/// runtime unpacks and runs), or an index listing anything but artifacts. Signatures,
/// attestations and SBOMs (cosign's `.sig` included: its layers are simple-signing JSON)
/// are not gated, nor is a referrers index (every entry has an `artifactType`); whatever an
/// index lists is gated on its own when pulled.
pub fn is_runnable(media_type: &str, content: &[u8]) -> bool {
    let Ok(m) = Manifest::parse(content, Some(media_type)) else {
        // Unparseable stored manifests are gated: nothing unknown gets through.
        return true;
    };
    if !m.manifests.is_empty() || media_type.contains("index") || media_type.contains("list") {
        return m.manifests.is_empty() || m.manifests.iter().any(|d| d.artifact_type.is_none());
    }
    m.layers.iter().any(|l| {
        l.media_type.starts_with("application/vnd.oci.image.layer.")
            || l.media_type
                .starts_with("application/vnd.docker.image.rootfs.")
    })
}

/// Applies the gate to a manifest `GET`/`HEAD`. `Ok(())` lets the request through; a
/// refusal is `403 DENIED` with the decision's reason, audited and sent as a
/// `pull.denied` event.
pub async fn check(
    app: &App,
    id: &Identity,
    repo: &RepoName,
    reference: &Reference,
    source: &str,
) -> ApiResult<()> {
    let Some(engine) = &app.pull_gate else {
        return Ok(());
    };
    let m = match app.store.manifest(repo, reference).await {
        Ok(m) => m,
        // Unknown manifests are the handler's 404.
        Err(StoreError::ManifestUnknown(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if !is_runnable(&m.media_type, &m.content) {
        return Ok(());
    }
    if !matches!(id.principal, Principal::Unrestricted)
        && access::allowed(&app.store, id, Action::PullUngated, repo.as_str()).await?
    {
        return Ok(());
    }
    let subject = Descriptor {
        media_type: m.media_type.clone(),
        digest: m.digest.clone(),
        size: m.content.len() as u64,
        artifact_type: None,
        annotations: None,
        urls: None,
    };
    // The registry's configured name, never the client's Host header: a client chose that,
    // and with it the Notation scope and the decision cache key.
    let host = app.pull_gate_registry.as_str();
    let store_source = StoreSource::new(app.store.clone());
    let decision = engine
        .decide(
            Target {
                gate: Gate::Pull,
                registry: host,
                repository: repo.as_str(),
                subject: &subject,
            },
            &store_source,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, repo = %repo, "the pull gate could not decide");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                format!("the trust policy could not be evaluated: {e}"),
            )
        })?;
    if decision.allowed {
        return Ok(());
    }
    let why = decision.reason();
    let target = format!("{repo}@{}", m.digest);
    audit::denied(app, id.name(), source, Action::Pull, &target, &why).await;
    Err(ApiError::new(StatusCode::FORBIDDEN, "DENIED", why))
}

fn source_error(what: String, e: StoreError) -> PolicyError {
    PolicyError::Source {
        what,
        reason: e.to_string(),
    }
}

fn repo_name(repository: &str) -> Result<RepoName, PolicyError> {
    RepoName::parse(repository, 255).map_err(|e| PolicyError::Source {
        what: repository.to_owned(),
        reason: e.to_string(),
    })
}

fn descriptor(row: ReferrerRow) -> Option<Descriptor> {
    Some(Descriptor {
        media_type: row.media_type,
        digest: row.digest.parse().ok()?,
        size: row.size,
        artifact_type: row.artifact_type,
        annotations: None,
        urls: None,
    })
}

/// Referrers of one image the gate reads at most.
const MAX_GATED_REFERRERS: u64 = 1000;

/// Signatures and images read straight from the store (no HTTP, no authorization: the
/// gate's own evidence).
#[derive(Clone)]
pub struct StoreSource {
    store: Arc<Store>,
}

impl StoreSource {
    pub fn new(store: Arc<Store>) -> StoreSource {
        StoreSource { store }
    }

    async fn blob(&self, repo: &RepoName, d: &Descriptor) -> Result<Option<Vec<u8>>, StoreError> {
        if d.size > MAX_SIGNATURE_BLOB {
            return Ok(None);
        }
        let size = match self.store.blob_size(repo, &d.digest).await {
            Ok(s) if s == d.size => s,
            Ok(_) | Err(StoreError::BlobUnknown(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut stream = self.store.read_blob(&d.digest, size, None).await?;
        let mut out = Vec::with_capacity(size as usize);
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.map_err(|e| StoreError::Body(e.to_string()))?);
            if out.len() as u64 > size {
                return Ok(None);
            }
        }
        Ok(Some(out))
    }
}

impl SignatureSource for StoreSource {
    fn index<'a>(
        &'a self,
        _registry: &'a str,
        repository: &'a str,
        subject: &'a Descriptor,
    ) -> BoxFuture<'a, Result<SignatureIndex, PolicyError>> {
        Box::pin(async move {
            let what = || format!("signatures of {repository}@{}", subject.digest);
            let repo = repo_name(repository)?;
            let page = zoll_store::ReferrerPage {
                limit: MAX_GATED_REFERRERS + 1,
                ..Default::default()
            };
            let rows = self
                .store
                .referrers(&repo, &subject.digest, &page)
                .await
                .map_err(|e| source_error(what(), e))?;
            if rows.len() as u64 > MAX_GATED_REFERRERS {
                // Evidence beyond what the gate reads is not evidence it may ignore.
                return Err(PolicyError::Source {
                    what: what(),
                    reason: format!(
                        "more than {MAX_GATED_REFERRERS} referrers; the gate does not judge it"
                    ),
                });
            }
            let referrers: Vec<Descriptor> = rows.into_iter().filter_map(descriptor).collect();
            let tag = Tag::parse(&simple_signing::signature_tag(&subject.digest)).map_err(|e| {
                PolicyError::Source {
                    what: what(),
                    reason: e.to_string(),
                }
            })?;
            let cosign_tag = match self.store.manifest(&repo, &Reference::Tag(tag)).await {
                Ok(m) => Some(m.digest.clone()),
                Err(StoreError::ManifestUnknown(_) | StoreError::NameUnknown(_)) => None,
                Err(e) => return Err(source_error(what(), e)),
            };
            Ok(SignatureIndex::new(&referrers, cosign_tag))
        })
    }

    fn load<'a>(
        &'a self,
        _registry: &'a str,
        repository: &'a str,
        index: &'a SignatureIndex,
    ) -> BoxFuture<'a, Result<Vec<SignatureArtifact>, PolicyError>> {
        Box::pin(async move {
            let repo = repo_name(repository)?;
            let mut out = Vec::new();
            for digest in index.manifests() {
                let what = || format!("{repository}@{digest}");
                let m = match self
                    .store
                    .manifest(&repo, &Reference::Digest(digest.clone()))
                    .await
                {
                    Ok(m) => m,
                    Err(StoreError::ManifestUnknown(_)) => continue,
                    Err(e) => return Err(source_error(what(), e)),
                };
                let mut blobs = Vec::new();
                for layer in plan(&m.content) {
                    if let Some(bytes) = self
                        .blob(&repo, &layer)
                        .await
                        .map_err(|e| source_error(what(), e))?
                    {
                        blobs.push((layer, bytes));
                    }
                }
                out.extend(artifacts_of(digest, &m.content, &blobs));
            }
            Ok(out)
        })
    }

    fn parents<'a>(
        &'a self,
        _registry: &'a str,
        repository: &'a str,
        child: &'a Digest,
    ) -> BoxFuture<'a, Result<Vec<Descriptor>, PolicyError>> {
        Box::pin(async move {
            let repo = repo_name(repository)?;
            Ok(self
                .store
                .parents(&repo, child, MAX_PARENTS)
                .await
                .map_err(|e| source_error(format!("indexes containing {child}"), e))?
                .into_iter()
                .filter_map(descriptor)
                .collect())
        })
    }
}

impl ImageSource for StoreSource {
    fn resolve<'a>(
        &'a self,
        _registry: &'a str,
        repository: &'a str,
        reference: &'a Reference,
    ) -> BoxFuture<'a, Result<Descriptor, PolicyError>> {
        Box::pin(async move {
            let repo = repo_name(repository)?;
            let m = self
                .store
                .manifest(&repo, reference)
                .await
                .map_err(|e| source_error(format!("{repository} {reference}"), e))?;
            Ok(Descriptor {
                media_type: m.media_type.clone(),
                digest: m.digest.clone(),
                size: m.content.len() as u64,
                artifact_type: None,
                annotations: None,
                urls: None,
            })
        })
    }
}
