//! Public keys, private keys and certificates from the files people have: PEM or DER,
//! SubjectPublicKeyInfo, PKCS#1, SEC1, PKCS#8 (password-protected too) and X.509. Parsing
//! only: what comes out is DER that aws-lc-rs takes as it is (PKCS#8 for RSA and Ed25519,
//! PKCS#8 or SEC1 for EC), and each user builds the key objects its operations need.

use x509_parser::oid_registry::Oid;
use zeroize::Zeroizing;

use crate::der::{self, Reader, oid};
use crate::error::{Error, Result, malformed, unsupported};
use crate::pem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub fn from_oid(oid_content: &[u8]) -> Option<Curve> {
        match oid_content {
            oid::P256 => Some(Curve::P256),
            oid::P384 => Some(Curve::P384),
            oid::P521 => Some(Curve::P521),
            _ => None,
        }
    }

    pub fn oid(self) -> &'static [u8] {
        match self {
            Curve::P256 => oid::P256,
            Curve::P384 => oid::P384,
            Curve::P521 => oid::P521,
        }
    }

    /// Bytes of one field element (a coordinate, and each half of a fixed ECDSA signature).
    pub fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

/// What kind of key: RSA with its modulus size, EC with its curve, or Ed25519.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Rsa { bits: u32 },
    Ec(Curve),
    Ed25519,
}

impl Algorithm {
    /// The algorithm an AlgorithmIdentifier names (SPKI and PKCS#8 share them); an RSA key's
    /// size is in the key itself, which `rsa_bits` reads.
    fn identify(
        alg: &[u8],
        params: Option<der::Tlv<'_>>,
        rsa_bits: impl FnOnce() -> Result<u32>,
    ) -> Result<Algorithm> {
        match alg {
            oid::RSA_ENCRYPTION => Ok(Algorithm::Rsa { bits: rsa_bits()? }),
            oid::EC_PUBLIC_KEY => params
                .filter(|p| p.tag == der::OID)
                .and_then(|p| Curve::from_oid(p.content))
                .map(Algorithm::Ec)
                .ok_or_else(|| unsupported("EC key on a curve other than P-256/384/521")),
            oid::ED25519 => Ok(Algorithm::Ed25519),
            other => Err(unsupported(format!("key algorithm {}", dotted(other)))),
        }
    }
}

/// A public key: its SubjectPublicKeyInfo DER and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    algorithm: Algorithm,
    spki: Vec<u8>,
    /// Offset of the subjectPublicKey bits in `spki`.
    key_at: usize,
}

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo (nothing may follow it).
    pub fn from_spki(spki: &[u8]) -> Result<PublicKey> {
        const WHAT: &str = "SubjectPublicKeyInfo";
        let mut s = der::single(spki, der::SEQUENCE, WHAT)?;
        let (alg, params) = der::algorithm_identifier(&mut s)?;
        let key = der::octet_aligned_bits(s.expect(der::BIT_STRING)?, WHAT)?;
        s.finish()?;
        let algorithm = Algorithm::identify(alg, params, || {
            let mut k = der::single(key, der::SEQUENCE, "RSA public key")?;
            let n = k.expect(der::INTEGER)?;
            k.expect(der::INTEGER)?;
            k.finish()?;
            Ok(bit_len(n))
        })?;
        Ok(PublicKey {
            algorithm,
            spki: spki.to_vec(),
            key_at: spki.len() - key.len(),
        })
    }

    /// Wraps a PKCS#1 `RSAPublicKey` (PEM `RSA PUBLIC KEY`) into a SubjectPublicKeyInfo.
    pub fn from_pkcs1_rsa(pkcs1: &[u8]) -> Result<PublicKey> {
        PublicKey::from_spki(&der::sequence(&[&rsa_algorithm(), &der::bit_string(pkcs1)]))
    }

    /// Builds an RSA key from its modulus and public exponent (unsigned big-endian), as a
    /// PKCS#11 token hands them out.
    pub fn from_rsa_components(n: &[u8], e: &[u8]) -> Result<PublicKey> {
        PublicKey::from_pkcs1_rsa(&der::sequence(&[&der::uint(n), &der::uint(e)]))
    }

    /// Builds an EC key from its curve parameters (DER, as `CKA_EC_PARAMS` holds them) and
    /// its point, bare or wrapped in the OCTET STRING `CKA_EC_POINT` is meant to be.
    pub fn from_ec_components(params: &[u8], point: &[u8]) -> Result<PublicKey> {
        let mut r = Reader::new(point, "EC point");
        let point = match r.read() {
            Ok(t)
                if t.tag == der::OCTET_STRING && r.is_empty() && t.content.first() == Some(&4) =>
            {
                t.content
            }
            _ => point,
        };
        let algorithm = der::sequence(&[&der::tlv(der::OID, oid::EC_PUBLIC_KEY), params]);
        PublicKey::from_spki(&der::sequence(&[&algorithm, &der::bit_string(point)]))
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// The subjectPublicKey bits: a PKCS#1 RSAPublicKey, an EC point or 32 Ed25519 bytes.
    pub fn key(&self) -> &[u8] {
        &self.spki[self.key_at..]
    }

    /// An RSA key's modulus and public exponent, without DER's sign padding.
    pub fn rsa_components(&self) -> Option<(&[u8], &[u8])> {
        let Algorithm::Rsa { .. } = self.algorithm else {
            return None;
        };
        // from_spki read this very structure.
        let mut k = Reader::new(self.key(), "RSA public key")
            .nested(der::SEQUENCE)
            .ok()?;
        let n = k.expect(der::INTEGER).ok()?;
        let e = k.expect(der::INTEGER).ok()?;
        Some((der::unsigned(n), der::unsigned(e)))
    }
}

fn rsa_algorithm() -> Vec<u8> {
    der::algorithm(oid::RSA_ENCRYPTION, Some(&der::tlv(der::NULL, &[])))
}

/// Number of significant bits of a big-endian unsigned integer.
fn bit_len(bytes: &[u8]) -> u32 {
    match bytes.iter().position(|b| *b != 0) {
        Some(i) => (bytes.len() - i - 1) as u32 * 8 + (8 - bytes[i].leading_zeros()),
        None => 0,
    }
}

/// An OID's dotted form for messages.
fn dotted(oid_content: &[u8]) -> String {
    Oid::new(oid_content.into()).to_id_string()
}

/// The parts of an X.509 certificate that key users need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub der: Vec<u8>,
    /// The issuer Name, as encoded in the certificate.
    pub issuer: Vec<u8>,
    /// The serial number INTEGER content.
    pub serial: Vec<u8>,
    pub public_key: PublicKey,
}

impl Certificate {
    /// Parses one DER certificate with x509-parser.
    pub fn from_der(cert_der: &[u8]) -> Result<Certificate> {
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
            .map_err(|e| malformed("certificate", e.to_string()))?;
        let tbs = &cert.tbs_certificate;
        Ok(Certificate {
            der: cert.as_raw().to_vec(),
            issuer: tbs.issuer.as_raw().to_vec(),
            serial: tbs.raw_serial().to_vec(),
            public_key: PublicKey::from_spki(tbs.subject_pki.raw)?,
        })
    }
}

/// Reads a public key from PEM (`PUBLIC KEY`, `RSA PUBLIC KEY` or `CERTIFICATE`, the first
/// of them counts) or from SubjectPublicKeyInfo DER.
pub fn public_key(bytes: &[u8]) -> Result<PublicKey> {
    let blocks = pem::blocks(bytes)?;
    if blocks.is_empty() {
        return PublicKey::from_spki(bytes);
    }
    for block in blocks {
        match block.label.as_str() {
            "PUBLIC KEY" => return PublicKey::from_spki(&block.der),
            "RSA PUBLIC KEY" => return PublicKey::from_pkcs1_rsa(&block.der),
            "CERTIFICATE" => return Certificate::from_der(&block.der).map(|c| c.public_key),
            _ => continue,
        }
    }
    Err(unsupported("no public key or certificate in the file"))
}

/// Reads the first certificate of a PEM file, or a DER certificate.
pub fn certificate(bytes: &[u8]) -> Result<Certificate> {
    let blocks = pem::blocks(bytes)?;
    if blocks.is_empty() {
        return Certificate::from_der(bytes);
    }
    let block = blocks
        .into_iter()
        .find(|b| b.label == "CERTIFICATE")
        .ok_or_else(|| unsupported("no CERTIFICATE block"))?;
    Certificate::from_der(&block.der)
}

/// The DER of every `CERTIFICATE` block, in order; at least one.
pub fn certificate_chain(text: &[u8]) -> Result<Vec<Vec<u8>>> {
    let certs: Vec<Vec<u8>> = pem::blocks(text)?
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| b.der)
        .collect();
    if certs.is_empty() {
        return Err(unsupported("no CERTIFICATE block found"));
    }
    Ok(certs)
}

/// Whether the file holds a PEM certificate.
pub fn is_certificate(bytes: &[u8]) -> bool {
    has_label(bytes, |l| l == "CERTIFICATE")
}

/// Whether the file holds a PEM private key (by its label, without decrypting it).
pub fn is_private_key(bytes: &[u8]) -> bool {
    has_label(bytes, |l| l.ends_with("PRIVATE KEY"))
}

fn has_label(bytes: &[u8], want: impl Fn(&str) -> bool) -> bool {
    pem::blocks(bytes).is_ok_and(|b| b.iter().any(|b| want(&b.label)))
}

/// A private key as DER that aws-lc-rs reads: PKCS#8 for RSA and Ed25519, PKCS#8 or SEC1
/// (RFC 5915) for EC. The bytes are wiped when it is dropped.
#[derive(Clone)]
pub struct PrivateKey {
    algorithm: Algorithm,
    der: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({:?}, ..)", self.algorithm)
    }
}

impl PrivateKey {
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Reads a PKCS#8 `PrivateKeyInfo` (v1, or v2 with the public key beside it).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<PrivateKey> {
        const WHAT: &str = "private key";
        let mut s = der::single(pkcs8, der::SEQUENCE, WHAT)?;
        s.expect(der::INTEGER)?;
        let (alg, params) = der::algorithm_identifier(&mut s)?;
        let inner = s.expect(der::OCTET_STRING)?;
        let algorithm = Algorithm::identify(alg, params, || rsa_private_bits(inner))?;
        Ok(PrivateKey {
            algorithm,
            der: Zeroizing::new(pkcs8.to_vec()),
        })
    }

    /// Reads a SEC1 `ECPrivateKey` (PEM `EC PRIVATE KEY`); the curve must be named in it.
    pub fn from_sec1(sec1: &[u8]) -> Result<PrivateKey> {
        let mut s = der::single(sec1, der::SEQUENCE, "EC private key")?;
        s.expect(der::INTEGER)?;
        s.expect(der::OCTET_STRING)?;
        let curve = s
            .optional(der::context(0, true))?
            .and_then(|p| Reader::new(p, "EC parameters").expect(der::OID).ok())
            .and_then(Curve::from_oid)
            .ok_or_else(|| unsupported("EC key without a P-256/384/521 named curve"))?;
        Ok(PrivateKey {
            algorithm: Algorithm::Ec(curve),
            der: Zeroizing::new(sec1.to_vec()),
        })
    }

    /// Reads a PKCS#1 `RSAPrivateKey` (PEM `RSA PRIVATE KEY`), kept as PKCS#8.
    pub fn from_pkcs1_rsa(pkcs1: &[u8]) -> Result<PrivateKey> {
        let bits = rsa_private_bits(pkcs1)?;
        let pkcs8 = Zeroizing::new(der::sequence(&[
            &der::small_integer(0),
            &rsa_algorithm(),
            &der::tlv(der::OCTET_STRING, pkcs1),
        ]));
        Ok(PrivateKey {
            algorithm: Algorithm::Rsa { bits },
            der: pkcs8,
        })
    }

    /// Decrypts a PKCS#8 `EncryptedPrivateKeyInfo` and reads what is inside.
    pub fn from_encrypted_pkcs8(epki: &[u8], password: &[u8]) -> Result<PrivateKey> {
        let pkcs8 = crate::pbes2::decrypt(epki, password)?;
        // CBC padding that checks out by chance (about 1 in 256 wrong passwords) leaves
        // bytes that are no key: that is a wrong password too, not a malformed file.
        PrivateKey::from_pkcs8(&pkcs8).map_err(|_| Error::WrongPassword)
    }
}

/// The modulus size of a PKCS#1 RSAPrivateKey.
fn rsa_private_bits(pkcs1: &[u8]) -> Result<u32> {
    let mut k = der::single(pkcs1, der::SEQUENCE, "RSA private key")?;
    k.expect(der::INTEGER)?;
    Ok(bit_len(k.expect(der::INTEGER)?))
}

/// Reads a private key: the first PEM `PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY` or
/// `ENCRYPTED PRIVATE KEY` (opened with `password`) block, or PKCS#8 DER. Other blocks (a
/// certificate beside the key) are passed over.
pub fn private_key(bytes: &[u8], password: Option<&[u8]>) -> Result<PrivateKey> {
    let blocks = pem::blocks(bytes)?;
    if blocks.is_empty() {
        return PrivateKey::from_pkcs8(bytes);
    }
    for block in blocks {
        let der = Zeroizing::new(block.der);
        return match block.label.as_str() {
            "PRIVATE KEY" => PrivateKey::from_pkcs8(&der),
            "RSA PRIVATE KEY" => PrivateKey::from_pkcs1_rsa(&der),
            "EC PRIVATE KEY" => PrivateKey::from_sec1(&der),
            "ENCRYPTED PRIVATE KEY" => match password {
                Some(password) => PrivateKey::from_encrypted_pkcs8(&der, password),
                None => Err(Error::PasswordRequired),
            },
            _ => continue,
        };
    }
    Err(unsupported("no private key in the file"))
}
