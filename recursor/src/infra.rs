//! The recursor's own caches: zone cuts with their name servers
//! (infrastructure cache), smoothed RTT per server address, answers per
//! (name, type) with their validation state, and the security state of zones.
//!
//! ```text
//!  cuts:   zone ─▶ NS names + addresses (glue or resolved), expiry
//!  rtt:    address ─▶ smoothed RTT (ms), as in BIND's SRTT / Unbound's infra cache
//!  steps:  (name, type) ─▶ what its zone's servers said, expiry
//!  zones:  zone ─▶ Secure(DNSKEYs) | Insecure | Bogus(why), expiry
//!  denials: zone ─▶ validated SOA, NSEC and NSEC3 records (RFC 8198, super::aggressive)
//! ```
//!
//! Every map is bounded in bytes, each by its share of the recursor's part of
//! `cache.max-cache-size` ([`InfraLimits::max_bytes`]: steps 7/16, cuts 1/4,
//! zone security 1/8, non-cuts, RTTs and validated denials 1/16 each). Each entry is charged
//! the heap bytes of its key and value (records by their wire size) plus the
//! map's per-entry overhead; see `sekisho_cache::clock`. Over its bound a map
//! drops expired entries first, then evicts by CLOCK: entries used since the
//! hand last passed stay, so the cuts of popular zones outlive a flood of
//! one-time names. Lifetimes are capped by `cache.max-ttl`
//! ([`InfraLimits::max_ttl`]); an RTT is forgotten after [`RTT_TTL`]
//! without a new sample. Locks are never held across an `.await`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::rr::{Name, Record};
use sekisho_cache::clock::{Bounds, ClockMap, Slot};
use sekisho_cache::size;
use sekisho_rpz::Delegation;

use super::aggressive::Denials;
use super::Ede;

/// How long a server's smoothed RTT is kept without a new sample (Unbound's
/// `infra-host-ttl`): after that a server that once timed out is tried afresh.
const RTT_TTL: Duration = Duration::from_secs(900);
/// RTT assumed for a server never asked (ms): low, so new servers get tried.
const UNKNOWN_RTT_MS: u32 = 50;
/// RTT charged for a timeout (ms), before smoothing.
const TIMEOUT_RTT_MS: u32 = 3_000;

/// One name server of a zone cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameServer {
    /// Its name.
    pub(crate) name: Name,
    /// Its addresses (glue or resolved); empty until known.
    pub(crate) addrs: Vec<IpAddr>,
}

/// The servers of a zone cut, shared by the cut cache and the resolutions
/// that use them: a cache miss takes its closest cut with a reference count
/// instead of a copy of every server's name and addresses.
pub(crate) type Servers = Arc<Vec<NameServer>>;

/// A zone cut: the servers of a zone.
#[derive(Debug, Clone)]
pub(crate) struct Cut {
    /// The zone.
    pub(crate) zone: Name,
    /// Its servers.
    pub(crate) servers: Servers,
}

/// What the servers of `zone` said about one (name, type).
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// The zone whose servers answered.
    pub(crate) zone: Name,
    /// The kind of answer.
    pub(crate) kind: StepKind,
    /// Answer records of the chain (RRSIGs included).
    pub(crate) answers: Vec<Record>,
    /// Authority records of a negative answer (SOA, NSEC, NSEC3, RRSIGs).
    pub(crate) authority: Vec<Record>,
    /// Alias target still to resolve.
    pub(crate) next: Option<Name>,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepKind {
    /// Data (or aliases) in the answer section.
    Answer,
    /// NXDOMAIN.
    NxDomain,
    /// NODATA.
    NoData,
}

/// The DNSSEC state of a zone.
#[derive(Debug, Clone)]
pub(crate) enum ZoneSecurity {
    /// Validated keys of the zone.
    Secure(Vec<Record>),
    /// Provably unsigned, or below a `domain-insecure` name.
    Insecure,
    /// Should be signed and is not verifiably so.
    Bogus(Ede),
}

/// The hash of a map key, with the map's keyed hasher.
///
/// Names are hashed as their lower-cased wire labels in one contiguous
/// write: hickory's `Hash for Name` builds a lower-cased `Label` per label
/// and feeds SipHash label by label, which made hashing the largest single
/// cost of a cache miss's walks over these maps (`closest`, `path`, the
/// non-cut and step lookups; `cargo bench --bench recursion_miss`).
/// Consistent with `Name`'s equality, which ignores ASCII case.
pub(crate) trait KeyHash {
    /// The hash of `self` under `state`.
    fn key_hash(&self, state: &RandomState) -> u64;
}

/// The lower-cased wire labels of `name` (no root label), at most 255
/// bytes, into `buf`; their length.
pub(crate) fn lower_labels(name: &Name, buf: &mut [u8; 256]) -> usize {
    let mut at = 0;
    for label in name.iter() {
        let end = at + 1 + label.len();
        let Some(out) = buf.get_mut(at..end) else {
            // Longer than a name can be: hash the part that fits.
            break;
        };
        out[0] = label.len() as u8;
        for (o, b) in out[1..].iter_mut().zip(label) {
            *o = b.to_ascii_lowercase();
        }
        at = end;
    }
    at
}

/// The lower-cased wire labels of a name, with where each label starts:
/// the names at and above it can be looked up in the name-keyed maps
/// without building a `Name` for each (a `Name` per level was most of the
/// cost of walking up from a query name to its closest cut).
struct Labels {
    /// The labels, lower-cased, without the root label.
    wire: [u8; 256],
    /// Bytes used in `wire`.
    len: usize,
    /// Start of each label in `wire`, leftmost first.
    starts: [u8; 128],
    /// Labels (entries used in `starts`).
    count: usize,
}

impl Labels {
    fn of(name: &Name) -> Labels {
        let mut l = Labels {
            wire: [0; 256],
            len: 0,
            starts: [0; 128],
            count: 0,
        };
        l.len = lower_labels(name, &mut l.wire);
        let mut at = 0;
        while at < l.len && l.count < l.starts.len() {
            // `at` < 256: it indexes `wire`.
            l.starts[l.count] = at as u8;
            l.count += 1;
            at += 1 + usize::from(l.wire[at]);
        }
        l
    }

    /// The wire labels of the name's rightmost `keep` labels (the name
    /// `Name::trim_to(keep)` gives).
    fn suffix(&self, keep: usize) -> &[u8] {
        let first = self.count.saturating_sub(keep);
        match self.starts.get(first) {
            Some(&at) if first < self.count => &self.wire[usize::from(at)..self.len],
            _ => &[],
        }
    }
}

/// The entry of `map` (keyed by names, hashed with `hasher` as
/// [`KeyHash`] hashes them) whose name has the lower-cased wire labels
/// `lower` (no root label): found without building the name.
pub(crate) fn by_labels<'m, V>(
    map: &'m ClockMap<Name, V>,
    hasher: &RandomState,
    lower: &[u8],
) -> Option<&'m Slot<Name, V>> {
    map.get_by(hasher.hash_one(lower), |k| is_name(k, lower))
}

/// Whether `name` is the name whose lower-cased wire labels are `lower`.
pub(crate) fn is_name(name: &Name, lower: &[u8]) -> bool {
    let mut at = 0;
    for label in name.iter() {
        let end = at + 1 + label.len();
        let Some(l) = lower.get(at..end) else {
            return false;
        };
        if usize::from(l[0]) != label.len()
            || !l[1..]
                .iter()
                .zip(label)
                .all(|(a, b)| *a == b.to_ascii_lowercase())
        {
            return false;
        }
        at = end;
    }
    at == lower.len()
}

impl KeyHash for Name {
    fn key_hash(&self, state: &RandomState) -> u64 {
        let mut buf = [0u8; 256];
        let n = lower_labels(self, &mut buf);
        state.hash_one(&buf[..n])
    }
}

impl KeyHash for (Name, u16) {
    fn key_hash(&self, state: &RandomState) -> u64 {
        let mut buf = [0u8; 256];
        let n = lower_labels(&self.0, &mut buf);
        state.hash_one((&buf[..n], self.1))
    }
}

impl KeyHash for IpAddr {
    fn key_hash(&self, state: &RandomState) -> u64 {
        state.hash_one(self)
    }
}

/// Heap bytes of a key or value, for the byte bounds (estimates; see
/// `sekisho_cache::size`).
trait Footprint {
    /// Bytes this value owns on the heap (its inline part is the map's).
    fn heap_bytes(&self) -> usize;
}

impl Footprint for Name {
    fn heap_bytes(&self) -> usize {
        size::name_heap(self)
    }
}

impl Footprint for (Name, u16) {
    fn heap_bytes(&self) -> usize {
        size::name_heap(&self.0)
    }
}

impl Footprint for IpAddr {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl Footprint for u32 {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl Footprint for () {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl Footprint for Servers {
    fn heap_bytes(&self) -> usize {
        size::vec_heap::<NameServer>(self.len())
            + self
                .iter()
                .map(|s| size::name_heap(&s.name) + size::vec_heap::<IpAddr>(s.addrs.len()))
                .sum::<usize>()
    }
}

impl Footprint for Step {
    fn heap_bytes(&self) -> usize {
        size::name_heap(&self.zone)
            + size::records_heap(&self.answers)
            + size::records_heap(&self.authority)
            + self.next.as_ref().map_or(0, size::name_heap)
    }
}

impl Footprint for ZoneSecurity {
    fn heap_bytes(&self) -> usize {
        match self {
            ZoneSecurity::Secure(keys) => size::records_heap(keys),
            ZoneSecurity::Insecure => 0,
            ZoneSecurity::Bogus(ede) => ede.text.len(),
        }
    }
}

/// A map of expiring entries bounded in bytes, behind one lock.
#[derive(Debug)]
struct TimedMap<K, V> {
    /// The entries.
    map: Mutex<ClockMap<K, V>>,
    /// Keyed hashing: names come from the network.
    hasher: RandomState,
    /// What the map may hold (expired entries are not kept: the recursor
    /// never serves them).
    bounds: Bounds,
}

impl<K: Eq + Hash + KeyHash + Footprint, V: Clone + Footprint> TimedMap<K, V> {
    /// An empty map of at most `max_bytes`.
    fn new(max_bytes: usize) -> Self {
        TimedMap {
            map: Mutex::new(ClockMap::new()),
            hasher: RandomState::new(),
            bounds: Bounds::bytes(max_bytes),
        }
    }

    /// The lock.
    fn lock(&self) -> std::sync::MutexGuard<'_, ClockMap<K, V>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live value for `k`.
    fn get(&self, k: &K, now: Instant) -> Option<V> {
        let hash = k.key_hash(&self.hasher);
        let m = self.lock();
        let slot = m.get(hash, k).filter(|s| s.expires() > now)?;
        slot.touch();
        Some(slot.value().clone())
    }

    /// The live value of the key that hashes to `hash` (as [`KeyHash`]
    /// hashes it) and that `is` accepts: a look-up without a key built.
    fn get_matching(&self, hash: u64, is: impl Fn(&K) -> bool, now: Instant) -> Option<V> {
        let m = self.lock();
        let slot = m.get_by(hash, is).filter(|s| s.expires() > now)?;
        slot.touch();
        Some(slot.value().clone())
    }

    /// Store `v` for `ttl`; nothing when it alone exceeds the bound.
    fn put(&self, k: K, v: V, ttl: Duration, now: Instant) {
        let hash = k.key_hash(&self.hasher);
        let heap = k.heap_bytes() + v.heap_bytes();
        let expires = now.checked_add(ttl).unwrap_or(now);
        // An entry larger than the whole bound is not kept; nothing to do.
        let _ = self
            .lock()
            .insert(hash, k, v, expires, heap, now, &self.bounds);
    }

    /// Change the value for `k` in place.
    fn update(&self, k: &K, f: impl FnOnce(&mut V)) {
        let hash = k.key_hash(&self.hasher);
        self.lock().update(hash, k, |v| {
            f(v);
            v.heap_bytes()
        });
    }

    /// Drop the entry for `k`, if any.
    fn remove(&self, k: &K) -> bool {
        let hash = k.key_hash(&self.hasher);
        self.lock().remove(hash, k)
    }

    /// Drop the entries whose key satisfies `f`; returns how many.
    fn remove_if(&self, f: impl Fn(&K) -> bool) -> usize {
        self.lock().remove_if(|k, _| f(k))
    }

    /// Bytes charged.
    fn bytes(&self) -> usize {
        self.lock().bytes()
    }

    /// Drop everything.
    fn clear(&self) {
        self.lock().clear();
    }
}

impl<V: Clone + Footprint> TimedMap<Name, V> {
    /// The live value for the name whose lower-cased wire labels are
    /// `lower` (hashed as [`KeyHash`] hashes a `Name`).
    fn get_labels(&self, lower: &[u8], now: Instant) -> Option<V> {
        self.read_labels(lower, now, V::clone)
    }

    /// What `f` reads of the fresh value under `lower`, without a copy of
    /// the value.
    fn read_labels<R>(&self, lower: &[u8], now: Instant, f: impl FnOnce(&V) -> R) -> Option<R> {
        let m = self.lock();
        let slot = by_labels(&m, &self.hasher, lower).filter(|s| s.expires() > now)?;
        slot.touch();
        Some(f(slot.value()))
    }
}

/// Bounds of the recursor's caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InfraLimits {
    /// Bytes of all maps together.
    pub(crate) max_bytes: usize,
    /// Longest lifetime of any entry (`cache.max-ttl`), in seconds.
    pub(crate) max_ttl: u32,
}

/// All caches of the recursor.
#[derive(Debug)]
pub(crate) struct Infra {
    /// Zone cuts by zone.
    cuts: TimedMap<Name, Servers>,
    /// Smoothed RTT by server address (ms).
    rtt: TimedMap<IpAddr, u32>,
    /// Steps by (name, type).
    steps: TimedMap<(Name, u16), Step>,
    /// Zone security by zone.
    zones: TimedMap<Name, ZoneSecurity>,
    /// Names a minimised probe showed are no zone cut (RFC 9156 section 2.3:
    /// the next query for a name below them skips that label).
    noncuts: TimedMap<Name, ()>,
    /// Validated NSEC/NSEC3 records per zone, for RFC 8198 answers.
    pub(crate) denials: Denials,
    /// The root hints, used when nothing better is cached.
    hints: Servers,
    /// Longest lifetime of any entry, in seconds.
    max_ttl: u32,
}

impl Infra {
    /// Empty caches over these root hints, within `limits`.
    pub(crate) fn new(hints: Vec<NameServer>, limits: InfraLimits) -> Infra {
        let share = |div: usize| limits.max_bytes / div;
        Infra {
            steps: TimedMap::new(limits.max_bytes / 16 * 7),
            cuts: TimedMap::new(share(4)),
            zones: TimedMap::new(share(8)),
            noncuts: TimedMap::new(share(16)),
            rtt: TimedMap::new(share(16)),
            denials: Denials::new(share(16)),
            hints: Arc::new(hints),
            max_ttl: limits.max_ttl,
        }
    }

    /// Longest lifetime of any entry (`cache.max-ttl`), in seconds.
    pub(crate) fn max_ttl(&self) -> u32 {
        self.max_ttl
    }

    /// `ttl` seconds capped by `cache.max-ttl`, at least `floor`.
    fn lifetime(&self, ttl: u32, floor: u32) -> Duration {
        Duration::from_secs(u64::from(ttl.min(self.max_ttl).max(floor)))
    }

    /// The deepest known cut at or above `name` (strictly above when
    /// `above` is set, as for DS which the parent serves); the root hints
    /// at worst.
    pub(crate) fn closest(&self, name: &Name, above: bool, now: Instant) -> Cut {
        let labels = Labels::of(name);
        let below = usize::from(above && labels.count > 0);
        self.closest_below(name, &labels, labels.count - below, now)
            .unwrap_or_else(|| {
                // Our own root cut (learnt from priming) or the hints.
                let root = Name::root();
                let servers = self
                    .cuts
                    .get(&root, now)
                    .unwrap_or_else(|| self.hints.clone());
                Cut {
                    zone: root,
                    servers,
                }
            })
    }

    /// The zone whose validated denials may answer `name` (RFC 8198): the
    /// deepest at or above it (strictly above for DS, which the parent
    /// serves) for which some are kept, no higher than the deepest known cut
    /// (it may lie below that cut, when one server serves parent and child;
    /// above it the name would be another zone's). One pass over the name's
    /// labels, once per cache miss: no name is built but the one found, no
    /// server list copied.
    pub(crate) fn denials_zone(&self, name: &Name, ds: bool, now: Instant) -> Option<Name> {
        let labels = Labels::of(name);
        let start = labels.count - usize::from(ds && labels.count > 0);
        let cut = self
            .deepest_cut(&labels, start, now, |_| ())
            .map_or(0, |(keep, ())| keep);
        (cut..=start)
            .rev()
            .find(|&keep| self.denials.holds_labels(labels.suffix(keep)))
            .map(|keep| name.trim_to(keep))
    }

    /// The deepest known cut at or above `name` below the root; `None` when
    /// only the root's is known.
    pub(crate) fn closest_cut(&self, name: &Name, now: Instant) -> Option<Cut> {
        let labels = Labels::of(name);
        self.closest_below(name, &labels, labels.count, now)
    }

    /// The deepest cached cut below the root among the names of `name`'s
    /// rightmost `from`, `from - 1`, ... 1 labels (`labels` are `name`'s).
    fn closest_below(
        &self,
        name: &Name,
        labels: &Labels,
        from: usize,
        now: Instant,
    ) -> Option<Cut> {
        self.deepest_cut(labels, from, now, Arc::clone)
            .map(|(keep, servers)| Cut {
                zone: name.trim_to(keep),
                servers,
            })
    }

    /// Among the names of the rightmost `from`, `from - 1`, ... 1 of `labels`,
    /// the deepest cached cut: its label count and what `read` takes of its
    /// servers (nothing, for a caller that needs only where it is).
    fn deepest_cut<R>(
        &self,
        labels: &Labels,
        from: usize,
        now: Instant,
        read: impl Fn(&Servers) -> R,
    ) -> Option<(usize, R)> {
        (1..=from).rev().find_map(|keep| {
            self.cuts
                .read_labels(labels.suffix(keep), now, &read)
                .map(|r| (keep, r))
        })
    }

    /// How many of `name`'s rightmost labels a minimised probe below a cut
    /// keeps: `keep`, plus one for each name from there down that is known
    /// to be no zone cut (RFC 9156 section 2.3), at most all of them.
    pub(crate) fn past_noncuts(&self, name: &Name, mut keep: usize, now: Instant) -> usize {
        let labels = Labels::of(name);
        while keep < labels.count && self.noncuts.get_labels(labels.suffix(keep), now).is_some() {
            keep += 1;
        }
        keep
    }

    /// Remember a zone cut.
    pub(crate) fn put_cut(&self, zone: Name, servers: impl Into<Servers>, ttl: u32, now: Instant) {
        // At least 5 s, even under a smaller max-ttl: a cut that vanished at
        // once would send every query of the zone back to the root.
        self.cuts
            .put(zone, servers.into(), self.lifetime(ttl, 5), now);
    }

    /// Record resolved addresses of a name server of `zone`.
    pub(crate) fn set_addrs(&self, zone: &Name, ns: &Name, addrs: &[IpAddr]) {
        self.cuts.update(zone, |servers| {
            for s in Arc::make_mut(servers).iter_mut().filter(|s| s.name == *ns) {
                s.addrs = addrs.to_vec();
            }
        });
    }

    /// The delegations (zone cuts below the root) on the path to `name`, for
    /// the RPZ NSDNAME/NSIP triggers at chain `position`.
    pub(crate) fn path(&self, name: &Name, position: usize, now: Instant) -> Vec<Delegation> {
        let mut out = Vec::new();
        let mut n = name.clone();
        while !n.is_root() {
            if let Some(servers) = self.cuts.get(&n, now) {
                out.push(Delegation {
                    position,
                    zone: n.clone(),
                    ns_names: servers.iter().map(|s| s.name.clone()).collect(),
                    ns_addresses: servers
                        .iter()
                        .flat_map(|s| s.addrs.iter().copied())
                        .collect(),
                });
            }
            n = n.base_name();
        }
        out.reverse();
        out
    }

    /// Smoothed RTT of `addr` in ms.
    pub(crate) fn rtt(&self, addr: IpAddr) -> u32 {
        self.rtt
            .get(&addr, Instant::now())
            .unwrap_or(UNKNOWN_RTT_MS)
    }

    /// Feed one measurement (`None` = timeout) into the smoothed RTT:
    /// `srtt = 0.7 * srtt + 0.3 * sample`, as BIND does.
    pub(crate) fn record_rtt(&self, addr: IpAddr, sample: Option<Duration>) {
        let sample = sample.map_or(TIMEOUT_RTT_MS, |d| {
            u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
        });
        let now = Instant::now();
        let old = self.rtt.get(&addr, now).unwrap_or(sample);
        let srtt = ((u64::from(old) * 7 + u64::from(sample) * 3) / 10) as u32;
        self.rtt.put(addr, srtt, RTT_TTL, now);
    }

    /// A cached step.
    pub(crate) fn step(&self, name: &Name, qtype: u16, now: Instant) -> Option<Step> {
        // Hashed as `KeyHash for (Name, u16)` hashes a key, without copying
        // the name into one (a long name's copy is an allocation).
        let mut buf = [0u8; 256];
        let n = lower_labels(name, &mut buf);
        let lower = &buf[..n];
        let hash = self.steps.hasher.hash_one((lower, qtype));
        self.steps
            .get_matching(hash, |k| k.1 == qtype && is_name(&k.0, lower), now)
    }

    /// Cache a step for `ttl` seconds.
    pub(crate) fn put_step(&self, name: Name, qtype: u16, step: Step, ttl: u32, now: Instant) {
        if ttl > 0 {
            self.steps
                .put((name, qtype), step, self.lifetime(ttl, 0), now);
        }
    }

    /// Cached security of `zone`.
    pub(crate) fn zone(&self, zone: &Name, now: Instant) -> Option<ZoneSecurity> {
        self.zones.get(zone, now)
    }

    /// Cache the security of `zone` for `ttl` seconds.
    pub(crate) fn put_zone(&self, zone: Name, sec: ZoneSecurity, ttl: u32, now: Instant) {
        self.zones.put(zone, sec, self.lifetime(ttl, 1), now);
    }

    /// Remember that `name` is no zone cut, for `ttl` seconds.
    pub(crate) fn put_noncut(&self, name: Name, ttl: u32, now: Instant) {
        if ttl > 0 {
            self.noncuts.put(name, (), self.lifetime(ttl, 0), now);
        }
    }

    /// True when `name` is known to be no zone cut.
    #[cfg(test)]
    pub(crate) fn is_noncut(&self, name: &Name, now: Instant) -> bool {
        self.noncuts.get(name, now).is_some()
    }

    /// Forget everything learnt about names (the hints and RTTs stay).
    pub(crate) fn flush(&self) {
        self.noncuts.clear();
        self.cuts.clear();
        self.steps.clear();
        self.zones.clear();
        self.denials.clear();
    }

    /// Forget the answer step cached for (`name`, `qtype`) only.
    pub(crate) fn forget_step(&self, name: &Name, qtype: u16) -> bool {
        self.steps.remove(&(name.clone(), qtype))
    }

    /// Forget what is cached for `name` itself: its answers of every type,
    /// its zone cut, its zone's security state, its non-cut mark, and the
    /// validated denials that could deny it. Returns how many entries went.
    pub(crate) fn flush_name(&self, name: &Name) -> usize {
        self.flush_where(|n| n == name) + self.denials.flush(name, false)
    }

    /// Forget what is cached for `name` and every name below it, the
    /// validated denials of those names included.
    pub(crate) fn flush_tree(&self, name: &Name) -> usize {
        self.flush_where(|n| name.zone_of(n)) + self.denials.flush(name, true)
    }

    /// Forget what is cached for the names `doomed` picks.
    fn flush_where(&self, doomed: impl Fn(&Name) -> bool) -> usize {
        self.steps.remove_if(|(n, _)| doomed(n))
            + self.cuts.remove_if(|n| doomed(n))
            + self.zones.remove_if(|n| doomed(n))
            + self.noncuts.remove_if(|n| doomed(n))
    }

    /// Bytes charged over all maps.
    pub(crate) fn bytes(&self) -> usize {
        self.steps.bytes()
            + self.cuts.bytes()
            + self.zones.bytes()
            + self.noncuts.bytes()
            + self.rtt.bytes()
            + self.denials.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn n(s: &str) -> Name {
        Name::from_str(s).expect("name")
    }

    /// Bounds that never engage.
    fn big() -> InfraLimits {
        InfraLimits {
            max_bytes: 1 << 30,
            max_ttl: 86_400,
        }
    }

    fn ns(name: &str, ip: [u8; 4]) -> NameServer {
        NameServer {
            name: n(name),
            addrs: vec![IpAddr::from(ip)],
        }
    }

    #[test]
    fn the_closest_cut_is_the_deepest_cached_one_and_ds_looks_above() {
        let infra = Infra::new(vec![ns("a.root.", [127, 0, 20, 1])], big());
        let now = Instant::now();
        infra.put_cut(
            n("example."),
            vec![ns("ns1.example.", [127, 0, 20, 4])],
            300,
            now,
        );
        infra.put_cut(
            n("corp.example."),
            vec![ns("ns1.corp.example.", [127, 0, 20, 5])],
            300,
            now,
        );
        assert_eq!(
            infra.closest(&n("www.corp.example."), false, now).zone,
            n("corp.example.")
        );
        assert_eq!(
            infra.closest(&n("corp.example."), true, now).zone,
            n("example.")
        );
        assert!(infra.closest(&n("www.test."), false, now).zone.is_root());
        // Names match without regard to case, and only whole labels match.
        assert_eq!(
            infra.closest(&n("WWW.Corp.EXAMPLE."), false, now).zone,
            n("corp.example.")
        );
        assert_eq!(
            infra.closest(&n("xcorp.example."), false, now).zone,
            n("example.")
        );
        assert_eq!(
            infra
                .closest_cut(&n("a.b.corp.example."), now)
                .map(|c| c.zone),
            Some(n("corp.example."))
        );
        assert!(infra.closest_cut(&n("a.test."), now).is_none());
        infra.put_noncut(n("b.Corp.example."), 300, now);
        infra.put_noncut(n("a.b.corp.example."), 300, now);
        assert_eq!(infra.past_noncuts(&n("x.a.B.corp.example."), 3, now), 5);
        assert_eq!(infra.past_noncuts(&n("x.a.c.corp.example."), 3, now), 3);
        assert_eq!(infra.past_noncuts(&n("a.b.corp.example."), 3, now), 4);
        let path = infra.path(&n("www.corp.example."), 2, now);
        assert_eq!(path.len(), 2);
        assert_eq!(path[1].zone, n("corp.example."));
        assert_eq!(path[1].position, 2);
        assert_eq!(path[1].ns_addresses, vec![IpAddr::from([127, 0, 20, 5])]);
    }

    #[test]
    fn expired_cuts_are_not_used() {
        let infra = Infra::new(vec![ns("a.root.", [127, 0, 20, 1])], big());
        let then = Instant::now();
        infra.put_cut(
            n("example."),
            vec![ns("ns1.example.", [127, 0, 20, 4])],
            5,
            then,
        );
        let later = then + Duration::from_secs(6);
        assert!(infra
            .closest(&n("www.example."), false, later)
            .zone
            .is_root());
    }

    #[test]
    fn timeouts_push_a_server_behind_a_fast_one() {
        let infra = Infra::new(Vec::new(), big());
        let slow = IpAddr::from([127, 0, 20, 1]);
        let fast = IpAddr::from([127, 0, 20, 2]);
        infra.record_rtt(slow, None);
        infra.record_rtt(fast, Some(Duration::from_millis(5)));
        assert!(infra.rtt(fast) < infra.rtt(slow));
    }

    fn step(zone: &str, owner: &str, ip: [u8; 4]) -> Step {
        Step {
            zone: n(zone),
            kind: StepKind::Answer,
            answers: vec![Record::from_rdata(
                n(owner),
                300,
                hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A::from(
                    std::net::Ipv4Addr::from(ip),
                )),
            )],
            authority: Vec::new(),
            next: None,
        }
    }

    #[test]
    fn a_step_is_found_by_its_name_in_any_case_and_only_for_its_type() {
        let infra = Infra::new(Vec::new(), big());
        let now = Instant::now();
        // Long enough that a copy of the name would not fit inline.
        let owner = "r123456789.a-long-label-here.wild.corp.example.";
        infra.put_step(
            n(owner),
            1,
            step("corp.example.", owner, [192, 0, 2, 1]),
            300,
            now,
        );
        let found = infra
            .step(&n(&owner.to_uppercase()), 1, now)
            .expect("found whatever the case");
        assert_eq!(found.answers.len(), 1);
        assert!(infra.step(&n(owner), 28, now).is_none(), "another type");
        assert!(infra.step(&n("wild.corp.example."), 1, now).is_none());
        assert!(infra.step(&n(&format!("x.{owner}")), 1, now).is_none());
    }

    #[test]
    fn lifetimes_are_capped_by_max_ttl() {
        let infra = Infra::new(
            Vec::new(),
            InfraLimits {
                max_ttl: 60,
                ..big()
            },
        );
        let now = Instant::now();
        let name = n("www.example.");
        infra.put_step(
            name.clone(),
            1,
            step("example.", "www.example.", [192, 0, 2, 1]),
            86_400,
            now,
        );
        infra.put_cut(
            n("example."),
            vec![ns("ns1.example.", [127, 0, 20, 4])],
            86_400,
            now,
        );
        infra.put_zone(n("example."), ZoneSecurity::Insecure, 86_400, now);
        infra.put_noncut(n("www.example."), 86_400, now);
        let t = now + Duration::from_secs(59);
        assert!(infra.step(&name, 1, t).is_some());
        assert_eq!(infra.closest(&name, false, t).zone, n("example."));
        let t = now + Duration::from_secs(61);
        assert!(infra.step(&name, 1, t).is_none());
        assert!(infra.closest(&name, false, t).zone.is_root());
        assert!(infra.zone(&n("example."), t).is_none());
        assert!(!infra.is_noncut(&name, t));
    }

    #[test]
    fn a_flood_of_one_time_names_stays_within_the_bytes_and_spares_popular_entries() {
        let limits = InfraLimits {
            max_bytes: 512 * 1024,
            max_ttl: 86_400,
        };
        let infra = Infra::new(vec![ns("a.root.", [127, 0, 20, 1])], limits);
        let now = Instant::now();
        infra.put_cut(
            n("popular."),
            vec![ns("ns1.popular.", [127, 0, 20, 9])],
            3600,
            now,
        );
        infra.put_step(
            n("www.popular."),
            1,
            step("popular.", "www.popular.", [192, 0, 2, 9]),
            3600,
            now,
        );
        for i in 0..20_000u32 {
            let zone = format!("z{i}.flood.");
            let owner = format!("x.{zone}");
            infra.put_cut(
                n(&zone),
                vec![ns(&format!("ns.{zone}"), [127, 0, 20, 2])],
                3600,
                now,
            );
            infra.put_step(n(&owner), 1, step(&zone, &owner, [192, 0, 2, 2]), 3600, now);
            infra.put_noncut(n(&owner), 3600, now);
            assert!(
                infra.bytes() <= limits.max_bytes,
                "{} bytes at {i}",
                infra.bytes()
            );
            if i % 100 == 0 {
                assert_eq!(
                    infra.closest(&n("www.popular."), false, now).zone,
                    n("popular."),
                    "popular cut evicted after {i} names"
                );
                assert!(
                    infra.step(&n("www.popular."), 1, now).is_some(),
                    "popular step evicted after {i}"
                );
            }
        }
        assert!(
            infra.bytes() > limits.max_bytes / 2,
            "{} bytes: the space is used",
            infra.bytes()
        );
        // Full maps are not emptied: the last names are still there.
        assert!(infra.step(&n("x.z19999.flood."), 1, now).is_some());
        assert_eq!(
            infra.closest(&n("x.z19999.flood."), false, now).zone,
            n("z19999.flood.")
        );
    }

    #[test]
    fn flush_name_takes_one_name_and_flush_tree_a_subtree() {
        let infra = Infra::new(vec![ns("a.root.", [127, 0, 20, 1])], big());
        let now = Instant::now();
        for (zone, owner) in [
            ("example.", "a.example."),
            ("example.", "b.a.example."),
            ("other.", "a.other."),
        ] {
            infra.put_step(n(owner), 1, step(zone, owner, [192, 0, 2, 1]), 300, now);
            infra.put_step(n(owner), 28, step(zone, owner, [192, 0, 2, 1]), 300, now);
        }
        infra.put_cut(
            n("a.example."),
            vec![ns("ns.a.example.", [127, 0, 20, 3])],
            300,
            now,
        );
        infra.put_cut(
            n("other."),
            vec![ns("ns.other.", [127, 0, 20, 3])],
            300,
            now,
        );
        let before = infra.bytes();
        assert_eq!(
            infra.flush_name(&n("A.example.")),
            3,
            "two types and the cut"
        );
        assert!(infra.bytes() < before);
        assert!(infra.step(&n("a.example."), 1, now).is_none());
        assert!(infra.step(&n("b.a.example."), 1, now).is_some());
        assert!(infra.closest(&n("b.a.example."), false, now).zone.is_root());
        assert_eq!(infra.flush_tree(&n("example.")), 2);
        assert!(infra.step(&n("b.a.example."), 28, now).is_none());
        assert!(infra.step(&n("a.other."), 1, now).is_some());
        assert_eq!(infra.closest(&n("a.other."), false, now).zone, n("other."));
    }
}
