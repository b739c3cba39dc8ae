//! The policy file: what parses, and the exact message for what does not.

use zoll_policy::admission::{PodCheck, PodMode};
use zoll_policy::{DefaultAction, Gate, PolicyError, PolicySet};
use zoll_trust::keys::{KeyKind, KeySource, TestCa, generate_key};

use crate::support::write;

/// A directory with `keys/a.pub`, `keys/b.pub`, a trust store `ca:corp` and a Notation
/// trust policy.
fn dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for k in ["a", "b"] {
        let key = generate_key(KeyKind::EcP256).unwrap().key;
        write(
            dir.path(),
            &format!("keys/{k}.pub"),
            &key.public_key().to_pem(),
        );
    }
    let ca = TestCa::root(KeyKind::EcP256, "C=DE,ST=BE,O=t,CN=root", 5).unwrap();
    write(
        dir.path(),
        "truststore/x509/ca/corp/root.pem",
        &zoll_trust::keys::certificates_to_pem(&ca.chain()),
    );
    write(
        dir.path(),
        "trustpolicy.json",
        r#"{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["*"],
            "signatureVerification":{"level":"strict"},"trustStores":["ca:corp"],
            "trustedIdentities":["*"]}]}"#,
    );
    dir
}

const HEAD: &str = r#"
version = 1
trust_store = "truststore"
[identities.ci]
keys = ["keys/a.pub"]
[identities.release]
keys = ["keys/a.pub", "keys/b.pub"]
[identities.corp]
x509 = [{ trust_store = "ca:corp", subject = "O=t, OU=Release" }]
[stages.ci]
identities = ["ci"]
"#;

/// Parses `HEAD + body`; `expect` is `Ok(())` or a fragment of the error message.
fn check(body: &str, expect: Result<(), &str>) {
    let d = dir();
    let text = format!("{HEAD}{body}");
    let got = PolicySet::parse(&text, d.path());
    match (got, expect) {
        (Ok(_), Ok(())) => {}
        (Err(PolicyError::Invalid { reason, .. }), Err(want)) => {
            assert!(
                reason.contains(want),
                "{body}\nwanted {want:?}, got {reason:?}"
            )
        }
        (got, want) => panic!("{body}\nwanted {want:?}, got {got:?}"),
    }
}

#[test]
fn valid_documents() {
    check("", Ok(()));
    check(
        r#"
[[policy]]
name = "prod"
repositories = ["prod/**"]
stages = ["ci"]
thresholds = [{ identities = "release", count = 2 }]
attestations = [{ type = "https://spdx.dev/Document", identities = "ci" }]
scan = { no_vulnerability_at_or_above = "critical", lint_below = "FATAL" }
[[policy]]
name = "legacy"
repositories = ["legacy/*"]
registries = ["registry.example.com"]
gates = ["admission"]
notation = "trustpolicy.json"
[admission]
pod_checks = "warn"
host_path = false
allowed_capabilities = ["cap_net_bind_service"]
[[admission.exemption]]
namespaces = ["kube-system"]
skip = ["all"]
"#,
        Ok(()),
    );
}

#[test]
fn invalid_documents() {
    for (body, want) in [
        (
            "[[policy]]\nname = \"p\"\nrepositories = []\n",
            "covers no repository",
        ),
        (
            "[[policy]]\nname = \"p\"\nrepositories = [\"a\"]\nstages = [\"qa\"]\n",
            "requires stage \"qa\", which is not defined",
        ),
        (
            "[[policy]]\nname = \"p\"\nrepositories = [\"a\"]\nthresholds = [{ identities = \"nobody\", count = 1 }]\n",
            "identity set \"nobody\", which is not defined",
        ),
        (
            "[[policy]]\nname = \"p\"\nrepositories = [\"a\"]\nthresholds = [{ identities = \"release\", count = 3 }]\n",
            "can never be met (it has 2 keys)",
        ),
        (
            "[[policy]]\nname = \"p\"\nrepositories = [\"a\"]\nthresholds = [{ identities = \"release\", count = 0 }]\n",
            "at least 1",
        ),
        (
            "[[policy]]\nname = \"p\"\nrepositories = [\"a\"]\ngates = [\"push\"]\n",
            "gate \"push\" is unknown",
        ),
        (
            "[[policy]]\nname = \"p\"\nrepositories = [\"a\"]\n[[policy]]\nname = \"p\"\nrepositories = [\"b\"]\n",
            "defined twice",
        ),
        (
            "[[policy]]\nname = \"p\"\nrepositories = [\"a/***\"]\n",
            "not ***",
        ),
        (
            "[[policy]]\nname = \"p\"\nrepositories = [\"a\"]\nscan = { no_vulnerability_at_or_above = \"severe\" }\n",
            "severity \"SEVERE\" is unknown",
        ),
        (
            "[[policy]]\nname = \"p\"\nrepositories = [\"a\"]\nscan = {}\n",
            "sets no condition",
        ),
        (
            "[[policy]]\nname = \"p\"\nrepositories = [\"a\"]\nnotation = \"missing.json\"\n",
            "No such file",
        ),
        (
            "[[policy]]\nname = \"p\"\nrepositories = [\"a\"]\nstage = [\"ci\"]\n",
            "unknown field `stage`",
        ),
        // Where in the file: line and column (issue 16).
        (
            "[[policy]]\nname = 3\n",
            ", column 8: invalid type: integer `3`, expected a string",
        ),
        (
            "[identities.x]\nkeys = [\"keys/none.pub\"]\n",
            "No such file",
        ),
        ("[identities.x]\n", "is empty"),
        (
            "[identities.x]\nx509 = [{ trust_store = \"ca:other\", subject = \"O=t\" }]\n",
            "trust store \"ca:other\" does not exist",
        ),
        (
            "[identities.x]\nx509 = [{ trust_store = \"tsa:corp\", subject = \"O=t\" }]\n",
            "use ca or signingAuthority",
        ),
        (
            "[identities.x]\nx509 = [{ trust_store = \"ca:corp\", subject = \"O\" }]\n",
            "has no '='",
        ),
        (
            "[identities.\"bad name\"]\nkeys = [\"keys/a.pub\"]\n",
            "use 1-64 letters",
        ),
        ("[stages.qa]\nidentities = []\n", "names no identity set"),
        ("[stages.qa]\nidentities = [\"nobody\"]\n", "not defined"),
        ("[default]\npull = \"maybe\"\n", "use allow or deny"),
        (
            "[admission]\npod_checks = \"loud\"\n",
            "use deny, warn or off",
        ),
        (
            "[[admission.exemption]]\nnamespaces = [\"x\"]\nskip = [\"everything\"]\n",
            "exemption skips \"everything\"",
        ),
    ] {
        check(body, Err(want));
    }
}

#[test]
fn version_and_keys_are_checked() {
    let d = dir();
    let err = PolicySet::parse("version = 2\n", d.path()).unwrap_err();
    assert!(
        err.to_string().contains("version 2 is not supported"),
        "{err}"
    );
    write(d.path(), "keys/bad.pub", "not a key");
    let err = PolicySet::parse(
        "version = 1\n[identities.x]\nkeys = [\"keys/bad.pub\"]\n",
        d.path(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("expected a PEM PUBLIC KEY or CERTIFICATE"),
        "{err}"
    );
    // Without a trust store directory, X.509 identities cannot be anchored.
    let err = PolicySet::parse(
        "version = 1\n[identities.x]\nx509 = [{ trust_store = \"ca:corp\", subject = \"*\" }]\n",
        d.path(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("sets no trust_store directory"),
        "{err}"
    );
}

#[test]
fn scopes_defaults_and_admission_settings() {
    let d = dir();
    let text = format!(
        "{HEAD}{}",
        r#"
[default]
admission = "deny"
[[policy]]
name = "prod"
repositories = ["prod/*"]
stages = ["ci"]
[[policy]]
name = "hub"
repositories = ["library/*"]
registries = ["docker.io"]
gates = ["admission"]
[admission]
run_as_root = false
allowed_capabilities = ["CAP_NET_BIND_SERVICE"]
[[admission.exemption]]
namespaces = ["kube-*"]
skip = ["image-policy", "privileged"]
"#
    );
    let set = PolicySet::parse(&text, d.path()).unwrap();
    assert_eq!(set.default_for(Gate::Pull), DefaultAction::Allow);
    assert_eq!(set.default_for(Gate::Admission), DefaultAction::Deny);
    let names = |g, r, repo| -> Vec<String> {
        set.applicable(g, r, repo)
            .iter()
            .map(|p| p.name.clone())
            .collect()
    };
    assert_eq!(names(Gate::Pull, "any", "prod/app"), ["prod"]);
    assert!(names(Gate::Pull, "any", "prod/team/app").is_empty());
    assert_eq!(
        names(Gate::Admission, "docker.io", "library/nginx"),
        ["hub"]
    );
    assert!(names(Gate::Admission, "quay.io", "library/nginx").is_empty());
    // The pull gate is this registry: no host name escapes a policy.
    assert!(names(Gate::Pull, "docker.io", "library/nginx").is_empty());
    let a = &set.admission;
    assert_eq!(a.pod_mode, PodMode::Deny);
    assert!(!a.checks.contains(&PodCheck::RunAsRoot));
    assert!(a.checks.contains(&PodCheck::Privileged));
    assert_eq!(a.allowed_capabilities, ["NET_BIND_SERVICE"]);
    assert!(a.exempt("kube-system", "image-policy"));
    assert!(a.exempt("kube-system", "privileged"));
    assert!(!a.exempt("kube-system", "host-path"));
    assert!(!a.exempt("default", "image-policy"));
}

#[test]
fn the_version_follows_every_loaded_file() {
    let d = dir();
    let text = HEAD.to_string();
    let v1 = PolicySet::parse(&text, d.path()).unwrap().version;
    assert_eq!(v1, PolicySet::parse(&text, d.path()).unwrap().version);
    // Same text, another key in keys/a.pub: another version.
    let key = generate_key(KeyKind::EcP256).unwrap().key;
    write(d.path(), "keys/a.pub", &key.public_key().to_pem());
    let v2 = PolicySet::parse(&text, d.path()).unwrap().version;
    assert_ne!(v1, v2);
    // Another certificate in the trust store: another version.
    let ca = TestCa::root(KeyKind::EcP256, "C=DE,ST=BE,O=t,CN=other", 5).unwrap();
    write(
        d.path(),
        "truststore/x509/ca/corp/other.pem",
        &zoll_trust::keys::certificates_to_pem(&ca.chain()),
    );
    assert_ne!(v2, PolicySet::parse(&text, d.path()).unwrap().version);
}
