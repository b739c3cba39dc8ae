//! Package databases, language manifests, binaries and Java archives. The first byte picks
//! the path the bytes are found at (so each cataloger claims them), the rest is the file.
const PATHS: [&str; 12] = [
    "var/lib/dpkg/status",
    "var/lib/dpkg/status.d/base",
    "lib/apk/db/installed",
    "usr/lib/python3/site-packages/pkg-1.0.dist-info/METADATA",
    "usr/lib/node_modules/pkg/package.json",
    "app/package-lock.json",
    "usr/bin/app",
    "app/lib/app.jar",
    "etc/os-release",
    "usr/lib/python3/site-packages/pkg-1.0.egg-info/PKG-INFO",
    "app/node_modules/x/package.json",
    "opt/app.war",
];

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((&which, file)) = data.split_first() else {
            return;
        };
        let path = PATHS[usize::from(which) % PATHS.len()];
        let limits = zoll_scan::Limits::default();
        let _ = zoll_scan::catalog::fuzzing::packages(path, file, &limits);
    });
}
