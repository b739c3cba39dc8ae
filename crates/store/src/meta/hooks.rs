//! Webhook subscriptions and their delivery outbox. An event becomes one delivery row per
//! subscribed webhook; any replica claims due rows by compare-and-set on `claimed_until`,
//! posts them, and records each attempt. Nothing about HTTP lives here.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::Result;
use crate::{Store, random_id};

/// Deliveries waiting per webhook at most; further events are not queued for it.
pub const MAX_PENDING_PER_HOOK: u64 = 1000;

#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct Webhook {
    pub id: String,
    pub project: String,
    pub url: String,
    /// HMAC-SHA256 key of the signature header.
    #[serde(skip)]
    pub secret: String,
    /// Event types delivered; empty means all.
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_ms: i64,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("project", &self.project)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    pub id: String,
    pub webhook_id: String,
    pub event_type: String,
    pub payload: String,
    /// `pending`, `delivered` or `failed` (attempts exhausted).
    pub state: String,
    pub attempts: u32,
    pub next_ms: i64,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attempt {
    pub attempt: u32,
    pub at_ms: i64,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub ms: i64,
}

fn webhook(r: AnyRow) -> Result<Webhook> {
    let events: String = r.try_get(4)?;
    Ok(Webhook {
        id: r.try_get(0)?,
        project: r.try_get(1)?,
        url: r.try_get(2)?,
        secret: r.try_get(3)?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        enabled: r.try_get::<i64, _>(5)? != 0,
        created_ms: r.try_get(6)?,
    })
}

fn delivery(r: AnyRow) -> Result<Delivery> {
    Ok(Delivery {
        id: r.try_get(0)?,
        webhook_id: r.try_get(1)?,
        event_type: r.try_get(2)?,
        payload: r.try_get(3)?,
        state: r.try_get(4)?,
        attempts: u32::try_from(r.try_get::<i64, _>(5)?).unwrap_or(u32::MAX),
        next_ms: r.try_get(6)?,
        created_ms: r.try_get(7)?,
    })
}

const HOOK_COLUMNS: &str = "id, project, url, secret, events, enabled, created_ms";
const DELIVERY_COLUMNS: &str =
    "id, webhook_id, event_type, payload, state, attempts, next_ms, created_ms";

impl Store {
    pub async fn add_webhook(
        &self,
        project: &str,
        url: &str,
        secret: &str,
        events: &[String],
    ) -> Result<Webhook> {
        let hook = Webhook {
            id: random_id(),
            project: project.to_owned(),
            url: url.to_owned(),
            secret: secret.to_owned(),
            events: events.to_vec(),
            enabled: true,
            created_ms: self.now_ms(),
        };
        let sql =
            format!("INSERT INTO webhooks ({HOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        sqlx::query(&sql)
            .bind(&hook.id)
            .bind(&hook.project)
            .bind(&hook.url)
            .bind(&hook.secret)
            .bind(serde_json::to_string(&hook.events).expect("strings serialize"))
            .bind(1i64)
            .bind(hook.created_ms)
            .execute(self.meta.writer())
            .await?;
        Ok(hook)
    }

    pub async fn webhooks(&self, project: &str) -> Result<Vec<Webhook>> {
        let sql = format!(
            "SELECT {HOOK_COLUMNS} FROM webhooks WHERE project = $1 ORDER BY created_ms, id"
        );
        sqlx::query(&sql)
            .bind(project)
            .fetch_all(self.meta.reader())
            .await?
            .into_iter()
            .map(webhook)
            .collect()
    }

    pub async fn webhook(&self, id: &str) -> Result<Option<Webhook>> {
        let sql = format!("SELECT {HOOK_COLUMNS} FROM webhooks WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.meta.reader())
            .await?
            .map(webhook)
            .transpose()
    }

    pub async fn delete_webhook(&self, project: &str, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM webhooks WHERE project = $1 AND id = $2")
            .bind(project)
            .bind(id)
            .execute(self.meta.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Queues `payload` for every enabled webhook of `project` subscribed to `event_type`;
    /// returns how many deliveries were queued.
    pub async fn enqueue_event(
        &self,
        project: &str,
        event_type: &str,
        payload: &str,
    ) -> Result<usize> {
        let hooks = self.webhooks(project).await?;
        let now = self.now_ms();
        let mut queued = 0;
        for h in hooks.iter().filter(|h| {
            h.enabled && (h.events.is_empty() || h.events.iter().any(|e| e == event_type))
        }) {
            let pending: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'pending'",
            )
            .bind(&h.id)
            .fetch_one(self.meta.writer())
            .await?;
            if crate::meta::to_u64(pending) >= MAX_PENDING_PER_HOOK {
                // A receiver that is down (or a flood of events) must not grow the outbox
                // without end: the event is dropped for this hook, and said so.
                tracing::warn!(
                    webhook = %h.id,
                    event_type,
                    "webhook has {MAX_PENDING_PER_HOOK} deliveries waiting; event not queued"
                );
                continue;
            }
            let sql = format!(
                "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)"
            );
            sqlx::query(&sql)
                .bind(random_id())
                .bind(&h.id)
                .bind(event_type)
                .bind(payload)
                .bind(now)
                .execute(self.meta.writer())
                .await?;
            queued += 1;
        }
        Ok(queued)
    }

    /// Webhooks a project has.
    pub async fn webhook_count(&self, project: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhooks WHERE project = $1")
            .bind(project)
            .fetch_one(self.meta.reader())
            .await?;
        Ok(crate::meta::to_u64(n))
    }

    /// Removes settled deliveries (delivered or failed) created before `before_ms`, with their
    /// attempts; returns how many deliveries went.
    pub async fn prune_deliveries(&self, before_ms: i64) -> Result<u64> {
        let mut tx = self.meta.begin().await?;
        sqlx::query(
            "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries \
             WHERE state <> 'pending' AND created_ms < $1)",
        )
        .bind(before_ms)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_ms < $1",
        )
        .bind(before_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Claims up to `n` due deliveries for `lease_ms`: no other replica takes them meanwhile.
    pub async fn claim_deliveries(&self, n: u64, lease_ms: i64) -> Result<Vec<Delivery>> {
        let now = self.now_ms();
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE state = 'pending' \
             AND next_ms <= $1 AND claimed_until <= $1 ORDER BY next_ms LIMIT $2"
        );
        let due: Vec<Delivery> = sqlx::query(&sql)
            .bind(now)
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .fetch_all(self.meta.reader())
            .await?
            .into_iter()
            .map(delivery)
            .collect::<Result<_>>()?;
        let mut claimed = Vec::new();
        for d in due {
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET claimed_until = $2 WHERE id = $1 \
                 AND state = 'pending' AND claimed_until <= $3",
            )
            .bind(&d.id)
            .bind(now + lease_ms)
            .bind(now)
            .execute(self.meta.writer())
            .await?;
            if done.rows_affected() == 1 {
                claimed.push(d);
            }
        }
        Ok(claimed)
    }

    /// Records an attempt; `retry_at` schedules the next one, `None` settles the delivery
    /// (`delivered` if the attempt succeeded, else `failed`).
    pub async fn record_attempt(
        &self,
        d: &Delivery,
        at: &Attempt,
        success: bool,
        retry_at: Option<i64>,
    ) -> Result<()> {
        let mut tx = self.meta.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, at_ms, status, error, ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&d.id)
        .bind(i64::from(at.attempt))
        .bind(at.at_ms)
        .bind(at.status.map(i64::from))
        .bind(at.error.as_deref())
        .bind(at.ms)
        .execute(&mut *tx)
        .await?;
        let state = match (success, retry_at) {
            (true, _) => "delivered",
            (false, Some(_)) => "pending",
            (false, None) => "failed",
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET state = $2, attempts = $3, next_ms = $4, \
             claimed_until = 0 WHERE id = $1",
        )
        .bind(&d.id)
        .bind(state)
        .bind(i64::from(at.attempt))
        .bind(retry_at.unwrap_or(at.at_ms))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest deliveries of a webhook, at most `n`.
    pub async fn deliveries(&self, webhook_id: &str, n: u64) -> Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 \
             ORDER BY created_ms DESC, id LIMIT $2"
        );
        sqlx::query(&sql)
            .bind(webhook_id)
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .fetch_all(self.meta.reader())
            .await?
            .into_iter()
            .map(delivery)
            .collect()
    }

    pub async fn attempts(&self, delivery_id: &str) -> Result<Vec<Attempt>> {
        let rows = sqlx::query(
            "SELECT attempt, at_ms, status, error, ms FROM webhook_attempts \
             WHERE delivery_id = $1 ORDER BY attempt",
        )
        .bind(delivery_id)
        .fetch_all(self.meta.reader())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Attempt {
                    attempt: u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(u32::MAX),
                    at_ms: r.try_get(1)?,
                    status: r
                        .try_get::<Option<i64>, _>(2)?
                        .and_then(|s| u16::try_from(s).ok()),
                    error: r.try_get(3)?,
                    ms: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Deliveries waiting to be sent (a queue depth for metrics).
    pub async fn pending_deliveries(&self) -> Result<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'")
                .fetch_one(self.meta.reader())
                .await?;
        Ok(crate::meta::to_u64(n))
    }
}
