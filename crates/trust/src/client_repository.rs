//! The repository primitives over `zoll-client`: any registry (the referrers API, or the
//! referrers tag schema where it has none) and OCI layouts. The client checks every
//! manifest and blob against its digest; this only says which of its errors mean "absent".

use bytes::Bytes;
use zoll_client::{ClientError, Repository};
use zoll_oci::{Descriptor, Digest, Reference, Tag};

use crate::artifact::OCI_MANIFEST;
use crate::repository::{BackendError, BoxFuture, RepositoryReader, RepositoryWriter};

/// `NotFound` as `None`, every other error as itself.
fn found<T>(r: Result<T, ClientError>) -> Result<Option<T>, BackendError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ClientError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl RepositoryReader for Repository {
    fn resolve<'a>(
        &'a self,
        reference: &'a Reference,
    ) -> BoxFuture<'a, Result<Option<Descriptor>, BackendError>> {
        Box::pin(async move { found(Repository::resolve(self, Some(reference)).await) })
    }

    fn manifest<'a>(
        &'a self,
        digest: &'a Digest,
        limit: u64,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, BackendError>> {
        Box::pin(async move {
            let reference = Reference::Digest(digest.clone());
            let Some((_, bytes)) = found(self.fetch_manifest(&reference).await)? else {
                return Ok(None);
            };
            if bytes.len() as u64 > limit {
                return Err(ClientError::TooLarge {
                    what: "manifest",
                    limit,
                }
                .into());
            }
            Ok(Some(bytes.to_vec()))
        })
    }

    fn blob<'a>(
        &'a self,
        desc: &'a Descriptor,
        limit: u64,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, BackendError>> {
        Box::pin(async move {
            match self.fetch_blob_bytes(desc, limit).await {
                Ok(bytes) => Ok(Some(bytes.to_vec())),
                Err(ClientError::TooLarge { .. } | ClientError::NotFound(_)) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn referrers<'a>(
        &'a self,
        subject: &'a Digest,
        artifact_type: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Descriptor>, BackendError>> {
        Box::pin(async move {
            Ok(Repository::referrers_until(self, subject, artifact_type, limit).await?)
        })
    }
}

impl RepositoryWriter for Repository {
    fn push_blob<'a>(
        &'a self,
        media_type: &'a str,
        bytes: Bytes,
    ) -> BoxFuture<'a, Result<Descriptor, BackendError>> {
        Box::pin(async move { Ok(self.push_blob_bytes(media_type, bytes).await?) })
    }

    fn push_manifest<'a>(
        &'a self,
        bytes: Bytes,
        tag: Option<&'a Tag>,
    ) -> BoxFuture<'a, Result<Descriptor, BackendError>> {
        Box::pin(async move {
            Ok(Repository::push_manifest(self, OCI_MANIFEST, bytes, tag.map(Tag::as_str)).await?)
        })
    }

    fn tagged_manifest<'a>(
        &'a self,
        tag: &'a Tag,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, BackendError>> {
        Box::pin(async move {
            let fetched = found(self.fetch_manifest(&Reference::Tag(tag.clone())).await)?;
            Ok(fetched.map(|(_, bytes)| bytes.to_vec()))
        })
    }
}
