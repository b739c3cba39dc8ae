//! Starts the real `zoll` binary and finds the address it bound from its JSON log.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use zoll_testkit::Backends;

pub struct Zoll {
    pub child: Child,
    pub base: String,
    /// The last lines the server logged, for failure messages.
    pub log_tail: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
}

/// Lines of server log kept for failure messages.
const LOG_TAIL: usize = 40;

pub fn command(data: &Path, extra: &[&str]) -> Command {
    let mut cmd = command_with_auth(data, extra);
    cmd.arg("--no-auth");
    cmd
}

/// `zoll serve` as [`command`] starts it, but with authentication on (the default).
pub fn command_with_auth(data: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zoll"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--data",
    ])
    .arg(data)
    .args(extra)
    .env_remove("ZOLL_LOG")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    cmd
}

impl Zoll {
    /// Starts on `data` and the backends the suite runs against (see
    /// `zoll_testkit::Backends`). The same arguments again reopen the same data.
    pub async fn start(data: &Path, backends: &Backends) -> Zoll {
        let mut cmd = command(data, &[]);
        cmd.envs(backends.env());
        Zoll::spawn(cmd, "http").await
    }

    pub async fn spawn(mut cmd: Command, scheme: &str) -> Zoll {
        let mut child = cmd.spawn().expect("zoll binary starts");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        // The start-up lines stay in the tail too (warnings at start are tested).
        let log_tail =
            std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let v: serde_json::Value = match serde_json::from_str(&line) {
                    Ok(v) => v,
                    Err(_) => panic!("non-JSON log line: {line}"),
                };
                if let Some(addr) = v["fields"]["addr"].as_str() {
                    return addr.to_owned();
                }
                let mut t = log_tail.lock().unwrap();
                if t.len() == LOG_TAIL {
                    t.pop_front();
                }
                t.push_back(line);
            }
            panic!("zoll exited before it was serving");
        })
        .await
        .expect("zoll serving within 30 s");
        // Keep draining the log so the server never blocks on a full pipe; the tail stays
        // for failure messages.
        let tail = log_tail.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut t = tail.lock().unwrap();
                if t.len() == LOG_TAIL {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        Zoll {
            child,
            base: format!("{scheme}://{addr}"),
            log_tail,
        }
    }

    /// Waits until the server logged a line containing `needle` (at most 30 s): the
    /// signal that a background task (a policy reload, say) has run, instead of a sleep
    /// that hopes it did.
    pub async fn wait_for_log(&self, needle: &str) {
        self.wait_for_line(&[needle]).await
    }

    /// Waits until one logged line contains every one of `needles` (at most 30 s).
    pub async fn wait_for_line(&self, needles: &[&str]) {
        let start = std::time::Instant::now();
        loop {
            let seen = self
                .log_tail
                .lock()
                .unwrap()
                .iter()
                .any(|l| needles.iter().all(|n| l.contains(n)));
            if seen {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the server never logged a line with {needles:?}; last lines: {:?}",
                self.log_tail.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Peak resident set size (VmHWM) of the server process, in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    /// Current resident set size (VmRSS) of the server process, in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    pub async fn kill9(mut self) {
        self.child.kill().await.unwrap();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(8)
        .build()
        .unwrap()
}
