//! Direct access to stored blob bytes, on local disk or in S3, for tests that damage them or
//! check what garbage collection left.

use std::collections::BTreeSet;

use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use zoll_oci::Digest;

use crate::harness::TestRegistry;

enum Where {
    Disk(std::path::PathBuf),
    S3(object_store::aws::AmazonS3, String),
}

fn place(reg: &TestRegistry) -> Where {
    match &reg.config.s3 {
        None => Where::Disk(reg.dir.path().to_owned()),
        Some(c) => {
            let s3 = AmazonS3Builder::new()
                .with_endpoint(c.endpoint.clone().unwrap())
                .with_bucket_name(&c.bucket)
                .with_region("us-east-1")
                .with_access_key_id("test")
                .with_secret_access_key("test")
                .with_allow_http(true)
                .build()
                .unwrap();
            Where::S3(s3, c.prefix.clone())
        }
    }
}

fn rel(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}

fn disk_path(root: &std::path::Path, d: &Digest) -> std::path::PathBuf {
    root.join("blobs")
        .join(d.algorithm().as_str())
        .join(&d.hex()[..2])
        .join(d.hex())
}

/// The stored bytes of a blob, if present.
pub async fn read(reg: &TestRegistry, d: &Digest) -> Option<Vec<u8>> {
    match place(reg) {
        Where::Disk(root) => std::fs::read(disk_path(&root, d)).ok(),
        Where::S3(s3, prefix) => match s3.get(&Path::from(format!("{prefix}{}", rel(d)))).await {
            Ok(got) => Some(got.bytes().await.unwrap().to_vec()),
            Err(_) => None,
        },
    }
}

/// Replaces the stored bytes of a blob behind zoll's back.
pub async fn overwrite(reg: &TestRegistry, d: &Digest, bytes: Vec<u8>) {
    match place(reg) {
        Where::Disk(root) => std::fs::write(disk_path(&root, d), bytes).unwrap(),
        Where::S3(s3, prefix) => {
            let key = Path::from(format!("{prefix}{}", rel(d)));
            s3.put(&key, bytes.into()).await.unwrap();
        }
    }
}

/// The bytes scrub moved aside for `d`, if any.
pub async fn quarantined(reg: &TestRegistry, d: &Digest) -> Option<Vec<u8>> {
    let name = format!("quarantine/{}-{}", d.algorithm().as_str(), d.hex());
    match place(reg) {
        Where::Disk(root) => std::fs::read(root.join(name)).ok(),
        Where::S3(s3, prefix) => match s3.get(&Path::from(format!("{prefix}{name}"))).await {
            Ok(got) => Some(got.bytes().await.unwrap().to_vec()),
            Err(_) => None,
        },
    }
}

/// Digests whose bytes are stored.
pub async fn digests(reg: &TestRegistry) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    match place(reg) {
        Where::Disk(root) => {
            for alg in std::fs::read_dir(root.join("blobs")).unwrap() {
                let alg = alg.unwrap();
                for prefix in std::fs::read_dir(alg.path()).unwrap() {
                    for f in std::fs::read_dir(prefix.unwrap().path()).unwrap() {
                        let name = f.unwrap().file_name().into_string().unwrap();
                        out.insert(format!("{}:{name}", alg.file_name().to_string_lossy()));
                    }
                }
            }
        }
        Where::S3(s3, prefix) => {
            let root = Path::from(format!("{prefix}blobs"));
            let metas: Vec<_> = s3.list(Some(&root)).try_collect().await.unwrap();
            for m in metas {
                let parts: Vec<String> =
                    m.location.parts().map(|p| p.as_ref().to_owned()).collect();
                let n = parts.len();
                out.insert(format!("{}:{}", parts[n - 2], parts[n - 1]));
            }
        }
    }
    out
}

/// How many upload sessions have staged bytes (files on disk, chunk prefixes in S3).
pub async fn staged_uploads(reg: &TestRegistry) -> usize {
    match place(reg) {
        Where::Disk(root) => std::fs::read_dir(root.join("uploads")).unwrap().count(),
        Where::S3(s3, prefix) => {
            let root = Path::from(format!("{prefix}uploads"));
            let metas: Vec<_> = s3.list(Some(&root)).try_collect().await.unwrap();
            let sessions: BTreeSet<String> = metas
                .iter()
                .filter_map(|m| {
                    let parts: Vec<String> =
                        m.location.parts().map(|p| p.as_ref().to_owned()).collect();
                    parts.len().checked_sub(2).map(|i| parts[i].clone())
                })
                .collect();
            sessions.len()
        }
    }
}

/// The test registry's metadata database, for tests that change rows behind zoll's back.
pub async fn metadata_db(reg: &TestRegistry) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = match &reg.config.metadata_url {
        Some(u) => u.clone(),
        None => format!("sqlite://{}", reg.dir.path().join("metadata.db").display()),
    };
    sqlx::AnyPool::connect(&url).await.unwrap()
}
