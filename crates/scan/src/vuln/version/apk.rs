//! Alpine (apk-tools) version ordering: `1.2.3[letter][_suffix[N]]...[-rN]`, where `_alpha`,
//! `_beta`, `_pre`, `_rc` sort before the release and `_cvs`, `_svn`, `_git`, `_hg`, `_p` after.

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Version {
    numbers: Vec<u64>,
    letter: u8,
    /// (rank, number); the implicit end of the list ranks between pre- and post-suffixes.
    suffixes: Vec<(i8, u64)>,
    revision: u64,
}

fn suffix_rank(s: &str) -> i8 {
    match s {
        "alpha" => -4,
        "beta" => -3,
        "pre" => -2,
        "rc" => -1,
        "cvs" => 1,
        "svn" => 2,
        "git" => 3,
        "hg" => 4,
        "p" => 5,
        _ => 6,
    }
}

fn parse(v: &str) -> Version {
    let v = v.split('~').next().unwrap_or(v);
    let (body, revision) = match v.rsplit_once("-r") {
        Some((b, r)) if r.chars().all(|c| c.is_ascii_digit()) && !r.is_empty() => {
            (b, r.parse().unwrap_or(0))
        }
        _ => (v, 0),
    };
    let mut parts = body.split('_');
    let head = parts.next().unwrap_or("");
    let mut numbers = Vec::new();
    let mut letter = 0u8;
    for (k, n) in head.split('.').enumerate() {
        let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
        numbers.push(digits.parse().unwrap_or(0));
        if k == head.split('.').count() - 1
            && let Some(c) = n[digits.len()..].bytes().next()
        {
            letter = c;
        }
    }
    let mut suffixes: Vec<(i8, u64)> = parts
        .map(|s| {
            let name: String = s.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            (suffix_rank(&name), s[name.len()..].parse().unwrap_or(0))
        })
        .collect();
    suffixes.push((0, 0)); // the end of the list
    Version {
        numbers,
        letter,
        suffixes,
        revision,
    }
}

pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (parse(a), parse(b));
    // Numbers component-wise; a longer list wins when the common prefix is equal (1.2.1 > 1.2).
    for k in 0..a.numbers.len().max(b.numbers.len()) {
        match (a.numbers.get(k), b.numbers.get(k)) {
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            _ => {}
        }
    }
    a.letter
        .cmp(&b.letter)
        .then_with(|| a.suffixes.cmp(&b.suffixes))
        .then_with(|| a.revision.cmp(&b.revision))
}
