//! The approval state machine over the metadata database.
//!
//! ```text
//! pending ──quorum──▶ approved ──timelock passed──▶ signing ──▶ signed
//!    │                   │                             ├──▶ superseded (tag moved / gone)
//!    ├─reject / expiry───┴──▶ rejected / expired       └──▶ failed
//!    └─tag moved / manifest gone (pending or approved)──▶ superseded
//! ```
//!
//! Every transition is a compare-and-set on the row's version, so concurrent approvals and
//! replicas running [`Approvals::tick`] never sign twice; a request past its expiry never
//! signs, whatever votes it has.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use zoll_oci::{Descriptor, Reference, RepoName};
use zoll_store::{ApprovalRow, ApprovalVote, Store, StoreError};

use crate::config::{QuorumKey, QuorumKeys, format_name};
use crate::request::{self, APPROVE, CANONICAL_TYPE, Canonical, REJECT, State, Subject, Vote};
use zoll_stdx::time::{Clock, SystemClock};

use crate::ApprovalError;

/// What happened, for the audit trail and webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Requested,
    Approved,
    Rejected,
    /// A vote that was not accepted (forged, replayed, duplicate, too late).
    Refused,
    QuorumReached,
    Signed,
    Expired,
    Superseded,
    Failed,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Requested => "approval.requested",
            EventKind::Approved => "approval.approved",
            EventKind::Rejected => "approval.rejected",
            EventKind::Refused => "approval.refused",
            EventKind::QuorumReached => "approval.quorum",
            EventKind::Signed => "approval.signed",
            EventKind::Expired => "approval.expired",
            EventKind::Superseded => "approval.superseded",
            EventKind::Failed => "approval.failed",
        }
    }
}

/// Who sent a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender<'a> {
    /// An authenticated account: the approver's key must be bound to it.
    Account(&'a str),
    /// Authentication is off (`zoll serve --no-auth`, loopback only): there are no accounts
    /// to bind keys to, and only the approver's signature is checked.
    Unauthenticated,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApprovalEvent {
    pub kind: EventKind,
    pub request: String,
    pub key: String,
    pub repository: String,
    pub digest: String,
    /// Who acted: the requester's account, the approver's name, or `zoll` for the server.
    pub actor: String,
    pub detail: String,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where events go (the registry writes them to the audit chain and the webhook queue).
pub trait Recorder: Send + Sync {
    fn record<'a>(&'a self, event: &'a ApprovalEvent) -> BoxFuture<'a, ()>;
}

/// Logs events only (standalone use and tests of the state machine).
#[derive(Debug, Default)]
pub struct LogRecorder;

impl Recorder for LogRecorder {
    fn record<'a>(&'a self, e: &'a ApprovalEvent) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            tracing::info!(event = e.kind.as_str(), request = %e.request, actor = %e.actor, detail = %e.detail, "approval");
        })
    }
}

/// A signing request as asked for.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub key: String,
    /// The registry host as the requester named it (cosign's identity).
    pub registry: String,
    pub repository: String,
    pub reference: Reference,
    pub claims: BTreeMap<String, String>,
    pub requester: String,
}

/// A request as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    pub id: String,
    pub key: String,
    pub repository: String,
    pub reference: String,
    pub digest: String,
    pub state: State,
    /// The signature manifest when signed; the reason when ended otherwise.
    pub outcome: String,
    pub requester: String,
    pub quorum: usize,
    pub votes: Vec<Vote>,
    pub created_ms: i64,
    pub not_before_ms: i64,
    pub expires_ms: i64,
    /// The canonical bytes approvers sign (JSON text).
    pub canonical: String,
}

/// Most requests listed or examined per tick.
const MAX_LIST: u32 = 1000;
/// States in which a request is still open.
const OPEN: [State; 3] = [State::Pending, State::Approved, State::Signing];
/// Open requests one requester may have for one key.
const MAX_OPEN_PER_REQUESTER: u64 = 10;
/// A request left in `signing` this long (a replica died mid-way) is taken up again.
const SIGNING_STALE_MS: i64 = 120_000;

pub struct Approvals {
    store: Arc<Store>,
    keys: QuorumKeys,
    recorder: Arc<dyn Recorder>,
    /// What timelocks and expiry are measured by (the wall clock but in tests).
    clock: Arc<dyn Clock>,
}

fn repo_name(s: &str) -> Result<RepoName, ApprovalError> {
    RepoName::parse(s, 255).map_err(|e| ApprovalError::Invalid(e.to_string()))
}

impl Approvals {
    pub fn new(store: Arc<Store>, keys: QuorumKeys, recorder: Arc<dyn Recorder>) -> Approvals {
        Approvals {
            store,
            keys,
            recorder,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same service measuring time by `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Approvals {
        self.clock = clock;
        self
    }

    /// Now, by the clock timelocks and expiry are measured with.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn keys(&self) -> &QuorumKeys {
        &self.keys
    }

    fn key(&self, name: &str) -> Result<&QuorumKey, ApprovalError> {
        self.keys
            .keys
            .get(name)
            .ok_or_else(|| ApprovalError::UnknownKey(name.to_owned()))
    }

    async fn event(&self, kind: EventKind, row: &ApprovalRow, actor: &str, detail: String) {
        let e = ApprovalEvent {
            kind,
            request: row.id.clone(),
            key: row.key_name.clone(),
            repository: row.repository.clone(),
            digest: row.digest.clone(),
            actor: actor.to_owned(),
            detail,
        };
        self.recorder.record(&e).await;
    }

    async fn row(&self, id: &str) -> Result<ApprovalRow, ApprovalError> {
        self.store
            .approval(id)
            .await?
            .ok_or_else(|| ApprovalError::NotFound(id.to_owned()))
    }

    async fn view(&self, row: ApprovalRow) -> Result<RequestView, ApprovalError> {
        let votes = self
            .store
            .approval_votes(&row.id)
            .await?
            .into_iter()
            .map(|v| Vote {
                approver: v.approver,
                decision: v.decision,
                at_ms: v.at_ms,
            })
            .collect();
        let quorum = Canonical::parse(row.canonical.as_bytes())
            .map(|c| c.quorum)
            .unwrap_or(0);
        Ok(RequestView {
            state: State::parse(&row.state).unwrap_or(State::Failed),
            id: row.id,
            key: row.key_name,
            repository: row.repository,
            reference: row.reference,
            digest: row.digest,
            outcome: row.outcome,
            requester: row.requester,
            quorum,
            votes,
            created_ms: row.created_ms,
            not_before_ms: row.not_before_ms,
            expires_ms: row.expires_ms,
            canonical: row.canonical,
        })
    }

    /// Creates a pending request for `req.key` to sign what `req.reference` names now.
    pub async fn request(&self, req: NewRequest) -> Result<RequestView, ApprovalError> {
        let key = self.key(&req.key)?;
        if !key.may_sign(&req.repository) {
            return Err(ApprovalError::NotAllowed {
                key: req.key.clone(),
                repository: req.repository.clone(),
            });
        }
        let open = self
            .store
            .approvals_by(&OPEN.map(State::as_str), &req.requester, &key.name)
            .await?;
        if open >= MAX_OPEN_PER_REQUESTER {
            return Err(ApprovalError::TooMany(format!(
                "{} has {open} open signing requests for key {}, the most allowed; let them \
                 end or reject them",
                req.requester, key.name
            )));
        }
        let repo = repo_name(&req.repository)?;
        let m = self
            .store
            .manifest(&repo, &req.reference)
            .await
            .map_err(|e| match e {
                StoreError::ManifestUnknown(_) | StoreError::NameUnknown(_) => {
                    ApprovalError::Target(format!(
                        "{} does not exist",
                        req.reference.in_repository(&req.repository)
                    ))
                }
                other => other.into(),
            })?;
        let now = self.clock.now_ms();
        let not_before = now + i64::try_from(key.timelock.as_millis()).unwrap_or(i64::MAX / 4);
        let expires = now + i64::try_from(key.expiry.as_millis()).unwrap_or(i64::MAX / 4);
        // 128 random bits: request ids cannot be guessed.
        let id = zoll_stdx::rand::hex_id(16);
        let canonical = Canonical {
            doc_type: CANONICAL_TYPE.to_owned(),
            id: id.clone(),
            key: key.name.clone(),
            format: format_name(key.format).to_owned(),
            registry: req.registry.clone(),
            repository: req.repository.clone(),
            reference: req.reference.to_string(),
            subject: Subject {
                media_type: m.media_type.clone(),
                digest: m.digest.to_string(),
                size: m.content.len() as u64,
            },
            claims: req.claims.clone(),
            requester: req.requester.clone(),
            approvers: key.approvers.iter().map(|a| a.name.clone()).collect(),
            quorum: key.quorum,
            created: now / 1000,
            not_before: (not_before + 999) / 1000,
            expires: expires / 1000,
        };
        let row = ApprovalRow {
            id,
            key_name: key.name.clone(),
            repository: req.repository.clone(),
            reference: req.reference.to_string(),
            digest: m.digest.to_string(),
            canonical: String::from_utf8(canonical.to_bytes()).expect("JSON is UTF-8"),
            requester: req.requester.clone(),
            state: State::Pending.as_str().to_owned(),
            outcome: String::new(),
            version: 0,
            created_ms: now,
            not_before_ms: not_before,
            expires_ms: expires,
            updated_ms: now,
        };
        self.store.approval_insert(&row).await?;
        let detail = format!(
            "{} to sign {}@{} ({} of {} approvers)",
            key.name,
            row.repository,
            row.digest,
            key.quorum,
            key.approvers.len()
        );
        self.event(EventKind::Requested, &row, &req.requester, detail)
            .await;
        self.view(row).await
    }

    pub async fn get(&self, id: &str) -> Result<RequestView, ApprovalError> {
        let row = self.row(id).await?;
        self.view(row).await
    }

    /// Requests, newest first: open ones only, or all.
    pub async fn list(&self, all: bool) -> Result<Vec<RequestView>, ApprovalError> {
        let states: Vec<&str> = request::STATES
            .iter()
            .filter(|s| all || !s.is_final())
            .map(|s| s.as_str())
            .collect();
        let mut out = Vec::new();
        for row in self.store.approvals(&states, MAX_LIST).await? {
            out.push(self.view(row).await?);
        }
        Ok(out)
    }

    /// Expires the request if its time is up; returns whether it did.
    async fn expire_if_due(&self, row: &ApprovalRow, now: i64) -> Result<bool, ApprovalError> {
        let state = State::parse(&row.state).unwrap_or(State::Failed);
        if state.is_final() || now < row.expires_ms || state == State::Signing {
            return Ok(false);
        }
        if self
            .store
            .approval_transition(
                &row.id,
                row.version,
                State::Expired.as_str(),
                "expired unsigned",
            )
            .await?
        {
            self.event(EventKind::Expired, row, "zoll", "expired unsigned".into())
                .await;
        }
        Ok(true)
    }

    /// Records a vote signed by an approver of the request's key. `decision` is
    /// [`APPROVE`] or [`REJECT`]; `sender` is the account that sent it, which must be the
    /// account the approver's key is bound to. At quorum (and once the timelock passed) the
    /// key signs.
    pub async fn vote(
        &self,
        id: &str,
        decision: &str,
        signature: &[u8],
        sender: Sender<'_>,
    ) -> Result<RequestView, ApprovalError> {
        let actor = match sender {
            Sender::Account(a) => a,
            Sender::Unauthenticated => "-",
        };
        if decision != APPROVE && decision != REJECT {
            return Err(ApprovalError::Invalid(format!("decision {decision:?}")));
        }
        let row = self.row(id).await?;
        let row = &row;
        let refuse = |detail: String| async move {
            self.event(EventKind::Refused, row, actor, detail).await;
        };
        let state = State::parse(&row.state).unwrap_or(State::Failed);
        let now = self.clock.now_ms();
        if self.expire_if_due(row, now).await? {
            refuse(format!("{decision} after expiry")).await;
            return Err(ApprovalError::Expired(id.to_owned()));
        }
        if state.is_final() || state == State::Signing {
            refuse(format!("{decision} on a {} request", state.as_str())).await;
            return Err(ApprovalError::Closed {
                id: id.to_owned(),
                state: state.as_str().to_owned(),
            });
        }
        let key = self.key(&row.key_name)?;
        let Some(approver) = key
            .approvers
            .iter()
            .find(|a| request::verify_vote(&a.key, decision, row.canonical.as_bytes(), signature))
        else {
            refuse(format!(
                "{decision} signature verifies with no approver of {}",
                key.name
            ))
            .await;
            return Err(ApprovalError::BadSignature {
                id: id.to_owned(),
                key: key.name.clone(),
            });
        };
        // A key speaks only through the account it is bound to: a key (or a vote) that
        // reached someone else's hands counts for nothing.
        if matches!(sender, Sender::Account(a) if a != approver.account) {
            refuse(format!(
                "{decision} signed by approver {} (bound to account {}) sent by {actor}",
                approver.name, approver.account
            ))
            .await;
            return Err(ApprovalError::WrongAccount {
                approver: approver.name.clone(),
                account: approver.account.clone(),
                actor: actor.to_owned(),
            });
        }
        // The approver bound to the requesting account is that person: asking and approving
        // are two duties, and a quorum of k must be k people other than the one who asked. A
        // rejection stays possible (it is how a requester's own key says no).
        if decision == APPROVE && approver.account == row.requester {
            refuse(format!(
                "approval by the requester {} (approver {})",
                approver.account, approver.name
            ))
            .await;
            return Err(ApprovalError::OwnRequest {
                id: id.to_owned(),
                approver: approver.account.clone(),
            });
        }
        let recorded = self
            .store
            .approval_vote(&ApprovalVote {
                request_id: id.to_owned(),
                approver: approver.name.clone(),
                decision: decision.to_owned(),
                signature: zoll_stdx::base64::encode(signature),
                at_ms: now,
            })
            .await?;
        if !recorded {
            refuse(format!("second vote by {}", approver.name)).await;
            return Err(ApprovalError::AlreadyVoted {
                id: id.to_owned(),
                approver: approver.name.clone(),
            });
        }
        if decision == REJECT {
            let why = format!("rejected by {}", approver.name);
            self.close(
                row,
                State::Rejected,
                &why,
                &approver.name,
                EventKind::Rejected,
            )
            .await?;
            return self.get(id).await;
        }
        self.event(
            EventKind::Approved,
            row,
            &approver.name,
            format!("approved by {} ({actor})", approver.name),
        )
        .await;
        self.advance(id).await?;
        self.get(id).await
    }

    /// Ends a request by an authorized account rather than an approver's key (the requester
    /// withdrawing it, a project administrator stopping it).
    pub async fn withdraw(
        &self,
        id: &str,
        actor: &str,
        reason: &str,
    ) -> Result<RequestView, ApprovalError> {
        let row = self.row(id).await?;
        let state = State::parse(&row.state).unwrap_or(State::Failed);
        if state.is_final() || state == State::Signing {
            return Err(ApprovalError::Closed {
                id: id.to_owned(),
                state: state.as_str().to_owned(),
            });
        }
        let why = if reason.is_empty() {
            format!("rejected by {actor}")
        } else {
            format!("rejected by {actor}: {reason}")
        };
        self.close(&row, State::Rejected, &why, actor, EventKind::Rejected)
            .await?;
        self.get(id).await
    }

    async fn close(
        &self,
        row: &ApprovalRow,
        state: State,
        why: &str,
        actor: &str,
        kind: EventKind,
    ) -> Result<(), ApprovalError> {
        if self
            .store
            .approval_transition(&row.id, row.version, state.as_str(), why)
            .await?
        {
            self.event(kind, row, actor, why.to_owned()).await;
            return Ok(());
        }
        // Moved meanwhile: decide on the current state.
        let now = self.row(&row.id).await?;
        let s = State::parse(&now.state).unwrap_or(State::Failed);
        Err(ApprovalError::Closed {
            id: row.id.clone(),
            state: s.as_str().to_owned(),
        })
    }

    /// Moves one request as far as it can go now: expiry, quorum, timelock, signing.
    pub async fn advance(&self, id: &str) -> Result<(), ApprovalError> {
        let row = self.row(id).await?;
        let now = self.clock.now_ms();
        if self.expire_if_due(&row, now).await? {
            return Ok(());
        }
        let state = State::parse(&row.state).unwrap_or(State::Failed);
        if matches!(state, State::Pending | State::Approved)
            && let Some(why) = self.target_moved(&row).await?
        {
            return self
                .close(&row, State::Superseded, &why, "zoll", EventKind::Superseded)
                .await
                .or_else(|e| match e {
                    // Moved meanwhile (a vote, another replica): the next tick decides.
                    ApprovalError::Closed { .. } => Ok(()),
                    other => Err(other),
                });
        }
        match state {
            State::Pending => {
                let key = self.key(&row.key_name)?;
                let approvals = self
                    .store
                    .approval_votes(id)
                    .await?
                    .iter()
                    .filter(|v| v.decision == APPROVE)
                    .count();
                if approvals < key.quorum {
                    return Ok(());
                }
                if self
                    .store
                    .approval_transition(id, row.version, State::Approved.as_str(), "")
                    .await?
                {
                    let detail =
                        format!("{approvals} of {} approvers approved", key.approvers.len());
                    self.event(EventKind::QuorumReached, &row, "zoll", detail)
                        .await;
                }
                Box::pin(self.advance(id)).await
            }
            State::Approved if now >= row.not_before_ms => self.sign(row).await,
            State::Signing if now - row.updated_ms > SIGNING_STALE_MS => {
                // A replica died while signing: take it up again (one winner by version).
                self.sign(row).await
            }
            _ => Ok(()),
        }
    }

    /// Why the request's reference no longer names the digest the approvers saw (the tag
    /// moved, or the manifest or repository is gone); `None` while it still does.
    async fn target_moved(&self, row: &ApprovalRow) -> Result<Option<String>, ApprovalError> {
        let repo = repo_name(&row.repository)?;
        let reference =
            Reference::parse(&row.reference).map_err(|e| ApprovalError::Invalid(e.to_string()))?;
        match self.store.manifest(&repo, &reference).await {
            Ok(m) if m.digest.as_str() == row.digest => Ok(None),
            Ok(m) => Ok(Some(format!(
                "{} now names {}, not the approved {}",
                row.reference, m.digest, row.digest
            ))),
            Err(StoreError::ManifestUnknown(_) | StoreError::NameUnknown(_)) => {
                Ok(Some(format!("{} no longer exists", row.reference)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Expires, and signs what is due, across all open requests (the background task of
    /// `zoll serve` calls this every second).
    pub async fn tick(&self) -> Result<(), ApprovalError> {
        let open = OPEN.map(State::as_str);
        // Every open request, oldest first, page by page: the newest cannot crowd out older
        // requests that are due.
        let mut after = (i64::MIN, String::new());
        loop {
            let page = self
                .store
                .approvals_oldest(&open, (after.0, &after.1), MAX_LIST)
                .await?;
            for row in &page {
                if let Err(e) = self.advance(&row.id).await {
                    tracing::warn!(request = %row.id, error = %e, "could not advance a signing request");
                }
            }
            match page.last() {
                Some(last) if page.len() as u32 == MAX_LIST => {
                    after = (last.created_ms, last.id.clone());
                }
                _ => return Ok(()),
            }
        }
    }

    async fn sign(&self, row: ApprovalRow) -> Result<(), ApprovalError> {
        if !self
            .store
            .approval_transition(&row.id, row.version, State::Signing.as_str(), "")
            .await?
        {
            return Ok(()); // another replica took it
        }
        let claimed = ApprovalRow {
            version: row.version + 1,
            state: State::Signing.as_str().to_owned(),
            ..row
        };
        let finish = |state: State, outcome: String, kind: EventKind| {
            let claimed = &claimed;
            async move {
                if self
                    .store
                    .approval_transition(&claimed.id, claimed.version, state.as_str(), &outcome)
                    .await?
                {
                    self.event(kind, claimed, "zoll", outcome).await;
                }
                Ok::<(), ApprovalError>(())
            }
        };
        if self.clock.now_ms() >= claimed.expires_ms {
            return finish(
                State::Expired,
                "expired unsigned".into(),
                EventKind::Expired,
            )
            .await;
        }
        let canonical = match Canonical::parse(claimed.canonical.as_bytes()) {
            Ok(c) => c,
            Err(e) => {
                return finish(
                    State::Failed,
                    format!("stored request unreadable: {e}"),
                    EventKind::Failed,
                )
                .await;
            }
        };
        let repo = repo_name(&claimed.repository)?;
        // The target must still be what the approvers saw. A store failure leaves the
        // request in `signing`: it is taken up again once stale.
        if let Some(why) = self.target_moved(&claimed).await? {
            return finish(State::Superseded, why, EventKind::Superseded).await;
        }
        let key = self.key(&claimed.key_name)?;
        let subject = Descriptor {
            media_type: canonical.subject.media_type.clone(),
            digest: claimed
                .digest
                .parse()
                .map_err(|e: zoll_oci::DigestError| ApprovalError::Invalid(e.to_string()))?,
            size: canonical.subject.size,
            artifact_type: None,
            annotations: None,
            urls: None,
        };
        let docker_reference = if canonical.registry.is_empty() {
            canonical.repository.clone()
        } else {
            format!("{}/{}", canonical.registry, canonical.repository)
        };
        match crate::publish::sign_and_store(
            &self.store,
            &repo,
            &subject,
            key,
            &canonical.claims,
            &docker_reference,
        )
        .await
        {
            Ok(sig) => finish(State::Signed, sig.digest.to_string(), EventKind::Signed).await,
            Err(e) => finish(State::Failed, e.to_string(), EventKind::Failed).await,
        }
    }
}
