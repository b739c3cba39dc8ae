//! Drives the real axum Router over a real store in a temporary directory, either directly
//! (`call`) or through a TCP listener for external peers (`listen`).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use zoll_oci::Digest;
use zoll_registry::{App, AuthSettings, Limits};
use zoll_store::{Store, StoreConfig};

pub struct TestRegistry {
    pub dir: tempfile::TempDir,
    pub router: axum::Router,
    pub store: Arc<Store>,
    pub config: StoreConfig,
    pub app: Arc<App>,
    limits: Limits,
    auth: AuthSettings,
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// The OCI error code of an error response.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

impl TestRegistry {
    pub async fn new() -> Self {
        Self::with(|_, _| {}).await
    }

    pub async fn with(tune: impl FnOnce(&mut StoreConfig, &mut Limits)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = zoll_testkit::store_config(dir.path());
        let mut limits = Limits::default();
        tune(&mut config, &mut limits);
        Self::open(dir, config, limits, AuthSettings::disabled()).await
    }

    /// With authentication on, as `zoll serve` runs by default, except that token requests
    /// are not rate-limited (every in-process request comes from the same "address").
    pub async fn with_auth() -> Self {
        Self::with_auth_settings(|a| a.token_rate_per_source = 0).await
    }

    /// With authentication on and `tune` applied to its settings.
    pub async fn with_auth_settings(tune: impl FnOnce(&mut AuthSettings)) -> Self {
        Self::with_auth_and(|_, auth| tune(auth)).await
    }

    /// With authentication on, `tune` applied to the store's configuration (its clock, say)
    /// and the authentication settings.
    pub async fn with_auth_and(tune: impl FnOnce(&mut StoreConfig, &mut AuthSettings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = zoll_testkit::store_config(dir.path());
        let mut auth = AuthSettings::enabled();
        tune(&mut config, &mut auth);
        Self::open(dir, config, Limits::default(), auth).await
    }

    /// With the scanner of `App` configured by `settings` (the test drives it with
    /// `zoll_registry::scanner::scan_next`).
    pub async fn with_scanner(settings: zoll_registry::scanner::ScanSettings) -> Self {
        Self::new()
            .await
            .with_app(|app| app.scanner = zoll_registry::scanner::Scanner::new(settings))
    }

    /// With the `App` changed by `tune` (before any request).
    pub fn with_app(mut self, tune: impl FnOnce(&mut App)) -> Self {
        self.router = axum::Router::new(); // drops the router's handle on the app
        let app = Arc::get_mut(&mut self.app).expect("no other handles yet");
        tune(app);
        self.router = zoll_registry::router(self.app.clone());
        self
    }

    /// With webhook settings changed by `tune`.
    pub fn with_hooks(self, tune: impl FnOnce(&mut zoll_registry::HookSettings)) -> Self {
        self.with_app(|app| tune(&mut app.hooks))
    }

    /// With the console's settings changed by `tune`.
    pub fn with_ui(mut self, tune: impl FnOnce(&mut zoll_registry::ui::UiSettings)) -> Self {
        self.router = axum::Router::new(); // drops the router's handle on the app
        let app = Arc::get_mut(&mut self.app).expect("no other handles yet");
        tune(&mut app.ui);
        self.router = zoll_registry::router(self.app.clone());
        self
    }

    /// With `engine` as the trust-policy pull gate.
    pub fn with_pull_gate(self, engine: Arc<zoll_policy::Engine>) -> Self {
        self.with_app(|app| app.pull_gate = Some(engine))
    }

    /// A replica on `backends` (several replicas may share PostgreSQL + S3).
    pub async fn on(backends: &zoll_testkit::Backends) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = backends.store_config(dir.path());
        Self::open(dir, config, Limits::default(), AuthSettings::disabled()).await
    }

    async fn open(
        dir: tempfile::TempDir,
        config: StoreConfig,
        limits: Limits,
        auth: AuthSettings,
    ) -> Self {
        // Server-side errors (500s) are logged, not returned: show them with the test output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn")
            .with_test_writer()
            .try_init();
        let store = Arc::new(Store::open(config.clone()).await.unwrap());
        let mut app = App::new(store.clone(), limits.clone(), auth.clone())
            .await
            .unwrap();
        // Webhook retries within a test's patience.
        app.hooks.retry_base = std::time::Duration::from_millis(100);
        let app = Arc::new(app);
        TestRegistry {
            dir,
            router: zoll_registry::router(app.clone()),
            store,
            config,
            app,
            limits,
            auth,
        }
    }

    /// Closes and reopens the store on the same directory, as a restarted process would.
    pub async fn restart(self) -> Self {
        let TestRegistry {
            dir,
            router,
            store,
            config,
            app,
            limits,
            auth,
        } = self;
        drop(router);
        drop(app);
        store.close().await;
        let store = Arc::try_unwrap(store).ok().expect("no other store handles");
        drop(store);
        Self::open(dir, config, limits, auth).await
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Resp {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, &[], Body::empty()).await
    }

    /// `GET` with Basic credentials.
    pub async fn get_as(&self, path: &str, who: (&str, &str)) -> Resp {
        use base64::Engine;
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", who.0, who.1))
        );
        self.call("GET", path, &[("authorization", &auth)], Body::empty())
            .await
    }

    /// The `/metrics` page, read as `who` (nobody: a registry without authentication).
    pub async fn metrics(&self, who: Option<(&str, &str)>) -> String {
        let r = match who {
            Some(who) => self.get_as("/metrics", who).await,
            None => self.get("/metrics").await,
        };
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        String::from_utf8(r.body.to_vec()).unwrap()
    }

    /// Serves the router on an ephemeral loopback port; returns `127.0.0.1:PORT`.
    pub async fn listen(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, service).await.unwrap()
        });
        addr.to_string()
    }

    /// Monolithic blob upload; returns the digest.
    pub async fn push_blob(&self, repo: &str, content: &[u8]) -> Digest {
        let d = Digest::sha256(content);
        let r = self
            .call(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                &[],
                content.to_vec(),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        d
    }

    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &Value,
    ) -> Resp {
        let bytes = serde_json::to_vec(body).unwrap();
        self.call(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("content-type", media_type)],
            bytes,
        )
        .await
    }

    /// Pushes a config and one layer and an OCI manifest for them under `tag`; returns the
    /// manifest digest and its size.
    pub async fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (Digest, usize) {
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let c = self.push_blob(repo, config).await;
        let l = self.push_blob(repo, layer).await;
        let m = image_manifest(&c, config.len(), &[(&l, layer.len())], None);
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &m).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let bytes = serde_json::to_vec(&m).unwrap();
        (Digest::sha256(&bytes), bytes.len())
    }
}

/// The value of a counter or gauge line `name{labels} value` in a metrics page.
pub fn metric(page: &str, series: &str) -> u64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{page}"))
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub fn image_manifest(
    config: &Digest,
    config_size: usize,
    layers: &[(&Digest, usize)],
    subject: Option<Value>,
) -> Value {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": layers.iter().map(|(d, n)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n
        })).collect::<Vec<_>>(),
    });
    if let Some(s) = subject {
        m["subject"] = s;
    }
    m
}
