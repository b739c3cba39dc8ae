//! The registry's pattern dialect before schema version 8, and its translation.
//!
//! Robot permissions, immutable-tag rules and retention's `keep_tags` were matched with a
//! dialect of their own: `*` matched any run of characters *including* `/`, and `?` any one
//! character, `/` included. The migration to version 8 rewrites every stored pattern into
//! the one dialect of this crate so that it matches exactly the names it matched before:
//!
//! - a run of `*` is one `*` (the old dialect did not tell them apart);
//! - in repository positions each `*` becomes `**` (`app/*` → `app/**`, `prod*` →
//!   `prod**`), which matches exactly what the old `*` matched;
//! - in repository positions an old `?` could also match a `/`, which no single pattern of
//!   the new dialect expresses: the pattern becomes alternatives, one with `?` and one with
//!   `/` in its place. Alternatives that no valid repository name can match (a `/` at an end,
//!   next to another `/`, or next to a `.`, `_` or `-`, since path components begin and end
//!   with a letter or digit) are left out;
//! - tags never contain `/`, so tag patterns keep their meaning once runs of `*` are one.

/// Most alternatives one pattern may become (four `?` that could each be a `/`).
pub const MAX_ALTERNATIVES: usize = 16;

/// Whether `text` matches `pattern` in the old dialect (the matcher the registry used).
pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matcher with one backtrack point.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn collapse_stars(old: &str) -> String {
    let mut out = String::with_capacity(old.len());
    for c in old.chars() {
        if c == '*' && out.ends_with('*') {
            continue;
        }
        out.push(c);
    }
    out
}

/// An old tag pattern in the new dialect (same meaning: tags have no `/`).
pub fn rewrite_tags(old: &str) -> String {
    collapse_stars(old)
}

/// An old repository pattern (relative to a project) in the new dialect: the alternatives
/// that together match exactly the valid names the old pattern matched. `Err` with the
/// number of alternatives it would take when that exceeds [`MAX_ALTERNATIVES`].
pub fn rewrite_repositories(old: &str) -> Result<Vec<String>, usize> {
    let chars: Vec<char> = collapse_stars(old).chars().collect();
    let mut alternatives: Vec<Vec<char>> = vec![Vec::new()];
    for (i, c) in chars.iter().enumerate() {
        match c {
            '*' => alternatives.iter_mut().for_each(|a| a.extend(['*', '*'])),
            '?' => {
                let (before, after) = (i.checked_sub(1).map(|j| chars[j]), chars.get(i + 1));
                let slash_possible = !(before.is_none_or(no_slash_beside)
                    || after.is_none_or(|c| no_slash_beside(*c)));
                if slash_possible {
                    let mut with_slash = alternatives.clone();
                    with_slash.iter_mut().for_each(|a| a.push('/'));
                    alternatives.iter_mut().for_each(|a| a.push('?'));
                    alternatives.extend(with_slash);
                    if alternatives.len() > MAX_ALTERNATIVES {
                        let qs = chars.iter().filter(|c| **c == '?').count();
                        return Err(1usize.checked_shl(qs as u32).unwrap_or(usize::MAX));
                    }
                } else {
                    alternatives.iter_mut().for_each(|a| a.push('?'));
                }
            }
            c => alternatives.iter_mut().for_each(|a| a.push(*c)),
        }
    }
    Ok(alternatives.into_iter().map(String::from_iter).collect())
}

/// A literal character next to which a valid repository name never has a `/`.
fn no_slash_beside(c: char) -> bool {
    matches!(c, '/' | '.' | '_' | '-')
}
