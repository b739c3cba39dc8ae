//! Where a token's PIN comes from. The PIN is only ever held in memory that is wiped when
//! it is dropped, and is never printed.

use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// A PIN file larger than this is not a PIN file; refusing it keeps the read bounded and
/// lets the buffer be allocated once (a reallocation would leave an unwiped copy behind).
const MAX_PIN_FILE: usize = 4096;

/// `pin-value=` or `pin-source=` of a URI.
#[derive(Clone, PartialEq, Eq)]
pub enum PinSource {
    /// `pin-value=`: the PIN in the URI itself.
    Value(Zeroizing<String>),
    /// `pin-source=`: a file (a `file:` URI or a plain path) holding the PIN.
    File(PathBuf),
}

impl std::fmt::Debug for PinSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinSource::Value(_) => f.write_str("PinSource::Value(<redacted>)"),
            PinSource::File(p) => write!(f, "PinSource::File({})", p.display()),
        }
    }
}

impl PinSource {
    /// `pin-source`'s value as a path: `file:/p`, `file:///p` and a plain `/p` name the same
    /// file; a relative `file:p` is taken from the root, as a `file:` URI would be.
    pub(crate) fn file(value: &str) -> PinSource {
        let Some(rest) = value.strip_prefix("file:") else {
            return PinSource::File(PathBuf::from(value));
        };
        let path = rest.trim_start_matches("//");
        if path.starts_with('/') {
            PinSource::File(PathBuf::from(path))
        } else {
            PinSource::File(PathBuf::from(format!("/{path}")))
        }
    }

    /// The PIN. A file's trailing line break is not part of it (`echo 1234 > pin`).
    /// An error is a message naming the file, never its content.
    pub fn read(&self) -> Result<Zeroizing<String>, String> {
        match self {
            PinSource::Value(v) => Ok(v.clone()),
            PinSource::File(path) => read_pin_file(path),
        }
    }
}

fn read_pin_file(path: &Path) -> Result<Zeroizing<String>, String> {
    let failed = |e: std::io::Error| format!("pin-source {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(failed)?;
    let mut pin = Zeroizing::new(String::with_capacity(MAX_PIN_FILE + 1));
    file.take(MAX_PIN_FILE as u64 + 1)
        .read_to_string(&mut pin)
        .map_err(failed)?;
    if pin.len() > MAX_PIN_FILE {
        return Err(format!(
            "pin-source {}: larger than {MAX_PIN_FILE} bytes",
            path.display()
        ));
    }
    let kept = pin.trim_end_matches(['\r', '\n']).len();
    // Truncating keeps the one allocation, which the Zeroizing wrapper wipes whole.
    pin.truncate(kept);
    Ok(pin)
}
