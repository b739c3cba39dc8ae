//! Test images: layers made of tar entries, a config, a manifest; pushed to any
//! [`Repository`] (a registry or an OCI layout directory).

use bytes::Bytes;
use serde_json::{Value, json};
use zoll_client::{Layout, Repository};
use zoll_oci::{Descriptor, Digest};

use crate::tar::{TarEntry, gzip_stored, tar};

pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// One layer as stored (possibly compressed) with the digest of its uncompressed tar.
#[derive(Debug, Clone)]
pub struct TestLayer {
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub diff_id: Digest,
}

#[derive(Debug, Clone)]
pub struct TestImage {
    pub layers: Vec<TestLayer>,
    pub config: Value,
    pub annotations: Option<Value>,
}

impl Default for TestImage {
    fn default() -> Self {
        TestImage {
            layers: Vec::new(),
            config: json!({
                "architecture": "amd64",
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            }),
            annotations: None,
        }
    }
}

impl TestImage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a gzip layer holding `entries`.
    pub fn layer(self, entries: &[TarEntry]) -> Self {
        let t = tar(entries);
        let diff_id = Digest::sha256(&t);
        self.raw_layer(LAYER_TAR_GZIP, gzip_stored(&t), diff_id)
    }

    /// Adds an uncompressed tar layer holding `entries`.
    pub fn plain_layer(self, entries: &[TarEntry]) -> Self {
        let t = tar(entries);
        let diff_id = Digest::sha256(&t);
        self.raw_layer(LAYER_TAR, t, diff_id)
    }

    /// Adds a layer of arbitrary bytes (e.g. a hostile archive).
    pub fn raw_layer(mut self, media_type: &str, bytes: Vec<u8>, diff_id: Digest) -> Self {
        self.config["rootfs"]["diff_ids"]
            .as_array_mut()
            .expect("diff_ids array")
            .push(json!(diff_id));
        self.config["history"]
            .as_array_mut()
            .expect("history array")
            .push(json!({"created_by": format!("layer {}", self.layers.len())}));
        self.layers.push(TestLayer {
            media_type: media_type.into(),
            bytes,
            diff_id,
        });
        self
    }

    /// Edits the image config (`User`, `Env`, `Healthcheck`, history, ...).
    pub fn config(mut self, edit: impl FnOnce(&mut Value)) -> Self {
        edit(&mut self.config);
        self
    }

    pub fn platform(self, os: &str, arch: &str) -> Self {
        self.config(|c| {
            c["os"] = json!(os);
            c["architecture"] = json!(arch);
        })
    }

    /// The manifest bytes this image pushes (deterministic).
    pub fn manifest(&self) -> (Bytes, Vec<Descriptor>) {
        let config = Bytes::from(serde_json::to_vec(&self.config).expect("serializable"));
        let mut blobs = vec![zoll_client::descriptor(CONFIG, &config)];
        for l in &self.layers {
            blobs.push(zoll_client::descriptor(&l.media_type, &l.bytes));
        }
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": blobs[0],
            "layers": blobs[1..],
        });
        if let Some(a) = &self.annotations {
            m["annotations"] = a.clone();
        }
        (
            Bytes::from(serde_json::to_vec(&m).expect("serializable")),
            blobs,
        )
    }

    /// Pushes config, layers and manifest; tags it with `tag` if given.
    pub async fn push(&self, repo: &Repository, tag: Option<&str>) -> Descriptor {
        let config = Bytes::from(serde_json::to_vec(&self.config).expect("serializable"));
        repo.push_blob_bytes(CONFIG, config)
            .await
            .expect("push config");
        for l in &self.layers {
            repo.push_blob_bytes(&l.media_type, Bytes::from(l.bytes.clone()))
                .await
                .expect("push layer");
        }
        let (manifest, _) = self.manifest();
        repo.push_manifest(OCI_MANIFEST, manifest, tag)
            .await
            .expect("push manifest")
    }

    /// Writes the image into the OCI layout at `dir` under `tag`.
    pub async fn write_layout(&self, dir: &std::path::Path, tag: &str) -> Descriptor {
        let repo = Repository::Layout(Layout::create(dir).expect("layout"));
        self.push(&repo, Some(tag)).await
    }
}
