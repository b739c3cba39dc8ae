//! PEM (RFC 7468) decoding: every `-----BEGIN LABEL-----` block of a file.

use base64::Engine;

use crate::error::{invalid_key, Result};

/// One decoded PEM block.
#[derive(Debug)]
pub struct Block {
    pub label: String,
    pub der: Vec<u8>,
}

/// All PEM blocks in `text`, in order. An empty list means the input is not PEM.
pub fn blocks(text: &[u8], what: &str) -> Result<Vec<Block>> {
    let Ok(text) = std::str::from_utf8(text) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for line in lines.by_ref() {
            let line = line.trim();
            if line == end {
                closed = true;
                break;
            }
            if line.contains(':') {
                // RFC 1421 headers ("Proc-Type: 4,ENCRYPTED") mark legacy OpenSSL encryption.
                return Err(invalid_key(
                    what,
                    "legacy PEM encryption (Proc-Type/DEK-Info) is not supported; convert with `openssl pkcs8 -topk8`",
                ));
            }
            body.push_str(line);
        }
        if !closed {
            return Err(invalid_key(
                what,
                format!("PEM block {label:?} is not closed"),
            ));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| invalid_key(what, format!("PEM block {label:?}: {e}")))?;
        out.push(Block {
            label: label.to_owned(),
            der,
        });
    }
    Ok(out)
}
