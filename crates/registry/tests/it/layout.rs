//! Builds OCI image layouts on disk for the peers to copy: plain bytes and JSON, no tools.

use std::path::Path;

use serde_json::{Value, json};
use zoll_oci::Digest;

use zoll_testkit::gzip_stored;
pub use zoll_testkit::pseudo_random;

fn write_blob(dir: &Path, content: &[u8]) -> Value {
    let d = Digest::sha256(content);
    let path = dir.join("blobs/sha256").join(d.hex());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    json!({"digest": d, "size": content.len()})
}

fn descriptor(media_type: &str, mut d: Value) -> Value {
    d["mediaType"] = json!(media_type);
    d
}

/// Writes one image (config + `layers`) and returns its manifest descriptor.
fn write_image(dir: &Path, arch: &str, layers: &[Vec<u8>]) -> Value {
    let config =
        json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}});
    let config = write_blob(dir, &serde_json::to_vec(&config).unwrap());
    let layers: Vec<Value> = layers
        .iter()
        .map(|l| {
            descriptor(
                "application/vnd.oci.image.layer.v1.tar+gzip",
                write_blob(dir, &gzip_stored(l)),
            )
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": layers,
    });
    let mut d = descriptor(
        "application/vnd.oci.image.manifest.v1+json",
        write_blob(dir, &serde_json::to_vec(&manifest).unwrap()),
    );
    d["platform"] = json!({"architecture": arch, "os": "linux"});
    d
}

fn write_index(dir: &Path, top: Value, tag: &str) {
    let mut top = top;
    top["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    let index = json!({"schemaVersion": 2, "manifests": [top]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// A single-platform image with several layers, tagged `tag`.
pub fn multi_layer_image(dir: &Path, tag: &str, layer_sizes: &[usize]) {
    let layers: Vec<Vec<u8>> = layer_sizes
        .iter()
        .enumerate()
        .map(|(i, n)| pseudo_random(i as u64 + 1, *n))
        .collect();
    let top = write_image(dir, "amd64", &layers);
    write_index(dir, top, tag);
}

/// A multi-arch image index (amd64 + arm64) tagged `tag`.
pub fn multi_arch_index(dir: &Path, tag: &str) {
    let images: Vec<Value> = ["amd64", "arm64"]
        .iter()
        .enumerate()
        .map(|(i, arch)| {
            write_image(
                dir,
                arch,
                &[
                    pseudo_random(100 + i as u64, 50_000),
                    pseudo_random(7, 1000),
                ],
            )
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": images,
    });
    let top = descriptor(
        "application/vnd.oci.image.index.v1+json",
        write_blob(dir, &serde_json::to_vec(&index).unwrap()),
    );
    write_index(dir, top, tag);
}

/// Every blob of `src` is in `dst` with identical bytes, and both tag the same digest.
pub fn assert_same_layout(src: &Path, dst: &Path) {
    let mut n = 0;
    for entry in std::fs::read_dir(src.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let theirs = std::fs::read(dst.join("blobs/sha256").join(entry.file_name()))
            .unwrap_or_else(|_| panic!("{:?} missing after the round trip", entry.file_name()));
        assert_eq!(
            std::fs::read(entry.path()).unwrap(),
            theirs,
            "{:?}",
            entry.file_name()
        );
        n += 1;
    }
    assert!(n >= 3, "source layout had only {n} blobs");
    let top = |dir: &Path| -> Value {
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        index["manifests"][0]["digest"].clone()
    };
    assert_eq!(top(src), top(dst));
}
