//! The policy set: zones in configuration order, and the two checks of the query pipeline.
//!
//! ```text
//!  query ──▶ check_query(client, qname, qtype, RD, DO)
//!              ├─ Skip      no zone applies (no zones, or RD=0 and all zones recursive-only)
//!              ├─ Break(d)  decided before resolution (client-IP/QNAME hit that nothing can
//!              │            outrank; only with qname-wait-recurse off) ──▶ rewrite
//!              └─ Continue  resolve, then:
//!                   check_response(query, facts: CNAME chain, answer addresses, delegations)
//!                      └─ Decision { verdict: NoMatch | Match(hit) | DnssecExempt(hit), disabled }
//!                                                              └──▶ Hit::rewrite
//! ```
//!
//! Precedence follows BIND 9.18 (`lib/ns/query.c`, ARM "Response Policy Zone (RPZ)
//! Rewriting"), as a lexicographic order:
//! 1. earlier position in the CNAME chain (qtype not ANY/CNAME/DNAME; otherwise only the
//!    query name is checked),
//! 2. earlier zone in configuration order,
//! 3. within a zone, trigger type: client-IP > QNAME > response-IP > NSDNAME > NSIP,
//! 4. within a type: exact beats wildcard, more labels wins; longest prefix (IPv4 as
//!    prefix+96), then smaller address; NSDNAME ties go to the NS name that sorts last.
//!
//! A zone with `policy disabled` reports its would-be hit (in [`Decision::disabled`]) and the
//! next-best match applies. The set is immutable and shared by all queries; the resolver
//! publishes new versions with `ArcSwap` ([`PolicySet::with_zone_replaced`] is cheap: it
//! copies a vector of `Arc`s).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::names::NameProbe;
use crate::rule::{Action, Trigger, TriggerKind};
use crate::settings::PolicyOverride;
use crate::zone::{RawHit, ZoneRules};

/// Options that apply to the whole set (BIND's `response-policy { } options`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetOptions {
    /// `qname-wait-recurse` (default yes): resolve before applying client-IP and QNAME
    /// rules, so listed domains' servers cannot tell the name is listed. With `false`,
    /// [`PolicySet::check_query`] may decide before resolution.
    pub qname_wait_recurse: bool,
}

impl Default for SetOptions {
    fn default() -> Self {
        Self {
            qname_wait_recurse: true,
        }
    }
}

/// What the pipeline knows about a query before resolution.
#[derive(Clone, Copy, Debug)]
pub struct PolicyQuery<'a> {
    /// The client's address (after any PROXY/ECS handling the resolver does).
    pub client: IpAddr,
    /// The query name.
    pub qname: &'a Name,
    /// The query name in uncompressed wire form (any case), when the caller has it: the
    /// name index is then probed from these bytes, which is faster than walking `qname`.
    /// Must be the same name as `qname`.
    pub qname_wire: Option<&'a [u8]>,
    /// The query type.
    pub qtype: RecordType,
    /// The RD bit of the query.
    pub recursion_desired: bool,
    /// The DO bit of the query's EDNS OPT record.
    pub dnssec_ok: bool,
}

impl<'a> PolicyQuery<'a> {
    /// The name-index probe of the query name (inlined, so that the probe is built in the
    /// caller's frame rather than copied there).
    #[inline]
    fn probe(&self) -> NameProbe<'a> {
        // One value filled in place on both paths (see `NameProbe::fill_from_wire_or_name`).
        let mut p = NameProbe::blank(self.qname);
        match self.qname_wire {
            Some(wire) => p.fill_from_wire_or_name(wire),
            None => p.fill_from_name(),
        }
        p
    }
}

/// A delegation (zone cut) met while resolving one name of the CNAME chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delegation {
    /// Position in the CNAME chain (0 = the query name) of the name being resolved.
    pub position: usize,
    /// The delegated zone (owner of the NS RRset); `min-ns-dots` looks at its dots.
    pub zone: Name,
    /// The NS names of the delegation.
    pub ns_names: Vec<Name>,
    /// The addresses of those name servers (glue or resolved).
    pub ns_addresses: Vec<IpAddr>,
}

/// What the pipeline learnt from resolving the query, for [`PolicySet::check_response`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseFacts {
    /// CNAME targets in chain order, the query name excluded (position `i + 1`).
    pub cnames: Vec<Name>,
    /// A/AAAA addresses in the answer section (at the end of the chain).
    pub addresses: Vec<IpAddr>,
    /// Delegations on the path to each answer RRset (empty when forwarding).
    pub delegations: Vec<Delegation>,
    /// Whether the real answer is DNSSEC-signed (RRSIGs present), for `break-dnssec`.
    pub signed: bool,
}

impl ResponseFacts {
    /// Extracts the CNAME chain, the answer addresses and the signed flag from a response:
    /// follows CNAMEs from `qname` through the answer section (in any order), and takes the
    /// A/AAAA records owned by the last name. Delegations are left empty (the recursion
    /// layer knows them, a forwarder does not).
    pub fn from_response(qname: &Name, response: &Message) -> Self {
        Self::from_sections(qname, &response.answers, &response.authorities)
    }

    /// [`ResponseFacts::from_response`] of a response's answer and authority
    /// records, for a caller that has them without a `Message`.
    pub fn from_sections<R: std::borrow::Borrow<Record>>(
        qname: &Name,
        answers: &[R],
        authorities: &[R],
    ) -> Self {
        let answers = || answers.iter().map(|r| r.borrow());
        let mut facts = ResponseFacts::default();
        let mut current = qname.clone();
        // A chain longer than the answer section would be a loop.
        for _ in 0..answers().len() {
            let next = answers().find_map(|r| match &r.data {
                RData::CNAME(c) if r.name == current => Some(c.0.clone()),
                _ => None,
            });
            match next {
                Some(t) if !facts.cnames.contains(&t) && &t != qname => {
                    facts.cnames.push(t.clone());
                    current = t;
                }
                _ => break,
            }
        }
        facts.addresses = answers()
            .filter(|r| r.name == current)
            .filter_map(|r| r.data.ip_addr())
            .collect();
        facts.signed = answers()
            .chain(authorities.iter().map(|r| r.borrow()))
            .any(|r| r.record_type() == RecordType::RRSIG);
        facts
    }
}

/// A rule that matched, with everything needed to log it, explain it and rewrite the answer.
#[derive(Clone, Debug)]
pub struct Hit {
    /// Index of the zone in the policy set (configuration order).
    pub zone_index: usize,
    /// The zone (its name, settings and SOA are used by the rewrite).
    pub zone: Arc<ZoneRules>,
    /// The rule's owner name in the policy zone (BIND's "via" name).
    pub owner: Name,
    /// What matched.
    pub trigger: Trigger,
    /// The action to take: the written action after the zone's `policy` override.
    pub action: Action,
    /// The action as written in the zone.
    pub rule_action: Action,
    /// Position in the CNAME chain where the hit happened (0 = the query name).
    pub position: usize,
    /// The chain name at that position: the owner of the rewritten answer.
    pub name: Name,
}

impl Hit {
    /// The trigger kind.
    pub fn kind(&self) -> TriggerKind {
        self.trigger.kind()
    }

    /// Whether this hit's zone has `policy disabled` (the hit is only logged).
    pub fn is_disabled(&self) -> bool {
        self.zone.settings().policy == PolicyOverride::Disabled
    }

    /// BIND's log line for this hit, e.g.
    /// `rpz QNAME NXDOMAIN rewrite bad.example1.jp/A/IN via bad.example1.jp.block`
    /// (prefixed with `disabled ` for a would-be hit in a disabled zone).
    pub fn log_line<'a>(&'a self, qname: &'a Name, qtype: RecordType) -> LogLine<'a> {
        LogLine {
            hit: self,
            qname,
            qtype,
        }
    }
}

/// Display adapter for BIND's `rpz` log line, see [`Hit::log_line`].
#[derive(Debug)]
pub struct LogLine<'a> {
    /// The hit.
    hit: &'a Hit,
    /// The client's query name.
    qname: &'a Name,
    /// The client's query type.
    qtype: RecordType,
}

impl fmt::Display for LogLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.hit;
        let trim = |n: &Name| {
            let s = n.to_ascii();
            if s.len() > 1 {
                s.trim_end_matches('.').to_string()
            } else {
                s
            }
        };
        write!(
            f,
            "{}rpz {} {} rewrite {}/{}/IN via {}",
            if h.is_disabled() { "disabled " } else { "" },
            h.kind(),
            h.action,
            trim(self.qname),
            self.qtype,
            trim(&h.owner)
        )
    }
}

/// The outcome of evaluating policy for one query.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// No rule applies.
    NoMatch,
    /// A rule applies: act on `hit.action` (see [`Hit::rewrite`](crate::Hit::rewrite)).
    Match(Box<Hit>),
    /// A rule matched, but the client set DO, the real answer is signed and the zone does not
    /// have `break-dnssec`: answer unchanged (BIND's default).
    DnssecExempt(Box<Hit>),
}

/// The result of a policy check: the verdict plus would-be hits of disabled zones.
#[derive(Clone, Debug)]
pub struct Decision {
    /// What to do.
    pub verdict: Verdict,
    /// Hits in `policy disabled` zones that outranked the verdict (to be logged only).
    pub disabled: Vec<Hit>,
}

impl Decision {
    /// The hit that applies, if any (not for [`Verdict::DnssecExempt`]).
    pub fn hit(&self) -> Option<&Hit> {
        match &self.verdict {
            Verdict::Match(h) => Some(h),
            _ => None,
        }
    }
}

/// The pre-resolution control flow (the RPZ layer's answer to "go on or stop here").
#[derive(Clone, Debug)]
pub enum QueryFlow {
    /// No policy can apply to this query: do not call `check_response`.
    Skip,
    /// Resolve (or use the cache), then call [`PolicySet::check_response`].
    Continue,
    /// Policy decided without the response; rewrite from the decision. (A `Passthru` or, over
    /// TCP, a `TcpOnly` hit rewrites to [`Rewrite::Unchanged`](crate::Rewrite::Unchanged):
    /// resolve and answer normally, without calling `check_response`.)
    Break(Decision),
}

/// The compiled policy: zones in configuration order (order = precedence).
#[derive(Clone, Debug, Default)]
pub struct PolicySet {
    /// The zones, earliest (strongest) first.
    zones: Vec<Arc<ZoneRules>>,
    /// Set-wide options.
    options: SetOptions,
    /// Zones switched off at run time (`sekishoctl rpz disable`), by
    /// position: they take no part, as if absent, and keep their rules and
    /// updates for `rpz enable`.
    off: Vec<bool>,
}

impl PolicySet {
    /// A set of zones in configuration order.
    pub fn new(zones: Vec<Arc<ZoneRules>>, options: SetOptions) -> Self {
        let off = vec![false; zones.len()];
        Self {
            zones,
            options,
            off,
        }
    }

    /// Whether the zone named `name` takes part (`None`: no such zone).
    pub fn is_enabled(&self, name: &Name) -> Option<bool> {
        let i = self.zones.iter().position(|z| z.name() == name)?;
        Some(self.off.get(i) != Some(&true))
    }

    /// A copy of the set with the zone named `name` switched on or off
    /// (`None`: no such zone). Cheap: the vectors of `Arc`s and flags are
    /// copied, no rule.
    pub fn with_zone_enabled(&self, name: &Name, enabled: bool) -> Option<PolicySet> {
        let i = self.zones.iter().position(|z| z.name() == name)?;
        let mut off = self.off.clone();
        if let Some(flag) = off.get_mut(i) {
            *flag = !enabled;
        }
        Some(PolicySet {
            zones: self.zones.clone(),
            options: self.options,
            off,
        })
    }

    /// The zones, in precedence order.
    pub fn zones(&self) -> &[Arc<ZoneRules>] {
        &self.zones
    }

    /// Whether a decision can depend on the client's address (some zone
    /// has client-IP rules). When not, a decision is a function of the
    /// question and the real answer alone, and a rewrite built for one
    /// client serves every other.
    pub fn reads_client(&self) -> bool {
        self.zones.iter().any(|z| z.counts().client_ip > 0)
    }

    /// Whether a decision can depend on the delegations on the way to the
    /// answer (some zone has enabled NSDNAME or NSIP rules). When not, the
    /// recursor need not collect them for [`ResponseFacts::delegations`].
    pub fn reads_delegations(&self) -> bool {
        self.zones
            .iter()
            .any(|z| z.may_match(TriggerKind::NsDname) || z.may_match(TriggerKind::NsIp))
    }

    /// Set-wide options.
    pub fn options(&self) -> SetOptions {
        self.options
    }

    /// The zone named `name`.
    pub fn zone(&self, name: &Name) -> Option<&Arc<ZoneRules>> {
        self.zones.iter().find(|z| z.name() == name)
    }

    /// A copy of the set with the zone of the same name replaced by `zone` (same position).
    /// Cheap: only the vector of `Arc`s is copied. If no zone has that name the set is
    /// returned unchanged (use [`PolicySet::new`] to change the zone list).
    pub fn with_zone_replaced(&self, zone: Arc<ZoneRules>) -> PolicySet {
        let zones = self
            .zones
            .iter()
            .map(|z| {
                if z.name() == zone.name() {
                    Arc::clone(&zone)
                } else {
                    Arc::clone(z)
                }
            })
            .collect();
        PolicySet {
            zones,
            options: self.options,
            off: self.off.clone(),
        }
    }

    /// Whether zone `i` (`z`) takes part for this query: not switched off,
    /// and `recursive-only` against RD.
    fn applies(&self, i: usize, z: &ZoneRules, q: &PolicyQuery<'_>) -> bool {
        self.off.get(i) != Some(&true) && (q.recursion_desired || !z.settings().recursive_only)
    }

    /// Whether no zone takes part for this query (`QueryFlow::Skip`).
    fn skips(&self, q: &PolicyQuery<'_>) -> bool {
        !self
            .zones
            .iter()
            .enumerate()
            .any(|(i, z)| self.applies(i, z, q))
    }

    /// The check before cache and resolution.
    pub fn check_query(&self, q: &PolicyQuery<'_>) -> QueryFlow {
        if self.skips(q) {
            return QueryFlow::Skip;
        }
        if self.options.qname_wait_recurse {
            return QueryFlow::Continue;
        }
        let probe = q.probe();
        let mut disabled = Vec::new();
        // An earlier (enabled) zone with IP/NSDNAME/NSIP rules could still outrank a hit
        // found here once the response is known (BIND's qname_skip_recurse mask).
        let mut earlier_needs_response = false;
        for (i, z) in self.zones.iter().enumerate() {
            if !self.applies(i, z, q) {
                continue;
            }
            let raw = z
                .match_client_ip(q.client)
                .or_else(|| z.match_qname(&probe, true));
            match raw {
                Some(raw) => {
                    let hit = make_hit(i, z, &raw, 0, q.qname);
                    if is_disabled(z) {
                        disabled.push(hit);
                        continue;
                    }
                    if earlier_needs_response || (q.dnssec_ok && !z.settings().break_dnssec) {
                        return QueryFlow::Continue;
                    }
                    return QueryFlow::Break(Decision {
                        verdict: Verdict::Match(Box::new(hit)),
                        disabled,
                    });
                }
                None => {
                    if z.settings().policy != PolicyOverride::Disabled && z.has_response_rules() {
                        earlier_needs_response = true;
                    }
                }
            }
        }
        QueryFlow::Continue
    }

    /// The check after resolution, with what the response showed.
    ///
    /// Builds the full [`Decision`] (rule owner, trigger and action materialised). The
    /// packet-cache fast path, which only needs to know whether anything matched, should use
    /// [`PolicySet::check_response_quick`].
    pub fn check_response(&self, q: &PolicyQuery<'_>, facts: &ResponseFacts) -> Decision {
        self.check(q, facts, true, &q.probe()).decision()
    }

    /// [`PolicySet::check_response`] without materialising the hit: no allocation, no
    /// reference count touched, no name built, and the matched key's bytes are not compared
    /// (its hash tag and slot are). [`QuickDecision::is_no_match`] answers the packet-cache
    /// fast path's question exactly when it says "no match"; "match" may be a hash false
    /// positive (odds of about 2^-50), which only sends the query down the slow path.
    /// [`QuickDecision::decision`] builds the full, verified decision.
    pub fn check_response_quick<'a>(
        &'a self,
        q: &PolicyQuery<'a>,
        facts: &'a ResponseFacts,
    ) -> QuickDecision<'a> {
        self.check(q, facts, false, &q.probe())
    }

    /// The packet-cache fast path's whole question, from the query name's wire form alone
    /// (no hickory name built): `Some(true)` when nothing can apply to this query and this
    /// cached answer, exactly when [`PolicySet::check_query`] gives `Skip`, or `Continue` and
    /// then [`PolicySet::check_response_quick`] says [`QuickDecision::is_no_match`].
    /// `Some(false)` may be a hash false positive (see `check_response_quick`). `None` when
    /// the question needs the name: `qname-wait-recurse no`, names of 17 or more labels, or
    /// bytes that are not one uncompressed name.
    pub fn no_match_by_wire(
        &self,
        client: IpAddr,
        qtype: RecordType,
        recursion_desired: bool,
        dnssec_ok: bool,
        qname_wire: &[u8],
        facts: &ResponseFacts,
    ) -> Option<bool> {
        if !self.options.qname_wait_recurse {
            return None;
        }
        // Never read: a "no match" builds no hit, and the decision is dropped here.
        let stand_in = Name::root();
        let q = PolicyQuery {
            client,
            qname: &stand_in,
            qname_wire: None,
            qtype,
            recursion_desired,
            dnssec_ok,
        };
        if self.skips(&q) {
            return Some(true);
        }
        // Names of 17 or more labels need the name (`None`).
        let mut probe = NameProbe::blank(&stand_in);
        if !probe.fill_from_wire(qname_wire) {
            return None;
        }
        Some(self.check(&q, facts, false, &probe).is_no_match())
    }

    /// The response check; `verify` false allows false-positive hits (see above). `first`:
    /// the probe of the query name.
    fn check<'a>(
        &'a self,
        q: &PolicyQuery<'a>,
        facts: &'a ResponseFacts,
        verify: bool,
        first: &NameProbe<'a>,
    ) -> QuickDecision<'a> {
        let mut disabled = Vec::new();
        let follow_chain = !matches!(
            q.qtype,
            RecordType::ANY | RecordType::CNAME | RecordType::DNAME
        );
        let positions = if follow_chain {
            1 + facts.cnames.len()
        } else {
            1
        };
        for p in 0..positions {
            let name = if p == 0 {
                q.qname
            } else {
                &facts.cnames[p - 1]
            };
            let last = p + 1 == positions;
            let chain_probe;
            let probe = if p == 0 {
                first
            } else {
                chain_probe = NameProbe::new(name);
                &chain_probe
            };
            for (i, z) in self.zones.iter().enumerate() {
                if !self.applies(i, z, q) {
                    continue;
                }
                let Some(raw) = best_in_zone(z, q, probe, p, last, facts, verify) else {
                    continue;
                };
                let hit = LazyHit {
                    zone_index: i,
                    zone: z,
                    raw,
                    position: p,
                    name,
                };
                if is_disabled(z) {
                    disabled.push(hit);
                    continue;
                }
                let exempt = q.dnssec_ok && facts.signed && !z.settings().break_dnssec;
                return QuickDecision {
                    hit: Some((hit, exempt)),
                    disabled,
                    verified: verify,
                    set: self,
                    query: *q,
                    facts,
                };
            }
        }
        QuickDecision {
            hit: None,
            disabled,
            verified: verify,
            set: self,
            query: *q,
            facts,
        }
    }

    /// Explains policy for one name without a response (for `sekishoctl test NAME [TYPE]
    /// [--client IP]`): client-IP and QNAME rules, plus response rules if `facts` are given.
    /// Unlike the query path this ignores `qname-wait-recurse`, DO and RD.
    pub fn explain(
        &self,
        client: IpAddr,
        qname: &Name,
        qtype: RecordType,
        facts: Option<&ResponseFacts>,
    ) -> Decision {
        let q = PolicyQuery {
            client,
            qname,
            qname_wire: None,
            qtype,
            recursion_desired: true,
            dnssec_ok: false,
        };
        let empty = ResponseFacts::default();
        self.check_response(&q, facts.unwrap_or(&empty))
    }
}

/// The best rule of one zone at chain position `p`, in the zone's trigger precedence.
fn best_in_zone<'z, 'q>(
    z: &'z ZoneRules,
    q: &PolicyQuery<'q>,
    probe: &NameProbe<'q>,
    p: usize,
    last: bool,
    facts: &'q ResponseFacts,
    verify: bool,
) -> Option<RawHit<'z, 'q>> {
    if p == 0 {
        if let Some(h) = z.match_client_ip(q.client) {
            return Some(h);
        }
    }
    if let Some(h) = z.match_qname(probe, verify) {
        return Some(h);
    }
    if last {
        if let Some(h) = z.match_response_ip(&facts.addresses) {
            return Some(h);
        }
    }
    let min_dots = usize::from(z.settings().min_ns_dots);
    let dels = || {
        facts
            .delegations
            .iter()
            .filter(move |d| d.position == p && d.zone.iter().len().saturating_sub(1) >= min_dots)
    };
    if let Some(h) = z.match_nsdname(dels().flat_map(|d| d.ns_names.iter()), verify) {
        return Some(h);
    }
    z.match_nsip(dels().flat_map(|d| d.ns_addresses.iter()))
}

/// Whether a zone has `policy disabled` (its hits are only logged).
fn is_disabled(z: &ZoneRules) -> bool {
    z.settings().policy == PolicyOverride::Disabled
}

/// A hit that still points into the index: zone, rule reference, chain position. Names and
/// actions are built only by [`QuickDecision::decision`].
#[derive(Clone, Copy, Debug)]
struct LazyHit<'a> {
    /// Index of the zone in the set.
    zone_index: usize,
    /// The zone.
    zone: &'a Arc<ZoneRules>,
    /// The matched rule.
    raw: RawHit<'a, 'a>,
    /// Position in the CNAME chain.
    position: usize,
    /// The chain name at that position.
    name: &'a Name,
}

impl LazyHit<'_> {
    /// The public hit.
    fn materialise(&self) -> Hit {
        make_hit(
            self.zone_index,
            self.zone,
            &self.raw,
            self.position,
            self.name,
        )
    }
}

/// The result of [`PolicySet::check_response_quick`]: a decision whose hits are not built
/// yet. It borrows the set, the query and the response facts.
#[derive(Clone, Debug)]
pub struct QuickDecision<'a> {
    /// The applied (or DNSSEC-exempt, flag `true`) hit.
    hit: Option<(LazyHit<'a>, bool)>,
    /// Would-be hits of `policy disabled` zones (empty: no allocation).
    disabled: Vec<LazyHit<'a>>,
    /// Whether the hits were verified (key bytes compared).
    verified: bool,
    /// The set, query and facts, to verify later.
    set: &'a PolicySet,
    /// See `set`.
    query: PolicyQuery<'a>,
    /// See `set`.
    facts: &'a ResponseFacts,
}

impl QuickDecision<'_> {
    /// Whether no rule matched at all, not even in a disabled zone: serve the real answer,
    /// log nothing. Exact (a "no" is never a false negative).
    pub fn is_no_match(&self) -> bool {
        self.hit.is_none() && self.disabled.is_empty()
    }

    /// The full decision: hits verified, rule owners, triggers and actions built.
    pub fn decision(&self) -> Decision {
        if !self.verified {
            return self
                .set
                .check(&self.query, self.facts, true, &self.query.probe())
                .decision();
        }
        let disabled = self.disabled.iter().map(LazyHit::materialise).collect();
        let verdict = match &self.hit {
            None => Verdict::NoMatch,
            Some((h, false)) => Verdict::Match(Box::new(h.materialise())),
            Some((h, true)) => Verdict::DnssecExempt(Box::new(h.materialise())),
        };
        Decision { verdict, disabled }
    }
}

/// Builds the public hit for a raw match.
fn make_hit(
    i: usize,
    z: &Arc<ZoneRules>,
    raw: &RawHit<'_, '_>,
    position: usize,
    name: &Name,
) -> Hit {
    let (owner, trigger, rule_action, ttl) = z.describe(raw);
    let action = z.effective_action(&rule_action, ttl);
    Hit {
        zone_index: i,
        zone: Arc::clone(z),
        owner,
        trigger,
        action,
        rule_action,
        position,
        name: name.clone(),
    }
}
