//! cosign's encrypted private key format (`ENCRYPTED SIGSTORE PRIVATE KEY`, formerly
//! `ENCRYPTED COSIGN PRIVATE KEY`): a JSON document with an scrypt KDF and a NaCl secretbox
//! around a PKCS#8 DER key.

use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{FileKey, KeyError};
use zoll_stdx::base64;

#[derive(Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    salt: String,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct KdfParams {
    N: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// scrypt parameters beyond these would let a hostile key file burn minutes of CPU or GiBs of
/// memory (cosign writes N=32768 or 65536, r=8, p=1).
const MAX_LOG_N: u8 = 20;
const MAX_R: u32 = 32;
const MAX_P: u32 = 16;
const MAX_FILE: usize = 64 * 1024;

/// Decrypts a cosign key file with `password` and returns the private key as PKCS#8 PEM,
/// checked to be a key zoll can sign with.
pub fn import_cosign_key(
    file_text: &[u8],
    password: &[u8],
) -> Result<(Zeroizing<String>, FileKey), KeyError> {
    let bad = |m: &str| KeyError::CosignKey(m.to_owned());
    if file_text.len() > MAX_FILE {
        return Err(bad("file too large for a key"));
    }
    let block = zoll_der::pem::blocks(file_text)
        .map_err(|e| KeyError::CosignKey(e.to_string()))?
        .into_iter()
        .next()
        .ok_or_else(|| bad("not a PEM file"))?;
    if block.label != "ENCRYPTED SIGSTORE PRIVATE KEY"
        && block.label != "ENCRYPTED COSIGN PRIVATE KEY"
    {
        return Err(KeyError::CosignKey(format!(
            "PEM block {:?} is not a cosign key",
            block.label
        )));
    }
    let sealed: Sealed = serde_json::from_slice(&block.der)
        .map_err(|e| KeyError::CosignKey(format!("JSON: {e}")))?;
    if sealed.kdf.name != "scrypt" {
        return Err(KeyError::CosignKey(format!(
            "KDF {:?} is not supported",
            sealed.kdf.name
        )));
    }
    if sealed.cipher.name != "nacl/secretbox" {
        return Err(KeyError::CosignKey(format!(
            "cipher {:?} is not supported",
            sealed.cipher.name
        )));
    }
    let p = &sealed.kdf.params;
    if !p.N.is_power_of_two() || p.N < 2 {
        return Err(bad("scrypt N must be a power of two"));
    }
    let log_n = p.N.trailing_zeros() as u8;
    if log_n > MAX_LOG_N || p.r == 0 || p.r > MAX_R || p.p == 0 || p.p > MAX_P {
        return Err(bad("scrypt parameters are out of bounds"));
    }
    let salt = base64::decode(&sealed.kdf.salt).ok_or_else(|| bad("salt is not base64"))?;
    let nonce = base64::decode(&sealed.cipher.nonce).ok_or_else(|| bad("nonce is not base64"))?;
    if nonce.len() != 24 {
        return Err(bad("secretbox nonce must be 24 bytes"));
    }
    let ciphertext =
        base64::decode(&sealed.ciphertext).ok_or_else(|| bad("ciphertext is not base64"))?;
    let params =
        scrypt::Params::new(log_n, p.r, p.p, 32).map_err(|_| bad("invalid scrypt parameters"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, &salt, &params, key.as_mut()).map_err(|_| bad("scrypt failed"))?;
    let cipher = XSalsa20Poly1305::new_from_slice(key.as_ref()).map_err(|_| bad("key length"))?;
    let der = Zeroizing::new(
        cipher
            .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
            .map_err(|_| bad("wrong password, or the file is damaged"))?,
    );
    let file_key = FileKey::from_pkcs8_der(&der, "imported cosign key")?;
    let pem = Zeroizing::new(zoll_der::pem::encode("PRIVATE KEY", &der));
    Ok((pem, file_key))
}
