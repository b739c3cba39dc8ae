//! A world for policy tests: a real zoll (TestServer), an image pushed to it, keys on disk,
//! a test CA with a Notation trust store, and signing through `zoll-trust` exactly as
//! `zoll sign` does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use zoll_client::{ClientConfig, ImageRef, Repository};
use zoll_oci::{Descriptor, Digest};
use zoll_policy::scan::BoxFuture;
use zoll_policy::{
    ClientSource, Decision, Engine, Gate, PolicyError, PolicySet, SignatureSource, Target,
};
use zoll_testkit::{TarEntry, TestImage, TestServer};
use zoll_trust::image::{self, SignOptions, SignatureFormat};
use zoll_trust::keys::{
    CertificateProfile, CertificateRequest, FileKey, KeyKind, KeySource, TestCa, generate_key,
};
use zoll_trust::notation::EnvelopeFormat;
use zoll_trust::repository::{BackendError, RepositoryReader};

pub const JWS: SignatureFormat = SignatureFormat::Notation(EnvelopeFormat::Jws);
pub const LEGACY: SignatureFormat = SignatureFormat::CosignLegacy;

/// Repository `app` needs the stage `ci`, signed by `keys/ci.pub`.
pub const CI_POLICY: &str = r#"
version = 1
[identities.ci]
keys = ["keys/ci.pub"]
[stages.ci]
identities = ["ci"]
[[policy]]
name = "p"
repositories = ["app"]
stages = ["ci"]
"#;

pub struct World {
    pub dir: tempfile::TempDir,
    pub server: TestServer,
    pub ca: TestCa,
    pub source: ClientSource,
}

pub use zoll_testkit::{require_peer, softhsm_key};

/// A key with its public half written to `keys/NAME.pub` and, for X.509 signing, a
/// certificate chain from the world's CA.
pub struct Signer {
    pub key: FileKey,
    pub chain: Vec<Vec<u8>>,
}

impl World {
    pub async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::root(KeyKind::EcP384, "C=DE,ST=BE,O=zoll test,CN=root", 30).unwrap();
        let store = dir.path().join("truststore/x509/ca/corp");
        std::fs::create_dir_all(&store).unwrap();
        std::fs::write(
            store.join("root.pem"),
            zoll_trust::keys::certificates_to_pem(&ca.chain()),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        World {
            dir,
            server: TestServer::start().await,
            ca,
            source: ClientSource::new(ClientConfig::default()),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A new P-256 key `keys/NAME.pub`, certified as `C=DE,ST=BE,O=zoll test,OU=OU,CN=NAME`.
    pub fn signer(&self, name: &str, ou: &str) -> Signer {
        let key = generate_key(KeyKind::EcP256).unwrap().key;
        std::fs::write(
            self.path(&format!("keys/{name}.pub")),
            key.public_key().to_pem(),
        )
        .unwrap();
        let req = CertificateRequest::new(
            &format!("C=DE,ST=BE,O=zoll test,OU={ou},CN={name}"),
            CertificateProfile::CodeSigning,
            10,
        );
        let chain = self.ca.issue_chain(key.public_key(), &req).unwrap();
        Signer { key, chain }
    }

    pub fn policy(&self, text: &str) -> PolicySet {
        let path = self.path("policy.toml");
        std::fs::write(&path, text).unwrap();
        PolicySet::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Pushes a small image as `repo:tag`; returns the repository and the manifest.
    pub async fn push(&self, repo: &str, tag: &str) -> (Repository, Descriptor) {
        let image: ImageRef = self
            .server
            .image_ref(&format!("{repo}:{tag}"))
            .parse()
            .unwrap();
        let r = Repository::open(&image, &ClientConfig::default()).unwrap();
        let d = TestImage::new()
            .layer(&[TarEntry::file(
                "etc/id",
                format!("{repo}:{tag}").into_bytes(),
            )])
            .push(&r, Some(tag))
            .await;
        (r, d)
    }

    pub async fn decide(
        &self,
        engine: &Engine,
        gate: Gate,
        repo: &str,
        subject: &Descriptor,
    ) -> Decision {
        engine
            .decide(
                Target {
                    gate,
                    registry: &self.server.addr,
                    repository: repo,
                    subject,
                },
                &self.source,
            )
            .await
            .unwrap()
    }
}

/// Signs `subject` in `repo` with `signer` in `format`, with `claims`.
pub async fn sign(
    repo: &Repository,
    subject: &Descriptor,
    signer: &Signer,
    format: SignatureFormat,
    claims: &[(&str, &str)],
) {
    let opts = SignOptions {
        key: &signer.key as &dyn KeySource,
        format,
        chain: signer.chain.clone(),
        expiry: None,
        claims: claims
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        docker_reference: "test".into(),
    };
    image::sign(
        repo,
        Some(&zoll_oci::Reference::Digest(subject.digest.clone())),
        &opts,
    )
    .await
    .unwrap();
}

/// What a [`Tampered`] repository does when a manifest is read.
#[derive(Debug, Clone, Copy)]
pub enum OnManifest {
    /// Reads it (the source only counts what is read).
    Read,
    /// Waits, then reads it: concurrent questions overlap.
    Wait(std::time::Duration),
    /// Fails as a broken disk or connection would.
    Fail,
}

/// A source whose repositories read as `inner`'s, except manifests, counting the bytes of
/// the manifests and blobs read.
pub struct Tampered {
    inner: ClientSource,
    on_manifest: OnManifest,
    pub bytes_read: Arc<AtomicU64>,
}

impl Tampered {
    pub fn new(inner: ClientSource, on_manifest: OnManifest) -> Tampered {
        Tampered {
            inner,
            on_manifest,
            bytes_read: Arc::default(),
        }
    }
}

impl SignatureSource for Tampered {
    fn open(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Arc<dyn RepositoryReader>, PolicyError> {
        Ok(Arc::new(TamperedRepository {
            inner: self.inner.open(registry, repository)?,
            on_manifest: self.on_manifest,
            bytes_read: self.bytes_read.clone(),
        }))
    }
}

struct TamperedRepository {
    inner: Arc<dyn RepositoryReader>,
    on_manifest: OnManifest,
    bytes_read: Arc<AtomicU64>,
}

impl TamperedRepository {
    fn count<T: AsRef<[u8]>>(&self, read: &Result<Option<T>, BackendError>) {
        if let Ok(Some(bytes)) = read {
            let n = bytes.as_ref().len() as u64;
            self.bytes_read.fetch_add(n, Ordering::SeqCst);
        }
    }
}

impl RepositoryReader for TamperedRepository {
    fn resolve<'a>(
        &'a self,
        reference: &'a zoll_oci::Reference,
    ) -> BoxFuture<'a, Result<Option<Descriptor>, BackendError>> {
        self.inner.resolve(reference)
    }

    fn manifest<'a>(
        &'a self,
        digest: &'a Digest,
        limit: u64,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, BackendError>> {
        Box::pin(async move {
            match self.on_manifest {
                OnManifest::Read => {}
                OnManifest::Wait(d) => tokio::time::sleep(d).await,
                OnManifest::Fail => return Err("input/output error".into()),
            }
            let read = self.inner.manifest(digest, limit).await;
            self.count(&read);
            read
        })
    }

    fn blob<'a>(
        &'a self,
        desc: &'a Descriptor,
        limit: u64,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, BackendError>> {
        Box::pin(async move {
            let read = self.inner.blob(desc, limit).await;
            self.count(&read);
            read
        })
    }

    fn referrers<'a>(
        &'a self,
        subject: &'a Digest,
        artifact_type: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Descriptor>, BackendError>> {
        self.inner.referrers(subject, artifact_type, limit)
    }
}

pub fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A real zoll with the pull gate on: the store and Router exactly as `zoll serve` builds
/// them, with `engine` as the gate; authentication on (administrator `admin`).
pub struct GatedServer {
    pub addr: String,
    pub store: Arc<zoll_store::Store>,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

pub const ADMIN_PASSWORD: &str = "admin-password";

impl GatedServer {
    pub async fn start(set: PolicySet) -> GatedServer {
        Self::start_named(set, "").await
    }

    /// With the gate's registry name (`[policy] registry`) set to `registry`.
    pub async fn start_named(set: PolicySet, registry: &str) -> GatedServer {
        Self::start_engine(Arc::new(Engine::new(set)), registry).await
    }

    /// With `engine` (its own scan gate, say) as the pull gate.
    pub async fn start_engine(engine: Arc<Engine>, registry: &str) -> GatedServer {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            zoll_store::Store::open(zoll_testkit::store_config(dir.path()))
                .await
                .unwrap(),
        );
        zoll_registry::auth::bootstrap_admin(&store, Some(ADMIN_PASSWORD))
            .await
            .unwrap();
        let mut app = zoll_registry::App::new(
            store.clone(),
            zoll_registry::Limits::default(),
            zoll_registry::AuthSettings::enabled(),
        )
        .await
        .unwrap();
        app.pull_gate = Some(engine);
        app.pull_gate_registry = registry.to_owned();
        let router = zoll_registry::router(Arc::new(app));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, service).await.unwrap();
        });
        GatedServer {
            addr,
            store,
            _dir: dir,
            task,
        }
    }

    /// A client of `repo` logged in as `user`.
    pub fn repo(&self, repo: &str, user: &str, password: &str) -> Repository {
        let image: ImageRef = format!("{}/{repo}", self.addr).parse().unwrap();
        let config = ClientConfig {
            credentials: Some(zoll_client::Credentials {
                username: user.into(),
                password: password.into(),
            }),
            ..ClientConfig::default()
        };
        Repository::open(&image, &config).unwrap()
    }
}

impl Drop for GatedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
