//! The approvals part of the management API (`/api/v1/approvals`), over `zoll-approval`:
//!
//! - `POST /approvals` `{key, repository, reference, claims?, registry?}`: a signing request
//!   (needs `push` on the repository);
//! - `GET /approvals[?all=true]`: open (or all) requests on repositories the caller may pull;
//! - `GET /approvals/{id}`: one request with its canonical bytes;
//! - `POST /approvals/{id}/approve` `{signature}`: an approver's vote (the signature is the
//!   authority; the caller must be able to pull the repository);
//! - `POST /approvals/{id}/reject` `{signature}` by an approver, or `{reason}` by the
//!   requester or a project maintainer.
//!
//! Every step of a request reaches the audit trail and the webhooks through
//! [`RegistryRecorder`].

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::json;
use zoll_approval::service::BoxFuture;
use zoll_approval::{ApprovalError, ApprovalEvent, EventKind, NewRequest, Recorder, RequestView};

use crate::access::{allowed, project_of, Action};
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Event};
use crate::App;

const MAX_BODY: usize = 64 * 1024;

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> Self {
        use StatusCode as S;
        let msg = e.to_string();
        let (status, code) = match &e {
            ApprovalError::UnknownKey(_) | ApprovalError::Invalid(_) => (S::BAD_REQUEST, "INVALID"),
            ApprovalError::NotAllowed { .. } => (S::FORBIDDEN, "DENIED"),
            ApprovalError::NotFound(_) => (S::NOT_FOUND, "NOT_FOUND"),
            ApprovalError::Target(_) => (S::NOT_FOUND, "MANIFEST_UNKNOWN"),
            ApprovalError::Closed { .. }
            | ApprovalError::Expired(_)
            | ApprovalError::AlreadyVoted { .. } => (S::CONFLICT, "CONFLICT"),
            ApprovalError::BadSignature { .. } => (S::FORBIDDEN, "DENIED"),
            ApprovalError::Store(e) => return ApiError::from(zoll_store::StoreError::Busy(e.to_string())),
            ApprovalError::Config { .. } | ApprovalError::Sign(_) | ApprovalError::Api(_) => {
                (S::INTERNAL_SERVER_ERROR, "UNKNOWN")
            }
        };
        ApiError::new(status, code, msg)
    }
}

/// Sends approval events to the audit trail and the webhook queue of the registry it is
/// attached to (after the `App` exists: the `App` holds the approvals, which hold this).
#[derive(Default)]
pub struct RegistryRecorder {
    app: OnceLock<Weak<App>>,
}

impl RegistryRecorder {
    pub fn attach(&self, app: &Arc<App>) {
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
            crate::audit::record(&app, &e.actor, "-", e.kind.as_str(), &target, outcome, &detail).await;
            let kind = match e.kind {
                EventKind::Requested => events::APPROVAL_REQUESTED,
                EventKind::QuorumReached => events::APPROVAL_GRANTED,
                EventKind::Signed => events::SIGNED,
                EventKind::Rejected | EventKind::Expired | EventKind::Superseded | EventKind::Failed => {
                    events::APPROVAL_ENDED
                }
                EventKind::Approved | EventKind::Refused => return,
            };
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    key: String,
    repository: String,
    reference: String,
    #[serde(default)]
    claims: BTreeMap<String, String>,
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

async fn json_body<T: serde::de::DeserializeOwned>(body: Body) -> ApiResult<T> {
    let bytes = http_body_util::Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| bad("request body too large or unreadable"))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "INVALID", msg)
}

fn ok(v: &impl serde::Serialize, status: StatusCode) -> ApiResult {
    Ok((status, axum::Json(json!(v))).into_response())
}

async fn require(app: &App, id: &Identity, action: Action, repo: &str, what: &str, source: &str) -> ApiResult<()> {
    if allowed(&app.store, id, action, repo).await? {
        return Ok(());
    }
    crate::audit::record(app, id.name(), source, what, repo, "denied", action.as_str()).await;
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "DENIED",
        format!("{} may not {what} on {repo}", id.name()),
    ))
}

/// `/api/v1/approvals/...`; `segs` is what follows `approvals`.
pub async fn route(
    app: &App,
    id: &Identity,
    source: &str,
    query: &std::collections::HashMap<String, String>,
    m: &Method,
    segs: &[&str],
    body: Body,
) -> ApiResult {
    let Some(approvals) = &app.approvals else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
            "this registry holds no quorum keys (approvals are not configured)",
        ));
    };
    match (m.as_str(), segs) {
        ("POST", []) => {
            let b: RequestBody = json_body(body).await?;
            require(app, id, Action::Push, &b.repository, "approval.request", source).await?;
            let reference = zoll_oci::Reference::parse(&b.reference)
                .map_err(|e| bad(format!("reference {:?}: {e}", b.reference)))?;
            let view = approvals
                .request(NewRequest {
                    key: b.key,
                    registry: b.registry,
                    repository: b.repository,
                    reference,
                    claims: b.claims,
                    requester: id.name().to_owned(),
                })
                .await?;
            ok(&view, StatusCode::CREATED)
        }
        ("GET", []) => {
            let all = query.get("all").is_some_and(|v| v == "true");
            let mut visible: Vec<RequestView> = Vec::new();
            for v in approvals.list(all).await? {
                if allowed(&app.store, id, Action::Pull, &v.repository).await? {
                    visible.push(v);
                }
            }
            ok(&visible, StatusCode::OK)
        }
        ("GET", [rid]) => {
            let v = approvals.get(rid).await?;
            require(app, id, Action::Pull, &v.repository, "approval.read", source).await?;
            ok(&v, StatusCode::OK)
        }
        ("POST", [rid, decision @ ("approve" | "reject")]) => {
            let v = approvals.get(rid).await?;
            require(app, id, Action::Pull, &v.repository, "approval.vote", source).await?;
            let b: VoteBody = json_body(body).await?;
            let view = match (&b.signature, *decision) {
                (Some(sig), d) => {
                    let sig = zoll_trust::encoding::b64_decode(sig)
                        .ok_or_else(|| bad("signature is not base64"))?;
                    approvals.vote(rid, d, &sig, id.name()).await?
                }
                (None, "reject") => {
                    // Without an approver's key: the requester withdraws, or a maintainer stops it.
                    let own = v.requester == id.name();
                    if !own {
                        require(app, id, Action::ManagePolicies, project_of(&v.repository), "approval.reject", source)
                            .await?;
                    }
                    approvals.withdraw(rid, id.name(), &b.reason).await?
                }
                (None, _) => return Err(bad("an approval needs the approver's signature")),
            };
            ok(&view, StatusCode::OK)
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such approvals endpoint",
        )),
    }
}
