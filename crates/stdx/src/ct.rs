//! Comparing secrets (password hashes, MACs, PIN hashes) without an early exit, so timing does
//! not tell how much of a guess matched.

/// Whether `a` and `b` are equal, in time that depends only on their lengths. Different
/// lengths are unequal at once: the length of what is compared is not the secret.
pub fn eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_and_not() {
        assert!(eq(b"", b""));
        assert!(eq(b"secret", b"secret"));
        assert!(!eq(b"secret", b"secreT"));
        assert!(!eq(b"secret", b"secret!"));
        assert!(!eq(b"secret", b"secre"));
        assert!(!eq(b"", b"x"));
    }
}
