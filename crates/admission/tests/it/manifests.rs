//! The Kubernetes manifests in deploy/kubernetes, validated offline by
//! deploy/kubernetes/validate.py (kubernetes-validate's bundled schemas, a cert-manager
//! schema subset, and zoll's own rules for webhooks and the Deployment); the openssl
//! alternative to cert-manager (gen-certs.sh) produces a chain that verifies and manifests
//! that validate; a broken copy is refused, naming each problem.

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes")
}

/// Runs validate.py on `paths`: (success, stderr).
fn validate(paths: &[&Path]) -> (bool, String) {
    let found = Command::new("python3")
        .args(["-c", "import kubernetes_validate"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "kubernetes-validate is missing: run scripts/install-peers.sh (scripts/peers.d/admission.sh)"
    );
    let out = Command::new("python3")
        .arg(deploy().join("validate.py"))
        .args(paths)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("documents"), "{stdout}");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn shipped_manifests_validate() {
    let (ok, err) = validate(&[&deploy()]);
    assert!(ok, "{err}");
}

#[test]
fn gen_certs_writes_a_verifiable_chain_and_valid_manifests() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new("bash")
        .arg(deploy().join("gen-certs.sh"))
        .arg(out.path())
        .arg("30")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let verify = Command::new("openssl")
        .args(["verify", "-purpose", "sslserver", "-CAfile"])
        .arg(out.path().join("ca.crt"))
        .arg(out.path().join("tls.crt"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(out.path().join("tls.crt"))
        .output()
        .unwrap();
    let sans = String::from_utf8_lossy(&text.stdout);
    assert!(
        sans.contains("DNS:zoll-admission.zoll-system.svc"),
        "{sans}"
    );
    let webhooks = std::fs::read_to_string(out.path().join("webhooks.yaml")).unwrap();
    assert_eq!(webhooks.matches("caBundle: LS0t").count(), 2, "{webhooks}");
    assert!(!webhooks.contains("inject-ca-from"));
    // The generated Secret and webhooks, with the Service they call.
    let (ok, err) = validate(&[out.path(), &deploy().join("service.yaml")]);
    assert!(ok, "{err}");
}

#[test]
fn broken_manifests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(deploy()).unwrap() {
        let f = f.unwrap().path();
        if f.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&f).unwrap();
            let broken = text
                .replace("failurePolicy: Fail", "failurePolicy: Ignore")
                .replace(
                    "admissionReviewVersions: [\"v1\"]",
                    "admissionReviewVersions: [\"v1beta1\"]",
                )
                .replace(
                    "values: [\"zoll-system\", \"kube-system\"]",
                    "values: [\"kube-system\"]",
                )
                .replace(
                    "readOnlyRootFilesystem: true",
                    "readOnlyRootFilesystem: false",
                )
                .replace("replicas: 2", "replicas: two")
                .replace("renewBefore: 720h", "renewBefore: soon");
            std::fs::write(dir.path().join(f.file_name().unwrap()), broken).unwrap();
        }
    }
    let (ok, err) = validate(&[dir.path()]);
    assert!(!ok);
    for expected in [
        "mutate.admission.zoll.dev: failurePolicy must be Fail",
        "validate.admission.zoll.dev: admissionReviewVersions must be [v1]",
        "validate.admission.zoll.dev: namespaceSelector must exclude the webhook's namespace zoll-system",
        "container zoll-admission: securityContext.readOnlyRootFilesystem must be true",
        "spec/replicas: 'two' is not of type",
        "cert-manager.yaml#1: spec/renewBefore: 'soon' does not match",
    ] {
        assert!(err.contains(expected), "{expected:?} missing in:\n{err}");
    }
}
