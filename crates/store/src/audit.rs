//! The tamper-evident audit trail. Every record carries the hash of the record before it, and
//! its own hash covers its fields and that link; the head row remembers the last record.
//! Appends lock the head, so records are numbered in commit order on one replica or many.
//! `audit_verify` walks the chain with a window of three records (bounded memory) and names
//! the position of every edit, deletion, insertion, swap and tail change it finds. The SQL
//! (append, page, head) is in `meta/audit.rs`.

use crate::Store;
use crate::error::Result;

/// The hash a chain starts from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, as the caller reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// Account name, `anonymous`, or `-` for the system itself.
    pub actor: String,
    /// Where the request came from (peer address), or `cli`.
    pub source: String,
    /// e.g. `manifest.push`, `blob.upload`, `pull`, `project.create`.
    pub action: String,
    /// What was acted on: `repo:tag`, `repo@digest`, a project or account name.
    pub target: String,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    /// Free text or JSON with details (never a secret).
    pub detail: String,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at_ms: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// What a reader of the trail asks for ([`Store::audit_page`]); empty text matches all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: String,
    pub action: String,
    /// A substring of the target (a repository, project or account), any ASCII case.
    pub target: String,
    pub outcome: String,
    /// From this time (inclusive), in milliseconds since the epoch.
    pub from_ms: i64,
    /// Until this time (exclusive).
    pub to_ms: i64,
}

impl Default for AuditFilter {
    fn default() -> Self {
        AuditFilter {
            actor: String::new(),
            action: String::new(),
            target: String::new(),
            outcome: String::new(),
            from_ms: i64::MIN,
            to_ms: i64::MAX,
        }
    }
}

/// One inconsistency `audit_verify` found. Positions count records from 1 in sequence
/// order; `seq` is the stored sequence number of the record at that position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditFinding {
    /// The record's fields no longer match its hash.
    Edited { position: u64, seq: i64 },
    /// One or more records before this one were removed (or the one before was rewritten
    /// with a new hash).
    Missing { position: u64, seq: i64 },
    /// This record was put between two records that were adjacent.
    Inserted { position: u64, seq: i64 },
    /// The records at these two positions exchanged places.
    Swapped {
        position: u64,
        seq: i64,
        with_position: u64,
        with_seq: i64,
    },
    /// Records after this position that the head recorded are gone.
    TailMissing { after_position: u64, head_seq: i64 },
    /// Records from this position on were added after the recorded head.
    Unanchored { position: u64, seq: i64 },
}

impl std::fmt::Display for AuditFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditFinding::Edited { position, seq } => {
                write!(
                    f,
                    "record {position} (seq {seq}) was edited: its hash does not match"
                )
            }
            AuditFinding::Missing { position, seq } => write!(
                f,
                "records before record {position} (seq {seq}) were deleted: it does not follow \
                 from the record before it"
            ),
            AuditFinding::Inserted { position, seq } => write!(
                f,
                "record {position} (seq {seq}) was inserted: the record after it follows from \
                 the one before it"
            ),
            AuditFinding::Swapped {
                position,
                seq,
                with_position,
                with_seq,
            } => write!(
                f,
                "records {position} (seq {seq}) and {with_position} (seq {with_seq}) were swapped"
            ),
            AuditFinding::TailMissing {
                after_position,
                head_seq,
            } => write!(
                f,
                "records after record {after_position} were deleted: the chain head recorded seq \
                 {head_seq}"
            ),
            AuditFinding::Unanchored { position, seq } => write!(
                f,
                "record {position} (seq {seq}) and those after it were added behind the chain head"
            ),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    pub records: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub findings: Vec<AuditFinding>,
}

impl AuditReport {
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }
}

/// The hash of a record: SHA-256 over the previous hash and the canonical JSON of its fields.
pub fn record_hash(prev_hash: &str, at_ms: i64, e: &AuditEntry) -> String {
    let fields = serde_json::json!([
        at_ms, e.actor, e.source, e.action, e.target, e.outcome, e.detail
    ]);
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(prev_hash.as_bytes());
    ctx.update(b"\n");
    ctx.update(fields.to_string().as_bytes());
    zoll_stdx::hex::encode(ctx.finish().as_ref())
}

const PAGE: i64 = 1000;

impl Store {
    /// Appends a record to the chain and returns its sequence number.
    pub async fn audit(&self, entry: &AuditEntry) -> Result<i64> {
        self.audit_batch(std::slice::from_ref(entry)).await
    }

    /// Walks the whole chain and reports every inconsistency with its position.
    pub async fn audit_verify(&self) -> Result<AuditReport> {
        let (head_seq, head_hash) = self.audit_head().await?;
        let mut v = Verifier::new(head_hash.clone());
        let mut after = i64::MIN;
        loop {
            let page = self.audit_records(after, PAGE as u64).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for r in page {
                v.push(r);
            }
        }
        let mut report = v.finish(head_seq);
        report.head_seq = head_seq;
        report.head_hash = head_hash;
        Ok(report)
    }
}

/// The chain check over a window of three records: the one being judged, the two before it
/// and (by judging one step late) the one after it.
struct Verifier {
    head_hash: String,
    /// Records at positions n-2, n-1, n (the last pushed), with their position.
    window: Vec<(u64, AuditRecord)>,
    count: u64,
    /// Link checks to skip at these positions (already explained by a swap).
    explained: Vec<u64>,
    head_seen_at: Option<u64>,
    after_head_seq: Option<i64>,
    first_seq: Option<i64>,
    findings: Vec<AuditFinding>,
}

impl Verifier {
    fn new(head_hash: String) -> Self {
        Verifier {
            head_hash,
            window: Vec::new(),
            count: 0,
            explained: Vec::new(),
            head_seen_at: None,
            after_head_seq: None,
            first_seq: None,
            findings: Vec::new(),
        }
    }

    fn push(&mut self, r: AuditRecord) {
        self.count += 1;
        let position = self.count;
        if record_hash(&r.prev_hash, r.at_ms, &r.entry) != r.hash {
            self.findings.push(AuditFinding::Edited {
                position,
                seq: r.seq,
            });
        }
        if self.head_seen_at.is_some_and(|p| p + 1 == position) {
            self.after_head_seq = Some(r.seq);
        }
        if r.hash == self.head_hash {
            self.head_seen_at = Some(position);
            self.after_head_seq = None;
        }
        self.first_seq.get_or_insert(r.seq);
        self.window.push((position, r));
        if self.window.len() > 4 {
            self.window.remove(0);
        }
        // Judge the link of the record before the newest, now that its successor is known.
        if self.window.len() >= 2 {
            let i = self.window.len() - 2;
            self.judge(i);
        }
    }

    /// Judges the link of `window[i]` to its predecessor, with `window[i + 1]` (if any) as
    /// its successor.
    fn judge(&mut self, i: usize) {
        let (position, rec) = &self.window[i];
        let (position, seq) = (*position, rec.seq);
        if self.explained.contains(&position) {
            return;
        }
        let hash_at = |k: Option<usize>| k.and_then(|k| self.window.get(k)).map(|w| &w.1.hash);
        let before = if position == 1 {
            None
        } else {
            i.checked_sub(1)
        };
        let expected = match before {
            Some(_) => hash_at(before).cloned(),
            None if position == 1 => Some(GENESIS.to_owned()),
            None => None,
        };
        let Some(expected) = expected else { return };
        if rec.prev_hash == expected {
            return;
        }
        let two_back = i.checked_sub(2);
        let finding = if position > 2 && hash_at(two_back) == Some(&rec.prev_hash) {
            let (p, r) = &self.window[i - 1];
            AuditFinding::Inserted {
                position: *p,
                seq: r.seq,
            }
        } else if let Some((np, next)) = self.window.get(i + 1) {
            if next.hash == rec.prev_hash {
                // The successor is the record this one follows: the two changed places.
                self.explained.extend([*np, *np + 1]);
                AuditFinding::Swapped {
                    position,
                    seq,
                    with_position: *np,
                    with_seq: next.seq,
                }
            } else {
                AuditFinding::Missing { position, seq }
            }
        } else {
            AuditFinding::Missing { position, seq }
        };
        self.findings.push(finding);
    }

    fn finish(mut self, head_seq: i64) -> AuditReport {
        if !self.window.is_empty() {
            let i = self.window.len() - 1;
            self.judge(i);
        }
        let anchored = match self.head_seen_at {
            Some(p) => p == self.count,
            None => self.count == 0 && self.head_hash == GENESIS,
        };
        if !anchored {
            self.findings.push(match self.head_seen_at {
                Some(p) => AuditFinding::Unanchored {
                    position: p + 1,
                    seq: self.after_head_seq.unwrap_or_default(),
                },
                None if self.head_hash == GENESIS => AuditFinding::Unanchored {
                    position: 1,
                    seq: self.first_seq.unwrap_or_default(),
                },
                None => AuditFinding::TailMissing {
                    after_position: self.count,
                    head_seq,
                },
            });
        }
        AuditReport {
            records: self.count,
            findings: self.findings,
            ..AuditReport::default()
        }
    }
}
