//! Repository patterns as policies read them: the one dialect of `zoll-glob` (whose own
//! tests hold the full table, the step bound and the legacy rewrite).

use zoll_policy::glob::Glob;

fn check(pattern: &str, text: &str, expect: bool) {
    let g = Glob::parse(pattern).unwrap();
    assert_eq!(g.matches(text), expect, "{pattern:?} vs {text:?}");
}

#[test]
fn segment_and_deep_wildcards() {
    for (p, t, e) in [
        ("prod/app", "prod/app", true),
        ("prod/app", "prod/app2", false),
        ("prod/*", "prod/app", true),
        ("prod/*", "prod/team/app", false),
        ("prod/**", "prod/team/app", true),
        ("prod/**", "prod/app", true),
        ("prod/**", "production/app", false),
        ("*/app", "prod/app", true),
        ("*/app", "a/b/app", false),
        ("**/app", "a/b/app", true),
        ("prod/app-?", "prod/app-1", true),
        ("prod/app-?", "prod/app-12", false),
        ("prod/?", "prod//", false),
        ("**", "anything/at/all", true),
        ("*", "top", true),
        ("*", "a/b", false),
        (
            "registry.example.com:5000",
            "registry.example.com:5000",
            true,
        ),
        ("*.example.com", "registry.example.com", true),
    ] {
        check(p, t, e);
    }
}

#[test]
fn invalid_patterns() {
    assert!(Glob::parse("").is_err());
    assert!(Glob::parse("a/***").is_err());
    assert!(Glob::parse(&"a".repeat(600)).is_err());
}
