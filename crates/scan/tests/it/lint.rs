//! Hardening lint: each Dockle check tripped by the smallest image that trips it, and passing
//! on an image that does not.

use zoll_scan::Limits;
use zoll_scan::lint::{self, ImageConfig, Level};
use zoll_scan::walk::Walker;

use crate::tarbuild::{Member as M, tar};

/// `expect`: the (code, level, alerts) of every check that did not pass.
fn check(
    members: &[M],
    config: serde_json::Value,
    reference: &str,
    expect: &[(&str, Level, &[&str])],
) {
    let limits = Limits::default();
    let mut w = Walker::new(&limits);
    w.apply_layer(tar(members).as_slice()).expect("layer");
    let walked = w.finish();
    let cfg = ImageConfig::parse(&serde_json::to_vec(&config).expect("json")).expect("config");
    let report = lint::run(&walked.index, Some(&cfg), reference);
    let got: Vec<(String, Level, Vec<String>)> = report
        .failed()
        .map(|r| (r.code.clone(), r.level, r.alerts.clone()))
        .collect();
    let want: Vec<(String, Level, Vec<String>)> = expect
        .iter()
        .map(|(c, l, a)| (c.to_string(), *l, a.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(got, want);
}

fn good_config() -> serde_json::Value {
    serde_json::json!({"config": {"User": "1000:1000", "Env": ["PATH=/bin", "GPG_KEY=ABCD"], "Healthcheck": {"Test": ["CMD", "true"]}},
                       "history": [{"created_by": "RUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*"}]})
}

#[test]
fn a_hardened_image_passes() {
    check(
        &[M::File(
            "etc/passwd",
            b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n",
        )],
        good_config(),
        "registry.example/app:1.0",
        &[],
    );
}

#[test]
fn config_checks() {
    check(
        &[],
        serde_json::json!({"config": {"User": "", "Env": ["DB_PASSWORD=hunter2", "API_TOKEN=x", "EMPTY_SECRET="],
            "Volumes": {"/var/run/docker.sock": {}, "/data": {}}},
          "history": [
            {"created_by": "/bin/sh -c #(nop) ADD https://example.com/app.tgz /app"},
            {"created_by": "/bin/sh -c #(nop) ADD file:0123abcd in / "},
            {"created_by": "RUN apt-get update"},
            {"created_by": "RUN apt-get dist-upgrade -y"},
            {"created_by": "RUN apk add curl"},
            {"created_by": "RUN apk del sudo"},
            {"created_by": "RUN cd /x && sudo make install"}]}),
        "registry.example/app",
        &[
            ("CIS-DI-0001", Level::Warn, &["last user is root"]),
            ("CIS-DI-0006", Level::Info, &["no HEALTHCHECK"]),
            ("CIS-DI-0007", Level::Fatal, &["RUN apt-get update"]),
            (
                "CIS-DI-0009",
                Level::Fatal,
                &["/bin/sh -c #(nop) ADD https://example.com/app.tgz /app"],
            ),
            (
                "CIS-DI-0010",
                Level::Fatal,
                &[
                    "suspicious environment variable DB_PASSWORD",
                    "suspicious environment variable API_TOKEN",
                ],
            ),
            (
                "DKL-DI-0001",
                Level::Fatal,
                &["RUN cd /x && sudo make install"],
            ),
            (
                "DKL-DI-0002",
                Level::Fatal,
                &["volume /var/run/docker.sock"],
            ),
            ("DKL-DI-0003", Level::Warn, &["RUN apt-get dist-upgrade -y"]),
            ("DKL-DI-0004", Level::Fatal, &["RUN apk add curl"]),
            (
                "DKL-DI-0006",
                Level::Warn,
                &["registry.example/app uses the latest tag"],
            ),
        ],
    );
}

#[test]
fn filesystem_checks() {
    check(
        &[
            M::File(
                "etc/passwd",
                b"root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\n",
            ),
            M::File("etc/group", b"root:x:0:\nwheel:x:10:\nstaff:x:10:\n"),
            M::File("etc/shadow", b"root:*:1::::::\ntoor::1::::::\n"),
            M::FileMode("usr/bin/passwd", b"x", 0o4755),
            M::FileMode("usr/bin/wall", b"x", 0o2755),
            M::File("usr/bin/sudo", b"x"),
            M::File("root/.aws/credentials", b"[default]"),
            M::File("home/app/.ssh/id_rsa", b"key"),
            M::File("var/lib/apt/lists/deb_dists_bookworm_InRelease", b"x"),
            M::File("var/lib/apt/lists/lock", b""),
            M::File("var/cache/apk/APKINDEX.tar.gz", b"x"),
            M::File("app/Dockerfile", b"FROM scratch"),
            M::Dir("app/.git"),
        ],
        good_config(),
        "registry.example/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        &[
            (
                "CIS-DI-0010",
                Level::Fatal,
                &[
                    "credential file /home/app/.ssh/id_rsa",
                    "credential file /root/.aws/credentials",
                ],
            ),
            ("DKL-DI-0001", Level::Fatal, &["/usr/bin/sudo is installed"]),
            (
                "CIS-DI-0008",
                Level::Info,
                &["/usr/bin/passwd (setuid)", "/usr/bin/wall (setgid)"],
            ),
            (
                "DKL-DI-0005",
                Level::Fatal,
                &[
                    "/var/lib/apt/lists holds 1 cached files",
                    "/var/cache/apk holds 1 cached files",
                ],
            ),
            ("DKL-LI-0001", Level::Fatal, &["user toor has no password"]),
            (
                "DKL-LI-0002",
                Level::Fatal,
                &[
                    "UID 0 used by root and toor",
                    "GID 10 used by wheel and staff",
                ],
            ),
            (
                "DKL-LI-0003",
                Level::Info,
                &["/app/Dockerfile", "/app/.git"],
            ),
        ],
    );
}
