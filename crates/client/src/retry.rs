//! Retries of requests that may be repeated: a `GET`, `HEAD` or `PUT` whose body can be sent
//! again (manifests are put whole; streamed blob uploads cannot be cloned and so are never
//! repeated; `POST` and `PATCH` of uploads are never repeated). A repeatable request is sent
//! again after a connection failure or a `429`, `502`, `503` or `504`, at most
//! [`RetryPolicy::max_retries`] times, waiting the registry's `Retry-After` or an exponential
//! backoff with jitter, never longer than [`RetryPolicy::max_delay`] at once nor
//! [`RetryPolicy::max_total`] in all. Any other status (a 400, 401, 404…) is the answer.
//!
//! The waiting goes through a [`Sleeper`] and `Retry-After` dates are read against a
//! [`Clock`], so tests replace both and nothing waits.

use std::fmt::Debug;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, Request, Response, StatusCode};
use zoll_stdx::time::{Clock, SystemClock};

use crate::error::{ClientError, Result, connection_hint};

/// Where retries wait.
pub trait Sleeper: Debug + Send + Sync {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// Waits on tokio's timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// How often and how long a repeatable request is retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: none).
    pub max_retries: u32,
    /// The backoff before the first retry; doubled for each further one, and a random
    /// half of it taken off (jitter), so clients refused together do not return together.
    pub base_delay: Duration,
    /// Longest single wait. A `Retry-After` asking for more is not waited for: its answer
    /// is returned.
    pub max_delay: Duration,
    /// Longest time spent waiting over all retries of one request.
    pub max_total: Duration,
    pub sleeper: Arc<dyn Sleeper>,
    /// Reads `Retry-After` dates.
    pub clock: Arc<dyn Clock>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            max_total: Duration::from_secs(30),
            sleeper: Arc::new(TokioSleeper),
            clock: Arc::new(SystemClock),
        }
    }
}

/// The statuses that say "not now" rather than "no".
const RETRY_STATUSES: [StatusCode; 4] = [
    StatusCode::TOO_MANY_REQUESTS,
    StatusCode::BAD_GATEWAY,
    StatusCode::SERVICE_UNAVAILABLE,
    StatusCode::GATEWAY_TIMEOUT,
];

impl RetryPolicy {
    /// Sends `req` on `http`, again while the policy allows (see the module's text).
    pub(crate) async fn send(&self, http: &reqwest::Client, mut req: Request) -> Result<Response> {
        let repeatable = matches!(*req.method(), Method::GET | Method::HEAD | Method::PUT);
        let mut waited = Duration::ZERO;
        let mut attempt = 0u32;
        loop {
            let again = if repeatable && attempt < self.max_retries {
                req.try_clone()
            } else {
                None
            };
            let (method, url) = (req.method().clone(), shown_url(req.url()));
            let outcome = http.execute(req).await;
            let Some(next) = again else {
                return Ok(outcome?);
            };
            let (wait, why) = match &outcome {
                Ok(resp) if RETRY_STATUSES.contains(&resp.status()) => {
                    let why = resp.status().to_string();
                    match retry_after(resp.headers(), self.clock.now_ms()) {
                        Some(d) if d > self.max_delay => return Ok(outcome?),
                        Some(d) => (d, why),
                        None => (self.backoff(attempt), why),
                    }
                }
                Err(e) if transient(e) => (self.backoff(attempt), e.to_string()),
                _ => return Ok(outcome?),
            };
            if waited + wait > self.max_total {
                return Ok(outcome?);
            }
            tracing::info!(
                "{method} {url}: {why}; retrying in {} ms ({} of {})",
                wait.as_millis(),
                attempt + 1,
                self.max_retries
            );
            drop(outcome);
            self.sleeper.sleep(wait).await;
            waited += wait;
            attempt += 1;
            req = next;
        }
    }

    /// `base_delay · 2^attempt`, capped at `max_delay`, less a random part of its half.
    fn backoff(&self, attempt: u32) -> Duration {
        let full = self
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        let half = full / 2;
        // A fresh `RandomState` is seeded from the process's random keys: enough for jitter,
        // which needs spreading, not secrecy.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(attempt);
        let fraction = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
        half + half.mul_f64(fraction)
    }
}

/// A transport failure worth another try: the connection failed, broke or timed out.
/// TLS and protocol mistakes (which [`connection_hint`] explains) fail the same way again.
/// A connection attempt that timed out is not repeated either: a host that let the whole
/// connect timeout pass would make the command wait four times that before failing.
fn transient(e: &reqwest::Error) -> bool {
    if !(e.is_connect() || e.is_timeout() || e.is_request()) || (e.is_connect() && e.is_timeout()) {
        return false;
    }
    connection_hint(&ClientError::from_reqwest_text(e)).is_none()
}

/// The URL without its query (a token may be in it).
fn shown_url(url: &reqwest::Url) -> String {
    format!("{}://{}{}", url.scheme(), url.authority(), url.path())
}

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date (IMF-fixdate, as
/// RFC 9110 requires senders to write it) read against `now_ms`; a date past is no wait.
fn retry_after(headers: &HeaderMap, now_ms: i64) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let at_ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()?;
    Some(Duration::from_millis(
        u64::try_from(at_ms.saturating_sub(now_ms)).unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(v: &str, now_ms: i64) -> Option<Duration> {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, v.parse().unwrap());
        retry_after(&h, now_ms)
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(after("7", 0), Some(Duration::from_secs(7)));
        // 2015-10-21T07:28:00Z is 1 445 412 480 s after the epoch.
        let date = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(
            after(date, 1_445_412_475_500),
            Some(Duration::from_millis(4_500))
        );
        assert_eq!(after(date, 1_445_412_490_000), Some(Duration::ZERO));
        assert_eq!(after("soon", 0), None);
        assert_eq!(after("-3", 0), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stays_under_its_cap() {
        let p = RetryPolicy::default();
        for (attempt, full) in [(0, 500), (1, 1000), (2, 2000), (5, 10_000), (40, 10_000)] {
            let full = Duration::from_millis(full);
            for _ in 0..20 {
                let d = p.backoff(attempt);
                assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
            }
        }
    }
}
