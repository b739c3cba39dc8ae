//! The webhook: a review in, a response out. Every image of the workload is resolved to a
//! digest and decided by the policy engine; validate adds the pod checks, mutate pins the
//! tags to the verified digests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use serde_json::Value;
use zoll_oci::Digest;
use zoll_policy::admission::{IMAGE_POLICY, PodMode};
use zoll_policy::{Engine, EngineStats, Gate, SignatureSource, Target};

use crate::image::ImageName;
use crate::review::{self, BadReview, Limits, Response};
use crate::workload::Workload;
use crate::{Settings, UnknownRegistries, pod};

/// Which endpoint is answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Policy and pod checks; never changes the object.
    Validate,
    /// Pins image tags to the verified digests; refuses images the policy refuses.
    Mutate,
}

/// What the webhook concluded about one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The policy allows the image at this digest.
    Allowed {
        digest: Digest,
    },
    Denied(String),
    /// Not gated (a registry zoll does not serve, allowed by configuration): a warning.
    Unverified(String),
}

type Flight = Shared<BoxFuture<'static, Verdict>>;

struct Inner {
    engine: Arc<Engine>,
    source: Arc<dyn SignatureSource>,
    settings: Settings,
    /// Image questions being answered now, by image and policy version.
    flights: Mutex<HashMap<(String, String), Flight>>,
    coalesced: AtomicU64,
}

/// Counters, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub engine: EngineStats,
    /// Image questions that waited for an identical one in flight (resolution included).
    pub coalesced_images: u64,
}

/// The admission webhook. Cheap to clone.
#[derive(Clone)]
pub struct Webhook {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// A webhook deciding with `engine` over images read through `source` (the store inside
    /// `zoll serve`, `zoll-client` standalone).
    pub fn new(
        engine: Arc<Engine>,
        source: Arc<dyn SignatureSource>,
        settings: Settings,
    ) -> Webhook {
        Webhook {
            inner: Arc::new(Inner {
                engine,
                source,
                settings,
                flights: Mutex::new(HashMap::new()),
                coalesced: AtomicU64::new(0),
            }),
        }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.settings.limits
    }

    pub fn stats(&self) -> Stats {
        Stats {
            engine: self.inner.engine.stats(),
            coalesced_images: self.inner.coalesced.load(Ordering::Relaxed),
        }
    }

    /// Answers one AdmissionReview body.
    pub async fn review(&self, mode: Mode, body: &[u8]) -> Result<Response, BadReview> {
        let req = match review::parse(body, &self.inner.settings.limits) {
            Ok(r) => r,
            Err(BadReview::Invalid { uid, reason }) => {
                return Ok(Response::deny(
                    &uid,
                    400,
                    format!("the request is invalid: {reason}"),
                ));
            }
            Err(e) => return Err(e),
        };
        let uid = req.uid.as_str();
        if !matches!(req.operation.as_str(), "CREATE" | "UPDATE") {
            return Ok(Response::allow(uid));
        }
        let Some(object) = req.object.as_ref().filter(|o| !o.is_null()) else {
            return Ok(Response::deny(uid, 400, "the request has no object".into()));
        };
        let max = self.inner.settings.limits.max_containers;
        let workload = match Workload::read(&req.kind, object, max) {
            Ok(w) => w,
            Err(e) => return Ok(Response::deny(uid, 400, e)),
        };
        // The request names the object; a Pod created by a controller may carry only
        // generateName, so fall back to the object's metadata.
        let meta = |given: &Option<String>, field: &str| {
            given.clone().or_else(|| {
                object
                    .pointer(&format!("/metadata/{field}"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
        };
        let namespace = meta(&req.namespace, "namespace").unwrap_or_else(|| "default".into());
        let name = meta(&req.name, "name").unwrap_or_default();
        let response = self.decide(mode, uid, &workload, &namespace).await;
        tracing::info!(
            uid,
            mode = ?mode,
            kind = %workload.kind,
            namespace = %namespace,
            name = %name,
            allowed = response.allowed,
            patched = response.patch.is_some(),
            "admission review"
        );
        Ok(response)
    }

    async fn decide(&self, mode: Mode, uid: &str, w: &Workload, namespace: &str) -> Response {
        let set = self.inner.engine.policy();
        let adm = &set.admission;
        let containers = w.containers();
        let mut denials = Vec::new();
        let mut warnings = Vec::new();
        let mut patch = Vec::new();
        if !adm.exempt(namespace, IMAGE_POLICY) {
            let mut images: Vec<&str> = containers
                .iter()
                .filter_map(|c| c.container.image.as_deref())
                .collect();
            images.sort_unstable();
            images.dedup();
            let verdicts = futures_util::future::join_all(
                images.iter().map(|i| self.verdict(i, &set.version)),
            )
            .await;
            let verdicts: HashMap<&str, Verdict> = images.into_iter().zip(verdicts).collect();
            for c in &containers {
                let Some(image) = c.container.image.as_deref() else {
                    // Kubernetes refuses it later; nothing unverified gets through here.
                    denials.push(format!("{}: has no image", c.label()));
                    continue;
                };
                let what = format!("{} ({image})", c.label());
                match &verdicts[image] {
                    Verdict::Allowed { digest } => {
                        let pinned = ImageName::parse(image)
                            .ok()
                            .filter(|n| n.digest.is_none())
                            .map(|n| n.pinned(digest));
                        if let (Mode::Mutate, Some(value)) = (mode, pinned) {
                            patch.push(serde_json::json!({
                                "op": "replace",
                                "path": c.image_path,
                                "value": value,
                            }));
                        }
                    }
                    Verdict::Denied(why) => denials.push(format!("{what}: {why}")),
                    Verdict::Unverified(why) => warnings.push(format!("{what}: {why}")),
                }
            }
        }
        if mode == Mode::Validate && adm.pod_mode != PodMode::Off {
            let findings = pod::check(w, adm, namespace).into_iter().map(|f| f.message);
            match adm.pod_mode {
                PodMode::Deny => denials.extend(findings),
                PodMode::Warn => warnings.extend(findings),
                PodMode::Off => {}
            }
        }
        if denials.is_empty() {
            Response::allow(uid)
                .with_warnings(warnings)
                .with_patch(&patch)
        } else {
            let message = format!("zoll denied this {}: {}", w.kind, denials.join("; "));
            Response::deny(uid, 403, message).with_warnings(warnings)
        }
    }

    /// The verdict on one image; identical questions in flight are answered once.
    async fn verdict(&self, image: &str, policy_version: &str) -> Verdict {
        let key = (image.to_owned(), policy_version.to_owned());
        let flight = {
            let mut flights = self.inner.flights.lock().expect("not poisoned");
            match flights.get(&key) {
                Some(f) => {
                    self.inner.coalesced.fetch_add(1, Ordering::Relaxed);
                    f.clone()
                }
                None => {
                    let f = evaluate(self.inner.clone(), image.to_owned())
                        .boxed()
                        .shared();
                    flights.insert(key.clone(), f.clone());
                    f
                }
            }
        };
        let verdict = flight.clone().await;
        // Whoever sees it finish removes it: later questions start afresh (and hit the
        // engine's cache when nothing changed).
        let mut flights = self.inner.flights.lock().expect("not poisoned");
        if flights.get(&key).is_some_and(|f| f.ptr_eq(&flight)) {
            flights.remove(&key);
        }
        verdict
    }
}

async fn evaluate(inner: Arc<Inner>, image: String) -> Verdict {
    let name = match ImageName::parse(&image) {
        Ok(n) => n,
        Err(e) => return Verdict::Denied(format!("invalid image reference: {e}")),
    };
    if !inner.settings.serves(&name.registry) {
        return match inner.settings.unknown_registries {
            UnknownRegistries::Deny => Verdict::Denied(format!(
                "registry {} is not served by zoll, and unknown registries are denied",
                name.registry
            )),
            UnknownRegistries::Allow => Verdict::Unverified(format!(
                "not verified: registry {} is not served by zoll",
                name.registry
            )),
        };
    }
    let reference = name.reference();
    let repository = name.repository.as_str();
    let subject = match inner
        .source
        .resolve(&name.registry, repository, &reference)
        .await
    {
        Ok(d) => d,
        Err(e) => return Verdict::Denied(format!("cannot resolve the image: {e}")),
    };
    if name.digest.as_ref().is_some_and(|d| *d != subject.digest) {
        return Verdict::Denied(format!(
            "the registry answered {} for a pull by digest",
            subject.digest
        ));
    }
    let target = Target {
        gate: Gate::Admission,
        registry: &name.registry,
        repository,
        subject: &subject,
    };
    match inner.engine.decide(target, inner.source.as_ref()).await {
        Ok(d) if d.allowed => Verdict::Allowed {
            digest: subject.digest,
        },
        Ok(d) => Verdict::Denied(d.reason()),
        Err(e) => Verdict::Denied(format!("the trust policy could not be evaluated: {e}")),
    }
}
