//! ECDSA signatures in their two forms: fixed-width `r ‖ s` (JWS, COSE, PKCS#11) and the
//! ASN.1 `ECDSA-Sig-Value` SEQUENCE of two INTEGERs (X.509, cosign, DSSE).

use crate::der;
use crate::error::{Result, malformed};

/// Fixed `r ‖ s` (two halves of equal width) to DER.
pub fn fixed_to_der(fixed: &[u8]) -> Vec<u8> {
    let (r, s) = fixed.split_at(fixed.len() / 2);
    der::sequence(&[&der::uint(r), &der::uint(s)])
}

/// DER `ECDSA-Sig-Value` to fixed `r ‖ s` of `width` bytes each. Negative integers, values
/// wider than `width`, non-minimal integers and trailing bytes are refused: one signature has
/// one encoding.
pub fn der_to_fixed(signature: &[u8], width: usize) -> Result<Vec<u8>> {
    const WHAT: &str = "ECDSA signature";
    let mut seq = der::single(signature, der::SEQUENCE, WHAT)?;
    let mut out = Vec::with_capacity(width * 2);
    for _ in 0..2 {
        let int = seq.expect(der::INTEGER)?;
        match int {
            [] => return Err(malformed(WHAT, "empty INTEGER")),
            [b, ..] if b & 0x80 != 0 => return Err(malformed(WHAT, "negative INTEGER")),
            [0, b, ..] if b & 0x80 == 0 => return Err(malformed(WHAT, "non-minimal INTEGER")),
            _ => {}
        }
        let value = der::unsigned(int);
        let value = if value == [0] { &[][..] } else { value };
        if value.len() > width {
            return Err(malformed(WHAT, "INTEGER wider than the curve"));
        }
        out.extend(std::iter::repeat_n(0u8, width - value.len()));
        out.extend_from_slice(value);
    }
    seq.finish()?;
    Ok(out)
}
