//! Password hashes: argon2id (PHC string, written and read here), bcrypt as htpasswd files
//! carry it (read only; re-hashed to argon2id on the next successful login), and SHA-256 of
//! the random 256-bit secrets robots get (high-entropy secrets need no slow hash).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use tokio::sync::Semaphore;

/// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUT_LEN: usize = 32;
/// Longest password accepted (argon2 would take more; nobody types this much).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Most memory a stored argon2id hash may ask for (KiB): 64 MiB. Ours use 19 MiB.
const MAX_M_COST: u32 = 64 * 1024;
/// Highest bcrypt cost checked (2^16 rounds, seconds per check); a higher one is refused.
const MAX_BCRYPT_COST: u32 = 16;

fn argon2(m: u32, t: u32, p: u32) -> Option<Argon2<'static>> {
    let params = Params::new(m, t, p, Some(OUT_LEN)).ok()?;
    Some(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn random(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut b).expect("system RNG available");
    b
}

/// An argon2id hash of `password` as a PHC string (allocates its 19 MiB; a server uses
/// [`Hashing::hash`], which reuses buffers).
pub fn hash(password: &str) -> String {
    hash_in(password, &mut Vec::new())
}

/// [`hash`] in `mem`, which grows to the blocks argon2 needs and is kept for the next use.
fn hash_in(password: &str, mem: &mut Vec<Block>) -> String {
    let salt = random(16);
    let mut out = [0u8; OUT_LEN];
    let a = argon2(M_COST, T_COST, P_COST).expect("valid parameters");
    a.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks(mem, M_COST))
        .expect("argon2 hashing");
    format!(
        "$argon2id$v=19$m={M_COST},t={T_COST},p={P_COST}${}${}",
        B64.encode(salt),
        B64.encode(out)
    )
}

/// A new random robot secret (256 bits, URL-safe) and what the store keeps of it.
pub fn robot_secret() -> (String, String) {
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random(32));
    let stored = robot_hash(&secret);
    (secret, stored)
}

fn robot_hash(secret: &str) -> String {
    zoll_oci::Digest::sha256(secret.as_bytes()).to_string()
}

/// What checking a password against a stored hash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Wrong,
    Right,
    /// Right, and the stored hash should be replaced by an argon2id one.
    RightRehash,
}

/// The first `m_cost` blocks of `mem`, grown to that size if it is smaller.
fn blocks(mem: &mut Vec<Block>, m_cost: u32) -> &mut [Block] {
    let n = m_cost as usize;
    if mem.len() < n {
        mem.resize(n, Block::default());
    }
    &mut mem[..n]
}

/// Checks `password` against `stored`. Slow by design for argon2id and bcrypt: call it off
/// the async threads (a server uses [`Hashing::verify`]).
pub fn verify(password: &str, stored: &str) -> Verdict {
    verify_in(password, stored, &mut Vec::new())
}

fn verify_in(password: &str, stored: &str, mem: &mut Vec<Block>) -> Verdict {
    if password.len() > MAX_PASSWORD_BYTES {
        return Verdict::Wrong;
    }
    let right = if let Some(rest) = stored.strip_prefix("$argon2id$") {
        verify_argon2(password, rest, mem)
    } else if stored.starts_with("$2y$") || stored.starts_with("$2b$") || stored.starts_with("$2a$")
    {
        let cost = stored.get(4..6).and_then(|c| c.parse::<u32>().ok());
        if cost.is_none_or(|c| c > MAX_BCRYPT_COST) {
            return Verdict::Wrong;
        }
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verdict::RightRehash,
            _ => Verdict::Wrong,
        };
    } else if stored.starts_with("sha256:") {
        zoll_stdx::ct::eq(robot_hash(password).as_bytes(), stored.as_bytes())
    } else {
        false
    };
    if right {
        Verdict::Right
    } else {
        Verdict::Wrong
    }
}

/// `v=19$m=..,t=..,p=..$salt$hash`
fn verify_argon2(password: &str, rest: &str, mem: &mut Vec<Block>) -> bool {
    let mut parts = rest.split('$');
    let (Some("v=19"), Some(params), Some(salt), Some(expected), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let mut m = 0;
    let mut t = 0;
    let mut p = 0;
    for kv in params.split(',') {
        match kv.split_once('=') {
            Some(("m", v)) => m = v.parse().unwrap_or(0),
            Some(("t", v)) => t = v.parse().unwrap_or(0),
            Some(("p", v)) => p = v.parse().unwrap_or(0),
            _ => return false,
        }
    }
    // Bounded cost: a stored hash cannot make a login take a gigabyte.
    if m > MAX_M_COST || t > 16 || p > 8 {
        return false;
    }
    let (Ok(salt), Ok(expected)) = (B64.decode(salt), B64.decode(expected)) else {
        return false;
    };
    let Some(a) = argon2(m, t, p).filter(|_| expected.len() == OUT_LEN) else {
        return false;
    };
    // Pool buffers stay at our own cost; a hash asking for more gets memory of its own.
    let mut own = Vec::new();
    let mem = if m > M_COST { &mut own } else { mem };
    let mut out = [0u8; OUT_LEN];
    if a.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks(mem, m))
        .is_err()
    {
        return false;
    }
    zoll_stdx::ct::eq(&out, &expected)
}

/// The server's password hashing, bounded: at most `permits` argon2id/bcrypt computations
/// run at once, each in a memory buffer taken from a pool of at most `permits` buffers and
/// returned to it, and at most [`MAX_WAITING`] callers wait for one. Without it every
/// login attempt allocated 19 MiB on its own blocking thread: 200 concurrent wrong logins
/// took the process to 11 GiB, which the allocator then kept.
pub struct Hashing {
    permits: Semaphore,
    pool: Mutex<Vec<Vec<Block>>>,
    waiting: AtomicUsize,
    computed: AtomicU64,
}

/// Most callers that wait for a hashing permit; more are told to come back later.
pub const MAX_WAITING: usize = 64;

/// Too many password checks are waiting already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl Hashing {
    /// `permits` computations at once; 0: one per core, at most four.
    pub fn new(permits: usize) -> Hashing {
        let permits = if permits == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
        } else {
            permits
        };
        Hashing {
            permits: Semaphore::new(permits),
            pool: Mutex::new(Vec::new()),
            waiting: AtomicUsize::new(0),
            computed: AtomicU64::new(0),
        }
    }

    /// How many hashes were computed (for the metrics).
    pub fn computed(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }

    /// [`verify`], bounded.
    pub async fn verify(&self, password: &str, stored: &str) -> Result<Verdict, Busy> {
        let (p, s) = (password.to_owned(), stored.to_owned());
        self.run(move |mem| verify_in(&p, &s, mem)).await
    }

    /// [`hash`], bounded.
    pub async fn hash(&self, password: &str) -> Result<String, Busy> {
        let p = password.to_owned();
        self.run(move |mem| hash_in(&p, mem)).await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Busy);
        }
        let permit = self.permits.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let _permit = permit.map_err(|_| Busy)?;
        self.computed.fetch_add(1, Ordering::Relaxed);
        let mut mem = self
            .pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        let done = tokio::task::spawn_blocking(move || {
            let out = work(&mut mem);
            // What argon2 left in memory is derived from the password.
            mem.fill(Block::default());
            (out, mem)
        })
        .await;
        // A panicked computation loses its buffer; the permits still bound the pool.
        let (out, mem) = done.map_err(|_| Busy)?;
        self.pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(mem);
        Ok(out)
    }
}

/// Parses an htpasswd file (`user:hash` lines, bcrypt only). Lines with other hash formats
/// are reported by line number rather than imported with a scheme we cannot check safely.
pub fn parse_htpasswd(text: &str) -> (Vec<(String, String)>, Vec<usize>) {
    let mut users = Vec::new();
    let mut rejected = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((user, hash))
                if !user.is_empty()
                    && (hash.starts_with("$2y$")
                        || hash.starts_with("$2b$")
                        || hash.starts_with("$2a$")) =>
            {
                users.push((user.to_owned(), hash.to_owned()))
            }
            _ => rejected.push(i + 1),
        }
    }
    (users, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_refuse() {
        let h = hash("correct horse");
        assert_eq!(verify("correct horse", &h), Verdict::Right);
        assert_eq!(verify("correct hors", &h), Verdict::Wrong);
        assert_ne!(hash("correct horse"), h, "salted");
        let (secret, stored) = robot_secret();
        assert_eq!(verify(&secret, &stored), Verdict::Right);
        assert_eq!(verify("guess", &stored), Verdict::Wrong);
        assert_eq!(verify("x", "plaintext"), Verdict::Wrong);
        assert_eq!(
            verify("x", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA"),
            Verdict::Wrong
        );
    }

    #[test]
    fn htpasswd_lines() {
        let (users, rejected) =
            parse_htpasswd("# c\nalice:$2y$05$abc\nbob:{SHA}xyz\n\ncarol:$2b$10$def\n");
        assert_eq!(
            users,
            vec![
                ("alice".into(), "$2y$05$abc".into()),
                ("carol".into(), "$2b$10$def".into())
            ]
        );
        assert_eq!(rejected, vec![3]);
    }
}
