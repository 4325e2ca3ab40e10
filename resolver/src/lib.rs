//! Sekisho's server library: everything between the socket and the answer.
//!
//! ```text
//!  client ─UDP/TCP─▶ listen ─▶ pipeline: ACL ─▶ policy pre-check ─▶ cache ─hit─▶ respond
//!                                                         │ miss
//!                                                         ▼
//!                                   forward (upstream: UDP / TCP / DoT, health)
//!                                                         │
//!                                     policy post-check ─▶ cache ─▶ respond
//! ```
//!
//! Module ownership:
//! - `sekisho_wire` (crate): staged decoding of client queries and raw-wire responses (FORMERR, TC).
//! - `sekisho_cache` (crate): the packet cache (wire bytes, TTLs patched in place).
//! - `sekisho_upstream` (crate): transports to upstream resolvers, health checks, selection, and the `forward-zone` table.
//! - `sekisho_recursor` (crate): iterative resolution from the root and DNSSEC validation.
//! - [`pipeline`]: one query end to end; the order of the stages lives here only.
//! - [`listen`]: UDP and TCP listeners (RFC 7766).
//! - [`control`]: the `sekishoctl` socket and its typed protocol.
//! - [`distribution`]: policy zones kept in step with their primaries (SOA checks,
//!   NOTIFY, IXFR/AXFR with TSIG), published through [`policy`] and saved to disk.
//! - [`primary`]: the primary role, policy zones served to secondaries (AXFR, IXFR from
//!   a journal of differences, TSIG ACLs, NOTIFY out).
//! - [`metrics`]: Prometheus registry and endpoint.
//! - [`daemon`]: builds the parts from a `Config` and runs them until shutdown.
//! - [`rpzbuild`]: `sekisho rpz build`, blocking lists (CSV, domains, hosts) → a policy zone.
//! - [`warnpage`]: the warning page HTTP server blocked clients land on (`sekisho warn-page`).

pub mod control;
pub mod daemon;
pub mod distribution;
pub mod listen;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod primary;
pub mod sdnotify;
