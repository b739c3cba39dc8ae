//! Keys on a PKCS#11 token through `cryptoki`. The private key never leaves the token: zoll
//! hashes the message itself and asks the token for the raw operation (`CKM_ECDSA` over the
//! hash, `CKM_RSA_PKCS_PSS` over the hash, `CKM_RSA_PKCS` over a DigestInfo), which every
//! token supports, SoftHSM2 included (it has no `CKM_ECDSA_SHA256`).

use std::path::PathBuf;
use std::sync::Mutex;

use cryptoki::context::Pkcs11;
use cryptoki::error::Error as CkError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use super::{
    check_fits, HashAlgorithm, KeyError, KeyKind, KeySource, Pkcs11Uri, PublicKey,
    SignatureAlgorithm,
};
use crate::encoding::{der_sequence, der_tlv, der_uint};

/// The module loaded when the URI names none: Debian's SoftHSM2.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

fn module_error(e: zoll_pkcs11::Error) -> KeyError {
    match e {
        zoll_pkcs11::Error::Call { function, error } => ck(function, error),
        other => KeyError::Pkcs11(other.to_string()),
    }
}

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
    pub fn open(uri: &Pkcs11Uri) -> Result<Pkcs11Key, KeyError> {
        let module = uri
            .module_path
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MODULE));
        let ctx = zoll_pkcs11::module(&module).map_err(module_error)?;
        let slot = find_slot(&ctx, uri)?;
        let session = ctx
            .open_ro_session(slot)
            .map_err(|e| ck("C_OpenSession", e))?;
        if let Some(pin) = &uri.pin {
            let pin = pin.read()?;
            zoll_pkcs11::login(&module, slot, &session, &pin).map_err(module_error)?;
        }
        let key = find_one(&session, ObjectClass::PRIVATE_KEY, uri)?;
        let public = public_key(&session, key, uri)?;
        let mut label = String::from("pkcs11:");
        if let Some(t) = &uri.token {
            label.push_str(&format!("token={t};"));
        }
        if let Some(o) = &uri.object {
            label.push_str(&format!("object={o}"));
        } else if let Some(id) = &uri.id {
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

fn find_slot(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<cryptoki::slot::Slot, KeyError> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| ck("C_GetSlotList", e))?;
    let mut found = Vec::new();
    for slot in slots {
        if uri.slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        let info = ctx
            .get_token_info(slot)
            .map_err(|e| ck("C_GetTokenInfo", e))?;
        let matches = |want: &Option<String>, have: &str| {
            want.as_deref().is_none_or(|w| w == have.trim_end())
        };
        if matches(&uri.token, info.label())
            && matches(&uri.manufacturer, info.manufacturer_id())
            && matches(&uri.serial, info.serial_number())
            && matches(&uri.model, info.model())
        {
            found.push(slot);
        }
    }
    match found.len() {
        1 => Ok(found[0]),
        0 => Err(KeyError::Pkcs11("no token matches the URI".into())),
        n => Err(KeyError::Pkcs11(format!(
            "{n} tokens match the URI: add token= or slot-id="
        ))),
    }
}

fn find_one(
    session: &Session,
    class: ObjectClass,
    uri: &Pkcs11Uri,
) -> Result<ObjectHandle, KeyError> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(o) = &uri.object {
        template.push(Attribute::Label(o.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    let found = session
        .find_objects(&template)
        .map_err(|e| ck("C_FindObjects", e))?;
    let what = if class == ObjectClass::PRIVATE_KEY {
        "private key"
    } else {
        "public key"
    };
    match found.len() {
        1 => Ok(found[0]),
        0 => Err(KeyError::Pkcs11(format!(
            "no {what} matches the URI (is the PIN given, with pin-value= or pin-source=?)"
        ))),
        n => Err(KeyError::Pkcs11(format!(
            "{n} objects match the URI: add id= or object="
        ))),
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
    let public = find_one(session, ObjectClass::PUBLIC_KEY, uri)?;
    let spki = match key_type {
        Some(KeyType::EC) => {
            let attrs = session
                .get_attributes(public, &[AttributeType::EcParams, AttributeType::EcPoint])
                .map_err(|e| ck("C_GetAttributeValue", e))?;
            let (mut params, mut point) = (None, None);
            for a in attrs {
                match a {
                    Attribute::EcParams(p) => params = Some(p),
                    Attribute::EcPoint(p) => point = Some(p),
                    _ => {}
                }
            }
            let (params, point) = params.zip(point).ok_or_else(|| {
                KeyError::Pkcs11("EC public key lacks CKA_EC_PARAMS/CKA_EC_POINT".into())
            })?;
            // CKA_EC_POINT is a DER OCTET STRING around the point (some tokens give it bare).
            let point = match crate::encoding::der_read(&point) {
                Some((0x04, inner, [])) if inner.first() == Some(&0x04) => inner.to_vec(),
                _ => point,
            };
            let oid_ec = der_tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]);
            let algorithm = der_sequence(&[&oid_ec, &params]);
            der_sequence(&[&algorithm, &bit_string(&point)])
        }
        Some(KeyType::RSA) => {
            let attrs = session
                .get_attributes(
                    public,
                    &[AttributeType::Modulus, AttributeType::PublicExponent],
                )
                .map_err(|e| ck("C_GetAttributeValue", e))?;
            let (mut n, mut e) = (None, None);
            for a in attrs {
                match a {
                    Attribute::Modulus(m) => n = Some(m),
                    Attribute::PublicExponent(x) => e = Some(x),
                    _ => {}
                }
            }
            let (n, e) = n
                .zip(e)
                .ok_or_else(|| KeyError::Pkcs11("RSA public key lacks modulus/exponent".into()))?;
            let rsa_public = der_sequence(&[&der_uint(&n), &der_uint(&e)]);
            let oid_rsa = der_tlv(
                0x06,
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
            );
            let algorithm = der_sequence(&[&oid_rsa, &[0x05, 0x00]]);
            der_sequence(&[&algorithm, &bit_string(&rsa_public)])
        }
        other => {
            return Err(KeyError::UnsupportedKey(format!(
                "token key type {other:?}"
            )))
        }
    };
    PublicKey::from_spki_der(&spki)
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = vec![0u8];
    content.extend_from_slice(bytes);
    der_tlv(0x03, &content)
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
