//! Admission latency benchmark (bench/admission.sh runs it; never a timed test).
//!
//! Starts a release `zoll serve` (registry, loopback, no auth), pushes three images and
//! signs each as stage `ci`, then two standalone `zoll admission` webhooks over TLS against
//! it: one with the decision cache (default 30 s), one with `--cache-ttl-secs 0` (every
//! review resolves, lists, fetches and verifies the signatures of all three images). A pod
//! with three containers is sent to `POST /admission/validate` sequentially over one kept-
//! alive HTTPS connection; prints p50/p99 per webhook.
//!
//!     cargo run --release -p zoll-admission --example admission_bench -- \
//!         --zoll target/release/zoll [--requests 2000]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use zoll_client::{ClientConfig, ImageRef, Repository};
use zoll_oci::Reference;
use zoll_testkit::{TarEntry, TestImage};
use zoll_trust::image::{self, SignOptions, SignatureFormat};
use zoll_trust::keys::{KeyKind, KeySource, generate_key};

/// Spawns `zoll ARGS --log-format json` and waits for the address it bound.
async fn spawn(zoll: &Path, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(zoll)
        .args(args)
        .args(["--log-format", "json"])
        .env("ZOLL_LOG", "warn,zoll_registry::serve=info,zoll=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("zoll starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(a) = v["fields"]["addr"].as_str()
            {
                return a.to_owned();
            }
        }
        panic!("zoll exited before serving");
    })
    .await
    .expect("zoll serving within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

fn review(i: usize, images: &[String]) -> Vec<u8> {
    let containers: Vec<serde_json::Value> = images
        .iter()
        .enumerate()
        .map(|(n, image)| serde_json::json!({"name": format!("c{n}"), "image": image}))
        .collect();
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": format!("bench-{i}"), "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "bench", "operation": "CREATE",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bench"},
                "spec": {"securityContext": {"runAsNonRoot": true}, "containers": containers}}
        }
    })
    .to_string()
    .into_bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

async fn measure(
    client: &reqwest::Client,
    url: &str,
    images: &[String],
    n: usize,
) -> (f64, f64, f64) {
    for i in 0..20 {
        let r = client
            .post(url)
            .body(review(i, images))
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(v["response"]["allowed"], true, "{v}");
    }
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let body = review(i, images);
        let t = Instant::now();
        let r = client.post(url).body(body).send().await.unwrap();
        let bytes = r.bytes().await.unwrap();
        times.push(t.elapsed());
        assert!(bytes.windows(14).any(|w| w == b"\"allowed\":true"));
    }
    times.sort();
    let mean = times.iter().map(Duration::as_secs_f64).sum::<f64>() / n as f64 * 1e3;
    (percentile(&times, 0.5), percentile(&times, 0.99), mean)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .map(|i| args[i + 1].clone())
    };
    let zoll = PathBuf::from(arg("--zoll").unwrap_or_else(|| "target/release/zoll".into()));
    let n: usize = arg("--requests").map_or(2000, |s| s.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_registry, addr) = spawn(
        &zoll,
        &[
            "serve",
            "--no-auth",
            "--listen",
            "127.0.0.1:0",
            "--data",
            data.to_str().unwrap(),
        ],
    )
    .await;

    let key = generate_key(KeyKind::EcP256).unwrap().key;
    std::fs::write(dir.path().join("ci.pub"), key.public_key().to_pem()).unwrap();
    let mut images = Vec::new();
    for i in 1..=3 {
        let name = format!("prod/app{i}");
        let image: ImageRef = format!("{addr}/{name}").parse().unwrap();
        let repo = Repository::open(&image, &ClientConfig::default()).unwrap();
        let d = TestImage::new()
            .layer(&[TarEntry::file("bin/app", format!("app {i}").into_bytes())])
            .push(&repo, Some("v1"))
            .await;
        let opts = SignOptions {
            key: &key as &dyn KeySource,
            format: SignatureFormat::CosignLegacy,
            chain: Vec::new(),
            expiry: None,
            claims: [("stage".to_owned(), "ci".to_owned())].into(),
            docker_reference: name.clone(),
        };
        image::sign(&repo, Some(&Reference::Digest(d.digest)), &opts)
            .await
            .unwrap();
        images.push(format!("{addr}/{name}:v1"));
    }
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "version = 1\n[identities.ci]\nkeys = [\"ci.pub\"]\n[stages.ci]\nidentities = [\"ci\"]\n\
         [[policy]]\nname = \"prod\"\nrepositories = [\"prod/**\"]\nstages = [\"ci\"]\n\
         [admission]\npod_checks = \"off\"\n",
    )
    .unwrap();
    // A private CA and a serving certificate for 127.0.0.1 (rustls refuses a CA
    // certificate as the server's own).
    let (ca, cert, tls_key) = (
        dir.path().join("ca.pem"),
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
    );
    let openssl = |args: &[&std::ffi::OsStr]| {
        let ok = std::process::Command::new("openssl")
            .args(args)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "openssl {args:?} failed");
    };
    let p = |s: &'static str| std::ffi::OsStr::new(s);
    let ca_key = dir.path().join("ca.key");
    let csr = dir.path().join("cert.csr");
    let ext = dir.path().join("ext.cnf");
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\n",
    )
    .unwrap();
    let ec = [
        p("-newkey"),
        p("ec"),
        p("-pkeyopt"),
        p("ec_paramgen_curve:P-256"),
        p("-nodes"),
    ];
    openssl(
        &[
            &[p("req"), p("-x509")][..],
            &ec,
            &[p("-days"), p("1"), p("-subj"), p("/CN=bench-ca")],
            &[p("-keyout"), ca_key.as_os_str(), p("-out"), ca.as_os_str()],
        ]
        .concat(),
    );
    openssl(
        &[
            &[p("req")][..],
            &ec,
            &[p("-subj"), p("/CN=127.0.0.1")],
            &[
                p("-keyout"),
                tls_key.as_os_str(),
                p("-out"),
                csr.as_os_str(),
            ],
        ]
        .concat(),
    );
    openssl(&[
        p("x509"),
        p("-req"),
        p("-in"),
        csr.as_os_str(),
        p("-CA"),
        ca.as_os_str(),
        p("-CAkey"),
        ca_key.as_os_str(),
        p("-CAcreateserial"),
        p("-days"),
        p("1"),
        p("-extfile"),
        ext.as_os_str(),
        p("-out"),
        cert.as_os_str(),
    ]);
    let root = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();

    println!(
        "admission validate, pod with 3 containers (3 signed images), {n} sequential requests over HTTPS"
    );
    println!(
        "{:<10} {:>9} {:>9} {:>9}",
        "decisions", "p50 ms", "p99 ms", "mean ms"
    );
    for (label, ttl, count) in [("cached", "30", n), ("uncached", "0", n / 4)] {
        let registry = format!("http://{addr}");
        let (_webhook, hook) = spawn(
            &zoll,
            &[
                "admission",
                "--listen",
                "127.0.0.1:0",
                "--registry",
                &registry,
                "--policy",
                policy.to_str().unwrap(),
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                tls_key.to_str().unwrap(),
                "--cache-ttl-secs",
                ttl,
            ],
        )
        .await;
        let url = format!("https://{hook}/admission/validate");
        let (p50, p99, mean) = measure(&client, &url, &images, count).await;
        println!("{label:<10} {p50:>9.2} {p99:>9.2} {mean:>9.2}");
    }
}
