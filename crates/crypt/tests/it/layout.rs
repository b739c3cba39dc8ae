//! A minimal OCI image layout for these tests only (the shared client's layout support will
//! replace it): read manifests and blobs, write blobs, manifests and tags.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use zoll_crypt::image::{Descriptor, ImageSink, ImageSource};
use zoll_crypt::{CryptError, Result};
use zoll_oci::{Digest, Hasher};

#[derive(Debug)]
pub struct Layout {
    pub dir: PathBuf,
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        Layout {
            dir: dir.to_path_buf(),
        }
    }

    fn ensure(&self) -> Result<()> {
        fs::create_dir_all(self.dir.join("blobs/sha256"))?;
        let marker = self.dir.join("oci-layout");
        if !marker.exists() {
            fs::write(marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if !self.dir.join("index.json").exists() {
            fs::write(
                self.dir.join("index.json"),
                br#"{"schemaVersion":2,"manifests":[]}"#,
            )?;
        }
        Ok(())
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    pub fn write_blob(&self, bytes: &[u8]) -> Digest {
        self.ensure().unwrap();
        let d = Digest::sha256(bytes);
        fs::write(self.blob_path(&d), bytes).unwrap();
        d
    }

    pub fn index(&self) -> Value {
        serde_json::from_slice(&fs::read(self.dir.join("index.json")).unwrap()).unwrap()
    }

    /// The descriptor tagged `tag`.
    pub fn resolve(&self, tag: &str) -> Descriptor {
        let index = self.index();
        let m = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"][REF_NAME] == tag)
            .unwrap_or_else(|| panic!("tag {tag} not in {}", self.dir.display()));
        Descriptor {
            media_type: m["mediaType"].as_str().unwrap().to_owned(),
            digest: m["digest"].as_str().unwrap().parse().unwrap(),
            size: m["size"].as_u64().unwrap(),
            annotations: Default::default(),
        }
    }

    pub fn tag(&self, desc: &Descriptor, bytes: &[u8], tag: &str) {
        self.ensure().unwrap();
        fs::write(self.blob_path(&desc.digest), bytes).unwrap();
        let mut index = self.index();
        let list = index["manifests"].as_array_mut().unwrap();
        list.retain(|m| m["annotations"][REF_NAME] != tag);
        list.push(json!({
            "mediaType": desc.media_type,
            "digest": desc.digest.to_string(),
            "size": desc.size,
            "annotations": {REF_NAME: tag},
        }));
        fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }

    /// Stores `manifest` (an OCI image manifest) and points `tag` at it.
    pub fn retag_manifest(&self, manifest: &Value, tag: &str) {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let desc = Descriptor {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: Digest::sha256(&bytes),
            size: bytes.len() as u64,
            annotations: Default::default(),
        };
        self.tag(&desc, &bytes, tag);
    }

    pub fn read_json(&self, digest: &Digest) -> Value {
        serde_json::from_slice(&fs::read(self.blob_path(digest)).unwrap()).unwrap()
    }

    /// The image manifest tagged `tag`.
    pub fn manifest(&self, tag: &str) -> Value {
        self.read_json(&self.resolve(tag).digest)
    }
}

impl ImageSource for Layout {
    fn manifest(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>> {
        let path = self.blob_path(&desc.digest);
        if fs::metadata(&path)?.len() > limit {
            return Err(CryptError::Limit("manifest too large".into()));
        }
        Ok(fs::read(path)?)
    }

    fn blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(fs::File::open(self.blob_path(&desc.digest))?))
    }
}

impl ImageSink for Layout {
    fn staging_dir(&self) -> PathBuf {
        // Next to the layout, so a failed run leaves the layout itself untouched.
        let parent = self.dir.parent().unwrap_or(Path::new(".")).to_path_buf();
        fs::create_dir_all(&parent).unwrap();
        parent
    }

    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        Ok(self.blob_path(&desc.digest).exists())
    }

    fn publish_blob(&self, desc: &Descriptor, staged: tempfile::NamedTempFile) -> Result<()> {
        self.ensure()?;
        staged
            .persist(self.blob_path(&desc.digest))
            .map_err(|e| CryptError::Io(e.error))?;
        Ok(())
    }

    fn copy_blob(&self, desc: &Descriptor, src: &dyn ImageSource) -> Result<()> {
        self.ensure()?;
        let mut input = src.blob(desc)?;
        let mut staged = tempfile::NamedTempFile::new_in(self.dir.join("blobs/sha256"))?;
        let mut hasher = Hasher::new(desc.digest.algorithm());
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = input.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            std::io::Write::write_all(staged.as_file_mut(), &buf[..n])?;
        }
        let actual = hasher.finish();
        if actual != desc.digest {
            return Err(CryptError::DigestMismatch {
                expected: desc.digest.clone(),
                actual,
            });
        }
        staged
            .persist(self.blob_path(&desc.digest))
            .map_err(|e| CryptError::Io(e.error))?;
        Ok(())
    }

    fn put_manifest(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        self.ensure()?;
        let digest = Digest::sha256(bytes);
        fs::write(self.blob_path(&digest), bytes)?;
        Ok(Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size: bytes.len() as u64,
            annotations: Default::default(),
        })
    }
}
