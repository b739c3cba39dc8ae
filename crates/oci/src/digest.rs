//! Content digests (`algorithm:hex`), sha256 and sha512, per the OCI image spec.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest as lc;

/// The digest algorithms zoll accepts. sha256 is canonical; sha512 is registered in the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the lowercase hex encoding.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    fn lc(self) -> &'static lc::Algorithm {
        match self {
            Algorithm::Sha256 => &lc::SHA256,
            Algorithm::Sha512 => &lc::SHA512,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest has no algorithm separator ':'")]
    Format,
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("digest encoding must be {expected} lowercase hex characters")]
    Encoding { expected: usize },
}

/// A validated digest. The string form is kept so that comparisons and storage keys are cheap.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    text: String,
}

impl Digest {
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex part after `algorithm:`.
    pub fn hex(&self) -> &str {
        &self.text[self.algorithm.as_str().len() + 1..]
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Hashes `bytes` with `algorithm`.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(algorithm);
        h.update(bytes);
        h.finish()
    }

    /// sha256 of `bytes`, the canonical digest.
    pub fn sha256(bytes: &[u8]) -> Digest {
        Digest::of(Algorithm::Sha256, bytes)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (alg, hex) = s.split_once(':').ok_or(DigestError::Format)?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other => return Err(DigestError::UnsupportedAlgorithm(other.to_owned())),
        };
        let expected = algorithm.hex_len();
        let lower_hex = hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if hex.len() != expected || !lower_hex {
            return Err(DigestError::Encoding { expected });
        }
        Ok(Digest {
            algorithm,
            text: s.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Incremental hashing of streamed content.
pub struct Hasher {
    algorithm: Algorithm,
    ctx: lc::Context,
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Self {
        Hasher {
            algorithm,
            ctx: lc::Context::new(algorithm.lc()),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.ctx.update(bytes);
    }

    pub fn finish(self) -> Digest {
        let out = self.ctx.finish();
        let mut text = String::with_capacity(self.algorithm.as_str().len() + 1 + 128);
        text.push_str(self.algorithm.as_str());
        text.push(':');
        zoll_stdx::hex::push(&mut text, out.as_ref());
        Digest {
            algorithm: self.algorithm,
            text,
        }
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hasher({})", self.algorithm.as_str())
    }
}
