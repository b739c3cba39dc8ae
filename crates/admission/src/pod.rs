//! The pod checks of the policy's `[admission]` section, each finding naming the container
//! (or the pod, for pod-level settings) and the reason.

use zoll_policy::admission::{AdmissionSettings, PodCheck, normalize_capability};

use crate::workload::{Located, Workload};

/// One failed pod check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: PodCheck,
    pub message: String,
}

/// Runs the checks that are on and not exempt in `namespace`.
pub fn check(w: &Workload, settings: &AdmissionSettings, namespace: &str) -> Vec<Finding> {
    let on = |c: PodCheck| settings.checks.contains(&c) && !settings.exempt(namespace, c.as_str());
    let mut out = Vec::new();
    let mut push = |check: PodCheck, message: String| out.push(Finding { check, message });
    let spec = &w.spec;
    let containers = w.containers();
    if on(PodCheck::HostNamespaces) {
        for (set, field, what) in [
            (spec.host_network, "hostNetwork", "the host's network"),
            (spec.host_pid, "hostPID", "the host's process namespace"),
            (spec.host_ipc, "hostIPC", "the host's IPC namespace"),
        ] {
            if set {
                push(
                    PodCheck::HostNamespaces,
                    format!("pod: {field} is true (shares {what})"),
                );
            }
        }
    }
    if on(PodCheck::HostPath) {
        for v in &spec.volumes {
            let Some(hp) = &v.host_path else { continue };
            let users: Vec<String> = containers
                .iter()
                .filter(|c| c.container.volume_mounts.iter().any(|m| m.name == v.name))
                .map(Located::label)
                .collect();
            let who = if users.is_empty() {
                "pod".to_owned()
            } else {
                users.join(", ")
            };
            push(
                PodCheck::HostPath,
                format!(
                    "{who}: hostPath volume '{}' mounts {} from the node",
                    v.name, hp.path
                ),
            );
        }
    }
    for c in &containers {
        let sc = &c.container.security_context;
        if on(PodCheck::Privileged) && sc.privileged == Some(true) {
            push(
                PodCheck::Privileged,
                format!("{}: privileged is true", c.label()),
            );
        }
        if on(PodCheck::RunAsRoot) {
            let user = sc.run_as_user.or(spec.security_context.run_as_user);
            let non_root = sc.run_as_non_root.or(spec.security_context.run_as_non_root);
            if user == Some(0) {
                push(
                    PodCheck::RunAsRoot,
                    format!("{}: runs as root (runAsUser 0)", c.label()),
                );
            } else if non_root != Some(true) {
                push(
                    PodCheck::RunAsRoot,
                    format!(
                        "{}: runAsNonRoot is not true (set it on the pod or the container)",
                        c.label()
                    ),
                );
            }
        }
        if on(PodCheck::Capabilities) {
            let added: Vec<String> = sc
                .capabilities
                .add
                .iter()
                .map(|a| normalize_capability(a))
                .filter(|a| !settings.allowed_capabilities.contains(a))
                .collect();
            if !added.is_empty() {
                push(
                    PodCheck::Capabilities,
                    format!("{}: adds capabilities {}", c.label(), added.join(", ")),
                );
            }
        }
    }
    out
}
