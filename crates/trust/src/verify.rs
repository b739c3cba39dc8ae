//! The verification seam: given a subject (the digest of a manifest) and the signature
//! artifacts found for it, say which identities validly signed it, and why every other
//! artifact was refused. The CLI, the registry's pull gate and the policy engine all call
//! [`verify_subject`]; none of them parses an envelope itself.
//!
//! Inputs are bytes the caller fetched (referrer manifests and their blobs, the cosign `.sig`
//! manifest and its layers); [`plan`] says which blobs a manifest needs and [`collect`] turns
//! them into [`SignatureArtifact`]s. Nothing here does I/O.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;
use zoll_oci::{Descriptor, Digest, Manifest};

use crate::cosign::{bundle, simple_signing};
use crate::dsse::{DsseError, Statement};
use crate::keys::PublicKey;
use crate::notation::policy::{Action, Check, PolicySet};
use crate::notation::trust_store::{StoreType, TrustStore};
use crate::notation::{EnvelopeError, EnvelopeFormat, Payload, SignerInfo, SigningScheme};
use crate::x509::ChainError;

/// One signature-carrying object found for a subject. The bytes are shared (`Bytes`): one
/// blob listed by many manifests is held once.
#[derive(Debug, Clone)]
pub enum SignatureArtifact {
    /// A Notation signature manifest's envelope.
    Notation {
        manifest: Digest,
        format: EnvelopeFormat,
        envelope: Bytes,
    },
    /// One layer of a cosign `.sig` manifest: the simple-signing payload and the base64
    /// signature from its annotation.
    CosignSimpleSigning {
        manifest: Digest,
        payload: Bytes,
        signature: Option<String>,
    },
    /// A sigstore bundle v0.3 referrer (image signature or attestation).
    SigstoreBundle { manifest: Digest, bundle: Bytes },
}

impl SignatureArtifact {
    pub fn manifest(&self) -> &Digest {
        match self {
            SignatureArtifact::Notation { manifest, .. }
            | SignatureArtifact::CosignSimpleSigning { manifest, .. }
            | SignatureArtifact::SigstoreBundle { manifest, .. } => manifest,
        }
    }

    pub fn format(&self) -> Format {
        match self {
            SignatureArtifact::Notation {
                format: EnvelopeFormat::Jws,
                ..
            } => Format::NotationJws,
            SignatureArtifact::Notation {
                format: EnvelopeFormat::Cose,
                ..
            } => Format::NotationCose,
            SignatureArtifact::CosignSimpleSigning { .. } => Format::CosignSimpleSigning,
            SignatureArtifact::SigstoreBundle { .. } => Format::SigstoreBundle,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    NotationJws,
    NotationCose,
    CosignSimpleSigning,
    SigstoreBundle,
}

/// The largest blob of `media_type` that verification could accept: what its parser
/// refuses anyway is not fetched. `None` for a media type no format reads.
pub fn max_blob(media_type: &str) -> Option<u64> {
    if EnvelopeFormat::of_media_type(media_type).is_some() {
        Some(crate::notation::MAX_ENVELOPE_LEN as u64)
    } else if media_type == simple_signing::LAYER_MEDIA_TYPE {
        Some(simple_signing::MAX_PAYLOAD_LEN)
    } else if media_type == bundle::MEDIA_TYPE {
        Some(crate::dsse::MAX_DSSE_LEN as u64)
    } else {
        None
    }
}

/// The blobs of `manifest` that verification needs, or nothing if it carries no signature
/// zoll understands: the first Notation envelope and the first sigstore bundle (a Notation
/// or bundle referrer carries exactly one; verifiers read no other) and up to
/// [`simple_signing::MAX_SIGNERS`] simple-signing layers (one a cosign signer). The caller
/// fetches them verified against their digests, bounded by [`max_blob`].
pub fn plan(manifest: &Manifest) -> Vec<Descriptor> {
    let mut envelope = false;
    let mut bundled = false;
    let mut simple = 0;
    let mut out = Vec::new();
    for d in &manifest.layers {
        let take = if EnvelopeFormat::of_media_type(&d.media_type).is_some() {
            !std::mem::replace(&mut envelope, true)
        } else if d.media_type == bundle::MEDIA_TYPE {
            !std::mem::replace(&mut bundled, true)
        } else if d.media_type == simple_signing::LAYER_MEDIA_TYPE {
            simple += 1;
            simple <= simple_signing::MAX_SIGNERS
        } else {
            false
        };
        if take {
            out.push(d.clone());
        }
    }
    out
}

/// Builds the artifacts of one manifest from the blobs [`plan`] asked for, as `blob_of`
/// finds them (already checked against their digests; `None` for one that is absent).
/// The bytes are shared, not copied.
pub fn collect(
    manifest_digest: &Digest,
    manifest: &Manifest,
    mut blob_of: impl FnMut(&Descriptor) -> Option<Bytes>,
) -> Vec<SignatureArtifact> {
    let mut out = Vec::new();
    for layer in plan(manifest) {
        let Some(bytes) = blob_of(&layer) else {
            continue;
        };
        out.push(artifact(manifest_digest.clone(), &layer, bytes));
    }
    out
}

/// The artifact one planned layer with its bytes makes.
fn artifact(manifest: Digest, layer: &Descriptor, bytes: Bytes) -> SignatureArtifact {
    if let Some(format) = EnvelopeFormat::of_media_type(&layer.media_type) {
        SignatureArtifact::Notation {
            manifest,
            format,
            envelope: bytes,
        }
    } else if layer.media_type == bundle::MEDIA_TYPE {
        SignatureArtifact::SigstoreBundle {
            manifest,
            bundle: bytes,
        }
    } else {
        SignatureArtifact::CosignSimpleSigning {
            manifest,
            payload: bytes,
            signature: cosign_signature(layer),
        }
    }
}

/// The base64 signature a simple-signing layer carries in its annotation.
pub fn cosign_signature(layer: &Descriptor) -> Option<String> {
    layer
        .annotations
        .as_ref()
        .and_then(|a| a.get(simple_signing::SIGNATURE_ANNOTATION))
        .cloned()
}

/// A raw public key the verifier trusts (cosign style).
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub name: String,
    pub key: PublicKey,
}

/// Notation trust: the trust store and the policy document.
#[derive(Debug, Clone)]
pub struct NotationTrust {
    pub store: TrustStore,
    pub policies: PolicySet,
}

/// What the verifier trusts.
#[derive(Debug, Clone, Default)]
pub struct TrustRoots {
    pub keys: Vec<TrustedKey>,
    pub notation: Option<NotationTrust>,
    /// Critical extended signed attributes the caller understands (Notation signatures with
    /// any other critical attribute are refused).
    pub understood_critical: Vec<String>,
}

/// Who signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Identity {
    /// A trusted public key, by name and SHA-256 fingerprint of its SubjectPublicKeyInfo.
    Key { name: String, fingerprint: String },
    /// An X.509 signer: the leaf subject, the trust store that anchored it, the chain's
    /// thumbprints.
    X509 {
        subject: String,
        trust_store: String,
        thumbprints: Vec<String>,
    },
}

impl Identity {
    fn id(&self) -> String {
        match self {
            Identity::Key { fingerprint, .. } => format!("key:{fingerprint}"),
            Identity::X509 { thumbprints, .. } => {
                format!("x509:{}", thumbprints.first().cloned().unwrap_or_default())
            }
        }
    }
}

/// A signature that passed.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    pub artifact: Digest,
    pub format: Format,
    pub identity: Identity,
    /// Unix seconds, as the signer claims it (Notation signing time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_time: Option<i64>,
    /// Signed claims beyond the subject: Notation extended attributes, cosign `optional`.
    /// Stages and approvals of the policy engine live here.
    pub claims: BTreeMap<String, String>,
    /// For attestations: the in-toto predicate type. `None` or
    /// [`bundle::COSIGN_SIGN_PREDICATE`] for plain signatures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    /// Checks that failed but the policy level only logs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Failure>,
}

impl Accepted {
    /// A signature of the image itself (not an attestation about it).
    pub fn is_signature(&self) -> bool {
        self.predicate_type
            .as_deref()
            .is_none_or(|p| p == bundle::COSIGN_SIGN_PREDICATE)
    }
}

/// A signature artifact that did not pass.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub artifact: Digest,
    pub format: Format,
    pub failure: Failure,
}

/// Why a signature artifact is not a trusted signature of the subject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Integrity: the envelope is unreadable, tampered with, or its signature does not verify.
    #[error("integrity: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error("integrity: {0}")]
    Dsse(#[from] DsseError),
    #[error("integrity: {0}")]
    Malformed(String),
    /// Integrity: the signature is valid but names another artifact.
    #[error("wrong subject: the signature is for {signed}, not {expected}")]
    WrongSubject { expected: Digest, signed: String },
    /// Authenticity (keys): no trusted key made the signature.
    #[error("authenticity: no trusted key made this signature")]
    UntrustedKey,
    /// Integrity (keys): the trusted key the signature names does not verify it.
    #[error("integrity: the signature does not verify with trusted key {0}")]
    SignatureInvalid(String),
    /// Authenticity (X.509): no certificate of the chain is in the policy's trust stores.
    #[error("authenticity: the certificate chain does not lead to a trusted root")]
    UntrustedRoot,
    /// Authenticity (X.509): the signer is not one of the policy's trusted identities.
    #[error("untrusted identity: {0}")]
    UntrustedIdentity(String),
    /// Authentic timestamp: a certificate is not valid at the time that counts.
    #[error("certificate validity: {0}")]
    CertificateNotValid(ChainError),
    /// Expiry: the signature's own expiry has passed.
    #[error("expired: the signature expired at {expiry} (Unix time)")]
    Expired { expiry: i64 },
    #[error("integrity: critical signed attribute {0:?} is not understood")]
    UnknownCriticalAttribute(String),
    #[error("no trust policy applies to {0}")]
    NoPolicy(String),
    /// A signature of a signer (or signature bytes) already counted.
    #[error("duplicate: the same signer already signed (artifact {of})")]
    Duplicate { of: Digest },
    /// The verifier has no trust material for this format (e.g. a Notation signature checked
    /// with keys only).
    #[error("no trust material for {0:?} signatures was given")]
    NotConfigured(Format),
}

impl Failure {
    /// A stable machine-readable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Envelope(_)
            | Failure::Dsse(_)
            | Failure::Malformed(_)
            | Failure::SignatureInvalid(_) => "integrity",
            Failure::UnknownCriticalAttribute(_) => "integrity",
            Failure::WrongSubject { .. } => "wrong-subject",
            Failure::UntrustedKey | Failure::UntrustedRoot => "authenticity",
            Failure::UntrustedIdentity(_) => "untrusted-identity",
            Failure::CertificateNotValid(_) => "authentic-timestamp",
            Failure::Expired { .. } => "expiry",
            Failure::NoPolicy(_) | Failure::NotConfigured(_) => "no-policy",
            Failure::Duplicate { .. } => "duplicate",
        }
    }
}

impl Serialize for Failure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("reason", self.code())?;
        m.serialize_entry("message", &self.to_string())?;
        m.end()
    }
}

/// The outcome for one subject.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub subject: Digest,
    pub accepted: Vec<Accepted>,
    pub rejected: Vec<Rejected>,
    /// The Notation policy for this scope is `skip`: no signature is required.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub verification_skipped: bool,
}

impl Report {
    /// Trusted: at least one accepted image signature (or a `skip` policy).
    pub fn is_trusted(&self) -> bool {
        self.verification_skipped || self.accepted.iter().any(Accepted::is_signature)
    }

    /// Distinct identities that signed the image (for k-of-n thresholds).
    pub fn signers(&self) -> Vec<&Identity> {
        self.accepted
            .iter()
            .filter(|a| a.is_signature())
            .map(|a| &a.identity)
            .collect()
    }
}

/// Verifies every artifact against `roots`. `scope` is `registry/repository` (Notation
/// policies are chosen by it); `now` is Unix seconds.
pub fn verify_subject(
    roots: &TrustRoots,
    subject: &Descriptor,
    scope: &str,
    artifacts: &[SignatureArtifact],
    now: i64,
) -> Report {
    let mut report = Report {
        subject: subject.digest.clone(),
        accepted: Vec::new(),
        rejected: Vec::new(),
        verification_skipped: false,
    };
    if let Some(n) = &roots.notation
        && n.policies
            .for_scope(scope)
            .is_some_and(|p| p.level.is_skip())
    {
        report.verification_skipped = true;
    }
    let mut seen_bytes: Vec<(Digest, Digest)> = Vec::new();
    for artifact in artifacts {
        let reject = |report: &mut Report, failure: Failure| {
            report.rejected.push(Rejected {
                artifact: artifact.manifest().clone(),
                format: artifact.format(),
                failure,
            });
        };
        let content_digest = match artifact {
            SignatureArtifact::Notation { envelope, .. } => Digest::sha256(envelope),
            SignatureArtifact::CosignSimpleSigning {
                payload, signature, ..
            } => Digest::sha256(
                &[
                    payload.as_ref(),
                    signature.as_deref().unwrap_or_default().as_bytes(),
                ]
                .concat(),
            ),
            SignatureArtifact::SigstoreBundle { bundle, .. } => Digest::sha256(bundle),
        };
        if let Some((_, of)) = seen_bytes.iter().find(|(d, _)| *d == content_digest) {
            let of = of.clone();
            reject(&mut report, Failure::Duplicate { of });
            continue;
        }
        seen_bytes.push((content_digest, artifact.manifest().clone()));
        let outcome = match artifact {
            SignatureArtifact::Notation {
                format, envelope, ..
            } => verify_notation(roots, subject, scope, *format, envelope, now),
            SignatureArtifact::CosignSimpleSigning {
                payload, signature, ..
            } => verify_simple_signing(roots, subject, payload, signature.as_deref()),
            SignatureArtifact::SigstoreBundle { bundle, .. } => {
                verify_bundle(roots, subject, bundle)
            }
        };
        match outcome {
            Err(failure) => reject(&mut report, failure),
            Ok(passed) => {
                for p in passed {
                    let id = p.identity.id();
                    let kind_matches = |a: &Accepted| {
                        a.identity.id() == id && a.predicate_type == p.predicate_type
                    };
                    if let Some(first) = report.accepted.iter().find(|a| kind_matches(a)) {
                        let of = first.artifact.clone();
                        reject(&mut report, Failure::Duplicate { of });
                        continue;
                    }
                    report.accepted.push(Accepted {
                        artifact: artifact.manifest().clone(),
                        format: artifact.format(),
                        identity: p.identity,
                        signing_time: p.signing_time,
                        claims: p.claims,
                        predicate_type: p.predicate_type,
                        warnings: p.warnings,
                    });
                }
            }
        }
    }
    report
}

/// What one artifact yields before duplicate checks.
struct Passed {
    identity: Identity,
    signing_time: Option<i64>,
    claims: BTreeMap<String, String>,
    predicate_type: Option<String>,
    warnings: Vec<Failure>,
}

fn apply(action: Action, failure: Failure, warnings: &mut Vec<Failure>) -> Result<(), Failure> {
    match action {
        Action::Enforce => Err(failure),
        Action::Log => {
            warnings.push(failure);
            Ok(())
        }
        Action::Skip => Ok(()),
    }
}

fn verify_notation(
    roots: &TrustRoots,
    subject: &Descriptor,
    scope: &str,
    format: EnvelopeFormat,
    envelope: &[u8],
    now: i64,
) -> Result<Vec<Passed>, Failure> {
    let trust = roots
        .notation
        .as_ref()
        .ok_or(Failure::NotConfigured(match format {
            EnvelopeFormat::Jws => Format::NotationJws,
            EnvelopeFormat::Cose => Format::NotationCose,
        }))?;
    let policy = trust
        .policies
        .for_scope(scope)
        .ok_or_else(|| Failure::NoPolicy(scope.to_owned()))?;
    if policy.level.is_skip() {
        return Ok(Vec::new());
    }
    // Integrity, always enforced.
    let info: SignerInfo = format.verify(envelope)?;
    let payload = Payload::parse(&info.payload)?;
    let target = &payload.target_artifact;
    if target.digest != subject.digest
        || target.size != subject.size
        || target.media_type != subject.media_type
    {
        return Err(Failure::WrongSubject {
            expected: subject.digest.clone(),
            signed: target.digest.to_string(),
        });
    }
    for attr in info.extended.iter().filter(|a| a.critical) {
        if !roots.understood_critical.contains(&attr.key) {
            return Err(Failure::UnknownCriticalAttribute(attr.key.clone()));
        }
    }
    let mut warnings = Vec::new();
    // Authenticity: a certificate of the chain is in one of the policy's stores of the type
    // the signing scheme calls for, and the signer is a trusted identity.
    let wanted_type = match info.scheme {
        SigningScheme::X509 => StoreType::Ca,
        SigningScheme::X509SigningAuthority => StoreType::SigningAuthority,
    };
    let anchor = policy
        .trust_stores
        .iter()
        .filter(|(ty, _)| *ty == wanted_type)
        .find(|(ty, name)| {
            trust.store.get(*ty, name).is_some_and(|certs| {
                certs
                    .iter()
                    .any(|t| info.chain.iter().any(|c| c.der() == t.der()))
            })
        });
    let leaf = &info.chain[0];
    let authenticity = policy.level.action(Check::Authenticity);
    let store_name = match anchor {
        Some((ty, name)) => format!("{}:{name}", ty.as_str()),
        None => {
            apply(authenticity, Failure::UntrustedRoot, &mut warnings)?;
            String::new()
        }
    };
    if !policy
        .identities
        .iter()
        .any(|i| i.matches(leaf.subject_attributes()))
    {
        apply(
            authenticity,
            Failure::UntrustedIdentity(leaf.subject().to_owned()),
            &mut warnings,
        )?;
    }
    // Authentic timestamp: the chain is valid now (notary.x509) or at the authentic signing
    // time (signingAuthority).
    let at = match info.scheme {
        SigningScheme::X509 => now,
        SigningScheme::X509SigningAuthority => info.authentic_signing_time.unwrap_or(now),
    };
    if let Err(e) = crate::x509::check_validity(&info.chain, at) {
        apply(
            policy.level.action(Check::AuthenticTimestamp),
            Failure::CertificateNotValid(e),
            &mut warnings,
        )?;
    }
    if let Some(expiry) = info.expiry
        && expiry < now
    {
        apply(
            policy.level.action(Check::Expiry),
            Failure::Expired { expiry },
            &mut warnings,
        )?;
    }
    let claims = info
        .extended
        .iter()
        .map(|a| (a.key.clone(), a.value.clone()))
        .collect();
    Ok(vec![Passed {
        identity: Identity::X509 {
            subject: leaf.subject().to_owned(),
            trust_store: store_name,
            thumbprints: info.chain.iter().map(|c| c.thumbprint()).collect(),
        },
        signing_time: info.signing_time.or(info.authentic_signing_time),
        claims,
        predicate_type: None,
        warnings,
    }])
}

/// The signed claims of a cosign signature statement: its predicate's `annotations` (string
/// values only). Other predicates (attestations) carry none.
fn statement_claims(statement: &Statement) -> BTreeMap<String, String> {
    if statement.predicate_type != bundle::COSIGN_SIGN_PREDICATE {
        return BTreeMap::new();
    }
    statement
        .predicate
        .get("annotations")
        .and_then(|a| a.as_object())
        .map(|a| {
            a.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn key_identity(k: &TrustedKey) -> Identity {
    Identity::Key {
        name: k.name.clone(),
        fingerprint: k.key.fingerprint(),
    }
}

fn verify_simple_signing(
    roots: &TrustRoots,
    subject: &Descriptor,
    payload: &[u8],
    signature: Option<&str>,
) -> Result<Vec<Passed>, Failure> {
    if roots.keys.is_empty() {
        return Err(Failure::NotConfigured(Format::CosignSimpleSigning));
    }
    if payload.len() as u64 > simple_signing::MAX_PAYLOAD_LEN {
        return Err(Failure::Malformed(
            "simple signing payload too large".into(),
        ));
    }
    let signature =
        signature.ok_or_else(|| Failure::Malformed("layer has no signature annotation".into()))?;
    let signature = zoll_stdx::base64::decode(signature)
        .ok_or_else(|| Failure::Malformed("signature is not base64".into()))?;
    let parsed = simple_signing::SimpleSigning::parse(payload).map_err(Failure::Malformed)?;
    let key = roots
        .keys
        .iter()
        .find(|k| crate::dsse::sigstore_verify(&k.key, payload, &signature))
        .ok_or(Failure::UntrustedKey)?;
    if parsed.critical.image.docker_manifest_digest != subject.digest.as_str() {
        return Err(Failure::WrongSubject {
            expected: subject.digest.clone(),
            signed: parsed.critical.image.docker_manifest_digest,
        });
    }
    let claims = parsed
        .optional
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect();
    Ok(vec![Passed {
        identity: key_identity(key),
        signing_time: None,
        claims,
        predicate_type: None,
        warnings: Vec::new(),
    }])
}

fn verify_bundle(
    roots: &TrustRoots,
    subject: &Descriptor,
    bytes: &[u8],
) -> Result<Vec<Passed>, Failure> {
    if roots.keys.is_empty() {
        return Err(Failure::NotConfigured(Format::SigstoreBundle));
    }
    let b = bundle::Bundle::parse(bytes)?;
    let env = &b.dsse_envelope;
    if env.payload_type != crate::dsse::IN_TOTO_PAYLOAD_TYPE {
        return Err(Failure::Malformed(format!(
            "DSSE payload type {:?}",
            env.payload_type
        )));
    }
    let keys: Vec<&PublicKey> = roots.keys.iter().map(|k| &k.key).collect();
    let (found, duplicates) = env.verified_by(&keys)?;
    if found.is_empty() {
        let hinted = roots
            .keys
            .iter()
            .find(|k| bundle::key_hint(&k.key) == b.verification_material.public_key.hint);
        return Err(match hinted {
            Some(k) => Failure::SignatureInvalid(k.name.clone()),
            None => Failure::UntrustedKey,
        });
    }
    if duplicates > 0 {
        return Err(Failure::Duplicate {
            of: Digest::sha256(bytes),
        });
    }
    let statement = Statement::parse(&env.payload_bytes()?)?;
    if !statement.names(&subject.digest) {
        let signed = statement
            .subject
            .iter()
            .flat_map(|s| s.digest.iter().map(|(a, h)| format!("{a}:{h}")))
            .collect::<Vec<_>>()
            .join(",");
        return Err(Failure::WrongSubject {
            expected: subject.digest.clone(),
            signed,
        });
    }
    let claims = statement_claims(&statement);
    Ok(found
        .into_iter()
        .map(|i| Passed {
            identity: key_identity(&roots.keys[i]),
            signing_time: None,
            claims: claims.clone(),
            predicate_type: Some(statement.predicate_type.clone()),
            warnings: Vec::new(),
        })
        .collect())
}
