//! The HTTP server loop: what `axum::serve` does, plus the limits an open port needs.
//!
//! - **Header timeout** (hyper's, with a timer): a client has `header_timeout` to send a request's
//!   headers, counted from the connection opening or from the previous response (so it is also how long
//!   an idle keep-alive connection is kept). Slowloris connections end there.
//! - **Body timeout**: a request body must have arrived `body_timeout` after its headers; a body that
//!   trickles in fails with `408` (see [`DeadlineBody`] and [`body_error`]).
//! - **Declared size**: a `Content-Length` over `max_body_bytes` is answered `413` before any of the
//!   body is read.
//! - **Connection cap**: at most `max_connections` connections are served at once; past that the loop
//!   stops accepting (the kernel's backlog holds newcomers) instead of running out of descriptors.
//! - **Graceful close** ([`EdgeStream`]): when the server closes a connection whose client is still
//!   sending (an answer given before an upload was read: 401, 404, 413), it shuts its sending side and
//!   reads and discards what still arrives — up to four times `max_body_bytes` (a refused upload may be
//!   larger than the limit), for at most `body_timeout`, until the client closes or goes quiet for 2 s —
//!   so the client reads the answer instead of a connection reset.
//! - **Every error in the error format**: hyper answers malformed heads itself (400, 414 URI too long,
//!   431 headers too large) with an empty body; [`EdgeStream`] replaces those answers with the same
//!   status and a Dropbox-Sign-format JSON body.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::CONTENT_LENGTH;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::error::ApiError;

/// The limits of the HTTP edge.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Time allowed for a request's headers, from the connection opening or the previous response.
    pub header_timeout: Duration,
    /// Time allowed for a request's body, from its headers.
    pub body_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Largest request body (a larger declared `Content-Length` is refused up front).
    pub max_body_bytes: usize,
    /// How long a graceful shutdown waits for connections in flight.
    pub shutdown_grace: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(120),
            max_connections: 1024,
            max_body_bytes: 100 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and lets the
/// connections in flight finish (at most `shutdown_grace`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    // HTTP/2 (prior knowledge) has no header timer: a peer that stops answering pings is dropped.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    if !is_connection_error(&error) {
                        // Out of descriptors or memory: wait, or the loop would spin.
                        tracing::error!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // An upload refused with 413 may be larger than the limit: discard up to four times the limit.
        let linger_bytes = limits.max_body_bytes.saturating_mul(4);
        let io = TokioIo::new(EdgeStream::new(stream, limits.header_timeout, linger_bytes, limits.body_timeout));
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let router = router.clone();
            async move {
                if let Some(refusal) = refuse_declared_size(&request, limits.max_body_bytes) {
                    return Ok::<_, std::convert::Infallible>(refusal);
                }
                let (mut parts, body) = request.into_parts();
                parts.extensions.insert(ConnectInfo(remote));
                let body = if body.is_end_stream() {
                    Body::empty()
                } else {
                    Body::new(DeadlineBody::new(body, Instant::now() + limits.body_timeout))
                };
                router.oneshot(Request::from_parts(parts, body)).await
            }
        });
        let connection = builder.serve_connection_with_upgrades(io, service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%remote, error = %error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?limits.shutdown_grace, "connections still open after the shutdown grace period");
    }
    Ok(())
}

/// Errors of one incoming connection, not of the listener: accept the next one at once.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

fn refuse_declared_size(request: &Request<Incoming>, max: usize) -> Option<axum::response::Response> {
    let declared = request.headers().get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse::<u64>().ok()?;
    (declared > max as u64).then(|| {
        tracing::info!(declared, limit = max, path = %request.uri().path(), "request refused: body over the limit");
        let mut response = too_large(max).into_response();
        response.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
        response
    })
}

/// `413`: the body is (or says it is) larger than the limit.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("The request body is larger than the limit of {limit} bytes."),
    )
}

/// The error a request body fails with when it has not fully arrived by its deadline.
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// The answer for a body that could not be read: too large (`413`), too slow (`408`), or cut off.
pub fn body_error(error: &(dyn std::error::Error + 'static), limit: usize) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return too_large(limit);
        }
        if e.is::<BodyTimeout>() {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "The request body did not arrive in time; send it faster or in a smaller request.",
            );
        }
        cause = e.source();
    }
    ApiError::bad_request(format!("The request body could not be read: {error}"))
}

/// A request body that fails with [`BodyTimeout`] once its deadline passes before it ends.
pub struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    pub fn new(inner: Incoming, deadline: Instant) -> Self {
        Self { inner, deadline, sleep: None }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        // The timer is made only when the body keeps the reader waiting.
        let deadline = this.deadline;
        let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(BodyTimeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How long a closing connection waits for more of an unread upload before it closes anyway.
const LINGER_IDLE: Duration = Duration::from_secs(2);

/// A TCP connection with a graceful close and error answers in the error format (see the module docs).
pub struct EdgeStream {
    inner: TcpStream,
    /// Until the first byte arrives: hyper's header timer starts only once the protocol is known, so
    /// a connection that sends nothing at all is timed here.
    first_byte: Option<Pin<Box<Sleep>>>,
    /// Bytes still to send in place of an answer hyper wrote.
    pending: Option<(Bytes, usize)>,
    linger: Linger,
    linger_max_bytes: usize,
    linger_timeout: Duration,
}

enum Linger {
    Open,
    /// The sending side is shut; reading and discarding until the client closes, goes quiet for
    /// [`LINGER_IDLE`], or `until` passes.
    Draining {
        discarded: usize,
        idle: Pin<Box<Sleep>>,
        until: Instant,
    },
    Done,
}

impl EdgeStream {
    pub fn new(
        inner: TcpStream,
        first_byte_timeout: Duration,
        linger_max_bytes: usize,
        linger_timeout: Duration,
    ) -> Self {
        Self {
            inner,
            first_byte: Some(Box::pin(tokio::time::sleep(first_byte_timeout))),
            pending: None,
            linger: Linger::Open,
            linger_max_bytes,
            linger_timeout,
        }
    }

    fn poll_send_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, sent)) = &mut self.pending {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent += n;
            if *sent >= bytes.len() {
                self.pending = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl EdgeStream {
    /// Sends `replacement` in place of the `written` bytes hyper handed over, which count as sent; the
    /// replacement goes out now or on the next flush.
    fn send_instead(&mut self, cx: &mut Context<'_>, replacement: Bytes, written: usize) -> Poll<io::Result<usize>> {
        self.pending = Some((replacement, 0));
        let _ = self.poll_send_pending(cx)?;
        Poll::Ready(Ok(written))
    }
}

/// hyper's own answer to a head it could not parse: `HTTP/1.1 400|414|431 …` with `content-length: 0`
/// and nothing else to follow. Countersign's handlers never answer 4xx without a body.
fn replacement_for(head: &[u8]) -> Option<Bytes> {
    const PREFIX: &[u8] = b"HTTP/1.1 ";
    if head.len() < PREFIX.len() + 4 || !head.starts_with(PREFIX) || !head.ends_with(b"\r\n\r\n") || head.len() > 512 {
        return None;
    }
    let (status, message) = match &head[PREFIX.len()..PREFIX.len() + 4] {
        b"400 " => (StatusCode::BAD_REQUEST, "The request could not be parsed as HTTP."),
        b"414 " => (StatusCode::URI_TOO_LONG, "The request URI is too long."),
        b"431 " => (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "The request headers are too large."),
        _ => return None,
    };
    let lower = head.to_ascii_lowercase();
    if !lower.windows(19).any(|w| w == b"content-length: 0\r\n") {
        return None;
    }
    let name = match status {
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "request_header_fields_too_large",
        _ => "bad_request",
    };
    let body = serde_json::json!({"error": {"error_msg": message, "error_name": name}}).to_string();
    let reason = status.canonical_reason().unwrap_or("");
    Some(Bytes::from(format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        status.as_u16(),
        body.len()
    )))
}

impl AsyncRead for EdgeStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.first_byte = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let expired = this.first_byte.as_mut().is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if expired {
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no request arrived in time")))
                } else {
                    Poll::Pending
                }
            }
            other => other,
        }
    }
}

impl AsyncWrite for EdgeStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_send_pending(cx))?;
        if let Some(replacement) = replacement_for(buf) {
            return this.send_instead(cx, replacement, buf.len());
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_send_pending(cx))?;
        let mut non_empty = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (non_empty.next(), non_empty.next())
            && let Some(replacement) = replacement_for(only)
        {
            return this.send_instead(cx, replacement, only.len());
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_send_pending(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    /// Shuts the sending side, then reads and discards until the client closes (or the limits).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.linger {
                Linger::Open => {
                    ready!(this.poll_send_pending(cx))?;
                    ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                    let until = Instant::now() + this.linger_timeout;
                    let idle = Box::pin(tokio::time::sleep_until(until.min(Instant::now() + LINGER_IDLE)));
                    this.linger = Linger::Draining { discarded: 0, idle, until };
                }
                Linger::Draining { discarded, idle, until } => {
                    let mut scratch = [0u8; 8192];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                            *discarded += buf.filled().len();
                            if *discarded > this.linger_max_bytes {
                                this.linger = Linger::Done;
                            } else {
                                idle.as_mut().reset((*until).min(Instant::now() + LINGER_IDLE));
                            }
                        }
                        // End of stream or an error: the client is gone.
                        Poll::Ready(_) => this.linger = Linger::Done,
                        Poll::Pending => {
                            ready!(idle.as_mut().poll(cx));
                            this.linger = Linger::Done;
                        }
                    }
                }
                Linger::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_parse_error_answers_are_replaced() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let replaced = replacement_for(hyper_431).unwrap();
        let text = std::str::from_utf8(&replaced).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 "));
        assert!(text.ends_with(r#"{"error":{"error_msg":"The request headers are too large.","error_name":"request_header_fields_too_large"}}"#), "{text}");
        assert!(replacement_for(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n").is_some());
        // An answer with a body, another status, or a partial head is left alone.
        assert!(replacement_for(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 52\r\n\r\n").is_none());
        assert!(replacement_for(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(replacement_for(b"HTTP/1.1 431 Too Large\r\ncontent-length: 0\r\n").is_none());
    }
}
