//! The JWS envelope (`application/jose+json`): flattened JSON serialization with the Notary
//! Project's protected headers, written the way Go's `encoding/json` writes a map (sorted
//! keys), which is what makes our `protected` bytes equal the reference implementation's.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::envelope::*;
use crate::x509::parse_chain;
use zoll_stdx::base64;

/// The flattened JWS JSON serialization; anything else (general serialization, extra members)
/// is refused.
#[derive(serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Jws {
    payload: String,
    protected: String,
    header: Unprotected,
    signature: String,
}

#[derive(serde::Serialize, Deserialize)]
struct Unprotected {
    x5c: Vec<String>,
    #[serde(
        rename = "io.cncf.notary.signingAgent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    signing_agent: Option<String>,
    #[serde(
        rename = "io.cncf.notary.timestampSignature",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    timestamp_signature: Option<String>,
}

/// A JSON object that refuses duplicate member names (serde_json would keep the last one,
/// letting two parsers of the same header disagree).
struct UniqueObject(BTreeMap<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueObject, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    if out.insert(k.clone(), v).is_some() {
                        return Err(serde::de::Error::custom(format!("duplicate member {k:?}")));
                    }
                }
                Ok(UniqueObject(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .expect("0 ns is valid")
        .format(&Rfc3339)
        .expect("RFC 3339 formats")
}

/// Signs `request` into a JWS envelope.
pub fn sign(request: &SignRequest<'_>) -> Result<Vec<u8>, SignError> {
    let algorithm = request.algorithm()?;
    let mut header: BTreeMap<String, Value> = BTreeMap::new();
    let mut crit = vec![HEADER_SIGNING_SCHEME.to_owned()];
    header.insert("alg".into(), jws_alg(algorithm).into());
    header.insert("cty".into(), PAYLOAD_CONTENT_TYPE.into());
    header.insert(HEADER_SIGNING_SCHEME.into(), request.scheme.as_str().into());
    match request.scheme {
        SigningScheme::X509 => {
            header.insert(
                HEADER_SIGNING_TIME.into(),
                rfc3339(request.signing_time).into(),
            );
        }
        SigningScheme::X509SigningAuthority => {
            header.insert(
                HEADER_AUTHENTIC_SIGNING_TIME.into(),
                rfc3339(request.signing_time).into(),
            );
            crit.push(HEADER_AUTHENTIC_SIGNING_TIME.into());
        }
    }
    for attr in &request.extended {
        if header
            .insert(attr.key.clone(), attr.value.clone().into())
            .is_some()
        {
            return Err(SignError::Request(format!(
                "attribute {:?} given twice",
                attr.key
            )));
        }
        if attr.critical {
            crit.push(attr.key.clone());
        }
    }
    if let Some(expiry) = request.expiry {
        header.insert(HEADER_EXPIRY.into(), rfc3339(expiry).into());
        crit.push(HEADER_EXPIRY.into());
    }
    header.insert("crit".into(), crit.into());
    let protected = base64::encode_url(&crate::go_json::marshal(&header));
    let payload = base64::encode_url(&request.payload);
    let signing_input = format!("{protected}.{payload}");
    let signature = request.key.sign(algorithm, signing_input.as_bytes())?;
    let jws = Jws {
        payload,
        protected,
        header: Unprotected {
            x5c: request.chain.iter().map(|c| base64::encode(c)).collect(),
            signing_agent: Some(request.signing_agent.clone()),
            timestamp_signature: None,
        },
        signature: base64::encode_url(&signature),
    };
    Ok(crate::go_json::marshal(&jws))
}

fn time_field(header: &BTreeMap<String, Value>, name: &str) -> Result<Option<i64>, EnvelopeError> {
    match header.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339)
            .map(|t| Some(t.unix_timestamp()))
            .map_err(|_| malformed(format!("{name} is not an RFC 3339 time"))),
        Some(_) => Err(malformed(format!("{name} is not a string"))),
    }
}

/// Parses a JWS envelope and checks its integrity.
pub fn verify(envelope: &[u8]) -> Result<SignerInfo, EnvelopeError> {
    if envelope.len() > MAX_ENVELOPE_LEN {
        return Err(EnvelopeError::TooLarge);
    }
    let jws: Jws =
        serde_json::from_slice(envelope).map_err(|e| malformed(format!("JWS JSON: {e}")))?;
    let protected_bytes = base64::decode_url(&jws.protected)
        .ok_or_else(|| malformed("protected is not base64url"))?;
    let payload =
        base64::decode_url(&jws.payload).ok_or_else(|| malformed("payload is not base64url"))?;
    let signature = base64::decode_url(&jws.signature)
        .ok_or_else(|| malformed("signature is not base64url"))?;
    let UniqueObject(header) = serde_json::from_slice(&protected_bytes)
        .map_err(|e| malformed(format!("protected header: {e}")))?;

    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("alg is missing"))?;
    let algorithm = from_jws_alg(alg_name)
        .ok_or_else(|| EnvelopeError::UnsupportedAlgorithm(alg_name.to_owned()))?;
    match header.get("cty").and_then(Value::as_str) {
        Some(PAYLOAD_CONTENT_TYPE) => {}
        other => {
            return Err(EnvelopeError::ContentType(
                other.unwrap_or_default().to_owned(),
            ));
        }
    }
    let scheme_name = header
        .get(HEADER_SIGNING_SCHEME)
        .and_then(Value::as_str)
        .ok_or_else(|| EnvelopeError::Critical(HEADER_SIGNING_SCHEME.into()))?;
    let scheme = SigningScheme::parse(scheme_name)
        .ok_or_else(|| malformed(format!("signing scheme {scheme_name:?}")))?;
    let crit: Vec<String> = match header.get("crit") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| malformed("crit member is not a string"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(malformed("crit is missing")),
    };
    let signing_time = time_field(&header, HEADER_SIGNING_TIME)?;
    let authentic_signing_time = time_field(&header, HEADER_AUTHENTIC_SIGNING_TIME)?;
    let expiry = time_field(&header, HEADER_EXPIRY)?;
    let required = required_headers(scheme, signing_time, authentic_signing_time, expiry)?;
    check_crit(&crit, &|name| header.contains_key(name), &required)?;

    const RESERVED: &[&str] = &[
        "alg",
        "cty",
        "crit",
        HEADER_SIGNING_SCHEME,
        HEADER_SIGNING_TIME,
        HEADER_AUTHENTIC_SIGNING_TIME,
        HEADER_EXPIRY,
    ];
    let mut extended = Vec::new();
    for (key, value) in &header {
        if RESERVED.contains(&key.as_str()) {
            continue;
        }
        let value = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        extended.push(ExtendedAttribute {
            key: key.clone(),
            value,
            critical: crit.contains(key),
        });
    }

    let ders = jws
        .header
        .x5c
        .iter()
        .map(|c| base64::decode(c).ok_or_else(|| malformed("x5c entry is not base64")))
        .collect::<Result<Vec<_>, _>>()?;
    let chain = parse_chain(&ders)?;
    let signing_input = format!("{}.{}", jws.protected, jws.payload);
    check_integrity(algorithm, &chain, signing_input.as_bytes(), &signature)?;
    Ok(SignerInfo {
        algorithm,
        payload,
        scheme,
        signing_time,
        authentic_signing_time,
        expiry,
        chain,
        signing_agent: jws.header.signing_agent,
        extended,
        has_timestamp_countersignature: jws.header.timestamp_signature.is_some(),
    })
}
