//! Iteration: from the closest known zone cut down to the answer.
//!
//! ```text
//!  lookup(name, type)
//!    step cache hit? ─▶ done
//!    cut = deepest cached zone cut above name (root hints at worst)
//!    loop (≤ MAX_REFERRALS):
//!       probe = QNAME minimised (RFC 9156: one label below the cut, type A) or the full name
//!       ask the cut's servers in SRTT order (glue, else resolve NS names, bounded depth)
//!         each query holds a slot of its zone's and its server's fetch quota (quota.rs):
//!         zone full ─▶ fail at once; server full ─▶ the next server
//!       Referral ─▶ cache the cut, descend          Lame ─▶ next server
//!       answer to a minimised probe ─▶ one more label; NXDOMAIN ─▶ relaxed: full name
//!       Answer / NXDOMAIN / NODATA for the full name ─▶ Step (cached)
//! ```
//!
//! Every network query is charged to a [`Budget`] shared by the whole client
//! query (aliases, NS address lookups and DNSSEC key fetches included), so
//! a hostile or broken hierarchy ends in SERVFAIL after bounded work
//! (`server.max-recursion-queries`). A referral whose NS names come without
//! glue has at most `server.max-ns-address-queries` of them resolved, for
//! the whole time the resolution uses that referral: a zone that lists
//! fifty names in a domain it wants flooded (NXNSAttack, CVE-2020-12662)
//! gets that many address lookups, not fifty.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::classify::{classify, follow_chain, Class};
use super::infra::{Cut, NameServer, Step, StepKind};
use super::net::{ExchangeError, Transport};
use super::{Ede, Failure, Recursor};
use sekisho_limits::{Limit, Limits};
use sekisho_upstream::matches_query;

/// Referrals and minimisation steps allowed for one name.
const MAX_REFERRALS: usize = 24;
/// Aliases followed inside one response.
pub(crate) const MAX_CHAIN: usize = 12;
/// Nesting of lookups inside lookups (NS addresses, DS/DNSKEY).
const MAX_DEPTH: u8 = 6;
/// Servers tried for one question.
const MAX_TRIES: usize = 6;
/// Bounds on one try's timeout.
const MIN_TRY: Duration = Duration::from_millis(200);
/// Upper bound on one try's timeout.
const MAX_TRY: Duration = Duration::from_millis(1500);
/// Our EDNS payload towards authorities (DNS flag day 2020).
const EDNS_PAYLOAD: u16 = 1232;

/// The work one client query may cause.
#[derive(Debug)]
pub(crate) struct Budget {
    /// Queries sent so far.
    pub(crate) queries: u32,
    /// Upper bound on queries.
    pub(crate) max_queries: u32,
    /// Current lookup nesting.
    pub(crate) depth: u8,
    /// When the client stops waiting.
    pub(crate) deadline: Instant,
    /// Ask this forwarder instead of iterating (validation of forwarded answers).
    pub(crate) via: Option<std::sync::Arc<sekisho_upstream::Group>>,
    /// The budget ran out (counted once, however many lookups then fail).
    pub(crate) exhausted: bool,
}

impl Budget {
    /// Charge one query, or fail when the budget is spent; the first
    /// failure counts a `max-recursion-queries` drop.
    pub(crate) fn charge(&mut self, limits: &Limits) -> Result<(), Failure> {
        if self.queries >= self.max_queries {
            if !self.exhausted {
                self.exhausted = true;
                limits.dropped(Limit::MaxRecursionQueries, None);
                tracing::debug!(queries = self.queries, "query budget exhausted");
            }
            return Err(Failure::new("query budget exhausted", None));
        }
        self.queries += 1;
        Ok(())
    }
}

/// The NS names of one referral whose addresses were looked up.
#[derive(Debug, Default)]
struct NsLookups {
    /// Names looked up so far, found or not (never looked up twice).
    done: Vec<Name>,
    /// The bound stopped a lookup (counted once per referral).
    cut_short: bool,
}

/// A boxed future (lookups recurse).
pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Recursor {
    /// The answer of `name`'s zone to (`name`, `qtype`): from the step cache or
    /// by iterating from the closest cut.
    pub(crate) fn lookup<'a>(
        &'a self,
        name: &'a Name,
        qtype: RecordType,
        b: &'a mut Budget,
    ) -> BoxFut<'a, Result<Step, Failure>> {
        Box::pin(async move {
            if let Some(g) = b.via.clone() {
                return self.forward_lookup(&g, name, qtype, b).await;
            }
            if let Some(s) = self.infra.step(name, u16::from(qtype), Instant::now()) {
                return Ok(s);
            }
            if b.depth >= MAX_DEPTH {
                return Err(Failure::new("lookup nesting too deep", None));
            }
            b.depth += 1;
            let r = self.iterate(name, qtype, b).await;
            b.depth -= 1;
            r
        })
    }

    /// Iterate for (`name`, `qtype`) from the closest cached cut.
    async fn iterate(
        &self,
        name: &Name,
        qtype: RecordType,
        b: &mut Budget,
    ) -> Result<Step, Failure> {
        let ds = qtype == RecordType::DS;
        let mut cut = self.infra.closest(name, ds, Instant::now());
        let mut lookups = NsLookups::default();
        let mut probe = self.first_probe(&cut.zone, name);
        for _ in 0..MAX_REFERRALS {
            let minimised = probe != *name;
            let ptype = if minimised { RecordType::A } else { qtype };
            let (msg, class) = self.ask(&mut cut, &mut lookups, &probe, ptype, b).await?;
            match class {
                Class::Referral {
                    child,
                    ns,
                    glue,
                    dropped_glue,
                    ttl,
                } => {
                    if ds && child == *name {
                        // The parent serves DS; a referral for it is a lame answer
                        // we cannot use. Stop here rather than ask the child.
                        return Err(Failure::new("referral for a DS question", None));
                    }
                    if dropped_glue > 0 {
                        tracing::debug!(zone = %child, dropped = dropped_glue, "ignoring out-of-bailiwick glue");
                    }
                    let servers: Vec<NameServer> = ns
                        .into_iter()
                        .map(|n| NameServer {
                            addrs: glue
                                .iter()
                                .filter(|(g, _)| *g == n)
                                .map(|(_, a)| *a)
                                .collect(),
                            name: n,
                        })
                        .collect();
                    let servers = std::sync::Arc::new(servers);
                    self.infra
                        .put_cut(child.clone(), servers.clone(), ttl, Instant::now());
                    cut = Cut {
                        zone: child,
                        servers,
                    };
                    lookups = NsLookups::default();
                    probe = self.first_probe(&cut.zone, name);
                }
                _ if minimised => {
                    probe = match class {
                        // RFC 9156 relaxed mode: a broken server may say NXDOMAIN for an
                        // empty non-terminal; ask the full name instead of giving up.
                        Class::NxDomain => name.clone(),
                        _ => {
                            let ttl = negative_ttl(&msg.authorities)
                                .max(msg.answers.iter().map(|r| r.ttl).min().unwrap_or(0))
                                .min(3600);
                            self.infra.put_noncut(probe.clone(), ttl, Instant::now());
                            self.probe_below(&probe, name)
                        }
                    };
                }
                Class::Answer => {
                    let chain = follow_chain(&msg, name, qtype, &cut.zone, MAX_CHAIN);
                    if chain.records.is_empty() {
                        return Err(Failure::new("answer without usable records", None));
                    }
                    let ttl = chain.records.iter().map(|r| r.ttl).min().unwrap_or(0);
                    let step = Step {
                        zone: cut.zone.clone(),
                        kind: StepKind::Answer,
                        answers: chain.records,
                        // The NSEC/NSEC3 a wildcard answer is proven with.
                        authority: super::classify::denial_records(&msg, &cut.zone),
                        next: chain.next,
                    };
                    self.infra.put_step(
                        name.clone(),
                        u16::from(qtype),
                        step.clone(),
                        ttl,
                        Instant::now(),
                    );
                    return Ok(step);
                }
                Class::NxDomain | Class::NoData => {
                    let kind = if class == Class::NxDomain {
                        StepKind::NxDomain
                    } else {
                        StepKind::NoData
                    };
                    let authority: Vec<_> = msg
                        .authorities
                        .iter()
                        .filter(|r| cut.zone.zone_of(&r.name))
                        .filter(|r| r.record_type() != RecordType::NS)
                        .cloned()
                        .collect();
                    let ttl = negative_ttl(&authority);
                    let step = Step {
                        zone: cut.zone.clone(),
                        kind,
                        answers: Vec::new(),
                        authority,
                        next: None,
                    };
                    self.infra.put_step(
                        name.clone(),
                        u16::from(qtype),
                        step.clone(),
                        ttl,
                        Instant::now(),
                    );
                    return Ok(step);
                }
                Class::Lame(_) => return unreachable_lame(),
            }
        }
        tracing::debug!(zone = %cut.zone, "too many referrals");
        Err(Failure::new("too many referrals", None))
    }

    /// The first name to ask a server of `zone`: one label below it when
    /// QNAME minimisation is on, else the name itself.
    fn first_probe(&self, zone: &Name, name: &Name) -> Name {
        if self.config.qname_minimisation && zone.num_labels() + 1 < name.num_labels() {
            self.probe_below(zone, name)
        } else {
            name.clone()
        }
    }

    /// `name` cut to one label more than `above` (an ancestor of it), then
    /// extended past every label known to be no zone cut.
    fn probe_below(&self, above: &Name, name: &Name) -> Name {
        if usize::from(above.num_labels()) + 1 >= usize::from(name.num_labels()) {
            return name.clone();
        }
        // Counted as `trim_to` counts (a leading `*` is a label).
        let total = name.iter().len();
        let keep = above.iter().len() + 1;
        match self.infra.past_noncuts(name, keep, Instant::now()) {
            k if k >= total => name.clone(),
            k => name.trim_to(k),
        }
    }

    /// Ask the servers of `cut` until one gives a usable answer. Addresses
    /// looked up for its NS names are kept in `cut` (and in infra) for the
    /// next question to the same referral; `lookups` bounds how many names
    /// are looked up for it.
    async fn ask(
        &self,
        cut: &mut Cut,
        lookups: &mut NsLookups,
        qname: &Name,
        qtype: RecordType,
        b: &mut Budget,
    ) -> Result<(Message, Class), Failure> {
        let mut tried: Vec<IpAddr> = Vec::new();
        // Servers skipped because their fetch quota is full.
        let mut busy: Vec<IpAddr> = Vec::new();
        // Servers that did not answer in time: asked once more, with the
        // longer timeout their raised RTT gives, when every server has been
        // tried (a slow zone is slow, not dead: BIND and Unbound back off
        // and retry too). At most MAX_TRIES queries in all.
        let mut timed_out: Vec<IpAddr> = Vec::new();
        let mut retried = false;
        let zone_key = super::quota::zone_key(&cut.zone);
        loop {
            let mut addrs: Vec<IpAddr> = cut
                .servers
                .iter()
                .flat_map(|s| s.addrs.iter().copied())
                .filter(|a| !tried.contains(a) && !busy.contains(a))
                .filter(|a| self.config.allow_ipv6 || a.is_ipv4())
                .collect();
            addrs.sort_by_key(|a| self.infra.rtt(*a));
            addrs.dedup();
            if let Some(addr) = addrs.first().copied() {
                if tried.len() >= MAX_TRIES {
                    break;
                }
                // The root and top-level zones are exempt (`quota::zone_key`).
                let _zone_slot = match &zone_key {
                    None => None,
                    Some(key) => {
                        let Some(slot) = self.quotas.zone.enter(key, || self.zone_quota_detail())
                        else {
                            return Err(self.zone_full(key));
                        };
                        Some(slot)
                    }
                };
                let Some(_server_slot) = self
                    .quotas
                    .server
                    .enter(&addr, || self.server_quota_detail())
                else {
                    busy.push(addr);
                    continue;
                };
                tried.push(addr);
                let timeouts = timed_out.len();
                let result = self
                    .try_server(addr, &cut.zone, qname, qtype, b, &mut timed_out)
                    .await;
                // What the server did feeds its adaptive quota: a timeout, or
                // anything else that came back (a lame answer is still an
                // answer); a resolution out of time or budget says nothing.
                if result.is_ok() {
                    self.quotas
                        .server
                        .outcome(&addr, timed_out.len() > timeouts);
                }
                if let Some(r) = result? {
                    return Ok(r);
                }
                continue;
            }
            // No untried address: look up the next name server without one. Names
            // inside the zone itself cannot be resolved without glue (a loop).
            let Some(i) = cut.servers.iter().position(|s| {
                s.addrs.is_empty() && !cut.zone.zone_of(&s.name) && !lookups.done.contains(&s.name)
            }) else {
                if !retried && !timed_out.is_empty() && tried.len() < MAX_TRIES {
                    // Second round: only the servers that timed out.
                    retried = true;
                    tried.retain(|a| !timed_out.contains(a));
                    timed_out.clear();
                    continue;
                }
                break;
            };
            if lookups.done.len() >= self.config.max_ns_address_queries as usize {
                if !lookups.cut_short {
                    lookups.cut_short = true;
                    self.config.limits.dropped(Limit::NsAddressQueries, None);
                    tracing::debug!(zone = %cut.zone, looked_up = lookups.done.len(), servers = cut.servers.len(), "no more NS address lookups for this referral");
                }
                break;
            }
            let ns = cut.servers[i].name.clone();
            lookups.done.push(ns.clone());
            let addrs = self.ns_addresses(&ns, b).await;
            if !addrs.is_empty() {
                self.infra.set_addrs(&cut.zone, &ns, &addrs);
                std::sync::Arc::make_mut(&mut cut.servers)[i].addrs = addrs;
            }
        }
        if let Some(first) = busy.first() {
            // Every server left to ask was at its quota: the fetch limit, not
            // the servers, ended this resolution.
            tracing::debug!(zone = %cut.zone, %qtype, tried = tried.len(), busy = busy.len(), "servers of the zone at their fetch quota");
            return Err(self.servers_full(&cut.zone, *first));
        }
        tracing::debug!(zone = %cut.zone, %qtype, tried = tried.len(), "no server of the zone gave a usable answer");
        Err(Failure::new(
            "no reachable authority",
            Some(Ede::new(
                22,
                format!("no usable answer from the servers of {}", cut.zone),
            )),
        ))
    }

    /// The failure of a query refused because every server of `zone` left
    /// to ask is at its fetch quota, counted under the `first` of them.
    pub(crate) fn servers_full(&self, zone: &Name, first: IpAddr) -> Failure {
        self.config
            .limits
            .dropped(Limit::FetchesPerServer, Some(&first.to_string()));
        Failure::refused(
            Limit::FetchesPerServer,
            "fetch limit for the servers of a zone",
            Ede::new(0, format!("fetch limit for the servers of {zone}")),
        )
    }

    /// The log line's detail when `fetches-per-zone` engages.
    pub(crate) fn zone_quota_detail(&self) -> String {
        format!(
            "{} queries in flight to the servers of the zone",
            self.config.fetches_per_zone
        )
    }

    /// The log line's detail when `fetches-per-server` engages.
    pub(crate) fn server_quota_detail(&self) -> String {
        format!(
            "{} queries in flight to the server",
            self.config.fetches_per_server
        )
    }

    /// The failure of a query refused by the zone's fetch quota, counted.
    pub(crate) fn zone_full(&self, zone_key: &super::quota::ZoneKey) -> Failure {
        let zone = zone_key.to_string();
        self.config
            .limits
            .dropped(Limit::FetchesPerZone, Some(&zone));
        tracing::debug!(zone, "zone at its fetch quota");
        Failure::refused(
            Limit::FetchesPerZone,
            "fetch limit for the zone",
            Ede::new(0, format!("fetch limit for zone {zone_key}")),
        )
    }

    /// One question to one server; `None` = lame or unreachable, try another.
    async fn try_server(
        &self,
        addr: IpAddr,
        zone: &Name,
        qname: &Name,
        qtype: RecordType,
        b: &mut Budget,
        timed_out: &mut Vec<IpAddr>,
    ) -> Result<Option<(Message, Class)>, Failure> {
        let mut edns = true;
        for _ in 0..2 {
            let now = Instant::now();
            if now >= b.deadline {
                return Err(Failure::new("out of time", None));
            }
            b.charge(&self.config.limits)?;
            let srtt = Duration::from_millis(u64::from(self.infra.rtt(addr)));
            let timeout = (srtt * 3).clamp(MIN_TRY, MAX_TRY).min(b.deadline - now);
            // A fresh random ID per query (RFC 5452 section 4.3), kept for a TCP retry.
            let query = build_query(qname, qtype, edns, rand::random());
            let sent = Instant::now();
            let server = SocketAddr::new(addr, self.config.port);
            let wire = match self.exchange_once(server, &query, timeout).await {
                Ok(w) => w,
                Err(e) => {
                    self.infra.record_rtt(addr, None);
                    if matches!(e, crate::net::ExchangeError::Timeout) {
                        timed_out.push(addr);
                    }
                    tracing::debug!(server = %addr, %zone, error = %e, "server did not answer");
                    return Ok(None);
                }
            };
            self.infra.record_rtt(addr, Some(sent.elapsed()));
            let Ok(msg) = Message::from_vec(&wire) else {
                tracing::debug!(server = %addr, %zone, "unreadable answer");
                return Ok(None);
            };
            let rcode = msg.metadata.response_code;
            if edns && (rcode == ResponseCode::FormErr || rcode == ResponseCode::NotImp) {
                // EDNS fallback (RFC 6891 section 7): ask again without OPT.
                edns = false;
                continue;
            }
            let class = classify(&msg, qname, qtype, zone);
            if let Class::Lame(why) = class {
                tracing::debug!(server = %addr, %zone, %qtype, reason = why, "lame answer");
                return Ok(None);
            }
            return Ok(Some((msg, class)));
        }
        Ok(None)
    }

    /// One question to one server: over UDP, then over TCP within the same
    /// time budget when the answer is truncated (RFC 7766 section 5). An
    /// answer whose ID or question is not the query's is ignored.
    async fn exchange_once(
        &self,
        server: SocketAddr,
        query: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, ExchangeError> {
        let started = Instant::now();
        let answer = self
            .exchange
            .exchange(server, query, Transport::Udp, timeout)
            .await?;
        if !matches_query(&answer, query) {
            return Err(ExchangeError::Mismatch);
        }
        if answer.get(2).is_none_or(|b| b & 0x02 == 0) {
            return Ok(answer);
        }
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(ExchangeError::Timeout);
        }
        let answer = self
            .exchange
            .exchange(server, query, Transport::Tcp, left)
            .await?;
        if !matches_query(&answer, query) {
            return Err(ExchangeError::Mismatch);
        }
        Ok(answer)
    }

    /// Addresses of a name server, by a nested lookup (A, then AAAA when IPv6 is used).
    async fn ns_addresses(&self, ns: &Name, b: &mut Budget) -> Vec<IpAddr> {
        let mut out = Vec::new();
        let mut types = vec![RecordType::A];
        if self.config.allow_ipv6 {
            types.push(RecordType::AAAA);
        }
        for t in types {
            let mut cur = ns.clone();
            for _ in 0..MAX_CHAIN {
                let Ok(step) = self.lookup(&cur, t, b).await else {
                    break;
                };
                out.extend(step.answers.iter().filter_map(|r| match &r.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                }));
                match step.next {
                    Some(n) => cur = n,
                    None => break,
                }
            }
        }
        out
    }
}

/// Never reached: `ask` returns only usable classes.
fn unreachable_lame() -> Result<Step, Failure> {
    Err(Failure::new("lame answer", None))
}

/// RFC 2308 section 5: a negative answer lives min(SOA TTL, SOA MINIMUM).
fn negative_ttl(authority: &[hickory_proto::rr::Record]) -> u32 {
    authority
        .iter()
        .find_map(|r| match &r.data {
            RData::SOA(s) => Some(r.ttl.min(s.minimum)),
            _ => None,
        })
        .unwrap_or(0)
}

/// An iterative question with this ID: RD=0, EDNS with DO=1 (we want signatures whether
/// or not the client does, to validate) and our payload size.
fn build_query(qname: &Name, qtype: RecordType, edns: bool, id: u16) -> Vec<u8> {
    // Written directly rather than through hickory's `Message` encoder,
    // which cost as much as the rest of sending a query (the bytes are the
    // same: `a_query_is_what_hickory_would_encode`).
    let mut q = Vec::with_capacity(12 + 255 + 4 + 11);
    q.extend_from_slice(&id.to_be_bytes());
    // QR=0, opcode QUERY, RD=0; one question; one additional (OPT) with EDNS.
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    for label in qname.iter() {
        // A label is at most 63 bytes (hickory checks it when it builds a name).
        q.push(label.len() as u8);
        q.extend_from_slice(label);
    }
    q.push(0);
    q.extend_from_slice(&u16::from(qtype).to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // class IN
    if edns {
        // OPT: root owner, type 41, class = payload size, extended RCODE 0,
        // version 0, DO set, no options.
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0x80, 0, 0, 0]);
    }
    q
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};

    use super::{build_query, EDNS_PAYLOAD};

    /// The query as hickory's encoder writes it.
    fn hickory(qname: &Name, qtype: RecordType, edns: bool, id: u16) -> Vec<u8> {
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = false;
        m.add_query(Query::query(qname.clone(), qtype));
        if edns {
            let mut e = Edns::new();
            e.set_max_payload(EDNS_PAYLOAD);
            e.set_dnssec_ok(true);
            m.set_edns(e);
        }
        m.to_vec().expect("encodes")
    }

    #[test]
    fn a_query_is_what_hickory_would_encode() {
        for (name, qtype) in [
            (".", RecordType::NS),
            ("example.", RecordType::DS),
            ("Mixed.Case.Example.", RecordType::A),
            ("*.wild.test.", RecordType::AAAA),
            (
                "a-very-long-label-of-sixty-three-bytes-xxxxxxxxxxxxxxxxxxxxxxxx.test.",
                RecordType::TXT,
            ),
        ] {
            let qname = Name::from_str(name).expect("name");
            for edns in [false, true] {
                assert_eq!(
                    build_query(&qname, qtype, edns, 0xbeef),
                    hickory(&qname, qtype, edns, 0xbeef),
                    "{name} {qtype} edns={edns}"
                );
            }
        }
    }
}
