//! Keys on a PKCS#11 token through `cryptoki`. The private key never leaves the token: zoll
//! hashes the message itself and asks the token for the raw operation (`CKM_ECDSA` over the
//! hash, `CKM_RSA_PKCS_PSS` over the hash, `CKM_RSA_PKCS` over a DigestInfo), which every
//! token supports, SoftHSM2 included (it has no `CKM_ECDSA_SHA256`).

use std::path::PathBuf;
use std::sync::Mutex;

use cryptoki::error::Error as CkError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use zoll_pkcs11::ObjectType;

use super::{
    HashAlgorithm, KeyError, KeyKind, KeySource, Pkcs11Uri, PublicKey, SignatureAlgorithm,
    check_fits,
};

/// The module loaded when the URI names none: Debian's SoftHSM2.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

fn ck(what: &str, e: CkError) -> KeyError {
    KeyError::Pkcs11(format!("{what}: {e}"))
}

/// A private key on a token, with a logged-in session. Signing is serialized on the session
/// (PKCS#11 sessions are single-threaded); open one key per thread for parallel signing.
pub struct Pkcs11Key {
    label: String,
    session: Mutex<Session>,
    key: ObjectHandle,
    public: PublicKey,
}

impl std::fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pkcs11Key({})", self.label)
    }
}

impl Pkcs11Key {
    /// Opens the private key the URI names. A signing key URI names a private key: any
    /// other `type=` is refused here (the grammar itself allows every type).
    pub fn open(uri: &Pkcs11Uri) -> Result<Pkcs11Key, KeyError> {
        if let Some(other) = uri.object_type().filter(|t| *t != ObjectType::Private) {
            return Err(KeyError::Pkcs11Uri(format!(
                "type={}: a signing key URI names the private key",
                other.name()
            )));
        }
        let module = uri
            .module()?
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MODULE));
        let pin = uri.pin()?;
        let session = zoll_pkcs11::open_session(uri, &module, pin.as_deref().map(String::as_str))?;
        let key = zoll_pkcs11::find_key(&session, uri, ObjectClass::PRIVATE_KEY)?;
        let public = public_key(&session, key, uri)?;
        let mut label = String::from("pkcs11:");
        if let Some(t) = uri.token() {
            label.push_str(&format!("token={t};"));
        }
        if let Some(o) = uri.object() {
            label.push_str(&format!("object={o}"));
        } else if let Some(id) = uri.id() {
            label.push_str(&format!("id={}", zoll_stdx::hex::encode(id)));
        }
        Ok(Pkcs11Key {
            label,
            session: Mutex::new(session),
            key,
            public,
        })
    }
}

/// Reads the public key from the token's public key object with the same label/id.
fn public_key(
    session: &Session,
    private: ObjectHandle,
    uri: &Pkcs11Uri,
) -> Result<PublicKey, KeyError> {
    let attrs = session
        .get_attributes(private, &[AttributeType::KeyType])
        .map_err(|e| ck("C_GetAttributeValue", e))?;
    let key_type = attrs.iter().find_map(|a| match a {
        Attribute::KeyType(t) => Some(*t),
        _ => None,
    });
    let public = zoll_pkcs11::find_key(session, uri, ObjectClass::PUBLIC_KEY)?;
    let key = match key_type {
        Some(KeyType::EC) => {
            let (params, point) = zoll_pkcs11::ec_public_components(session, public)?;
            zoll_der::PublicKey::from_ec_components(&params, &point)?
        }
        Some(KeyType::RSA) => {
            let (n, e) = zoll_pkcs11::rsa_public_components(session, public)?;
            zoll_der::PublicKey::from_rsa_components(&n, &e)?
        }
        other => {
            return Err(KeyError::UnsupportedKey(format!(
                "token key type {other:?}"
            )));
        }
    };
    PublicKey::from_der_key(key)
}

/// DER DigestInfo prefixes (RFC 8017 §9.2 note 1) for CKM_RSA_PKCS.
fn digest_info_prefix(hash: HashAlgorithm) -> &'static [u8] {
    match hash {
        HashAlgorithm::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        HashAlgorithm::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        HashAlgorithm::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    }
}

impl KeySource for Pkcs11Key {
    fn describe(&self) -> String {
        format!("{} ({})", self.label, self.public.kind())
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, algorithm: SignatureAlgorithm, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        check_fits(self.public.kind(), algorithm)?;
        let hash = algorithm.hash().ok_or(KeyError::AlgorithmMismatch {
            kind: self.public.kind(),
            algorithm,
        })?;
        let digest = hash.digest(message);
        let (mech_hash, mgf) = match hash {
            HashAlgorithm::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
            HashAlgorithm::Sha384 => (MechanismType::SHA384, PkcsMgfType::MGF1_SHA384),
            HashAlgorithm::Sha512 => (MechanismType::SHA512, PkcsMgfType::MGF1_SHA512),
        };
        let session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let sign = |mech: &Mechanism, data: &[u8]| {
            session
                .sign(mech, self.key, data)
                .map_err(|e| ck("C_Sign", e))
        };
        match self.public.kind() {
            KeyKind::EcP256 | KeyKind::EcP384 | KeyKind::EcP521 => sign(&Mechanism::Ecdsa, &digest),
            KeyKind::Rsa { .. } => match algorithm {
                SignatureAlgorithm::RsaPssSha256
                | SignatureAlgorithm::RsaPssSha384
                | SignatureAlgorithm::RsaPssSha512 => {
                    let params = PkcsPssParams {
                        hash_alg: mech_hash,
                        mgf,
                        s_len: (hash.output_len() as u64).into(),
                    };
                    sign(&Mechanism::RsaPkcsPss(params), &digest)
                }
                _ => sign(
                    &Mechanism::RsaPkcs,
                    &[digest_info_prefix(hash), &digest].concat(),
                ),
            },
            KeyKind::Ed25519 => Err(KeyError::UnsupportedKey(
                "Ed25519 keys on tokens are not supported".into(),
            )),
        }
    }
}
