//! Maven version ordering (ComparableVersion): items split at `.`, `-` and digit/letter
//! boundaries; known qualifiers ordered alpha < beta < milestone < rc < snapshot < release <
//! sp, unknown qualifiers after them alphabetically; trailing zeros and release qualifiers
//! (`final`, `ga`, `release`) do not count.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Number(u64),
    Qualifier(u8, String),
}

fn qualifier(s: &str) -> Item {
    let rank = match s {
        "alpha" | "a" => 0,
        "beta" | "b" => 1,
        "milestone" | "m" => 2,
        "rc" | "cr" => 3,
        "snapshot" => 4,
        "" | "ga" | "final" | "release" => 5,
        "sp" => 6,
        _ => 7,
    };
    Item::Qualifier(
        rank,
        if rank == 7 {
            s.to_owned()
        } else {
            String::new()
        },
    )
}

fn items(v: &str) -> Vec<Item> {
    let lower = v.trim().to_ascii_lowercase();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_digit = false;
    let flush = |cur: &mut String, digit: bool, out: &mut Vec<Item>| {
        if digit {
            out.push(Item::Number(cur.parse().unwrap_or(u64::MAX)));
        } else {
            out.push(qualifier(cur));
        }
        cur.clear();
    };
    for c in lower.chars() {
        if c == '.' || c == '-' {
            flush(&mut cur, cur_digit, &mut out);
            cur_digit = false;
            continue;
        }
        let d = c.is_ascii_digit();
        if !cur.is_empty() && d != cur_digit {
            flush(&mut cur, cur_digit, &mut out);
        }
        cur_digit = d;
        cur.push(c);
    }
    flush(&mut cur, cur_digit, &mut out);
    // Trailing "null" items do not count: 1.0.0 == 1 == 1-ga.
    while matches!(
        out.last(),
        Some(Item::Number(0)) | Some(Item::Qualifier(5, _))
    ) && out.len() > 1
    {
        out.pop();
    }
    out
}

fn cmp_item(a: Option<&Item>, b: Option<&Item>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (Some(Item::Number(x)), Some(Item::Number(y))) => x.cmp(y),
        (Some(Item::Number(_)), Some(Item::Qualifier(..))) => Ordering::Greater,
        (Some(Item::Qualifier(..)), Some(Item::Number(_))) => Ordering::Less,
        (Some(Item::Qualifier(r, s)), Some(Item::Qualifier(q, t))) => {
            r.cmp(q).then_with(|| s.cmp(t))
        }
        // Padding: a missing item is 0 against a number and "release" against a qualifier.
        (None, Some(Item::Number(y))) => 0.cmp(y),
        (Some(Item::Number(x)), None) => x.cmp(&0),
        (None, Some(Item::Qualifier(q, _))) => 5.cmp(q),
        (Some(Item::Qualifier(r, _)), None) => r.cmp(&5),
    }
}

pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (items(a), items(b));
    for k in 0..a.len().max(b.len()) {
        let ord = cmp_item(a.get(k), b.get(k));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}
