//! The HTTP server side of Sekisho: one accept-and-serve loop shared by the
//! metrics endpoint, the warning page and DNS over HTTPS (whose DNS side is
//! the resolver's `doh` module).
//!
//! ```text
//!  listener(s) ─accept─▶ AcceptBackoff ──error──▶ pause 100 ms … 1 s, log once per change
//!                │
//!                ▼ ok
//!           connection cap (semaphore) ──full──▶ close at once, count, log once per change
//!                │ permit
//!                ▼
//!           hyper-util auto: HTTP/1.1 (keep-alive, pipelining) or HTTP/2 (prior knowledge)
//!                │  header-read timeout (also the HTTP/1 keep-alive idle limit),
//!                │  idle watchdog (no byte moved → graceful close), stop signal
//!                ▼
//!           Handler::handle(request, peer) → Response<Full<Bytes>>
//! ```
//!
//! Why hyper: request parsing, keep-alive, pipelining, `Expect`, chunked
//! bodies and HTTP/2 framing are where hand-written servers go wrong; hyper
//! is what the Rust HTTP ecosystem runs on, and with hyper-util's `auto`
//! builder one port speaks HTTP/1.1 and HTTP/2 (chosen by the client's first
//! bytes) at no extra cost. Malformed requests get hyper's own `400`/`431`
//! answer and are reported to [`Handler::malformed`] so they can be counted.
//!
//! What the limits protect against:
//! - the **connection cap** bounds memory and file descriptors per server: a
//!   client (or a crowd) opening connections faster than they are served
//!   cannot exhaust the process's descriptors and starve the DNS listeners.
//!   Connections past the cap are accepted and closed at once (leaving them
//!   in the kernel's backlog would only make clients wait for nothing) and
//!   counted in [`ServerStats::refused`];
//! - the **header-read timeout** closes a connection that does not finish a
//!   request head in time (slowloris), and an HTTP/1 connection idle between
//!   requests for that long; the **idle watchdog** closes any connection, an
//!   HTTP/2 one or one that never sent its first byte included, on which no
//!   byte has moved for [`ServerConfig::idle_timeout`]; a connection that
//!   does not finish within [`ServerConfig::shutdown_grace`] after being asked
//!   to close is dropped;
//! - the **accept pause**: when `accept` fails for want of resources (EMFILE,
//!   ENFILE, ENOBUFS) it fails again at once, so retrying immediately spins a
//!   core and floods the log. The loop sleeps 100 ms after the first failure,
//!   doubling up to 1 s while failures go on, and logs once when failing
//!   starts (or its kind changes) and once when accepting works again.
//!
//! On stop the loops stop accepting, every connection is asked to close
//! gracefully (in-flight requests finish; HTTP/2 gets GOAWAY), and whatever
//! is still open after the grace period is dropped.

mod accept;
mod metrics;
mod server;

pub use accept::{Accept, AcceptBackoff, AcceptFailure, CapState};
pub use metrics::{serve_metrics, Render, METRICS_CONTENT_TYPE, METRICS_MAX_CONNECTIONS};
pub use server::{serve, Handler, ServerConfig, ServerStats};

/// Response body type of every handler: the whole body at once.
pub type Body = http_body_util::Full<hyper::body::Bytes>;
