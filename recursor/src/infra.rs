//! The recursor's own caches: zone cuts with their name servers
//! (infrastructure cache), smoothed RTT per server address, answers per
//! (name, type) with their validation state, and the security state of zones.
//!
//! ```text
//!  cuts:   zone ─▶ NS names + addresses (glue or resolved), expiry
//!  rtt:    address ─▶ smoothed RTT (ms), as in BIND's SRTT / Unbound's infra cache
//!  steps:  (name, type) ─▶ what its zone's servers said, expiry
//!  zones:  zone ─▶ Secure(DNSKEYs) | Insecure | Bogus(why), expiry
//! ```
//!
//! Every map is bounded: when one exceeds its limit it is cleared of expired
//! entries, then emptied if still full (a cold start is cheaper than an
//! unbounded map under a random-name flood). Locks are never held across
//! an `.await`.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::rr::{Name, Record};
use sekisho_rpz::Delegation;

use super::Ede;

/// Upper bound on entries per map.
const MAX_ENTRIES: usize = 100_000;
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

/// A zone cut: the servers of a zone.
#[derive(Debug, Clone)]
pub(crate) struct Cut {
    /// The zone.
    pub(crate) zone: Name,
    /// Its servers.
    pub(crate) servers: Vec<NameServer>,
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

/// An entry with an expiry.
#[derive(Debug, Clone)]
struct Timed<T> {
    /// The value.
    value: T,
    /// When it stops being used.
    expires: Instant,
}

/// A bounded map of expiring entries behind one lock.
#[derive(Debug)]
struct TimedMap<K, V> {
    /// The entries.
    map: Mutex<HashMap<K, Timed<V>>>,
}

impl<K: Eq + Hash, V: Clone> TimedMap<K, V> {
    /// An empty map.
    fn new() -> Self {
        TimedMap {
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The live value for `k`.
    fn get(&self, k: &K, now: Instant) -> Option<V> {
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.get(k)
            .filter(|t| t.expires > now)
            .map(|t| t.value.clone())
    }

    /// Store `v` for `ttl`.
    fn put(&self, k: K, v: V, ttl: Duration, now: Instant) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_ENTRIES {
            m.retain(|_, t| t.expires > now);
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
        }
        m.insert(
            k,
            Timed {
                value: v,
                expires: now + ttl,
            },
        );
    }

    /// Change the live value for `k` in place.
    fn update(&self, k: &K, f: impl FnOnce(&mut V)) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = m.get_mut(k) {
            f(&mut t.value);
        }
    }

    /// Drop everything.
    fn clear(&self) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// All caches of the recursor.
#[derive(Debug)]
pub(crate) struct Infra {
    /// Zone cuts by zone.
    cuts: TimedMap<Name, Vec<NameServer>>,
    /// Smoothed RTT by server address (ms).
    rtt: Mutex<HashMap<IpAddr, u32>>,
    /// Steps by (name, type).
    steps: TimedMap<(Name, u16), Step>,
    /// Zone security by zone.
    zones: TimedMap<Name, ZoneSecurity>,
    /// Names a minimised probe showed are no zone cut (RFC 9156 section 2.3:
    /// the next query for a name below them skips that label).
    noncuts: TimedMap<Name, ()>,
    /// The root hints, used when nothing better is cached.
    hints: Vec<NameServer>,
}

impl Infra {
    /// Empty caches over these root hints.
    pub(crate) fn new(hints: Vec<NameServer>) -> Infra {
        Infra {
            cuts: TimedMap::new(),
            rtt: Mutex::new(HashMap::new()),
            steps: TimedMap::new(),
            zones: TimedMap::new(),
            noncuts: TimedMap::new(),
            hints,
        }
    }

    /// The deepest known cut at or above `name` (strictly above when
    /// `above` is set, as for DS which the parent serves); the root hints
    /// at worst.
    pub(crate) fn closest(&self, name: &Name, above: bool, now: Instant) -> Cut {
        let mut n = if above && !name.is_root() {
            name.base_name()
        } else {
            name.clone()
        };
        loop {
            if n.is_root() {
                // Our own root cut (learnt from priming) or the hints.
                let servers = self.cuts.get(&n, now).unwrap_or_else(|| self.hints.clone());
                return Cut { zone: n, servers };
            }
            if let Some(servers) = self.cuts.get(&n, now) {
                return Cut { zone: n, servers };
            }
            n = n.base_name();
        }
    }

    /// Remember a zone cut.
    pub(crate) fn put_cut(&self, zone: Name, servers: Vec<NameServer>, ttl: u32, now: Instant) {
        self.cuts.put(
            zone,
            servers,
            Duration::from_secs(u64::from(ttl.max(5))),
            now,
        );
    }

    /// Record resolved addresses of a name server of `zone`.
    pub(crate) fn set_addrs(&self, zone: &Name, ns: &Name, addrs: &[IpAddr]) {
        self.cuts.update(zone, |servers| {
            for s in servers.iter_mut().filter(|s| s.name == *ns) {
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
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&addr)
            .copied()
            .unwrap_or(UNKNOWN_RTT_MS)
    }

    /// Feed one measurement (`None` = timeout) into the smoothed RTT:
    /// `srtt = 0.7 * srtt + 0.3 * sample`, as BIND does.
    pub(crate) fn record_rtt(&self, addr: IpAddr, sample: Option<Duration>) {
        let sample = sample.map_or(TIMEOUT_RTT_MS, |d| {
            u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
        });
        let mut m = self.rtt.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        let e = m.entry(addr).or_insert(sample);
        *e = ((u64::from(*e) * 7 + u64::from(sample) * 3) / 10) as u32;
    }

    /// A cached step.
    pub(crate) fn step(&self, name: &Name, qtype: u16, now: Instant) -> Option<Step> {
        self.steps.get(&(name.clone(), qtype), now)
    }

    /// Cache a step for `ttl` seconds.
    pub(crate) fn put_step(&self, name: Name, qtype: u16, step: Step, ttl: u32, now: Instant) {
        if ttl > 0 {
            self.steps.put(
                (name, qtype),
                step,
                Duration::from_secs(u64::from(ttl)),
                now,
            );
        }
    }

    /// Cached security of `zone`.
    pub(crate) fn zone(&self, zone: &Name, now: Instant) -> Option<ZoneSecurity> {
        self.zones.get(zone, now)
    }

    /// Cache the security of `zone` for `ttl` seconds.
    pub(crate) fn put_zone(&self, zone: Name, sec: ZoneSecurity, ttl: u32, now: Instant) {
        self.zones
            .put(zone, sec, Duration::from_secs(u64::from(ttl.max(1))), now);
    }

    /// Remember that `name` is no zone cut, for `ttl` seconds.
    pub(crate) fn put_noncut(&self, name: Name, ttl: u32, now: Instant) {
        if ttl > 0 {
            self.noncuts
                .put(name, (), Duration::from_secs(u64::from(ttl)), now);
        }
    }

    /// True when `name` is known to be no zone cut.
    pub(crate) fn is_noncut(&self, name: &Name, now: Instant) -> bool {
        self.noncuts.get(name, now).is_some()
    }

    /// Forget everything learnt (the hints stay).
    pub(crate) fn flush(&self) {
        self.noncuts.clear();
        self.cuts.clear();
        self.steps.clear();
        self.zones.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn n(s: &str) -> Name {
        Name::from_str(s).expect("name")
    }

    fn ns(name: &str, ip: [u8; 4]) -> NameServer {
        NameServer {
            name: n(name),
            addrs: vec![IpAddr::from(ip)],
        }
    }

    #[test]
    fn the_closest_cut_is_the_deepest_cached_one_and_ds_looks_above() {
        let infra = Infra::new(vec![ns("a.root.", [127, 0, 20, 1])]);
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
        let path = infra.path(&n("www.corp.example."), 2, now);
        assert_eq!(path.len(), 2);
        assert_eq!(path[1].zone, n("corp.example."));
        assert_eq!(path[1].position, 2);
        assert_eq!(path[1].ns_addresses, vec![IpAddr::from([127, 0, 20, 5])]);
    }

    #[test]
    fn expired_cuts_are_not_used() {
        let infra = Infra::new(vec![ns("a.root.", [127, 0, 20, 1])]);
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
        let infra = Infra::new(Vec::new());
        let slow = IpAddr::from([127, 0, 20, 1]);
        let fast = IpAddr::from([127, 0, 20, 2]);
        infra.record_rtt(slow, None);
        infra.record_rtt(fast, Some(Duration::from_millis(5)));
        assert!(infra.rtt(fast) < infra.rtt(slow));
    }
}
