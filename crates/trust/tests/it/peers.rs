//! Independent verifiers accept what zoll signs: openssl (legacy cosign simple signing),
//! @sigstore/verify (bundle v0.3), securesystemslib (DSSE). With file keys and SoftHSM keys.

use std::path::Path;
use std::process::Command;

use zoll_oci::{Manifest, Reference, Tag};
use zoll_trust::cosign::{bundle, simple_signing};
use zoll_trust::image::{self, SignatureFormat};
use zoll_trust::keys::{KeyKind, KeySource, generate_key, open_key};

use crate::image::{options, repo, test_image};
use crate::support::{hsm_uri, node_modules, peer_script, require_peer, tempdir};

fn keys() -> Vec<(String, Box<dyn KeySource>)> {
    let mut keys: Vec<(String, Box<dyn KeySource>)> = Vec::new();
    for kind in [
        KeyKind::EcP256,
        KeyKind::EcP384,
        KeyKind::Rsa { bits: 3072 },
        KeyKind::Ed25519,
    ] {
        keys.push((
            format!("file {kind}"),
            Box::new(generate_key(kind).unwrap().key),
        ));
    }
    for label in ["ec256", "rsa3072"] {
        keys.push((
            format!("softhsm {label}"),
            open_key(&hsm_uri(label)).unwrap(),
        ));
    }
    keys
}

fn status(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn openssl_digest(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::EcP384 => "-sha384",
        KeyKind::EcP521 => "-sha512",
        _ => "-sha256",
    }
}

#[tokio::test]
async fn openssl_verifies_legacy_cosign_signatures() {
    require_peer("openssl");
    for (name, key) in keys() {
        let kind = key.public_key().kind();
        if kind == KeyKind::Ed25519 {
            continue; // cosign's simple signing with Ed25519 has no openssl dgst form
        }
        let dir = tempdir();
        let (img, repo) = repo(&format!("oci:{}:v1", dir.path().join("layout").display()));
        test_image(&name).push(&repo, Some("v1")).await;
        let signed = image::sign(
            &repo,
            img.reference.as_ref(),
            &options(key.as_ref(), SignatureFormat::CosignLegacy, vec![]),
        )
        .await
        .unwrap();
        // Read the .sig tag back like any client would.
        let tag = Reference::Tag(
            Tag::parse(&simple_signing::signature_tag(&signed.subject.digest)).unwrap(),
        );
        let (_, bytes) = repo.fetch_manifest(&tag).await.unwrap();
        let manifest = Manifest::parse(&bytes, None).unwrap();
        let layer = &manifest.layers[0];
        assert_eq!(layer.media_type, simple_signing::LAYER_MEDIA_TYPE);
        let payload = repo.fetch_blob_bytes(layer, 1 << 20).await.unwrap();
        let sig_b64 = &layer.annotations.as_ref().unwrap()[simple_signing::SIGNATURE_ANNOTATION];
        let w = |n: &str, b: &[u8]| {
            let p = dir.path().join(n);
            std::fs::write(&p, b).unwrap();
            p
        };
        let payload_path = w("payload.json", &payload);
        let sig_path = w("sig.der", &zoll_stdx::base64::decode(sig_b64).unwrap());
        let pub_path = w("key.pub", key.public_key().to_pem().as_bytes());
        let (ok, out) = status(
            Command::new("openssl")
                .args(["dgst", openssl_digest(kind), "-verify"])
                .arg(&pub_path)
                .arg("-signature")
                .arg(&sig_path)
                .arg(&payload_path),
        );
        assert!(ok && out.contains("Verified OK"), "{name}: {out}");
        let text = String::from_utf8(payload.to_vec()).unwrap();
        assert!(text.contains(signed.subject.digest.as_str()), "{text}");
        // The check can fail: a changed payload does not verify.
        let tampered = w(
            "tampered.json",
            text.replace("test/app", "evil/app").as_bytes(),
        );
        let (ok, _) = status(
            Command::new("openssl")
                .args(["dgst", openssl_digest(kind), "-verify"])
                .arg(&pub_path)
                .arg("-signature")
                .arg(&sig_path)
                .arg(&tampered),
        );
        assert!(!ok, "{name}: openssl accepted a tampered payload");
    }
}

async fn bundle_of(repo: &zoll_client::Repository, signed: &image::Signed) -> Vec<u8> {
    let (_, bytes) = repo
        .fetch_manifest(&Reference::Digest(signed.signature.digest.clone()))
        .await
        .unwrap();
    let manifest = Manifest::parse(&bytes, None).unwrap();
    assert_eq!(manifest.artifact_type.as_deref(), Some(bundle::MEDIA_TYPE));
    assert_eq!(
        manifest.subject.as_ref().unwrap().digest,
        signed.subject.digest
    );
    repo.fetch_blob_bytes(&manifest.layers[0], 1 << 24)
        .await
        .unwrap()
        .to_vec()
}

fn node_verify(bundle: &Path, key: &Path) -> (bool, String) {
    require_peer("node");
    status(
        Command::new("node")
            .env("TRUST_NODE_MODULES", node_modules())
            .arg(peer_script("verify_bundle.js"))
            .arg(bundle)
            .arg(key),
    )
}

fn python_verify(envelope: &Path, key: &Path) -> (bool, String) {
    status(
        Command::new("python3")
            .arg(peer_script("verify_dsse.py"))
            .arg(envelope)
            .arg(key),
    )
}

#[tokio::test]
async fn sigstore_js_and_securesystemslib_verify_bundles_and_attestations() {
    for (name, key) in keys() {
        let dir = tempdir();
        let (img, repo) = repo(&format!("oci:{}:v1", dir.path().join("layout").display()));
        test_image(&name).push(&repo, Some("v1")).await;
        let pub_path = dir.path().join("key.pub");
        std::fs::write(&pub_path, key.public_key().to_pem()).unwrap();
        let other_pub = dir.path().join("other.pub");
        std::fs::write(
            &other_pub,
            generate_key(key.public_key().kind())
                .unwrap()
                .key
                .public_key()
                .to_pem(),
        )
        .unwrap();

        // The image signature (cosign 3 layout) and an SBOM attestation.
        let signature = image::sign(
            &repo,
            img.reference.as_ref(),
            &options(key.as_ref(), SignatureFormat::CosignBundle, vec![]),
        )
        .await
        .unwrap();
        let sbom = serde_json::json!({"spdxVersion": "SPDX-2.3", "name": name});
        let attestation = image::attest(
            &repo,
            img.reference.as_ref(),
            key.as_ref(),
            "https://spdx.dev/Document",
            sbom,
        )
        .await
        .unwrap();
        for (what, signed) in [("signature", &signature), ("attestation", &attestation)] {
            let path = dir.path().join(format!("{what}.sigstore.json"));
            std::fs::write(&path, bundle_of(&repo, signed).await).unwrap();
            // @sigstore/verify checks key-hinted ECDSA with SHA-256 whatever the curve (node's
            // default digest), as cosign does for key files; zoll signs P-384 with SHA-384 as
            // sigstore's PKIX_ECDSA_P384_SHA_384 says, so that pair is checked by
            // securesystemslib only. P-256 is the interoperable sigstore curve.
            let sigstore_js_checks = key.public_key().kind() != KeyKind::EcP384;
            if sigstore_js_checks {
                let (ok, out) = node_verify(&path, &pub_path);
                assert!(
                    ok && out.contains(signed.subject.digest.hex()),
                    "{name} {what}: @sigstore/verify: {out}"
                );
                assert!(
                    !node_verify(&path, &other_pub).0,
                    "{name} {what}: @sigstore/verify accepted another key"
                );
            }
            let (ok, out) = python_verify(&path, &pub_path);
            assert!(
                ok && out.contains("application/vnd.in-toto+json"),
                "{name} {what}: securesystemslib: {out}"
            );
            assert!(
                !python_verify(&path, &other_pub).0,
                "{name} {what}: securesystemslib accepted another key"
            );
        }
    }
}
