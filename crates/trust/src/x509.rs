//! X.509 certificates as the signature formats use them: parsed once into an owned summary,
//! and chains validated for code signing the way the Notary Project's certificate
//! requirements say (the leaf signs, every other certificate is a CA that issued the one
//! before it, the last one is a self-signed root).

use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::*;
use x509_parser::signature_algorithm::SignatureAlgorithm;

use crate::keys::{KeyKind, PublicKey};

/// Certificates larger than this are refused unparsed.
pub const MAX_CERT_LEN: usize = 64 * 1024;
/// Chains longer than this are refused.
pub const MAX_CHAIN_LEN: usize = 10;

/// Why a chain is not a valid code-signing chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("certificate {index} is not valid DER X.509: {reason}")]
    Malformed { index: usize, reason: String },
    #[error("the chain is empty")]
    Empty,
    #[error("the chain has more than {MAX_CHAIN_LEN} certificates")]
    TooLong,
    #[error("certificate {index} was not issued by certificate {}", index + 1)]
    NotIssuedByNext { index: usize },
    #[error("the last certificate of the chain is not a self-signed root")]
    NoRoot,
    #[error(
        "certificate {index} ({subject}) is not valid at {at} (valid {not_before} to {not_after})"
    )]
    NotValidAt {
        index: usize,
        subject: String,
        at: i64,
        not_before: i64,
        not_after: i64,
    },
    #[error("certificate {index} ({subject}): {reason}")]
    Requirement {
        index: usize,
        subject: String,
        reason: String,
    },
}

/// One certificate, parsed.
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    subject: String,
    subject_attributes: Vec<(String, String)>,
    subject_raw: Vec<u8>,
    issuer_raw: Vec<u8>,
    not_before: i64,
    not_after: i64,
    public_key: PublicKey,
    basic_constraints_ca: Option<(bool, bool)>,
    key_usage: Option<(bool, u16)>,
    eku: Option<Eku>,
    tbs: Vec<u8>,
    signature_algorithm: CertSignatureAlgorithm,
    signature: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Eku {
    any: bool,
    code_signing: bool,
    time_stamping: bool,
    server_auth: bool,
    email: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CertSignatureAlgorithm {
    RsaPkcs1(Hash),
    RsaPss(Hash),
    Ecdsa(Hash),
    Ed25519,
    Unsupported,
}

const KU_DIGITAL_SIGNATURE: u16 = 1;
const KU_KEY_CERT_SIGN: u16 = 1 << 5;
const KU_CRL_SIGN: u16 = 1 << 6;

fn hash_of(oid: &Oid) -> Option<Hash> {
    match oid.to_id_string().as_str() {
        "2.16.840.1.101.3.4.2.1" => Some(Hash::Sha256),
        "2.16.840.1.101.3.4.2.2" => Some(Hash::Sha384),
        "2.16.840.1.101.3.4.2.3" => Some(Hash::Sha512),
        _ => None,
    }
}

fn short_name(oid: &Oid) -> String {
    match oid.to_id_string().as_str() {
        "2.5.4.6" => "C".into(),
        "2.5.4.8" => "ST".into(),
        "2.5.4.7" => "L".into(),
        "2.5.4.10" => "O".into(),
        "2.5.4.11" => "OU".into(),
        "2.5.4.3" => "CN".into(),
        "1.2.840.113549.1.9.1" => "E".into(),
        other => other.to_owned(),
    }
}

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Certificate, String> {
        if der.len() > MAX_CERT_LEN {
            return Err("certificate too large".into());
        }
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
        if !rest.is_empty() {
            return Err("trailing bytes after the certificate".into());
        }
        let mut subject_attributes = Vec::new();
        for rdn in cert.subject().iter() {
            for attr in rdn.iter() {
                let value = attr
                    .as_str()
                    .map_err(|_| "subject attribute is not a string")?;
                subject_attributes.push((short_name(attr.attr_type()), value.to_owned()));
            }
        }
        // The Notary Project writes identities in Go's pkix.Name order, most significant first.
        let subject = subject_attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let public_key =
            PublicKey::from_spki_der(cert.public_key().raw).map_err(|e| e.to_string())?;
        let basic_constraints_ca = cert
            .basic_constraints()
            .map_err(|e| e.to_string())?
            .map(|ext| (ext.critical, ext.value.ca));
        let key_usage = cert
            .key_usage()
            .map_err(|e| e.to_string())?
            .map(|ext| (ext.critical, ext.value.flags));
        let eku = cert
            .extended_key_usage()
            .map_err(|e| e.to_string())?
            .map(|ext| Eku {
                any: ext.value.any,
                code_signing: ext.value.code_signing,
                time_stamping: ext.value.time_stamping,
                server_auth: ext.value.server_auth,
                email: ext.value.email_protection,
            });
        let signature_algorithm = match SignatureAlgorithm::try_from(&cert.signature_algorithm) {
            Ok(SignatureAlgorithm::RSA) => {
                match cert.signature_algorithm.algorithm.to_id_string().as_str() {
                    "1.2.840.113549.1.1.11" => CertSignatureAlgorithm::RsaPkcs1(Hash::Sha256),
                    "1.2.840.113549.1.1.12" => CertSignatureAlgorithm::RsaPkcs1(Hash::Sha384),
                    "1.2.840.113549.1.1.13" => CertSignatureAlgorithm::RsaPkcs1(Hash::Sha512),
                    _ => CertSignatureAlgorithm::Unsupported,
                }
            }
            Ok(SignatureAlgorithm::RSASSA_PSS(params)) => hash_of(params.hash_algorithm_oid())
                .map_or(
                    CertSignatureAlgorithm::Unsupported,
                    CertSignatureAlgorithm::RsaPss,
                ),
            Ok(SignatureAlgorithm::ECDSA) => {
                match cert.signature_algorithm.algorithm.to_id_string().as_str() {
                    "1.2.840.10045.4.3.2" => CertSignatureAlgorithm::Ecdsa(Hash::Sha256),
                    "1.2.840.10045.4.3.3" => CertSignatureAlgorithm::Ecdsa(Hash::Sha384),
                    "1.2.840.10045.4.3.4" => CertSignatureAlgorithm::Ecdsa(Hash::Sha512),
                    _ => CertSignatureAlgorithm::Unsupported,
                }
            }
            Ok(SignatureAlgorithm::ED25519) => CertSignatureAlgorithm::Ed25519,
            _ => CertSignatureAlgorithm::Unsupported,
        };
        Ok(Certificate {
            der: der.to_vec(),
            subject,
            subject_attributes,
            subject_raw: cert.subject().as_raw().to_vec(),
            issuer_raw: cert.issuer().as_raw().to_vec(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            public_key,
            basic_constraints_ca,
            key_usage,
            eku,
            tbs: cert.tbs_certificate.as_ref().to_vec(),
            signature_algorithm,
            signature: cert.signature_value.data.to_vec(),
        })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject as `C=US, ST=WA, O=..., CN=...` in certificate order.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn subject_attributes(&self) -> &[(String, String)] {
        &self.subject_attributes
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// Hex SHA-256 of the DER: the thumbprint Notation records.
    pub fn thumbprint(&self) -> String {
        zoll_stdx::hex::encode(&crate::keys::HashAlgorithm::Sha256.digest(&self.der))
    }

    fn is_self_issued(&self) -> bool {
        self.subject_raw == self.issuer_raw
    }

    /// Whether `issuer`'s key made this certificate's signature.
    pub fn is_signed_by(&self, issuer: &PublicKey) -> bool {
        let raw = issuer.raw();
        let alg: &'static dyn VerificationAlgorithm =
            match (self.signature_algorithm, issuer.kind()) {
                (CertSignatureAlgorithm::RsaPkcs1(h), KeyKind::Rsa { .. }) => match h {
                    Hash::Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                    Hash::Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                    Hash::Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                },
                (CertSignatureAlgorithm::RsaPss(h), KeyKind::Rsa { .. }) => match h {
                    Hash::Sha256 => &sig::RSA_PSS_2048_8192_SHA256,
                    Hash::Sha384 => &sig::RSA_PSS_2048_8192_SHA384,
                    Hash::Sha512 => &sig::RSA_PSS_2048_8192_SHA512,
                },
                (CertSignatureAlgorithm::Ecdsa(h), kind) => match (kind, h) {
                    (KeyKind::EcP256, Hash::Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
                    (KeyKind::EcP256, Hash::Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
                    (KeyKind::EcP384, Hash::Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
                    (KeyKind::EcP384, Hash::Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
                    (KeyKind::EcP521, Hash::Sha512) => &sig::ECDSA_P521_SHA512_ASN1,
                    (KeyKind::EcP521, Hash::Sha384) => &sig::ECDSA_P521_SHA384_ASN1,
                    _ => return false,
                },
                (CertSignatureAlgorithm::Ed25519, KeyKind::Ed25519) => &sig::ED25519,
                _ => return false,
            };
        UnparsedPublicKey::new(alg, raw)
            .verify(&self.tbs, &self.signature)
            .is_ok()
    }
}

/// Parses DER certificates, leaf first, bounded in count and size.
pub fn parse_chain(ders: &[Vec<u8>]) -> Result<Vec<Certificate>, ChainError> {
    if ders.is_empty() {
        return Err(ChainError::Empty);
    }
    if ders.len() > MAX_CHAIN_LEN {
        return Err(ChainError::TooLong);
    }
    ders.iter()
        .enumerate()
        .map(|(index, der)| {
            Certificate::from_der(der).map_err(|reason| ChainError::Malformed { index, reason })
        })
        .collect()
}

/// What the leaf of a chain is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafPurpose {
    CodeSigning,
    TimeStamping,
}

/// Checks the structure of a chain, leaf first and root last: issuance, the root being
/// self-signed, the extensions each position requires, and key sizes. Validity periods are
/// checked separately ([`check_validity`]) because when they apply depends on the policy.
pub fn validate_chain(chain: &[Certificate], purpose: LeafPurpose) -> Result<(), ChainError> {
    if chain.is_empty() {
        return Err(ChainError::Empty);
    }
    if chain.len() > MAX_CHAIN_LEN {
        return Err(ChainError::TooLong);
    }
    for (index, cert) in chain.iter().enumerate() {
        let fail = |reason: &str| ChainError::Requirement {
            index,
            subject: cert.subject.clone(),
            reason: reason.to_owned(),
        };
        if let KeyKind::Rsa { bits } = cert.public_key.kind()
            && bits < 2048
        {
            return Err(fail("RSA keys must have at least 2048 bits"));
        }
        let is_leaf = index == 0;
        let is_last = index == chain.len() - 1;
        if is_leaf {
            check_leaf(cert, purpose).map_err(|r| fail(&r))?;
            // A self-signed leaf is its own root: nothing issues it.
            if chain.len() == 1 {
                if !cert.is_self_issued() || !cert.is_signed_by(&cert.public_key) {
                    return Err(ChainError::NoRoot);
                }
                return Ok(());
            }
        } else {
            match cert.basic_constraints_ca {
                Some((true, true)) => {}
                _ => {
                    return Err(fail(
                        "a CA certificate needs a critical basicConstraints extension with CA true",
                    ));
                }
            }
            match cert.key_usage {
                Some((_, flags)) if flags & KU_KEY_CERT_SIGN != 0 => {}
                _ => return Err(fail("a CA certificate needs keyUsage keyCertSign")),
            }
        }
        if is_last {
            if !cert.is_self_issued() || !cert.is_signed_by(&cert.public_key) {
                return Err(ChainError::NoRoot);
            }
        } else {
            let issuer = &chain[index + 1];
            if cert.issuer_raw != issuer.subject_raw || !cert.is_signed_by(&issuer.public_key) {
                return Err(ChainError::NotIssuedByNext { index });
            }
        }
    }
    Ok(())
}

fn check_leaf(cert: &Certificate, purpose: LeafPurpose) -> Result<(), String> {
    if let Some((_, true)) = cert.basic_constraints_ca {
        return Err("the signing certificate must not be a CA".into());
    }
    match cert.key_usage {
        Some((_, flags)) if flags & KU_DIGITAL_SIGNATURE == 0 => {
            return Err("keyUsage must include digitalSignature".into());
        }
        Some((_, flags)) if flags & (KU_KEY_CERT_SIGN | KU_CRL_SIGN) != 0 => {
            return Err(
                "keyUsage of a signing certificate must not include keyCertSign or cRLSign".into(),
            );
        }
        Some(_) => {}
        None => return Err("keyUsage must be present".into()),
    }
    if let Some(eku) = cert.eku {
        let ok = match purpose {
            LeafPurpose::CodeSigning => {
                eku.code_signing && !eku.any && !eku.server_auth && !eku.email && !eku.time_stamping
            }
            LeafPurpose::TimeStamping => eku.time_stamping,
        };
        if !ok {
            return Err(format!("extendedKeyUsage does not allow {purpose:?}"));
        }
    }
    Ok(())
}

/// Checks that every certificate of the chain is valid at `at` (Unix seconds).
pub fn check_validity(chain: &[Certificate], at: i64) -> Result<(), ChainError> {
    for (index, cert) in chain.iter().enumerate() {
        if at < cert.not_before || at > cert.not_after {
            return Err(ChainError::NotValidAt {
                index,
                subject: cert.subject.clone(),
                at,
                not_before: cert.not_before,
                not_after: cert.not_after,
            });
        }
    }
    Ok(())
}
