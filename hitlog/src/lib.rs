//! Policy hit records: what the resolver writes down when an RPZ rule
//! fires, and who sees which client.
//!
//! ```text
//!   RPZ hit ──► client::ClientView::of(zone policy, ip) ──┬──► record::HitRecord ──► JSON / BIND line
//!                                                         │                            │
//!                                                         │            sink::HitLog ◄──┘ (file or syslog,
//!                                                         │                               never blocking)
//!                                                         └──► topk::HeavyHitters (top clients per zone)
//! ```
//!
//! An ISP blocks malware domains partly to find its infected customers,
//! and must not record who asked for a name on a child-abuse list. So
//! each policy zone has its own client address policy, and the one
//! [`ClientView`] it yields is what every output shows: the hit log, the
//! dnstap client field and the top-clients table.
//!
//! - [`client`]: the address policies ([`ClientPolicy`]) and the keyed
//!   pseudonyms ([`KeyRing`]).
//! - [`record`]: one hit ([`HitRecord`]) as a JSON line or BIND's `rpz` line.
//! - [`sink`]: the queue and writer thread ([`HitLog`]) behind a rotating
//!   file or syslog; a full queue or a broken destination drops and
//!   counts lines, it never blocks or fails the query.
//! - [`topk`]: the heaviest clients of a zone over a sliding window in
//!   bounded memory ([`HeavyHitters`]).
//!
//! Nothing here is global: the resolver owns one [`KeyRing`], one
//! [`HitLog`] per destination and one [`HeavyHitters`] per zone.

pub mod client;
pub mod record;
pub mod sink;
pub mod topk;

pub use client::{ClientPolicy, ClientView, KeyError, KeyRing};
pub use record::HitRecord;
pub use sink::{Destination, HitLog, Stats, SyslogTarget};
pub use topk::{HeavyHitters, Top};
