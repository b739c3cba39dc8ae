//! The approvals part of the management API (`/api/v1/approvals`), over `zoll-approval`:
//!
//! - `POST /approvals` `{key, repository, reference, claims?, registry?}`: a signing request
//!   (needs `push` on the repository); `201` with the request;
//! - `GET /approvals[?all=true]`: open (or all) requests on repositories the caller may pull;
//! - `GET /approvals/{id}`: one request with its canonical bytes (`canonical`);
//! - `POST /approvals/{id}/approve` `{signature}`: an approver's vote (the signature is the
//!   authority; the caller must be able to pull the repository);
//! - `POST /approvals/{id}/reject` `{signature}` by an approver, or `{reason}` by the
//!   requester or someone who may manage the project's policies.
//!
//! Errors are OCI error JSON (`error.rs` maps [`ApprovalError`]). Every step of a request
//! reaches the audit trail and the webhooks through [`RegistryRecorder`]; refused calls are
//! audited as `denied`. [`run`] is the background task that expires requests, notices moved
//! tags and signs what is due.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use zoll_approval::service::BoxFuture;
use zoll_approval::{
    ApprovalEvent, Approvals, EventKind, NewRequest, QuorumKeys, Recorder, RequestView, Sender,
};

use crate::App;
use crate::access::{Action, allowed, project_of};
use crate::api::{Ctx, bad, json_body};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Event};

/// Longest free-text reason of a rejection.
const MAX_REASON: usize = 1024;
/// Longest signature accepted (base64 of an RSA-8192 signature is ~1.4 KiB).
const MAX_SIGNATURE_B64: usize = 4096;
/// Most claims on one request.
const MAX_CLAIMS: usize = 32;

/// Sends approval events to the audit trail and the webhook queue of the registry it is
/// attached to (after the `App` exists: the `App` holds the approvals, which hold this).
#[derive(Default)]
pub struct RegistryRecorder {
    app: OnceLock<Weak<App>>,
}

impl RegistryRecorder {
    fn attach(&self, app: &Arc<App>) {
        let _ = self.app.set(Arc::downgrade(app));
    }
}

impl Recorder for RegistryRecorder {
    fn record<'a>(&'a self, e: &'a ApprovalEvent) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Some(app) = self.app.get().and_then(Weak::upgrade) else {
                tracing::warn!(event = e.kind.as_str(), request = %e.request, "approval event before the registry started");
                return;
            };
            let target = format!("{}@{}", e.repository, e.digest);
            let outcome = match e.kind {
                EventKind::Refused => "denied",
                EventKind::Failed => "failed",
                _ => "ok",
            };
            let detail = format!("request {} key {}: {}", e.request, e.key, e.detail);
            crate::audit::record(
                &app,
                &e.actor,
                "-",
                e.kind.as_str(),
                &target,
                outcome,
                &detail,
            )
            .await;
            let (kind, class) = match e.kind {
                EventKind::Requested => (events::APPROVAL_REQUESTED, "requested"),
                EventKind::Approved | EventKind::Refused => (events::APPROVAL_VOTED, "voted"),
                EventKind::QuorumReached => (events::APPROVAL_GRANTED, "granted"),
                EventKind::Signed => (events::SIGNED, "signed"),
                EventKind::Rejected
                | EventKind::Expired
                | EventKind::Superseded
                | EventKind::Failed => (events::APPROVAL_ENDED, "ended"),
            };
            let step = e.kind.as_str();
            app.metrics
                .approval(class, step.strip_prefix("approval.").unwrap_or(step));
            let event = Event::new(kind, &target)
                .actor(&e.actor)
                .detail(&e.detail)
                .data("request", json!(e.request))
                .data("key", json!(e.key))
                .data("step", json!(e.kind.as_str()));
            events::emit(&app, event).await;
        })
    }
}

/// Puts quorum-approved signing with `keys` into `app` and shares it; events of the
/// approvals go to this registry's audit trail and webhooks.
pub fn enable(app: App, keys: QuorumKeys) -> Arc<App> {
    enable_with_clock(app, keys, Arc::new(zoll_stdx::time::SystemClock))
}

/// [`enable`] with timelocks and expiry measured by `clock` (tests move it by hand).
pub fn enable_with_clock(
    mut app: App,
    keys: QuorumKeys,
    clock: Arc<dyn zoll_stdx::time::Clock>,
) -> Arc<App> {
    let recorder = Arc::new(RegistryRecorder::default());
    app.approvals = Some(Arc::new(
        Approvals::new(app.store.clone(), keys, recorder.clone()).with_clock(clock),
    ));
    let app = Arc::new(app);
    recorder.attach(&app);
    app
}

/// The background task of `zoll serve`: every `every`, expires requests past their expiry,
/// ends those whose tag moved, and signs those approved whose timelock passed. Replicas may
/// all run it: every transition is a compare-and-set.
pub async fn run(app: Arc<App>, every: Duration) {
    let Some(approvals) = app.approvals.clone() else {
        return;
    };
    drop(app);
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(e) = approvals.tick().await {
            tracing::warn!(error = %e, "approvals tick failed");
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    key: String,
    repository: String,
    reference: String,
    #[serde(default)]
    claims: BTreeMap<String, String>,
    /// The registry host as the requester names it (cosign's identity, `host/repository`);
    /// empty: the repository alone.
    #[serde(default)]
    registry: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VoteBody {
    signature: Option<String>,
    #[serde(default)]
    reason: String,
}

fn created(v: &RequestView) -> ApiResult {
    Ok((StatusCode::CREATED, axum::Json(json!(v))).into_response())
}

fn ok(v: &impl serde::Serialize) -> ApiResult {
    Ok(axum::Json(json!(v)).into_response())
}

fn valid_id(id: &str) -> ApiResult<()> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such signing request",
        ))
    }
}

fn valid_request(b: &RequestBody) -> ApiResult<()> {
    if b.claims.len() > MAX_CLAIMS
        || b.claims.iter().any(|(k, v)| {
            k.is_empty()
                || k.len() > 128
                || v.len() > 1024
                || !zoll_stdx::text::is_plain(k)
                || !zoll_stdx::text::is_plain(v)
        })
    {
        // Approvers read the claims before they sign: nothing in them may move the
        // terminal's cursor, break a line or reorder what is shown.
        return Err(bad(format!(
            "claims: at most {MAX_CLAIMS}, names of 1 to 128 characters, values up to 1024, \
             no control, line-separator or bidirectional characters"
        )));
    }
    if b.registry.len() > 255 || !zoll_stdx::text::is_plain(&b.registry) || b.registry.contains('/')
    {
        return Err(bad("registry must be a host[:port]"));
    }
    Ok(())
}

/// The requests (open ones, or all) on repositories the caller may pull, newest first:
/// what `GET /api/v1/approvals` and the console's inbox show.
pub(crate) async fn visible(
    c: &Ctx<'_>,
    approvals: &Approvals,
    all: bool,
) -> ApiResult<Vec<RequestView>> {
    let mut out: Vec<RequestView> = Vec::new();
    for v in approvals.list(all).await? {
        if allowed(&c.app.store, c.id, Action::Pull, &v.repository).await? {
            out.push(v);
        }
    }
    Ok(out)
}

/// One request, if the caller may pull its repository (a refusal is audited):
/// `GET /api/v1/approvals/{id}` and the console's detail page.
pub(crate) async fn visible_one(
    c: &Ctx<'_>,
    approvals: &Approvals,
    rid: &str,
) -> ApiResult<RequestView> {
    valid_id(rid)?;
    let v = approvals.get(rid).await?;
    c.require(Action::Pull, &v.repository, "approval.read")
        .await?;
    Ok(v)
}

/// `/api/v1/approvals/...`; `segs` is what follows `approvals`.
pub(crate) async fn route(c: &Ctx<'_>, m: &Method, segs: &[&str], body: Body) -> ApiResult {
    let Some(approvals) = &c.app.approvals else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
            "this registry holds no quorum keys (approvals are not configured)",
        ));
    };
    match (m.as_str(), segs) {
        ("POST", []) => {
            let b: RequestBody = json_body(body).await?;
            valid_request(&b)?;
            zoll_oci::RepoName::parse(&b.repository, c.app.limits.max_name_len)
                .map_err(ApiError::name_invalid)?;
            c.require(Action::Push, &b.repository, "approval.request")
                .await?;
            let reference = zoll_oci::Reference::parse(&b.reference)
                .map_err(|e| bad(format!("reference {:?}: {e}", b.reference)))?;
            let view = approvals
                .request(NewRequest {
                    key: b.key,
                    registry: b.registry,
                    repository: b.repository,
                    reference,
                    claims: b.claims,
                    requester: c.id.name().to_owned(),
                })
                .await?;
            created(&view)
        }
        ("GET", []) => {
            let all = c.query.get("all").is_some_and(|v| v == "true");
            ok(&visible(c, approvals, all).await?)
        }
        ("GET", [rid]) => ok(&visible_one(c, approvals, rid).await?),
        ("POST", [rid, decision @ ("approve" | "reject")]) => {
            valid_id(rid)?;
            let v = approvals.get(rid).await?;
            c.require(Action::Pull, &v.repository, "approval.vote")
                .await?;
            let b: VoteBody = json_body(body).await?;
            let view = match (&b.signature, *decision) {
                (Some(sig), d) => {
                    if sig.len() > MAX_SIGNATURE_B64 {
                        return Err(bad("signature too long"));
                    }
                    let sig = zoll_stdx::base64::decode(sig)
                        .ok_or_else(|| bad("signature is not base64"))?;
                    let sender = match c.id.principal {
                        crate::auth::Principal::Unrestricted => Sender::Unauthenticated,
                        _ => Sender::Account(c.id.name()),
                    };
                    approvals.vote(rid, d, &sig, sender).await?
                }
                (None, "reject") => {
                    if b.reason.len() > MAX_REASON {
                        return Err(bad(format!("reason: at most {MAX_REASON} bytes")));
                    }
                    // Without an approver's key: the requester withdraws, or someone who
                    // manages the project's policies stops it.
                    if v.requester != c.id.name() {
                        c.require(
                            Action::ManagePolicies,
                            project_of(&v.repository),
                            "approval.reject",
                        )
                        .await?;
                    }
                    approvals.withdraw(rid, c.id.name(), &b.reason).await?
                }
                (None, _) => return Err(bad("an approval needs the approver's signature")),
            };
            ok(&view)
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such approvals endpoint",
        )),
    }
}
