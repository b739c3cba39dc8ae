//! Signing, attesting and verifying images where they live: [`sign_subject`] makes every
//! signature format once over a [`RepositoryWriter`] (a registry or OCI layout through
//! `zoll-client`, or the store for the quorum signer); [`sign`], [`attest`] and [`verify`]
//! are its `zoll-client` entry points. Signing always resolves the reference to a digest
//! first and signs that digest, never a tag.

use std::collections::BTreeMap;

use bytes::Bytes;
use time::OffsetDateTime;
use zoll_client::{ClientError, Repository};
use zoll_oci::{Descriptor, Manifest, Reference, Tag};

use crate::artifact::{self, EMPTY_CONFIG, EMPTY_MEDIA_TYPE, artifact_manifest};
use crate::cosign::{bundle, simple_signing};
use crate::dsse::Statement;
use crate::keys::{KeyError, KeySource};
use crate::notation::{
    self, EnvelopeFormat, ExtendedAttribute, Payload, SignError, SignRequest, SigningScheme,
};
use crate::repository::{BackendError, RepositoryWriter};
use crate::signatures::{self, ReadError};
use crate::verify::{self, Report, TrustRoots};

/// Which signature to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFormat {
    /// A Notation signature manifest (OCI 1.1 referrer) with a JWS or COSE envelope.
    Notation(EnvelopeFormat),
    /// cosign 3's default: a sigstore bundle v0.3 referrer (DSSE, predicate cosign/sign/v1).
    CosignBundle,
    /// cosign's legacy `sha256-<hex>.sig` tag with a simple-signing layer.
    CosignLegacy,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A repository primitive failed while signing.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The signatures could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{0}")]
    Invalid(String),
}

/// What to sign with.
pub struct SignOptions<'a> {
    pub key: &'a dyn KeySource,
    pub format: SignatureFormat,
    /// DER certificates, leaf first (Notation needs them).
    pub chain: Vec<Vec<u8>>,
    /// Notation: signature lifetime.
    pub expiry: Option<time::Duration>,
    /// Signed claims: Notation extended attributes (non-critical), cosign simple-signing
    /// `optional` annotations, or the `annotations` of a cosign bundle's signature
    /// predicate. Stages such as `stage=ci` go here.
    pub claims: BTreeMap<String, String>,
    /// cosign: the `docker-reference` identity (the repository, without tag or digest).
    pub docker_reference: String,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Signed {
    pub subject: Descriptor,
    pub signature: Descriptor,
    pub tag: Option<String>,
}

async fn push_referrer(
    repo: &dyn RepositoryWriter,
    artifact_type: &str,
    layer_media_type: &str,
    layer: Vec<u8>,
    layer_override: Option<Descriptor>,
    subject: &Descriptor,
    annotations: BTreeMap<String, String>,
) -> Result<Descriptor, ImageError> {
    // Every signature shares the empty config. It is put every time (two bytes, and putting
    // a blob that is there is a no-op), never after asking whether it is there: a blob no
    // manifest names yet may be collected between the answer and the manifest, and the
    // manifest would then be refused (for the quorum signer, a request failed for good).
    repo.push_blob(EMPTY_MEDIA_TYPE, Bytes::from_static(EMPTY_CONFIG))
        .await?;
    let mut layer_desc = repo.push_blob(layer_media_type, Bytes::from(layer)).await?;
    if let Some(o) = layer_override {
        layer_desc.annotations = o.annotations;
    }
    let manifest = artifact_manifest(artifact_type, &[layer_desc], subject, &annotations);
    Ok(repo.push_manifest(Bytes::from(manifest), None).await?)
}

/// What `zoll sign` names itself in a Notation envelope.
pub fn signing_agent() -> String {
    format!("zoll/{}", env!("CARGO_PKG_VERSION"))
}

/// Signs the image `reference` names in `repo`.
pub async fn sign(
    repo: &Repository,
    reference: Option<&Reference>,
    opts: &SignOptions<'_>,
) -> Result<Signed, ImageError> {
    let subject = repo.resolve(reference).await?;
    sign_subject(repo, subject, opts, &signing_agent()).await
}

/// Signs `subject` and writes the signature into `repo`: the one way every signer (`zoll
/// sign`, the quorum signer) makes each format. `agent` is the Notation signing agent.
pub async fn sign_subject(
    repo: &dyn RepositoryWriter,
    subject: Descriptor,
    opts: &SignOptions<'_>,
    agent: &str,
) -> Result<Signed, ImageError> {
    match opts.format {
        SignatureFormat::Notation(format) => {
            let request = SignRequest {
                payload: Payload::new(&subject).to_bytes(),
                signing_time: OffsetDateTime::now_utc(),
                expiry: opts.expiry.map(|d| OffsetDateTime::now_utc() + d),
                scheme: SigningScheme::X509,
                extended: opts
                    .claims
                    .iter()
                    .map(|(k, v)| ExtendedAttribute {
                        key: k.clone(),
                        value: v.clone(),
                        critical: false,
                    })
                    .collect(),
                signing_agent: agent.to_owned(),
                chain: opts.chain.clone(),
                key: opts.key,
            };
            let envelope = format.sign(&request)?;
            let annotations = BTreeMap::from([
                (
                    notation::THUMBPRINT_ANNOTATION.to_owned(),
                    notation::thumbprints(&opts.chain),
                ),
                (
                    artifact::ANNOTATION_CREATED.to_owned(),
                    artifact::created_now(),
                ),
            ]);
            let signature = push_referrer(
                repo,
                notation::ARTIFACT_TYPE,
                format.media_type(),
                envelope,
                None,
                &subject,
                annotations,
            )
            .await?;
            Ok(Signed {
                subject,
                signature,
                tag: None,
            })
        }
        SignatureFormat::CosignBundle => {
            // Claims (a stage) travel inside the signed statement, as the predicate's
            // `annotations`; without claims the predicate is cosign's own empty one.
            let predicate = if opts.claims.is_empty() {
                serde_json::json!({})
            } else {
                serde_json::json!({ "annotations": opts.claims })
            };
            attest_value(
                repo,
                subject,
                opts.key,
                bundle::COSIGN_SIGN_PREDICATE,
                predicate,
            )
            .await
        }
        SignatureFormat::CosignLegacy => {
            let optional = opts
                .claims
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            let payload = simple_signing::SimpleSigning::new(
                &opts.docker_reference,
                &subject.digest,
                optional,
            )
            .to_bytes();
            let layer = simple_signing::sign_layer(opts.key, &payload)?;
            repo.push_blob(simple_signing::LAYER_MEDIA_TYPE, Bytes::from(payload))
                .await?;
            let tag = simple_signing::signature_tag(&subject.digest);
            let tag_ref = Tag::parse(&tag).map_err(|e| ImageError::Invalid(e.to_string()))?;
            let existing = match repo.tagged_manifest(&tag_ref).await? {
                Some(bytes) => Some(
                    Manifest::parse(&bytes, None)
                        .map_err(|e| ImageError::Invalid(format!("{tag}: {e}")))?,
                ),
                None => None,
            };
            let (config, manifest) =
                simple_signing::append(existing.as_ref(), layer).map_err(ImageError::Invalid)?;
            repo.push_blob(simple_signing::CONFIG_MEDIA_TYPE, Bytes::from(config))
                .await?;
            let signature = repo
                .push_manifest(Bytes::from(manifest), Some(&tag_ref))
                .await?;
            Ok(Signed {
                subject,
                signature,
                tag: Some(tag),
            })
        }
    }
}

/// Attaches a DSSE-signed in-toto statement about the image as a sigstore bundle referrer.
pub async fn attest(
    repo: &Repository,
    reference: Option<&Reference>,
    key: &dyn KeySource,
    predicate_type: &str,
    predicate: serde_json::Value,
) -> Result<Signed, ImageError> {
    let subject = repo.resolve(reference).await?;
    attest_value(repo, subject, key, predicate_type, predicate).await
}

async fn attest_value(
    repo: &dyn RepositoryWriter,
    subject: Descriptor,
    key: &dyn KeySource,
    predicate_type: &str,
    predicate: serde_json::Value,
) -> Result<Signed, ImageError> {
    let statement = Statement::about("", &subject.digest, predicate_type, predicate);
    let statement = serde_json::to_vec(&statement).expect("statements serialize");
    let bundle_json = bundle::Bundle::sign_statement(key, &statement)?.to_json();
    let layer = bundle::layer(&bundle_json);
    let signature = push_referrer(
        repo,
        bundle::MEDIA_TYPE,
        bundle::MEDIA_TYPE,
        bundle_json,
        Some(layer),
        &subject,
        bundle::referrer_annotations(predicate_type),
    )
    .await?;
    Ok(Signed {
        subject,
        signature,
        tag: None,
    })
}

/// Resolves `reference`, finds its signatures and verifies them against `roots`.
pub async fn verify(
    repo: &Repository,
    reference: Option<&Reference>,
    roots: &TrustRoots,
    scope: &str,
) -> Result<Report, ImageError> {
    let subject = repo.resolve(reference).await?;
    let artifacts = signatures::find(repo, &subject).await?;
    Ok(verify::verify_subject(
        roots,
        &subject,
        scope,
        &artifacts,
        OffsetDateTime::now_utc().unix_timestamp(),
    ))
}
