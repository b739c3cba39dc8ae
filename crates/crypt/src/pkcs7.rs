//! PKCS#7 / CMS EnvelopedData key wrapping (`org.opencontainers.image.enc.keys.pkcs7`).
//!
//! Writing follows what ocicrypt's Go pkcs7 libraries emit, so that every skopeo can read
//! it: content AES-128-GCM, each recipient's key RSA PKCS#1 v1.5 (`rsaEncryption`),
//! recipients named by issuer and serial number. Those libraries encode the GCM parameters
//! as a SEQUENCE whose content is itself the parameter SEQUENCE, with the nonce tagged
//! `[4]`; Go's parser accepts nothing else, so zoll writes that shape (as a well-formed
//! constructed element).
//!
//! Reading accepts that shape and RFC 5084's, AES-128/256-GCM and AES-128/192/256-CBC
//! content, the encrypted content primitive or in OCTET STRING segments. Recipients are
//! found by trying the given RSA keys, so the certificate is not needed to decrypt.

use aws_lc_rs::{aead, cipher, rand, rsa};

use crate::error::{CryptError, Result, malformed, unsupported};
use crate::keys::{Certificate, PrivateKey, PublicKey};
use zoll_der::der::{self, Reader, oid};

pub const ANNOTATION: &str = "org.opencontainers.image.enc.keys.pkcs7";

const MAX_RECIPIENTS: usize = 256;

/// Wraps `plaintext` for every certificate's RSA key in one EnvelopedData (DER).
pub fn wrap(recipients: &[Certificate], plaintext: &[u8]) -> Result<Vec<u8>> {
    if recipients.is_empty() {
        return Err(CryptError::NoRecipients);
    }
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    rand::fill(&mut cek).map_err(|_| CryptError::Crypto("random CEK"))?;
    rand::fill(&mut nonce).map_err(|_| CryptError::Crypto("random nonce"))?;

    let key = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_128_GCM, &cek)
            .map_err(|_| CryptError::Crypto("AES-GCM"))?,
    );
    let mut sealed = plaintext.to_vec();
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::empty(),
        &mut sealed,
    )
    .map_err(|_| CryptError::Crypto("AES-GCM seal"))?;

    let mut infos = Vec::new();
    for cert in recipients {
        let PublicKey::Rsa { .. } = &cert.public_key else {
            return Err(unsupported(
                "PKCS#7 recipient key",
                "EC (only RSA certificates can be PKCS#7 recipients)",
            ));
        };
        let pk = cert
            .public_key
            .rsa()
            .ok_or(CryptError::Crypto("RSA public key"))?;
        let pkcs1 =
            rsa::Pkcs1PublicEncryptingKey::new(pk).map_err(|_| CryptError::Crypto("RSA key"))?;
        let mut ek = vec![0u8; pkcs1.ciphertext_size()];
        let n = pkcs1
            .encrypt(&cek, &mut ek)
            .map_err(|_| CryptError::Crypto("RSA PKCS#1 encrypt"))?
            .len();
        ek.truncate(n);
        let issuer_and_serial = der::constructed(
            der::SEQUENCE,
            &[&cert.issuer, &der::tlv(der::INTEGER, &cert.serial)],
        );
        infos.push(der::constructed(
            der::SEQUENCE,
            &[
                &der::small_integer(0),
                &issuer_and_serial,
                &der::algorithm(oid::RSA_ENCRYPTION, Some(&der::tlv(der::NULL, &[]))),
                &der::tlv(der::OCTET_STRING, &ek),
            ],
        ));
    }
    // DER SET OF is sorted by encoding.
    infos.sort();
    let info_refs: Vec<&[u8]> = infos.iter().map(Vec::as_slice).collect();

    let gcm_params = der::constructed(
        der::SEQUENCE,
        &[
            &der::tlv(der::context(4, false), &nonce),
            &der::small_integer(16),
        ],
    );
    let eci = der::constructed(
        der::SEQUENCE,
        &[
            &der::tlv(der::OID, oid::DATA),
            &der::algorithm(oid::AES128_GCM, Some(&der::tlv(der::SEQUENCE, &gcm_params))),
            &der::tlv(der::context(0, true), &der::tlv(der::OCTET_STRING, &sealed)),
        ],
    );
    let enveloped = der::constructed(
        der::SEQUENCE,
        &[
            &der::small_integer(0),
            &der::tlv(der::SET, &info_refs.concat()),
            &eci,
        ],
    );
    Ok(der::constructed(
        der::SEQUENCE,
        &[
            &der::tlv(der::OID, oid::ENVELOPED_DATA),
            &der::tlv(der::context(0, true), &enveloped),
        ],
    ))
}

struct RecipientInfo<'a> {
    issuer: Option<&'a [u8]>,
    serial: Option<&'a [u8]>,
    encrypted_key: &'a [u8],
}

struct Enveloped<'a> {
    recipients: Vec<RecipientInfo<'a>>,
    alg: &'a [u8],
    params: Option<der::Tlv<'a>>,
    content: Vec<u8>,
}

fn parse(input: &[u8]) -> Result<Enveloped<'_>> {
    let mut ci = Reader::new(input, "PKCS#7").nested(der::SEQUENCE)?;
    if ci.expect(der::OID)? != oid::ENVELOPED_DATA {
        return Err(unsupported("PKCS#7 content type", "not EnvelopedData"));
    }
    let mut ed = Reader::new(ci.expect(der::context(0, true))?, "PKCS#7").nested(der::SEQUENCE)?;
    ed.expect(der::INTEGER)?;
    ed.optional(der::context(0, true))?; // originatorInfo
    let mut set = ed.nested(der::SET)?;
    let mut recipients = Vec::new();
    while !set.is_empty() {
        let ri = set.read()?;
        if ri.tag != der::SEQUENCE {
            continue; // kari / kekri / pwri / ori: not key transport
        }
        if recipients.len() == MAX_RECIPIENTS {
            return Err(CryptError::Limit(format!(
                "PKCS#7 with more than {MAX_RECIPIENTS} recipients"
            )));
        }
        let mut r = Reader::new(ri.content, "PKCS#7 recipient");
        r.expect(der::INTEGER)?;
        let rid = r.read()?;
        let (issuer, serial) = if rid.tag == der::SEQUENCE {
            let mut ias = Reader::new(rid.content, "PKCS#7 recipient");
            let issuer = ias.read()?.raw;
            (Some(issuer), Some(ias.expect(der::INTEGER)?))
        } else {
            (None, None)
        };
        let (kea, _) = der::algorithm_identifier(&mut r)?;
        let encrypted_key = r.expect(der::OCTET_STRING)?;
        if kea == oid::RSA_ENCRYPTION {
            recipients.push(RecipientInfo {
                issuer,
                serial,
                encrypted_key,
            });
        }
    }
    let mut eci = ed.nested(der::SEQUENCE)?;
    eci.expect(der::OID)?;
    let (alg, params) = der::algorithm_identifier(&mut eci)?;
    let content = match eci.read() {
        Ok(t) if t.tag == der::context(0, false) => t.content.to_vec(),
        Ok(t) if t.tag == der::context(0, true) => {
            let mut parts = Reader::new(t.content, "PKCS#7 content");
            let mut out = Vec::new();
            while !parts.is_empty() {
                out.extend_from_slice(parts.expect(der::OCTET_STRING)?);
            }
            out
        }
        _ => return Err(malformed("PKCS#7", "encrypted content missing")),
    };
    Ok(Enveloped {
        recipients,
        alg,
        params,
        content,
    })
}

/// Tries every RSA key against every key-transport recipient. `Ok(None)`: no key fits.
pub fn unwrap(input: &[u8], keys: &[PrivateKey], certs: &[Certificate]) -> Result<Option<Vec<u8>>> {
    let env = parse(input)?;
    let content_key_len = match env.alg {
        oid::AES128_GCM | oid::AES128_CBC => 16,
        oid::AES192_CBC => 24,
        oid::AES256_GCM | oid::AES256_CBC => 32,
        _ => {
            return Err(unsupported(
                "PKCS#7 content encryption",
                "only AES-GCM and AES-CBC",
            ));
        }
    };
    // Recipients named by a given certificate go first; the rest are still tried.
    let named = |ri: &RecipientInfo<'_>| {
        certs.iter().any(|c| {
            ri.issuer == Some(c.issuer.as_slice()) && ri.serial == Some(c.serial.as_slice())
        })
    };
    let mut order: Vec<&RecipientInfo<'_>> = env.recipients.iter().filter(|r| named(r)).collect();
    order.extend(env.recipients.iter().filter(|r| !named(r)));
    for ri in order {
        for key in keys {
            let Some(sk) = key.rsa() else { continue };
            let pkcs1 = rsa::Pkcs1PrivateDecryptingKey::new(sk)
                .map_err(|_| CryptError::Crypto("RSA key"))?;
            let mut out = vec![0u8; pkcs1.min_output_size()];
            let Ok(cek) = pkcs1.decrypt(ri.encrypted_key, &mut out) else {
                continue;
            };
            if cek.len() != content_key_len {
                continue;
            }
            if let Some(plain) = decrypt_content(env.alg, env.params, cek, &env.content)? {
                return Ok(Some(plain));
            }
        }
    }
    Ok(None)
}

fn decrypt_content(
    alg: &[u8],
    params: Option<der::Tlv<'_>>,
    key: &[u8],
    content: &[u8],
) -> Result<Option<Vec<u8>>> {
    let params =
        params.ok_or_else(|| malformed("PKCS#7", "content encryption parameters missing"))?;
    match alg {
        oid::AES128_GCM | oid::AES256_GCM => {
            let (nonce, tag_len) = gcm_params(params)?;
            if tag_len != 16 || content.len() < 16 {
                return Err(unsupported("PKCS#7 GCM tag length", tag_len.to_string()));
            }
            let aead_alg = if key.len() == 16 {
                &aead::AES_128_GCM
            } else {
                &aead::AES_256_GCM
            };
            let k = aead::LessSafeKey::new(
                aead::UnboundKey::new(aead_alg, key).map_err(|_| CryptError::Crypto("AES-GCM"))?,
            );
            let nonce = aead::Nonce::try_assume_unique_for_key(nonce)
                .map_err(|_| malformed("PKCS#7", "GCM nonce must be 12 bytes"))?;
            let mut buf = content.to_vec();
            Ok(k.open_in_place(nonce, aead::Aad::empty(), &mut buf)
                .ok()
                .map(|p| p.to_vec()))
        }
        _ => {
            if params.tag != der::OCTET_STRING {
                return Err(malformed("PKCS#7", "CBC IV is not an OCTET STRING"));
            }
            let iv: [u8; 16] = params
                .content
                .try_into()
                .map_err(|_| malformed("PKCS#7", "CBC IV must be 16 bytes"))?;
            let aes = match key.len() {
                16 => &cipher::AES_128,
                24 => &cipher::AES_192,
                _ => &cipher::AES_256,
            };
            let unbound = cipher::UnboundCipherKey::new(aes, key)
                .map_err(|_| CryptError::Crypto("AES key"))?;
            let dec = cipher::PaddedBlockDecryptingKey::cbc_pkcs7(unbound)
                .map_err(|_| CryptError::Crypto("AES-CBC"))?;
            let mut buf = content.to_vec();
            Ok(dec
                .decrypt(&mut buf, cipher::DecryptionContext::Iv128(iv.into()))
                .ok()
                .map(|p| p.to_vec()))
        }
    }
}

/// GCM parameters in either RFC 5084 form or the nested form Go's pkcs7 writes.
fn gcm_params<'a>(params: der::Tlv<'a>) -> Result<(&'a [u8], usize)> {
    let mut r = Reader::new(params.content, "PKCS#7 GCM parameters");
    if r.peek_tag() == Some(der::SEQUENCE) {
        r = r.nested(der::SEQUENCE)?;
    }
    let nonce = r.read()?;
    if nonce.tag != der::OCTET_STRING && nonce.tag != der::context(4, false) {
        return Err(malformed("PKCS#7", "GCM nonce missing"));
    }
    let tag_len = match r.optional(der::INTEGER)? {
        None => 12,
        Some(v) => match der::unsigned(v) {
            [n] => *n as usize,
            _ => return Err(malformed("PKCS#7", "GCM tag length")),
        },
    };
    Ok((nonce.content, tag_len))
}

/// Removes the recipients named by `certs` (issuer and serial). Returns the new DER (None
/// when none would be left) and how many were removed. The content stays as it is.
pub fn remove_recipients(input: &[u8], certs: &[Certificate]) -> Result<(Option<Vec<u8>>, usize)> {
    let mut ci = Reader::new(input, "PKCS#7").nested(der::SEQUENCE)?;
    let content_type = ci.read()?.raw;
    let mut ed = Reader::new(ci.expect(der::context(0, true))?, "PKCS#7").nested(der::SEQUENCE)?;
    let version = ed.read()?.raw;
    let originator = if ed.peek_tag() == Some(der::context(0, true)) {
        Some(ed.read()?.raw)
    } else {
        None
    };
    let mut set = ed.nested(der::SET)?;
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut removed = 0;
    while !set.is_empty() {
        let ri = set.read()?;
        let mut named = false;
        if ri.tag == der::SEQUENCE {
            let mut r = Reader::new(ri.content, "PKCS#7 recipient");
            r.expect(der::INTEGER)?;
            let rid = r.read()?;
            if rid.tag == der::SEQUENCE {
                let mut ias = Reader::new(rid.content, "PKCS#7 recipient");
                let issuer = ias.read()?.raw;
                let serial = ias.expect(der::INTEGER)?;
                named = certs
                    .iter()
                    .any(|c| c.issuer == issuer && c.serial == serial);
            }
        }
        if named {
            removed += 1;
        } else {
            kept.push(ri.raw);
        }
    }
    if removed == 0 {
        return Ok((Some(input.to_vec()), 0));
    }
    if kept.is_empty() {
        return Ok((None, removed));
    }
    let mut rest = Vec::new();
    while !ed.is_empty() {
        rest.extend_from_slice(ed.read()?.raw);
    }
    let mut parts: Vec<&[u8]> = vec![version];
    parts.extend(originator);
    let set = der::tlv(der::SET, &kept.concat());
    parts.push(&set);
    parts.push(&rest);
    let enveloped = der::constructed(der::SEQUENCE, &parts);
    Ok((
        Some(der::constructed(
            der::SEQUENCE,
            &[content_type, &der::tlv(der::context(0, true), &enveloped)],
        )),
        removed,
    ))
}
