//! Client connections, bounded in number and in time.
//!
//! Every accepted connection is tracked with its phase: *fresh* (accepted, nothing read),
//! *head* (bytes of a request arrived, the handler not yet called), *busy* (requests in
//! flight, until their response bodies are done) or *idle* (a keep-alive connection between
//! requests). The connection's I/O wrapper closes it when a fresh or head phase outlasts the
//! header timeout (silent sockets, half-sent headers), when an idle phase outlasts the
//! keep-alive timeout, or when the client stops reading a response for the send timeout.
//! A busy connection is never closed for waiting on the server: a slow handler is not the
//! client's fault (a stalled request body is, and `stall.rs` ends that request).
//!
//! At most `max` connections are open. A new connection over the limit closes the
//! connection that has been waiting longest without a request in flight; when every
//! connection is busy, the new one is refused (plain HTTP: a 503 in OCI error JSON).
//! So silent or idle sockets can never keep a real request out.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Response;
use axum_server::accept::Accept;
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::metrics::ConnectionStats;

/// How long clients may take, and how many may be connected (`[server]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From accepting a connection, or from the first byte of a request, until its headers
    /// are complete.
    pub header_timeout: Duration,
    /// A keep-alive connection with no request in flight.
    pub keepalive_timeout: Duration,
    /// A response the client does not read.
    pub send_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(20),
            keepalive_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(),
        }
    }
}

/// Descriptors kept free of connections for the server's own files, database and outbound
/// requests.
const RESERVED_DESCRIPTORS: usize = 64;
/// The default limit never exceeds this (each connection may buffer up to ~400 KiB).
const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The open-file limit minus [`RESERVED_DESCRIPTORS`], at most 1024, at least 16.
pub fn default_max_connections() -> usize {
    let nofile = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<usize>().ok()
        })
        .unwrap_or(DEFAULT_MAX_CONNECTIONS + RESERVED_DESCRIPTORS);
    nofile
        .saturating_sub(RESERVED_DESCRIPTORS)
        .clamp(16, DEFAULT_MAX_CONNECTIONS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Fresh(Instant),
    Head(Instant),
    Busy(usize),
    Idle(Instant),
}

/// One connection as the tracker, its I/O and its requests see it.
struct Conn {
    id: u64,
    phase: Mutex<Phase>,
    killed: AtomicBool,
    waker: AtomicWaker,
    /// Response bodies being sent, and when the server last asked one of them for its next
    /// frame. HTTP/2 flow control stalls a response without any socket write blocking: the
    /// server simply stops asking while the client's window stays shut.
    bodies: AtomicU64,
    body_polled: Mutex<Instant>,
    /// Response bodies whose next frame the server itself has yet to produce (a slow
    /// backend is not the client's stall).
    bodies_producing: AtomicU64,
}

impl Conn {
    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut p = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        *p = f(*p);
    }

    fn body_stalled_since(&self) -> Option<Instant> {
        (self.bodies.load(Ordering::SeqCst) > 0
            && self.bodies_producing.load(Ordering::SeqCst) == 0)
            .then(|| *self.body_polled.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Waiting for the client since, or `None` while a request is in flight.
    fn waiting_since(&self) -> Option<Instant> {
        match self.phase() {
            Phase::Fresh(t) | Phase::Head(t) | Phase::Idle(t) => Some(t),
            Phase::Busy(_) => None,
        }
    }

    fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.waker.wake();
    }
}

/// The open connections of one listener.
pub struct Connections {
    limits: ConnectionLimits,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    stats: Arc<ConnectionStats>,
}

impl Connections {
    pub fn new(limits: ConnectionLimits, stats: Arc<ConnectionStats>) -> Arc<Connections> {
        Arc::new(Connections {
            limits,
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            stats,
        })
    }

    /// Takes a slot for a new connection, closing the longest-waiting connection without a
    /// request in flight when all are taken; `None` when every connection is busy.
    fn admit(self: &Arc<Self>, now: Instant) -> Option<Arc<Conn>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= self.limits.max_connections.max(1) {
            let victim = open
                .values()
                .filter_map(|c| Some((c.waiting_since()?, c.id)))
                .min()
                .map(|(_, id)| id);
            let Some(victim) = victim.and_then(|id| open.remove(&id)) else {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            victim.kill();
            self.stats.shed.fetch_add(1, Ordering::Relaxed);
            self.stats.open.fetch_sub(1, Ordering::Relaxed);
        }
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            phase: Mutex::new(Phase::Fresh(now)),
            killed: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            bodies: AtomicU64::new(0),
            body_polled: Mutex::new(now),
            bodies_producing: AtomicU64::new(0),
        });
        open.insert(conn.id, conn.clone());
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        Some(conn)
    }

    fn close(&self, conn: &Conn) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.remove(&conn.id).is_some() {
            self.stats.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// What a refused plain-HTTP client reads before the connection closes.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: application/json\r\n\
Retry-After: 1\r\n\
Connection: close\r\n\
Content-Length: 93\r\n\
\r\n\
{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"too many connections; retry\",\"detail\":null}]}";

/// An acceptor that admits connections through [`Connections`] before the inner acceptor
/// (TCP_NODELAY, TLS) runs, and tracks each one's I/O and requests.
#[derive(Clone)]
pub struct Limited<A> {
    inner: A,
    conns: Arc<Connections>,
    /// Plain HTTP: a refused client gets a 503 it can read.
    plain: bool,
}

impl<A> Limited<A> {
    pub fn new(inner: A, conns: Arc<Connections>, plain: bool) -> Limited<A> {
        Limited {
            inner,
            conns,
            plain,
        }
    }
}

impl<A, S> Accept<TcpStream, S> for Limited<A>
where
    A: Accept<TcpStream, Tracked<S>> + Clone + Send + Sync + 'static,
    A::Future: Send,
    A::Stream: Send,
    A::Service: Send,
    S: Send + 'static,
{
    type Stream = Guarded<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let Some(conn) = self.conns.admit(Instant::now()) else {
            if self.plain {
                // Best effort: the socket buffer of a fresh connection takes these bytes.
                let _ = stream.try_write(REFUSAL);
            }
            tracing::warn!(
                max = self.conns.limits.max_connections,
                "connection refused: every connection is busy"
            );
            return Box::pin(std::future::ready(Err(io::Error::other(
                "connection limit",
            ))));
        };
        let inner = self.inner.clone();
        let conns = self.conns.clone();
        Box::pin(async move {
            let tracked = Tracked {
                inner: service,
                conn: conn.clone(),
            };
            // Dropped on an error (a failed TLS handshake, say), the slot frees itself.
            let slot = Slot { conn, conns };
            let (io, svc) = inner.accept(stream, tracked).await?;
            Ok((Guarded::new(io, slot), svc))
        })
    }
}

/// A connection's place in [`Connections`], given back when dropped.
struct Slot {
    conn: Arc<Conn>,
    conns: Arc<Connections>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.conns.close(&self.conn);
    }
}

/// A connection's I/O, closed when the client is silent for longer than its phase allows
/// or when the tracker shed it.
pub struct Guarded<I> {
    io: I,
    slot: Slot,
    timer: Pin<Box<Sleep>>,
    armed: Option<Instant>,
    write_blocked: Option<Instant>,
}

impl<I> Guarded<I> {
    fn new(io: I, slot: Slot) -> Guarded<I> {
        Guarded {
            io,
            slot,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: None,
            write_blocked: None,
        }
    }

    /// When the client's silence ends this connection.
    fn deadline(&self) -> Option<Instant> {
        let l = &self.slot.conns.limits;
        let read = match self.slot.conn.phase() {
            Phase::Fresh(t) | Phase::Head(t) => Some(t + l.header_timeout),
            Phase::Idle(t) => Some(t + l.keepalive_timeout),
            Phase::Busy(_) => None,
        };
        let write = self
            .write_blocked
            .or_else(|| self.slot.conn.body_stalled_since())
            .map(|t| t + l.send_timeout);
        match (read, write) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// `Err` when the connection must end now; otherwise the timer is armed for the
    /// deadline and registered with `cx`.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let conn = &self.slot.conn;
        conn.waker.register(cx.waker());
        if conn.killed.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection shed at the connection limit",
            ));
        }
        let Some(deadline) = self.deadline() else {
            return Ok(());
        };
        if self.armed != Some(deadline) {
            self.timer.as_mut().reset(deadline);
            self.armed = Some(deadline);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "client too slow"));
        }
        Ok(())
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Guarded<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    // The first bytes of a request start its header clock.
                    this.slot.conn.set(|p| match p {
                        Phase::Fresh(_) | Phase::Idle(_) => Phase::Head(Instant::now()),
                        other => other,
                    });
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.check(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            other => other,
        }
    }
}

impl<I: AsyncWrite + Unpin> Guarded<I> {
    /// One write: refused on a shed connection; a write the client's window blocks starts
    /// (or keeps) the send clock, one that goes through stops it.
    fn write(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(&mut I, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if self.slot.conn.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection shed at the connection limit",
            )));
        }
        match op(&mut self.io, cx) {
            Poll::Pending => {
                self.write_blocked.get_or_insert_with(Instant::now);
                match self.check(cx) {
                    Ok(()) => Poll::Pending,
                    Err(e) => Poll::Ready(Err(e)),
                }
            }
            done => {
                self.write_blocked = None;
                done
            }
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Guarded<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.write(cx, |io, cx| Pin::new(io).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.write(cx, |io, cx| Pin::new(io).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The connection's service: marks the connection busy from the call until the response
/// body is done (or dropped).
#[derive(Clone)]
pub struct Tracked<S> {
    inner: S,
    conn: Arc<Conn>,
}

/// Holds a connection busy; dropping it ends one request.
struct Busy(Arc<Conn>);

impl Busy {
    fn new(conn: Arc<Conn>) -> Busy {
        conn.set(|p| match p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        });
        Busy(conn)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.set(|p| match p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
        // The I/O re-arms its timer for the idle phase.
        self.0.waker.wake();
    }
}

impl<S, R, B> tower::Service<R> for Tracked<S>
where
    S: tower::Service<R, Response = Response<B>>,
    S::Future: Send + 'static,
    B: axum::body::HttpBody<Data = Bytes> + Send + Unpin + 'static,
{
    type Response = Response<BusyBody<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let busy = Busy::new(self.conn.clone());
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            let conn = busy.0.clone();
            conn.bodies.fetch_add(1, Ordering::SeqCst);
            *conn.body_polled.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            Ok(resp.map(|body| BusyBody {
                inner: body,
                busy,
                producing: false,
            }))
        })
    }
}

/// A response body that keeps its connection busy until it is done.
pub struct BusyBody<B> {
    inner: B,
    busy: Busy,
    /// The last poll found the server's side not ready.
    producing: bool,
}

impl<B> BusyBody<B> {
    fn set_producing(&mut self, producing: bool) {
        if producing != self.producing {
            let c = &self.busy.0.bodies_producing;
            if producing {
                c.fetch_add(1, Ordering::SeqCst);
            } else {
                c.fetch_sub(1, Ordering::SeqCst);
            }
            self.producing = producing;
        }
    }
}

impl<B> Drop for BusyBody<B> {
    fn drop(&mut self) {
        self.set_producing(false);
        self.busy.0.bodies.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<B> axum::body::HttpBody for BusyBody<B>
where
    B: axum::body::HttpBody<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        // Asked for a frame: the client is taking the response.
        *this
            .busy
            .0
            .body_polled
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Instant::now();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        this.set_producing(polled.is_pending());
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(max: usize) -> Arc<Connections> {
        Connections::new(
            ConnectionLimits {
                max_connections: max,
                ..ConnectionLimits::default()
            },
            Arc::default(),
        )
    }

    #[tokio::test]
    async fn over_the_limit_the_longest_waiting_idle_connection_goes() {
        let conns = tracker(3);
        let t0 = Instant::now();
        let a = conns.admit(t0).unwrap();
        let b = conns.admit(t0 + Duration::from_secs(1)).unwrap();
        let c = conns.admit(t0 + Duration::from_secs(2)).unwrap();
        let _busy_a = Busy::new(a.clone());
        // a is busy, b waited longest: b is shed.
        let d = conns.admit(t0 + Duration::from_secs(3)).unwrap();
        assert!(!a.killed.load(Ordering::SeqCst));
        assert!(b.killed.load(Ordering::SeqCst));
        assert!(!c.killed.load(Ordering::SeqCst));
        let _busy_c = Busy::new(c.clone());
        let _busy_d = Busy::new(d.clone());
        // Everyone busy: refused.
        assert!(conns.admit(t0 + Duration::from_secs(4)).is_none());
        assert_eq!(conns.stats.shed.load(Ordering::Relaxed), 1);
        assert_eq!(conns.stats.refused.load(Ordering::Relaxed), 1);
        assert_eq!(conns.stats.open.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn the_refusal_is_well_formed() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["errors"][0]["code"], "TOOMANYREQUESTS");
    }

    #[test]
    fn the_default_limit_follows_the_descriptor_limit() {
        let n = default_max_connections();
        assert!((16..=DEFAULT_MAX_CONNECTIONS).contains(&n), "{n}");
    }
}
