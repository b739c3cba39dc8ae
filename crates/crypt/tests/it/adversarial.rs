//! Bad input: wrong keys, tampered ciphertext and annotations, truncated layers. Every case
//! must end in its exact error variant and leave the destination untouched (no layout, no
//! staging files).

use std::fs;

use base64::Engine;
use serde_json::Value;
use zoll_crypt::CryptError;
use zoll_crypt::image::Selection;

use crate::fixtures::{keys, oci_image};
use crate::layout::Layout;
use crate::{decrypt, encrypt};

type Tamper = fn(&Layout);
type Expect = fn(&CryptError) -> bool;

/// Builds an image encrypted for rsa.pub.pem, applies `tamper`, decrypts with `key_names`
/// and checks the error with `expect`.
fn check(scenario: &str, tamper: Tamper, key_names: &[&str], expect: Expect) {
    let dir = tempfile::tempdir().unwrap();
    let plain = Layout::new(&dir.path().join("plain"));
    oci_image(&plain, "v1", 2, 64 * 1024);
    let enc = Layout::new(&dir.path().join("enc"));
    encrypt(
        &plain,
        &enc,
        &[format!("jwe:{}", keys().path("rsa.pub.pem"))],
        &Selection::default(),
    )
    .unwrap();
    tamper(&enc);
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let dst = Layout::new(&out_dir.join("dec"));
    let specs: Vec<String> = key_names.iter().map(|k| keys().path(k)).collect();
    let err = decrypt(&enc, &dst, &specs).expect_err(scenario);
    assert!(expect(&err), "{scenario}: unexpected error {err:?}");
    let left: Vec<_> = fs::read_dir(&out_dir).unwrap().collect();
    assert!(
        left.is_empty(),
        "{scenario}: destination or staging files left behind: {left:?}"
    );
}

/// Rewrites the manifest of `v1` with `edit` applied to layer 0.
fn edit_layer0(layout: &Layout, edit: impl FnOnce(&mut Value)) {
    let mut m = layout.manifest("v1");
    edit(&mut m["layers"][0]);
    layout.retag_manifest(&m, "v1");
}

fn layer0_path(layout: &Layout) -> std::path::PathBuf {
    let m = layout.manifest("v1");
    layout.blob_path(&m["layers"][0]["digest"].as_str().unwrap().parse().unwrap())
}

/// Replaces layer 0's blob with `new` and points the manifest at it (an attacker who
/// controls both).
fn replace_layer0_consistently(layout: &Layout, new: Vec<u8>) {
    let d = layout.write_blob(&new);
    edit_layer0(layout, |l| {
        l["digest"] = d.to_string().into();
        l["size"] = new.len().into();
    });
}

fn edit_pubopts(layout: &Layout, edit: fn(&mut Value)) {
    edit_layer0(layout, |l| {
        let b64 = base64::engine::general_purpose::STANDARD;
        let raw = l["annotations"]["org.opencontainers.image.enc.pubopts"]
            .as_str()
            .unwrap();
        let mut opts: Value = serde_json::from_slice(&b64.decode(raw).unwrap()).unwrap();
        edit(&mut opts);
        l["annotations"]["org.opencontainers.image.enc.pubopts"] =
            b64.encode(serde_json::to_vec(&opts).unwrap()).into();
    });
}

fn untouched(_: &Layout) {}

#[test]
fn wrong_key() {
    check("wrong-key", untouched, &["other-rsa.pem"], |e| {
        matches!(e, CryptError::NoMatchingKey { .. })
    });
}

#[test]
fn key_of_another_kind() {
    check("ec-key-for-rsa-recipient", untouched, &["ec256.pem"], |e| {
        matches!(e, CryptError::NoMatchingKey { .. })
    });
}

#[test]
fn no_keys() {
    check("no-keys", untouched, &[], |e| {
        matches!(e, CryptError::NoKeys)
    });
}

#[test]
fn tampered_ciphertext() {
    check(
        "tampered-ciphertext",
        |l| {
            let mut blob = fs::read(layer0_path(l)).unwrap();
            blob[100] ^= 1;
            replace_layer0_consistently(l, blob);
        },
        &["rsa.pem"],
        |e| matches!(e, CryptError::HmacMismatch),
    );
}

#[test]
fn tampered_ciphertext_digest() {
    check(
        "tampered-ciphertext-in-place",
        |l| {
            let path = layer0_path(l);
            let mut blob = fs::read(&path).unwrap();
            let last = blob.len() - 1;
            blob[last] ^= 0x80;
            fs::write(path, blob).unwrap();
        },
        &["rsa.pem"],
        |e| matches!(e, CryptError::DigestMismatch { .. }),
    );
}

#[test]
fn tampered_hmac_annotation() {
    check(
        "tampered-pubopts-hmac",
        |l| {
            edit_pubopts(l, |o| {
                let b64 = base64::engine::general_purpose::STANDARD;
                let mut h = b64.decode(o["hmac"].as_str().unwrap()).unwrap();
                h[0] ^= 1;
                o["hmac"] = b64.encode(h).into();
            })
        },
        &["rsa.pem"],
        |e| matches!(e, CryptError::HmacMismatch),
    );
}

#[test]
fn tampered_cipher_annotation() {
    check(
        "tampered-pubopts-cipher",
        |l| edit_pubopts(l, |o| o["cipher"] = "AES_128_CTR_HMAC_SHA256".into()),
        &["rsa.pem"],
        |e| {
            matches!(
                e,
                CryptError::Unsupported {
                    what: "layer cipher",
                    ..
                }
            )
        },
    );
}

#[test]
fn tampered_wrapped_key() {
    check(
        "tampered-jwe",
        |l| {
            edit_layer0(l, |layer| {
                let b64 = base64::engine::general_purpose::STANDARD;
                let key = "org.opencontainers.image.enc.keys.jwe";
                let mut jwe: Value = serde_json::from_slice(
                    &b64.decode(layer["annotations"][key].as_str().unwrap())
                        .unwrap(),
                )
                .unwrap();
                let ct = jwe["ciphertext"].as_str().unwrap().to_owned();
                let first = if ct.starts_with('A') { "B" } else { "A" };
                let flipped = format!("{first}{}", &ct[1..]);
                jwe["ciphertext"] = flipped.into();
                layer["annotations"][key] = b64.encode(serde_json::to_vec(&jwe).unwrap()).into();
            })
        },
        &["rsa.pem"],
        |e| matches!(e, CryptError::NoMatchingKey { .. }),
    );
}

#[test]
fn malformed_wrapped_key() {
    check(
        "jwe-not-base64",
        |l| {
            edit_layer0(l, |layer| {
                layer["annotations"]["org.opencontainers.image.enc.keys.jwe"] = "!!!".into()
            })
        },
        &["rsa.pem"],
        |e| {
            matches!(
                e,
                CryptError::Malformed {
                    what: "encryption annotation",
                    ..
                }
            )
        },
    );
}

#[test]
fn missing_pubopts() {
    check(
        "pubopts-removed",
        |l| {
            edit_layer0(l, |layer| {
                layer["annotations"]
                    .as_object_mut()
                    .unwrap()
                    .remove("org.opencontainers.image.enc.pubopts");
            })
        },
        &["rsa.pem"],
        |e| {
            matches!(
                e,
                CryptError::Malformed {
                    what: "encryption annotations",
                    ..
                }
            )
        },
    );
}

#[test]
fn truncated_layer() {
    check(
        "truncated-blob",
        |l| {
            let path = layer0_path(l);
            let blob = fs::read(&path).unwrap();
            fs::write(path, &blob[..blob.len() / 2]).unwrap();
        },
        &["rsa.pem"],
        |e| matches!(e, CryptError::SizeMismatch { .. }),
    );
}

#[test]
fn truncated_layer_with_matching_descriptor() {
    check(
        "truncated-blob-and-descriptor",
        |l| {
            let blob = fs::read(layer0_path(l)).unwrap();
            replace_layer0_consistently(l, blob[..blob.len() - 7].to_vec());
        },
        &["rsa.pem"],
        |e| matches!(e, CryptError::HmacMismatch),
    );
}

#[test]
fn bad_recipients_and_keys() {
    let k = keys();
    let cases: &[(String, Expect)] = &[
        ("jwe:/nonexistent.pem".into(), |e| {
            matches!(e, CryptError::InvalidSpec { .. })
        }),
        ("ftp:key.pem".into(), |e| {
            matches!(e, CryptError::InvalidSpec { .. })
        }),
        ("pgp:someone@example.com".into(), |e| {
            matches!(e, CryptError::InvalidSpec { .. })
        }),
        (format!("jwe:{}", k.path("cert.pem")), |_| false), // a certificate's key is accepted
        (format!("pkcs7:{}", k.path("rsa.pub.pem")), |e| {
            matches!(e, CryptError::InvalidKey { .. })
        }),
        (format!("jwe:{}", k.path("rsa.pem")), |e| {
            matches!(e, CryptError::InvalidKey { .. })
        }),
        ("provider:nope".into(), |e| {
            matches!(e, CryptError::KeyProvider { .. })
        }),
    ];
    for (spec, expect) in cases {
        match zoll_crypt::Recipient::parse(spec) {
            Ok(_) => assert!(spec.ends_with("cert.pem"), "{spec} was accepted"),
            Err(e) => assert!(expect(&e), "{spec}: {e:?}"),
        }
    }
    let key_cases: &[(String, Expect)] = &[
        (k.path("rsa-enc.pem"), |e| {
            matches!(e, CryptError::InvalidKey { .. })
        }),
        (
            format!("{}:pass=hunter2", k.path("rsa-enc.pem")),
            |e| matches!(e, CryptError::InvalidKey { reason, .. } if reason.contains("wrong password")),
        ),
        ("/nonexistent/key.pem".into(), |e| {
            matches!(e, CryptError::InvalidSpec { .. })
        }),
    ];
    for (spec, expect) in key_cases {
        let err = zoll_crypt::KeyRing::parse(std::slice::from_ref(spec)).expect_err(spec);
        assert!(expect(&err), "{spec}: {err:?}");
        // One line, and the password given is not in it.
        let message = err.to_string();
        assert!(
            !message.contains('\n') && !message.contains("hunter2"),
            "{message}"
        );
    }
}

#[test]
fn key_formats_decrypt() {
    // The same RSA key as PKCS#8, PKCS#1 and password-protected PKCS#8 all work.
    for key in ["rsa.pem", "rsa-pkcs1.pem", "rsa-enc.pem:pass=secret"] {
        let dir = tempfile::tempdir().unwrap();
        let plain = Layout::new(&dir.path().join("plain"));
        let originals = oci_image(&plain, "v1", 1, 1024);
        let enc = Layout::new(&dir.path().join("enc"));
        encrypt(
            &plain,
            &enc,
            &[format!("jwe:{}", keys().path("rsa.pub.pem"))],
            &Selection::default(),
        )
        .unwrap();
        let dec = Layout::new(&dir.path().join("dec"));
        decrypt(&enc, &dec, &[keys().path(key)]).unwrap();
        assert_eq!(crate::fixtures::layer_blobs(&dec, "v1"), originals, "{key}");
    }
}
