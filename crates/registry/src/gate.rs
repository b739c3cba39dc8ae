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
use zoll_oci::{Descriptor, Digest, Manifest, Reference, RepoName};
use zoll_policy::{Gate, PolicyError, SignatureSource, Target};
use zoll_store::{ReferrerRow, Store, StoreError, StoredManifest};
use zoll_trust::repository::{BackendError, BoxFuture, RepositoryReader};

use crate::access::{self, Action};
use crate::auth::{Identity, Principal};
use crate::error::{ApiError, ApiResult};
use crate::{App, audit};

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
    m.layers
        .iter()
        .any(|l| zoll_oci::is_filesystem_layer(&l.media_type))
}

/// Applies the gate to a manifest `GET`/`HEAD` of `m` (resolved by the caller, who serves
/// exactly `m` when this allows it). `Ok(())` lets the request through; a
/// refusal is `403 DENIED` with the decision's reason, audited and sent as a
/// `pull.denied` event.
pub async fn check(
    app: &App,
    id: &Identity,
    repo: &RepoName,
    m: &StoredManifest,
    source: &str,
) -> ApiResult<()> {
    let Some(engine) = &app.pull_gate else {
        return Ok(());
    };
    if !is_runnable(&m.media_type, &m.content) {
        return Ok(());
    }
    if !matches!(id.principal, Principal::Unrestricted)
        && access::allowed(&app.store, id, Action::PullUngated, repo.as_str()).await?
    {
        app.metrics.gate_decision("allow", "pull-ungated");
        return Ok(());
    }
    let subject = described(m);
    let store_source = StoreSource::new(app.store.clone());
    let decision = engine
        .decide(pull_target(app, repo, &subject), &store_source)
        .await
        .map_err(|e| {
            app.metrics.gate_decision("error", "evaluation");
            tracing::error!(error = %e, repo = %repo, "the pull gate could not decide");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                format!("the trust policy could not be evaluated: {e}"),
            )
        })?;
    app.metrics
        .gate_decision(verdict(&decision), reason_class(&decision));
    if decision.allowed {
        return Ok(());
    }
    let why = decision.reason();
    let target = format!("{repo}@{}", m.digest);
    audit::denied(app, id.name(), source, Action::Pull, &target, &why).await;
    let header = reason_header(&why);
    Err(ApiError::new(StatusCode::FORBIDDEN, "DENIED", why)
        .with_header(axum::http::HeaderName::from_static(REASON_HEADER), header))
}

/// The verdict as the metrics count it: a decision made while a scan was not finished is
/// `provisional` whichever way it went.
fn verdict(d: &zoll_policy::Decision) -> &'static str {
    match (d.provisional, d.allowed) {
        (true, _) => "provisional",
        (false, true) => "allow",
        (false, false) => "deny",
    }
}

/// Why, as a class of a fixed set: the kind of the first failed check, `policy` when none
/// failed.
fn reason_class(d: &zoll_policy::Decision) -> &'static str {
    d.failures().next().map_or("policy", |c| c.kind.class())
}

/// The header that carries a refusal's reason, for `HEAD`, whose answer has no body.
pub const REASON_HEADER: &str = "zoll-denied-reason";

/// Most bytes of a reason sent in [`REASON_HEADER`]; the body of a `GET` has all of it.
const MAX_REASON_HEADER: usize = 1024;

/// `reason` as a header value: visible ASCII and spaces only (anything else becomes `?`),
/// cut at [`MAX_REASON_HEADER`] bytes with a trailing `...`.
fn reason_header(reason: &str) -> axum::http::HeaderValue {
    let mut text: String = reason
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if text.len() > MAX_REASON_HEADER {
        text.truncate(MAX_REASON_HEADER - 3);
        text.push_str("...");
    }
    axum::http::HeaderValue::from_str(&text).expect("visible ASCII is a valid header value")
}

/// The question the pull gate asks of the engine about `subject` in `repo` (the console's
/// explanation asks the same).
pub(crate) fn pull_target<'a>(
    app: &'a App,
    repo: &'a RepoName,
    subject: &'a Descriptor,
) -> Target<'a> {
    Target {
        gate: Gate::Pull,
        // The registry's configured name, never the client's Host header: a client chose
        // that, and with it the Notation scope and the decision cache key.
        registry: app.pull_gate_registry.as_str(),
        repository: repo.as_str(),
        subject,
    }
}

/// The descriptor of a stored manifest, as a client resolving it would see it.
pub(crate) fn described(m: &StoredManifest) -> Descriptor {
    Descriptor {
        media_type: m.media_type.clone(),
        digest: m.digest.clone(),
        size: m.content.len() as u64,
        artifact_type: None,
        annotations: None,
        urls: None,
    }
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

/// Signatures and images read straight from the store (no HTTP, no authorization: the
/// gate's own evidence). What is read, and how, is `zoll_trust::signatures`'s.
#[derive(Clone)]
pub struct StoreSource {
    store: Arc<Store>,
}

impl StoreSource {
    pub fn new(store: Arc<Store>) -> StoreSource {
        StoreSource { store }
    }
}

impl SignatureSource for StoreSource {
    fn open(
        &self,
        _registry: &str,
        repository: &str,
    ) -> Result<Arc<dyn RepositoryReader>, PolicyError> {
        let repo = RepoName::parse(repository, 255).map_err(|e| PolicyError::Source {
            what: repository.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Arc::new(StoreRepository {
            store: self.store.clone(),
            repo,
        }))
    }
}

/// One repository of the store, read as the signature algorithm reads any repository.
struct StoreRepository {
    store: Arc<Store>,
    repo: RepoName,
}

impl StoreRepository {
    /// The stored manifest `reference` names; `None` when there is none.
    async fn stored(
        &self,
        reference: &Reference,
    ) -> Result<Option<Arc<StoredManifest>>, BackendError> {
        match self.store.manifest(&self.repo, reference).await {
            Ok(m) => Ok(Some(m)),
            Err(StoreError::ManifestUnknown(_) | StoreError::NameUnknown(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl RepositoryReader for StoreRepository {
    fn resolve<'a>(
        &'a self,
        reference: &'a Reference,
    ) -> BoxFuture<'a, Result<Option<Descriptor>, BackendError>> {
        Box::pin(async move { Ok(self.stored(reference).await?.map(|m| described(&m))) })
    }

    fn manifest<'a>(
        &'a self,
        digest: &'a Digest,
        limit: u64,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, BackendError>> {
        Box::pin(async move {
            let reference = Reference::Digest(digest.clone());
            let Some(m) = self.stored(&reference).await? else {
                return Ok(None);
            };
            if m.content.len() as u64 > limit {
                return Err(format!("manifest {digest} is larger than {limit} bytes").into());
            }
            Ok(Some(m.content.to_vec()))
        })
    }

    fn blob<'a>(
        &'a self,
        d: &'a Descriptor,
        limit: u64,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, BackendError>> {
        Box::pin(async move {
            if d.size > limit {
                return Ok(None);
            }
            let size = match self.store.blob_size(&self.repo, &d.digest).await {
                Ok(s) if s == d.size => s,
                Ok(_) | Err(StoreError::BlobUnknown(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let mut stream = self.store.read_blob(&d.digest, size, None).await?;
            let mut out = Vec::with_capacity(size as usize);
            while let Some(chunk) = stream.next().await {
                out.extend_from_slice(&chunk.map_err(|e| StoreError::Body(e.to_string()))?);
                // More bytes than the store recorded is damage, not absence: fail closed.
                if out.len() as u64 > size {
                    return Err(format!("blob {} is longer than stored", d.digest).into());
                }
            }
            Ok(Some(out))
        })
    }

    fn referrers<'a>(
        &'a self,
        subject: &'a Digest,
        artifact_type: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Descriptor>, BackendError>> {
        Box::pin(async move {
            let page = zoll_store::ReferrerPage {
                limit: limit as u64,
                artifact_type,
                ..Default::default()
            };
            let rows = self.store.referrers(&self.repo, subject, &page).await?;
            Ok(rows.into_iter().filter_map(descriptor).collect())
        })
    }

    fn parents<'a>(
        &'a self,
        child: &'a Digest,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Descriptor>, BackendError>> {
        Box::pin(async move {
            let limit = u32::try_from(limit).unwrap_or(u32::MAX);
            let rows = self.store.parents(&self.repo, child, limit).await?;
            // A parent's signature lets the child through, so a parent must really list the
            // child among its `manifests`: the stored references also hold configs and
            // layers, and bytes that parse as a manifest can be another manifest's config.
            let mut parents = Vec::new();
            for d in rows.into_iter().filter_map(descriptor) {
                let Some(m) = self.stored(&Reference::Digest(d.digest.clone())).await? else {
                    continue;
                };
                let lists_child = Manifest::parse(&m.content, Some(&m.media_type))
                    .is_ok_and(|index| index.manifests.iter().any(|e| e.digest == *child));
                if lists_child {
                    parents.push(d);
                }
            }
            Ok(parents)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_reason_header_is_visible_ascii_and_bounded() {
        let v = super::reason_header("stage 'ci' has not signed sha256:ab\r\nX-Injected: 1 – é");
        let text = v.to_str().unwrap();
        assert_eq!(
            text,
            "stage 'ci' has not signed sha256:ab??X-Injected: 1 ? ?"
        );
        let long = super::reason_header(&"x".repeat(5000));
        assert_eq!(long.len(), super::MAX_REASON_HEADER);
        assert!(long.to_str().unwrap().ends_with("..."));
    }
}
