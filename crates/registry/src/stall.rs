//! Request bodies that stop arriving. A slow upload is fine while bytes keep coming; a body
//! from which nothing arrived for the stall timeout, while the server waited for it, fails
//! with an error the handler reports (the connection is then closed), so a client cannot
//! hold an upload — its session lock, buffers and connection — open by going silent.
//! Only time spent waiting for the client counts: a handler that is busy before it reads
//! does not use up the client's allowance.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use bytes::Bytes;
use tokio::time::{Instant, Sleep};

/// The error a stalled body ends with.
#[derive(Debug, thiserror::Error)]
#[error("no request body bytes arrived for {0:?}")]
pub(crate) struct Stalled(pub Duration);

pub(crate) struct StallBody {
    inner: Body,
    timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl StallBody {
    /// `body`, failing after `timeout` without a byte.
    pub(crate) fn wrap(body: Body, timeout: Duration) -> Body {
        if timeout.is_zero() {
            return body;
        }
        Body::new(StallBody {
            inner: body,
            timeout,
            timer: None,
        })
    }
}

impl HttpBody for StallBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.timer = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                // The clock starts at the first wait after the last frame.
                let timer = this.timer.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(Instant::now() + timeout))
                });
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.timer = None;
                        Poll::Ready(Some(Err(Box::new(Stalled(timeout)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
