//! Signing a digest with a quorum key and writing the signature into the store, in the
//! same formats `zoll sign` pushes through a registry client (Notation referrer, cosign
//! bundle referrer, cosign `.sig` tag), so every verifier reads them the same way.

use std::collections::BTreeMap;

use bytes::Bytes;
use zoll_oci::{Descriptor, Digest, Manifest, Reference, RepoName, Tag};
use zoll_store::{Store, StoreError};
use zoll_trust::artifact::{self, artifact_manifest, EMPTY_CONFIG, EMPTY_MEDIA_TYPE, OCI_MANIFEST};
use zoll_trust::cosign::{bundle, simple_signing};
use zoll_trust::dsse::Statement;
use zoll_trust::image::SignatureFormat;
use zoll_trust::notation::{self, ExtendedAttribute, Payload, SignRequest, SigningScheme};

use crate::config::QuorumKey;
use crate::ApprovalError;

fn sign_error(e: impl std::fmt::Display) -> ApprovalError {
    ApprovalError::Sign(e.to_string())
}

async fn put_blob(
    store: &Store,
    repo: &RepoName,
    media_type: &str,
    bytes: Vec<u8>,
) -> Result<Descriptor, ApprovalError> {
    let digest = Digest::sha256(&bytes);
    let size = bytes.len() as u64;
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(bytes))]);
    store.put_blob(repo, &digest, body, None).await?;
    Ok(Descriptor {
        media_type: media_type.to_owned(),
        digest,
        size,
        artifact_type: None,
        annotations: None,
        urls: None,
    })
}

async fn put_manifest(
    store: &Store,
    repo: &RepoName,
    bytes: &[u8],
    tag: Option<&str>,
) -> Result<Descriptor, ApprovalError> {
    let digest = Digest::sha256(bytes);
    let reference = match tag {
        Some(t) => Reference::Tag(Tag::parse(t).map_err(sign_error)?),
        None => Reference::Digest(digest.clone()),
    };
    store
        .put_manifest(repo, &reference, &[], Some(OCI_MANIFEST), bytes)
        .await?;
    Ok(Descriptor {
        media_type: OCI_MANIFEST.to_owned(),
        digest,
        size: bytes.len() as u64,
        artifact_type: None,
        annotations: None,
        urls: None,
    })
}

async fn push_referrer(
    store: &Store,
    repo: &RepoName,
    artifact_type: &str,
    layer: Descriptor,
    subject: &Descriptor,
    annotations: BTreeMap<String, String>,
) -> Result<Descriptor, ApprovalError> {
    put_blob(store, repo, EMPTY_MEDIA_TYPE, EMPTY_CONFIG.to_vec()).await?;
    let manifest = artifact_manifest(artifact_type, &[layer], subject, &annotations);
    put_manifest(store, repo, &manifest, None).await
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
    match key.format {
        SignatureFormat::Notation(format) => {
            let now = time::OffsetDateTime::now_utc();
            let request = SignRequest {
                payload: Payload::new(subject).to_bytes(),
                signing_time: now,
                expiry: None,
                scheme: SigningScheme::X509,
                extended: claims
                    .iter()
                    .map(|(k, v)| ExtendedAttribute {
                        key: k.clone(),
                        value: v.clone(),
                        critical: false,
                    })
                    .collect(),
                signing_agent: format!("zoll/{} (quorum)", env!("CARGO_PKG_VERSION")),
                chain: key.chain.clone(),
                key: key.signer.as_ref(),
            };
            let envelope = format.sign(&request).map_err(sign_error)?;
            let layer = put_blob(store, repo, format.media_type(), envelope).await?;
            let annotations = BTreeMap::from([
                (
                    notation::THUMBPRINT_ANNOTATION.to_owned(),
                    notation::thumbprints(&key.chain),
                ),
                (
                    artifact::ANNOTATION_CREATED.to_owned(),
                    artifact::created_now(),
                ),
            ]);
            push_referrer(
                store,
                repo,
                notation::ARTIFACT_TYPE,
                layer,
                subject,
                annotations,
            )
            .await
        }
        SignatureFormat::CosignBundle => {
            let statement = Statement::about(
                "",
                &subject.digest,
                bundle::COSIGN_SIGN_PREDICATE,
                serde_json::json!({}),
            );
            let statement = serde_json::to_vec(&statement).expect("statements serialize");
            let json = bundle::Bundle::sign_statement(key.signer.as_ref(), &statement)
                .map_err(sign_error)?
                .to_json();
            let mut layer = put_blob(store, repo, bundle::MEDIA_TYPE, json.clone()).await?;
            layer.annotations = bundle::layer(&json).annotations;
            push_referrer(
                store,
                repo,
                bundle::MEDIA_TYPE,
                layer,
                subject,
                bundle::referrer_annotations(bundle::COSIGN_SIGN_PREDICATE),
            )
            .await
        }
        SignatureFormat::CosignLegacy => {
            let optional = claims
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            let payload =
                simple_signing::SimpleSigning::new(docker_reference, &subject.digest, optional)
                    .to_bytes();
            let layer =
                simple_signing::sign_layer(key.signer.as_ref(), &payload).map_err(sign_error)?;
            put_blob(store, repo, simple_signing::LAYER_MEDIA_TYPE, payload).await?;
            let tag = simple_signing::signature_tag(&subject.digest);
            let existing = match store
                .manifest(repo, &Reference::Tag(Tag::parse(&tag).map_err(sign_error)?))
                .await
            {
                Ok(m) => Some(Manifest::parse(&m.content, None).map_err(sign_error)?),
                Err(StoreError::ManifestUnknown(_) | StoreError::NameUnknown(_)) => None,
                Err(e) => return Err(e.into()),
            };
            let (config, manifest) =
                simple_signing::append(existing.as_ref(), layer).map_err(ApprovalError::Sign)?;
            put_blob(store, repo, simple_signing::CONFIG_MEDIA_TYPE, config).await?;
            put_manifest(store, repo, &manifest, Some(&tag)).await
        }
    }
}
