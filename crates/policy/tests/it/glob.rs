//! Repository patterns.

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
fn pathological_patterns_stay_linear() {
    let pattern = "*a".repeat(200);
    let text = "a".repeat(250) + "b";
    let g = Glob::parse(&pattern).unwrap();
    let started = std::time::Instant::now();
    assert!(!g.matches(&text));
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

#[test]
fn invalid_patterns() {
    assert!(Glob::parse("").is_err());
    assert!(Glob::parse("a/***").is_err());
    assert!(Glob::parse(&"a".repeat(600)).is_err());
}
