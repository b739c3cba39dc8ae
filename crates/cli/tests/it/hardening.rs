//! Attacks on the running binary from outside: floods of wrong logins, silent and
//! half-sent connections under a descriptor limit. Each test fails on a server without the
//! defence it names.

use std::time::Duration;

use base64::Engine;

use crate::server::{Zoll, command_with_auth};

const ADMIN_PASSWORD: &str = "the-right-password";

fn basic(user: &str, pass: &str) -> String {
    let raw = format!("{user}:{pass}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// 200 concurrent wrong logins (throttling off, so that every one asks for a password
/// check): the server's peak RSS stays under 256 MiB and falls back under 128 MiB, and a
/// right login still works afterwards. Without bounded hashing each attempt allocated
/// 19 MiB on its own thread (11 GiB for 200), and the allocator kept it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_login_flood_keeps_memory_bounded() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = command_with_auth(data.path(), &[]);
    cmd.env("ZOLL_AUTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("ZOLL_AUTH_FAILED_LOGINS_PER_SOURCE", "0")
        .env("ZOLL_AUTH_FAILED_LOGINS_PER_ACCOUNT", "0");
    let zoll = Zoll::spawn(cmd, "http").await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let url = format!("{}/v2/", zoll.base);
    let attempts = (0..200).map(|i| {
        let http = http.clone();
        let url = url.clone();
        tokio::spawn(async move {
            http.get(&url)
                .header("authorization", basic("admin", &format!("wrong-{i}")))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let mut unauthorized = 0;
    for s in statuses {
        match s.unwrap().expect("answered") {
            401 => unauthorized += 1,
            429 => {} // too many checks waiting: refused without hashing
            other => panic!("a wrong login answered {other}"),
        }
    }
    assert!(unauthorized >= 2, "some wrong logins were checked");
    let peak = zoll.peak_rss();
    eprintln!(
        "200 concurrent wrong logins: {unauthorized} checked, peak RSS {} MiB",
        peak >> 20
    );
    assert!(peak < 256 << 20, "peak RSS {} MiB", peak >> 20);
    // The memory comes back (allow the runtime a moment to settle).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while zoll.rss() >= 128 << 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "RSS stayed at {} MiB after the flood",
            zoll.rss() >> 20
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ok = http
        .get(&url)
        .header("authorization", basic("admin", ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// `zoll serve` (authentication off) with the open-file limit set to `nofile`, as a
/// container or systemd unit would set it.
fn serve_with_nofile(data: &std::path::Path, nofile: u32) -> tokio::process::Command {
    let inner = crate::server::command(data, &[]);
    let std = inner.as_std();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
        .arg(std.get_program())
        .args(std.get_args())
        .env_remove("ZOLL_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Reads from `s` until the server closes it; the time that took.
async fn closed_after(mut s: tokio::net::TcpStream, limit: Duration) -> Option<Duration> {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + limit),
            s.read(&mut buf),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {} // a response (e.g. 408) before the close
        }
    }
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Finding 2: under a 256-descriptor limit, 240 silent or half-sent connections neither
/// stop the server nor keep a real request out, and every one of them is closed within
/// the header timeout. (Before: nothing closed them, and the server stopped accepting.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_and_never_starve_a_request() {
    use tokio::io::AsyncWriteExt;
    let data = tempfile::tempdir().unwrap();
    let mut cmd = serve_with_nofile(data.path(), 256);
    cmd.env("ZOLL_SERVER_HEADER_TIMEOUT_SECS", "3");
    let zoll = Zoll::spawn(cmd, "http").await;
    let addr = zoll.base.trim_start_matches("http://").to_owned();
    let mut silent = Vec::new();
    for i in 0..240 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 1 {
            // Half a request head, never finished.
            s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .await
                .unwrap();
        }
        silent.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fds = open_descriptors(zoll.pid());
    assert!(fds < 256, "{fds} descriptors open");
    // A real request is served while they are all still open.
    let http = reqwest::Client::new();
    let r = tokio::time::timeout(
        Duration::from_secs(2),
        http.get(format!("{}/v2/", zoll.base)).send(),
    )
    .await
    .expect("served within 2 s")
    .unwrap();
    assert_eq!(r.status(), 200);
    // Every silent connection ends within the header timeout (3 s, measured from when the
    // last of them was opened, plus slack for a loaded machine).
    let closes = silent
        .into_iter()
        .map(|s| closed_after(s, Duration::from_secs(8)));
    let closed = futures_util::future::join_all(closes).await;
    let open = closed.iter().filter(|c| c.is_none()).count();
    assert_eq!(
        open, 0,
        "{open} of 240 silent connections were never closed"
    );
    // And the server still answers.
    let r = http.get(format!("{}/v2/", zoll.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let metrics = http
        .get(format!("{}/metrics", zoll.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("zoll_http_connections_shed_total"),
        "{metrics}"
    );
}

/// Finding 2: a keep-alive connection with no request in flight is closed after the
/// keep-alive timeout; a request that is being served is not cut off by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keepalive_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let data = tempfile::tempdir().unwrap();
    let mut cmd = crate::server::command(data.path(), &[]);
    cmd.env("ZOLL_SERVER_KEEPALIVE_TIMEOUT_SECS", "2");
    let zoll = Zoll::spawn(cmd, "http").await;
    let addr = zoll.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = std::time::Instant::now();
    let waited = closed_after(s, Duration::from_secs(10))
        .await
        .expect("the idle connection was closed");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "closed too early: {:?}",
        waited
    );
}

/// Review finding: an HTTP/2 response stalled by flow control (the client never opens its
/// window) never blocks a socket write, so it held its connection busy forever; connections
/// full of such responses shut every real client out. Now a response the server cannot send
/// for the send timeout ends its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_stalled_by_http2_flow_control_end() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = crate::server::command(data.path(), &[]);
    cmd.env("ZOLL_SERVER_SEND_TIMEOUT_SECS", "2")
        .env("ZOLL_SERVER_MAX_CONNECTIONS", "3");
    let zoll = Zoll::spawn(cmd, "http").await;
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let h2 = reqwest::Client::builder()
            .http2_prior_knowledge()
            .http2_initial_stream_window_size(0)
            .build()
            .unwrap();
        let r = h2
            .get(format!("{}/v2/", zoll.base))
            .send()
            .await
            .expect("headers arrive; the body cannot");
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        stalled.push((h2, r));
    }
    // Every slot is busy: a new connection is turned away...
    let plain = || reqwest::Client::builder().http1_only().build().unwrap();
    let refused = plain()
        .get(format!("{}/v2/", zoll.base))
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert!(matches!(refused, Ok(503) | Err(_)), "{refused:?}");
    // ... until the stalled responses time out and their connections close.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = plain().get(format!("{}/v2/", zoll.base)).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stalled HTTP/2 responses kept every connection busy"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (_, r) in stalled {
        assert!(
            r.bytes().await.is_err(),
            "a stalled response was ended, not completed"
        );
    }
}

/// A management-API server that answers with more than anyone needs (a hostile or broken
/// `--registry`): the CLI reads at most its bound, then fails with one line, instead of
/// buffering whatever the server sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reads_a_bounded_response_from_the_management_api() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let _ = sock.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                            Transfer-Encoding: chunked\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                // 80 MiB of JSON whitespace, over the CLI's 64 MiB bound (a client without
                // a bound reads it all and succeeds).
                let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, " ".repeat(1 << 20));
                for _ in 0..80 {
                    if sock.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
                let _ = sock.write_all(b"4\r\nnull\r\n0\r\n\r\n").await;
            });
        }
    });
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
            .args(["project", "list", "--registry", &format!("http://{addr}")])
            .args(["--user", "admin"])
            .env("ZOLL_PASSWORD", "whatever")
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .expect("the CLI stopped reading within 2 minutes")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("larger than the limit"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}
