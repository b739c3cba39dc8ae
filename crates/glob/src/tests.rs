use super::*;

fn glob(p: &str) -> Glob {
    Glob::parse_relative(p).unwrap_or_else(|e| panic!("{p:?}: {e}"))
}

/// One table for the one dialect: each case is what every user of patterns gets (trust
/// policies, admission exemptions, approval keys, robots, immutable tags, retention).
#[test]
fn the_dialect() {
    for (p, t, e) in [
        ("prod/app", "prod/app", true),
        ("prod/app", "prod/app2", false),
        ("prod/*", "prod/app", true),
        ("prod/*", "prod/team/app", false),
        ("prod/**", "prod/team/app", true),
        ("prod/**", "prod/app", true),
        ("prod/**", "prod", false),
        ("prod/**", "production/app", false),
        ("prod**", "production/app", true),
        ("prod**", "prod", true),
        ("*/app", "prod/app", true),
        ("*/app", "a/b/app", false),
        ("**/app", "a/b/app", true),
        ("prod/**/app", "prod/app", false),
        ("prod/**/app", "prod/x/y/app", true),
        ("prod/app-?", "prod/app-1", true),
        ("prod/app-?", "prod/app-12", false),
        ("prod/?", "prod//", false),
        ("**", "anything/at/all", true),
        ("**", "", true),
        ("*", "top", true),
        ("*", "", true),
        ("*", "a/b", false),
        ("", "", true),
        ("", "a", false),
        ("v1.*", "v1.2.3", true),
        ("v1.*", "v10", false),
        ("*-rc?", "1.0-rc1", true),
        (
            "registry.example.com:5000",
            "registry.example.com:5000",
            true,
        ),
        ("*.example.com", "registry.example.com", true),
        ("kube-*", "kube-system", true),
    ] {
        assert_eq!(glob(p).matches(t), e, "{p:?} vs {t:?}");
    }
}

#[test]
fn invalid_patterns() {
    assert!(Glob::parse("").is_err(), "empty, where a name is expected");
    assert!(
        Glob::parse_relative("").is_ok(),
        "empty relative: the project itself"
    );
    assert!(Glob::parse("a/***").is_err());
    assert!(Glob::parse(&"a".repeat(MAX_PATTERN + 1)).is_err());
    assert!(Glob::parse(&"a".repeat(MAX_PATTERN)).is_ok());
}

#[test]
fn matching_never_backtracks() {
    // A pattern that makes a backtracking matcher explode on a text that does not match.
    let g = Glob::parse(&"*a".repeat(200)).unwrap();
    let text = "a".repeat(250) + "b";
    let (matched, steps) = g.match_counting(&text);
    assert!(!matched);
    assert!(steps <= 400 * (text.len() + 1), "{steps} steps");
}

/// Names over a small alphabet, every one up to `len` characters.
fn texts(alphabet: &[char], len: usize) -> Vec<String> {
    let mut all = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..len {
        last = last
            .iter()
            .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
            .collect();
        all.extend(last.iter().cloned());
    }
    all
}

/// Whether `name` could be a repository name relative to its project: components that
/// begin and end with a letter or digit, or empty (the project itself).
fn valid_relative(name: &str) -> bool {
    name.is_empty()
        || name.split('/').all(|c| {
            let alnum = |x: Option<char>| x.is_some_and(|x| x.is_ascii_alphanumeric());
            alnum(c.chars().next()) && alnum(c.chars().last())
        })
}

#[test]
fn covers_is_sound() {
    let patterns = texts(&['a', '/', '*', '?'], 4);
    let names: Vec<String> = texts(&['a', 'b', '/'], 5);
    let globs: Vec<Glob> = patterns
        .iter()
        .filter_map(|p| Glob::parse_relative(p).ok())
        .collect();
    let mut proven = 0;
    for outer in &globs {
        for inner in &globs {
            if outer.covers(inner) {
                proven += 1;
                for n in &names {
                    assert!(
                        !inner.matches(n) || outer.matches(n),
                        "{outer} claims to cover {inner}, but {n:?} matches only the latter"
                    );
                }
            }
        }
    }
    assert!(proven > 1000, "covers proved little: {proven}");
    // The shapes grants use.
    assert!(glob("**").covers(&glob("app/*")));
    assert!(glob("app/**").covers(&glob("app/x/*")));
    assert!(glob("app/*").covers(&glob("app/x?")));
    assert!(!glob("app/*").covers(&glob("app/**")));
    assert!(!glob("app/*").covers(&glob("app/x/y")));
    assert!(glob("app/*").covers(&glob("app/x")));
    assert!(!glob("app*").covers(&glob("ap*")));
}

/// The migration's promise: every old pattern, rewritten, matches exactly the valid names
/// it matched before. Exhaustive over short patterns and names.
#[test]
fn rewritten_repository_patterns_match_what_they_matched() {
    let names: Vec<String> = texts(&['a', 'b', '/', '-'], 6)
        .into_iter()
        .filter(|n| valid_relative(n))
        .collect();
    let mut checked = 0;
    for old in texts(&['a', '/', '*', '?', '-'], 5) {
        let new: Vec<Glob> = legacy::rewrite_repositories(&old)
            .unwrap_or_else(|n| panic!("{old:?}: {n} alternatives"))
            .iter()
            .map(|p| glob(p))
            .collect();
        for n in &names {
            let before = legacy::matches(&old, n);
            let after = new.iter().any(|g| g.matches(n));
            assert_eq!(before, after, "{old:?} on {n:?}: new {new:?}");
            checked += 1;
        }
    }
    assert!(checked > 1_000_000, "{checked}");
}

#[test]
fn rewritten_tag_patterns_match_what_they_matched() {
    let tags = texts(&['a', '1', '.', '-'], 5);
    for old in texts(&['a', '.', '*', '?'], 5) {
        let new = glob(&legacy::rewrite_tags(&old));
        for t in &tags {
            assert_eq!(legacy::matches(&old, t), new.matches(t), "{old:?} on {t:?}");
        }
    }
}

#[test]
fn rewrites_of_the_shapes_people_write() {
    let repos = |old: &str| legacy::rewrite_repositories(old).unwrap();
    assert_eq!(repos("*"), ["**"]);
    assert_eq!(repos("app/*"), ["app/**"]);
    assert_eq!(repos("prod*"), ["prod**"]);
    assert_eq!(repos("*-dev"), ["**-dev"]);
    assert_eq!(repos("a**b"), ["a**b"]);
    assert_eq!(repos("app"), ["app"]);
    assert_eq!(repos(""), [""]);
    assert_eq!(repos("app-?"), ["app-?"], "no / next to a -");
    assert_eq!(repos("a?b"), ["a?b", "a/b"]);
    assert_eq!(legacy::rewrite_repositories("a?a?a?a?a?a"), Err(32));
    assert_eq!(legacy::rewrite_tags("v**1"), "v*1");
}
