//! Signing, attesting and verifying images where they live, through `zoll-client` (a
//! registry repository or an OCI layout). Signing always resolves the reference to a digest
//! first and signs that digest, never a tag.

use std::collections::BTreeMap;

use bytes::Bytes;
use time::OffsetDateTime;
use zoll_client::{ClientError, Repository};
use zoll_oci::{Descriptor, Manifest, Reference, Tag};

use crate::artifact::{self, artifact_manifest, EMPTY_CONFIG, EMPTY_MEDIA_TYPE, OCI_MANIFEST};
use crate::cosign::{bundle, simple_signing};
use crate::dsse::Statement;
use crate::keys::{KeyError, KeySource};
use crate::notation::{
    self, EnvelopeFormat, ExtendedAttribute, Payload, SignError, SignRequest, SigningScheme,
};
use crate::verify::{self, Report, SignatureArtifact, TrustRoots, MAX_SIGNATURE_BLOB};

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
    repo: &Repository,
    artifact_type: &str,
    layer_media_type: &str,
    layer: Vec<u8>,
    layer_override: Option<Descriptor>,
    subject: &Descriptor,
    annotations: BTreeMap<String, String>,
) -> Result<Descriptor, ImageError> {
    // Every signature shares the empty config: ask before uploading it again (most
    // repositories that are signed already hold it), as other clients do for every blob.
    if !repo
        .blob_exists(&artifact::empty_descriptor().digest)
        .await?
    {
        repo.push_blob_bytes(EMPTY_MEDIA_TYPE, Bytes::from_static(EMPTY_CONFIG))
            .await?;
    }
    let mut layer_desc = repo
        .push_blob_bytes(layer_media_type, Bytes::from(layer))
        .await?;
    if let Some(o) = layer_override {
        layer_desc.annotations = o.annotations;
    }
    let manifest = artifact_manifest(artifact_type, &[layer_desc], subject, &annotations);
    Ok(repo
        .push_manifest(OCI_MANIFEST, Bytes::from(manifest), None)
        .await?)
}

/// Signs the image `reference` names in `repo`.
pub async fn sign(
    repo: &Repository,
    reference: Option<&Reference>,
    opts: &SignOptions<'_>,
) -> Result<Signed, ImageError> {
    let subject = repo.resolve(reference).await?;
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
                signing_agent: format!("zoll/{}", env!("CARGO_PKG_VERSION")),
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
            repo.push_blob_bytes(simple_signing::LAYER_MEDIA_TYPE, Bytes::from(payload))
                .await?;
            let tag = simple_signing::signature_tag(&subject.digest);
            let tag_ref =
                Reference::Tag(Tag::parse(&tag).map_err(|e| ImageError::Invalid(e.to_string()))?);
            let existing = match repo.fetch_manifest(&tag_ref).await {
                Ok((_, bytes)) => Some(
                    Manifest::parse(&bytes, None)
                        .map_err(|e| ImageError::Invalid(format!("{tag}: {e}")))?,
                ),
                Err(ClientError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            let (config, manifest) =
                simple_signing::append(existing.as_ref(), layer).map_err(ImageError::Invalid)?;
            repo.push_blob_bytes(simple_signing::CONFIG_MEDIA_TYPE, Bytes::from(config))
                .await?;
            let signature = repo
                .push_manifest(OCI_MANIFEST, Bytes::from(manifest), Some(&tag))
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
    repo: &Repository,
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

/// Most referrer manifests looked at for one subject.
pub const MAX_REFERRERS: usize = 256;

/// Collects the signature artifacts of `subject`: its Notation and bundle referrers, and the
/// layers of its cosign `.sig` tag.
pub async fn find_signatures(
    repo: &Repository,
    subject: &Descriptor,
) -> Result<Vec<SignatureArtifact>, ImageError> {
    let mut manifests = Vec::new();
    for d in repo.referrers(&subject.digest, None).await? {
        let t = d.artifact_type.as_deref();
        if t == Some(notation::ARTIFACT_TYPE) || t == Some(bundle::MEDIA_TYPE) {
            manifests.push(Reference::Digest(d.digest));
        }
    }
    manifests.truncate(MAX_REFERRERS);
    let sig_tag = Tag::parse(&simple_signing::signature_tag(&subject.digest))
        .map_err(|e| ImageError::Invalid(e.to_string()))?;
    manifests.push(Reference::Tag(sig_tag));
    let mut artifacts = Vec::new();
    for reference in manifests {
        let (desc, bytes) = match repo.fetch_manifest(&reference).await {
            Ok(found) => found,
            Err(ClientError::NotFound(_)) if matches!(reference, Reference::Tag(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let Ok(manifest) = Manifest::parse(&bytes, None) else {
            continue;
        };
        let mut blobs = Vec::new();
        for layer in verify::plan(&manifest) {
            let data = repo.fetch_blob_bytes(&layer, MAX_SIGNATURE_BLOB).await?;
            blobs.push((layer, data.to_vec()));
        }
        artifacts.extend(verify::collect(&desc.digest, &manifest, &blobs));
    }
    Ok(artifacts)
}

/// Resolves `reference`, finds its signatures and verifies them against `roots`.
pub async fn verify(
    repo: &Repository,
    reference: Option<&Reference>,
    roots: &TrustRoots,
    scope: &str,
) -> Result<Report, ImageError> {
    let subject = repo.resolve(reference).await?;
    let artifacts = find_signatures(repo, &subject).await?;
    Ok(verify::verify_subject(
        roots,
        &subject,
        scope,
        &artifacts,
        OffsetDateTime::now_utc().unix_timestamp(),
    ))
}
