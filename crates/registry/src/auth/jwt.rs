//! Registry tokens: compact JWS (RFC 7515) with ES256 over P-256 (aws-lc-rs), carrying the
//! Docker token claims (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`, `access`).
//! Verification accepts exactly `ES256` with a known key id and checks issuer, audience and
//! time; everything else (`alg: none`, HS256 with the public key, unknown keys, oversized
//! tokens) is refused before any claim is trusted.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

/// Tokens longer than this are refused unread.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Clock skew tolerated on `nbf` and `exp`, in seconds.
const LEEWAY_SECS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token algorithm {0:?} is not accepted (only ES256)")]
    Algorithm(String),
    #[error("token is signed by an unknown key")]
    UnknownKey,
    #[error("token signature is invalid")]
    Signature,
    #[error("token issuer is wrong")]
    Issuer,
    #[error("token audience is wrong")]
    Audience,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
}

/// One entry of the `access` claim: `{"type":"repository","name":"a/b","actions":["pull"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default)]
    pub access: Vec<Access>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// A P-256 signing key and its id (the first 16 hex digits of SHA-256 of the public key).
pub struct SigningKey {
    pub kid: String,
    pair: EcdsaKeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

impl SigningKey {
    pub fn generate() -> SigningKey {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("P-256 key generation");
        SigningKey::from_pkcs8(doc.as_ref()).expect("generated key parses")
    }

    pub fn from_pkcs8(der: &[u8]) -> Option<SigningKey> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).ok()?;
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pair.public_key().as_ref());
        Some(SigningKey {
            kid: zoll_stdx::hex::encode(&digest.as_ref()[..8]),
            pair,
        })
    }

    pub fn from_pkcs8_hex(s: &str) -> Option<SigningKey> {
        SigningKey::from_pkcs8(&zoll_stdx::hex::decode(s)?)
    }

    pub fn pkcs8_hex(&self) -> String {
        zoll_stdx::hex::encode(self.pair.to_pkcs8v1().expect("PKCS#8 export").as_ref())
    }

    /// Signs `claims` as a compact JWS.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = Header {
            alg: "ES256".into(),
            typ: Some("JWT".into()),
            kid: Some(self.kid.clone()),
        };
        let input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&header).expect("header serializes")),
            B64.encode(serde_json::to_vec(claims).expect("claims serialize"))
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("ECDSA signing");
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }

    fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }
}

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub now: i64,
}

/// The keys tokens may be signed with: the first signs, all verify.
pub struct KeySet {
    keys: Vec<(SigningKey, Vec<u8>)>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| &k.0.kid))
            .finish()
    }
}

impl KeySet {
    /// `keys` must not be empty.
    pub fn new(keys: Vec<SigningKey>) -> KeySet {
        assert!(!keys.is_empty(), "a key set needs a key");
        KeySet {
            keys: keys
                .into_iter()
                .map(|k| {
                    let public = k.public_key();
                    (k, public)
                })
                .collect(),
        }
    }

    pub fn signer(&self) -> &SigningKey {
        &self.keys[0].0
    }

    pub fn verify(&self, token: &str, expect: &Expect<'_>) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Header = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if header.alg != "ES256" {
            return Err(TokenError::Algorithm(header.alg));
        }
        let public = match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|(k, _)| &k.kid == kid)
                .map(|(_, p)| p)
                .ok_or(TokenError::UnknownKey)?,
            None => return Err(TokenError::UnknownKey),
        };
        let sig = B64.decode(s).map_err(|_| TokenError::Malformed)?;
        let signed = &token[..h.len() + 1 + c.len()];
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public)
            .verify(signed.as_bytes(), &sig)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = B64
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.iss != expect.issuer {
            return Err(TokenError::Issuer);
        }
        if claims.aud != expect.audience {
            return Err(TokenError::Audience);
        }
        if claims.exp + LEEWAY_SECS <= expect.now {
            return Err(TokenError::Expired);
        }
        if claims.nbf - LEEWAY_SECS > expect.now {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

/// Encodes header and claims without a signature, as an `alg: none` token would be; for
/// tests that make sure such tokens are refused.
pub fn unsigned_token(alg: &str, claims: &Claims) -> String {
    let header = serde_json::json!({ "alg": alg, "typ": "JWT" });
    format!(
        "{}.{}.",
        B64.encode(header.to_string()),
        B64.encode(serde_json::to_vec(claims).expect("claims serialize"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "zoll".into(),
            sub: "alice".into(),
            aud: "registry".into(),
            exp: now + 300,
            nbf: now,
            iat: now,
            jti: "j".into(),
            access: vec![Access {
                kind: "repository".into(),
                name: "team/app".into(),
                actions: vec!["pull".into()],
            }],
        }
    }

    #[test]
    fn verification_refuses_every_forgery() {
        let key = SigningKey::generate();
        let other = SigningKey::generate();
        let keys = KeySet::new(vec![SigningKey::from_pkcs8_hex(&key.pkcs8_hex()).unwrap()]);
        let now = 1_700_000_000;
        let ok = Expect {
            issuer: "zoll",
            audience: "registry",
            now,
        };
        let good = key.sign(&claims(now));
        assert_eq!(keys.verify(&good, &ok).unwrap(), claims(now));

        let check = |token: String, expect: &Expect<'_>, err: TokenError| {
            assert_eq!(keys.verify(&token, expect), Err(err));
        };
        check(other.sign(&claims(now)), &ok, TokenError::UnknownKey);
        // The other key claiming our key id: the signature does not verify.
        let forged = {
            let mut parts: Vec<String> = other
                .sign(&claims(now))
                .split('.')
                .map(String::from)
                .collect();
            parts[0] = good.split('.').next().unwrap().to_owned();
            parts.join(".")
        };
        check(forged, &ok, TokenError::Signature);
        check(
            unsigned_token("none", &claims(now)),
            &ok,
            TokenError::Algorithm("none".into()),
        );
        check(
            unsigned_token("HS256", &claims(now)),
            &ok,
            TokenError::Algorithm("HS256".into()),
        );
        let mut c = claims(now);
        c.aud = "elsewhere".into();
        check(key.sign(&c), &ok, TokenError::Audience);
        let mut c = claims(now);
        c.iss = "mallory".into();
        check(key.sign(&c), &ok, TokenError::Issuer);
        let late = Expect {
            now: now + 400,
            ..ok.clone()
        };
        check(good.clone(), &late, TokenError::Expired);
        let early = Expect {
            now: now - 100,
            ..ok.clone()
        };
        check(good.clone(), &early, TokenError::NotYetValid);
        // A changed claim breaks the signature.
        let tampered = {
            let mut parts: Vec<String> = good.split('.').map(String::from).collect();
            let mut c = claims(now);
            c.access[0].actions.push("push".into());
            parts[1] = B64.encode(serde_json::to_vec(&c).unwrap());
            parts.join(".")
        };
        check(tampered, &ok, TokenError::Signature);
        check("a.b".into(), &ok, TokenError::Malformed);
        check("x".repeat(MAX_TOKEN_BYTES + 1), &ok, TokenError::Malformed);
    }
}
