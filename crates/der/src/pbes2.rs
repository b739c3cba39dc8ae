//! PKCS#8 `EncryptedPrivateKeyInfo` with PBES2 (RFC 8018): PBKDF2 with HMAC-SHA-1/256/384/512
//! and AES-128/192/256-CBC, which covers what `openssl genpkey -aes256`, `openssl pkcs8
//! -topk8` and ocicrypt's tools write (OpenSSL 3's default: PBKDF2-HMAC-SHA256, AES-256-CBC).
//!
//! Why our own thin PBES2 and not RustCrypto's `pkcs8` with its `encryption` feature: that
//! brings nine crates this workspace does not compile today (pkcs8, pkcs5, der, spki,
//! const-oid, pem-rfc7468, aes, cbc, block-padding) and a second AES implementation beside
//! aws-lc-rs, the one crypto library. What is left to write is the parameter parsing below
//! on the crate's bounded DER reader; PBKDF2 and AES-CBC with its padding check are
//! aws-lc-rs's.

use std::num::NonZeroU32;

use aws_lc_rs::{cipher, pbkdf2};
use zeroize::Zeroizing;

use crate::der::{self, oid};
use crate::error::{Error, Result, unsupported};

/// PBKDF2 iteration counts above this are refused: a hostile key file could otherwise stall
/// us for minutes (OpenSSL writes 2048, password managers a few hundred thousand).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Decrypts an EncryptedPrivateKeyInfo to the PKCS#8 DER inside it.
pub fn decrypt(epki: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    const WHAT: &str = "encrypted private key";
    let mut r = der::single(epki, der::SEQUENCE, WHAT)?;
    let (alg, params) = der::algorithm_identifier(&mut r)?;
    let data = r.expect(der::OCTET_STRING)?;
    r.finish()?;
    if alg != oid::PBES2 {
        return Err(unsupported("only PBES2 key encryption is supported"));
    }
    let params = params
        .filter(|p| p.tag == der::SEQUENCE)
        .ok_or_else(|| unsupported("PBES2 parameters missing"))?;
    let mut p = der::Reader::new(params.content, "PBES2 parameters");
    let (kdf, kdf_params) = der::algorithm_identifier(&mut p)?;
    let (enc, enc_params) = der::algorithm_identifier(&mut p)?;
    p.finish()?;
    if kdf != oid::PBKDF2 {
        return Err(unsupported("only PBKDF2 key derivation is supported"));
    }
    let (cipher_alg, key_len) = match enc {
        oid::AES128_CBC => (&cipher::AES_128, 16),
        oid::AES192_CBC => (&cipher::AES_192, 24),
        oid::AES256_CBC => (&cipher::AES_256, 32),
        _ => {
            return Err(unsupported(
                "unsupported key encryption cipher (AES-CBC only)",
            ));
        }
    };
    let iv: [u8; 16] = enc_params
        .filter(|p| p.tag == der::OCTET_STRING)
        .and_then(|p| p.content.try_into().ok())
        .ok_or_else(|| unsupported("AES-CBC IV missing"))?;

    let kdf_params = kdf_params
        .filter(|p| p.tag == der::SEQUENCE)
        .ok_or_else(|| unsupported("PBKDF2 parameters missing"))?;
    let mut k = der::Reader::new(kdf_params.content, "PBKDF2 parameters");
    // The salt CHOICE's other arm (an AlgorithmIdentifier) is reserved by RFC 8018.
    let salt = k.expect(der::OCTET_STRING)?;
    let iterations = small_uint(k.expect(der::INTEGER)?)
        .filter(|&n| n <= MAX_PBKDF2_ITERATIONS)
        .and_then(NonZeroU32::new)
        .ok_or_else(|| unsupported("PBKDF2 iteration count out of range"))?;
    if let Some(len) = k.optional(der::INTEGER)?
        && small_uint(len) != Some(key_len as u32)
    {
        return Err(unsupported("PBKDF2 key length does not fit the cipher"));
    }
    let prf = if k.is_empty() {
        pbkdf2::PBKDF2_HMAC_SHA1 // the DEFAULT of RFC 8018
    } else {
        let prf = match der::algorithm_identifier(&mut k)?.0 {
            oid::HMAC_SHA1 => pbkdf2::PBKDF2_HMAC_SHA1,
            oid::HMAC_SHA256 => pbkdf2::PBKDF2_HMAC_SHA256,
            oid::HMAC_SHA384 => pbkdf2::PBKDF2_HMAC_SHA384,
            oid::HMAC_SHA512 => pbkdf2::PBKDF2_HMAC_SHA512,
            _ => return Err(unsupported("unsupported PBKDF2 PRF")),
        };
        k.finish()?;
        prf
    };

    let mut key = Zeroizing::new(vec![0u8; key_len]);
    pbkdf2::derive(prf, iterations, salt, password, &mut key);
    let unbound = cipher::UnboundCipherKey::new(cipher_alg, &key)
        .map_err(|_| unsupported("AES key rejected"))?;
    let dec = cipher::PaddedBlockDecryptingKey::cbc_pkcs7(unbound)
        .map_err(|_| unsupported("AES-CBC rejected"))?;
    let mut buf = Zeroizing::new(data.to_vec());
    let plain = dec
        .decrypt(&mut buf, cipher::DecryptionContext::Iv128(iv.into()))
        .map_err(|_| Error::WrongPassword)?;
    Ok(Zeroizing::new(plain.to_vec()))
}

/// A non-negative INTEGER content that fits in 32 bits.
fn small_uint(content: &[u8]) -> Option<u32> {
    if content.first().is_none_or(|b| b & 0x80 != 0) {
        return None;
    }
    der::unsigned(content)
        .iter()
        .try_fold(0u32, |acc, &b| acc.checked_mul(256).map(|a| a | b as u32))
}
