//! A real zoll registry (store + axum Router) on an ephemeral loopback port, on whichever
//! backends the test run selected (`ZOLL_TEST_METADATA`, `ZOLL_TEST_BLOBS`).

use std::sync::Arc;

use zoll_registry::{App, AuthSettings, Limits};
use zoll_store::{Store, StoreConfig};

/// The store configuration a test should use for a data directory: SQLite + local disk by
/// default, PostgreSQL and/or S3 when the test run asks for them.
pub fn store_config(dir: &std::path::Path) -> StoreConfig {
    crate::Backends::for_test().store_config(dir)
}

impl crate::Backends {
    /// The store configuration for these backends, with `dir` as the data directory.
    pub fn store_config(&self, dir: &std::path::Path) -> StoreConfig {
        let mut config = StoreConfig::new(dir);
        config.metadata_url = self.metadata_url.clone();
        config.s3 = self.s3.clone().map(|t| zoll_store::S3Config {
            endpoint: Some(t.endpoint),
            bucket: t.bucket,
            region: Some("us-east-1".into()),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            prefix: t.prefix,
            path_style: true,
            allow_http: true,
        });
        config
    }
}

pub struct TestServer {
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub store: Arc<Store>,
    pub app: Arc<App>,
    pub dir: tempfile::TempDir,
    /// With authentication on: the administrator's user name and password.
    pub admin: Option<(String, String)>,
    task: tokio::task::JoinHandle<()>,
    deliveries: tokio::task::JoinHandle<()>,
}

/// The administrator password of test servers with authentication on.
pub const TEST_ADMIN_PASSWORD: &str = "test-admin-password";

impl TestServer {
    /// Authentication off (`serve --no-auth`).
    pub async fn start() -> TestServer {
        TestServer::launch(AuthSettings::disabled()).await
    }

    /// Authentication on, as `zoll serve` runs by default, with the administrator `admin`
    /// (password [`TEST_ADMIN_PASSWORD`]) created as on first start.
    pub async fn start_with_auth() -> TestServer {
        TestServer::launch(AuthSettings::enabled()).await
    }

    /// Authentication on, with the `App` finished by `configure` (e.g. approvals enabled)
    /// before it serves.
    pub async fn start_with_app(configure: impl FnOnce(App) -> Arc<App>) -> TestServer {
        TestServer::launch_with(AuthSettings::enabled(), configure).await
    }

    async fn launch(auth: AuthSettings) -> TestServer {
        TestServer::launch_with(auth, Arc::new).await
    }

    async fn launch_with(
        auth: AuthSettings,
        configure: impl FnOnce(App) -> Arc<App>,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(
            Store::open(store_config(dir.path()))
                .await
                .expect("open store"),
        );
        let admin = if auth.enabled {
            zoll_registry::auth::bootstrap_admin(&store, Some(TEST_ADMIN_PASSWORD))
                .await
                .expect("bootstrap admin");
            Some(("admin".to_owned(), TEST_ADMIN_PASSWORD.to_owned()))
        } else {
            None
        };
        let app = configure(
            App::new(store.clone(), Limits::default(), auth)
                .await
                .expect("registry app"),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let router = zoll_registry::router(app.clone());
        let deliveries = tokio::spawn(zoll_registry::events::run_deliveries(app.clone()));
        let task = tokio::spawn(async move {
            use axum::serve::ListenerExt;
            let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
            // As `zoll_registry::serve` does: no Nagle delay on streamed responses.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, service).await.expect("serve");
        });
        TestServer {
            addr,
            store,
            app,
            dir,
            admin,
            task,
            deliveries,
        }
    }

    /// `127.0.0.1:PORT/<repo_and_tag>`
    pub fn image_ref(&self, repo_and_tag: &str) -> String {
        format!("{}/{repo_and_tag}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
        self.deliveries.abort();
    }
}

/// Debian's `docker-registry` (CNCF distribution 2.8.2, no referrers API) on an ephemeral
/// loopback port with a fresh storage directory: the peer for registries without OCI 1.1.
pub struct DistributionServer {
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub dir: tempfile::TempDir,
    child: std::process::Child,
}

impl DistributionServer {
    pub async fn start() -> DistributionServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}/data\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            dir.path().display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
        let mut child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start docker-registry: {e} (install peers: scripts/install-peers.sh)"
                )
            });
        let addr = format!("127.0.0.1:{port}");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(&addr).await.is_ok() {
                return DistributionServer { addr, dir, child };
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("docker-registry did not listen on {addr} within 10 s");
    }
}

impl Drop for DistributionServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
