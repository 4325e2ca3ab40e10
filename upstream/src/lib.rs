//! Upstream resolvers: transports, health and selection.
//!
//! ```text
//!  Group::exchange(query, deadline)
//!     │  order = selection policy over usable upstreams (down ones last)
//!     ▼
//!  Upstream::exchange ──UDP (TC ⇒ TCP)──┐
//!                     ──TCP pipelined───┤
//!                     ──DoT pipelined───┼──▶ validated answer + Outcome ──▶ Health
//!                     ──DoH, h2 streams─┘
//! ```
//!
//! The transport is a property of each upstream, not of the group: one
//! forward zone may mix plain, DoT and DoH upstreams, and health checks,
//! selection and failover treat them alike. A query whose upstream fails
//! (timeout, network, TLS or HTTP error) is tried on the next upstream in
//! order while the client's deadline allows. Each upstream keeps its
//! TCP/TLS connection (for DoH, its HTTP/2 connection) open and reuses it
//! for concurrent queries; a failed connect backs off exponentially
//! (100 ms doubling to 10 s) so a dead upstream costs nothing per query.
//! Health transitions are logged once per change, never per query.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod forward;
pub mod health;
pub mod https;
pub mod metrics;
pub(crate) mod stream;
pub mod tls;
pub mod udp;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;

pub use forward::ForwardTable;
use health::{Health, HealthParams, Outcome, State};
use https::HttpsConn;
pub use metrics::{UpstreamFamily, UpstreamMetrics, UPSTREAM_REASONS};
use sekisho_wire::{self as wire, HEADER_LEN};
use stream::StreamConn;

/// How queries reach an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP, with TCP when the answer is truncated.
    Udp,
    /// TCP only.
    Tcp,
    /// DNS over TLS (RFC 7858).
    Tls,
    /// DNS over HTTPS (RFC 8484): HTTP/2 POSTs over TLS.
    Https,
}

impl Transport {
    /// Bounded label for status output and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Https => "https",
        }
    }
}

/// Why an HTTP exchange with a DoH upstream failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The TLS handshake did not settle on HTTP/2 (ALPN `h2`).
    #[error("the server did not agree to HTTP/2 (ALPN h2)")]
    NoH2,
    /// HTTP/2 failed on the connection or the stream.
    #[error("HTTP/2: {0}")]
    Protocol(#[source] hyper::Error),
    /// The answer's status was not 200.
    #[error("HTTP status {status}")]
    Status {
        /// The status code received.
        status: u16,
    },
    /// The answer was not `application/dns-message`.
    #[error("content type {content_type:?}, not application/dns-message")]
    ContentType {
        /// The `Content-Type` received (empty when none).
        content_type: String,
    },
}

/// Why an exchange with an upstream failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// A socket error.
    #[error("network error: {0}")]
    Network(#[from] std::io::Error),
    /// The TLS handshake failed (includes certificate name mismatch).
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    /// The DoH upstream failed at the HTTP layer (status, content type, h2).
    #[error("DNS over HTTPS: {0}")]
    Http(#[from] HttpError),
    /// The connection closed before the answer came.
    #[error("connection closed")]
    Closed,
    /// The answer did not match the question or could not be read.
    #[error("malformed or mismatched answer")]
    BadResponse,
    /// Too many queries in flight on the connection, or reconnect backoff.
    #[error("upstream busy or backing off")]
    Busy,
    /// No upstream could be tried before the deadline.
    #[error("no upstream available")]
    NoUpstream,
    /// The upstream's spec lacks what its transport needs (TLS settings
    /// for DoT and DoH, the URL for DoH); nothing is sent rather than sent
    /// in clear or to a guessed URL.
    #[error("{transport} upstream without {missing}")]
    Incomplete {
        /// The transport (`tls`, `https`).
        transport: &'static str,
        /// What is missing.
        missing: &'static str,
    },
}

impl UpstreamError {
    /// Bounded metric label (one of [`UPSTREAM_REASONS`]).
    pub fn as_label(&self) -> &'static str {
        match self {
            UpstreamError::Timeout | UpstreamError::NoUpstream => "timeout",
            UpstreamError::Network(_) => "network",
            UpstreamError::Tls(_)
            | UpstreamError::Http(HttpError::NoH2)
            | UpstreamError::Incomplete { .. } => "tls",
            UpstreamError::Http(_) => "http",
            UpstreamError::Closed => "closed",
            UpstreamError::BadResponse => "bad_response",
            UpstreamError::Busy => "busy",
        }
    }

    /// How the health checker sees this failure.
    fn outcome(&self) -> Outcome {
        match self {
            UpstreamError::Timeout => Outcome::Timeout,
            _ => Outcome::NetworkError,
        }
    }
}

/// Static description of one upstream.
#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    /// Address and port.
    pub addr: SocketAddr,
    /// Transport.
    pub transport: Transport,
    /// TLS settings (DoT and DoH): client config and the name to verify.
    /// For DoH the config must offer ALPN `h2` ([`tls::with_alpn_h2`]).
    pub tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    /// The URL queries are POSTed to (DoH only; [`https::doh_uri`]).
    pub doh_uri: Option<http::Uri>,
    /// Label for logs and metrics, as configured (`ip@port#name`,
    /// `https://ip:port/path#name`).
    pub label: String,
}

/// Reconnect backoff state for stream transports.
#[derive(Debug, Default)]
struct Backoff {
    /// Connect failures in a row.
    failures: u32,
    /// No new connect before this.
    until: Option<Instant>,
}

/// An open connection to an upstream: DNS over TCP/TLS, or HTTP/2.
#[derive(Debug, Clone)]
enum Conn {
    /// Length-framed DNS over TCP or TLS, pipelined.
    Stream(Arc<StreamConn>),
    /// HTTP/2 over TLS, one stream per query.
    Https(Arc<HttpsConn>),
}

impl Conn {
    /// False once the connection has failed or been closed.
    fn is_alive(&self) -> bool {
        match self {
            Conn::Stream(c) => c.is_alive(),
            Conn::Https(c) => c.is_alive(),
        }
    }

    /// One query on this connection.
    async fn exchange(&self, query: &[u8]) -> Result<Vec<u8>, UpstreamError> {
        match self {
            Conn::Stream(c) => c.exchange(query).await,
            Conn::Https(c) => c.exchange(query).await,
        }
    }
}

/// Sees every query sent to an upstream and its answer: how dnstap's
/// forwarder frames are written without this crate knowing dnstap.
/// Called on the query's task; an implementation must not block.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// `query` is about to go to `spec`'s server, at `sent`.
    fn query(&self, spec: &UpstreamSpec, query: &[u8], sent: std::time::SystemTime);
    /// `answer` came back for `query`, sent at `sent`.
    fn answer(&self, spec: &UpstreamSpec, query: &[u8], answer: &[u8], sent: std::time::SystemTime);
}

/// One upstream resolver.
#[derive(Debug)]
pub struct Upstream {
    /// What and where.
    pub spec: UpstreamSpec,
    /// Open TCP/TLS/HTTP2 connection, reused by all queries.
    conn: tokio::sync::Mutex<Option<Conn>>,
    /// Connect backoff.
    backoff: Mutex<Backoff>,
    /// Queries in flight (least-outstanding selection).
    outstanding: AtomicUsize,
    /// Health state machine.
    health: Mutex<Health>,
    /// Metric handles.
    metrics: UpstreamMetrics,
    /// Sees queries and answers (dnstap), when set.
    observer: Option<Arc<dyn Observer>>,
    /// The runtime the upstream was made on, where its connections live.
    home: Option<tokio::runtime::Handle>,
}

/// Decrements the outstanding count when a query ends, however it ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Upstream {
    /// A new upstream, initially up.
    pub fn new(spec: UpstreamSpec, health: HealthParams, metrics: UpstreamMetrics) -> Upstream {
        Upstream {
            spec,
            conn: tokio::sync::Mutex::new(None),
            backoff: Mutex::new(Backoff::default()),
            outstanding: AtomicUsize::new(0),
            health: Mutex::new(Health::new(health, Instant::now())),
            metrics,
            observer: None,
            home: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// The upstream with `observer` told of every query and answer.
    pub fn with_observer(self, observer: Option<Arc<dyn Observer>>) -> Upstream {
        Upstream { observer, ..self }
    }

    /// Current health state.
    pub fn state(&self) -> State {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state()
    }

    /// Queries in flight now.
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Send `query` and wait up to `timeout` for a matching answer; the
    /// outcome feeds the health checker.
    pub async fn exchange(
        &self,
        query: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, UpstreamError> {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        let _in_flight = InFlight(&self.outstanding);
        self.metrics.queries.inc();
        let started = Instant::now();
        let sent = self.observer.as_ref().map(|o| {
            let sent = std::time::SystemTime::now();
            o.query(&self.spec, query, sent);
            sent
        });
        let result = udp::within(timeout, self.exchange_inner(query))
            .await
            .unwrap_or(Err(UpstreamError::Timeout));
        if let (Some(o), Some(sent), Ok(answer)) = (&self.observer, sent, &result) {
            o.answer(&self.spec, query, answer, sent);
        }
        let outcome = match &result {
            Ok(answer) if answer[3] & 0x0f == wire::rcode::SERVFAIL => Outcome::ServFail,
            Ok(_) => Outcome::Success,
            Err(e) => e.outcome(),
        };
        match &result {
            Ok(_) => self
                .metrics
                .duration
                .observe(started.elapsed().as_secs_f64()),
            Err(e) => {
                if let Some(i) = UPSTREAM_REASONS.iter().position(|r| *r == e.as_label()) {
                    self.metrics.errors[i].inc();
                }
            }
        }
        let transition = self
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(outcome, Instant::now());
        if let Some(t) = transition {
            self.log_transition(t.from, t.to, result.as_ref().err());
        }
        result
    }

    /// The exchange without timeout and bookkeeping.
    ///
    /// The stream exchange is boxed: its future (a connection's set-up, TLS and
    /// HTTP/2 among it) is about 9 KB, and held inline it made every future
    /// that can reach an upstream exchange as large, the recursor's lookups
    /// and the client query path among them, each of which is moved into a
    /// box once per query (one 9 KB copy each: a fifth of the instructions of
    /// an unsigned cache miss). Only the queries that go over a stream pay
    /// the allocation.
    async fn exchange_inner(&self, query: &[u8]) -> Result<Vec<u8>, UpstreamError> {
        match self.spec.transport {
            Transport::Udp => {
                let answer = self.exchange_udp(query).await?;
                if answer[2] & 0x02 != 0 {
                    // TC=1: ask again over TCP (RFC 7766 section 5).
                    return Box::pin(self.exchange_stream(query)).await;
                }
                Ok(answer)
            }
            Transport::Tcp | Transport::Tls | Transport::Https => {
                Box::pin(self.exchange_stream(query)).await
            }
        }
    }

    /// One UDP exchange from a fresh socket on a random port, with an ID
    /// of its own ([`udp::exchange`]).
    async fn exchange_udp(&self, query: &[u8]) -> Result<Vec<u8>, UpstreamError> {
        let mut q = query.to_vec();
        let id: u16 = rand::random();
        q[0..2].copy_from_slice(&id.to_be_bytes());
        Ok(udp::exchange(self.spec.addr, &q).await?)
    }

    /// One exchange over the shared TCP/TLS/HTTP2 connection; a connection
    /// that turns out dead is replaced once. Both kinds hand back the answer
    /// with the ID it travelled with (DoH: the query's, restored), so one
    /// check of the question serves both.
    async fn exchange_stream(&self, query: &[u8]) -> Result<Vec<u8>, UpstreamError> {
        for attempt in 0..2 {
            let conn = self.connection().await?;
            match conn.exchange(query).await {
                Ok(answer) => {
                    let mut q = query.to_vec();
                    q[0..2].copy_from_slice(&answer[0..2]);
                    return if matches_query(&answer, &q) {
                        Ok(answer)
                    } else {
                        Err(UpstreamError::BadResponse)
                    };
                }
                // The upstream closed an idle connection under us: reconnect once.
                Err(UpstreamError::Closed) if attempt == 0 => continue,
                Err(e) => return Err(e),
            }
        }
        Err(UpstreamError::Closed)
    }

    /// The open connection, or a new one (subject to backoff).
    async fn connection(&self) -> Result<Conn, UpstreamError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            if c.is_alive() {
                return Ok(c.clone());
            }
        }
        *slot = None;
        if let Some(until) = self.backoff.lock().unwrap_or_else(|p| p.into_inner()).until {
            if Instant::now() < until {
                return Err(UpstreamError::Busy);
            }
        }
        match self.connect_at_home().await {
            Ok(c) => {
                *self.backoff.lock().unwrap_or_else(|p| p.into_inner()) = Backoff::default();
                *slot = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                let mut b = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
                b.failures = b.failures.saturating_add(1);
                let delay =
                    Duration::from_millis(100u64 << b.failures.min(7)).min(Duration::from_secs(10));
                b.until = Some(Instant::now() + delay);
                Err(e)
            }
        }
    }

    /// [`connect`] on the runtime the upstream was made on (the daemon's
    /// main runtime). A connection is shared by every query to this upstream,
    /// whichever thread asks: its socket and its reader and writer tasks must
    /// not belong to a UDP worker's runtime, which serves only that worker's
    /// queries and ends with it.
    async fn connect_at_home(&self) -> Result<Conn, UpstreamError> {
        use tokio::runtime::Handle;
        match &self.home {
            Some(home) if Handle::try_current().map_or(true, |h| h.id() != home.id()) => {
                let spec = self.spec.clone();
                home.spawn(async move { connect(&spec).await })
                    .await
                    .unwrap_or(Err(UpstreamError::Closed))
            }
            _ => connect(&self.spec).await,
        }
    }

    /// Send one health probe; true when any well-formed answer came back
    /// (SERVFAIL included: the server is alive and answering).
    async fn probe(&self, query: &[u8], timeout: Duration) -> bool {
        self.metrics.queries.inc();
        matches!(
            udp::within(timeout, self.exchange_inner(query)).await,
            Some(Ok(_))
        )
    }

    /// Log a health change once, and mirror it in the `up` gauge.
    fn log_transition(&self, from: State, to: State, error: Option<&UpstreamError>) {
        self.metrics.up.set(i64::from(to != State::Down));
        let upstream = self.spec.label.as_str();
        match to {
            State::Down => tracing::warn!(upstream, from = from.as_str(), "upstream marked down"),
            State::Suspect => {
                tracing::warn!(
                    upstream,
                    error = error.map(|e| e.to_string()),
                    "upstream failing, probing it"
                )
            }
            State::Up => tracing::info!(upstream, from = from.as_str(), "upstream up"),
        }
    }
}

/// True when `answer` is a response to `query`: same ID, QR set, same
/// question (names compared case-insensitively).
pub fn matches_query(answer: &[u8], query: &[u8]) -> bool {
    if answer.len() < HEADER_LEN || query.len() < HEADER_LEN {
        return false;
    }
    if answer[0..2] != query[0..2] || answer[2] & 0x80 == 0 {
        return false;
    }
    let (Some(qa), Some(qq)) = (question(answer), question(query)) else {
        return false;
    };
    qa.eq_ignore_ascii_case(qq)
}

/// The question section of a message with QDCOUNT 1.
fn question(msg: &[u8]) -> Option<&[u8]> {
    if msg[4..6] != [0, 1] {
        return None;
    }
    let end = wire::skip_name(msg, HEADER_LEN)?;
    msg.get(HEADER_LEN..end + 4)
}

/// How a group picks the first upstream to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Config order: the first usable one.
    Ordered,
    /// Rotate through the usable ones.
    RoundRobin,
    /// The usable one with the fewest queries in flight.
    LeastOutstanding,
}

/// Upstreams serving one forward zone.
#[derive(Debug)]
pub struct Group {
    /// The upstreams, in config order.
    pub upstreams: Vec<Arc<Upstream>>,
    /// Selection policy.
    selection: Selection,
    /// Round-robin cursor.
    cursor: AtomicUsize,
    /// Per-attempt timeout.
    attempt_timeout: Duration,
    /// Probe query (wire, ID zero) and its timeout.
    probe: (Vec<u8>, Duration),
}

impl Group {
    /// A group; `probe_query` is the wire form of the health-check question.
    pub fn new(
        upstreams: Vec<Arc<Upstream>>,
        selection: Selection,
        attempt_timeout: Duration,
        probe_query: Vec<u8>,
        probe_timeout: Duration,
    ) -> Group {
        Group {
            upstreams,
            selection,
            cursor: AtomicUsize::new(0),
            attempt_timeout,
            probe: (probe_query, probe_timeout),
        }
    }

    /// The order in which to try upstreams for one query: usable ones by
    /// the selection policy, then the down ones as a last resort.
    pub fn order(&self) -> Vec<usize> {
        let n = self.upstreams.len();
        let mut usable: Vec<usize> = (0..n)
            .filter(|&i| self.upstreams[i].state() != State::Down)
            .collect();
        let down: Vec<usize> = (0..n)
            .filter(|&i| self.upstreams[i].state() == State::Down)
            .collect();
        match self.selection {
            Selection::Ordered => {}
            Selection::RoundRobin => {
                if !usable.is_empty() {
                    let k = self.cursor.fetch_add(1, Ordering::Relaxed) % usable.len();
                    usable.rotate_left(k);
                }
            }
            Selection::LeastOutstanding => usable.sort_by_key(|&i| self.upstreams[i].outstanding()),
        }
        usable.extend(down);
        usable
    }

    /// Send `query` to the upstreams in order until one answers or
    /// `deadline` passes. Returns the answer and the index of the upstream.
    pub async fn exchange(
        &self,
        query: &[u8],
        deadline: Instant,
    ) -> Result<(Vec<u8>, usize), UpstreamError> {
        let mut last = UpstreamError::NoUpstream;
        for i in self.order() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.upstreams[i]
                .exchange(query, left.min(self.attempt_timeout))
                .await
            {
                Ok(answer) => return Ok((answer, i)),
                Err(e) => {
                    tracing::debug!(upstream = %self.upstreams[i].spec.label, error = %e, "upstream attempt failed");
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// Run due health probes until `stop` fires. Lazy upstreams that keep
    /// answering are never probed.
    pub async fn run_probes(self: Arc<Self>, stop: tokio::sync::watch::Receiver<bool>) {
        let tick = Duration::from_millis(100);
        loop {
            if *stop.borrow() {
                return;
            }
            let now = Instant::now();
            for u in &self.upstreams {
                let due = u
                    .health
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .probe_due(now);
                if !due {
                    continue;
                }
                // Push the next due time out while this probe runs.
                let u = u.clone();
                let (q, timeout) = self.probe.clone();
                // No second probe while this one is out; probe_result re-arms.
                u.health
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .probe_sent();
                tokio::spawn(async move {
                    let ok = u.probe(&q, timeout).await;
                    let t = u
                        .health
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .probe_result(ok, Instant::now());
                    if let Some(t) = t {
                        u.log_transition(t.from, t.to, None);
                    }
                });
            }
            tokio::time::sleep(tick).await;
        }
    }
}

/// Open a TCP connection to `spec`'s server, with TLS on top for DoT, and
/// HTTP/2 on that for DoH.
async fn connect(spec: &UpstreamSpec) -> Result<Conn, UpstreamError> {
    let tcp = TcpStream::connect(spec.addr).await?;
    let _ = tcp.set_nodelay(true);
    match (&spec.transport, &spec.tls) {
        (Transport::Tls, Some((config, name))) => {
            let connector = tokio_rustls::TlsConnector::from(config.clone());
            let tls = connector
                .connect(name.clone(), tcp)
                .await
                .map_err(UpstreamError::Tls)?;
            Ok(Conn::Stream(Arc::new(StreamConn::start(tls))))
        }
        (Transport::Https, Some((config, name))) => {
            let uri = spec.doh_uri.clone().ok_or(UpstreamError::Incomplete {
                transport: "https",
                missing: "a URL",
            })?;
            let conn = HttpsConn::connect(tcp, config.clone(), name.clone(), uri).await?;
            Ok(Conn::Https(Arc::new(conn)))
        }
        // Never fall back to clear text for an encrypted transport.
        (Transport::Tls | Transport::Https, None) => Err(UpstreamError::Incomplete {
            transport: spec.transport.as_str(),
            missing: "TLS settings",
        }),
        (Transport::Udp | Transport::Tcp, _) => Ok(Conn::Stream(Arc::new(StreamConn::start(tcp)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use health::{LazyMode, Mode};
    use tokio::io::AsyncReadExt;

    /// An upstream at `addr` with `transport` and no TLS settings.
    fn bare(addr: SocketAddr, transport: Transport) -> Upstream {
        let params = HealthParams {
            mode: Mode::None,
            check_interval: Duration::from_secs(1),
            failed_interval: Duration::from_secs(1),
            rise: 1,
            max_failures: 1,
            threshold: 50,
            sample_size: 10,
            min_sample_count: 1,
            lazy_mode: LazyMode::TimeoutOnly,
        };
        let family = UpstreamFamily::register(&prometheus::Registry::new()).unwrap();
        let spec = UpstreamSpec {
            addr,
            transport,
            tls: None,
            doh_uri: None,
            label: "test".into(),
        };
        Upstream::new(spec, params, family.handles("test"))
    }

    #[tokio::test]
    async fn an_encrypted_upstream_without_tls_settings_sends_nothing_in_clear() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x00\x00\x01\x00\x01";
        for transport in [Transport::Tls, Transport::Https] {
            let up = bare(addr, transport);
            let err = up
                .exchange(query, Duration::from_secs(2))
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    UpstreamError::Incomplete {
                        missing: "TLS settings",
                        ..
                    }
                ),
                "{err:?}"
            );
            assert_eq!(err.as_label(), "tls");
            // The connection was opened, then closed without a byte.
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 16];
            assert_eq!(conn.read(&mut buf).await.unwrap(), 0);
        }
    }
}
