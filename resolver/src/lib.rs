//! Sekisho's resolver core: the query path from socket to answer, and the
//! daemon that builds every part and serves it.
//!
//! ```text
//!  client ─UDP/TCP/DoT/DoH─▶ listen, doh ─▶ dispatch ─┬─ NOTIFY ─────────▶ sekisho_secondary
//!                                        ├─ AXFR/IXFR ──────▶ sekisho_primary
//!                                        └─ query ─▶ pipeline: ACL ─▶ policy pre-check ─▶ cache ─hit─▶ respond
//!                                                                                       │ miss
//!                                                 forward (sekisho_upstream) or recurse (sekisho_recursor)
//!                                                                                       │
//!                                                              policy post-check ─▶ cache ─▶ respond
//! ```
//!
//! Module ownership (the roles beside the query path are crates of their own,
//! see docs/architecture.md):
//! - [`listen`]: UDP workers, TCP listeners (RFC 7766) and DNS over TLS
//!   listeners (RFC 7858), one connection handler for both stream kinds.
//! - [`udp_batch`]: the UDP workers' batched system calls (`recvmmsg`, `sendmmsg`).
//! - [`doh`]: DNS over HTTPS (RFC 8484) on `sekisho_http`'s server loop, and
//!   the same over plain HTTP behind a TLS-terminating proxy (`listen-http`).
//! - [`forwarded`]: the client address a trusted HTTP proxy names
//!   (`X-Forwarded-For`, `Forwarded`), read by [`doh`].
//! - [`proxy`]: PROXY protocol v2 headers of the load balancers in
//!   `proxy-protocol-from` (the carried client address), read by [`listen`].
//! - [`tls`]: the TLS listeners' certificate (swapped by a reload) and rustls settings.
//! - [`dispatch`]: the layers in front of the pipeline (NOTIFY, zone transfers, queries).
//! - [`ratelimit`]: queries a second per client prefix (UDP), checked first by [`dispatch`].
//! - [`chaos`]: CHAOS-class answers (`version.bind`...) and the other non-IN classes.
//! - [`pipeline`]: one query end to end; the order of the stages lives here only.
//! - [`prebuilt`]: policy answers built once and served like cache hits
//!   while their policy set and real answer are the live ones.
//! - [`flight`]: cache misses in flight: the recursive-clients slots and the
//!   sharing of one fetch among identical questions.
//! - [`control`]: the daemon's side of the `sekishoctl` socket (types in `sekisho_api`).
//! - [`handover`]: a binary upgrade's conversation: the running daemon's
//!   sockets and saved cache passed to a new process over the control socket.
//! - [`metrics`]: the Prometheus registry and the query path's metrics.
//! - [`logging`]: the log subscriber.
//! - [`daemon`]: [`daemon::build`] constructs every part from a `Config`,
//!   [`daemon::Daemon::serve`] runs them until shutdown.

pub mod chaos;
pub mod control;
pub mod daemon;
pub mod dispatch;
pub mod doh;
pub mod flight;
pub mod forwarded;
pub mod handover;
pub mod hits;
pub mod listen;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod prebuilt;
pub mod proxy;
pub mod ratelimit;
pub mod tls;
pub mod udp_batch;
