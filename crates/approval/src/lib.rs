//! Quorum-approved signing. A production key held by the server (a PEM file or a PKCS#11
//! token) signs nothing on request alone: a signing request waits until `quorum` of its
//! configured approvers have each signed the request's canonical bytes with their own key,
//! and until its timelock has passed; a rejection, its expiry or a changed target ends it.
//! Every step is reported to a [`Recorder`] (the registry's audit trail and webhooks).
//!
//! - [`config`]: the quorum keys file (`approvals.toml`);
//! - [`request`]: the canonical request bytes approvers sign, and the states;
//! - [`service::Approvals`]: the state machine over the metadata database;
//! - [`publish`]: signing the digest and writing the signature into the store;
//! - [`client`]: the management API client `zoll sign --remote`, `zoll approvals`,
//!   `zoll approve` and `zoll reject` use.

#![forbid(unsafe_code)]

pub mod client;
pub mod config;
pub mod publish;
pub mod request;
pub mod service;

pub use config::{Approver, QuorumKey, QuorumKeys};
pub use request::{APPROVE, Canonical, REJECT, State, Vote};
pub use service::{ApprovalEvent, Approvals, EventKind, NewRequest, Recorder, RequestView, Sender};

/// Errors at the crate boundary; each maps to one HTTP status in the API.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("approvals configuration {path}: {reason}")]
    Config { path: String, reason: String },
    #[error("no quorum key named {0:?}")]
    UnknownKey(String),
    #[error("key {key:?} may not sign {repository}")]
    NotAllowed { key: String, repository: String },
    #[error("no signing request {0}")]
    NotFound(String),
    #[error("request {id} is {state}: it takes no more votes")]
    Closed { id: String, state: String },
    #[error("request {0} has expired")]
    Expired(String),
    /// Forged, replayed from another request, or by a key that is not an approver.
    #[error("the signature is not an approver's signature over request {id} (key {key})")]
    BadSignature { id: String, key: String },
    #[error("approver {approver} already voted on request {id}")]
    AlreadyVoted { id: String, approver: String },
    /// Separation of duties: whoever asked for a signature is never one of its approvers.
    #[error("{approver} asked for request {id}, so {approver} cannot approve it")]
    OwnRequest { id: String, approver: String },
    /// A vote signed with an approver's key, sent by another account than the one the key
    /// is bound to.
    #[error(
        "the vote is signed with the key of approver {approver}, which is bound to the \
         account {account}; {actor} may not send it"
    )]
    WrongAccount {
        approver: String,
        account: String,
        actor: String,
    },
    #[error("the target {0}")]
    Target(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The requester has as many open requests as it may.
    #[error("{0}")]
    TooMany(String),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error(transparent)]
    Store(#[from] zoll_store::StoreError),
    #[error("approvals API: {0}")]
    Api(String),
}
