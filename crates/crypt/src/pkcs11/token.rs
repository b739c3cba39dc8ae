//! RSA-OAEP inside a PKCS#11 token through `cryptoki`. The private key never leaves the
//! token. Modules are loaded and tokens logged in to through `zoll_pkcs11`, once per
//! process for both signing and decryption. A key file's `module.env` is not applied here: changing
//! the environment while threads run is unsound, so it must already be the process's
//! environment (the `zoll` binary applies it at start, before any thread exists); a
//! mismatch is an error that says so.

use std::collections::BTreeMap;

use cryptoki::context::Function;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::ObjectClass;
use cryptoki::session::Session;

use super::OaepHash;
use super::key_file::TokenKey;
use crate::error::{CryptError, Result, pkcs11_call as p11};

/// Variables of `env` whose value in this process differs: `(name, wanted, have)`.
pub fn env_mismatches(env: &BTreeMap<String, String>) -> Vec<(String, String, Option<String>)> {
    env.iter()
        .filter_map(|(k, v)| {
            let have = std::env::var(k).ok();
            (have.as_deref() != Some(v.as_str())).then(|| (k.clone(), v.clone(), have))
        })
        .collect()
}

/// Runs `f` with a session on the token the key names, logged in when `login` (decryption
/// needs the private key; encryption and the public key need no PIN).
fn with_session<T>(
    key: &TokenKey,
    login: bool,
    f: impl FnOnce(&Session) -> Result<T>,
) -> Result<T> {
    if let Some((k, v, have)) = env_mismatches(&key.env).into_iter().next() {
        return Err(CryptError::Pkcs11(format!(
            "the key file sets {k}={v} for the PKCS#11 module, but this process has {k}={}: \
             set it in the environment before zoll starts",
            have.unwrap_or_else(|| "(unset)".into())
        )));
    }
    let uri = &key.uri;
    let module = uri
        .module()?
        .ok_or_else(|| uri.error("the URI names no module (module-name= or module-path=)"))?;
    let pin = if login {
        Some(uri.pin()?.ok_or_else(|| {
            CryptError::Pkcs11("the key's URI has no PIN (pin-value= or pin-source=)".into())
        })?)
    } else {
        None
    };
    let session = zoll_pkcs11::open_session(uri, &module, pin.as_deref().map(String::as_str))?;
    f(&session)
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
pub fn public_components(key: &TokenKey) -> Result<(Vec<u8>, Vec<u8>)> {
    with_session(key, false, |s| {
        let object = zoll_pkcs11::find_key(s, &key.uri, ObjectClass::PUBLIC_KEY)?;
        Ok(zoll_pkcs11::rsa_public_components(s, object)?)
    })
}

/// RSA-OAEP encryption with the token's public key object.
pub fn encrypt(key: &TokenKey, hash: OaepHash, plaintext: &[u8]) -> Result<Vec<u8>> {
    with_session(key, false, |s| {
        let object = zoll_pkcs11::find_key(s, &key.uri, ObjectClass::PUBLIC_KEY)?;
        s.encrypt(&mechanism(hash), object, plaintext).map_err(|e| {
            if refused_mechanism(&e) {
                mechanism_refused(hash)
            } else {
                p11("C_Encrypt", e)
            }
        })
    })
}

/// RSA-OAEP decryption inside the token. `Ok(None)`: this key does not open this blob.
pub fn decrypt(key: &TokenKey, hash: OaepHash, ciphertext: &[u8]) -> Result<Option<Vec<u8>>> {
    with_session(key, true, |s| {
        let object = zoll_pkcs11::find_key(s, &key.uri, ObjectClass::PRIVATE_KEY)?;
        match s.decrypt(&mechanism(hash), object, ciphertext) {
            Ok(plain) => Ok(Some(plain)),
            Err(e) if refused_mechanism(&e) => Err(mechanism_refused(hash)),
            Err(_) => Ok(None),
        }
    })
}
