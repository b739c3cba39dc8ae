//! zoll's Kubernetes admission webhook: AdmissionReview `admission.k8s.io/v1` on
//! `POST /admission/validate` and `POST /admission/mutate`.
//!
//! For Pods and the pod templates of Deployments, ReplicaSets, StatefulSets, DaemonSets,
//! Jobs and CronJobs, every image of the containers, initContainers and
//! ephemeralContainers is resolved to a digest in the zoll registry and decided by the
//! `zoll-policy` [`Engine`] at the admission gate (decisions cached by digest, signature
//! set and policy version; identical questions coalesced). Validate adds the pod checks of
//! the policy's `[admission]` section; mutate pins every tag to the verified digest with a
//! JSONPatch. Images from registries zoll does not serve are denied or allowed with a
//! warning, as configured ([`UnknownRegistries`]).
//!
//! Layers: [`review`] (the envelope, bounded), [`workload`] (where the pod spec is),
//! [`image`] (Docker reference grammar), [`pod`] (pod checks), [`webhook`] (the decision),
//! [`http`] (axum routes).

#![forbid(unsafe_code)]

pub mod http;
pub mod image;
pub mod pod;
pub mod review;
pub mod source;
pub mod webhook;
pub mod workload;

pub use http::router;
pub use review::Limits;
pub use source::Endpoint;
pub use webhook::{Mode, Stats, Verdict, Webhook};

/// What happens to images from registries zoll does not serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownRegistries {
    /// Refused: only images zoll can verify run (the default).
    Deny,
    /// Admitted with a warning, unverified and not pinned.
    Allow,
}

impl UnknownRegistries {
    pub fn parse(s: &str) -> Option<UnknownRegistries> {
        match s {
            "deny" => Some(UnknownRegistries::Deny),
            "allow" => Some(UnknownRegistries::Allow),
            _ => None,
        }
    }
}

/// How the webhook is set up (the policy itself comes with the engine).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Host names (`host[:port]`) under which pods name this zoll registry.
    pub registries: Vec<String>,
    pub unknown_registries: UnknownRegistries,
    pub limits: Limits,
}

impl Settings {
    pub fn new(registries: Vec<String>, unknown_registries: UnknownRegistries) -> Settings {
        Settings {
            registries: registries
                .into_iter()
                .map(|r| r.trim().to_ascii_lowercase())
                .filter(|r| !r.is_empty())
                .collect(),
            unknown_registries,
            limits: Limits::default(),
        }
    }

    /// Whether `host` (lower case, as parsed from an image) is this registry.
    pub fn serves(&self, host: &str) -> bool {
        self.registries.iter().any(|r| r == host)
    }
}

pub use zoll_policy::watch_policy;
