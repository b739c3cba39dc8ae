//! `zoll encrypt` / `zoll decrypt` as commands: skopeo (containers/ocicrypt) decrypts what
//! the command encrypts and the command decrypts what skopeo encrypts; bad input is one line
//! on stderr, exit status 1, and no destination.

use std::path::Path;
use std::process::Command;

use zoll_testkit::{TarEntry, TestImage};

use crate::process::ec_key_pair;

fn run(cmd: &mut Command) -> std::process::Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (run scripts/install-peers.sh)"))
}

fn ok(cmd: &mut Command) {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn zoll() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zoll"))
}

fn layer_digests(dir: &Path) -> Vec<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let m = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .replace("sha256:", "");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("blobs/sha256").join(m)).unwrap()).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn encrypt_and_decrypt_commands_interoperate_with_skopeo() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let image = TestImage::new()
        .layer(&[TarEntry::file("etc/base", "base layer")])
        .layer(&[TarEntry::file("app/secret", "the secret")]);
    image.write_layout(&d.join("plain"), "v1").await;
    ec_key_pair(d, "k");
    ec_key_pair(d, "wrong");
    let oci = |name: &str| format!("oci:{}:v1", d.join(name).display());
    let plain = layer_digests(&d.join("plain"));

    ok(zoll()
        .args(["encrypt", &oci("plain"), &oci("enc"), "--layer", "-1"])
        .arg(format!("--recipient=jwe:{}", d.join("k.pub").display())));
    ok(Command::new("skopeo")
        .args(["copy", "--quiet", "--decryption-key"])
        .arg(d.join("k.pem"))
        .args([oci("enc"), oci("sk-dec")]));
    assert_eq!(layer_digests(&d.join("sk-dec")), plain);
    let enc = layer_digests(&d.join("enc"));
    assert_eq!(enc[0], plain[0], "--layer -1 leaves the base layer plain");
    assert_ne!(enc[1], plain[1]);

    ok(Command::new("skopeo")
        .args(["copy", "--quiet", "--encryption-key"])
        .arg(format!("jwe:{}", d.join("k.pub").display()))
        .args([oci("plain"), oci("sk-enc")]));
    ok(zoll()
        .args(["decrypt", &oci("sk-enc"), &oci("dec"), "--key"])
        .arg(d.join("k.pem")));
    assert_eq!(layer_digests(&d.join("dec")), plain);

    let out = run(zoll()
        .args(["decrypt", &oci("sk-enc"), &oci("bad"), "--key"])
        .arg(d.join("wrong.pem")));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("zoll: none of the given keys can decrypt layer"),
        "{stderr}"
    );
    assert!(!d.join("bad").exists());

    let out = run(zoll().args([
        "encrypt",
        &oci("plain"),
        &oci("bad"),
        "--recipient",
        "jwe:/no/such.pem",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such.pem"));
    assert!(!d.join("bad").exists());
}

/// A PKCS#11 key file's `module.env` (here `SOFTHSM2_CONF`, which the command's own
/// environment lacks) is applied by the binary before any thread starts — it runs itself
/// again with the variables set — instead of by `set_var` while a runtime runs.
#[test]
fn a_key_file_module_environment_is_applied_at_start() {
    let token = zoll_testkit::softhsm_token();
    let conf = token.join("softhsm2.conf");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(
        TestImage::new()
            .layer(&[TarEntry::file("app/secret", "the secret")])
            .write_layout(&d.join("plain"), "v1"),
    );
    let key_file = d.join("key.yaml");
    let uri = zoll_testkit::softhsm_key("rsa2048");
    std::fs::write(
        &key_file,
        format!(
            "pkcs11:\n  uri: {uri}\nmodule:\n  env:\n    SOFTHSM2_CONF: {}\n",
            conf.display()
        ),
    )
    .unwrap();
    let oci = |name: &str| format!("oci:{}:v1", d.join(name).display());
    let public = uri.replace("object=rsa2048", "object=rsa2048;type=public");
    // Encrypting with the environment set (inherited from this test process)...
    ok(zoll()
        .args(["encrypt", &oci("plain"), &oci("enc")])
        .args(["--recipient", &public])
        .args(["--pkcs11-oaep-hash", "sha1"]));
    // ... and decrypting without it: the key file's module.env supplies it.
    let out = run(zoll()
        .env_remove("SOFTHSM2_CONF")
        .env_remove("ZOLL_PKCS11_MODULE_ENV_APPLIED")
        .args(["decrypt", &oci("enc"), &oci("dec"), "--key"])
        .arg(format!("pkcs11:{}", key_file.display())));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        layer_digests(&d.join("dec")),
        layer_digests(&d.join("plain"))
    );
}
