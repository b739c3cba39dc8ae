//! Filesystem checks of the lint: setuid files, credential files, caches, accounts.

use std::collections::HashMap;

use crate::walk::{Content, FsIndex, NodeKind};

/// File names that hold credentials wherever they are.
const CREDENTIAL_NAMES: &[&str] = &[
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".git-credentials",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".htpasswd",
    "credentials.json",
    "secret_token.rb",
    "master.key",
    ".env",
];
/// Path endings that hold credentials.
const CREDENTIAL_SUFFIXES: &[&str] = &[
    ".aws/credentials",
    ".docker/config.json",
    ".kube/config",
    ".config/gcloud/credentials.db",
];
const UNNEEDED_NAMES: &[&str] = &[
    "Dockerfile",
    "docker-compose.yml",
    "docker-compose.yaml",
    ".DS_Store",
    ".gitignore",
    ".dockerignore",
];
const UNNEEDED_DIRS: &[&str] = &[".git", ".svn", ".vscode", ".idea"];

fn files(index: &FsIndex) -> impl Iterator<Item = (&str, &crate::walk::Node)> {
    index.iter().filter(|(_, n)| n.kind == NodeKind::File)
}

fn name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

pub fn setuid(index: &FsIndex) -> Vec<String> {
    files(index)
        .filter(|(_, n)| n.mode & 0o6000 != 0)
        .map(|(p, n)| {
            format!(
                "/{p} ({}{})",
                if n.mode & 0o4000 != 0 { "setuid" } else { "" },
                if n.mode & 0o2000 != 0 {
                    if n.mode & 0o4000 != 0 {
                        ", setgid"
                    } else {
                        "setgid"
                    }
                } else {
                    ""
                }
            )
        })
        .collect()
}

pub fn credential_files(index: &FsIndex) -> Vec<String> {
    files(index)
        .filter(|(p, _)| {
            CREDENTIAL_NAMES.contains(&name(p))
                || CREDENTIAL_SUFFIXES.iter().any(|s| p.ends_with(s))
        })
        .map(|(p, _)| format!("credential file /{p}"))
        .collect()
}

pub fn sudo(index: &FsIndex) -> Vec<String> {
    ["usr/bin/sudo", "bin/sudo", "usr/sbin/sudo"]
        .iter()
        .filter(|p| index.get(p).is_some_and(|n| n.kind == NodeKind::File))
        .map(|p| format!("/{p} is installed"))
        .collect()
}

/// Package manager caches and downloaded indexes left in the image.
pub fn package_caches(index: &FsIndex) -> Vec<String> {
    let mut out = Vec::new();
    let mut count = |dir: &str, pred: &dyn Fn(&str) -> bool| {
        let n = index
            .children(dir)
            .filter(|(p, node)| node.kind == NodeKind::File && pred(p))
            .count();
        if n > 0 {
            out.push(format!("/{dir} holds {n} cached files"));
        }
    };
    count("var/lib/apt/lists", &|p| {
        !p.ends_with("/lock") && !p.contains("/partial/")
    });
    count("var/cache/apt", &|p| {
        p.ends_with(".deb") || p.ends_with(".bin")
    });
    count("var/cache/apk", &|_| true);
    count("var/cache/yum", &|_| true);
    count("var/cache/dnf", &|_| true);
    count("root/.cache/pip", &|_| true);
    count("root/.npm/_cacache", &|_| true);
    out
}

fn text(index: &FsIndex, path: &str) -> Option<String> {
    match &index.get(path)?.content {
        Content::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

pub fn empty_passwords(index: &FsIndex) -> Vec<String> {
    let Some(shadow) = text(index, "etc/shadow") else {
        return Vec::new();
    };
    shadow
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let user = f.next()?;
            let pw = f.next()?;
            pw.is_empty()
                .then(|| format!("user {user} has no password"))
        })
        .collect()
}

pub fn duplicate_ids(index: &FsIndex) -> Vec<String> {
    let mut out = Vec::new();
    for (file, what) in [("etc/passwd", "UID"), ("etc/group", "GID")] {
        let Some(t) = text(index, file) else { continue };
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for l in t.lines() {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                continue;
            }
            if let Some(first) = seen.insert(f[2], f[0]) {
                out.push(format!("{what} {} used by {first} and {}", f[2], f[0]));
            }
        }
    }
    out
}

pub fn unneeded(index: &FsIndex) -> Vec<String> {
    let mut out: Vec<String> = files(index)
        .filter(|(p, _)| UNNEEDED_NAMES.contains(&name(p)))
        .map(|(p, _)| format!("/{p}"))
        .collect();
    out.extend(
        index
            .iter()
            .filter(|(p, n)| n.kind == NodeKind::Dir && UNNEEDED_DIRS.contains(&name(p)))
            .map(|(p, _)| format!("/{p}")),
    );
    out
}
