//! Staged and quorum signing as a user runs them against a real `zoll serve` whose quorum
//! keys come from `ZOLL_APPROVALS_KEYS`: `zoll policy explain` names the missing stages,
//! `zoll sign --stage ci` adds one, `zoll sign --remote` asks the server's 2-of-3 key,
//! `zoll approvals list|show` show what waits and what would be signed, `zoll approve`
//! twice (a non-approver refused) signs after the timelock, and the policy then allows the
//! image; `zoll reject` ends requests with an approver's key or a reason. Errors are one line
//! with a non-zero exit.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use zoll_testkit::{Backends, TarEntry, TestImage};

use crate::server::{Zoll, command};
use crate::trust::ok;

const POLICY: &str = r#"version = 1
[identities.ci]
keys = ["ci.pub"]
[identities.release]
keys = ["release.pub"]
[stages.ci]
identities = ["ci"]
[stages.release]
identities = ["release"]
[[policy]]
name = "production"
repositories = ["prod/**"]
stages = ["ci", "release"]
"#;

const APPROVALS: &str = r#"version = 1
[[key]]
name = "prod-release"
key = "release.key"
format = "cosign-legacy"
quorum = 2
timelock_secs = 5
expiry_secs = 120
repositories = ["prod/**"]
approvers = [
  { name = "alice", key = "alice.pub" },
  { name = "bob", key = "bob.pub" },
  { name = "carol", key = "carol.pub" },
]
"#;

fn zoll(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zoll"))
        .current_dir(dir)
        .args(args)
        .env("ZOLL_PASSWORD", "unused-without-auth")
        .output()
        .expect("run zoll")
}

/// `zoll approve ID --key alice.key` on a pseudo-terminal (util-linux `script`), answering
/// `answer` to its question: (success, everything the terminal showed).
fn at_terminal(dir: &Path, id: &str, registry: &str, answer: &str) -> (bool, String) {
    let command = format!(
        "{} approve {id} --key alice.key --registry {registry}",
        env!("CARGO_BIN_EXE_zoll")
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .current_dir(dir)
        .env("ZOLL_PASSWORD", "unused-without-auth")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        format!("{answer}\n").as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Fails with one line on standard error; returns (stdout, stderr).
fn fails(out: &Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "expected failure: {stdout}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    (stdout, err)
}

fn flow(dir: &Path, base: &str, image: &str) {
    let d = |args: &[&str]| zoll(dir, args);
    let remote = ["--registry", base];
    let explain = || d(&["policy", "explain", image, "--policy", "policy.toml"]);

    // Nothing signed: both stages missing.
    let (out, err) = fails(&explain());
    assert!(out.starts_with("DENIED"), "{out}");
    assert!(
        out.contains("FAIL [production] stage 'ci' has not signed"),
        "{out}"
    );
    assert!(out.contains("stage 'release' has not signed"), "{out}");
    assert!(err.starts_with("zoll: denied: stage 'ci'"), "{err}");

    // CI signs its stage; --stage and a disagreeing --claim stage= are refused.
    let (_, err) = fails(&d(&[
        "sign",
        image,
        "--key",
        "ci.key",
        "--stage",
        "ci",
        "--claim",
        "stage=release",
    ]));
    assert!(err.contains("disagree"), "{err}");
    ok(&d(&[
        "sign",
        image,
        "--key",
        "ci.key",
        "--format",
        "cosign-legacy",
        "--stage",
        "ci",
    ]));
    let (out, _) = fails(&explain());
    assert!(
        out.contains("PASS [production] stage 'ci' signed by"),
        "{out}"
    );

    // The release stage needs the server's quorum key.
    let id = ok(&d(&[
        "sign",
        "--remote",
        "--key",
        "prod-release",
        "--stage",
        "release",
        image,
    ]))
    .trim()
    .to_owned();
    assert_eq!(id.len(), 32, "{id}");
    let list = ok(&d(&[&["approvals", "list"][..], &remote].concat()));
    assert!(list.contains(&id) && list.contains("pending"), "{list}");
    assert!(
        list.contains("0/2") && list.contains("stage release"),
        "{list}"
    );
    let show = ok(&d(&[&["approvals", "show", &id][..], &remote].concat()));
    for want in [
        "prod/app@sha256:",
        "claims     stage=release",
        "quorum     2 of alice, bob, carol",
        r#""type":"zoll.approval-request.v1""#,
        &format!(r#""id":"{id}""#),
    ] {
        assert!(show.contains(want), "{want}: {show}");
    }

    // Without --yes and without a terminal, nobody confirmed: nothing is approved.
    let (_, err) = fails(&d(
        &[&["approve", &id, "--key", "alice.key"][..], &remote].concat()
    ));
    assert!(err.contains("no terminal to confirm on"), "{err}");
    // At a terminal the request is shown and only a yes approves it.
    let (said_no, screen) = at_terminal(dir, &id, base, "n");
    assert!(!said_no && screen.contains("prod/app@sha256:"), "{screen}");
    assert!(screen.contains("not approved"), "{screen}");
    let list = ok(&d(&[&["approvals", "list"][..], &remote].concat()));
    assert!(list.contains("0/2"), "{list}");
    let (said_yes, screen) = at_terminal(dir, &id, base, "y");
    assert!(said_yes && screen.contains("approve request"), "{screen}");
    assert!(screen.contains("state      pending"), "{screen}");
    let list = ok(&d(&[&["approvals", "list"][..], &remote].concat()));
    assert!(list.contains("1/2"), "{list}");
    let out = ok(&d(&[&["approvals", "show", &id][..], &remote].concat()));
    assert!(out.contains("state      pending"), "{out}");
    let (_, err) = fails(&d(&[
        &["approve", "--yes", &id, "--key", "mallory.key"][..],
        &remote,
    ]
    .concat()));
    assert!(
        err.contains("403") && err.contains("not an approver"),
        "{err}"
    );
    let (_, err) = fails(&d(&[
        &["approve", "--yes", &id, "--key", "alice.key"][..],
        &remote,
    ]
    .concat()));
    assert!(
        err.contains("409") && err.contains("already voted"),
        "{err}"
    );
    let out = ok(&d(&[
        &["approve", "--yes", &id, "--key", "bob.key"][..],
        &remote,
    ]
    .concat()));
    // The timelock (5 s from the request) has usually not passed at this vote: the request
    // waits approved and the policy does not count it. On a slow machine the vote can find
    // it passed and the server signs at once. Each outcome is asserted, none skipped: a
    // policy that counts the stage must find a signed request behind it.
    assert!(
        out.contains("state      approved") || out.contains("state      signed"),
        "{out}"
    );
    let explained = explain();
    let text = String::from_utf8_lossy(&explained.stdout).into_owned();
    if explained.status.success() {
        let show = ok(&d(&[&["approvals", "show", &id][..], &remote].concat()));
        assert!(
            show.contains("state      signed"),
            "allowed before signing: {show}"
        );
    } else {
        assert!(text.contains("stage 'release' has not signed"), "{text}");
    }
    // The server's tick signs once the timelock passed.
    let start = Instant::now();
    loop {
        let show = ok(&d(&[&["approvals", "show", &id][..], &remote].concat()));
        if show.contains("state      signed") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never signed: {show}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = ok(&explain());
    assert!(out.starts_with("ALLOWED"), "{out}");
    assert!(
        out.contains("PASS [production] stage 'release' signed by"),
        "{out}"
    );
    let json = ok(&d(&[
        "policy",
        "explain",
        image,
        "--policy",
        "policy.toml",
        "-o",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["allowed"], true, "{v}");
    ok(&d(&["verify", image, "--key", "release.pub"]));

    // Rejections: by an approver's signature, and withdrawn with a reason.
    let again = |d: &dyn Fn(&[&str]) -> Output| {
        ok(&d(&["sign", "--remote", "--key", "prod-release", image]))
            .trim()
            .to_owned()
    };
    let r1 = again(&d);
    let out = ok(&d(
        &[&["reject", &r1, "--key", "carol.key"][..], &remote].concat()
    ));
    assert!(
        out.contains("state      rejected (rejected by carol)"),
        "{out}"
    );
    let (_, err) = fails(&d(&[
        &["approve", "--yes", &r1, "--key", "alice.key"][..],
        &remote,
    ]
    .concat()));
    assert!(err.contains("409"), "{err}");
    let r2 = again(&d);
    let out = ok(&d(&[
        &["reject", &r2, "--reason", "wrong build"][..],
        &remote,
    ]
    .concat()));
    assert!(out.contains("wrong build"), "{out}");
    let list = ok(&d(&[&["approvals", "list"][..], &remote].concat()));
    assert!(list.contains("no open signing requests"), "{list}");
    let all = ok(&d(&[&["approvals", "list", "--all"][..], &remote].concat()));
    assert_eq!(all.lines().count(), 3, "{all}");
    // For scripts: the same three requests as JSON and as YAML (read back by PyYAML).
    let json = ok(&d(&[
        &["approvals", "list", "--all", "-o", "json"][..],
        &remote,
    ]
    .concat()));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(3), "{json}");
    let yaml = ok(&d(&[
        &["approvals", "list", "--all", "-o", "yaml"][..],
        &remote,
    ]
    .concat()));
    assert_eq!(crate::gov::yaml_as_json(&yaml), v, "{yaml}");

    // Bad input: one line each.
    let (_, err) = fails(&d(&[
        &["approve", "--yes", "nothex", "--key", "alice.key"][..],
        &remote,
    ]
    .concat()));
    assert!(err.contains("not a request id"), "{err}");
    let (_, err) = fails(&d(&["sign", "--remote", "--key", "nope", image]));
    assert!(err.contains("no quorum key named"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_quorum_and_explain_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["ci", "release", "alice", "bob", "carol", "mallory"] {
        ok(&zoll(
            d,
            &["key", "generate", "--type", "ecdsa-p256", "--out", name],
        ));
    }
    std::fs::write(d.join("policy.toml"), POLICY).unwrap();
    std::fs::write(d.join("approvals.toml"), APPROVALS).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut cmd = command(data.path(), &[]);
    cmd.envs(Backends::for_test().env())
        .env("ZOLL_APPROVALS_KEYS", d.join("approvals.toml"))
        .env("ZOLL_APPROVALS_TICK_SECS", "1");
    let z = Zoll::spawn(cmd, "http").await;
    let addr = z.base.trim_start_matches("http://").to_owned();
    let image: zoll_client::ImageRef = format!("{addr}/prod/app:v1").parse().unwrap();
    let repo = zoll_client::Repository::open(&image, &Default::default()).unwrap();
    TestImage::new()
        .layer(&[TarEntry::file("etc/id", b"prod".to_vec())])
        .push(&repo, Some("v1"))
        .await;
    let (dir_path, base) = (d.to_owned(), z.base.clone());
    let reference = format!("{addr}/prod/app:v1");
    tokio::task::spawn_blocking(move || flow(&dir_path, &base, &reference))
        .await
        .unwrap();
    drop(z);
}
