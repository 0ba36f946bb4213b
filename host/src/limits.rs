//! What one client or one guest may cost the host, and the request body that enforces it.
//!
//! Every limit is configuration ([`Limits`], `cp-host serve --help`); `docs/HOST.md` lists
//! each one with its default and its counterpart in Spin.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

const MIB: u64 = 1024 * 1024;

/// Resource limits of a running host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted, in bytes. A larger `Content-Length` is answered 413
    /// before the component runs; a streamed body is cut off (and answered 413) as soon as it
    /// passes the limit, so the host never holds more than this much of one body.
    pub max_request_body_bytes: u64,
    /// Largest linear memory of one component instance, in bytes. A guest that allocates
    /// beyond it fails its allocation (and usually traps: a 500).
    pub max_instance_memory_bytes: u64,
    /// Wall-clock time one request may keep its component running. A guest still running
    /// at the deadline (an endless loop included) is stopped and the request answered 500.
    pub request_timeout: Duration,
    /// Time a client has to send a request's headers (on HTTP/1.1 also the idle time allowed
    /// between keep-alive requests). The connection is closed when it passes.
    pub header_read_timeout: Duration,
    /// Time a client has, once the headers are in, to send the whole body (408 after it).
    pub body_read_timeout: Duration,
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // Four times the 1 MiB every API component accepts, so a component still
            // answers a moderately oversized body with its own 413 envelope.
            max_request_body_bytes: 4 * MIB,
            // argon2 password hashing needs 19 MiB; JSON of a 4 MiB body a few times that.
            max_instance_memory_bytes: 128 * MIB,
            request_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            // The pooling allocator has room for 1000 instances.
            max_connections: 1000,
        }
    }
}

/// Parses `30s`, `1500ms`, `2m` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("expected a duration like 30s or 500ms, got {text:?}"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(format!(
            "unknown unit {unit:?} in {text:?} (use ms, s or m)"
        )),
    }
}

/// Parses a byte count: `4194304`, `512KiB`, `4MiB`, `1GiB` (also `K`, `M`, `G`).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("expected a size like 4MiB or 1048576, got {text:?}"))?;
    let factor = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1024,
        "M" | "MiB" => MIB,
        "G" | "GiB" => 1024 * MIB,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use KiB, MiB or GiB)"
            ))
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Why a request body could not be read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFailure {
    /// It passed `max_request_body_bytes`.
    TooLarge,
    /// It did not arrive within `body_read_timeout`.
    TimedOut,
    /// The client ended or broke it early (fewer bytes than its `Content-Length`, a bad chunk).
    Broken,
}

/// Where a [`GuardedBody`] records its failure, for the request handler to read.
pub(crate) type BodyOutcome = Arc<OnceLock<BodyFailure>>;

/// A request body read under the size limit and the read deadline.
///
/// On a failure it records why in its [`BodyOutcome`] before handing the guest an error, so
/// the handler answers with a clean status instead of whatever the guest makes of the error
/// (spin-sdk would put the host's error text into a 500).
pub(crate) struct GuardedBody {
    inner: Incoming,
    received: u64,
    limit: u64,
    deadline: Pin<Box<Sleep>>,
    outcome: BodyOutcome,
    failed: bool,
}

impl GuardedBody {
    pub(crate) fn new(inner: Incoming, limits: &Limits, outcome: BodyOutcome) -> Self {
        Self {
            inner,
            received: 0,
            limit: limits.max_request_body_bytes,
            deadline: Box::pin(tokio::time::sleep(limits.body_read_timeout)),
            outcome,
            failed: false,
        }
    }

    fn fail(&mut self, why: BodyFailure) -> wasmtime_wasi_http::Error {
        self.failed = true;
        let _ = self.outcome.set(why);
        match why {
            BodyFailure::TooLarge => {
                wasmtime_wasi_http::Error::HttpRequestBodySize(Some(self.received))
            }
            BodyFailure::TimedOut => wasmtime_wasi_http::Error::ConnectionReadTimeout,
            BodyFailure::Broken => wasmtime_wasi_http::Error::HttpProtocolError,
        }
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.received = self.received.saturating_add(data.len() as u64);
                    if self.received > self.limit {
                        return Poll::Ready(Some(Err(self.fail(BodyFailure::TooLarge))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(_))) => Poll::Ready(Some(Err(self.fail(BodyFailure::Broken)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if self.deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(self.fail(BodyFailure::TimedOut))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The HTTP/2 connection preface; its length is what the protocol detection reads.
const H2_PREFACE_LEN: usize = 24;

/// A connection whose first bytes must arrive within a deadline.
///
/// hyper-util's HTTP/1-or-2 detection reads the first bytes before hyper's own header
/// timeout starts, so without this a client that connects and sends nothing (or one byte)
/// would hold its connection slot forever.
pub(crate) struct FirstBytesDeadline<T> {
    inner: T,
    read: usize,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<T> FirstBytesDeadline<T> {
    pub(crate) fn new(inner: T, timeout: Duration) -> Self {
        Self {
            inner,
            read: 0,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FirstBytesDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                self.read += buf.filled().len() - before;
                if self.read >= H2_PREFACE_LEN {
                    self.deadline = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let expired = self
                    .deadline
                    .as_mut()
                    .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if expired {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client sent no request in time",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FirstBytesDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn durations_and_sizes_parse() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5h").is_err());

        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("4MiB"), Ok(4 * MIB));
        assert_eq!(parse_bytes("512K"), Ok(512 * 1024));
        assert_eq!(parse_bytes("1GiB"), Ok(1024 * MIB));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("99999999999999999999").is_err());
        assert!(parse_bytes("18446744073709551615GiB").is_err());
    }

    #[test]
    fn defaults_leave_room_for_the_components_own_limit() {
        let limits = Limits::default();
        // The API components answer bodies over 1 MiB with their own 413 envelope.
        assert!(limits.max_request_body_bytes > 2 * MIB);
        assert!(limits.max_instance_memory_bytes >= 64 * MIB);
    }
}
