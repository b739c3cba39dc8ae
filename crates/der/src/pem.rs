//! PEM (RFC 7468) on the `pem` crate, with the checks it leaves to its callers: a block that is
//! never closed is an error (the crate would drop it silently), and OpenSSL's legacy
//! encrypted PEM (RFC 1421 `Proc-Type`/`DEK-Info` headers) is refused with the command that
//! converts it, instead of being decoded into ciphertext that then fails as "not a key".

use crate::error::{Result, malformed, unsupported};

const BEGIN: &[u8] = b"-----BEGIN ";

/// One decoded PEM block.
#[derive(Debug)]
pub struct Block {
    pub label: String,
    pub der: Vec<u8>,
}

/// All PEM blocks of `text`, in order. An empty list means the input is not PEM (a DER file).
pub fn blocks(text: &[u8]) -> Result<Vec<Block>> {
    let parsed = pem::parse_many(text).map_err(|e| malformed("PEM", e.to_string()))?;
    let begins = text.windows(BEGIN.len()).filter(|w| *w == BEGIN).count();
    if begins > parsed.len() {
        return Err(malformed("PEM", "a BEGIN line has no matching END line"));
    }
    parsed
        .into_iter()
        .map(|block| {
            if block.headers().iter().next().is_some() {
                return Err(unsupported(
                    "legacy PEM encryption (Proc-Type/DEK-Info) is not supported; convert with `openssl pkcs8 -topk8`",
                ));
            }
            Ok(Block {
                label: block.tag().to_owned(),
                der: block.into_contents(),
            })
        })
        .collect()
}

/// Encodes one block as the `pem` crate does by default (64-column lines, CRLF line ends,
/// which every PEM reader accepts).
pub fn encode(label: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(label, der))
}
