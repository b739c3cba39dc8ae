//! Storage of quorum-approval requests (`zoll-approval` owns their meaning): rows written
//! once, moved between states by compare-and-set on their version, and one vote per approver.

use crate::Store;
use crate::error::Result;

/// A signing request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRow {
    pub id: String,
    pub key_name: String,
    pub repository: String,
    /// The tag or digest the request was made for.
    pub reference: String,
    pub digest: String,
    /// The canonical bytes approvers sign (JSON text), never rewritten.
    pub canonical: String,
    pub requester: String,
    pub state: String,
    pub outcome: String,
    pub version: i64,
    pub created_ms: i64,
    pub not_before_ms: i64,
    pub expires_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalVote {
    pub request_id: String,
    /// The approver's name as configured.
    pub approver: String,
    /// `approve` or `reject`.
    pub decision: String,
    /// Base64 signature over the request's canonical bytes.
    pub signature: String,
    pub at_ms: i64,
}

impl Store {
    pub async fn approval_insert(&self, row: &ApprovalRow) -> Result<()> {
        self.meta.approval_insert(row).await
    }

    pub async fn approval(&self, id: &str) -> Result<Option<ApprovalRow>> {
        self.meta.approval(id).await
    }

    /// Requests in any of `states`, newest first, at most `limit`.
    pub async fn approvals(&self, states: &[&str], limit: u32) -> Result<Vec<ApprovalRow>> {
        self.meta.approvals(states, i64::from(limit)).await
    }

    /// Requests in any of `states` created after `after` (`(created_ms, id)`), oldest first.
    pub async fn approvals_oldest(
        &self,
        states: &[&str],
        after: (i64, &str),
        limit: u32,
    ) -> Result<Vec<ApprovalRow>> {
        self.meta
            .approvals_oldest(states, after, i64::from(limit))
            .await
    }

    /// How many requests in any of `states` `requester` made for `key`.
    pub async fn approvals_by(&self, states: &[&str], requester: &str, key: &str) -> Result<u64> {
        self.meta.approvals_by(states, requester, key).await
    }

    /// Compare-and-set on the request's version; false if it moved meanwhile.
    pub async fn approval_transition(
        &self,
        id: &str,
        version: i64,
        state: &str,
        outcome: &str,
    ) -> Result<bool> {
        self.meta
            .approval_transition(id, version, state, outcome, self.now_ms())
            .await
    }

    /// False when the approver already voted on this request.
    pub async fn approval_vote(&self, vote: &ApprovalVote) -> Result<bool> {
        self.meta.approval_vote(vote).await
    }

    pub async fn approval_votes(&self, id: &str) -> Result<Vec<ApprovalVote>> {
        self.meta.approval_votes(id).await
    }
}
