//! RSA-OAEP inside a PKCS#11 token through `cryptoki`. The private key never leaves the
//! token. Modules are loaded and tokens logged in to through `zoll_pkcs11`, once per
//! process for both signing and decryption. A key file's `module.env` is not applied here: changing
//! the environment while threads run is unsound, so it must already be the process's
//! environment (the `zoll` binary applies it at start, before any thread exists); a
//! mismatch is an error that says so.

use std::collections::BTreeMap;

use cryptoki::context::{Function, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use super::uri::Pkcs11Uri;
use super::OaepHash;
use crate::error::{CryptError, Result};

fn p11(what: &str, e: CkError) -> CryptError {
    let reason = match &e {
        CkError::Pkcs11(rv, function) => format!("{function:?} returned {rv:?}"),
        other => format!("{other:?}"),
    };
    CryptError::Pkcs11(format!("{what}: {reason}"))
}

/// Variables of `env` whose value in this process differs: `(name, wanted, have)`.
pub fn env_mismatches(env: &BTreeMap<String, String>) -> Vec<(String, String, Option<String>)> {
    env.iter()
        .filter_map(|(k, v)| {
            let have = std::env::var(k).ok();
            (have.as_deref() != Some(v.as_str())).then(|| (k.clone(), v.clone(), have))
        })
        .collect()
}

fn module_error(e: zoll_pkcs11::Error) -> CryptError {
    match e {
        zoll_pkcs11::Error::Call { function, error } => p11(function, error),
        other => CryptError::Pkcs11(other.to_string()),
    }
}

/// Runs `f` with a logged-in session on the token the URI names.
fn with_session<T>(
    uri: &Pkcs11Uri,
    login: bool,
    f: impl FnOnce(&Session) -> Result<T>,
) -> Result<T> {
    if let Some((k, v, have)) = env_mismatches(&uri.env).into_iter().next() {
        return Err(CryptError::Pkcs11(format!(
            "the key file sets {k}={v} for the PKCS#11 module, but this process has {k}={}: \
             set it in the environment before zoll starts",
            have.unwrap_or_else(|| "(unset)".into())
        )));
    }
    let module_path = uri.module()?;
    let ctx = zoll_pkcs11::module(&module_path).map_err(module_error)?;
    let slot = find_slot(&ctx, uri)?;
    let session = ctx
        .open_ro_session(slot)
        .map_err(|e| p11("C_OpenSession", e))?;
    if login {
        let pin = uri.pin()?.ok_or_else(|| {
            CryptError::Pkcs11("the key's URI has no PIN (pin-value= or pin-source=)".into())
        })?;
        zoll_pkcs11::login(&module_path, slot, &session, &pin).map_err(module_error)?;
    }
    f(&session)
}

fn find_slot(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<cryptoki::slot::Slot> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| p11("C_GetSlotList", e))?;
    if let Some(id) = uri.path_str("slot-id") {
        let id: u64 = id
            .parse()
            .map_err(|_| CryptError::Pkcs11(format!("slot-id {id:?} is not a number")))?;
        return slots
            .into_iter()
            .find(|s| s.id() == id)
            .ok_or_else(|| CryptError::Pkcs11(format!("no token in slot {id}")));
    }
    let want = |attr: &str, have: &str| uri.path_str(attr).is_none_or(|w| w.trim() == have.trim());
    for slot in slots {
        let info = ctx
            .get_token_info(slot)
            .map_err(|e| p11("C_GetTokenInfo", e))?;
        if want("token", info.label())
            && want("serial", info.serial_number())
            && want("manufacturer", info.manufacturer_id())
            && want("model", info.model())
        {
            return Ok(slot);
        }
    }
    Err(CryptError::Pkcs11(format!(
        "no token matches {:?}",
        uri.path_str("token").unwrap_or_default()
    )))
}

fn find_key(session: &Session, uri: &Pkcs11Uri, class: ObjectClass) -> Result<ObjectHandle> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = uri.path.get("object") {
        template.push(Attribute::Label(label.clone()));
    }
    if let Some(id) = uri.path.get("id") {
        template.push(Attribute::Id(id.clone()));
    }
    let found = session
        .find_objects(&template)
        .map_err(|e| p11("C_FindObjects", e))?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(CryptError::Pkcs11(format!(
            "no {} key {:?} on the token",
            if class == ObjectClass::PRIVATE_KEY {
                "private"
            } else {
                "public"
            },
            uri.path_str("object").unwrap_or_default()
        ))),
        many => Err(CryptError::Pkcs11(format!(
            "{} keys match the URI",
            many.len()
        ))),
    }
}

fn mechanism(hash: OaepHash) -> Mechanism<'static> {
    let (alg, mgf) = match hash {
        OaepHash::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
        OaepHash::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
    };
    Mechanism::RsaPkcsOaep(PkcsOaepParams::new(alg, mgf, PkcsOaepSource::empty()))
}

/// Whether the token refused the OAEP parameters themselves (SoftHSM 2.6: anything but
/// SHA-1), as opposed to refusing this ciphertext.
fn refused_mechanism(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::ArgumentsBad | RvError::MechanismInvalid | RvError::MechanismParamInvalid,
            Function::EncryptInit | Function::DecryptInit
        )
    )
}

fn mechanism_refused(hash: OaepHash) -> CryptError {
    CryptError::Pkcs11(format!(
        "the token does not support RSA-OAEP with {} (SoftHSM 2.6 supports only SHA-1); \
         encrypt with --pkcs11-oaep-hash sha1 (OCICRYPT_OAEP_HASHALG=sha1)",
        hash.name()
    ))
}

/// The public key's modulus and exponent (big-endian).
pub fn public_components(uri: &Pkcs11Uri) -> Result<(Vec<u8>, Vec<u8>)> {
    with_session(uri, false, |s| {
        let key = find_key(s, uri, ObjectClass::PUBLIC_KEY)?;
        let attrs = s
            .get_attributes(
                key,
                &[AttributeType::Modulus, AttributeType::PublicExponent],
            )
            .map_err(|e| p11("C_GetAttributeValue", e))?;
        let (mut n, mut e) = (None, None);
        for a in attrs {
            match a {
                Attribute::Modulus(v) => n = Some(v),
                Attribute::PublicExponent(v) => e = Some(v),
                _ => {}
            }
        }
        match (n, e) {
            (Some(n), Some(e)) => Ok((n, e)),
            _ => Err(CryptError::Pkcs11(
                "the public key is not an RSA key".into(),
            )),
        }
    })
}

/// RSA-OAEP encryption with the token's public key object.
pub fn encrypt(uri: &Pkcs11Uri, hash: OaepHash, plaintext: &[u8]) -> Result<Vec<u8>> {
    with_session(uri, false, |s| {
        let key = find_key(s, uri, ObjectClass::PUBLIC_KEY)?;
        s.encrypt(&mechanism(hash), key, plaintext).map_err(|e| {
            if refused_mechanism(&e) {
                mechanism_refused(hash)
            } else {
                p11("C_Encrypt", e)
            }
        })
    })
}

/// RSA-OAEP decryption inside the token. `Ok(None)`: this key does not open this blob.
pub fn decrypt(uri: &Pkcs11Uri, hash: OaepHash, ciphertext: &[u8]) -> Result<Option<Vec<u8>>> {
    with_session(uri, true, |s| {
        let key = find_key(s, uri, ObjectClass::PRIVATE_KEY)?;
        match s.decrypt(&mechanism(hash), key, ciphertext) {
            Ok(plain) => Ok(Some(plain)),
            Err(e) if refused_mechanism(&e) => Err(mechanism_refused(hash)),
            Err(_) => Ok(None),
        }
    })
}
