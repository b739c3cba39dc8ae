//! ocicrypt's layer block cipher options. The private options (key, nonce, plaintext digest)
//! are what every key-wrapping scheme wraps; the public options (cipher, HMAC) travel in
//! `org.opencontainers.image.enc.pubopts`. Field names and order are ocicrypt's (Go structs
//! with `[]byte` as standard base64).

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use zoll_oci::Digest;

use crate::error::{Result, malformed, unsupported};

/// The only cipher ocicrypt defines.
pub const AES_256_CTR_HMAC_SHA256: &str = "AES_256_CTR_HMAC_SHA256";

/// Bytes as Go's encoding/json writes `[]byte`: standard base64; `null` for nil.
mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        match s {
            None => Ok(Vec::new()),
            Some(s) => base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(serde::de::Error::custom),
        }
    }
}

/// `map[string][]byte`: values standard base64; `null` is an empty map.
mod b64_map {
    use std::collections::BTreeMap;

    use base64::Engine;
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        v: &BTreeMap<String, Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(v.len()))?;
        for (k, val) in v {
            map.serialize_entry(k, &base64::engine::general_purpose::STANDARD.encode(val))?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Vec<u8>>, D::Error> {
        let raw: Option<BTreeMap<String, Option<String>>> = Option::deserialize(d)?;
        let mut out = BTreeMap::new();
        for (k, v) in raw.unwrap_or_default() {
            let bytes = match v {
                None => Vec::new(),
                Some(v) => base64::engine::general_purpose::STANDARD
                    .decode(v.as_bytes())
                    .map_err(serde::de::Error::custom)?,
            };
            out.insert(k, bytes);
        }
        Ok(out)
    }
}

#[derive(Serialize, Deserialize)]
struct RawPrivate {
    #[serde(with = "b64", default)]
    symkey: Vec<u8>,
    #[serde(default)]
    digest: String,
    #[serde(with = "b64_map", default)]
    cipheroptions: BTreeMap<String, Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
struct RawPublic {
    #[serde(default)]
    cipher: String,
    #[serde(with = "b64", default)]
    hmac: Vec<u8>,
    #[serde(with = "b64_map", default)]
    cipheroptions: BTreeMap<String, Vec<u8>>,
}

/// The secret half: what gets wrapped for each recipient.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateOptions {
    pub key: [u8; 32],
    pub nonce: [u8; 16],
    /// Digest of the plaintext layer (the descriptor digest after decryption).
    pub digest: Digest,
}

impl std::fmt::Debug for PrivateOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateOptions")
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Drop for PrivateOptions {
    fn drop(&mut self) {
        // Best effort: the key should not outlive its use in freed memory.
        self.key.iter_mut().for_each(|b| *b = 0);
    }
}

/// The public half: cipher name and the HMAC over the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicOptions {
    pub hmac: [u8; 32],
    /// A nonce in the public options takes precedence (ocicrypt's `GetOpt` looks there first).
    pub nonce: Option<[u8; 16]>,
}

impl PrivateOptions {
    /// The JSON ocicrypt wraps: `{"symkey":…,"digest":…,"cipheroptions":{"nonce":…}}`.
    pub fn to_json(&self) -> Vec<u8> {
        let raw = RawPrivate {
            symkey: self.key.to_vec(),
            digest: self.digest.to_string(),
            cipheroptions: BTreeMap::from([("nonce".to_owned(), self.nonce.to_vec())]),
        };
        serde_json::to_vec(&raw).expect("options serialize")
    }

    /// Parses unwrapped options. The nonce may instead be in the public options.
    pub fn from_json(bytes: &[u8], public: &PublicOptions) -> Result<PrivateOptions> {
        let raw: RawPrivate = serde_json::from_slice(bytes)
            .map_err(|e| malformed("private layer options", e.to_string()))?;
        let key: [u8; 32] = raw.symkey.as_slice().try_into().map_err(|_| {
            malformed(
                "private layer options",
                format!("symmetric key is {} bytes, need 32", raw.symkey.len()),
            )
        })?;
        let nonce = match public.nonce {
            Some(n) => n,
            None => raw
                .cipheroptions
                .get("nonce")
                .and_then(|n| <[u8; 16]>::try_from(n.as_slice()).ok())
                .ok_or_else(|| malformed("private layer options", "16-byte nonce missing"))?,
        };
        let digest = raw
            .digest
            .parse()
            .map_err(|e| malformed("private layer options", format!("digest: {e}")))?;
        Ok(PrivateOptions { key, nonce, digest })
    }
}

impl PublicOptions {
    /// `{"cipher":"AES_256_CTR_HMAC_SHA256","hmac":…,"cipheroptions":{}}`
    pub fn to_json(&self) -> Vec<u8> {
        let mut cipheroptions = BTreeMap::new();
        if let Some(n) = self.nonce {
            cipheroptions.insert("nonce".to_owned(), n.to_vec());
        }
        let raw = RawPublic {
            cipher: AES_256_CTR_HMAC_SHA256.to_owned(),
            hmac: self.hmac.to_vec(),
            cipheroptions,
        };
        serde_json::to_vec(&raw).expect("options serialize")
    }

    /// The annotation value: base64 of the JSON.
    pub fn to_annotation(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_json())
    }

    pub fn from_annotation(value: Option<&str>) -> Result<PublicOptions> {
        let value = value.ok_or_else(|| {
            malformed(
                "encryption annotations",
                "org.opencontainers.image.enc.pubopts is missing",
            )
        })?;
        let json = base64::engine::general_purpose::STANDARD
            .decode(value.trim().as_bytes())
            .map_err(|e| malformed("pubopts annotation", e.to_string()))?;
        let raw: RawPublic = serde_json::from_slice(&json)
            .map_err(|e| malformed("pubopts annotation", e.to_string()))?;
        if raw.cipher != AES_256_CTR_HMAC_SHA256 {
            return Err(unsupported("layer cipher", raw.cipher));
        }
        let hmac = raw
            .hmac
            .as_slice()
            .try_into()
            .map_err(|_| malformed("pubopts annotation", "HMAC must be 32 bytes"))?;
        let nonce = match raw.cipheroptions.get("nonce") {
            None => None,
            Some(n) => Some(
                n.as_slice()
                    .try_into()
                    .map_err(|_| malformed("pubopts annotation", "nonce must be 16 bytes"))?,
            ),
        };
        Ok(PublicOptions { hmac, nonce })
    }
}
