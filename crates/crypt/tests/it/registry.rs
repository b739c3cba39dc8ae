//! Through `zoll-client` references: an OCI layout encrypted into a zoll registry, served
//! back unchanged; skopeo pulls and decrypts it from the registry, and zoll decrypts it from
//! the registry into a layout.

use std::process::Command;

use zoll_client::{ClientConfig, ImageRef};
use zoll_crypt::image::{Operation, Selection};
use zoll_crypt::{KeyRing, WrapSettings};
use zoll_testkit::TestServer;

use crate::fixtures::{keys, layer_blobs, oci_image, require, run};
use crate::layout::Layout;
use crate::recipients;

#[test]
fn encrypted_image_through_a_zoll_registry() {
    require("skopeo");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(TestServer::start());
    let dir = tempfile::tempdir().unwrap();
    let plain = Layout::new(&dir.path().join("plain"));
    let originals = oci_image(&plain, "v1", 2, 200 * 1024);

    let src: ImageRef = format!("oci:{}:v1", plain.dir.display()).parse().unwrap();
    let remote: ImageRef = server.image_ref("team/secret:v1").parse().unwrap();
    let rs = recipients(&[
        format!("jwe:{}", keys().path("rsa.pub.pem")),
        format!("pkcs7:{}", keys().path("cert.pem")),
    ]);
    let op = Operation::Encrypt {
        recipients: &rs,
        settings: WrapSettings::default(),
    };
    let config = ClientConfig::default();
    let (pushed, report) =
        zoll_crypt::run(&src, &remote, &config, &op, &Selection::default()).unwrap();
    assert_eq!(report.layers_changed, 2);

    // skopeo sees exactly the manifest zoll pushed, and decrypts it.
    let inspect = run(Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}", server.image_ref("team/secret:v1"))));
    assert_eq!(zoll_oci::Digest::sha256(inspect.as_bytes()), pushed.digest);
    assert!(
        inspect.contains("+encrypted")
            && inspect.contains("org.opencontainers.image.enc.keys.pkcs7")
    );
    let out = dir.path().join("skopeo-dec");
    run(Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--decryption-key",
            &keys().path("rsa.pem"),
        ])
        .arg(format!("docker://{}", server.image_ref("team/secret:v1")))
        .arg(format!("oci:{}:v1", out.display())));
    assert_eq!(layer_blobs(&Layout::new(&out), "v1"), originals);

    // zoll decrypts from the registry with the PKCS#7 recipient's key.
    let keys = KeyRing::parse(&[keys().path("rsa.pem"), keys().path("cert.pem")]).unwrap();
    let dst: ImageRef = format!("oci:{}:v1", dir.path().join("zoll-dec").display())
        .parse()
        .unwrap();
    zoll_crypt::run(
        &remote,
        &dst,
        &config,
        &Operation::Decrypt { keys: &keys },
        &Selection::default(),
    )
    .unwrap();
    assert_eq!(
        layer_blobs(&Layout::new(&dir.path().join("zoll-dec")), "v1"),
        originals
    );
    drop(server);
}

/// A wrong key through `run` leaves a fresh destination layout uncreated.
#[test]
fn failed_decrypt_creates_no_layout() {
    let dir = tempfile::tempdir().unwrap();
    let plain = Layout::new(&dir.path().join("plain"));
    oci_image(&plain, "v1", 1, 1024);
    let src: ImageRef = format!("oci:{}:v1", plain.dir.display()).parse().unwrap();
    let enc_ref: ImageRef = format!("oci:{}:v1", dir.path().join("enc").display())
        .parse()
        .unwrap();
    let rs = recipients(&[format!("jwe:{}", keys().path("ec256.pub.pem"))]);
    let op = Operation::Encrypt {
        recipients: &rs,
        settings: WrapSettings::default(),
    };
    zoll_crypt::run(
        &src,
        &enc_ref,
        &ClientConfig::default(),
        &op,
        &Selection::default(),
    )
    .unwrap();
    let wrong = KeyRing::parse(&[keys().path("other-ec.pem")]).unwrap();
    let dst: ImageRef = format!("oci:{}:v1", dir.path().join("dec").display())
        .parse()
        .unwrap();
    let err = zoll_crypt::run(
        &enc_ref,
        &dst,
        &ClientConfig::default(),
        &Operation::Decrypt { keys: &wrong },
        &Selection::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, zoll_crypt::CryptError::NoMatchingKey { .. }),
        "{err:?}"
    );
    assert!(!dir.path().join("dec").exists());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.to_string_lossy().starts_with(".zoll-")),
        "{names:?}"
    );
}
