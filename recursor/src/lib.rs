//! Recursion from the root and DNSSEC validation.
//!
//! ```text
//!  pipeline::fetch ── no forward zone ──▶ recurse::fetch
//!     resolve(qname, qtype, DO, CD)
//!       for each name of the CNAME/DNAME chain (≤ MAX_CHAIN):
//!           iter::lookup ─▶ net::Exchange (sockets, or scripted in tests)
//!                        ─▶ classify (sans-I/O) ─▶ referral / answer / denial
//!           infra: zone cuts, SRTT, steps, zone security (bounded caches)
//!           quota: queries in flight per zone and per server (fail fast past them)
//!           aggressive: NXDOMAIN/NODATA from validated NSEC/NSEC3 (RFC 8198), no query
//!       validate::validate_step per name (unless CD, validation off, or domain-insecure)
//!     ─▶ wire answer (AD when secure; RRSIG/NSEC only with DO)
//!        + RPZ facts (CNAME chain, addresses, delegations for NSDNAME/NSIP)
//!     ─▶ Prepared ─▶ packet cache (bogus answers are not cached there;
//!        the zone verdict is, in infra, and the failed answer, in bogus,
//!        for dnssec.bogus-ttl)
//! ```
//!
//! Iteration follows RFC 1034 section 5.3.3 with RFC 9156 QNAME
//! minimisation (relaxed), RFC 2181 bailiwick rules for glue, RFC 6891
//! EDNS fallback and RFC 7766 TCP on truncation. Validation follows RFC
//! 4033-4035, RFC 5155, RFC 6840; bogus answers become SERVFAIL with an
//! Extended DNS Error (RFC 8914) and a debug log line with the reason;
//! `domain-insecure` names are negative trust anchors (RFC 7646).
//! Validated denials are used aggressively (RFC 8198, RFC 9077).
//! Why this is our own code and not hickory-resolver's recursor:
//! docs/recursion.md.

pub(crate) mod aggressive;
pub mod anchors;
pub(crate) mod bogus;
pub(crate) mod classify;
pub(crate) mod cpu;
pub(crate) mod encode;
pub mod forwarded;
pub(crate) mod infra;
pub(crate) mod iter;
pub mod net;
pub mod nta;
pub(crate) mod quota;
pub use quota::ZoneKey;
pub(crate) mod validate;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, OpCode, Query as MsgQuery, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use sekisho_rpz::{Delegation, ResponseFacts};

use bogus::{BogusCache, Verdict};
use infra::{Infra, InfraLimits, NameServer, Step, StepKind};
use iter::{Budget, MAX_CHAIN};
pub use net::{Exchange, ExchangeError, ExchangeFuture, NetExchange, Transport};
use sekisho_cache::{ClientEcho, PacketCache, Prepared};
use sekisho_wire::Query;
use validate::Work;

/// An Extended DNS Error (RFC 8914): info code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ede {
    /// INFO-CODE: 6 DNSSEC Bogus, 7 Signature Expired, 8 Signature Not Yet
    /// Valid, 9 DNSKEY Missing, 10 RRSIGs Missing, 12 NSEC Missing, 22 No
    /// Reachable Authority.
    pub code: u16,
    /// EXTRA-TEXT, for the operator.
    pub text: String,
}

impl Ede {
    /// An EDE with this code and text.
    pub fn new(code: u16, text: impl Into<String>) -> Ede {
        Ede {
            code,
            text: text.into(),
        }
    }

    /// True for the DNSSEC validation failures (codes 6 to 12): the answer
    /// is bogus, not merely unreachable.
    pub fn is_bogus(&self) -> bool {
        (6..=12).contains(&self.code)
    }
}

/// Why a resolution failed (SERVFAIL).
#[derive(Debug, Clone)]
pub struct Failure {
    /// A constant reason, for logs.
    pub reason: &'static str,
    /// What the client is told, if anything.
    pub ede: Option<Ede>,
    /// The fetch quota that refused the resolution (`fetches-per-zone` or
    /// `fetches-per-server`): it says nothing about the name, so it is not
    /// stored as the name's failure.
    pub refused: Option<sekisho_limits::Limit>,
}

impl Failure {
    /// A failure with this reason.
    pub(crate) fn new(reason: &'static str, ede: Option<Ede>) -> Failure {
        Failure {
            reason,
            ede,
            refused: None,
        }
    }

    /// A resolution the fetch quota `limit` refused.
    pub(crate) fn refused(limit: sekisho_limits::Limit, reason: &'static str, ede: Ede) -> Failure {
        Failure {
            reason,
            ede: Some(ede),
            refused: Some(limit),
        }
    }
}

/// How the recursor is set up.
#[derive(Debug, Clone)]
pub struct RecursorConfig {
    /// Root servers: names and addresses.
    pub root_hints: Vec<(Name, Vec<IpAddr>)>,
    /// Trust anchors for the root (DS or DNSKEY records).
    pub anchors: Vec<Record>,
    /// Validate DNSSEC.
    pub validate: bool,
    /// Names at and below which nothing is validated (RFC 7646).
    pub domain_insecure: Vec<Name>,
    /// RFC 9156 QNAME minimisation (relaxed).
    pub qname_minimisation: bool,
    /// Query IPv6 addresses of authorities.
    pub allow_ipv6: bool,
    /// Port of authoritative servers (53; tests may change it).
    pub port: u16,
    /// Upper bound on queries sent for one client query
    /// (`server.max-recursion-queries`).
    pub max_queries: u32,
    /// Most queries in flight to the servers of one zone; 0 = no limit
    /// (`server.fetches-per-zone`).
    pub fetches_per_zone: usize,
    /// Most queries in flight to one server address; 0 = no limit
    /// (`server.fetches-per-server`).
    pub fetches_per_server: usize,
    /// Most NS names of one referral whose addresses are looked up
    /// (`server.max-ns-address-queries`, NXNSAttack).
    pub max_ns_address_queries: u32,
    /// Where the recursor's bounds count drops and use (the daemon's).
    pub limits: Arc<sekisho_limits::Limits>,
    /// Longest time anything stays in the recursor's caches (`cache.max-ttl`).
    pub max_ttl: Duration,
    /// Bytes the recursor's caches may hold together: its share of
    /// `cache.max-cache-size` (`sekisho_cache::recursor_share`).
    pub max_cache_bytes: usize,
    /// Upper bound on signature checks for one client query
    /// (`dnssec.max-validations-per-query`).
    pub max_validations: u32,
    /// Upper bound on NSEC3 hash rounds for one client query
    /// (`dnssec.max-nsec3-hashes-per-query`).
    pub max_nsec3_hashes: u32,
    /// How long a failed validation is remembered (`dnssec.bogus-ttl`).
    pub bogus_ttl: Duration,
    /// Answer NXDOMAIN and NODATA from validated NSEC/NSEC3 records already
    /// in the caches (RFC 8198; `dnssec.aggressive-nsec`). Off: they are
    /// neither kept nor used.
    pub aggressive_nsec: bool,
    /// Validations computing at once (the daemon's runtime worker
    /// threads); the waiting ones take turns by zone ([`cpu`]). 0 = no bound.
    pub validation_threads: usize,
}

/// The iterative, validating resolver. Shared by all queries.
pub struct Recursor {
    /// Settings.
    pub(crate) config: RecursorConfig,
    /// Caches.
    pub(crate) infra: Infra,
    /// How authoritative servers are reached.
    pub(crate) exchange: Arc<dyn Exchange>,
    /// Queries in flight per zone and per server.
    pub(crate) quotas: quota::Quotas,
    /// Failed validations, remembered for `bogus_ttl`.
    pub(crate) bogus: BogusCache,
    /// Answers synthesised from validated denials (RFC 8198).
    pub(crate) aggressive_answers: AtomicU64,
    /// Validations computing at once, by turns per zone.
    pub(crate) cpu: cpu::CpuGate,
    /// Negative trust anchors set at run time (`sekishoctl nta`).
    pub(crate) ntas: nta::Ntas,
}

impl std::fmt::Debug for Recursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recursor")
            .field("config", &self.config)
            .field("infra", &self.infra)
            .finish_non_exhaustive()
    }
}

/// Which fetch quota a query would meet now ([`Recursor::fetch_quota_full`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaFull {
    /// The zone (its quota key) has `fetches-per-zone` in flight.
    Zone(ZoneKey),
    /// Every known server of the zone has its `fetches-per-server` in
    /// flight; the first is named in the count.
    Servers(Name, IpAddr),
}

/// One finished resolution.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The response (ID 0, no OPT).
    pub wire: Vec<u8>,
    /// The policy facts of the response's records, taken where it was
    /// written (`None` for a SERVFAIL, whose facts are empty): no parse of
    /// `wire` for them. Delegations are left to the caller.
    pub facts: Option<ResponseFacts>,
    /// Every step validated secure (AD).
    pub secure: bool,
    /// Validation failed: the answer in `wire` is a SERVFAIL.
    pub bogus: Option<Ede>,
    /// Zone cuts on the way to each name of the chain.
    pub delegations: Vec<Delegation>,
}

impl Recursor {
    /// A recursor with empty caches that talks to authorities over the
    /// The names of the root servers it starts from (the configured root hints).
    pub fn root_server_names(&self) -> Vec<Name> {
        self.config
            .root_hints
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// network ([`NetExchange`]).
    pub fn new(config: RecursorConfig) -> Recursor {
        Recursor::with_exchange(config, Arc::new(NetExchange))
    }

    /// A recursor with empty caches that reaches authorities through
    /// `exchange` (tests script them; wrappers may limit them).
    pub fn with_exchange(config: RecursorConfig, exchange: Arc<dyn Exchange>) -> Recursor {
        let hints = config
            .root_hints
            .iter()
            .map(|(name, addrs)| NameServer {
                name: name.clone(),
                addrs: addrs.clone(),
            })
            .collect();
        let infra_limits = InfraLimits {
            max_bytes: config.max_cache_bytes,
            max_ttl: u32::try_from(config.max_ttl.as_secs()).unwrap_or(u32::MAX),
        };
        let limits = &config.limits;
        limits.set_max(
            sekisho_limits::Limit::MaxValidations,
            u64::from(config.max_validations),
        );
        limits.set_max(
            sekisho_limits::Limit::Nsec3Hashes,
            u64::from(config.max_nsec3_hashes),
        );
        Recursor {
            quotas: quota::Quotas::new(&config),
            infra: Infra::new(hints, infra_limits),
            bogus: BogusCache::new(config.bogus_ttl, limits.clone()),
            cpu: cpu::CpuGate::new(config.validation_threads),
            ntas: nta::Ntas::default(),
            config,
            exchange,
            aggressive_answers: AtomicU64::new(0),
        }
    }

    /// Whether answers are validated.
    pub fn validating(&self) -> bool {
        self.config.validate
    }

    /// Forget everything learnt (`sekishoctl flush`).
    pub fn flush(&self) {
        self.infra.flush();
        self.bogus.clear();
    }

    /// Whether a query for `qname`/`qtype` that missed the packet cache
    /// would be refused by a fetch quota right now: its closest known zone
    /// cut (below the top-level zones) has `fetches-per-zone` in flight, or
    /// every known address of the cut's servers has its `fetches-per-server`
    /// (adaptive) in flight, and the recursor holds nothing for the name that
    /// would answer it without a query. Counts nothing, and costs two atomic
    /// loads while no zone or server is at its quota; the caller decides
    /// whether to refuse ([`Recursor::refuse`]) or to resolve as usual (the
    /// quotas are checked again where the query would be sent). Under a
    /// random-subdomain flood that is most queries, refused at once instead
    /// of starting a resolution only to be refused.
    pub fn fetch_quota_full(&self, qname: &Name, qtype: RecordType) -> Option<QuotaFull> {
        if !self.any_fetch_quota_full() {
            return None;
        }
        let now = Instant::now();
        let cut = self.infra.closest_cut(qname, now)?;
        let zone_key = quota::zone_key(&cut.zone)?;
        if self.infra.step(qname, u16::from(qtype), now).is_some() {
            return None;
        }
        if self.quotas.zone.is_full(&zone_key) {
            return Some(QuotaFull::Zone(zone_key));
        }
        let mut addrs = cut
            .servers
            .iter()
            .flat_map(|s| s.addrs.iter())
            .filter(|a| self.config.allow_ipv6 || a.is_ipv4())
            .peekable();
        let first = **addrs.peek()?;
        // A server without a known address could still be looked up and asked.
        if cut.servers.iter().any(|s| s.addrs.is_empty()) {
            return None;
        }
        if !addrs.all(|a| self.quotas.server.is_full(a)) {
            return None;
        }
        Some(QuotaFull::Servers(cut.zone, first))
    }

    /// Whether any zone or server has its fetch quota in flight now (two
    /// atomic loads): when not, [`Recursor::fetch_quota_full`] is `None` for
    /// every name.
    pub fn any_fetch_quota_full(&self) -> bool {
        self.quotas.zone.any_full() || self.quotas.server.any_full()
    }

    /// The refusal of a query [`Recursor::fetch_quota_full`] found at a
    /// quota, counted, and engaging the limit (logged once per change), as
    /// [`Recursor::resolve`] would when it met the quota itself.
    pub fn refuse(&self, full: &QuotaFull) -> Failure {
        match full {
            QuotaFull::Zone(key) => {
                self.quotas.zone.refused(key, || self.zone_quota_detail());
                self.zone_full(key)
            }
            QuotaFull::Servers(zone, first) => {
                self.quotas
                    .server
                    .refused(first, || self.server_quota_detail());
                self.servers_full(zone, *first)
            }
        }
    }

    /// Answers synthesised so far from validated NSEC/NSEC3 records without
    /// asking the zone's servers (RFC 8198).
    pub fn aggressive_answers(&self) -> u64 {
        self.aggressive_answers.load(Ordering::Relaxed)
    }

    /// DNSSEC work done so far: signature checks and NSEC3 hash rounds.
    pub fn validation_work(&self) -> (u64, u64) {
        self.bogus.work()
    }

    /// The validation work allowed to one client query finishing by `deadline`.
    pub(crate) fn work(&self, deadline: Instant) -> Work {
        Work::new(
            self.config.max_validations,
            self.config.max_nsec3_hashes,
            deadline,
        )
    }

    /// Forget what is cached for `name` itself: its answers of every type,
    /// its zone cut and its zone's security state (`sekishoctl flushname`).
    /// Returns how many entries went.
    pub fn flush_name(&self, name: &Name) -> usize {
        self.infra.flush_name(name) + self.bogus.flush(name, false)
    }

    /// Forget the cached answer for (`name`, `qtype`) only, so that the next
    /// resolution asks the authority again (prefetch of a popular answer about
    /// to expire). Returns whether there was one.
    pub fn forget_answer(&self, name: &Name, qtype: RecordType) -> bool {
        self.infra
            .forget_step(&name.to_lowercase(), u16::from(qtype))
    }

    /// Stop validating `name` and the names below it for `lifetime` (at
    /// most [`nta::MAX_LIFETIME`]): a negative trust anchor (RFC 7646,
    /// `sekishoctl nta add`). The caller flushes what the caches hold for
    /// the tree, so that answers judged before are judged again.
    pub fn nta_add(&self, name: &Name, lifetime: Duration) {
        self.ntas.add(name, lifetime, Instant::now());
    }

    /// Remove the negative trust anchor at `name`; whether there was one.
    pub fn nta_remove(&self, name: &Name) -> bool {
        self.ntas.remove(name, Instant::now())
    }

    /// The negative trust anchors in force, with the time each has left.
    pub fn ntas(&self) -> Vec<(Name, Duration)> {
        self.ntas.list(Instant::now())
    }

    /// Forget what is cached for `name` and every name below it
    /// (`sekishoctl flushtree`). Returns how many entries went.
    pub fn flush_tree(&self, name: &Name) -> usize {
        self.infra.flush_tree(name) + self.bogus.flush(name, true)
    }

    /// Bytes the recursor's caches hold now, as charged against
    /// [`RecursorConfig::max_cache_bytes`].
    pub fn cache_bytes(&self) -> usize {
        self.infra.bytes()
    }

    /// Resolve (`qname`, `qtype`) from the root. `dnssec_ok` keeps DNSSEC
    /// records in the answer; `cd` skips validation; `collect_delegations`
    /// collects the zone cuts on the way ([`Resolution::delegations`]), which only
    /// RPZ NSDNAME and NSIP rules read.
    pub async fn resolve(
        &self,
        qname: &Name,
        qtype: RecordType,
        dnssec_ok: bool,
        cd: bool,
        collect_delegations: bool,
        deadline: Instant,
    ) -> Result<Resolution, Failure> {
        let validating = self.config.validate && !cd;
        if validating {
            // A failure remembered for bogus-ttl: no queries, no checks.
            match self.bogus.get(qname, qtype, Instant::now()) {
                Some(Verdict::Bogus(ede, delegations)) => {
                    return Ok(Resolution {
                        wire: servfail(qname, qtype),
                        facts: None,
                        secure: false,
                        bogus: Some(ede),
                        delegations,
                    })
                }
                Some(Verdict::Stopped(limit)) => return Err(Verdict::failure(limit)),
                None => {}
            }
        }
        let mut b = Budget {
            queries: 0,
            max_queries: self.config.max_queries,
            depth: 0,
            deadline,
            via: None,
            exhausted: false,
        };
        let mut steps: Vec<(Name, Step)> = Vec::new();
        // Steps synthesised from validated denials (RFC 8198): already
        // verified when their records were stored.
        let mut synthesised: Vec<usize> = Vec::new();
        // Steps from the step cache, not fresh from the zone's servers.
        let mut cached: Vec<usize> = Vec::new();
        let mut delegations = Vec::new();
        let mut w = self.work(deadline);
        let mut cur = qname.clone();
        for position in 0..=MAX_CHAIN {
            let step = if let Some(s) = self.infra.step(&cur, u16::from(qtype), Instant::now()) {
                cached.push(steps.len());
                s
            } else if let Some(s) = match validating {
                true => self.synthesise(&cur, qtype, &mut w).inspect_err(|_| {
                    self.bogus.finish(qname, qtype, &w, None, Instant::now());
                })?,
                false => None,
            } {
                synthesised.push(steps.len());
                s
            } else {
                self.lookup(&cur, qtype, &mut b).await?
            };
            if collect_delegations {
                delegations.extend(self.infra.path(&cur, position, Instant::now()));
            }
            let next = step.next.clone();
            steps.push((cur.clone(), step));
            match next {
                Some(n) if !steps.iter().any(|(s, _)| *s == n) && position < MAX_CHAIN => cur = n,
                Some(_) => {
                    tracing::debug!(%qtype, "alias chain too long or looping");
                    break;
                }
                None => break,
            }
        }
        let mut secure = false;
        if validating {
            secure = true;
            for (i, (name, step)) in steps.iter().enumerate() {
                if synthesised.contains(&i) {
                    continue;
                }
                let fresh = !cached.contains(&i);
                let verdict = self
                    .validate_step(name, qtype, step, fresh, &mut b, &mut w)
                    .await;
                let bogus = match &verdict {
                    Ok(Err(ede)) => Some((ede, delegations.as_slice())),
                    _ => None,
                };
                if verdict.is_err() || bogus.is_some() {
                    self.bogus.finish(qname, qtype, &w, bogus, Instant::now());
                    // The verdict is remembered for bogus-ttl; the records that
                    // failed are not kept (a flood of random names under a
                    // crafted zone would fill the step cache with them).
                    if fresh {
                        self.forget_answer(name, qtype);
                    }
                }
                match verdict? {
                    Ok(s) => secure &= s,
                    Err(ede) => {
                        tracing::debug!(%qtype, zone = %step.zone, ede = ede.code, reason = %ede.text, "answer is bogus");
                        return Ok(Resolution {
                            wire: servfail(qname, qtype),
                            facts: None,
                            secure: false,
                            bogus: Some(ede),
                            delegations,
                        });
                    }
                }
            }
            self.bogus.finish(qname, qtype, &w, None, Instant::now());
        }
        if !synthesised.is_empty() {
            self.aggressive_answers.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(%qtype, queries = b.queries, secure, synthesised = synthesised.len(), "resolved");
        let (wire, facts) = answer(qname, qtype, &steps, dnssec_ok, secure);
        Ok(Resolution {
            wire,
            facts,
            secure,
            bogus: None,
            delegations,
        })
    }
}

/// Types kept only for DO=1 clients (RFC 4035 section 3.2.1).
pub(crate) fn is_dnssec_type(t: RecordType) -> bool {
    matches!(t, RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3)
}

/// The response for a finished chain (see [`encode`]), and the policy
/// facts of its records (`None` when it could not be written and the
/// response is a SERVFAIL).
fn answer(
    qname: &Name,
    qtype: RecordType,
    steps: &[(Name, Step)],
    dnssec_ok: bool,
    secure: bool,
) -> (Vec<u8>, Option<ResponseFacts>) {
    let keep =
        |r: &Record| dnssec_ok || !is_dnssec_type(r.record_type()) || r.record_type() == qtype;
    let answers: Vec<&Record> = steps
        .iter()
        .flat_map(|(_, s)| s.answers.iter().filter(|r| keep(r)))
        .collect();
    let (rcode, authority): (u8, Vec<&Record>) = match steps.last() {
        Some((_, last)) => (
            match last.kind {
                StepKind::NxDomain => 3,
                _ => 0,
            },
            last.authority.iter().filter(|r| keep(r)).collect(),
        ),
        None => (0, Vec::new()),
    };
    match encode::response(qname, qtype, rcode, secure, &answers, &authority) {
        Some(wire) => {
            let facts = ResponseFacts::from_sections(qname, &answers, &authority);
            (wire, Some(facts))
        }
        None => (servfail(qname, qtype), None),
    }
}

/// A SERVFAIL for (`qname`, `qtype`).
fn servfail(qname: &Name, qtype: RecordType) -> Vec<u8> {
    let mut m = Message::response(0, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.metadata.response_code = ResponseCode::ServFail;
    m.add_query(MsgQuery::query(qname.clone(), qtype));
    m.to_vec().unwrap_or_default()
}

/// A recursive answer ready for the pipeline.
#[derive(Debug)]
pub struct Fetched {
    /// Client-ready bytes (ID, RD and question case patched; no OPT yet).
    pub wire: Vec<u8>,
    /// Policy facts, delegations included.
    pub facts: Option<Arc<ResponseFacts>>,
    /// EDE to add to the client's OPT.
    pub ede: Option<Ede>,
    /// The validator's verdict; `None` when nothing was judged (validation
    /// off, CD=1, or the resolution failed for another reason).
    pub dnssec: Option<DnssecResult>,
    /// The fetch quota that refused the resolution, if one did (the answer
    /// is then a SERVFAIL, not stored).
    pub refused: Option<sekisho_limits::Limit>,
}

/// The outcome of validating one answer, as counted in
/// `sekisho_dnssec_validations_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnssecResult {
    /// Chain of trust verified: AD.
    Secure,
    /// Provably unsigned.
    Insecure,
    /// Failed validation: SERVFAIL with EDE.
    Bogus,
    /// Not validated because of `domain-insecure` (an operator's negative
    /// trust anchor, RFC 7646).
    Nta,
}

impl DnssecResult {
    /// The metric label.
    pub fn as_label(self) -> &'static str {
        match self {
            DnssecResult::Secure => "secure",
            DnssecResult::Insecure => "insecure",
            DnssecResult::Bogus => "bogus",
            DnssecResult::Nta => "nta",
        }
    }

    /// The verdict for an answer to `qname`, given whether it was found
    /// secure and the EDE it failed with, if any.
    fn judge(
        recursor: &Recursor,
        qname: &Name,
        cd: bool,
        secure: bool,
        ede: Option<&Ede>,
    ) -> Option<Self> {
        if !recursor.validating() || cd {
            return None;
        }
        Some(match ede {
            Some(e) if (6..=12).contains(&e.code) => DnssecResult::Bogus,
            Some(_) => return None,
            None if secure => DnssecResult::Secure,
            None if recursor.exempt(qname) => DnssecResult::Nta,
            None => DnssecResult::Insecure,
        })
    }
}

/// Which RPZ facts [`fetch`] computes and keeps with the answer it stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactsWanted {
    /// None: no policy is loaded.
    No,
    /// The answer's own (CNAME chain, addresses).
    Answer,
    /// Those and the delegations on the way: some policy zone has enabled
    /// NSDNAME or NSIP rules. An answer stored without them (while no zone
    /// had such rules) is matched without delegations until it expires.
    WithDelegations,
}

/// Resolve `query` by recursion and store a cacheable answer under `key`,
/// with the RPZ facts `facts` asks for. The answer is a SERVFAIL with an
/// EDE when validation fails or no authority answers.
pub async fn fetch(
    recursor: &Recursor,
    cache: &PacketCache,
    facts: FactsWanted,
    key: &[u8],
    lower_qname: &[u8],
    query: &Query<'_>,
    deadline: Instant,
) -> Option<Fetched> {
    use hickory_proto::serialize::binary::BinDecodable;
    let qname = Name::from_bytes(lower_qname).ok()?;
    let qtype = RecordType::from(query.qtype);
    // A refusal by a fetch quota cost nothing and says nothing about the name:
    // storing it would only fill the cache with the names of a flood.
    let mut refused = None;
    let (wire, built, delegations, secure, ede) = match recursor
        .resolve(
            &qname,
            qtype,
            query.dnssec_ok(),
            query.cd,
            facts == FactsWanted::WithDelegations,
            deadline,
        )
        .await
    {
        Ok(r) => (r.wire, r.facts, r.delegations, r.secure, r.bogus),
        Err(f) => {
            tracing::debug!(%qtype, reason = f.reason, "recursion failed");
            refused = f.refused;
            (
                servfail(&qname, qtype),
                None,
                Vec::new(),
                false,
                // RFC 8914 code 0 (Other) with the reason: no more specific code applies.
                f.ede.or(Some(Ede::new(0, f.reason))),
            )
        }
    };
    let dnssec = DnssecResult::judge(recursor, &qname, query.cd, secure, ede.as_ref());
    let mut prepared = Prepared::new(&wire, cache.limits())?;
    if secure {
        prepared.set_authentic_data();
    }
    if facts != FactsWanted::No {
        // From the message the answer was encoded from. Without one the
        // answer is a SERVFAIL with its question alone, whose facts are
        // empty: nothing to read back from its bytes (a failure is what a
        // flood under a dead zone makes of most of its queries).
        let mut f = built.unwrap_or_default();
        f.delegations = delegations;
        prepared.facts = Some(Arc::new(f));
    }
    let mut out = Vec::new();
    prepared.serve(&ClientEcho::of(query), &mut out);
    let facts = prepared.facts.clone();
    // Failures are stored too, with their EDE, for `servfail-ttl` (the
    // SERVFAIL's cache lifetime), so a repeat within it costs no network
    // traffic and still says why; a failure never replaces an answer the
    // cache still holds (see `PacketCache::insert`).
    prepared.ede = ede
        .as_ref()
        .map(|e| (e.code, std::sync::Arc::from(e.text.as_str())));
    if refused.is_none() {
        cache.insert(key, prepared, Instant::now());
    }
    Some(Fetched {
        wire: out,
        facts,
        ede,
        dnssec,
        refused,
    })
}

/// A client-ready SERVFAIL carrying `ede` (not cached), for a bogus
/// forwarded answer.
pub fn bogus(
    cache: &PacketCache,
    lower_qname: &[u8],
    query: &Query<'_>,
    ede: Ede,
) -> Option<Fetched> {
    use hickory_proto::serialize::binary::BinDecodable;
    let qname = Name::from_bytes(lower_qname).ok()?;
    let wire = servfail(&qname, RecordType::from(query.qtype));
    let prepared = Prepared::new(&wire, cache.limits())?;
    let mut out = Vec::new();
    prepared.serve(&ClientEcho::of(query), &mut out);
    Some(Fetched {
        wire: out,
        facts: None,
        ede: Some(ede),
        dnssec: Some(DnssecResult::Bogus),
        refused: None,
    })
}

/// Add an EDE option (RFC 8914 section 2) to the OPT record that ends
/// `out` (as `Pipeline::finish` appends it). Nothing happens without OPT.
pub fn append_ede(out: &mut Vec<u8>, ede: &Ede) {
    const OPT_LEN: usize = 11;
    let n = out.len();
    if n < sekisho_wire::HEADER_LEN + OPT_LEN
        || out[n - OPT_LEN] != 0
        || out[n - OPT_LEN + 1..n - OPT_LEN + 3] != [0, 41]
        || out[n - 2..] != [0, 0]
    {
        return;
    }
    let text = &ede.text.as_bytes()[..ede.text.len().min(200)];
    let len = 2 + text.len();
    let rdlen = 4 + len;
    out[n - 2..].copy_from_slice(&(rdlen as u16).to_be_bytes());
    out.extend_from_slice(&15u16.to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&ede.code.to_be_bytes());
    out.extend_from_slice(text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::RData;
    use std::str::FromStr;

    fn n(s: &str) -> Name {
        Name::from_str(s).expect("name")
    }

    #[test]
    fn an_ede_is_appended_to_the_trailing_opt_record() {
        let mut out = servfail(&n("www.bogus.test."), RecordType::A);
        out[11] = 1; // ARCOUNT: the OPT below
        sekisho_wire::push_opt(&mut out, 1232, true, 0);
        append_ede(&mut out, &Ede::new(9, "no key"));
        let m = Message::from_vec(&out).expect("decodes");
        let edns = m.edns.expect("OPT kept");
        assert!(edns.flags().dnssec_ok);
        // code 15, length 2 + text, INFO-CODE 9, text
        assert!(out.ends_with(&[0, 15, 0, 8, 0, 9, b'n', b'o', b' ', b'k', b'e', b'y']));
    }

    #[test]
    fn without_opt_nothing_is_appended() {
        let mut out = servfail(&n("x.test."), RecordType::A);
        let before = out.clone();
        append_ede(&mut out, &Ede::new(6, "x"));
        assert_eq!(out, before);
    }

    #[test]
    fn dnssec_records_reach_only_do_clients_and_ad_follows_security() {
        let a = Record::from_rdata(n("www.secure.test."), 300, RData::A(A::new(192, 0, 2, 10)));
        let sig = Record::from_rdata(
            n("www.secure.test."),
            300,
            RData::Unknown {
                code: RecordType::RRSIG,
                rdata: hickory_proto::rr::rdata::NULL::with(vec![1; 8]),
            },
        );
        let step = Step {
            zone: n("secure.test."),
            kind: StepKind::Answer,
            answers: vec![a, sig],
            authority: Vec::new(),
            next: None,
        };
        let steps = vec![(n("www.secure.test."), step)];
        let (wire, built) = answer(&n("www.secure.test."), RecordType::A, &steps, false, true);
        let plain = Message::from_vec(&wire).expect("decodes");
        assert_eq!(plain.answers.len(), 1);
        assert!(plain.metadata.authentic_data);
        // The facts handed back (for policy) are those of what was sent.
        let built = built.expect("encoded");
        assert_eq!(
            built,
            ResponseFacts::from_response(&n("www.secure.test."), &plain)
        );
        assert_eq!(
            built.addresses,
            vec!["192.0.2.10".parse::<IpAddr>().expect("address")]
        );
        assert!(!built.signed, "the RRSIG is not sent to a DO=0 client");
        let (_, full_facts) = answer(&n("www.secure.test."), RecordType::A, &steps, true, true);
        assert!(full_facts.expect("encoded").signed);
        let (full, _) = answer(&n("www.secure.test."), RecordType::A, &steps, true, false);
        // RRSIG with opaque bytes: count the records from the header.
        assert_eq!(u16::from_be_bytes([full[6], full[7]]), 2);
        assert_eq!(full[3] & 0x20, 0, "no AD when not secure");
    }

    #[test]
    fn a_negative_chain_end_gives_its_rcode_and_soa() {
        let soa = SOA::new(n("ns1.test."), n("h.test."), 1, 1, 1, 1, 300);
        let step = Step {
            zone: n("test."),
            kind: StepKind::NxDomain,
            answers: Vec::new(),
            authority: vec![Record::from_rdata(n("test."), 300, RData::SOA(soa))],
            next: None,
        };
        let m = Message::from_vec(
            &answer(
                &n("nx.test."),
                RecordType::A,
                &[(n("nx.test."), step)],
                false,
                false,
            )
            .0,
        )
        .expect("decodes");
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(m.authorities.len(), 1);
    }
}
