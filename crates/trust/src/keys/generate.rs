//! Key generation (aws-lc-rs) and X.509 certificates (rcgen, signing through any
//! [`KeySource`], so a certificate for a key on a token is signed on the token).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyUsagePurpose, PublicKeyData, SerialNumber, SigningKey,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::{FileKey, KeyError, KeyKind, KeySource, PublicKey, SignatureAlgorithm};
use zoll_der::ecdsa::fixed_to_der as ecdsa_fixed_to_der;

/// A freshly generated private key (PKCS#8 PEM) and its public key.
pub struct GeneratedKey {
    pub private_pem: Zeroizing<String>,
    pub key: FileKey,
}

/// Generates a key of `kind` with aws-lc-rs.
pub fn generate_key(kind: KeyKind) -> Result<GeneratedKey, KeyError> {
    let private_pem = generate_pem(kind)?;
    let key = FileKey::from_pem(private_pem.as_bytes(), &format!("generated {kind} key"))?;
    Ok(GeneratedKey { private_pem, key })
}

/// Generates a key of `kind` and returns it as PKCS#8 PEM.
pub fn generate_pem(kind: KeyKind) -> Result<Zeroizing<String>, KeyError> {
    let failed = |what: &str| KeyError::UnsupportedKey(format!("cannot generate {what}"));
    let der: Zeroizing<Vec<u8>> = match kind {
        KeyKind::EcP256 | KeyKind::EcP384 | KeyKind::EcP521 => {
            let alg = match kind {
                KeyKind::EcP256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                KeyKind::EcP384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
                _ => &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
            };
            let key = EcdsaKeyPair::generate(alg).map_err(|_| failed("ECDSA key"))?;
            Zeroizing::new(
                key.to_pkcs8v1()
                    .map_err(|_| failed("ECDSA key"))?
                    .as_ref()
                    .to_vec(),
            )
        }
        KeyKind::Rsa { bits } => {
            let size = match bits {
                2048 => KeySize::Rsa2048,
                3072 => KeySize::Rsa3072,
                4096 => KeySize::Rsa4096,
                8192 => KeySize::Rsa8192,
                other => return Err(KeyError::UnsupportedKey(format!("RSA size {other}"))),
            };
            let key = RsaKeyPair::generate(size).map_err(|_| failed("RSA key"))?;
            Zeroizing::new(
                key.as_der()
                    .map_err(|_| failed("RSA key"))?
                    .as_ref()
                    .to_vec(),
            )
        }
        KeyKind::Ed25519 => {
            let key = Ed25519KeyPair::generate().map_err(|_| failed("Ed25519 key"))?;
            Zeroizing::new(
                key.to_pkcs8v1()
                    .map_err(|_| failed("Ed25519 key"))?
                    .as_ref()
                    .to_vec(),
            )
        }
    };
    Ok(Zeroizing::new(zoll_der::pem::encode("PRIVATE KEY", &der)))
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProfile {
    /// A signing (leaf) certificate as the Notary Project requires: keyUsage digitalSignature
    /// (critical), extKeyUsage codeSigning, no CA.
    CodeSigning,
    /// A certificate authority: basicConstraints CA (critical), keyUsage keyCertSign + cRLSign.
    Ca,
}

/// The fields of a certificate to make.
#[derive(Debug, Clone)]
pub struct CertificateRequest {
    /// `CN=...,O=...,C=...` (RFC 4514 style, attributes C, ST, L, O, OU, CN).
    pub subject: String,
    pub profile: CertificateProfile,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl CertificateRequest {
    /// Valid from a minute ago for `days` days.
    pub fn new(subject: &str, profile: CertificateProfile, days: i64) -> CertificateRequest {
        let now = OffsetDateTime::now_utc();
        CertificateRequest {
            subject: subject.to_owned(),
            profile,
            not_before: now - Duration::minutes(1),
            not_after: now + Duration::days(days),
        }
    }

    fn params(&self) -> Result<CertificateParams, KeyError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = parse_dn(&self.subject)?;
        params.not_before = self.not_before;
        params.not_after = self.not_after;
        let mut serial = [0u8; 16];
        aws_lc_rs::rand::fill(&mut serial)
            .map_err(|_| KeyError::Certificate("no randomness".into()))?;
        serial[0] &= 0x7f;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        match self.profile {
            CertificateProfile::CodeSigning => {
                params.is_ca = IsCa::ExplicitNoCa;
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
            }
            CertificateProfile::Ca => {
                params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            }
        }
        Ok(params)
    }
}

/// Parses `CN=a, O=b` into a distinguished name, keeping the order given.
fn parse_dn(text: &str) -> Result<DistinguishedName, KeyError> {
    let mut dn = DistinguishedName::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| KeyError::Certificate(format!("subject part {part:?} has no '='")))?;
        let ty = match name.trim().to_ascii_uppercase().as_str() {
            "C" => DnType::CountryName,
            "ST" => DnType::StateOrProvinceName,
            "L" => DnType::LocalityName,
            "O" => DnType::OrganizationName,
            "OU" => DnType::OrganizationalUnitName,
            "CN" => DnType::CommonName,
            other => {
                return Err(KeyError::Certificate(format!(
                    "subject attribute {other} is not supported"
                )));
            }
        };
        dn.push(ty, value.trim());
    }
    if dn.iter().next().is_none() {
        return Err(KeyError::Certificate("empty subject".into()));
    }
    Ok(dn)
}

/// rcgen's view of a [`KeySource`]: signs certificates with it (on the token for PKCS#11).
struct Signer<'a>(&'a dyn KeySource);

fn rcgen_algorithm(kind: KeyKind) -> &'static rcgen::SignatureAlgorithm {
    match kind {
        KeyKind::EcP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyKind::EcP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyKind::EcP521 => &rcgen::PKCS_ECDSA_P521_SHA512,
        KeyKind::Rsa { bits } if bits >= 4096 => &rcgen::PKCS_RSA_SHA512,
        KeyKind::Rsa { bits } if bits >= 3072 => &rcgen::PKCS_RSA_SHA384,
        KeyKind::Rsa { .. } => &rcgen::PKCS_RSA_SHA256,
        KeyKind::Ed25519 => &rcgen::PKCS_ED25519,
    }
}

fn x509_signature_algorithm(kind: KeyKind) -> SignatureAlgorithm {
    match kind {
        KeyKind::Rsa { bits } if bits >= 4096 => SignatureAlgorithm::RsaPkcs1Sha512,
        KeyKind::Rsa { bits } if bits >= 3072 => SignatureAlgorithm::RsaPkcs1Sha384,
        other => SignatureAlgorithm::sigstore_for(other),
    }
}

impl PublicKeyData for Signer<'_> {
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.0.public_key().spki_der().to_vec()
    }
    fn der_bytes(&self) -> &[u8] {
        self.0.public_key().raw()
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        rcgen_algorithm(self.0.public_key().kind())
    }
}

impl SigningKey for Signer<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let kind = self.0.public_key().kind();
        let signature = self
            .0
            .sign(x509_signature_algorithm(kind), msg)
            .map_err(|_| rcgen::Error::RemoteKeyError)?;
        Ok(match kind {
            KeyKind::EcP256 | KeyKind::EcP384 | KeyKind::EcP521 => ecdsa_fixed_to_der(&signature),
            _ => signature,
        })
    }
}

/// The subject key of a certificate an issuer signs.
struct Subject<'a>(&'a PublicKey);

impl PublicKeyData for Subject<'_> {
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.0.spki_der().to_vec()
    }
    fn der_bytes(&self) -> &[u8] {
        self.0.raw()
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        rcgen_algorithm(self.0.kind())
    }
}

fn cert_error(e: rcgen::Error) -> KeyError {
    KeyError::Certificate(e.to_string())
}

/// A self-signed certificate (DER) for `key`.
pub fn self_signed_certificate(
    key: &dyn KeySource,
    request: &CertificateRequest,
) -> Result<Vec<u8>, KeyError> {
    let params = request.params()?;
    let cert = params.self_signed(&Signer(key)).map_err(cert_error)?;
    Ok(cert.der().to_vec())
}

/// A certificate authority for tests and small deployments: a key, its certificate, and the
/// chain above it (empty for a root).
pub struct TestCa {
    key: Box<dyn KeySource>,
    cert_der: Vec<u8>,
    chain_above: Vec<Vec<u8>>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestCa({})", self.key.describe())
    }
}

impl TestCa {
    /// A self-signed root CA with a fresh key of `kind`.
    pub fn root(kind: KeyKind, subject: &str, days: i64) -> Result<TestCa, KeyError> {
        let key = generate_key(kind)?.key;
        TestCa::root_with_key(
            Box::new(key),
            &CertificateRequest::new(subject, CertificateProfile::Ca, days),
        )
    }

    /// A self-signed root CA for an existing key.
    pub fn root_with_key(
        key: Box<dyn KeySource>,
        request: &CertificateRequest,
    ) -> Result<TestCa, KeyError> {
        let params = request.params()?;
        let cert_der = params
            .self_signed(&Signer(key.as_ref()))
            .map_err(cert_error)?
            .der()
            .to_vec();
        Ok(TestCa {
            key,
            cert_der,
            chain_above: Vec::new(),
        })
    }

    /// A CA from its key and its chain (its own certificate first).
    pub fn load(key: Box<dyn KeySource>, chain: Vec<Vec<u8>>) -> Result<TestCa, KeyError> {
        let mut chain = chain.into_iter();
        let cert_der = chain
            .next()
            .ok_or_else(|| KeyError::Certificate("empty CA chain".into()))?;
        let cert = zoll_der::Certificate::from_der(&cert_der)
            .map_err(|e| KeyError::Certificate(format!("CA certificate: {e}")))?;
        if cert.public_key.spki() != key.public_key().spki_der() {
            return Err(KeyError::Certificate(
                "the CA key does not match the CA certificate".into(),
            ));
        }
        Ok(TestCa {
            key,
            cert_der,
            chain_above: chain.collect(),
        })
    }

    /// An intermediate CA below this one, with a fresh key of `kind`.
    pub fn intermediate(
        &self,
        kind: KeyKind,
        subject: &str,
        days: i64,
    ) -> Result<TestCa, KeyError> {
        let key = generate_key(kind)?.key;
        let request = CertificateRequest::new(subject, CertificateProfile::Ca, days);
        let cert_der = self.issue(key.public_key(), &request)?;
        let mut chain_above = vec![self.cert_der.clone()];
        chain_above.extend(self.chain_above.iter().cloned());
        Ok(TestCa {
            key: Box::new(key),
            cert_der,
            chain_above,
        })
    }

    /// Issues a certificate for `subject_key`.
    pub fn issue(
        &self,
        subject_key: &PublicKey,
        request: &CertificateRequest,
    ) -> Result<Vec<u8>, KeyError> {
        let issuer =
            Issuer::from_ca_cert_der(&self.cert_der.as_slice().into(), Signer(self.key.as_ref()))
                .map_err(cert_error)?;
        let cert = request
            .params()?
            .signed_by(&Subject(subject_key), &issuer)
            .map_err(cert_error)?;
        Ok(cert.der().to_vec())
    }

    /// Issues a certificate and returns the whole chain, leaf first, root last.
    pub fn issue_chain(
        &self,
        subject_key: &PublicKey,
        request: &CertificateRequest,
    ) -> Result<Vec<Vec<u8>>, KeyError> {
        let mut chain = vec![self.issue(subject_key, request)?];
        chain.extend(self.chain());
        Ok(chain)
    }

    /// This CA's certificate followed by the ones above it.
    pub fn chain(&self) -> Vec<Vec<u8>> {
        let mut chain = vec![self.cert_der.clone()];
        chain.extend(self.chain_above.iter().cloned());
        chain
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub fn key(&self) -> &dyn KeySource {
        self.key.as_ref()
    }
}

/// PEM text of DER certificates, in order.
pub fn certificates_to_pem(chain: &[Vec<u8>]) -> String {
    chain
        .iter()
        .map(|der| zoll_der::pem::encode("CERTIFICATE", der))
        .collect()
}
