//! Adding and removing recipients without touching layer data, selective (per-layer)
//! encryption, and platform selection in an index. skopeo checks the results where it can.

use std::process::Command;

use serde_json::json;
use zoll_crypt::image::{Descriptor, Operation, Platform, Selection};
use zoll_crypt::{CryptError, KeyRing, WrapSettings};
use zoll_oci::Digest;

use crate::fixtures::{keys, layer_blobs, oci_image, require, run, run_fails};
use crate::layout::Layout;
use crate::{decrypt, encrypt, recipients, transform};

fn jwe(name: &str) -> String {
    format!("jwe:{}", keys().path(name))
}

fn layer_digests(layout: &Layout) -> Vec<String> {
    layout.manifest("v1")["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}

fn skopeo_decrypt(src: &Layout, dst: &std::path::Path, key: &str) -> Result<(), String> {
    require("skopeo");
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--quiet", "--decryption-key", &keys().path(key)])
        .arg(format!("oci:{}:v1", src.dir.display()))
        .arg(format!("oci:{}:v1", dst.display()));
    let out = cmd.output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn add_and_remove_recipients_keep_layer_data() {
    let dir = tempfile::tempdir().unwrap();
    let plain = Layout::new(&dir.path().join("plain"));
    let originals = oci_image(&plain, "v1", 2, 4096);
    let enc = Layout::new(&dir.path().join("enc"));
    encrypt(&plain, &enc, &[jwe("rsa.pub.pem")], &Selection::default()).unwrap();
    let before = layer_digests(&enc);

    // Add an EC recipient, proving possession of the RSA key.
    let added = Layout::new(&dir.path().join("added"));
    let ring = KeyRing::parse(&[keys().path("rsa.pem")]).unwrap();
    let new = recipients(&[
        jwe("ec256.pub.pem"),
        format!("pkcs7:{}", keys().path("cert2.pem")),
    ]);
    let op = Operation::AddRecipients {
        keys: &ring,
        recipients: &new,
        settings: WrapSettings::default(),
    };
    let report = transform(&enc, "v1", &added, "v1", &op, &Selection::default()).unwrap();
    assert_eq!(report.layers_changed, 2);
    assert_eq!(layer_digests(&added), before, "layer blobs must not change");
    // skopeo decrypts with the new keys and with the old one.
    skopeo_decrypt(&added, &dir.path().join("by-ec"), "ec256.pem").unwrap();
    assert_eq!(
        layer_blobs(&Layout::new(&dir.path().join("by-ec")), "v1"),
        originals
    );
    skopeo_decrypt(&added, &dir.path().join("by-rsa"), "rsa.pem").unwrap();

    // Remove the RSA recipient: the RSA key stops working, EC and PKCS#7 keep working.
    let removed = Layout::new(&dir.path().join("removed"));
    let gone = recipients(&[jwe("rsa.pub.pem")]);
    let op = Operation::RemoveRecipients { recipients: &gone };
    transform(&added, "v1", &removed, "v1", &op, &Selection::default()).unwrap();
    assert_eq!(layer_digests(&removed), before);
    let err = decrypt(
        &removed,
        &Layout::new(&dir.path().join("x")),
        &[keys().path("rsa.pem")],
    )
    .unwrap_err();
    assert!(matches!(err, CryptError::NoMatchingKey { .. }), "{err:?}");
    skopeo_decrypt(&removed, &dir.path().join("rm-by-ec"), "ec256.pem").unwrap();
    assert!(skopeo_decrypt(&removed, &dir.path().join("rm-by-rsa"), "rsa.pem").is_err());
    let dec = Layout::new(&dir.path().join("rm-by-p7"));
    decrypt(&removed, &dec, &[keys().path("other-rsa.pem")]).unwrap();
    assert_eq!(layer_blobs(&dec, "v1"), originals);

    // Removing someone who is not a recipient, or everyone, is refused.
    let stranger = recipients(&[jwe("other-ec.pub.pem")]);
    let op = Operation::RemoveRecipients {
        recipients: &stranger,
    };
    let err = transform(
        &removed,
        "v1",
        &Layout::new(&dir.path().join("y")),
        "v1",
        &op,
        &Selection::default(),
    )
    .unwrap_err();
    assert!(matches!(err, CryptError::RecipientNotFound(_)), "{err:?}");
    let all = recipients(&[
        jwe("ec256.pub.pem"),
        format!("pkcs7:{}", keys().path("cert2.pem")),
    ]);
    let op = Operation::RemoveRecipients { recipients: &all };
    let err = transform(
        &removed,
        "v1",
        &Layout::new(&dir.path().join("z")),
        "v1",
        &op,
        &Selection::default(),
    )
    .unwrap_err();
    assert!(matches!(err, CryptError::LastRecipient(_)), "{err:?}");

    // Adding needs a key that opens the layer.
    let wrong = KeyRing::parse(&[keys().path("other-ec.pem")]).unwrap();
    let op = Operation::AddRecipients {
        keys: &wrong,
        recipients: &new,
        settings: WrapSettings::default(),
    };
    let err = transform(
        &enc,
        "v1",
        &Layout::new(&dir.path().join("w")),
        "v1",
        &op,
        &Selection::default(),
    )
    .unwrap_err();
    assert!(matches!(err, CryptError::NoMatchingKey { .. }), "{err:?}");
}

#[test]
fn selected_layers_only() {
    let dir = tempfile::tempdir().unwrap();
    let plain = Layout::new(&dir.path().join("plain"));
    let originals = oci_image(&plain, "v1", 3, 2048);
    let enc = Layout::new(&dir.path().join("enc"));
    let sel = Selection {
        layers: vec![-1],
        platforms: vec![],
    };
    let report = encrypt(&plain, &enc, &[jwe("rsa.pub.pem")], &sel).unwrap();
    assert_eq!(report.layers_changed, 1);
    let m = enc.manifest("v1");
    let plain_m = plain.manifest("v1");
    // The base layers stay plain and byte-identical (deduplicated with the plain image).
    assert_eq!(m["layers"][0], plain_m["layers"][0]);
    assert_eq!(m["layers"][1], plain_m["layers"][1]);
    assert_eq!(
        m["layers"][2]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"
    );
    let out = dir.path().join("dec");
    skopeo_decrypt(&enc, &out, "rsa.pem").unwrap();
    assert_eq!(layer_blobs(&Layout::new(&out), "v1"), originals);
    // Encrypting the same layer again by name is an error; the rest can still be encrypted.
    let again = Selection {
        layers: vec![2],
        platforms: vec![],
    };
    let err = encrypt(
        &enc,
        &Layout::new(&dir.path().join("x")),
        &[jwe("rsa.pub.pem")],
        &again,
    )
    .unwrap_err();
    assert!(matches!(err, CryptError::AlreadyEncrypted(_)), "{err:?}");
    let all = Layout::new(&dir.path().join("all"));
    let report = encrypt(&enc, &all, &[jwe("rsa.pub.pem")], &Selection::default()).unwrap();
    assert_eq!((report.layers_changed, report.layers_skipped), (2, 1));
    let out_of_range = Selection {
        layers: vec![3],
        platforms: vec![],
    };
    let err = encrypt(
        &plain,
        &Layout::new(&dir.path().join("y")),
        &[jwe("rsa.pub.pem")],
        &out_of_range,
    )
    .unwrap_err();
    assert!(matches!(err, CryptError::InvalidSpec { .. }), "{err:?}");
}

#[test]
fn platform_selection_in_an_index() {
    let dir = tempfile::tempdir().unwrap();
    // Two single-platform images in one layout, joined by an index.
    let src = Layout::new(&dir.path().join("src"));
    oci_image(&src, "amd64", 1, 1024);
    oci_image(&src, "arm64", 1, 1024);
    let child = |tag: &str, arch: &str| {
        let d = src.resolve(tag);
        json!({"mediaType": d.media_type, "digest": d.digest.to_string(), "size": d.size,
               "platform": {"os": "linux", "architecture": arch}})
    };
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [child("amd64", "amd64"), child("arm64", "arm64")],
    }))
    .unwrap();
    let desc = Descriptor {
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        digest: Digest::sha256(&index),
        size: index.len() as u64,
        annotations: Default::default(),
    };
    src.tag(&desc, &index, "v1");

    let enc = Layout::new(&dir.path().join("enc"));
    let sel = Selection {
        layers: vec![],
        platforms: vec!["linux/arm64".parse::<Platform>().unwrap()],
    };
    encrypt(&src, &enc, &[jwe("ec256.pub.pem")], &sel).unwrap();
    let idx = enc.manifest("v1");
    let amd = enc.read_json(
        &idx["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    );
    let arm = enc.read_json(
        &idx["manifests"][1]["digest"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    );
    assert_eq!(
        idx["manifests"][0]["digest"],
        src.index()["manifests"][0]["digest"]
    );
    assert_eq!(
        amd["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        arm["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"
    );
    assert_eq!(idx["manifests"][1]["platform"]["architecture"], "arm64");

    // skopeo decrypts the whole index (--all) with the key.
    require("skopeo");
    let out = dir.path().join("dec");
    run(Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--all",
            "--decryption-key",
            &keys().path("ec256.pem"),
        ])
        .arg(format!("oci:{}:v1", enc.dir.display()))
        .arg(format!("oci:{}:v1", out.display())));
    // Without the key, skopeo cannot.
    let err = run_fails(
        Command::new("skopeo")
            .args([
                "copy",
                "--quiet",
                "--all",
                "--decryption-key",
                &keys().path("other-ec.pem"),
            ])
            .arg(format!("oci:{}:v1", enc.dir.display()))
            .arg(format!("oci:{}:v1", dir.path().join("nope").display())),
    );
    assert!(err.contains("decrypt"), "{err}");
    let dec = Layout::new(&dir.path().join("zoll-dec"));
    decrypt(&enc, &dec, &[keys().path("ec256.pem")]).unwrap();
    let dec_idx = dec.manifest("v1");
    assert_eq!(
        dec_idx["manifests"][1]["digest"],
        src.index()["manifests"][1]["digest"]
    );
}
