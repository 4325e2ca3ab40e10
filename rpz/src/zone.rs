//! One compiled policy zone: records → rules → [`ZoneRules`].
//!
//! ```text
//!  records (zone order) ──group by owner──▶ classify owner ──▶ action from RDATA
//!                                              │                    │
//!          ┌───────────────────────────────────┘                    ▼
//!          ▼                                           value (u32): NXDOMAIN | NODATA |
//!   QNAME / NSDNAME ──▶ NameTable (flat, one arena)    PASSTHRU | DROP | TCP-ONLY |
//!   CLIENT-IP / IP / NSIP ──▶ IpTrie + IpRule list     local data offset ──▶ wire arena
//! ```
//!
//! A zone is compiled in one pass over its records. Records arrive grouped by owner in zone
//! files and transfers, so each owner's RRsets are turned into a rule as soon as the owner
//! changes; an owner seen again later is merged into the existing rule, so duplicates never
//! fail a load. Anything unusable is skipped with a [`Warning`].
//!
//! Rule actions are packed into a `u32`: small constants for the five CNAME actions, or an
//! offset into one byte arena that holds local data in wire form (`type, ttl, rdlength,
//! rdata`). Local data is decoded into hickory records only when a rule hits.
//!
//! Incremental updates (IXFR) go into a small *overlay* index in front of the shared base
//! index: an overlay entry replaces or removes (tombstone) the base rule with the same key.
//! Applying a delta copies only the overlay, never the base; the next full compile merges.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashTable;
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{
    BinDecoder, BinEncodable, BinEncoder, NameEncoding, Restrict,
};

use crate::encoding::{parse_ip_labels, IpPrefix};
use crate::iptrie::{key_of, IpTrie};
use crate::names::{
    hash_labels, key_labels, wire_labels, Inserted, KeyShape, NameMatch, NameProbe, NameTable,
};
use crate::rule::{Action, Trigger, TriggerKind, Warning, WarningReason};
use crate::settings::{PolicyOverride, ZoneSettings};

/// Encoded action: `CNAME .`.
pub(crate) const V_NXDOMAIN: u32 = 0;
/// Encoded action: `CNAME *.`.
pub(crate) const V_NODATA: u32 = 1;
/// Encoded action: `CNAME rpz-passthru.`.
pub(crate) const V_PASSTHRU: u32 = 2;
/// Encoded action: `CNAME rpz-drop.`.
pub(crate) const V_DROP: u32 = 3;
/// Encoded action: `CNAME rpz-tcp-only.`.
pub(crate) const V_TCP_ONLY: u32 = 4;
/// Overlay only: the key was removed from the base.
pub(crate) const V_TOMBSTONE: u32 = 5;
/// Values from here on are local-data arena offsets plus this base.
const V_LOCAL: u32 = 8;

/// The rule owner label suffixes that select a trigger type.
const RPZ_CLIENT_IP: &[u8] = b"rpz-client-ip";
/// See [`RPZ_CLIENT_IP`].
const RPZ_IP: &[u8] = b"rpz-ip";
/// See [`RPZ_CLIENT_IP`].
const RPZ_NSIP: &[u8] = b"rpz-nsip";
/// See [`RPZ_CLIENT_IP`].
const RPZ_NSDNAME: &[u8] = b"rpz-nsdname";

/// An IP-triggered rule (client-IP, response IP or NSIP).
#[derive(Clone, Debug)]
struct IpRule {
    /// Owner name as written in the zone (absolute).
    owner: Name,
    /// The prefix.
    prefix: IpPrefix,
    /// Encoded action.
    value: u32,
    /// TTL of the action record.
    ttl: u32,
}

/// Which name table a name rule lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameKind {
    /// QNAME rules (keys are the trigger names).
    Qname,
    /// NSDNAME rules (keys are the NS names, without `rpz-nsdname`).
    NsDname,
}

impl NameKind {
    /// Both name tables.
    const ALL: [NameKind; 2] = [NameKind::Qname, NameKind::NsDname];

    /// The trigger type of the rules in this table.
    fn trigger(self) -> TriggerKind {
        match self {
            NameKind::Qname => TriggerKind::Qname,
            NameKind::NsDname => TriggerKind::NsDname,
        }
    }
}

/// Which trie an IP rule lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IpKind {
    /// `rpz-client-ip`.
    Client,
    /// `rpz-ip`.
    Response,
    /// `rpz-nsip`.
    Ns,
}

impl IpKind {
    /// The trigger type of the rules in this trie.
    fn trigger(self) -> TriggerKind {
        match self {
            IpKind::Client => TriggerKind::ClientIp,
            IpKind::Response => TriggerKind::ResponseIp,
            IpKind::Ns => TriggerKind::NsIp,
        }
    }
}

/// One layer of rules: the base index or the incremental overlay.
#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    /// QNAME rules.
    qname: NameTable,
    /// NSDNAME rules.
    nsdname: NameTable,
    /// Client-IP prefixes → `ip_rules` index.
    client_ip: IpTrie,
    /// Response-IP prefixes → `ip_rules` index.
    ip: IpTrie,
    /// NSIP prefixes → `ip_rules` index.
    nsip: IpTrie,
    /// IP rules, referenced from the tries.
    ip_rules: Vec<IpRule>,
    /// Local data in wire form, see [`encode_local`].
    local: Vec<u8>,
}

impl Index {
    /// The name table for `kind`.
    fn names(&self, kind: NameKind) -> &NameTable {
        match kind {
            NameKind::Qname => &self.qname,
            NameKind::NsDname => &self.nsdname,
        }
    }

    /// The name table for `kind`, to change.
    fn names_mut(&mut self, kind: NameKind) -> &mut NameTable {
        match kind {
            NameKind::Qname => &mut self.qname,
            NameKind::NsDname => &mut self.nsdname,
        }
    }

    /// The IP rules still in their trie (a rule replaced by a later merge is not), with
    /// their index and trie, tombstones included.
    fn live_ip_rules(&self, apex_labels: usize) -> impl Iterator<Item = (u32, IpKind, &IpRule)> {
        self.ip_rules
            .iter()
            .enumerate()
            .filter_map(move |(i, rule)| {
                let ik = ip_kind_of(&rule.owner, apex_labels);
                let i = i as u32;
                (self
                    .trie(ik)
                    .get(rule.prefix.key(), rule.prefix.scaled_len())
                    == Some(i))
                .then_some((i, ik, rule))
            })
    }

    /// The trie for `kind`.
    fn trie(&self, kind: IpKind) -> &IpTrie {
        match kind {
            IpKind::Client => &self.client_ip,
            IpKind::Response => &self.ip,
            IpKind::Ns => &self.nsip,
        }
    }

    /// Bytes held on the heap, for memory reports.
    fn heap_bytes(&self) -> usize {
        self.qname.heap_bytes()
            + self.nsdname.heap_bytes()
            + self.client_ip.heap_bytes()
            + self.ip.heap_bytes()
            + self.nsip.heap_bytes()
            + self.ip_rules.capacity() * std::mem::size_of::<IpRule>()
            + self.local.capacity()
    }
}

/// Number of rules per trigger type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleCounts {
    /// QNAME rules (exact and wildcard).
    pub qname: usize,
    /// Client-IP rules.
    pub client_ip: usize,
    /// Response-IP rules.
    pub response_ip: usize,
    /// NSDNAME rules.
    pub nsdname: usize,
    /// NSIP rules.
    pub nsip: usize,
}

impl RuleCounts {
    /// All rules.
    pub fn total(&self) -> usize {
        self.qname + self.client_ip + self.response_ip + self.nsdname + self.nsip
    }

    /// The counter of one trigger type.
    fn of(&mut self, kind: TriggerKind) -> &mut usize {
        match kind {
            TriggerKind::Qname => &mut self.qname,
            TriggerKind::NsDname => &mut self.nsdname,
            TriggerKind::ClientIp => &mut self.client_ip,
            TriggerKind::ResponseIp => &mut self.response_ip,
            TriggerKind::NsIp => &mut self.nsip,
        }
    }
}

/// One rule as listed by [`ZoneRules::rules`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Owner name in the policy zone.
    pub owner: Name,
    /// Trigger type.
    pub kind: TriggerKind,
    /// The action as written (before any `policy` override).
    pub action: Action,
}

/// The compiled rules of one policy zone: immutable, shared by all queries via `Arc`.
pub struct ZoneRules {
    /// Zone options.
    settings: ZoneSettings,
    /// Number of labels of the apex.
    apex_labels: usize,
    /// The apex SOA (serial for transfers, ADDITIONAL section of rewritten answers).
    soa: Option<Record>,
    /// The big immutable index, shared between versions made by `apply_delta`.
    base: Arc<Index>,
    /// Rules changed since the base was compiled (replacements and tombstones).
    overlay: Option<Arc<Index>>,
    /// Owners whose records were skipped at compile time, kept so that a later delta that
    /// touches the owner can rebuild its rule exactly as a full compile would.
    skipped: Arc<Vec<Record>>,
    /// Rules in `base` alone.
    base_counts: RuleCounts,
    /// Live rules (base shadowed by the overlay), kept so that status and metrics never
    /// walk a million-rule index.
    counts: RuleCounts,
    /// Bit `TriggerKind as u8` set: rules of that kind can match (see [`ZoneRules::may_match`]).
    active: u8,
    /// Some owner's records were merged from more than one place of the input (an owner
    /// repeated apart from its group, or a record given twice); see [`ZoneRules::merged_owners`].
    merged: bool,
}

impl fmt::Debug for ZoneRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZoneRules")
            .field("zone", &self.settings.name)
            .field("serial", &self.serial())
            .field("rules", &self.counts())
            .field("overlay", &self.overlay.is_some())
            .finish()
    }
}

/// A rule that matched, still pointing into the index (no allocation).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawHit<'z, 'q> {
    /// Trigger type.
    pub(crate) kind: TriggerKind,
    /// The layer holding the rule.
    layer: &'z Index,
    /// The rule.
    rule: RuleRef,
    /// What matched it.
    pub(crate) matched: Matched<'q>,
}

/// Where a matched rule lives in its layer.
#[derive(Clone, Copy, Debug)]
enum RuleRef {
    /// A name rule: table, arena key and value.
    Name {
        /// Which table.
        kind: NameKind,
        /// The match.
        m: NameMatch,
    },
    /// An IP rule (index into `ip_rules`).
    Ip(u32),
}

/// The query or response value that matched.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Matched<'q> {
    /// A name (query name, chain name or NS name).
    Name(&'q Name),
    /// An address (client, answer or NS address).
    Addr(IpAddr),
}

impl RawHit<'_, '_> {
    /// Ranking of an NSDNAME candidate: exact beats wildcard, more labels wins.
    fn name_rank(&self) -> (bool, usize) {
        match self.rule {
            RuleRef::Name { m, .. } => (m.shape == KeyShape::Exact, m.labels),
            RuleRef::Ip(_) => (false, 0),
        }
    }

    /// Ranking of an IP candidate: the scaled prefix length.
    fn prefix_len(&self) -> u8 {
        match self.rule {
            RuleRef::Ip(i) => self.layer.ip_rules[i as usize].prefix.scaled_len(),
            RuleRef::Name { .. } => 0,
        }
    }
}

impl ZoneRules {
    /// Compiles one policy zone from its records (owners absolute, under `settings.name`).
    ///
    /// Never fails: unusable records are skipped and reported in the returned warnings
    /// (`NonCanonicalIp` warnings are notes on rules that *were* loaded).
    pub fn compile(
        settings: ZoneSettings,
        records: impl IntoIterator<Item = Record>,
    ) -> (ZoneRules, Vec<Warning>) {
        let records = records.into_iter();
        let mut b = Builder::new(&settings, records.size_hint().0);
        let mut group: Vec<Record> = Vec::new();
        for r in records {
            if group.first().is_some_and(|g| !same_owner(&g.name, &r.name)) {
                b.add_owner(&group);
                group.clear();
            }
            group.push(r);
        }
        if !group.is_empty() {
            b.add_owner(&group);
        }
        b.finish(settings)
    }

    /// An empty zone (no rules), e.g. while the first transfer is pending.
    pub fn empty(settings: ZoneSettings) -> ZoneRules {
        Self::compile(settings, std::iter::empty()).0
    }

    /// The zone apex.
    pub fn name(&self) -> &Name {
        &self.settings.name
    }

    /// The zone options.
    pub fn settings(&self) -> &ZoneSettings {
        &self.settings
    }

    /// The apex SOA record, if the zone had one.
    pub fn soa(&self) -> Option<&Record> {
        self.soa.as_ref()
    }

    /// The SOA serial, if the zone had an SOA.
    pub fn serial(&self) -> Option<u32> {
        match self.soa.as_ref().map(|r| &r.data) {
            Some(RData::SOA(soa)) => Some(soa.serial),
            _ => None,
        }
    }

    /// Number of rules per trigger type (kept with the zone: no walk of the index).
    pub fn counts(&self) -> RuleCounts {
        self.counts
    }

    /// Count by visiting every live rule (what `counts` keeps up to date).
    fn walk_counts(&self) -> RuleCounts {
        let mut c = RuleCounts::default();
        self.for_each_rule(|_, kind, _| *c.of(kind) += 1);
        c
    }

    /// Approximate heap bytes held by the compiled index (base and overlay).
    pub fn heap_bytes(&self) -> usize {
        self.base.heap_bytes() + self.overlay.as_ref().map_or(0, |o| o.heap_bytes())
    }

    /// Number of rules held in the incremental overlay (0 after a full compile). The owner of
    /// the zone recompiles when this grows large.
    pub fn overlay_len(&self) -> usize {
        self.overlay.as_ref().map_or(0, |o| {
            o.qname.len() + o.nsdname.len() + o.client_ip.len() + o.ip.len() + o.nsip.len()
        })
    }

    /// Whether some owner's records were merged from more than one place of the compiled
    /// input: an owner repeated away from its other records, or a record given twice. A
    /// reload by difference maps each line of a zone file to one record, which holds only
    /// when this is false.
    pub fn merged_owners(&self) -> bool {
        self.merged
    }

    /// Whether the zone has rules that can only match once the response is known (response
    /// IP always; NSDNAME and NSIP when enabled).
    pub fn has_response_rules(&self) -> bool {
        [
            TriggerKind::ResponseIp,
            TriggerKind::NsDname,
            TriggerKind::NsIp,
        ]
        .into_iter()
        .any(|k| self.may_match(k))
    }

    /// Whether rules of trigger `kind` can match here: the zone has some (in either layer; it
    /// may over-report when an overlay removed the last one) and, for NSDNAME and NSIP, the
    /// trigger is enabled. Read on every query before any index is touched, so most zones
    /// pay nothing for the trigger kinds they do not use.
    #[inline]
    pub(crate) fn may_match(&self, kind: TriggerKind) -> bool {
        self.active & (1 << kind as u8) != 0
    }

    /// The [`ZoneRules::may_match`] bits of a zone with these layers and settings.
    fn active_bits(settings: &ZoneSettings, base: &Index, overlay: Option<&Index>) -> u8 {
        let layers = || std::iter::once(base).chain(overlay);
        let any = |n: fn(&Index) -> usize| layers().any(|l| n(l) > 0);
        [
            (TriggerKind::ClientIp, any(|l| l.client_ip.len())),
            (TriggerKind::Qname, any(|l| l.qname.len())),
            (TriggerKind::ResponseIp, any(|l| l.ip.len())),
            (
                TriggerKind::NsDname,
                settings.nsdname_enable && any(|l| l.nsdname.len()),
            ),
            (
                TriggerKind::NsIp,
                settings.nsip_enable && any(|l| l.nsip.len()),
            ),
        ]
        .into_iter()
        .filter(|&(_, on)| on)
        .fold(0, |bits, (k, _)| bits | 1 << k as u8)
    }

    /// All rules, with their actions as written (no particular order).
    pub fn rules(&self) -> Vec<Rule> {
        let mut out = Vec::new();
        self.for_each_rule(|layer, kind, rule| {
            let (owner, value, ttl) = self.rule_parts(layer, rule);
            out.push(Rule {
                owner: owner.clone(),
                kind,
                action: decode_action(layer, value, ttl, &owner),
            });
        });
        out
    }

    /// One page of the rules whose owner `keep` accepts: the `limit` after
    /// the first `offset` of them, and how many there are in all. The order
    /// is the index's, fixed for one version of the zone. Only the page's
    /// rules are decoded, so listing a million-rule zone a page at a time
    /// costs a walk of the index, not a copy of it.
    pub fn rules_page(
        &self,
        keep: impl Fn(&Name) -> bool,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<Rule>) {
        let mut total = 0;
        let mut out = Vec::new();
        self.for_each_rule(|layer, kind, rule| {
            let (owner, value, ttl) = self.rule_parts(layer, rule);
            if !keep(&owner) {
                return;
            }
            if total >= offset && out.len() < limit {
                out.push(Rule {
                    action: decode_action(layer, value, ttl, &owner),
                    owner,
                    kind,
                });
            }
            total += 1;
        });
        (total, out)
    }

    /// Visit every live rule as (layer, kind, reference), overlay entries shadowing the base.
    fn for_each_rule<'a>(&'a self, mut visit: impl FnMut(&'a Index, TriggerKind, RuleRef)) {
        let layers: Vec<&Index> = std::iter::once(&*self.base)
            .chain(self.overlay.as_deref())
            .collect();
        let ov = self.overlay.as_deref();
        for (li, layer) in layers.iter().enumerate() {
            let is_base = li == 0;
            for nk in NameKind::ALL {
                let kind = nk.trigger();
                for (key, value) in layer.names(nk).iter() {
                    if value == V_TOMBSTONE {
                        continue;
                    }
                    if is_base {
                        if let Some(o) = ov {
                            let labels = wire_labels(layer.names(nk).key_bytes(key));
                            if o.names(nk).get(&labels).is_some() {
                                continue;
                            }
                        }
                    }
                    let wildcard = layer.names(nk).key_bytes(key).starts_with(b"\x01*");
                    let m = NameMatch {
                        key,
                        labels: 0,
                        shape: if wildcard {
                            KeyShape::Wildcard
                        } else {
                            KeyShape::Exact
                        },
                    };
                    visit(layer, kind, RuleRef::Name { kind: nk, m });
                }
            }
            for (i, rule) in layer.ip_rules.iter().enumerate() {
                let ik = ip_kind_of(&rule.owner, self.apex_labels);
                let live = layer
                    .trie(ik)
                    .get(rule.prefix.key(), rule.prefix.scaled_len());
                if live != Some(i as u32) || rule.value == V_TOMBSTONE {
                    continue;
                }
                if is_base {
                    if let Some(o) = ov {
                        if o.trie(ik)
                            .get(rule.prefix.key(), rule.prefix.scaled_len())
                            .is_some()
                        {
                            continue;
                        }
                    }
                }
                visit(layer, ik.trigger(), RuleRef::Ip(i as u32));
            }
        }
    }

    /// Owner name, encoded action and TTL of a rule.
    fn rule_parts(&self, layer: &Index, rule: RuleRef) -> (Name, u32, u32) {
        match rule {
            RuleRef::Name { kind, m } => {
                let t = layer.names(kind);
                let owner = self.owner_from_key(t.key_bytes(m.key), kind);
                let (value, ttl) = t.key_action(m.key);
                (owner, value, ttl)
            }
            RuleRef::Ip(i) => {
                let r = &layer.ip_rules[i as usize];
                (r.owner.clone(), r.value, r.ttl)
            }
        }
    }

    /// The absolute owner name of a name-table key (relative wire labels).
    fn owner_from_key(&self, wire: &[u8], kind: NameKind) -> Name {
        owner_of_key(wire, kind, &self.settings.name)
    }

    // ----- lookups used by the policy set -------------------------------------------------

    /// Best name rule of `kind` for the probed name, overlay first.
    ///
    /// With `verify` false a found base key may be a false positive (see
    /// `NameTable::exact`); the small overlay is always verified, so that a tombstone can
    /// never hide a base rule by mistake.
    fn name_lookup<'z>(
        &'z self,
        kind: NameKind,
        probe: &NameProbe<'_>,
        verify: bool,
    ) -> Option<(&'z Index, NameMatch)> {
        let base = &*self.base;
        let Some(ov) = self.overlay.as_deref() else {
            return base.names(kind).best_with(probe, verify).map(|m| (base, m));
        };
        let (bt, ot) = (base.names(kind), ov.names(kind));
        let pick = |o: Option<NameMatch>,
                    b: Option<NameMatch>|
         -> Option<Option<(&'z Index, NameMatch)>> {
            match o {
                Some(m) if ot.key_value(m.key) == V_TOMBSTONE => None,
                Some(m) => Some(Some((ov, m))),
                None => b.map(|m| Some((base, m))),
            }
        };
        if let Some(Some(hit)) = pick(ot.exact(probe, true), bt.exact(probe, verify)) {
            return Some(hit);
        }
        // Closest-encloser rule (see `NameTable::best`), with both layers: a node is an
        // interior node of the combined tree or a live exact key.
        let (j, hit) = (1..=probe.len()).find_map(|i| {
            pick(
                ot.wildcard_at(probe, i, true),
                bt.wildcard_at(probe, i, verify),
            )
            .flatten()
            .map(|h| (i, h))
        })?;
        let exact_live = |i: usize| match ot.exact_at(probe, i) {
            Some((_, v)) => v != V_TOMBSTONE,
            None => bt.exact_at(probe, i).is_some(),
        };
        let blocked = (0..j).any(|i| {
            bt.ent_count_at(probe, i) + ot.ent_count_at(probe, i) > 0 || (i > 0 && exact_live(i))
        });
        (!blocked).then_some(hit)
    }

    /// Longest-prefix IP rule of `kind` for `addr`, overlay first.
    fn ip_lookup(&self, kind: IpKind, addr: IpAddr) -> Option<(&Index, u32)> {
        let key = key_of(addr);
        let base = &*self.base;
        let Some(ov) = self.overlay.as_deref() else {
            return base.trie(kind).longest(key).map(|(_, v)| (base, v));
        };
        // Collect both layers' matches; the longest prefix wins, the overlay shadowing the
        // base at equal length (tombstones remove the base entry).
        let mut best: Option<(u8, &Index, u32)> = None;
        let mut shadowed: Vec<u8> = Vec::new();
        ov.trie(kind).for_each_match(key, |len, v| {
            shadowed.push(len);
            if ov.ip_rules[v as usize].value != V_TOMBSTONE && best.is_none_or(|b| len > b.0) {
                best = Some((len, ov, v));
            }
        });
        base.trie(kind).for_each_match(key, |len, v| {
            if !shadowed.contains(&len) && best.is_none_or(|b| len > b.0) {
                best = Some((len, base, v));
            }
        });
        best.map(|(_, l, v)| (l, v))
    }

    /// Client-IP rule for the client address.
    #[inline]
    pub(crate) fn match_client_ip(&self, client: IpAddr) -> Option<RawHit<'_, 'static>> {
        if !self.may_match(TriggerKind::ClientIp) {
            return None;
        }
        self.ip_lookup(IpKind::Client, client)
            .map(|(layer, i)| RawHit {
                kind: TriggerKind::ClientIp,
                layer,
                rule: RuleRef::Ip(i),
                matched: Matched::Addr(client),
            })
    }

    /// QNAME rule for a name of the CNAME chain.
    /// (`verify` false: a hit may be a false positive, a miss is exact.)
    pub(crate) fn match_qname<'q>(
        &self,
        probe: &NameProbe<'q>,
        verify: bool,
    ) -> Option<RawHit<'_, 'q>> {
        self.name_lookup(NameKind::Qname, probe, verify)
            .map(|(layer, m)| RawHit {
                kind: TriggerKind::Qname,
                layer,
                rule: RuleRef::Name {
                    kind: NameKind::Qname,
                    m,
                },
                matched: Matched::Name(probe.name()),
            })
    }

    /// Best IP rule of `kind` over several addresses: longest prefix, then smaller address.
    fn best_ip<'a>(
        &self,
        kind: IpKind,
        tk: TriggerKind,
        addrs: impl Iterator<Item = &'a IpAddr>,
    ) -> Option<RawHit<'_, 'static>> {
        let mut best: Option<RawHit<'_, 'static>> = None;
        for &addr in addrs {
            let Some((layer, i)) = self.ip_lookup(kind, addr) else {
                continue;
            };
            let cand = RawHit {
                kind: tk,
                layer,
                rule: RuleRef::Ip(i),
                matched: Matched::Addr(addr),
            };
            let better = match &best {
                None => true,
                Some(b) => {
                    let (cl, bl) = (cand.prefix_len(), b.prefix_len());
                    let b_addr = match b.matched {
                        Matched::Addr(a) => key_of(a),
                        Matched::Name(_) => u128::MAX,
                    };
                    cl > bl || (cl == bl && key_of(addr) < b_addr)
                }
            };
            if better {
                best = Some(cand);
            }
        }
        best
    }

    /// Response-IP rule over the answer addresses.
    #[inline]
    pub(crate) fn match_response_ip(&self, addrs: &[IpAddr]) -> Option<RawHit<'_, 'static>> {
        if !self.may_match(TriggerKind::ResponseIp) {
            return None;
        }
        self.best_ip(IpKind::Response, TriggerKind::ResponseIp, addrs.iter())
    }

    /// NSIP rule over name server addresses (when enabled).
    pub(crate) fn match_nsip<'a>(
        &self,
        addrs: impl Iterator<Item = &'a IpAddr>,
    ) -> Option<RawHit<'_, 'static>> {
        if !self.may_match(TriggerKind::NsIp) {
            return None;
        }
        self.best_ip(IpKind::Ns, TriggerKind::NsIp, addrs)
    }

    /// NSDNAME rule over name server names (when enabled): exact beats wildcard, more labels
    /// wins, and on a tie the NS name that sorts last in DNSSEC canonical order.
    /// (`verify` as for [`ZoneRules::match_qname`].)
    pub(crate) fn match_nsdname<'q>(
        &self,
        names: impl Iterator<Item = &'q Name>,
        verify: bool,
    ) -> Option<RawHit<'_, 'q>> {
        if !self.may_match(TriggerKind::NsDname) {
            return None;
        }
        let mut best: Option<RawHit<'_, 'q>> = None;
        for ns in names {
            let probe = NameProbe::new(ns);
            let Some((layer, m)) = self.name_lookup(NameKind::NsDname, &probe, verify) else {
                continue;
            };
            let cand = RawHit {
                kind: TriggerKind::NsDname,
                layer,
                rule: RuleRef::Name {
                    kind: NameKind::NsDname,
                    m,
                },
                matched: Matched::Name(ns),
            };
            let better = match &best {
                None => true,
                Some(b) => {
                    let (cr, br) = (cand.name_rank(), b.name_rank());
                    cr > br
                        || (cr == br
                            && matches!((cand.matched, b.matched),
                                (Matched::Name(c), Matched::Name(bn)) if c > bn))
                }
            };
            if better {
                best = Some(cand);
            }
        }
        best
    }

    /// Materialises a raw hit: the rule owner, the trigger, and the action as written.
    pub(crate) fn describe(&self, raw: &RawHit<'_, '_>) -> (Name, Trigger, Action, u32) {
        let (owner, value, ttl) = self.rule_parts(raw.layer, raw.rule);
        let action = decode_action(raw.layer, value, ttl, &owner);
        let trigger = match (raw.kind, raw.matched, raw.rule) {
            (TriggerKind::Qname, Matched::Name(n), RuleRef::Name { m, .. }) => Trigger::Qname {
                name: n.clone(),
                wildcard: m.shape == KeyShape::Wildcard,
            },
            (TriggerKind::NsDname, Matched::Name(n), RuleRef::Name { m, .. }) => Trigger::NsDname {
                ns: n.clone(),
                wildcard: m.shape == KeyShape::Wildcard,
            },
            (kind, Matched::Addr(address), RuleRef::Ip(i)) => {
                let prefix = raw.layer.ip_rules[i as usize].prefix;
                match kind {
                    TriggerKind::ClientIp => Trigger::ClientIp { address, prefix },
                    TriggerKind::NsIp => Trigger::NsIp { address, prefix },
                    _ => Trigger::ResponseIp { address, prefix },
                }
            }
            // Raw hits are only built by the match functions above, which pair kinds, values
            // and rule references consistently; keep a harmless fallback anyway.
            (_, Matched::Name(n), _) => Trigger::Qname {
                name: n.clone(),
                wildcard: false,
            },
            (_, Matched::Addr(address), _) => Trigger::ResponseIp {
                address,
                prefix: IpPrefix {
                    addr: address,
                    len: 0,
                },
            },
        };
        (owner, trigger, action, ttl)
    }

    /// The action after the zone's `policy` override (`Disabled` keeps the written action:
    /// the caller reports it as a would-be hit).
    /// `ttl` is the rule's TTL, used for the CNAME of a `cname NAME` override.
    pub(crate) fn effective_action(&self, written: &Action, ttl: u32) -> Action {
        match &self.settings.policy {
            PolicyOverride::Given | PolicyOverride::Disabled => written.clone(),
            PolicyOverride::Passthru => Action::Passthru,
            PolicyOverride::Drop => Action::Drop,
            PolicyOverride::TcpOnly => Action::TcpOnly,
            PolicyOverride::Nxdomain => Action::Nxdomain,
            PolicyOverride::Nodata => Action::Nodata,
            PolicyOverride::Cname(target) => Action::Cname {
                target: target.clone(),
                ttl,
            },
        }
    }

    // ----- incremental update -------------------------------------------------------------

    /// A new version of the zone with `removed` records deleted and `added` records inserted
    /// (an IXFR step). Owners not touched by the delta are not visited: the new version
    /// shares the base index and copies only the small overlay. The result answers every
    /// lookup exactly as a full compile of the final record set would.
    ///
    /// A removed record that is not in the zone is ignored (as IXFR application in a zone
    /// store would reject the delta before it gets here). Returns the warnings for the
    /// touched owners.
    pub fn apply_delta(&self, removed: &[Record], added: &[Record]) -> (ZoneRules, Vec<Warning>) {
        match self.delta(removed, added, false) {
            Some(done) => done,
            None => unreachable!("a lenient delta always applies"),
        }
    }

    /// [`ZoneRules::apply_delta`] for a delta that must match the zone record for record:
    /// `None` (nothing applied) if a removed record is not in the zone, or an added record
    /// is there already (after the removals) or is added twice. A reload by difference uses
    /// it, so that a delta computed from two texts is applied only when it says exactly
    /// what changed.
    pub fn apply_exact_delta(
        &self,
        removed: &[Record],
        added: &[Record],
    ) -> Option<(ZoneRules, Vec<Warning>)> {
        self.delta(removed, added, true)
    }

    /// Both deltas; `exact` refuses a delta that does not match the zone (see above).
    fn delta(
        &self,
        removed: &[Record],
        added: &[Record],
        exact: bool,
    ) -> Option<(ZoneRules, Vec<Warning>)> {
        let mut soa = self.soa.clone();
        // Current records of every touched owner, from the live rule and the skipped list;
        // where each removed and added record's owner is.
        let mut touched = Touched::default();
        let places: Vec<usize> = removed
            .iter()
            .chain(added)
            .map(|r| touched.place(&r.name, |n| self.records_at(n)))
            .collect();
        let (removed_at, added_at) = places.split_at(removed.len());
        let mut skipped: Vec<Record> = Vec::with_capacity(self.skipped.len());
        for r in self.skipped.iter() {
            match touched.get(&r.name) {
                Some(i) => touched.owners[i].1.push(r.clone()),
                None => skipped.push(r.clone()),
            }
        }
        for (r, &i) in removed.iter().zip(removed_at) {
            if r.record_type() == RecordType::SOA && r.name == self.settings.name {
                continue;
            }
            let recs = &mut touched.owners[i].1;
            if let Some(pos) = recs
                .iter()
                .position(|x| x.record_type() == r.record_type() && x.data == r.data)
            {
                recs.remove(pos);
            } else if exact {
                return None;
            }
        }
        for (r, &i) in added.iter().zip(added_at) {
            if r.record_type() == RecordType::SOA && r.name == self.settings.name {
                soa = Some(r.clone());
                continue;
            }
            let recs = &mut touched.owners[i].1;
            if !recs
                .iter()
                .any(|x| x.record_type() == r.record_type() && x.data == r.data)
            {
                recs.push(r.clone());
            } else if exact {
                return None;
            }
        }
        // Rebuild the overlay: old overlay entries of untouched owners, plus the touched owners.
        let current = &touched.owners;
        let mut b = Builder::new(&self.settings, current.len());
        b.overlay = true;
        b.soa = soa;
        if let Some(ov) = self.overlay.as_deref() {
            // Name rules are copied as compiled, their keys checked against the touched
            // owners without building each owner's name.
            let apex: Vec<&[u8]> = self.settings.name.iter().collect();
            let mut labels = Vec::new();
            for nk in NameKind::ALL {
                let t = ov.names(nk);
                for (key, value) in t.iter() {
                    let wire = t.key_bytes(key);
                    if !touched.holds_key(wire, nk, &apex, &mut labels) {
                        b.copy_name_rule(ov, nk, wire, value, t.key_ttl(key));
                    }
                }
            }
            for (_, _, rule) in ov.live_ip_rules(self.apex_labels) {
                if touched.get(&rule.owner).is_some() {
                    continue;
                }
                if rule.value == V_TOMBSTONE {
                    b.add_tombstone(&rule.owner);
                } else {
                    let recs = decompile(ov, rule.value, rule.ttl, &rule.owner);
                    b.add_owner(&recs);
                }
            }
        }
        // Warnings about the old overlay's owners were given when they were compiled.
        b.warnings.clear();
        for (owner, recs) in current {
            // The old rule goes first, so that records that make no rule (all
            // skipped) leave none behind, as in a full compile; records that do
            // make one replace the tombstone.
            if self.settings.name.zone_of(owner) {
                b.add_tombstone(owner);
            }
            if !recs.is_empty() {
                b.add_owner(recs);
            }
        }
        b.skipped.extend(skipped);
        // Interior nodes of the overlay are kept as changes against the base.
        b.index
            .qname
            .recount_ents_against(&self.base.qname, |v| v != V_TOMBSTONE);
        b.index
            .nsdname
            .recount_ents_against(&self.base.nsdname, |v| v != V_TOMBSTONE);
        let warnings = std::mem::take(&mut b.warnings);
        let (ov_rules, _) = b.finish(self.settings.clone());
        let counts = overlay_counts(
            &self.base,
            &ov_rules.base,
            self.apex_labels,
            self.base_counts,
        );
        let active = Self::active_bits(&self.settings, &self.base, Some(&ov_rules.base));
        let zone = ZoneRules {
            settings: self.settings.clone(),
            apex_labels: self.apex_labels,
            soa: ov_rules.soa,
            base: Arc::clone(&self.base),
            overlay: Some(ov_rules.base),
            skipped: ov_rules.skipped,
            base_counts: self.base_counts,
            counts,
            active,
            merged: self.merged,
        };
        Some((zone, warnings))
    }

    /// The records that currently make up the rule at `owner` (empty when there is none).
    fn records_at(&self, owner: &Name) -> Vec<Record> {
        let Some((layer, value, ttl)) = self.live_value_at(owner) else {
            return Vec::new();
        };
        decompile(layer, value, ttl, owner)
    }

    /// The live encoded action at exactly `owner`, overlay first.
    fn live_value_at(&self, owner: &Name) -> Option<(&Index, u32, u32)> {
        if !under(owner, &self.settings.name, self.apex_labels) {
            return None;
        }
        let all: Vec<&[u8]> = owner.iter().collect();
        let rel = &all[..all.len().saturating_sub(self.apex_labels)];
        let layers = self
            .overlay
            .as_deref()
            .into_iter()
            .chain(std::iter::once(&*self.base));
        match classify(rel) {
            Some(Target::Name(kind, labels)) => {
                for layer in layers {
                    let t = layer.names(kind);
                    if let Some((key, value)) = t.get(labels) {
                        if value == V_TOMBSTONE {
                            return None;
                        }
                        return Some((layer, value, t.key_ttl(key)));
                    }
                }
                None
            }
            Some(Target::Ip(kind, labels)) => {
                let p = parse_ip_labels(labels).ok()?.prefix;
                for layer in layers {
                    if let Some(i) = layer.trie(kind).get(p.key(), p.scaled_len()) {
                        let r = &layer.ip_rules[i as usize];
                        if r.value == V_TOMBSTONE {
                            return None;
                        }
                        return Some((layer, r.value, r.ttl));
                    }
                }
                None
            }
            None => None,
        }
    }
}

/// The absolute owner name of a name-table key (relative wire labels) in zone `apex`.
fn owner_of_key(wire: &[u8], kind: NameKind, apex: &Name) -> Name {
    let mut labels = wire_labels(wire);
    if kind == NameKind::NsDname {
        labels.push(RPZ_NSDNAME);
    }
    labels.extend(apex.iter());
    // The key came from a valid owner name, so this only fails on a corrupt index.
    match Name::from_labels(labels) {
        Ok(mut n) => {
            n.set_fqdn(true);
            n
        }
        Err(_) => apex.clone(),
    }
}

/// `a == b` (case-insensitive), answered cheaply for the usual case of
/// consecutive owners that differ: hickory's `==` walks both names label by
/// label from the root end, where neighbouring owners are alike (12% of a
/// 1M-rule compile went there); a different length or first label settles it.
fn same_owner(a: &Name, b: &Name) -> bool {
    a.len() == b.len()
        && match (a.iter().next(), b.iter().next()) {
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
            (x, y) => x == y,
        }
        && a == b
}

/// Whether `name` is at or below `apex` (of `apex_labels` labels): `Name::zone_of`
/// without its lower-cased copies of both names, which cost two allocations per owner.
fn under(name: &Name, apex: &Name, apex_labels: usize) -> bool {
    name.iter().len() >= apex_labels
        && name
            .iter()
            .rev()
            .zip(apex.iter().rev())
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
}

/// The owners a delta touches and their records, found by the index's case-insensitive
/// hash of their labels: hickory's `Name` hashes through a lower-cased copy of every
/// label, which was a tenth of a 20,000-owner delta. Names are compared in full on a
/// hash match, so a shared hash never gives a wrong owner.
#[derive(Default)]
struct Touched {
    /// (hash, position in `owners`).
    table: HashTable<(u64, usize)>,
    owners: Vec<(Name, Vec<Record>)>,
}

impl Touched {
    /// The index's own case-insensitive label hash (`names::hash_labels`).
    fn hash(name: &Name) -> u64 {
        // A name has at most 127 labels.
        let mut labels: [&[u8]; 128] = [&[]; 128];
        let mut n = 0;
        for (slot, label) in labels.iter_mut().zip(name.iter()) {
            *slot = label;
            n += 1;
        }
        hash_labels(&labels[..n])
    }

    /// The position of `name`, if it is there.
    fn get(&self, name: &Name) -> Option<usize> {
        let owners = &self.owners;
        self.table
            .find(Self::hash(name), |&(_, i)| owners[i].0 == *name)
            .map(|&(_, i)| i)
    }

    /// Whether the owner of the name-table key `wire` (stored form, of `kind`, in the zone
    /// with `apex` labels) is touched; `labels` is scratch room.
    fn holds_key<'a>(
        &self,
        wire: &'a [u8],
        kind: NameKind,
        apex: &[&'a [u8]],
        labels: &mut Vec<&'a [u8]>,
    ) -> bool {
        labels.clear();
        labels.extend(key_labels(wire));
        if kind == NameKind::NsDname {
            labels.push(RPZ_NSDNAME);
        }
        labels.extend_from_slice(apex);
        let labels = &labels[..];
        self.table
            .find(hash_labels(labels), |&(_, i)| {
                let name = &self.owners[i].0;
                name.iter().len() == labels.len()
                    && name
                        .iter()
                        .zip(labels)
                        .all(|(a, b)| a.eq_ignore_ascii_case(b))
            })
            .is_some()
    }

    /// The position of `name`, added with the records `records(name)` if it is new.
    fn place(&mut self, name: &Name, records: impl FnOnce(&Name) -> Vec<Record>) -> usize {
        let h = Self::hash(name);
        let owners = &mut self.owners;
        match self
            .table
            .entry(h, |&(_, i)| owners[i].0 == *name, |&(h, _)| h)
        {
            hashbrown::hash_table::Entry::Occupied(e) => e.get().1,
            hashbrown::hash_table::Entry::Vacant(e) => {
                let at = owners.len();
                owners.push((name.clone(), records(name)));
                e.insert((h, at));
                at
            }
        }
    }
}

/// Live rule counts of `base` shadowed by `overlay`, from the base's own counts: only the
/// overlay's (few) entries are visited. The same shadowing as `ZoneRules::for_each_rule`.
fn overlay_counts(
    base: &Index,
    overlay: &Index,
    apex_labels: usize,
    mut c: RuleCounts,
) -> RuleCounts {
    for nk in NameKind::ALL {
        let kind = nk.trigger();
        for (key, value) in overlay.names(nk).iter() {
            if base
                .names(nk)
                .get_stored(overlay.names(nk).key_bytes(key))
                .is_some_and(|(_, v)| v != V_TOMBSTONE)
            {
                *c.of(kind) -= 1;
            }
            if value != V_TOMBSTONE {
                *c.of(kind) += 1;
            }
        }
    }
    for (_, ik, rule) in overlay.live_ip_rules(apex_labels) {
        let (key, len) = (rule.prefix.key(), rule.prefix.scaled_len());
        let kind = ik.trigger();
        if base
            .trie(ik)
            .get(key, len)
            .is_some_and(|b| base.ip_rules[b as usize].value != V_TOMBSTONE)
        {
            *c.of(kind) -= 1;
        }
        if rule.value != V_TOMBSTONE {
            *c.of(kind) += 1;
        }
    }
    c
}

/// The trie an IP rule owner belongs to (from its `rpz-*` label).
fn ip_kind_of(owner: &Name, apex_labels: usize) -> IpKind {
    let labels: Vec<&[u8]> = owner.iter().collect();
    let rel = &labels[..labels.len().saturating_sub(apex_labels)];
    match classify(rel) {
        Some(Target::Ip(k, _)) => k,
        _ => IpKind::Response,
    }
}

/// What an owner name (relative labels) triggers on.
pub(crate) enum Target<'a> {
    /// A QNAME or NSDNAME key (relative labels, wildcard `*` first if any).
    Name(NameKind, &'a [&'a [u8]]),
    /// An IP trigger: trie and the labels in front of the `rpz-*` label.
    Ip(IpKind, &'a [&'a [u8]]),
}

/// Classifies relative owner labels by their last label (`rpz-ip`, …); `None` for the apex
/// or an empty NSDNAME.
pub(crate) fn classify<'a>(rel: &'a [&'a [u8]]) -> Option<Target<'a>> {
    let (last, front) = rel.split_last()?;
    let is = |s: &[u8]| last.eq_ignore_ascii_case(s);
    if is(RPZ_CLIENT_IP) {
        Some(Target::Ip(IpKind::Client, front))
    } else if is(RPZ_IP) {
        Some(Target::Ip(IpKind::Response, front))
    } else if is(RPZ_NSIP) {
        Some(Target::Ip(IpKind::Ns, front))
    } else if is(RPZ_NSDNAME) {
        if front.is_empty() {
            None
        } else {
            Some(Target::Name(NameKind::NsDname, front))
        }
    } else {
        Some(Target::Name(NameKind::Qname, rel))
    }
}

/// Rebuilds the records of a rule from its encoded action (the inverse of compiling one owner).
fn decompile(layer: &Index, value: u32, ttl: u32, owner: &Name) -> Vec<Record> {
    let cname = |t: &str| {
        let target = Name::from_ascii(t).unwrap_or_else(|_| Name::root());
        vec![Record::from_rdata(
            owner.clone(),
            ttl,
            RData::CNAME(CNAME(target)),
        )]
    };
    match value {
        V_NXDOMAIN => cname("."),
        V_NODATA => cname("*."),
        V_PASSTHRU => cname("rpz-passthru."),
        V_DROP => cname("rpz-drop."),
        V_TCP_ONLY => cname("rpz-tcp-only."),
        V_TOMBSTONE => Vec::new(),
        v => decode_local(&layer.local, (v - V_LOCAL) as usize)
            .into_iter()
            .map(|(ttl, data)| Record::from_rdata(owner.clone(), ttl, data))
            .collect(),
    }
}

/// Turns an encoded action into an [`Action`] (local data gets `owner` as record owner).
fn decode_action(layer: &Index, value: u32, ttl: u32, owner: &Name) -> Action {
    match value {
        V_NXDOMAIN | V_TOMBSTONE => Action::Nxdomain,
        V_NODATA => Action::Nodata,
        V_PASSTHRU => Action::Passthru,
        V_DROP => Action::Drop,
        V_TCP_ONLY => Action::TcpOnly,
        v => {
            let recs = decode_local(&layer.local, (v - V_LOCAL) as usize);
            // A lone CNAME to `*.suffix` is BIND's wildcard CNAME policy.
            if let [(ttl, RData::CNAME(CNAME(target)))] = recs.as_slice() {
                if target.is_wildcard() {
                    return Action::Cname {
                        target: target.clone(),
                        ttl: *ttl,
                    };
                }
            }
            let _ = ttl;
            Action::LocalData(
                recs.into_iter()
                    .map(|(ttl, data)| Record::from_rdata(owner.clone(), ttl, data))
                    .collect(),
            )
        }
    }
}

/// Appends one local-data RRset group to the arena: `[count u16]` then per record
/// `[type u16][ttl u32][rdlength u16][rdata]`. Returns the group offset.
fn encode_local(arena: &mut Vec<u8>, recs: &[(RecordType, u32, Vec<u8>)]) -> usize {
    let off = arena.len();
    arena.extend_from_slice(&(recs.len() as u16).to_be_bytes());
    for (t, ttl, rdata) in recs {
        arena.extend_from_slice(&u16::from(*t).to_be_bytes());
        arena.extend_from_slice(&ttl.to_be_bytes());
        arena.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        arena.extend_from_slice(rdata);
    }
    off
}

/// Decodes the local-data group at `off` into `(ttl, rdata)` pairs. Data was verified to
/// decode when it was stored; anything that does not decode now is left out.
fn decode_local(arena: &[u8], off: usize) -> Vec<(u32, RData)> {
    local_group(arena, off)
        .filter_map(|(t, ttl, bytes)| rdata_from_wire(t, bytes).map(|data| (ttl, data)))
        .collect()
}

/// The records of the local-data group at `off` as stored: type, TTL and RDATA bytes (a
/// group cut short ends early).
fn local_group(arena: &[u8], off: usize) -> impl Iterator<Item = (RecordType, u32, &[u8])> {
    let rd16 = |p: usize| {
        arena
            .get(p..p + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let count = rd16(off).unwrap_or(0);
    let mut p = off + 2;
    (0..count).map_while(move |_| {
        let (t, len) = (rd16(p)?, rd16(p + 6)?);
        let ttl = arena
            .get(p + 2..p + 6)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let start = p + 8;
        let end = start + usize::from(len);
        let bytes = arena.get(start..end)?;
        p = end;
        Some((RecordType::from(t), ttl, bytes))
    })
}

/// Wire-encodes RDATA without name compression.
pub(crate) fn rdata_to_wire(data: &RData) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    enc.set_name_encoding(NameEncoding::Uncompressed);
    data.emit(&mut enc).ok()?;
    Some(buf)
}

/// Decodes RDATA of type `t` from wire bytes.
pub(crate) fn rdata_from_wire(t: RecordType, bytes: &[u8]) -> Option<RData> {
    let mut dec = BinDecoder::new(bytes);
    let data = RData::read(&mut dec, t, Restrict::new(bytes.len() as u16)).ok()?;
    Some(data)
}

/// Whether a type is DNSSEC signing or denial data, skipped without a warning.
fn skip_quietly(t: RecordType) -> bool {
    matches!(t, RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3)
}

/// Whether a type can never be local data (apex, delegation and DNSSEC types).
fn never_policy_data(t: RecordType) -> bool {
    matches!(t, RecordType::SOA | RecordType::NS | RecordType::DNAME) || t.is_dnssec()
}

/// Compiles owners into an [`Index`].
pub(crate) struct Builder {
    /// The zone apex.
    apex: Name,
    /// Number of labels of the apex.
    apex_labels: usize,
    /// The index being filled.
    index: Index,
    /// The apex SOA.
    soa: Option<Record>,
    /// Warnings so far.
    warnings: Vec<Warning>,
    /// Records skipped (kept for exact incremental updates).
    skipped: Vec<Record>,
    /// Whether this builds an overlay (tombstones allowed).
    overlay: bool,
    /// Local-data groups stored so far, by a hash of their encoded bytes: the arena offset
    /// of the first group with that hash. Policy zones repeat the same local data (one
    /// walled-garden address for thousands of names), which is then stored once.
    local_seen: HashMap<u64, u32>,
    /// Reused buffer for a local-data group being encoded.
    local_scratch: Vec<u8>,
    /// An owner's records were merged from more than one place (see `ZoneRules::merged`).
    pub(crate) merged: bool,
}

impl Builder {
    /// A builder for a zone of about `n` records.
    pub(crate) fn new(settings: &ZoneSettings, n: usize) -> Self {
        let apex = settings.name.clone();
        let apex_labels = apex.iter().len();
        let index = Index {
            qname: NameTable::for_bulk(n, 24),
            ..Index::default()
        };
        Self {
            apex,
            apex_labels,
            index,
            soa: None,
            warnings: Vec::new(),
            skipped: Vec::new(),
            overlay: false,
            local_seen: HashMap::new(),
            local_scratch: Vec::new(),
            merged: false,
        }
    }

    /// Records a warning and keeps the record for incremental updates.
    fn warn(&mut self, r: &Record, reason: WarningReason, keep: bool) {
        self.warnings.push(Warning {
            owner: r.name.clone(),
            rtype: r.record_type(),
            reason,
        });
        if keep {
            self.skipped.push(r.clone());
        }
    }

    /// Records a warning about a record that never became a hickory record.
    pub(crate) fn warn_raw(&mut self, owner: Name, rtype: RecordType, reason: WarningReason) {
        self.warnings.push(Warning {
            owner,
            rtype,
            reason,
        });
    }

    /// Adds a compiled name rule in a full compile (duplicates merge in `finish`).
    pub(crate) fn push_name_rule(
        &mut self,
        kind: NameKind,
        labels: &[&[u8]],
        ttl: u32,
        value: u32,
    ) {
        debug_assert!(!self.overlay);
        let table = self.index.names_mut(kind);
        table.push(labels, ttl, value);
    }

    /// [`Builder::push_name_rule`] with the key's wire form at hand (`wire` is exactly
    /// `labels` in wire form, any case).
    pub(crate) fn push_name_rule_wire(
        &mut self,
        kind: NameKind,
        wire: &[u8],
        labels: &[&[u8]],
        ttl: u32,
        value: u32,
    ) {
        debug_assert!(!self.overlay);
        let table = self.index.names_mut(kind);
        table.push_wire(wire, labels, ttl, value);
    }

    /// Compiles all records of one owner (`recs` non-empty, same owner name).
    pub(crate) fn add_owner(&mut self, recs: &[Record]) {
        let owner = &recs[0].name;
        let clean = recs.iter().all(|r| {
            r.dns_class == DNSClass::IN
                && !skip_quietly(r.record_type())
                && !never_policy_data(r.record_type())
        });
        if !clean || !self.under_apex(owner) {
            self.add_owner_slow(recs);
            return;
        }
        // Most owners have one record: no vector of references for them.
        if let [r] = recs {
            self.add_rule(owner, &[r]);
            return;
        }
        let refs: Vec<&Record> = recs.iter().collect();
        self.add_rule(owner, &refs);
    }

    /// Whether `name` is at or below the apex.
    fn under_apex(&self, name: &Name) -> bool {
        under(name, &self.apex, self.apex_labels)
    }

    /// [`Self::add_owner`] for groups that need filtering (warnings, apex, DNSSEC data).
    fn add_owner_slow(&mut self, recs: &[Record]) {
        let owner = recs[0].name.clone();
        let mut data: Vec<&Record> = Vec::with_capacity(recs.len());
        let apex_labels = self.apex_labels;
        let at_apex = owner.iter().len() <= apex_labels;
        let mut apex_recs: Vec<&Record> = Vec::new();
        for r in recs {
            let t = r.record_type();
            if r.dns_class != DNSClass::IN {
                self.warn(r, WarningReason::NotClassIn, false);
            } else if !self.apex.zone_of(&r.name) {
                self.warn(r, WarningReason::OutsideZone, false);
            } else if at_apex {
                apex_recs.push(r);
            } else if skip_quietly(t) {
                // DNSSEC signatures and denial records of a signed policy zone are expected.
            } else if never_policy_data(t) {
                self.warn(r, WarningReason::NeverPolicyData, false);
            } else {
                data.push(r);
            }
        }
        if !apex_recs.is_empty() {
            self.add_apex(&apex_recs);
        }
        if !data.is_empty() {
            self.add_rule(&owner, &data);
        }
    }

    /// Turns the usable records of one owner below the apex into a rule.
    fn add_rule(&mut self, owner: &Name, data: &[&Record]) {
        let n = owner.iter().len();
        if n <= self.apex_labels {
            self.add_apex(data);
            return;
        }
        let rel_len = n - self.apex_labels;
        let mut inline: [&[u8]; 16] = [&[]; 16];
        let mut spill: Vec<&[u8]> = Vec::new();
        let rel: &[&[u8]] = if rel_len <= inline.len() {
            for (slot, l) in inline.iter_mut().zip(owner.iter()) {
                *slot = l;
            }
            &inline[..rel_len]
        } else {
            spill.extend(owner.iter().take(rel_len));
            &spill
        };
        match classify(rel) {
            Some(Target::Name(kind, labels)) => self.add_name_rule(kind, labels, owner, data),
            Some(Target::Ip(kind, labels)) => self.add_ip_rule(kind, labels, owner, data),
            None => {
                for r in data {
                    self.warn(r, WarningReason::EmptyNsdname, false);
                }
            }
        }
    }

    /// Handles records at the apex: the SOA is kept, NS and DNSSEC ignored, the rest warned.
    fn add_apex(&mut self, recs: &[&Record]) {
        for r in recs {
            match r.record_type() {
                RecordType::SOA => match &self.soa {
                    None => self.soa = Some((*r).clone()),
                    Some(s) if s.data == r.data => {}
                    Some(_) => self.warn(r, WarningReason::ExtraSoa, false),
                },
                RecordType::NS => {}
                t if t.is_dnssec() => {}
                _ => self.warn(r, WarningReason::AtApex, false),
            }
        }
    }

    /// Compiles the records of a name rule, merging with an existing rule at the same key.
    fn add_name_rule(&mut self, kind: NameKind, labels: &[&[u8]], owner: &Name, data: &[&Record]) {
        let (w, k) = (self.warnings.len(), self.skipped.len());
        let Some((value, ttl)) = self.encode_action(owner, data) else {
            return;
        };
        if !self.overlay {
            // Full compile: duplicates are merged when the keys are placed (`finish`).
            self.push_name_rule(kind, labels, ttl, value);
            return;
        }
        let table = self.index.names_mut(kind);
        if let Inserted::Existing {
            slot,
            key,
            value: old,
        } = table.insert(labels, ttl, value)
        {
            // Same owner seen again (records not grouped, or duplicates): merge the RRsets
            // and compile them again as one owner.
            self.merged = true;
            let old_ttl = table.key_ttl(key);
            self.warnings.truncate(w);
            self.skipped.truncate(k);
            let mut merged = decompile(&self.index, old, old_ttl, owner);
            merged.extend(data.iter().map(|r| (*r).clone()));
            let refs: Vec<&Record> = merged.iter().collect();
            if let Some((v, t)) = self.encode_action(owner, &refs) {
                let table = self.index.names_mut(kind);
                table.set_rule(slot, v, t);
            }
        }
    }

    /// Merges two compiled rules of the same owner (records not grouped, or duplicates):
    /// both are decompiled and compiled again as one owner.
    fn merge_duplicate(
        &mut self,
        kind: NameKind,
        wire: &[u8],
        kept: (u32, u32),
        dropped: (u32, u32),
    ) -> (u32, u32) {
        self.merged = true;
        let owner = owner_of_key(wire, kind, &self.apex);
        let mut merged = decompile(&self.index, kept.0, kept.1, &owner);
        merged.extend(decompile(&self.index, dropped.0, dropped.1, &owner));
        let refs: Vec<&Record> = merged.iter().collect();
        self.encode_action(&owner, &refs).unwrap_or(kept)
    }

    /// Compiles the records of an IP rule, merging with an existing rule for the same prefix.
    fn add_ip_rule(&mut self, kind: IpKind, labels: &[&[u8]], owner: &Name, data: &[&Record]) {
        let parsed = match parse_ip_labels(labels) {
            Ok(p) => p,
            Err(e) => {
                for r in data {
                    self.warn(r, WarningReason::InvalidIp(e.clone()), false);
                }
                return;
            }
        };
        if !parsed.canonical {
            self.warnings.push(Warning {
                owner: owner.clone(),
                rtype: data[0].record_type(),
                reason: WarningReason::NonCanonicalIp {
                    canonical: parsed.prefix.to_rpz_labels(),
                },
            });
        }
        let p = parsed.prefix;
        let existing = self.index.trie(kind).get(p.key(), p.scaled_len());
        let merged: Vec<Record> = match existing {
            Some(i) => {
                // Same prefix seen again: merge the RRsets and compile them as one owner.
                self.merged = true;
                let old = &self.index.ip_rules[i as usize];
                let mut m = decompile(&self.index, old.value, old.ttl, owner);
                m.extend(data.iter().map(|r| (*r).clone()));
                m
            }
            None => Vec::new(),
        };
        let refs: Vec<&Record> = merged.iter().collect();
        let data = if existing.is_some() { &refs[..] } else { data };
        let Some((value, ttl)) = self.encode_action(owner, data) else {
            return;
        };
        let idx = self.index.ip_rules.len() as u32;
        self.index.ip_rules.push(IpRule {
            owner: owner.clone(),
            prefix: p,
            value,
            ttl,
        });
        let trie = match kind {
            IpKind::Client => &mut self.index.client_ip,
            IpKind::Response => &mut self.index.ip,
            IpKind::Ns => &mut self.index.nsip,
        };
        trie.insert(p.key(), p.scaled_len(), idx);
    }

    /// Copies a compiled name rule of layer `from` (an overlay being rebuilt): its key in
    /// stored form, action, TTL and local data, as compiling its records again would give.
    fn copy_name_rule(&mut self, from: &Index, kind: NameKind, wire: &[u8], value: u32, ttl: u32) {
        let value = if value >= V_LOCAL {
            let group = local_group(&from.local, (value - V_LOCAL) as usize)
                .map(|(t, ttl, data)| (t, ttl, data.to_vec()))
                .collect();
            match self.store_encoded(group) {
                Some(v) => v,
                None => return,
            }
        } else {
            value
        };
        let table = self.index.names_mut(kind);
        table.insert(&wire_labels(wire), ttl, value);
    }

    /// Records a removal in an overlay: the key of `owner` is tombstoned.
    fn add_tombstone(&mut self, owner: &Name) {
        let all: Vec<&[u8]> = owner.iter().collect();
        let rel = &all[..all.len().saturating_sub(self.apex_labels)];
        match classify(rel) {
            Some(Target::Name(kind, labels)) => {
                let table = self.index.names_mut(kind);
                if let Inserted::Existing { slot, .. } = table.insert(labels, 0, V_TOMBSTONE) {
                    table.set_value(slot, V_TOMBSTONE);
                }
            }
            Some(Target::Ip(kind, labels)) => {
                if let Ok(p) = parse_ip_labels(labels) {
                    let p = p.prefix;
                    let idx = self.index.ip_rules.len() as u32;
                    self.index.ip_rules.push(IpRule {
                        owner: owner.clone(),
                        prefix: p,
                        value: V_TOMBSTONE,
                        ttl: 0,
                    });
                    let trie = match kind {
                        IpKind::Client => &mut self.index.client_ip,
                        IpKind::Response => &mut self.index.ip,
                        IpKind::Ns => &mut self.index.nsip,
                    };
                    trie.insert(p.key(), p.scaled_len(), idx);
                }
            }
            None => {}
        }
    }

    /// The encoded action and TTL for one owner's usable records.
    fn encode_action(&mut self, owner: &Name, data: &[&Record]) -> Option<(u32, u32)> {
        // Fast path: the common single `CNAME <action>` rule.
        if let [r] = data {
            if let RData::CNAME(CNAME(target)) = &r.data {
                if let Some(v) = special_cname(owner, target, self.apex_labels) {
                    return Some((v, r.ttl));
                }
            }
        }
        let cnames: Vec<&Record> = data
            .iter()
            .copied()
            .filter(|r| r.record_type() == RecordType::CNAME)
            .collect();
        if !cnames.is_empty() {
            for r in data.iter().filter(|r| r.record_type() != RecordType::CNAME) {
                self.warn(r, WarningReason::CnameAndOtherData, true);
            }
            // Several different CNAMEs: keep the one whose target sorts first, so the choice
            // does not depend on record order.
            let mut chosen = cnames[0];
            for r in &cnames[1..] {
                if r.data != chosen.data {
                    if let (RData::CNAME(a), RData::CNAME(b)) = (&r.data, &chosen.data) {
                        if a.0 < b.0 {
                            chosen = r;
                        }
                    }
                }
            }
            for r in &cnames {
                if r.data != chosen.data {
                    self.warn(r, WarningReason::MultipleCnames, true);
                }
            }
            let RData::CNAME(CNAME(target)) = &chosen.data else {
                return None;
            };
            let ttl = chosen.ttl;
            if let Some(v) = special_cname(owner, target, self.apex_labels) {
                return Some((v, ttl));
            }
            if is_rpz_namespace(target.iter().next_back()) {
                self.warn(chosen, WarningReason::UnknownRpzTarget, true);
                return None;
            }
            return self.store_local(&[chosen]).map(|v| (v, ttl));
        }
        let ttl = data.iter().map(|r| r.ttl).min().unwrap_or(0);
        self.store_local(data).map(|v| (v, ttl))
    }

    /// Encodes local data into the arena (sorted, duplicates removed) and returns the value.
    fn store_local(&mut self, data: &[&Record]) -> Option<u32> {
        let mut enc: Vec<(RecordType, u32, Vec<u8>)> = Vec::with_capacity(data.len());
        for r in data {
            let wire = rdata_to_wire(&r.data)
                .filter(|w| w.len() <= usize::from(u16::MAX))
                .filter(|w| rdata_from_wire(r.record_type(), w).is_some_and(|d| d == r.data));
            match wire {
                Some(w) => enc.push((r.record_type(), r.ttl, w)),
                None => self.warn(r, WarningReason::BadRdata, false),
            }
        }
        self.store_encoded(enc)
    }

    /// Stores local data already in wire form (type, TTL, RDATA that decodes as its type
    /// and encodes back to the same bytes): sorted, duplicates removed. `None` if empty.
    pub(crate) fn store_encoded(
        &mut self,
        mut enc: Vec<(RecordType, u32, Vec<u8>)>,
    ) -> Option<u32> {
        if enc.is_empty() {
            return None;
        }
        enc.sort_by(|a, b| (u16::from(a.0), &a.2).cmp(&(u16::from(b.0), &b.2)));
        let given = enc.len();
        enc.dedup_by(|a, b| a.0 == b.0 && a.2 == b.2);
        self.merged |= enc.len() != given;
        // Equal groups decode to equal records, so rules may share one copy: a value names
        // the data, never the rule (rules are told apart by their keys).
        let mut bytes = std::mem::take(&mut self.local_scratch);
        bytes.clear();
        encode_local(&mut bytes, &enc);
        let h = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut hasher);
            hasher.finish()
        };
        let local = &mut self.index.local;
        let off = match self.local_seen.get(&h) {
            Some(&at) if local.get(at as usize..at as usize + bytes.len()) == Some(&bytes[..]) => {
                at as usize
            }
            seen => {
                let at = local.len();
                local.extend_from_slice(&bytes);
                // A hash shared by different data keeps its first group (this one is stored
                // unshared, which is still correct).
                if seen.is_none() {
                    self.local_seen.insert(h, at as u32);
                }
                at
            }
        };
        self.local_scratch = bytes;
        Some(V_LOCAL + off as u32)
    }

    /// Finishes the index and the zone.
    pub(crate) fn finish(mut self, settings: ZoneSettings) -> (ZoneRules, Vec<Warning>) {
        for kind in [NameKind::Qname, NameKind::NsDname] {
            let slot = self.index.names_mut(kind);
            let mut table = std::mem::take(slot);
            table.place_pending(|wire, kept, dropped| {
                self.merge_duplicate(kind, wire, kept, dropped)
            });
            match kind {
                NameKind::Qname => self.index.qname = table,
                NameKind::NsDname => self.index.nsdname = table,
            }
        }
        self.index.qname.finish_build();
        self.index.nsdname.finish_build();
        self.index.ip_rules.shrink_to_fit();
        self.index.local.shrink_to_fit();
        // A full compile holds no tombstones, so every key and prefix is one live rule
        // (merged duplicates were placed once). An overlay may hold tombstones: its live
        // counts depend on the base and are set by `apply_delta` (`overlay_counts`).
        let counts = RuleCounts {
            qname: self.index.qname.len(),
            client_ip: self.index.client_ip.len(),
            response_ip: self.index.ip.len(),
            nsdname: self.index.nsdname.len(),
            nsip: self.index.nsip.len(),
        };
        let overlay = self.overlay;
        let active = ZoneRules::active_bits(&settings, &self.index, None);
        let zone = ZoneRules {
            settings,
            apex_labels: self.apex_labels,
            soa: self.soa,
            base: Arc::new(self.index),
            overlay: None,
            skipped: Arc::new(self.skipped),
            base_counts: counts,
            counts,
            active,
            merged: self.merged,
        };
        debug_assert!(overlay || zone.counts == zone.walk_counts());
        (zone, self.warnings)
    }
}

/// The special action of a CNAME target, if it is one of the RPZ action names.
///
/// The old PASSTHRU form is a CNAME to the trigger name: BIND 9.18 compares the target with
/// the owner without the policy zone apex (`ok.example CNAME ok.example.`); a CNAME to the
/// full owner name is accepted too (the draft's wording).
///
/// Names are given as their labels (leftmost first, root excluded), so that hickory names
/// and wire-form names share this one definition.
pub(crate) fn special_target<'a, O, T>(
    owner: impl Fn() -> O,
    target: impl Fn() -> T,
    apex_labels: usize,
) -> Option<u32>
where
    O: ExactSizeIterator<Item = &'a [u8]>,
    T: ExactSizeIterator<Item = &'a [u8]>,
{
    let mut labels = target();
    match (labels.next(), labels.next()) {
        (None, _) => Some(V_NXDOMAIN),
        (Some(l), None) if l == b"*" => Some(V_NODATA),
        (Some(l), None) if l.eq_ignore_ascii_case(b"rpz-passthru") => Some(V_PASSTHRU),
        (Some(l), None) if l.eq_ignore_ascii_case(b"rpz-drop") => Some(V_DROP),
        (Some(l), None) if l.eq_ignore_ascii_case(b"rpz-tcp-only") => Some(V_TCP_ONLY),
        _ if labels_equal(owner(), target(), 0) || labels_equal(owner(), target(), apex_labels) => {
            Some(V_PASSTHRU)
        }
        _ => None,
    }
}

/// [`special_target`] for hickory names.
fn special_cname(owner: &Name, target: &Name, apex_labels: usize) -> Option<u32> {
    special_target(|| owner.iter(), || target.iter(), apex_labels)
}

/// Whether `target` is `owner` without its last `drop_last` labels (compared ignoring
/// case); with `drop_last` 0, whether the two names are equal.
fn labels_equal<'a>(
    owner: impl ExactSizeIterator<Item = &'a [u8]>,
    target: impl ExactSizeIterator<Item = &'a [u8]>,
    drop_last: usize,
) -> bool {
    let n = owner.len();
    (drop_last == 0 || n > drop_last)
        && target.len() == n - drop_last
        && owner.zip(target).all(|(a, b)| a.eq_ignore_ascii_case(b))
}

/// Whether a CNAME target's last label is in the `rpz-` namespace (an action this
/// implementation does not know when it is not one of the special ones).
pub(crate) fn is_rpz_namespace(last_label: Option<&[u8]>) -> bool {
    last_label.is_some_and(|l| l.len() >= 4 && l[..4].eq_ignore_ascii_case(b"rpz-"))
}
