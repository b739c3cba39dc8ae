//! Random identifiers that must not be guessable (upload sessions, token ids, event ids) but
//! are no key material: keys are made where they are used (`crypt`, `trust`).

/// `n` bytes from the system RNG, as `2 * n` lowercase hex digits.
pub fn hex_id(n: usize) -> String {
    let mut b = vec![0u8; n];
    // Without a working system RNG nothing zoll does is safe: stop rather than hand out ids.
    aws_lc_rs::rand::fill(&mut b).expect("system RNG available");
    crate::hex::encode(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_and_alphabet() {
        let a = hex_id(16);
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_ne!(a, hex_id(16));
        assert_eq!(hex_id(0), "");
    }
}
