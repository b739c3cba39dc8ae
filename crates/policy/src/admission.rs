//! The `[admission]` section of the policy file: the pod checks the admission webhook
//! applies besides the image policy, and per-namespace exemptions. Evaluated by
//! `zoll-admission`; kept here so one file (and one version) governs both gates.

use serde::{Deserialize, Serialize};

use crate::glob::Glob;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionDoc {
    pod_checks: Option<String>,
    privileged: Option<bool>,
    run_as_root: Option<bool>,
    host_path: Option<bool>,
    host_namespaces: Option<bool>,
    capabilities: Option<bool>,
    #[serde(default)]
    allowed_capabilities: Vec<String>,
    #[serde(default, rename = "exemption")]
    exemptions: Vec<ExemptionDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExemptionDoc {
    namespaces: Vec<String>,
    skip: Vec<String>,
}

/// A check of the pod spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PodCheck {
    /// `securityContext.privileged: true` (or `allowPrivilegeEscalation` with privileged).
    Privileged,
    /// Not `runAsNonRoot: true`, or `runAsUser: 0`.
    RunAsRoot,
    /// A `hostPath` volume.
    HostPath,
    /// `hostNetwork`, `hostPID` or `hostIPC`.
    HostNamespaces,
    /// `capabilities.add` beyond the allowed list.
    Capabilities,
}

pub const POD_CHECKS: [PodCheck; 5] = [
    PodCheck::Privileged,
    PodCheck::RunAsRoot,
    PodCheck::HostPath,
    PodCheck::HostNamespaces,
    PodCheck::Capabilities,
];

impl PodCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            PodCheck::Privileged => "privileged",
            PodCheck::RunAsRoot => "run-as-root",
            PodCheck::HostPath => "host-path",
            PodCheck::HostNamespaces => "host-namespaces",
            PodCheck::Capabilities => "capabilities",
        }
    }
}

/// What a failed pod check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PodMode {
    Deny,
    Warn,
    Off,
}

/// The name of the image policy check in exemptions.
pub const IMAGE_POLICY: &str = "image-policy";

#[derive(Debug, Clone)]
pub struct Exemption {
    pub namespaces: Vec<Glob>,
    /// Check names (`image-policy`, a pod check) or `all`.
    pub skip: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AdmissionSettings {
    pub pod_mode: PodMode,
    /// The pod checks that are on.
    pub checks: Vec<PodCheck>,
    /// Capabilities a container may add (upper case, without `CAP_`).
    pub allowed_capabilities: Vec<String>,
    pub exemptions: Vec<Exemption>,
}

impl Default for AdmissionSettings {
    fn default() -> Self {
        AdmissionSettings::from_doc(&AdmissionDoc::default()).expect("defaults are valid")
    }
}

impl AdmissionSettings {
    pub(crate) fn from_doc(doc: &AdmissionDoc) -> Result<AdmissionSettings, String> {
        let pod_mode = match doc.pod_checks.as_deref() {
            None | Some("deny") => PodMode::Deny,
            Some("warn") => PodMode::Warn,
            Some("off") => PodMode::Off,
            Some(other) => return Err(format!("pod_checks {other:?}: use deny, warn or off")),
        };
        let on = [
            (PodCheck::Privileged, doc.privileged),
            (PodCheck::RunAsRoot, doc.run_as_root),
            (PodCheck::HostPath, doc.host_path),
            (PodCheck::HostNamespaces, doc.host_namespaces),
            (PodCheck::Capabilities, doc.capabilities),
        ];
        let checks = on
            .into_iter()
            .filter(|(_, v)| v.unwrap_or(true))
            .map(|(c, _)| c)
            .collect();
        let mut exemptions = Vec::new();
        for e in &doc.exemptions {
            if e.namespaces.is_empty() || e.skip.is_empty() {
                return Err("an exemption needs namespaces and skip".into());
            }
            for s in &e.skip {
                let known =
                    s == "all" || s == IMAGE_POLICY || POD_CHECKS.iter().any(|c| c.as_str() == s);
                if !known {
                    return Err(format!(
                        "exemption skips {s:?}: use all, {IMAGE_POLICY} or a pod check ({})",
                        POD_CHECKS.map(PodCheck::as_str).join(", ")
                    ));
                }
            }
            exemptions.push(Exemption {
                namespaces: e
                    .namespaces
                    .iter()
                    .map(|n| Glob::parse(n))
                    .collect::<Result<_, _>>()?,
                skip: e.skip.clone(),
            });
        }
        Ok(AdmissionSettings {
            pod_mode,
            checks,
            allowed_capabilities: doc
                .allowed_capabilities
                .iter()
                .map(|c| normalize_capability(c))
                .collect(),
            exemptions,
        })
    }

    /// Whether `check` (a pod check name or [`IMAGE_POLICY`]) is skipped in `namespace`.
    pub fn exempt(&self, namespace: &str, check: &str) -> bool {
        self.exemptions.iter().any(|e| {
            e.namespaces.iter().any(|g| g.matches(namespace))
                && e.skip.iter().any(|s| s == "all" || s == check)
        })
    }
}

/// `cap_net_admin`, `CAP_NET_ADMIN` and `NET_ADMIN` are the same capability.
pub fn normalize_capability(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    up.strip_prefix("CAP_").unwrap_or(&up).to_owned()
}
