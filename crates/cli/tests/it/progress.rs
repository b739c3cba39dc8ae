//! Progress bars (issue 16): `scan` (of a layout and of a registry image, whose layers it
//! downloads), `encrypt` and `decrypt` draw bytes, rate and ETA on a
//! terminal (a pseudo-terminal from util-linux `script`), and nothing into a pipe or with
//! `--quiet`. (`backup` and `restore` draw theirs in `gov.rs`'s backup test.)

use std::process::{Command, Stdio};

use zoll_testkit::{TarEntry, TestImage, TestServer};

use crate::connect::on_terminal;
use crate::process::ec_key_pair;

/// What the terminal showed while `cmd` ran on it.
pub fn screen(cmd: &Command) -> String {
    let out = on_terminal(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{cmd:?}: {shown}");
    shown
}

/// What `cmd` wrote to its standard error, a pipe.
fn piped(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{cmd:?}: {err}");
    err
}

/// A bar as the template draws it: the label, then bytes, rate and ETA.
pub fn has_bar(shown: &str, label: &str) -> bool {
    shown.contains(&format!("{label} [")) && shown.contains("B/s") && shown.contains("ETA")
}

#[tokio::test]
async fn bars_are_drawn_on_a_terminal_not_in_a_pipe_nor_when_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Bytes that do not compress to nothing, so the layer has some size.
    let noise: Vec<u8> = (0u32..(256 << 10))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let image = TestImage::new().layer(&[TarEntry::file("data/noise", noise)]);
    image.write_layout(&d.join("plain"), "v1").await;
    // The same image in a registry, for the scan that downloads its layers.
    let server = TestServer::start().await;
    let pushed = server.image_ref("team/app:v1");
    let repo = zoll_client::Repository::open(&pushed.parse().unwrap(), &Default::default());
    image.push(&repo.unwrap(), Some("v1")).await;
    let (key, public) = ec_key_pair(d, "k");
    let (key, public) = (key.to_str().unwrap(), public.to_str().unwrap());
    let oci = |name: &str| format!("oci:{}:v1", d.join(name).display());
    let recipient = format!("jwe:{public}");
    // Each command with `extra` arguments, writing to its own destination `n`.
    let commands = |n: &str, extra: &[&str]| {
        let zoll = || Command::new(env!("CARGO_BIN_EXE_zoll"));
        let mut scan = zoll();
        scan.args(["scan", &oci("plain"), "--skip-db"]).args(extra);
        let mut download = zoll();
        download.args(["scan", &pushed, "--skip-db"]).args(extra);
        let mut encrypt = zoll();
        encrypt
            .args(["encrypt", &oci("plain"), &oci(&format!("enc{n}"))])
            .args(["--recipient", &recipient])
            .args(extra);
        let mut decrypt = zoll();
        decrypt
            .args(["decrypt", &oci("enc"), &oci(&format!("dec{n}"))])
            .args(["--key", key])
            .args(extra);
        [
            ("scan", scan),
            ("scan", download),
            ("encrypt", encrypt),
            ("decrypt", decrypt),
        ]
    };
    let mut json = Command::new(env!("CARGO_BIN_EXE_zoll"));
    json.args(["scan", &pushed, "--skip-db", "--format", "json"]);
    let on_terminal = commands("", &[]);
    let into_pipe = commands("-piped", &[]);
    let quiet = commands("-quiet", &["--quiet"]);
    // The commands run as other processes; blocking on a worker thread lets this runtime
    // serve the registry meanwhile.
    tokio::task::spawn_blocking(move || {
        for (label, cmd) in on_terminal {
            let shown = screen(&cmd);
            assert!(has_bar(&shown, label), "{label} on a terminal: {shown}");
        }
        for (label, mut cmd) in into_pipe {
            let err = piped(&mut cmd);
            assert!(!err.contains("ETA"), "{label} into a pipe: {err}");
        }
        for (label, cmd) in quiet {
            let shown = screen(&cmd);
            assert!(!shown.contains("ETA"), "{label} --quiet: {shown}");
        }
        // A JSON report on standard output: no bar either.
        let shown = screen(&json);
        assert!(!shown.contains("ETA"), "scan --format json: {shown}");
    })
    .await
    .unwrap();
}
