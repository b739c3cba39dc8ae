//! The CBOR subset COSE_Sign1 needs (RFC 8949): definite lengths only, no floats. Decoding is
//! bounded in depth and item count, and every length is checked against the input left, so a
//! hostile envelope cannot make us allocate more than its own size. Encoding is deterministic:
//! shortest heads, map keys sorted by encoded length then bytes (RFC 7049 canonical order, which
//! the Notary Project's COSE conformance vector follows).

/// Deepest nesting accepted (COSE headers need 3).
const MAX_DEPTH: usize = 16;
/// Most items (of any kind) in one document.
const MAX_ITEMS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Uint(u64),
    /// A negative integer `-1 - n`.
    Nint(u64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Tag(u64, Box<Value>),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    #[error("CBOR input ends early")]
    Truncated,
    #[error("CBOR nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("CBOR document has more than {MAX_ITEMS} items")]
    TooManyItems,
    #[error("CBOR {0} is not supported")]
    Unsupported(&'static str),
    #[error("CBOR text is not UTF-8")]
    Utf8,
    #[error("trailing bytes after the CBOR document")]
    Trailing,
    #[error("CBOR map has a duplicate key")]
    DuplicateKey,
}

impl Value {
    pub fn int(n: i64) -> Value {
        if n >= 0 {
            Value::Uint(n as u64)
        } else {
            Value::Nint((-1 - n) as u64)
        }
    }

    pub fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    /// The integer value, if it fits an i64.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Uint(n) => i64::try_from(*n).ok(),
            Value::Nint(n) => i64::try_from(*n).ok().map(|n| -1 - n),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The value under `key` in a map.
    pub fn get(&self, key: &Value) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Decodes exactly one document.
pub fn decode(input: &[u8]) -> Result<Value, CborError> {
    let mut d = Decoder {
        input,
        pos: 0,
        items: 0,
    };
    let v = d.value(0)?;
    if d.pos != input.len() {
        return Err(CborError::Trailing);
    }
    Ok(v)
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    items: usize,
}

impl Decoder<'_> {
    fn byte(&mut self) -> Result<u8, CborError> {
        let b = *self.input.get(self.pos).ok_or(CborError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&[u8], CborError> {
        let left = (self.input.len() - self.pos) as u64;
        if n > left {
            return Err(CborError::Truncated);
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.input[start..self.pos])
    }

    fn argument(&mut self, info: u8) -> Result<u64, CborError> {
        Ok(match info {
            0..=23 => info as u64,
            24 => self.byte()? as u64,
            25 => u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")) as u64,
            26 => u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")) as u64,
            27 => u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")),
            31 => return Err(CborError::Unsupported("indefinite length")),
            _ => return Err(CborError::Unsupported("reserved additional information")),
        })
    }

    /// A count of nested items can claim at most one item per remaining input byte.
    fn count(&mut self, n: u64) -> Result<usize, CborError> {
        if n > (self.input.len() - self.pos) as u64 {
            return Err(CborError::Truncated);
        }
        Ok(n as usize)
    }

    fn value(&mut self, depth: usize) -> Result<Value, CborError> {
        if depth > MAX_DEPTH {
            return Err(CborError::TooDeep);
        }
        self.items += 1;
        if self.items > MAX_ITEMS {
            return Err(CborError::TooManyItems);
        }
        let initial = self.byte()?;
        let (major, info) = (initial >> 5, initial & 0x1f);
        if major == 7 {
            return match info {
                20 => Ok(Value::Bool(false)),
                21 => Ok(Value::Bool(true)),
                22 => Ok(Value::Null),
                _ => Err(CborError::Unsupported("simple or float value")),
            };
        }
        let arg = self.argument(info)?;
        Ok(match major {
            0 => Value::Uint(arg),
            1 => Value::Nint(arg),
            2 => Value::Bytes(self.take(arg)?.to_vec()),
            3 => Value::Text(
                String::from_utf8(self.take(arg)?.to_vec()).map_err(|_| CborError::Utf8)?,
            ),
            4 => {
                let n = self.count(arg)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            5 => {
                let n = self.count(arg)?;
                let mut entries: Vec<(Value, Value)> = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.value(depth + 1)?;
                    let v = self.value(depth + 1)?;
                    if entries.iter().any(|(existing, _)| *existing == k) {
                        return Err(CborError::DuplicateKey);
                    }
                    entries.push((k, v));
                }
                Value::Map(entries)
            }
            6 => Value::Tag(arg, Box::new(self.value(depth + 1)?)),
            _ => unreachable!("major types are 3 bits"),
        })
    }
}

fn head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    match arg {
        0..=23 => out.push(m | arg as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, arg as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(arg as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(arg as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&arg.to_be_bytes());
        }
    }
}

/// Encodes deterministically.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, value);
    out
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Uint(n) => head(out, 0, *n),
        Value::Nint(n) => head(out, 1, *n),
        Value::Bytes(b) => {
            head(out, 2, b.len() as u64);
            out.extend_from_slice(b);
        }
        Value::Text(s) => {
            head(out, 3, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            head(out, 4, items.len() as u64);
            for item in items {
                write(out, item);
            }
        }
        Value::Map(entries) => {
            let mut encoded: Vec<(Vec<u8>, Vec<u8>)> = entries
                .iter()
                .map(|(k, v)| (encode(k), encode(v)))
                .collect();
            encoded.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
            head(out, 5, encoded.len() as u64);
            for (k, v) in encoded {
                out.extend_from_slice(&k);
                out.extend_from_slice(&v);
            }
        }
        Value::Tag(tag, inner) => {
            head(out, 6, *tag);
            write(out, inner);
        }
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Null => out.push(0xf6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let v = Value::Tag(
            18,
            Box::new(Value::Array(vec![
                Value::Bytes(vec![1, 2]),
                Value::Map(vec![
                    (Value::int(-38), Value::text("x")),
                    (Value::int(1), Value::Null),
                ]),
            ])),
        );
        let bytes = encode(&v);
        let back = decode(&bytes).unwrap();
        // Keys come back in canonical order.
        let Value::Tag(_, arr) = &back else { panic!() };
        let Value::Array(items) = arr.as_ref() else {
            panic!()
        };
        assert_eq!(
            items[1],
            Value::Map(vec![
                (Value::int(1), Value::Null),
                (Value::int(-38), Value::text("x"))
            ])
        );
        // A huge claimed length on a tiny input is refused without allocating.
        assert_eq!(
            decode(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(CborError::Truncated)
        );
        assert_eq!(
            decode(&[0x5a, 0xff, 0xff, 0xff, 0xff]),
            Err(CborError::Truncated)
        );
        assert_eq!(decode(&[0x81; 40]), Err(CborError::TooDeep));
        assert_eq!(
            decode(&[0xa2, 0x01, 0x01, 0x01, 0x02]),
            Err(CborError::DuplicateKey)
        );
        assert_eq!(decode(&[0x01, 0x01]), Err(CborError::Trailing));
        assert_eq!(
            decode(&[0x9f]),
            Err(CborError::Unsupported("indefinite length"))
        );
    }
}
