//! The COSE_Sign1 envelope (`application/cose`, RFC 9052) with the Notary Project's headers:
//! protected {1: alg, 2: crit, 3: content type, signing scheme/time/expiry as text labels,
//! times as tag-1 epoch seconds}, unprotected {33: x5chain, signing agent}.

use super::envelope::*;
use crate::cbor::{self, Value};
use crate::x509::parse_chain;

const LABEL_ALG: i64 = 1;
const LABEL_CRIT: i64 = 2;
const LABEL_CONTENT_TYPE: i64 = 3;
const LABEL_X5CHAIN: i64 = 33;
const TAG_SIGN1: u64 = 18;
const TAG_EPOCH: u64 = 1;

fn epoch(t: i64) -> Value {
    Value::Tag(TAG_EPOCH, Box::new(Value::int(t)))
}

/// The protected header map of a request.
fn protected_header(request: &SignRequest<'_>, alg: i64) -> Result<Value, SignError> {
    let mut entries = vec![
        (Value::int(LABEL_ALG), Value::int(alg)),
        (
            Value::int(LABEL_CONTENT_TYPE),
            Value::text(PAYLOAD_CONTENT_TYPE),
        ),
        (
            Value::text(HEADER_SIGNING_SCHEME),
            Value::text(request.scheme.as_str()),
        ),
    ];
    let mut crit = vec![Value::text(HEADER_SIGNING_SCHEME)];
    let signing_time = epoch(request.signing_time.unix_timestamp());
    match request.scheme {
        SigningScheme::X509 => entries.push((Value::text(HEADER_SIGNING_TIME), signing_time)),
        SigningScheme::X509SigningAuthority => {
            entries.push((Value::text(HEADER_AUTHENTIC_SIGNING_TIME), signing_time));
            crit.push(Value::text(HEADER_AUTHENTIC_SIGNING_TIME));
        }
    }
    if let Some(expiry) = request.expiry {
        entries.push((Value::text(HEADER_EXPIRY), epoch(expiry.unix_timestamp())));
        crit.push(Value::text(HEADER_EXPIRY));
    }
    for attr in &request.extended {
        let key = Value::text(&attr.key);
        if entries.iter().any(|(k, _)| *k == key) {
            return Err(SignError::Request(format!(
                "attribute {:?} given twice",
                attr.key
            )));
        }
        entries.push((key.clone(), Value::text(&attr.value)));
        if attr.critical {
            crit.push(key);
        }
    }
    entries.push((Value::int(LABEL_CRIT), Value::Array(crit)));
    Ok(Value::Map(entries))
}

fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    cbor::encode(&Value::Array(vec![
        Value::text("Signature1"),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(Vec::new()),
        Value::Bytes(payload.to_vec()),
    ]))
}

/// The encoded protected and unprotected headers a request yields (what the conformance
/// vectors pin down).
pub fn headers(request: &SignRequest<'_>) -> Result<(Vec<u8>, Value), SignError> {
    let algorithm = request.algorithm()?;
    let protected = cbor::encode(&protected_header(request, cose_alg(algorithm))?);
    let mut unprotected = vec![(
        Value::text(HEADER_SIGNING_AGENT),
        Value::text(&request.signing_agent),
    )];
    if !request.chain.is_empty() {
        let chain = request
            .chain
            .iter()
            .map(|c| Value::Bytes(c.clone()))
            .collect();
        unprotected.push((Value::int(LABEL_X5CHAIN), Value::Array(chain)));
    }
    Ok((protected, Value::Map(unprotected)))
}

/// Signs `request` into a tagged COSE_Sign1 message.
pub fn sign(request: &SignRequest<'_>) -> Result<Vec<u8>, SignError> {
    let algorithm = request.algorithm()?;
    let (protected, unprotected) = headers(request)?;
    let signature = request
        .key
        .sign(algorithm, &sig_structure(&protected, &request.payload))?;
    Ok(cbor::encode(&Value::Tag(
        TAG_SIGN1,
        Box::new(Value::Array(vec![
            Value::Bytes(protected),
            unprotected,
            Value::Bytes(request.payload.clone()),
            Value::Bytes(signature),
        ])),
    )))
}

fn time_label(header: &Value, name: &str) -> Result<Option<i64>, EnvelopeError> {
    match header.get(&Value::text(name)) {
        None => Ok(None),
        Some(Value::Tag(TAG_EPOCH, inner)) => inner
            .as_i64()
            .map(Some)
            .ok_or_else(|| malformed(format!("{name} is not integer seconds"))),
        Some(_) => Err(malformed(format!("{name} is not a tag-1 time"))),
    }
}

/// Parses a COSE_Sign1 envelope and checks its integrity.
pub fn verify(envelope: &[u8]) -> Result<SignerInfo, EnvelopeError> {
    if envelope.len() > MAX_ENVELOPE_LEN {
        return Err(EnvelopeError::TooLarge);
    }
    let message = cbor::decode(envelope).map_err(|e| malformed(format!("COSE: {e}")))?;
    let parts = match message {
        Value::Tag(TAG_SIGN1, inner) => match *inner {
            Value::Array(parts) if parts.len() == 4 => parts,
            _ => return Err(malformed("COSE_Sign1 must be an array of 4")),
        },
        _ => return Err(malformed("not a tagged COSE_Sign1 message")),
    };
    let protected_bytes = parts[0]
        .as_bytes()
        .ok_or_else(|| malformed("protected header is not a byte string"))?;
    let header =
        cbor::decode(protected_bytes).map_err(|e| malformed(format!("protected header: {e}")))?;
    let Value::Map(entries) = &header else {
        return Err(malformed("protected header is not a map"));
    };
    let unprotected = &parts[1];
    if !matches!(unprotected, Value::Map(_)) {
        return Err(malformed("unprotected header is not a map"));
    }
    let payload = parts[2]
        .as_bytes()
        .ok_or_else(|| malformed("payload must be attached"))?;
    let signature = parts[3]
        .as_bytes()
        .ok_or_else(|| malformed("signature is not a byte string"))?;

    let alg_id = header
        .get(&Value::int(LABEL_ALG))
        .and_then(Value::as_i64)
        .ok_or_else(|| malformed("alg is missing"))?;
    let algorithm = from_cose_alg(alg_id)
        .ok_or_else(|| EnvelopeError::UnsupportedAlgorithm(alg_id.to_string()))?;
    match header
        .get(&Value::int(LABEL_CONTENT_TYPE))
        .and_then(Value::as_text)
    {
        Some(PAYLOAD_CONTENT_TYPE) => {}
        other => {
            return Err(EnvelopeError::ContentType(
                other.unwrap_or_default().to_owned(),
            ));
        }
    }
    let scheme_name = header
        .get(&Value::text(HEADER_SIGNING_SCHEME))
        .and_then(Value::as_text)
        .ok_or_else(|| EnvelopeError::Critical(HEADER_SIGNING_SCHEME.into()))?;
    let scheme = SigningScheme::parse(scheme_name)
        .ok_or_else(|| malformed(format!("signing scheme {scheme_name:?}")))?;
    let crit: Vec<String> = match header.get(&Value::int(LABEL_CRIT)) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::Text(s) => Ok(s.clone()),
                Value::Uint(_) | Value::Nint(_) => {
                    Ok(format!("#{}", v.as_i64().unwrap_or_default()))
                }
                _ => Err(malformed("crit member is neither label nor text")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(malformed("crit is missing")),
    };
    let signing_time = time_label(&header, HEADER_SIGNING_TIME)?;
    let authentic_signing_time = time_label(&header, HEADER_AUTHENTIC_SIGNING_TIME)?;
    let expiry = time_label(&header, HEADER_EXPIRY)?;
    let required = required_headers(scheme, signing_time, authentic_signing_time, expiry)?;
    let present = |name: &str| match name.strip_prefix('#').and_then(|n| n.parse::<i64>().ok()) {
        Some(label) => header.get(&Value::int(label)).is_some(),
        None => header.get(&Value::text(name)).is_some(),
    };
    check_crit(&crit, &present, &required)?;

    const RESERVED: &[&str] = &[
        HEADER_SIGNING_SCHEME,
        HEADER_SIGNING_TIME,
        HEADER_AUTHENTIC_SIGNING_TIME,
        HEADER_EXPIRY,
    ];
    let mut extended = Vec::new();
    for (key, value) in entries {
        let Value::Text(key) = key else { continue };
        if RESERVED.contains(&key.as_str()) {
            continue;
        }
        let value = match value {
            Value::Text(s) => s.clone(),
            other => format!("{other:?}"),
        };
        extended.push(ExtendedAttribute {
            key: key.clone(),
            value,
            critical: crit.contains(key),
        });
    }

    let ders: Vec<Vec<u8>> = match unprotected.get(&Value::int(LABEL_X5CHAIN)) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_bytes()
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| malformed("x5chain entry is not bytes"))
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Bytes(one)) => vec![one.clone()],
        _ => return Err(malformed("x5chain is missing")),
    };
    let chain = parse_chain(&ders)?;
    check_integrity(
        algorithm,
        &chain,
        &sig_structure(protected_bytes, payload),
        signature,
    )?;
    Ok(SignerInfo {
        algorithm,
        payload: payload.to_vec(),
        scheme,
        signing_time,
        authentic_signing_time,
        expiry,
        chain,
        signing_agent: unprotected
            .get(&Value::text(HEADER_SIGNING_AGENT))
            .and_then(Value::as_text)
            .map(str::to_owned),
        extended,
        has_timestamp_countersignature: unprotected
            .get(&Value::text(HEADER_TIMESTAMP_SIGNATURE))
            .is_some(),
    })
}
