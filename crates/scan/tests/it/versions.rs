//! Version ordering per ecosystem, against orderings the ecosystems' own tools give
//! (`dpkg --compare-versions`, apk-tools, rpmvercmp, semver.org, PEP 440, Maven).

use std::cmp::Ordering::{self, Equal, Greater, Less};

use zoll_scan::vuln::version::{Scheme, compare};

fn check(scheme: Scheme, cases: &[(&str, &str, Ordering)]) {
    for (a, b, want) in cases {
        assert_eq!(compare(scheme, a, b), *want, "{scheme:?}: {a} vs {b}");
        assert_eq!(
            compare(scheme, b, a),
            want.reverse(),
            "{scheme:?}: {b} vs {a}"
        );
    }
}

#[test]
fn dpkg() {
    check(
        Scheme::Dpkg,
        &[
            ("1.0", "1.0-1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1-1", "1.0-1", Less),
            ("1:0.9", "2.0", Greater),
            ("2.36-9+deb12u3", "2.36-9+deb12u4", Less),
            ("2.36-9+deb12u10", "2.36-9+deb12u4", Greater),
            ("2.36-9", "2.36-9+deb12u1", Less),
            ("1.2.3-1~bpo11+1", "1.2.3-1", Less),
            ("1.0-1+b1", "1.0-1", Greater),
            ("1.01", "1.1", Equal),
            ("1.0a", "1.0+", Less),
            ("0", "0.1", Less),
            ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12", Less),
        ],
    );
}

#[test]
fn apk() {
    check(
        Scheme::Apk,
        &[
            ("1.2.3-r0", "1.2.3-r1", Less),
            ("1.2.3_rc1", "1.2.3", Less),
            ("1.2.3_p1", "1.2.3", Greater),
            ("1.2.3a", "1.2.3", Greater),
            ("1.10", "1.9", Greater),
            ("1.2.3_alpha", "1.2.3_beta", Less),
            ("3.0.15-r0", "3.3.2-r0", Less),
            ("1.2", "1.2.1", Less),
            ("2.4.58_git20240101-r0", "2.4.58-r0", Greater),
        ],
    );
}

#[test]
fn rpm() {
    check(
        Scheme::Rpm,
        &[
            ("1.0-1", "1.0-2", Less),
            ("1:1.0-1", "2.0-1", Greater),
            ("1.0~rc1-1", "1.0-1", Less),
            ("1.0^post1-1", "1.0-1", Greater),
            ("1.0a-1", "1.0.1-1", Less),
            ("3.0.7-2.el9", "3.0.7-10.el9", Less),
            ("1:3.0.7-27.el9", "1:3.0.7-28.el9", Less),
            ("1:3.0.7-27.el9_4.1", "1:3.0.7-27.el9", Greater),
        ],
    );
}

#[test]
fn semver() {
    check(
        Scheme::Semver,
        &[
            ("1.0.0-alpha", "1.0.0-alpha.1", Less),
            ("1.0.0-alpha.1", "1.0.0-beta", Less),
            ("1.0.0-beta.2", "1.0.0-beta.11", Less),
            ("1.0.0-rc.1", "1.0.0", Less),
            ("v1.2.3", "1.2.3", Equal),
            ("1.2.3+build.7", "1.2.3", Equal),
            ("1.10.0", "1.9.0", Greater),
            ("v1.21.0-0", "1.21.0", Less),
        ],
    );
}

#[test]
fn pep440() {
    check(
        Scheme::Pep440,
        &[
            ("1.0.dev0", "1.0a1", Less),
            ("1.0a1", "1.0b1", Less),
            ("1.0b1", "1.0rc1", Less),
            ("1.0rc1", "1.0", Less),
            ("1.0", "1.0.post1", Less),
            ("1.0", "1.0.0", Equal),
            ("1!0.5", "2.0", Greater),
            ("1.0+local.1", "1.0", Greater),
            ("1.0a1.dev1", "1.0a1", Less),
            ("1.0-1", "1.0.post1", Equal),
            ("1.0alpha1", "1.0a1", Equal),
            ("2.0rc1", "2.0.0", Less),
            ("1.0.post1.dev1", "1.0.post1", Less),
        ],
    );
}

#[test]
fn maven() {
    check(
        Scheme::Maven,
        &[
            ("1.0-alpha", "1.0-beta", Less),
            ("1.0-beta", "1.0-milestone", Less),
            ("1.0-rc1", "1.0-SNAPSHOT", Less),
            ("1.0-SNAPSHOT", "1.0", Less),
            ("1.0", "1.0-sp1", Less),
            ("1.0", "1.0.0", Equal),
            ("1", "1-ga", Equal),
            ("2.0.1", "2.0", Greater),
            ("1.10", "1.9", Greater),
            ("2.17.0", "2.14.1", Greater),
            ("1.2.3", "1.2.10", Less),
        ],
    );
}
