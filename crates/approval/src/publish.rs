//! Signing a digest with a quorum key and writing the signature into the store. The
//! signature is made by `zoll_trust::image::sign_subject`, the same code `zoll sign` pushes
//! through a registry client (Notation referrer, cosign bundle referrer, cosign `.sig`
//! tag), so every verifier reads them the same way; this module only lets it write into
//! the store.

use std::collections::BTreeMap;

use bytes::Bytes;
use zoll_oci::{Descriptor, Reference, RepoName, Tag};
use zoll_store::{Store, StoreError};
use zoll_trust::artifact::OCI_MANIFEST;
use zoll_trust::image::{ImageError, SignOptions, sign_subject, signing_agent};
use zoll_trust::repository::{BackendError, BoxFuture, RepositoryWriter};

use crate::ApprovalError;
use crate::config::QuorumKey;

/// One repository of the store, written as `zoll sign` writes any repository.
struct StoreWriter<'s> {
    store: &'s Store,
    repo: &'s RepoName,
}

impl RepositoryWriter for StoreWriter<'_> {
    fn push_blob<'a>(
        &'a self,
        media_type: &'a str,
        bytes: Bytes,
    ) -> BoxFuture<'a, Result<Descriptor, BackendError>> {
        Box::pin(async move {
            let desc = zoll_client::descriptor(media_type, &bytes);
            let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes)]);
            self.store
                .put_blob(self.repo, &desc.digest, body, None)
                .await?;
            Ok(desc)
        })
    }

    fn push_manifest<'a>(
        &'a self,
        bytes: Bytes,
        tag: Option<&'a Tag>,
    ) -> BoxFuture<'a, Result<Descriptor, BackendError>> {
        Box::pin(async move {
            let desc = zoll_client::descriptor(OCI_MANIFEST, &bytes);
            let reference = match tag {
                Some(t) => Reference::Tag(t.clone()),
                None => Reference::Digest(desc.digest.clone()),
            };
            self.store
                .put_manifest(self.repo, &reference, &[], Some(OCI_MANIFEST), &bytes)
                .await?;
            Ok(desc)
        })
    }

    fn tagged_manifest<'a>(
        &'a self,
        tag: &'a Tag,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, BackendError>> {
        Box::pin(async move {
            match self
                .store
                .manifest(self.repo, &Reference::Tag(tag.clone()))
                .await
            {
                Ok(m) => Ok(Some(m.content.to_vec())),
                Err(StoreError::ManifestUnknown(_) | StoreError::NameUnknown(_)) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// A store failure stays one (the API maps it as such); anything else failed the signing.
fn approval_error(e: ImageError) -> ApprovalError {
    match e {
        ImageError::Backend(b) => match b.downcast::<StoreError>() {
            Ok(store) => ApprovalError::Store(*store),
            Err(other) => ApprovalError::Sign(other.to_string()),
        },
        e => ApprovalError::Sign(e.to_string()),
    }
}

/// Signs `subject` in `repo` with `key` and stores the signature; returns the signature
/// manifest's descriptor. `docker_reference` is cosign's identity (`registry/repository`).
pub async fn sign_and_store(
    store: &Store,
    repo: &RepoName,
    subject: &Descriptor,
    key: &QuorumKey,
    claims: &BTreeMap<String, String>,
    docker_reference: &str,
) -> Result<Descriptor, ApprovalError> {
    let opts = SignOptions {
        key: key.signer.as_ref(),
        format: key.format,
        chain: key.chain.clone(),
        // The key's `expiry` bounds the request, not the signature: quorum signatures
        // carry no expiry of their own.
        expiry: None,
        claims: claims.clone(),
        docker_reference: docker_reference.to_owned(),
    };
    let agent = format!("{} (quorum)", signing_agent());
    let signed = sign_subject(&StoreWriter { store, repo }, subject.clone(), &opts, &agent)
        .await
        .map_err(approval_error)?;
    Ok(signed.signature)
}
