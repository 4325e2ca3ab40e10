//! Zone transfers for Sekisho: the client side of AXFR and IXFR, TSIG, NOTIFY and SOA
//! refresh timers. This crate knows nothing about RPZ: it moves zones, the `rpz` crate
//! gives them meaning, and the caller stores and saves them.
//!
//! ```text
//!   primary ──NOTIFY──▶ notify::parse_notify ──▶ (resolver decides to refresh)
//!                                                       │
//!   timers::RefreshPlan ──"refresh due"────────────────▶│
//!                                                       ▼
//!   transport::query_soa ──▶ Serial compare ──newer──▶ transport::transfer
//!                                                       │  (TCP, 2-byte framing)
//!        tsig::sign_request / tsig::ResponseVerifier ◀──┤  per message
//!                                                       ▼
//!                         interpreter::XfrInterpreter (sans-I/O)
//!                                                       │
//!                          Transfer::{Full, Incremental, UpToDate}
//!                                                       ▼
//!                        the caller's zone store and saved copy
//! ```
//!
//! Module ownership:
//! - [`serial`]: RFC 1982 serial arithmetic ([RFC 1982](https://www.rfc-editor.org/rfc/rfc1982)).
//! - [`tsig`]: transaction signatures ([RFC 8945](https://www.rfc-editor.org/rfc/rfc8945)),
//!   computed over raw message bytes.
//! - [`interpreter`]: the AXFR ([RFC 5936](https://www.rfc-editor.org/rfc/rfc5936)) and IXFR
//!   ([RFC 1995](https://www.rfc-editor.org/rfc/rfc1995)) response interpreter, fed one
//!   message at a time; no I/O.
//! - [`notify`]: NOTIFY ([RFC 1996](https://www.rfc-editor.org/rfc/rfc1996)) request parsing
//!   and response building; no I/O.
//! - [`timers`]: SOA refresh/retry/expire arithmetic ([RFC 1035 section 3.3.13](https://www.rfc-editor.org/rfc/rfc1035#section-3.3.13)).
//! - [`soa_query`]: the sans-I/O SOA poll that precedes a transfer.
//! - [`serve`]: the server side of AXFR/IXFR (request parsing, message splitting and
//!   signing), sans-I/O; the resolver's primary role drives it.
//! - [`update`]: DNS UPDATE ([RFC 2136](https://www.rfc-editor.org/rfc/rfc2136)) request
//!   parsing and answers, sans-I/O; the primary role applies the changes.
//! - [`transport`]: the thin tokio layer (TCP transfers, UDP SOA queries).
//!
//! The protocol cores are sans-I/O (style practice 2): they take bytes and the
//! current time and return values or typed errors; only [`transport`] touches sockets.

mod error;
pub mod interpreter;
pub mod notify;
pub mod serial;
pub mod serve;
pub mod soa_query;
pub mod timers;
pub mod transport;
pub mod tsig;
pub mod update;
mod wire;

pub use error::{LimitKind, XfrError};
pub use interpreter::{Delta, Limits, Progress, Request, Transfer, XfrInterpreter};
pub use notify::{Notify, NotifyError};
pub use serial::Serial;
pub use soa_query::{SoaAnswer, SoaOutcome, SoaQuery};
pub use timers::{NextAction, RefreshClamps, RefreshPlan, ZoneTimer};
pub use transport::{query_soa, transfer};
pub use tsig::{
    RequestMac, ResponseSigner, ResponseVerifier, TsigAlgorithm, TsigError, TsigKey, TsigRcode,
};
pub use wire::WireError;
