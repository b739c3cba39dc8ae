//! A world for admission tests: a real zoll registry (TestServer), images pushed to it and
//! signed by a stage key exactly as `zoll sign --stage` signs, a policy file on disk, and
//! the webhook's real axum Router driven with AdmissionReview bodies.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use serde_json::Value;
use tower::ServiceExt;
use zoll_admission::{Endpoint, Settings, UnknownRegistries, Webhook};
use zoll_client::{ClientConfig, ImageRef, Repository};
use zoll_oci::{Descriptor, Reference};
use zoll_policy::{Engine, PolicySet};
use zoll_testkit::{TarEntry, TestImage, TestServer};
use zoll_trust::image::{self, SignOptions, SignatureFormat};
use zoll_trust::keys::{FileKey, KeyKind, KeySource, generate_key};

/// Images under `prod/` need a signature of stage `ci`; the rest of the registry is
/// admitted by default. `kube-system` skips every check, `legacy-*` the image policy.
pub const POLICY: &str = r#"
version = 1
[default]
admission = "allow"
[identities.ci]
keys = ["keys/ci.pub"]
[stages.ci]
identities = ["ci"]
[[policy]]
name = "production"
repositories = ["prod/**"]
gates = ["admission"]
stages = ["ci"]
[admission]
allowed_capabilities = ["NET_BIND_SERVICE"]
[[admission.exemption]]
namespaces = ["kube-system"]
skip = ["all"]
[[admission.exemption]]
namespaces = ["legacy-*"]
skip = ["image-policy"]
[[admission.exemption]]
namespaces = ["monitoring"]
skip = ["host-path", "host-namespaces"]
"#;

pub struct World {
    pub dir: tempfile::TempDir,
    pub server: TestServer,
    pub ci: FileKey,
    pub webhook: Webhook,
    pub router: axum::Router,
}

impl World {
    pub async fn new() -> World {
        World::with(UnknownRegistries::Deny).await
    }

    pub async fn with(unknown: UnknownRegistries) -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        let ci = generate_key(KeyKind::EcP256).unwrap().key;
        std::fs::write(dir.path().join("keys/ci.pub"), ci.public_key().to_pem()).unwrap();
        std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
        let set = PolicySet::load(&dir.path().join("policy.toml")).unwrap();
        let server = TestServer::start().await;
        let endpoint =
            Endpoint::new(&format!("http://{}", server.addr), ClientConfig::default()).unwrap();
        let engine = Arc::new(Engine::new(set));
        let settings = Settings::new(vec![server.addr.clone()], unknown);
        let webhook = Webhook::new(engine, Arc::new(endpoint), settings);
        let router = zoll_admission::router(webhook.clone());
        World {
            dir,
            server,
            ci,
            webhook,
            router,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn repo(&self, repo: &str) -> Repository {
        let image: ImageRef = format!("{}/{repo}", self.server.addr).parse().unwrap();
        Repository::open(&image, &ClientConfig::default()).unwrap()
    }

    /// Pushes a small image as `repo:tag`.
    pub async fn push(&self, repo: &str, tag: &str) -> Descriptor {
        TestImage::new()
            .layer(&[TarEntry::file(
                "etc/id",
                format!("{repo}:{tag}").into_bytes(),
            )])
            .push(&self.repo(repo), Some(tag))
            .await
    }

    /// Signs `subject` in `repo` with `key`, claiming `stage`.
    pub async fn sign_with(&self, repo: &str, subject: &Descriptor, key: &FileKey, stage: &str) {
        let opts = SignOptions {
            key: key as &dyn KeySource,
            format: SignatureFormat::CosignLegacy,
            chain: Vec::new(),
            expiry: None,
            claims: [("stage".to_owned(), stage.to_owned())].into(),
            docker_reference: repo.into(),
        };
        image::sign(
            &self.repo(repo),
            Some(&Reference::Digest(subject.digest.clone())),
            &opts,
        )
        .await
        .unwrap();
    }

    /// Pushes `repo:tag` and signs it as stage `ci`.
    pub async fn push_signed(&self, repo: &str, tag: &str) -> Descriptor {
        let d = self.push(repo, tag).await;
        self.sign_with(repo, &d, &self.ci, "ci").await;
        d
    }

    /// `host:port/repo:tag`
    pub fn image(&self, repo_and_tag: &str) -> String {
        format!("{}/{repo_and_tag}", self.server.addr)
    }

    /// Posts `body` to `path` on the webhook's Router.
    pub async fn post(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        post(&self.router, path, body).await
    }

    pub async fn validate(&self, review: &Value) -> Reviewed {
        Reviewed::of(
            self.post("/admission/validate", review.to_string().into_bytes())
                .await,
        )
    }

    pub async fn mutate(&self, review: &Value) -> Reviewed {
        Reviewed::of(
            self.post("/admission/mutate", review.to_string().into_bytes())
                .await,
        )
    }
}

pub async fn post(router: &axum::Router, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let req = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{status}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, value)
}

/// A fixture from `tests/fixtures/NAME.json` with `{UID}`, `{APP}`, `{INIT}`, `{DEBUG}`
/// replaced.
pub fn fixture(name: &str, uid: &str, images: [&str; 3]) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let text = text
        .replace("{UID}", uid)
        .replace("{APP}", images[0])
        .replace("{INIT}", images[1])
        .replace("{DEBUG}", images[2]);
    serde_json::from_str(&text).unwrap()
}

/// A review's response, checked to be a well-formed AdmissionReview.
#[derive(Debug)]
pub struct Reviewed {
    pub uid: String,
    pub allowed: bool,
    pub code: Option<u64>,
    pub message: String,
    pub warnings: Vec<String>,
    /// The decoded JSONPatch.
    pub patch: Option<Value>,
}

impl Reviewed {
    pub fn of((status, v): (StatusCode, Value)) -> Reviewed {
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1", "{v}");
        assert_eq!(v["kind"], "AdmissionReview", "{v}");
        let r = &v["response"];
        let patch = r["patch"].as_str().map(|p| {
            assert_eq!(r["patchType"], "JSONPatch", "{v}");
            let bytes = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
            serde_json::from_slice(&bytes).unwrap()
        });
        Reviewed {
            uid: r["uid"].as_str().unwrap().to_owned(),
            allowed: r["allowed"].as_bool().unwrap(),
            code: r["status"]["code"].as_u64(),
            message: r["status"]["message"].as_str().unwrap_or("").to_owned(),
            warnings: r["warnings"]
                .as_array()
                .map(|w| w.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default(),
            patch,
        }
    }
}
