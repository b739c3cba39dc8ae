//! Verified logins, remembered briefly: docker and podman send Basic credentials with
//! every request, and each would otherwise cost a password hash. An entry is an HMAC, under
//! a key made at start and never stored, of the user name, the password and the stored
//! hash they were checked against — so a changed password or hash stops matching at once,
//! and the table holds nothing a reader could use to log in. Entries live for the token
//! lifetime; the table is bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_lc_rs::hmac;

/// Most remembered logins.
const MAX_ENTRIES: usize = 10_000;

pub(super) struct LoginCache {
    key: hmac::Key,
    ttl_ms: i64,
    /// tag → expiry (ms since the epoch). Looking a tag up by equality leaks nothing: an
    /// attacker cannot compute tags without the key.
    entries: Mutex<HashMap<[u8; 32], i64>>,
}

impl LoginCache {
    pub(super) fn new(ttl: Duration) -> LoginCache {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        LoginCache {
            key: hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("system RNG available"),
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn tag(&self, user: &str, password: &str, stored_hash: &str) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        // Length-prefixed, so no two triples share an input.
        for part in [user, password, stored_hash] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// Whether `user` logged in with `password` against `stored_hash` less than a token
    /// lifetime ago.
    pub(super) fn verified(
        &self,
        user: &str,
        password: &str,
        stored_hash: &str,
        now_ms: i64,
    ) -> bool {
        if self.ttl_ms <= 0 {
            return false;
        }
        let tag = self.tag(user, password, stored_hash);
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(&tag).is_some_and(|&expires| now_ms < expires)
    }

    /// Remembers a login that was just verified.
    pub(super) fn remember(&self, user: &str, password: &str, stored_hash: &str, now_ms: i64) {
        if self.ttl_ms <= 0 {
            return;
        }
        let tag = self.tag(user, password, stored_hash);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, &mut expires| now_ms < expires);
            if entries.len() >= MAX_ENTRIES {
                // Still full of live entries: forget them all rather than grow; each client
                // pays one more hash.
                entries.clear();
            }
        }
        entries.insert(tag, now_ms.saturating_add(self.ttl_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_exactly_what_was_verified_for_the_ttl() {
        let c = LoginCache::new(Duration::from_secs(300));
        c.remember("alice", "pw", "$argon2id$h1", 1_000);
        assert!(c.verified("alice", "pw", "$argon2id$h1", 1_000));
        assert!(c.verified("alice", "pw", "$argon2id$h1", 300_999));
        assert!(
            !c.verified("alice", "pw", "$argon2id$h1", 301_000),
            "expired"
        );
        assert!(
            !c.verified("alice", "pw2", "$argon2id$h1", 2_000),
            "other password"
        );
        assert!(
            !c.verified("alice", "pw", "$argon2id$h2", 2_000),
            "password changed"
        );
        assert!(
            !c.verified("alicep", "w", "$argon2id$h1", 2_000),
            "shifted boundary"
        );
        let off = LoginCache::new(Duration::ZERO);
        off.remember("alice", "pw", "h", 0);
        assert!(!off.verified("alice", "pw", "h", 0));
    }

    #[test]
    fn the_table_is_bounded() {
        let c = LoginCache::new(Duration::from_secs(300));
        for i in 0..(MAX_ENTRIES + 5) {
            c.remember(&format!("u{i}"), "pw", "h", 0);
        }
        assert!(c.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
