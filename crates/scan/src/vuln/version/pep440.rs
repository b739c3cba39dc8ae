//! PEP 440 ordering (PyPI): `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, with the
//! normalisations the spec allows (alpha/beta/c/pre/preview/rev/r spellings, `-`/`_`
//! separators, implicit numbers).

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Phase {
    /// A dev release with no pre-release: before every pre-release of the same release.
    DevOnly,
    Pre(u8, u64),
    Final,
}

#[derive(Debug, PartialEq, Eq)]
struct Version {
    epoch: u64,
    release: Vec<u64>,
    phase: Phase,
    /// None sorts before any post release.
    post: Option<u64>,
    /// None (not a dev release) sorts after any dev release.
    dev: Option<u64>,
    local: Vec<String>,
}

fn parse(v: &str) -> Version {
    let lower = v.trim().to_ascii_lowercase();
    let s = lower.trim_start_matches('v');
    let (s, local) = match s.split_once('+') {
        Some((a, l)) => (a, l.split(['.', '-', '_']).map(str::to_owned).collect()),
        None => (s, Vec::new()),
    };
    let (epoch, s) = match s.split_once('!') {
        Some((e, r)) => (e.parse().unwrap_or(0), r),
        None => (0, s),
    };
    let b = s.as_bytes();
    let mut i = 0;
    let mut release = Vec::new();
    loop {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            break;
        }
        release.push(s[start..i].parse().unwrap_or(0));
        if i < b.len() && b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
        } else {
            break;
        }
    }
    while release.len() > 1 && release.last() == Some(&0) {
        release.pop();
    }
    let mut pre = None;
    let mut post = None;
    let mut dev = None;
    let rest = &s[i..];
    for (word, num) in tokenize(rest) {
        match word.as_str() {
            "a" | "alpha" => pre = Some((0, num.unwrap_or(0))),
            "b" | "beta" => pre = Some((1, num.unwrap_or(0))),
            "c" | "rc" | "pre" | "preview" => pre = Some((2, num.unwrap_or(0))),
            "post" | "rev" | "r" => post = Some(num.unwrap_or(0)),
            "dev" => dev = Some(num.unwrap_or(0)),
            // `1.0-1` is an implicit post release.
            "" => post = Some(num.unwrap_or(0)),
            _ => {}
        }
    }
    let phase = match (pre, post, dev) {
        (Some((k, n)), _, _) => Phase::Pre(k, n),
        (None, None, Some(_)) => Phase::DevOnly,
        _ => Phase::Final,
    };
    Version {
        epoch,
        release,
        phase,
        post,
        dev,
        local,
    }
}

/// Splits `rc1.post2-dev3` into (word, number) pairs.
fn tokenize(s: &str) -> Vec<(String, Option<u64>)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && matches!(b[i], b'.' | b'-' | b'_') {
            i += 1;
        }
        let ws = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let word = s[ws..i].to_owned();
        while i < b.len()
            && matches!(b[i], b'.' | b'-' | b'_')
            && !word.is_empty()
            && b.get(i + 1).is_some_and(u8::is_ascii_digit)
        {
            i += 1;
        }
        let ns = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let num = s[ns..i].parse().ok();
        if word.is_empty() && num.is_none() {
            i += 1;
            continue;
        }
        out.push((word, num));
    }
    out
}

pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (parse(a), parse(b));
    let release = {
        let n = a.release.len().max(b.release.len());
        let pad = |r: &Vec<u64>| {
            let mut r = r.clone();
            r.resize(n, 0);
            r
        };
        pad(&a.release).cmp(&pad(&b.release))
    };
    a.epoch
        .cmp(&b.epoch)
        .then(release)
        .then_with(|| a.phase.cmp(&b.phase))
        .then_with(|| a.post.cmp(&b.post))
        .then_with(|| match (a.dev, b.dev) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => x.cmp(&y),
        })
        .then_with(|| compare_local(&a.local, &b.local))
}

fn compare_local(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            (Ok(_), Err(_)) => Ordering::Greater,
            (Err(_), Ok(_)) => Ordering::Less,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}
