//! ocicrypt's key provider protocol in command mode, with a provider script written from the
//! protocol documentation (`keyprovider.py`). Debian's skopeo 1.9.3 has no provider
//! support, so this checks zoll against the documented format only.

use base64::Engine;
use serde_json::Value;
use zoll_crypt::CryptError;
use zoll_crypt::image::Selection;

use crate::fixtures::{keys, layer_blobs, oci_image, require};
use crate::layout::Layout;
use crate::{decrypt, encrypt};

const ANNOTATION: &str = "org.opencontainers.image.enc.keys.provider.testkms";

/// The provider the tests use: `kms/ocicrypt.json`, named by `OCICRYPT_KEYPROVIDER_CONFIG`
/// from `.cargo/config.toml` (the environment is never changed while tests run), runs
/// `keyprovider.py` with the secrets in `kms/`. Its path is relative to the crate directory,
/// where cargo runs the tests.
fn provider() {
    require("python3");
    let config = std::env::var_os(zoll_crypt::KEYPROVIDER_CONFIG_ENV).expect(
        "OCICRYPT_KEYPROVIDER_CONFIG is set by .cargo/config.toml: run the tests through cargo",
    );
    assert!(
        std::path::Path::new(&config).ends_with("tests/it/kms/ocicrypt.json"),
        "OCICRYPT_KEYPROVIDER_CONFIG={config:?} is not the tests' own: unset it"
    );
}

#[test]
fn provider_wraps_and_unwraps() {
    provider();
    let dir = tempfile::tempdir().unwrap();
    let plain = Layout::new(&dir.path().join("plain"));
    let originals = oci_image(&plain, "v1", 2, 1024);
    let enc = Layout::new(&dir.path().join("enc"));
    let jwe = format!("jwe:{}", keys().path("ec256.pub.pem"));
    encrypt(
        &plain,
        &enc,
        &["provider:testkms:alice".into(), jwe],
        &Selection::default(),
    )
    .unwrap();
    let layer = &enc.manifest("v1")["layers"][0];
    // The annotation is base64 of exactly what the provider answered.
    let ann = base64::engine::general_purpose::STANDARD
        .decode(layer["annotations"][ANNOTATION].as_str().unwrap())
        .unwrap();
    let ann: Value = serde_json::from_slice(&ann).unwrap();
    assert_eq!(ann["kid"], "alice");

    let dec = Layout::new(&dir.path().join("dec"));
    decrypt(&enc, &dec, &["provider:testkms:alice".into()]).unwrap();
    assert_eq!(layer_blobs(&dec, "v1"), originals);
    // The JWE recipient is independent of the provider.
    let dec2 = Layout::new(&dir.path().join("dec2"));
    decrypt(&enc, &dec2, &[keys().path("ec256.pem")]).unwrap();
    assert_eq!(layer_blobs(&dec2, "v1"), originals);

    let err = decrypt(
        &enc,
        &Layout::new(&dir.path().join("x")),
        &["provider:testkms:bob".into()],
    )
    .unwrap_err();
    assert!(matches!(err, CryptError::NoMatchingKey { .. }), "{err:?}");
    assert!(!dir.path().join("x").exists());
}

#[test]
fn provider_errors() {
    provider();
    let cases: &[(&str, &str)] = &[
        ("provider:unknown", "not configured"),
        ("provider:remote", "gRPC"),
    ];
    for (spec, text) in cases {
        match zoll_crypt::Recipient::parse(spec).unwrap_err() {
            CryptError::KeyProvider { reason, .. } => {
                assert!(reason.contains(text), "{spec}: {reason}")
            }
            other => panic!("{spec}: {other:?}"),
        }
    }
    // The provider fails to wrap for a key it does not hold.
    let dir = tempfile::tempdir().unwrap();
    let plain = Layout::new(&dir.path().join("plain"));
    oci_image(&plain, "v1", 1, 256);
    let err = encrypt(
        &plain,
        &Layout::new(&dir.path().join("e")),
        &["provider:testkms:carol".into()],
        &Selection::default(),
    )
    .unwrap_err();
    match err {
        CryptError::KeyProvider { name, reason } => {
            assert_eq!(name, "testkms");
            assert!(reason.contains("unknown key carol"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!dir.path().join("e").exists());
}
