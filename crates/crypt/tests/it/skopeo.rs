//! Interoperability with Debian's skopeo (containers/ocicrypt) in both directions: skopeo
//! decrypts what zoll encrypts, zoll decrypts what skopeo encrypts. JWE with RSA and EC
//! keys, two recipients at once, and PKCS#7.

use std::process::Command;

use zoll_crypt::image::Selection;

use crate::fixtures::{keys, layer_blobs, oci_image, require, run};
use crate::layout::Layout;
use crate::{decrypt, encrypt};

const ENC_KEYS: &str = "org.opencontainers.image.enc.keys.";

struct Case {
    /// zoll / skopeo recipient arguments.
    recipients: &'static [&'static str],
    /// Each entry is one complete set of decryption keys that must work on its own.
    key_sets: &'static [&'static [&'static str]],
}

fn k(name: &str) -> String {
    let (scheme, file) = match name.split_once(':') {
        Some((s, f)) => (Some(s), f),
        None => (None, name),
    };
    let path = keys().path(file);
    match scheme {
        Some(s) => format!("{s}:{path}"),
        None => path,
    }
}

fn skopeo(args: &[String]) {
    require("skopeo");
    run(Command::new("skopeo").arg("copy").arg("--quiet").args(args));
}

/// zoll encrypts, skopeo decrypts with each key set; the layers come back bit for bit.
fn zoll_to_skopeo(case: &Case) {
    let dir = tempfile::tempdir().unwrap();
    let plain = Layout::new(&dir.path().join("plain"));
    let originals = oci_image(&plain, "v1", 2, 4096);
    let enc = Layout::new(&dir.path().join("enc"));
    let specs: Vec<String> = case.recipients.iter().map(|r| k(r)).collect();
    let report = encrypt(&plain, &enc, &specs, &Selection::default()).unwrap();
    assert_eq!(report.layers_changed, 2);
    let m = enc.manifest("v1");
    for layer in m["layers"].as_array().unwrap() {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"
        );
        assert!(layer["annotations"]["org.example.layer"].is_string());
        assert!(layer["annotations"]["org.opencontainers.image.enc.pubopts"].is_string());
    }
    for (i, set) in case.key_sets.iter().enumerate() {
        let out = dir.path().join(format!("skopeo-dec-{i}"));
        let mut args = Vec::new();
        for key in set.iter() {
            args.push("--decryption-key".to_owned());
            // skopeo's ocicrypt reads PKCS#8 and PKCS#1 PEM, not SEC1 "EC PRIVATE KEY".
            args.push(k(&key.replace("ec384.pem", "ec384.p8.pem")));
        }
        args.push(format!("oci:{}:v1", enc.dir.display()));
        args.push(format!("oci:{}:v1", out.display()));
        skopeo(&args);
        let dec = Layout::new(&out);
        assert_eq!(layer_blobs(&dec, "v1"), originals, "key set {set:?}");
        for layer in dec.manifest("v1")["layers"].as_array().unwrap() {
            assert_eq!(
                layer["mediaType"],
                "application/vnd.oci.image.layer.v1.tar+gzip"
            );
            let annotations = layer["annotations"].as_object().unwrap();
            assert!(
                annotations
                    .keys()
                    .all(|k| !k.starts_with("org.opencontainers.image.enc."))
            );
        }
    }
}

/// skopeo encrypts, zoll decrypts with each key set.
fn skopeo_to_zoll(case: &Case) {
    let dir = tempfile::tempdir().unwrap();
    let plain = Layout::new(&dir.path().join("plain"));
    let originals = oci_image(&plain, "v1", 2, 4096);
    let enc = Layout::new(&dir.path().join("enc"));
    let mut args = Vec::new();
    for r in case.recipients {
        args.push("--encryption-key".to_owned());
        args.push(k(r));
    }
    args.push(format!("oci:{}:v1", plain.dir.display()));
    args.push(format!("oci:{}:v1", enc.dir.display()));
    skopeo(&args);
    let m = enc.manifest("v1");
    for layer in m["layers"].as_array().unwrap() {
        assert!(layer["mediaType"].as_str().unwrap().ends_with("+encrypted"));
        let scheme = case.recipients[0].split(':').next().unwrap();
        assert!(
            layer["annotations"][format!("{ENC_KEYS}{scheme}")].is_string(),
            "{layer}"
        );
    }
    for (i, set) in case.key_sets.iter().enumerate() {
        let dec = Layout::new(&dir.path().join(format!("zoll-dec-{i}")));
        let specs: Vec<String> = set.iter().map(|key| k(key)).collect();
        let report = decrypt(&enc, &dec, &specs).unwrap();
        assert_eq!(report.layers_changed, 2);
        assert_eq!(layer_blobs(&dec, "v1"), originals, "key set {set:?}");
        assert_eq!(
            dec.manifest("v1")["layers"][0]["annotations"]["org.example.layer"],
            "0"
        );
    }
}

const RSA: Case = Case {
    recipients: &["jwe:rsa.pub.pem"],
    key_sets: &[&["rsa.pem"]],
};
const EC_P256: Case = Case {
    recipients: &["jwe:ec256.pub.pem"],
    key_sets: &[&["ec256.pem"]],
};
const EC_P384: Case = Case {
    recipients: &["jwe:ec384.pub.pem"],
    key_sets: &[&["ec384.pem"]],
};
const TWO: Case = Case {
    recipients: &["jwe:rsa.pub.pem", "jwe:ec256.pub.pem"],
    key_sets: &[&["rsa.pem"], &["ec256.pem"]],
};
const PKCS7: Case = Case {
    recipients: &["pkcs7:cert.pem"],
    key_sets: &[&["rsa.pem", "cert.pem"]],
};
const PKCS7_TWO: Case = Case {
    recipients: &["pkcs7:cert.pem", "pkcs7:cert2.pem"],
    key_sets: &[&["rsa.pem", "cert.pem"], &["other-rsa.pem", "cert2.pem"]],
};

#[test]
fn skopeo_decrypts_zoll_jwe_rsa() {
    zoll_to_skopeo(&RSA);
}

#[test]
fn zoll_decrypts_skopeo_jwe_rsa() {
    skopeo_to_zoll(&RSA);
}

#[test]
fn skopeo_decrypts_zoll_jwe_ec_p256() {
    zoll_to_skopeo(&EC_P256);
}

#[test]
fn zoll_decrypts_skopeo_jwe_ec_p256() {
    skopeo_to_zoll(&EC_P256);
}

#[test]
fn skopeo_decrypts_zoll_jwe_ec_p384() {
    zoll_to_skopeo(&EC_P384);
}

#[test]
fn zoll_decrypts_skopeo_jwe_ec_p384() {
    skopeo_to_zoll(&EC_P384);
}

#[test]
fn skopeo_decrypts_zoll_two_recipients() {
    zoll_to_skopeo(&TWO);
}

#[test]
fn zoll_decrypts_skopeo_two_recipients() {
    skopeo_to_zoll(&TWO);
}

#[test]
fn skopeo_decrypts_zoll_pkcs7() {
    zoll_to_skopeo(&PKCS7);
}

#[test]
fn zoll_decrypts_skopeo_pkcs7() {
    skopeo_to_zoll(&PKCS7);
}

#[test]
fn skopeo_decrypts_zoll_pkcs7_two_recipients() {
    zoll_to_skopeo(&PKCS7_TWO);
}

#[test]
fn zoll_decrypts_skopeo_pkcs7_two_recipients() {
    skopeo_to_zoll(&PKCS7_TWO);
}

/// skopeo compresses a layer whose bytes are not gzip while it encrypts, but records the
/// source digest in the private options. zoll decrypts to the same bytes skopeo does and
/// names them by their real digest.
#[test]
fn zoll_decrypts_a_layer_skopeo_recompressed() {
    let dir = tempfile::tempdir().unwrap();
    let plain = Layout::new(&dir.path().join("plain"));
    oci_image(&plain, "v1", 1, 16);
    let random = zoll_testkit::pseudo_random(7, 3 << 20);
    let d = plain.write_blob(&random);
    let mut m = plain.manifest("v1");
    m["layers"][0]["digest"] = d.to_string().into();
    m["layers"][0]["size"] = random.len().into();
    plain.retag_manifest(&m, "v1");
    let enc = Layout::new(&dir.path().join("enc"));
    skopeo(&[
        "--encryption-key".into(),
        k("jwe:rsa.pub.pem"),
        format!("oci:{}:v1", plain.dir.display()),
        format!("oci:{}:v1", enc.dir.display()),
    ]);
    let by_skopeo = dir.path().join("skopeo-dec");
    skopeo(&[
        "--decryption-key".into(),
        k("rsa.pem"),
        format!("oci:{}:v1", enc.dir.display()),
        format!("oci:{}:v1", by_skopeo.display()),
    ]);
    let dec = Layout::new(&dir.path().join("zoll-dec"));
    let report = decrypt(&enc, &dec, &[k("rsa.pem")]).unwrap();
    assert_eq!(report.digest_claims_corrected, 1);
    let ours = layer_blobs(&dec, "v1");
    assert_eq!(ours, layer_blobs(&Layout::new(&by_skopeo), "v1"));
    assert_ne!(ours[0], random, "skopeo stored a compressed layer");
}
