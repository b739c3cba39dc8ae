//! SemVer 2.0 precedence (npm, crates.io, Go modules with their `v` prefix): build metadata is
//! ignored, a pre-release sorts before its release, numeric identifiers numerically.

use std::cmp::Ordering;

fn parse(v: &str) -> (Vec<u64>, Option<Vec<&str>>) {
    let v = v.trim().trim_start_matches('v').trim_start_matches('=');
    let v = v.split('+').next().unwrap_or(v);
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p.split('.').collect())),
        None => (v, None),
    };
    let mut nums: Vec<u64> = core.split('.').map(|n| n.parse().unwrap_or(0)).collect();
    nums.resize(3.max(nums.len()), 0);
    (nums, pre)
}

pub fn compare(a: &str, b: &str) -> Ordering {
    let (na, pa) = parse(a);
    let (nb, pb) = parse(b);
    na.cmp(&nb).then_with(|| match (pa, pb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            for (p, q) in x.iter().zip(&y) {
                let ord = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => p.cmp(q),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            x.len().cmp(&y.len())
        }
    })
}
