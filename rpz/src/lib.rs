//! Sekisho response policy zones (RPZ): records → rules → a compiled, immutable
//! [`PolicySet`], the two policy checks of the query pipeline, and the answer rewrite.
//!
//! ```text
//!  zone records ──ZoneRules::compile──▶ ZoneRules ──Arc──▶ PolicySet (zones in config order)
//!   (zone store / xfr)    (+ warnings)     │ apply_delta (IXFR overlay)      │ ArcSwap in resolver
//!                                          ▼                                 ▼
//!  query ─▶ PolicySet::check_query ─▶ Skip | Continue | Break(Decision)
//!  response ─▶ PolicySet::check_response ─▶ Decision { Match(Hit) | NoMatch | DnssecExempt }
//!  Hit::rewrite(request, real answer, transport) ─▶ Rewrite::{Unchanged, Drop, Answer{..}}
//! ```
//!
//! RPZ has no RFC; the reference is draft-vixie-dnsop-dns-rpz-00 and BIND 9.18's behaviour,
//! which this crate follows (see `docs/rpz.md` for the semantics and the deliberate
//! differences). This crate is a pure library: no I/O, no timers, no logging. Warnings are
//! returned as values and hits carry what the resolver needs to log BIND's `rpz` line.
//!
//! Modules, by pipeline stage:
//! - `zone`: compiling one zone (triggers, actions, warnings) and incremental deltas;
//! - `wire`: the same compile from records in wire form, for big zone files;
//! - `names`, `iptrie`: the index (flat name hash table, prefix trie);
//! - `encoding`: IP trigger owner names;
//! - `set`: the policy set and precedence;
//! - `rewrite`: the rewritten answer.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use hickory_proto::op::{Message, Query};
//! use hickory_proto::rr::{Name, RData, Record, RecordType, rdata::CNAME};
//! use sekisho_rpz::*;
//!
//! let zone = Name::from_ascii("block.").unwrap();
//! let rule = Record::from_rdata(
//!     Name::from_ascii("bad.example.block.").unwrap(), 300,
//!     RData::CNAME(CNAME(Name::root())));
//! let (rules, warnings) = ZoneRules::compile(ZoneSettings::new(zone), [rule]);
//! assert!(warnings.is_empty());
//! let set = PolicySet::new(vec![Arc::new(rules)], SetOptions::default());
//!
//! let qname = Name::from_ascii("bad.example.").unwrap();
//! let q = PolicyQuery { client: "192.0.2.1".parse().unwrap(), qname: &qname, qname_wire: None,
//!     qtype: RecordType::A, recursion_desired: true, dnssec_ok: false };
//! // qname-wait-recurse (default): resolve first, then check the response.
//! assert!(matches!(set.check_query(&q), QueryFlow::Continue));
//! let decision = set.check_response(&q, &ResponseFacts::default());
//! let hit = decision.hit().unwrap();
//! assert_eq!(hit.log_line(&qname, RecordType::A).to_string(),
//!     "rpz QNAME NXDOMAIN rewrite bad.example/A/IN via bad.example.block");
//! let mut request = Message::query();
//! request.add_query(Query::query(qname.clone(), RecordType::A));
//! match decision.rewrite(&request, None, Transport::Udp) {
//!     Rewrite::Answer { message, .. } => {
//!         assert_eq!(message.metadata.response_code,
//!             hickory_proto::op::ResponseCode::NXDomain)
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

mod encoding;
mod iptrie;
mod names;
mod rewrite;
mod rule;
mod set;
mod settings;
mod wire;
mod zone;

pub use encoding::{IpPrefix, IpTriggerError};
pub use rewrite::{Rewrite, Transport, EDE_OPTION_CODE};
pub use rule::{Action, Trigger, TriggerKind, Warning, WarningReason};
pub use set::{
    Decision, Delegation, Hit, LogLine, PolicyQuery, PolicySet, QueryFlow, QuickDecision,
    ResponseFacts, SetOptions, Verdict,
};
pub use settings::{PolicyOverride, ZoneSettings, DEFAULT_MAX_POLICY_TTL, DEFAULT_MIN_NS_DOTS};
pub use wire::WireCompiler;
pub use zone::{Rule, RuleCounts, ZoneRules};
