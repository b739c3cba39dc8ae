//! Test keys (made by openssl, the peer) and test images (real tar + gzip layers).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::json;
use zoll_crypt::image::Descriptor;
use zoll_oci::Digest;

use crate::layout::Layout;

/// Fails (never skips) when a peer the test needs is missing.
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed: run `bash scripts/install-peers.sh` (scripts/peers.d/crypt.sh installs the encryption peers)"
    );
}

/// Runs a command and returns stdout; panics with stderr on failure.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that is expected to fail; returns its stderr.
pub fn run_fails(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(!out.status.success(), "{cmd:?} unexpectedly succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub struct Keys {
    pub dir: PathBuf,
}

impl Keys {
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

/// Key pairs and certificates, generated once per test run with openssl:
/// rsa (PKCS#8, 2048), rsa-pkcs1 (traditional), rsa3072, ec256 (PKCS#8), ec384 (SEC1),
/// ec384.p8 (the same key as PKCS#8), ec521, rsa-enc (PKCS#8 encrypted with password "secret"), other-rsa, other-ec;
/// `NAME.pem` private, `NAME.pub.pem` public; cert.pem / cert2.pem self-signed for rsa /
/// other-rsa.
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        require("openssl");
        let dir = tempfile::Builder::new()
            .prefix("zoll-crypt-keys-")
            .tempdir()
            .unwrap()
            .keep();
        let ossl = |args: &[&str]| {
            run(Command::new("openssl").args(args).current_dir(&dir));
        };
        ossl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.pem",
        ]);
        ossl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "other-rsa.pem",
        ]);
        ossl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:3072",
            "-out",
            "rsa3072.pem",
        ]);
        ossl(&[
            "pkey",
            "-in",
            "rsa.pem",
            "-traditional",
            "-out",
            "rsa-pkcs1.pem",
        ]);
        ossl(&[
            "pkcs8",
            "-topk8",
            "-in",
            "rsa.pem",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:secret",
            "-out",
            "rsa-enc.pem",
        ]);
        ossl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ec256.pem",
        ]);
        ossl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "other-ec.pem",
        ]);
        ossl(&[
            "ecparam",
            "-genkey",
            "-name",
            "secp384r1",
            "-noout",
            "-out",
            "ec384.pem",
        ]);
        ossl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-521",
            "-out",
            "ec521.pem",
        ]);
        for name in [
            "rsa",
            "other-rsa",
            "rsa3072",
            "ec256",
            "other-ec",
            "ec384",
            "ec521",
        ] {
            ossl(&[
                "pkey",
                "-in",
                &format!("{name}.pem"),
                "-pubout",
                "-out",
                &format!("{name}.pub.pem"),
            ]);
        }
        ossl(&["pkey", "-in", "ec384.pem", "-out", "ec384.p8.pem"]);
        ossl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "rsa.pem",
            "-subj",
            "/CN=zoll recipient",
            "-days",
            "2",
            "-out",
            "cert.pem",
        ]);
        ossl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "other-rsa.pem",
            "-subj",
            "/CN=zoll other",
            "-days",
            "2",
            "-out",
            "cert2.pem",
        ]);
        Keys { dir }
    })
}

/// A real gzip-compressed tar of a few files, distinct per seed.
pub fn tar_gz_layer(work: &Path, seed: u64, payload: usize) -> (Vec<u8>, Digest) {
    let root = work.join(format!("layer-src-{seed}"));
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/hello"), format!("layer {seed}\n")).unwrap();
    std::fs::write(
        root.join("data.bin"),
        zoll_testkit::pseudo_random(seed, payload),
    )
    .unwrap();
    let tar = work.join(format!("layer-{seed}.tar"));
    run(Command::new("tar")
        .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-cf"])
        .arg(&tar)
        .arg("-C")
        .arg(&root)
        .arg("."));
    let diff_id = Digest::sha256(&std::fs::read(&tar).unwrap());
    run(Command::new("gzip").args(["-n", "-f"]).arg(&tar));
    let gz = std::fs::read(work.join(format!("layer-{seed}.tar.gz"))).unwrap();
    (gz, diff_id)
}

/// Writes an OCI image with `layers` tar+gzip layers to `layout` as `tag`; returns the
/// layer blobs in order.
pub fn oci_image(layout: &Layout, tag: &str, layers: usize, payload: usize) -> Vec<Vec<u8>> {
    let work = tempfile::tempdir().unwrap();
    let mut blobs = Vec::new();
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for i in 0..layers {
        let (gz, diff_id) = tar_gz_layer(work.path(), i as u64 + 1, payload);
        let d = layout.write_blob(&gz);
        descs.push(
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                          "digest": d.to_string(), "size": gz.len(),
                          "annotations": {"org.example.layer": format!("{i}")}}),
        );
        diff_ids.push(diff_id.to_string());
        blobs.push(gz);
    }
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let cd = layout.write_blob(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": cd.to_string(), "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let desc = Descriptor {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: Digest::sha256(&manifest),
        size: manifest.len() as u64,
        annotations: Default::default(),
    };
    layout.tag(&desc, &manifest, tag);
    blobs
}

/// The layer blobs of `tag`, in manifest order.
pub fn layer_blobs(layout: &Layout, tag: &str) -> Vec<Vec<u8>> {
    let m = layout.manifest(tag);
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            std::fs::read(layout.blob_path(&l["digest"].as_str().unwrap().parse().unwrap()))
                .unwrap()
        })
        .collect()
}
