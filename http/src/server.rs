//! The server loop: accept with a pause after errors, cap connections, serve
//! each on hyper-util's auto (HTTP/1.1 or HTTP/2) connection, close idle ones,
//! stop gracefully. See the crate documentation for what each limit is for.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::accept::{Accept, AcceptBackoff, CapState};
use crate::Body;

/// Answers requests. One value serves every connection of a server.
pub trait Handler: Send + Sync + 'static {
    /// The answer to `req` from `peer`.
    fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send;

    /// A request from `peer` was not HTTP (hyper already answered `400`,
    /// `414` or `431` where it could, and closed the connection). Called once
    /// per such connection; by default does nothing.
    fn malformed(&self, peer: SocketAddr, error: &hyper::Error) {
        let _ = (peer, error);
    }
}

/// Limits and timers of one server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Name in log lines (`metrics`, `warning page`).
    pub name: &'static str,
    /// Connections served at once over all listeners; more are closed at once.
    pub max_connections: usize,
    /// Time a client has to send a complete HTTP/1 request head, counted from
    /// the connection's start or the end of the previous answer (so it is
    /// also how long an idle HTTP/1 keep-alive connection stays open).
    pub header_read_timeout: Duration,
    /// A connection on which no byte moved for this long is closed gracefully
    /// (HTTP/2 connections, and clients that never send a byte).
    pub idle_timeout: Duration,
    /// Time a connection gets to finish once asked to close (stop signal or
    /// idle); then it is dropped.
    pub shutdown_grace: Duration,
    /// Largest HTTP/1 read buffer, which bounds a request head (`431` past it)
    /// and the HTTP/2 header list.
    pub max_header_bytes: usize,
    /// HTTP/2 streams open at once on one connection.
    pub max_streams: u32,
}

impl ServerConfig {
    /// Defaults fit for a small public server: 1024 connections, 10 s for a
    /// request head, 60 s idle, 5 s grace, 16 KiB of head, 64 streams.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
            max_header_bytes: 16 * 1024,
            max_streams: 64,
        }
    }
}

/// Counters of one server, readable while it runs (for metrics).
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections admitted.
    accepted: AtomicU64,
    /// Connections closed at once because the cap was reached.
    refused: AtomicU64,
    /// Failed `accept` calls.
    accept_errors: AtomicU64,
    /// Connections that sent something that is not HTTP.
    malformed: AtomicU64,
    /// Connections open now.
    open: AtomicU64,
}

impl ServerStats {
    /// Connections admitted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
    /// Connections closed at once because the cap was reached.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
    /// Failed `accept` calls.
    pub fn accept_errors(&self) -> u64 {
        self.accept_errors.load(Ordering::Relaxed)
    }
    /// Connections that sent something that is not HTTP.
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }
    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }
}

/// What every accept loop and connection of one server shares.
struct Shared<H> {
    /// The request handler.
    handler: Arc<H>,
    /// Limits.
    config: ServerConfig,
    /// Connection slots.
    slots: Arc<Semaphore>,
    /// Counters.
    stats: Arc<ServerStats>,
    /// hyper's connection settings.
    builder: auto::Builder<TokioExecutor>,
}

/// Serves `handler` on every listener until `stop` turns true or its sender
/// is dropped; returns once every connection has finished or been dropped.
pub async fn serve<L: Accept, H: Handler>(
    listeners: Vec<L>,
    handler: H,
    config: ServerConfig,
    stats: Arc<ServerStats>,
    stop: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(config.max_streams)
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX));
    let shared = Arc::new(Shared {
        handler: Arc::new(handler),
        slots: Arc::new(Semaphore::new(config.max_connections)),
        config,
        stats,
        builder,
    });
    let mut loops = JoinSet::new();
    for listener in listeners {
        loops.spawn(accept_loop(listener, shared.clone(), stop.clone()));
    }
    while loops.join_next().await.is_some() {}
}

/// Resolves once `stop` is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Accepts on one listener until stopped, then waits for its connections.
async fn accept_loop<L: Accept, H: Handler>(
    mut listener: L,
    shared: Arc<Shared<H>>,
    mut stop: watch::Receiver<bool>,
) {
    let name = shared.config.name;
    let mut backoff = AcceptBackoff::new();
    let mut cap = CapState::new();
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            r = listener.accept() => r,
        };
        let (io, peer) = match accepted {
            Ok(x) => x,
            Err(error) => {
                shared.stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                let failure = backoff.failed(error.kind());
                if failure.log {
                    warn!(server = name, %error, pause_ms = failure.pause.as_millis() as u64,
                        "accept failed; pausing before each retry (further failures of this kind are only counted)");
                }
                if !failure.pause.is_zero() {
                    tokio::select! {
                        () = tokio::time::sleep(failure.pause) => {}
                        () = stopped(&mut stop) => break,
                    }
                }
                continue;
            }
        };
        if let Some(failures) = backoff.succeeded() {
            info!(server = name, failures, "accepting connections again");
        }
        match shared.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                if let Some(refused) = cap.admitted() {
                    info!(
                        server = name,
                        refused,
                        "below the connection cap again; connections were refused while at it"
                    );
                }
                shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
                conns.spawn(connection(io, peer, shared.clone(), stop.clone(), permit));
            }
            Err(_) => {
                shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                if cap.refused() {
                    warn!(
                        server = name,
                        cap = shared.config.max_connections,
                        "connection cap reached; further connections are closed at once and counted"
                    );
                }
                drop(io);
            }
        }
    }
    // Each connection saw the same stop signal and closes within the grace;
    // the extra second only covers scheduling.
    let bound = shared.config.shutdown_grace + Duration::from_secs(1);
    let drained =
        tokio::time::timeout(bound, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        conns.abort_all();
    }
}

/// Serves one connection until it ends, is idle too long, or is stopped.
async fn connection<I, H>(
    io: I,
    peer: SocketAddr,
    shared: Arc<Shared<H>>,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Handler,
{
    let stats = shared.stats.clone();
    stats.open.fetch_add(1, Ordering::Relaxed);
    let _open = OpenGuard(&stats);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: io,
        activity: activity.clone(),
    });
    let handler = shared.handler.clone();
    let service = service_fn(move |req| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.handle(req, peer).await) }
    });
    let conn = shared.builder.serve_connection(io, service);
    tokio::pin!(conn);
    let config = &shared.config;
    let mut deadline: Option<Instant> = None;
    let result = loop {
        tokio::select! {
            r = conn.as_mut() => break r,
            () = stopped(&mut stop), if deadline.is_none() => {
                conn.as_mut().graceful_shutdown();
                deadline = Some(Instant::now() + config.shutdown_grace);
            }
            () = activity.idle(config.idle_timeout), if deadline.is_none() => {
                debug!(server = config.name, "closing an idle connection");
                conn.as_mut().graceful_shutdown();
                deadline = Some(Instant::now() + config.shutdown_grace);
            }
            () = sleep_until(deadline) => {
                debug!(server = config.name, "connection dropped: it did not finish in time");
                return;
            }
        }
    };
    if let Err(error) = result {
        match error.downcast_ref::<hyper::Error>() {
            Some(e) if e.is_parse() => {
                stats.malformed.fetch_add(1, Ordering::Relaxed);
                shared.handler.malformed(peer, e);
            }
            _ => debug!(server = config.name, %error, "connection ended with an error"),
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Decrements the open-connection gauge when a connection task ends, however.
struct OpenGuard<'a>(&'a ServerStats);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// When a connection last moved a byte.
struct Activity {
    /// The connection's start.
    base: Instant,
    /// Milliseconds from `base` to the last read or write.
    last_ms: AtomicU64,
}

impl Activity {
    /// Active now.
    fn new() -> Self {
        Self {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Records activity now.
    fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Resolves once nothing has moved for `limit`.
    async fn idle(&self, limit: Duration) {
        loop {
            let last = self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let until = last + limit;
            if Instant::now() >= until {
                return;
            }
            tokio::time::sleep_until(until).await;
        }
    }
}

/// A stream that records when it last moved a byte.
struct Tracked<I> {
    /// The connection.
    inner: I,
    /// Shared with the idle watchdog.
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
