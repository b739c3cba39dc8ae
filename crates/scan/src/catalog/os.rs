//! Distribution detection from `os-release` and the older per-distro release files.

use serde::{Deserialize, Serialize};

use crate::walk::{Content, FsIndex};

/// The operating system of the image, as `os-release` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distro {
    /// `ID`: debian, ubuntu, alpine, rhel, fedora, rocky, almalinux, …
    pub id: String,
    /// `VERSION_ID` (Alpine: the full release, such as 3.20.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
}

impl Distro {
    /// The OSV ecosystem of the distro's packages: `Debian:12`, `Alpine:v3.20`, `Ubuntu:22.04`,
    /// `Red Hat`, `Rocky Linux:9`, `AlmaLinux:9`.
    pub fn osv_ecosystem(&self) -> Option<String> {
        let v = self.version_id.as_deref();
        Some(match self.id.as_str() {
            "debian" => format!("Debian:{}", v?.split('.').next()?),
            "ubuntu" => format!("Ubuntu:{}", v?),
            "alpine" => {
                let mut parts = v?.split('.');
                format!("Alpine:v{}.{}", parts.next()?, parts.next()?)
            }
            "rocky" => format!("Rocky Linux:{}", v?.split('.').next()?),
            "almalinux" => format!("AlmaLinux:{}", v?.split('.').next()?),
            "rhel" => "Red Hat".to_owned(),
            _ => return None,
        })
    }

    /// The purl `distro` qualifier as syft writes it (`debian-12`, `alpine-3.20.3`).
    pub fn purl_qualifier(&self) -> String {
        match &self.version_id {
            Some(v) => format!("{}-{}", self.id, v),
            None => self.id.clone(),
        }
    }
}

const FILES: &[&str] = &[
    "etc/os-release",
    "usr/lib/os-release",
    "etc/alpine-release",
    "etc/debian_version",
    "etc/redhat-release",
];

pub(super) fn wants(path: &str) -> bool {
    FILES.contains(&path)
}

/// `os-release` first (following a symbolic link inside the image), then the release files.
pub fn detect(index: &FsIndex) -> Option<Distro> {
    let text = |p: &str| -> Option<String> {
        match &index.lookup(p)?.1.content {
            Content::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    };
    if let Some(d) = text("etc/os-release")
        .or_else(|| text("usr/lib/os-release"))
        .and_then(|t| parse_os_release(&t))
    {
        return Some(d);
    }
    if let Some(v) = text("etc/alpine-release") {
        return Some(Distro {
            id: "alpine".into(),
            version_id: Some(v.trim().to_owned()),
            codename: None,
            pretty_name: None,
        });
    }
    if let Some(v) = text("etc/debian_version") {
        let major = v.trim().split('.').next().unwrap_or("").to_owned();
        let version_id = major
            .chars()
            .all(|c| c.is_ascii_digit())
            .then_some(major)
            .filter(|m| !m.is_empty());
        return Some(Distro {
            id: "debian".into(),
            version_id,
            codename: None,
            pretty_name: None,
        });
    }
    None
}

pub fn parse_os_release(text: &str) -> Option<Distro> {
    let mut id = None;
    let mut version_id = None;
    let mut codename = None;
    let mut pretty = None;
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_owned();
        match k {
            "ID" => id = Some(v),
            "VERSION_ID" => version_id = Some(v),
            "VERSION_CODENAME" => codename = Some(v),
            "PRETTY_NAME" => pretty = Some(v),
            _ => {}
        }
    }
    Some(Distro {
        id: id?,
        version_id,
        codename,
        pretty_name: pretty,
    })
}
