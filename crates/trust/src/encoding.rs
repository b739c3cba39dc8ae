//! Small encodings shared by the formats: base64 flavours, a minimal DER writer/reader for
//! the few structures we build (ECDSA signatures, SubjectPublicKeyInfo), and JSON the way Go's
//! `encoding/json` writes it (sorted map keys, HTML-safe escapes), which Notation's reference
//! implementation produces and its conformance vectors pin down.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url without padding (RFC 7515 §2): padding or stray characters are refused.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Serializes like Go's `json.Marshal`: compact, and `<`, `>`, `&`, U+2028, U+2029 escaped.
/// Those characters can only occur inside strings, so escaping after serde is exact.
pub fn go_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let text = serde_json::to_string(value).expect("JSON values serialize");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.into_bytes()
}

// ---- DER ----

pub fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER from unsigned big-endian bytes.
pub fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    let mut content = Vec::with_capacity(bytes.len() + 1);
    let trimmed = if bytes.is_empty() {
        &[0u8][..]
    } else {
        &bytes[start..]
    };
    if trimmed[0] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    der_tlv(0x02, &content)
}

pub fn der_sequence(parts: &[&[u8]]) -> Vec<u8> {
    der_tlv(0x30, &parts.concat())
}

/// ECDSA `r || s` (each `width` bytes) to the ASN.1 `ECDSA-Sig-Value` DER form.
pub fn ecdsa_fixed_to_der(fixed: &[u8]) -> Vec<u8> {
    let (r, s) = fixed.split_at(fixed.len() / 2);
    der_sequence(&[&der_uint(r), &der_uint(s)])
}

/// Reads one DER TLV: (tag, content, rest). Refuses indefinite and non-minimal lengths.
pub fn der_read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n || rest[0] == 0 {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        if len < 0x80 {
            return None;
        }
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// ASN.1 `ECDSA-Sig-Value` DER to fixed `r || s` of `width` bytes each.
pub fn ecdsa_der_to_fixed(der: &[u8], width: usize) -> Option<Vec<u8>> {
    let (tag, seq, rest) = der_read(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (rt, r, seq) = der_read(seq)?;
    let (st, s, seq) = der_read(seq)?;
    if rt != 0x02 || st != 0x02 || !seq.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(width * 2);
    for int in [r, s] {
        let int = match int.iter().position(|b| *b != 0) {
            Some(i) => &int[i..],
            None => &[][..],
        };
        if int.len() > width {
            return None;
        }
        out.extend(std::iter::repeat_n(0u8, width - int.len()));
        out.extend_from_slice(int);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_round_trip() {
        let mut fixed = vec![0u8; 64];
        fixed[0] = 0x80;
        fixed[63] = 1;
        let der = ecdsa_fixed_to_der(&fixed);
        assert_eq!(ecdsa_der_to_fixed(&der, 32).unwrap(), fixed);
    }

    #[test]
    fn go_json_escapes_html() {
        assert_eq!(go_json(&"a<b>&"), br#""a\u003cb\u003e\u0026""#.to_vec());
    }
}
