//! zoll's OCI distribution client. One API, [`Repository`], over the two places an image can
//! live: a repository in a registry (HTTP, the Distribution API with the token flow) and an
//! OCI image layout directory. Signing, encryption and scanning read and write images only
//! through it.
//!
//! Everything read is verified: manifests against their digest before they are returned,
//! blobs while they stream (the stream fails at the end instead of completing with wrong
//! bytes). Sizes are bounded by the caller's descriptor or by [`ClientConfig`] limits.

#![forbid(unsafe_code)]

mod auth;
mod error;
pub mod http;
mod image_ref;
mod layout;
mod registry;
mod retry;
mod verify;

use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use zoll_oci::{Descriptor, Digest, Reference};

pub use auth::{CredentialReport, CredentialSource, Miss, credentials_for};
pub use error::{ClientError, Result, connection_hint};
pub use image_ref::{ImageRef, Location};
pub use layout::Layout;
pub use registry::{RegistryRepo, read_limited};
pub use retry::{RetryPolicy, Sleeper, TokioSleeper};

/// A stream of blob bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The annotation an OCI layout's `index.json` uses to name a tag.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Manifest media types a client accepts when it asks for a manifest.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// When to speak plain HTTP to a registry instead of HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlainHttp {
    /// Plain HTTP for loopback hosts (`localhost`, `127.0.0.0/8`, `[::1]`), HTTPS otherwise.
    #[default]
    Loopback,
    Always,
    Never,
}

/// User name and password (or token) for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub plain_http: PlainHttp,
    /// Explicit credentials; without them, the docker / containers auth files are consulted
    /// (`$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json` or
    /// `/run/containers/UID/auth.json`, `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`),
    /// with their credential helpers (`credHelpers`, `credsStore`).
    pub credentials: Option<Credentials>,
    /// The one auth file to consult instead of those (skopeo's `--authfile`).
    pub auth_file: Option<PathBuf>,
    /// Extra PEM files with trusted root certificates.
    pub extra_roots: Vec<PathBuf>,
    /// Skip TLS certificate verification. Only for test setups.
    pub danger_accept_invalid_certs: bool,
    /// Largest manifest or index read, in bytes.
    pub max_manifest_bytes: usize,
    /// Largest number of referrers or tags collected over all pages.
    pub max_list_entries: usize,
    /// How requests that may be repeated are retried (connection failures, 429, 502–504).
    pub retry: RetryPolicy,
    /// Told, as a registry is opened, where its credentials came from (`--verbose`).
    pub on_credentials: Option<std::sync::Arc<dyn CredentialReport>>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            plain_http: PlainHttp::Loopback,
            credentials: None,
            auth_file: None,
            extra_roots: Vec::new(),
            danger_accept_invalid_certs: false,
            max_manifest_bytes: 4 << 20,
            max_list_entries: 100_000,
            retry: RetryPolicy::default(),
            on_credentials: None,
        }
    }
}

/// One repository in a registry, or one OCI image layout.
pub enum Repository {
    Registry(Box<RegistryRepo>),
    Layout(Layout),
}

macro_rules! each {
    ($self:ident, $r:ident => $e:expr) => {
        match $self {
            Repository::Registry($r) => $e,
            Repository::Layout($r) => $e,
        }
    };
}

impl Repository {
    /// Opens the repository `r` names. A layout directory is created on first write.
    pub fn open(r: &ImageRef, config: &ClientConfig) -> Result<Repository> {
        Ok(match &r.location {
            Location::Registry { registry, repo } => {
                Repository::Registry(Box::new(RegistryRepo::new(registry, repo.clone(), config)?))
            }
            Location::Layout { dir } => Repository::Layout(Layout::open(dir, config)),
        })
    }

    /// The descriptor of the manifest `reference` names (a tag is resolved to a digest).
    /// Without a reference: `latest` in a registry, the only image of a layout.
    pub async fn resolve(&self, reference: Option<&Reference>) -> Result<Descriptor> {
        each!(self, r => r.resolve(reference).await)
    }

    /// A manifest's descriptor and bytes, verified against its digest.
    pub async fn fetch_manifest(&self, reference: &Reference) -> Result<(Descriptor, Bytes)> {
        each!(self, r => r.fetch_manifest(reference).await)
    }

    /// A blob as a stream that fails instead of ending if the bytes do not match `desc`.
    pub async fn fetch_blob(&self, desc: &Descriptor) -> Result<ByteStream> {
        each!(self, r => r.fetch_blob(desc).await)
    }

    /// A whole blob in memory, for small documents (configs, signatures); refused above
    /// `limit` bytes before anything is read.
    pub async fn fetch_blob_bytes(&self, desc: &Descriptor, limit: u64) -> Result<Bytes> {
        if desc.size > limit {
            return Err(ClientError::TooLarge {
                what: "blob",
                limit,
            });
        }
        verify::collect(self.fetch_blob(desc).await?, desc.size).await
    }

    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool> {
        each!(self, r => r.blob_exists(digest).await)
    }

    /// Uploads a blob unless it is already there. The bytes are checked against `desc`.
    pub async fn push_blob(&self, desc: &Descriptor, body: ByteStream) -> Result<()> {
        each!(self, r => r.push_blob(desc, body).await)
    }

    /// Uploads a small blob held in memory and returns its descriptor.
    /// Small blobs go to a registry in one request (`POST ?digest=` with the body) without
    /// asking first whether the registry has them: re-sending a few KiB costs less than a
    /// round trip.
    pub async fn push_blob_bytes(&self, media_type: &str, bytes: Bytes) -> Result<Descriptor> {
        let desc = descriptor(media_type, &bytes);
        match self {
            Repository::Registry(r) if bytes.len() <= registry::SMALL_BLOB => {
                r.push_small_blob(&desc, bytes).await?
            }
            _ => {
                let body: ByteStream = Box::pin(futures_util::stream::iter([Ok(bytes)]));
                self.push_blob(&desc, body).await?
            }
        }
        Ok(desc)
    }

    /// Stores a manifest, under `tag` if given (else by digest). A manifest with a `subject`
    /// is findable by [`Repository::referrers`] afterwards: through the registry's referrers
    /// API, or, where the registry has none, through the OCI 1.1 referrers tag schema, which
    /// this call then maintains.
    pub async fn push_manifest(
        &self,
        media_type: &str,
        bytes: Bytes,
        tag: Option<&str>,
    ) -> Result<Descriptor> {
        each!(self, r => r.push_manifest(media_type, bytes, tag).await)
    }

    /// Manifests whose subject is `subject`, optionally only of one artifact type.
    pub async fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        each!(self, r => r.referrers(subject, artifact_type).await)
    }

    /// [`Repository::referrers`], reading a registry's pages only until `limit` are found:
    /// at least `limit` when there are that many (more is fine), for a caller that
    /// refuses a longer list anyway.
    pub async fn referrers_until(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Descriptor>> {
        match self {
            Repository::Registry(r) => r.referrers_until(subject, artifact_type, Some(limit)).await,
            Repository::Layout(l) => l.referrers(subject, artifact_type).await,
        }
    }

    pub async fn tags(&self) -> Result<Vec<String>> {
        each!(self, r => r.tags().await)
    }
}

/// The descriptor of `bytes` as a blob of `media_type` (sha256).
pub fn descriptor(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        digest: Digest::sha256(bytes),
        size: bytes.len() as u64,
        artifact_type: None,
        annotations: None,
        urls: None,
    }
}

/// The media type a manifest declares in its body, if any.
pub(crate) fn declared_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    let p: Probe = serde_json::from_slice(bytes).ok()?;
    p.media_type.or_else(|| {
        Some(if p.manifests.is_some() {
            zoll_oci::media_types::OCI_INDEX.to_owned()
        } else {
            zoll_oci::media_types::OCI_MANIFEST.to_owned()
        })
    })
}

/// The descriptor of `subject` a referrer lists: its own media type, digest and size, plus
/// the artifact type and annotations the referrers API reports.
pub(crate) fn referrer_descriptor(media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
    let m = zoll_oci::Manifest::parse(bytes, Some(media_type))
        .map_err(|e| ClientError::ManifestInvalid(e.to_string()))?;
    let mut d = descriptor(&m.media_type, bytes);
    d.artifact_type = m.effective_artifact_type().map(str::to_owned);
    d.annotations = m.annotations.clone();
    Ok(d)
}
