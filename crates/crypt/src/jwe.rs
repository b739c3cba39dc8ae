//! JWE key wrapping (`org.opencontainers.image.enc.keys.jwe`), as ocicrypt does it with
//! go-jose: content A256GCM; RSA recipients RSA-OAEP (SHA-1), EC recipients ECDH-ES+A256KW;
//! flattened JSON for one recipient, general JSON for several. zoll adds a `kid` (RFC 7638
//! thumbprint of the recipient key) so that recipients can be removed later.
//!
//! Reading is tolerant of what real files contain: compact or JSON serialization, headers
//! split over `protected` / `unprotected` / `header`, go-jose's stray top-level
//! `encrypted_key` next to `recipients`, padded base64url, short EC coordinates; key
//! algorithms RSA-OAEP, RSA-OAEP-256, ECDH-ES, ECDH-ES+A128KW/A256KW; content A128GCM,
//! A192GCM, A256GCM, A128CBC-HS256, A192CBC-HS384, A256CBC-HS512.

use aws_lc_rs::key_wrap::KeyWrap;
use aws_lc_rs::{aead, agreement, cipher, digest, hmac, key_wrap, rand, rsa};
use base64::Engine;
use serde_json::{Map, Value, json};

use crate::error::{CryptError, Result, malformed, unsupported};
use crate::keys::{Curve, CurveExt, PrivateKey, PublicKey, curve_from_jwk_name, point_coordinates};

pub const ANNOTATION: &str = "org.opencontainers.image.enc.keys.jwe";

/// More recipients than this in one JWE is refused.
pub const MAX_RECIPIENTS: usize = 256;

fn b64e(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn b64d(s: &str, field: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim().trim_end_matches('=').as_bytes())
        .map_err(|e| malformed("JWE", format!("{field}: {e}")))
}

/// Wraps `plaintext` (the private layer options) for every recipient in one JWE.
pub fn wrap(recipients: &[PublicKey], plaintext: &[u8]) -> Result<Vec<u8>> {
    if recipients.is_empty() {
        return Err(CryptError::NoRecipients);
    }
    let mut cek = [0u8; 32];
    let mut iv = [0u8; 12];
    rand::fill(&mut cek).map_err(|_| CryptError::Crypto("random CEK"))?;
    rand::fill(&mut iv).map_err(|_| CryptError::Crypto("random IV"))?;

    let mut entries = Vec::with_capacity(recipients.len());
    for key in recipients {
        let (mut header, encrypted_key) = match key {
            PublicKey::Rsa { .. } => {
                let pk = key.rsa().ok_or(CryptError::Crypto("RSA public key"))?;
                (
                    Map::new(),
                    rsa_oaep_encrypt(pk, &rsa::OAEP_SHA1_MGF1SHA1, &cek)?,
                )
            }
            PublicKey::Ec { curve, point } => ecdh_wrap(*curve, point, &cek)?,
        };
        let alg = match key {
            PublicKey::Rsa { .. } => "RSA-OAEP",
            PublicKey::Ec { .. } => "ECDH-ES+A256KW",
        };
        header.insert("alg".into(), alg.into());
        header.insert("kid".into(), key.thumbprint()?.into());
        entries.push((header, encrypted_key));
    }

    let single = entries.len() == 1;
    let mut protected = Map::new();
    protected.insert("enc".into(), "A256GCM".into());
    if single {
        protected.extend(entries[0].0.clone());
    }
    let protected_b64 = b64e(&serde_json::to_vec(&Value::Object(protected)).expect("json"));

    let sealing = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_256_GCM, &cek)
            .map_err(|_| CryptError::Crypto("AES-GCM"))?,
    );
    let mut ciphertext = plaintext.to_vec();
    let tag = sealing
        .seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(iv),
            aead::Aad::from(protected_b64.as_bytes()),
            &mut ciphertext,
        )
        .map_err(|_| CryptError::Crypto("AES-GCM seal"))?;

    let mut out = json!({
        "protected": protected_b64,
        "iv": b64e(&iv),
        "ciphertext": b64e(&ciphertext),
        "tag": b64e(tag.as_ref()),
    });
    let obj = out.as_object_mut().expect("object");
    if single {
        obj.insert("encrypted_key".into(), b64e(&entries[0].1).into());
    } else {
        let list: Vec<Value> = entries
            .into_iter()
            .map(|(header, ek)| json!({"header": header, "encrypted_key": b64e(&ek)}))
            .collect();
        obj.insert("recipients".into(), list.into());
    }
    Ok(serde_json::to_vec(&out).expect("json"))
}

/// RSA-OAEP encryption with a public key (also the pkcs11 scheme's, for PEM recipients).
pub(crate) fn rsa_oaep_encrypt(
    pk: rsa::PublicEncryptingKey,
    alg: &'static rsa::OaepAlgorithm,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let oaep = rsa::OaepPublicEncryptingKey::new(pk).map_err(|_| CryptError::Crypto("RSA key"))?;
    let mut out = vec![0u8; oaep.ciphertext_size()];
    let n = oaep
        .encrypt(alg, plaintext, &mut out, None)
        .map_err(|_| CryptError::Crypto("RSA-OAEP encrypt"))?
        .len();
    out.truncate(n);
    Ok(out)
}

/// ECDH-ES+A256KW for one recipient: a fresh ephemeral key, Concat KDF, AES key wrap.
fn ecdh_wrap(curve: Curve, point: &[u8], cek: &[u8]) -> Result<(Map<String, Value>, Vec<u8>)> {
    let eph = agreement::PrivateKey::generate(curve.agreement())
        .map_err(|_| CryptError::Crypto("ephemeral EC key"))?;
    let eph_pub = eph
        .compute_public_key()
        .map_err(|_| CryptError::Crypto("ephemeral EC key"))?;
    let (x, y) = point_coordinates(curve, eph_pub.as_ref())?;
    let peer = agreement::UnparsedPublicKey::new(curve.agreement(), point);
    let kek = agreement::agree(&eph, peer, CryptError::Crypto("ECDH"), |z| {
        Ok(concat_kdf(z, "ECDH-ES+A256KW", &[], &[], 32))
    })?;
    let wrapped = aes_kw_wrap(&kek, cek)?;
    let mut header = Map::new();
    header.insert(
        "epk".into(),
        json!({"kty": "EC", "crv": curve.jwk_name(), "x": b64e(x), "y": b64e(y)}),
    );
    Ok((header, wrapped))
}

/// JWA 4.6.2 Concat KDF with SHA-256.
fn concat_kdf(z: &[u8], alg: &str, apu: &[u8], apv: &[u8], len: usize) -> Vec<u8> {
    let mut other = Vec::new();
    for part in [alg.as_bytes(), apu, apv] {
        other.extend_from_slice(&(part.len() as u32).to_be_bytes());
        other.extend_from_slice(part);
    }
    other.extend_from_slice(&((len * 8) as u32).to_be_bytes());
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 1u32;
    while out.len() < len {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&counter.to_be_bytes());
        ctx.update(z);
        ctx.update(&other);
        out.extend_from_slice(ctx.finish().as_ref());
        counter += 1;
    }
    out.truncate(len);
    out
}

fn aes_kw_wrap(kek: &[u8], key: &[u8]) -> Result<Vec<u8>> {
    let cipher = if kek.len() == 16 {
        &key_wrap::AES_128
    } else {
        &key_wrap::AES_256
    };
    let kek = key_wrap::KeyEncryptionKey::new(cipher, kek)
        .map_err(|_| CryptError::Crypto("AES-KW key"))?;
    let mut out = vec![0u8; key.len() + 8];
    let n = kek
        .wrap(key, &mut out)
        .map_err(|_| CryptError::Crypto("AES-KW wrap"))?
        .len();
    out.truncate(n);
    Ok(out)
}

fn aes_kw_unwrap(kek: &[u8], wrapped: &[u8]) -> Option<Vec<u8>> {
    let cipher = match kek.len() {
        16 => &key_wrap::AES_128,
        32 => &key_wrap::AES_256,
        _ => return None,
    };
    let kek = key_wrap::KeyEncryptionKey::new(cipher, kek).ok()?;
    let mut out = vec![0u8; wrapped.len()];
    let n = kek.unwrap(wrapped, &mut out).ok()?.len();
    out.truncate(n);
    Some(out)
}

/// A parsed JWE, kept close to its input so the AAD is exactly what was protected.
struct Parsed {
    protected_b64: String,
    shared: Map<String, Value>,
    recipients: Vec<(Map<String, Value>, Vec<u8>)>,
    aad: Option<String>,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
    tag: Vec<u8>,
}

fn object(v: Option<&Value>, field: &str) -> Result<Map<String, Value>> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(malformed("JWE", format!("{field} is not an object"))),
    }
}

fn string<'a>(v: &'a Value, field: &str) -> Result<Option<&'a str>> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(malformed("JWE", format!("{field} is not a string"))),
    }
}

fn parse(input: &[u8]) -> Result<Parsed> {
    let text = std::str::from_utf8(input).map_err(|_| malformed("JWE", "not UTF-8"))?;
    let text = text.trim();
    let value: Value = if text.starts_with('{') {
        serde_json::from_str(text).map_err(|e| malformed("JWE", e.to_string()))?
    } else {
        let parts: Vec<&str> = text.split('.').collect();
        if parts.len() != 5 {
            return Err(malformed(
                "JWE",
                "neither JSON nor five-part compact serialization",
            ));
        }
        json!({"protected": parts[0], "encrypted_key": parts[1], "iv": parts[2],
               "ciphertext": parts[3], "tag": parts[4]})
    };
    let protected_b64 = string(&value, "protected")?.unwrap_or_default().to_owned();
    let mut shared = if protected_b64.is_empty() {
        Map::new()
    } else {
        let bytes = b64d(&protected_b64, "protected")?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| malformed("JWE", format!("protected header: {e}")))?;
        object(Some(&v), "protected header")?
    };
    for (k, v) in object(value.get("unprotected"), "unprotected")? {
        shared.entry(k).or_insert(v);
    }
    let mut recipients = Vec::new();
    match value.get("recipients") {
        Some(Value::Array(list)) if !list.is_empty() => {
            if list.len() > MAX_RECIPIENTS {
                return Err(CryptError::Limit(format!(
                    "JWE with {} recipients (at most {MAX_RECIPIENTS})",
                    list.len()
                )));
            }
            for r in list {
                let header = object(r.get("header"), "recipient header")?;
                let ek = string(r, "encrypted_key")?.unwrap_or_default();
                recipients.push((header, b64d(ek, "encrypted_key")?));
            }
        }
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            let header = object(value.get("header"), "header")?;
            let ek = string(&value, "encrypted_key")?.unwrap_or_default();
            recipients.push((header, b64d(ek, "encrypted_key")?));
        }
        Some(_) => return Err(malformed("JWE", "recipients is not an array")),
    }
    let field = |name: &str| -> Result<Vec<u8>> {
        let s = string(&value, name)?.ok_or_else(|| malformed("JWE", format!("{name} missing")))?;
        b64d(s, name)
    };
    Ok(Parsed {
        protected_b64,
        shared,
        aad: string(&value, "aad")?.map(str::to_owned),
        iv: field("iv")?,
        ciphertext: field("ciphertext")?,
        tag: field("tag")?,
        recipients,
    })
}

/// Tries every recipient of the JWE with every key. `Ok(None)`: no key fits any recipient.
pub fn unwrap(input: &[u8], keys: &[PrivateKey]) -> Result<Option<Vec<u8>>> {
    let jwe = parse(input)?;
    if jwe.shared.contains_key("zip") {
        return Err(unsupported("JWE compression", "zip"));
    }
    let mut aad = jwe.protected_b64.clone();
    if let Some(extra) = &jwe.aad {
        aad.push('.');
        aad.push_str(extra);
    }
    for (header, encrypted_key) in &jwe.recipients {
        let mut merged = jwe.shared.clone();
        for (k, v) in header {
            merged.entry(k.clone()).or_insert(v.clone());
        }
        if merged.contains_key("crit") {
            return Err(unsupported("JWE header", "crit"));
        }
        let alg = merged
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let enc = merged
            .get("enc")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let cek_len = content_key_len(enc)?;
        for key in keys {
            let Some(cek) = unwrap_cek(alg, enc, cek_len, &merged, encrypted_key, key)? else {
                continue;
            };
            if let Some(plain) = decrypt_content(
                enc,
                &cek,
                &jwe.iv,
                &jwe.ciphertext,
                &jwe.tag,
                aad.as_bytes(),
            ) {
                return Ok(Some(plain));
            }
        }
    }
    Ok(None)
}

fn content_key_len(enc: &str) -> Result<usize> {
    match enc {
        "A128GCM" => Ok(16),
        "A192GCM" => Ok(24),
        "A256GCM" | "A128CBC-HS256" => Ok(32),
        "A192CBC-HS384" => Ok(48),
        "A256CBC-HS512" => Ok(64),
        other => Err(unsupported("JWE content encryption", other)),
    }
}

/// The content encryption key for one recipient with one key, or `None` when this key is
/// not for this recipient (wrong type, wrong curve, failed unwrap).
fn unwrap_cek(
    alg: &str,
    enc: &str,
    cek_len: usize,
    header: &Map<String, Value>,
    encrypted_key: &[u8],
    key: &PrivateKey,
) -> Result<Option<Vec<u8>>> {
    match alg {
        "RSA-OAEP" | "RSA-OAEP-256" => {
            let Some(sk) = key.rsa() else { return Ok(None) };
            let oaep_alg = if alg == "RSA-OAEP" {
                &rsa::OAEP_SHA1_MGF1SHA1
            } else {
                &rsa::OAEP_SHA256_MGF1SHA256
            };
            let oaep = rsa::OaepPrivateDecryptingKey::new(sk)
                .map_err(|_| CryptError::Crypto("RSA key"))?;
            let mut out = vec![0u8; oaep.min_output_size()];
            Ok(oaep
                .decrypt(oaep_alg, encrypted_key, &mut out, None)
                .ok()
                .map(|p| p.to_vec())
                .filter(|cek| cek.len() == cek_len))
        }
        "ECDH-ES" | "ECDH-ES+A128KW" | "ECDH-ES+A192KW" | "ECDH-ES+A256KW" => {
            let Some((curve, sk)) = key.ec() else {
                return Ok(None);
            };
            let epk = header
                .get("epk")
                .ok_or_else(|| malformed("JWE", "ECDH-ES recipient without epk"))?;
            if epk
                .get("crv")
                .and_then(Value::as_str)
                .and_then(curve_from_jwk_name)
                != Some(curve)
            {
                return Ok(None);
            }
            let point = epk_point(curve, epk)?;
            let apu = header_bytes(header, "apu")?;
            let apv = header_bytes(header, "apv")?;
            let (kdf_alg, kdf_len) = match alg {
                "ECDH-ES" => (enc, cek_len),
                "ECDH-ES+A128KW" => (alg, 16),
                "ECDH-ES+A192KW" => return Err(unsupported("JWE key algorithm", alg)),
                _ => (alg, 32),
            };
            let peer = agreement::UnparsedPublicKey::new(curve.agreement(), &point);
            let derived = agreement::agree(&sk, peer, (), |z| {
                Ok(concat_kdf(z, kdf_alg, &apu, &apv, kdf_len))
            });
            let Ok(derived) = derived else {
                return Ok(None);
            };
            if alg == "ECDH-ES" {
                return Ok(Some(derived));
            }
            Ok(aes_kw_unwrap(&derived, encrypted_key).filter(|cek| cek.len() == cek_len))
        }
        "" => Err(malformed("JWE", "recipient without alg")),
        other => Err(unsupported("JWE key algorithm", other)),
    }
}

fn header_bytes(header: &Map<String, Value>, name: &str) -> Result<Vec<u8>> {
    match header.get(name).and_then(Value::as_str) {
        Some(s) => b64d(s, name),
        None => Ok(Vec::new()),
    }
}

/// The uncompressed point of an `epk` JWK; coordinates shorter than the field (old go-jose
/// dropped leading zeros) are left-padded.
fn epk_point(curve: Curve, epk: &Value) -> Result<Vec<u8>> {
    let n = curve.coordinate_len();
    let mut point = vec![4u8];
    for c in ["x", "y"] {
        let s = epk
            .get(c)
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("JWE", format!("epk.{c} missing")))?;
        let bytes = b64d(s, "epk")?;
        if bytes.len() > n {
            return Err(malformed(
                "JWE",
                format!("epk.{c} longer than the curve's field"),
            ));
        }
        point.resize(point.len() + n - bytes.len(), 0);
        point.extend_from_slice(&bytes);
    }
    Ok(point)
}

fn decrypt_content(
    enc: &str,
    cek: &[u8],
    iv: &[u8],
    ct: &[u8],
    tag: &[u8],
    aad: &[u8],
) -> Option<Vec<u8>> {
    match enc {
        "A128GCM" | "A192GCM" | "A256GCM" => {
            let alg = match cek.len() {
                16 => &aead::AES_128_GCM,
                24 => &aead::AES_192_GCM,
                _ => &aead::AES_256_GCM,
            };
            let key = aead::LessSafeKey::new(aead::UnboundKey::new(alg, cek).ok()?);
            let nonce = aead::Nonce::try_assume_unique_for_key(iv).ok()?;
            let mut buf = [ct, tag].concat();
            let plain = key
                .open_in_place(nonce, aead::Aad::from(aad), &mut buf)
                .ok()?;
            Some(plain.to_vec())
        }
        _ => decrypt_cbc_hs(cek, iv, ct, tag, aad),
    }
}

/// JWA 5.2 AES-CBC with HMAC-SHA2: MAC key is the first half of the CEK, AES key the second.
fn decrypt_cbc_hs(cek: &[u8], iv: &[u8], ct: &[u8], tag: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    let half = cek.len() / 2;
    let (mac_alg, aes) = match half {
        16 => (hmac::HMAC_SHA256, &cipher::AES_128),
        24 => (hmac::HMAC_SHA384, &cipher::AES_192),
        32 => (hmac::HMAC_SHA512, &cipher::AES_256),
        _ => return None,
    };
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(mac_alg, &cek[..half]));
    ctx.update(aad);
    ctx.update(iv);
    ctx.update(ct);
    ctx.update(&((aad.len() as u64) * 8).to_be_bytes());
    let full = ctx.sign();
    if !zoll_stdx::ct::eq(&full.as_ref()[..half], tag) {
        return None;
    }
    let iv: [u8; 16] = iv.try_into().ok()?;
    let key = cipher::PaddedBlockDecryptingKey::cbc_pkcs7(
        cipher::UnboundCipherKey::new(aes, &cek[half..]).ok()?,
    )
    .ok()?;
    let mut buf = ct.to_vec();
    let plain = key
        .decrypt(&mut buf, cipher::DecryptionContext::Iv128(iv.into()))
        .ok()?;
    Some(plain.to_vec())
}

/// The `kid` of each recipient (None where absent), in order.
pub fn recipient_kids(input: &[u8]) -> Result<Vec<Option<String>>> {
    let jwe = parse(input)?;
    Ok(jwe
        .recipients
        .iter()
        .map(|(header, _)| {
            header
                .get("kid")
                .or_else(|| jwe.shared.get("kid"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect())
}

/// Removes the recipients whose `kid` is in `kids`. Returns the new JWE (None when no
/// recipient is left) and how many were removed. Removing from a general JWE needs no key:
/// the per-recipient headers are not part of the AAD.
pub fn remove_recipients(input: &[u8], kids: &[String]) -> Result<(Option<Vec<u8>>, usize)> {
    let mut value: Value =
        serde_json::from_slice(input).map_err(|e| malformed("JWE", e.to_string()))?;
    let current = recipient_kids(input)?;
    let doomed: Vec<bool> = current
        .iter()
        .map(|k| k.as_ref().is_some_and(|k| kids.contains(k)))
        .collect();
    let removed = doomed.iter().filter(|&&d| d).count();
    if removed == 0 {
        return Ok((Some(input.to_vec()), 0));
    }
    if removed == current.len() {
        return Ok((None, removed));
    }
    // Only a general JWE has more than one recipient.
    let obj = value
        .as_object_mut()
        .ok_or_else(|| malformed("JWE", "not an object"))?;
    if let Some(Value::Array(list)) = obj.get_mut("recipients") {
        let mut i = 0;
        list.retain(|_| {
            let keep = !doomed[i];
            i += 1;
            keep
        });
    }
    // go-jose copies the first recipient's key to the top level; it must not outlive it.
    obj.remove("encrypted_key");
    Ok((Some(serde_json::to_vec(&value).expect("json")), removed))
}
