//! The bounds on hostile traffic, as one vocabulary for every crate that
//! enforces one.
//!
//! Each role enforces its own limits where the work happens (the listener
//! its TCP slots and client rates, the pipeline its recursions in flight and
//! waiting clients, the recursor its per-zone and per-server fetches and its
//! DNSSEC work); what they share lives here:
//!
//! - [`Limit`]: the names, which are also the `limit` label of
//!   `sekisho_limit_drops_total` and the rows of `sekishoctl limits`;
//! - [`Limits`]: drop counters (one atomic add per drop), the current use
//!   of each limit for the gauges, and a bounded table of the keys (zone,
//!   server, client prefix) a limit is engaged for;
//! - the log lines: a limit that engages for a key is logged when it
//!   engages and when it lets go, never per query. The caller says when its
//!   state changes ([`Limits::engage`], [`Limits::release`] return whether
//!   this call changed it), so a flood of drops costs a counter add and a
//!   table look-up, not a log line.
//!
//! Nothing here blocks for long: the key table is a mutex held for one
//! hash-map operation, bounded to [`MAX_KEYS`] entries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sekisho_api::{LimitKeyStatus, LimitStatus, LimitsReport};

/// A bound on work, memory or sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Recursions in flight (BIND `recursive-clients`).
    RecursiveClients,
    /// Clients waiting on one identical fetch (BIND `clients-per-query`).
    ClientsPerQuery,
    /// Fetches in flight to the servers of one zone (BIND `fetches-per-zone`).
    FetchesPerZone,
    /// Fetches in flight to one server (BIND `fetches-per-server`).
    FetchesPerServer,
    /// Queries sent for one client query (BIND `max-recursion-queries`).
    MaxRecursionQueries,
    /// NS names of one referral whose addresses are looked up (NXNSAttack).
    NsAddressQueries,
    /// Queries a second per client prefix.
    RateLimit,
    /// TCP connections per client address.
    TcpClientsPerIp,
    /// TCP connections closed because the client did not read its answers.
    TcpWriteTimeout,
    /// Signature checks for one client query (KeyTrap).
    MaxValidations,
    /// NSEC3 hash computations for one client query.
    Nsec3Hashes,
    /// TLS client connections closed because the handshake did not finish in time.
    TlsHandshakeTimeout,
    /// Datagrams and connections dropped for their PROXY protocol header: a
    /// load balancer's without a valid one, anyone else's with one.
    ProxyProtocol,
}

impl Limit {
    /// Every limit, in the order reports list them.
    pub const ALL: [Limit; 13] = [
        Limit::RecursiveClients,
        Limit::ClientsPerQuery,
        Limit::FetchesPerZone,
        Limit::FetchesPerServer,
        Limit::MaxRecursionQueries,
        Limit::NsAddressQueries,
        Limit::RateLimit,
        Limit::TcpClientsPerIp,
        Limit::TcpWriteTimeout,
        Limit::MaxValidations,
        Limit::Nsec3Hashes,
        Limit::TlsHandshakeTimeout,
        Limit::ProxyProtocol,
    ];

    /// The label value and report name (the configuration key's words).
    pub fn as_label(self) -> &'static str {
        match self {
            Limit::RecursiveClients => "recursive-clients",
            Limit::ClientsPerQuery => "clients-per-query",
            Limit::FetchesPerZone => "fetches-per-zone",
            Limit::FetchesPerServer => "fetches-per-server",
            Limit::MaxRecursionQueries => "max-recursion-queries",
            Limit::NsAddressQueries => "ns-address-queries",
            Limit::RateLimit => "rate-limit",
            Limit::TcpClientsPerIp => "tcp-clients-per-ip",
            Limit::TcpWriteTimeout => "tcp-write-timeout",
            Limit::MaxValidations => "max-validations",
            Limit::Nsec3Hashes => "nsec3-hashes",
            Limit::TlsHandshakeTimeout => "tls-handshake-timeout",
            Limit::ProxyProtocol => "proxy-protocol",
        }
    }

    /// Whether this limit's keys are zone names (so they may be metric label
    /// values: zones come from the DNS tree, never a client address).
    pub fn keyed_by_zone(self) -> bool {
        matches!(
            self,
            Limit::FetchesPerZone | Limit::MaxValidations | Limit::Nsec3Hashes
        )
    }

    /// Index into the counter arrays.
    fn index(self) -> usize {
        self as usize
    }
}

/// Most keys remembered per process; released keys are forgotten first, so an
/// attack from ever-new prefixes cannot grow the table.
pub const MAX_KEYS: usize = 1024;

/// One key (zone, server, client prefix) a limit has engaged for.
#[derive(Debug)]
struct KeyState {
    /// Engaged now.
    engaged: bool,
    /// Drops counted for this key.
    drops: u64,
    /// When it last changed state.
    since: Instant,
}

/// The key table: per limit, per key.
type Keys = HashMap<Limit, HashMap<String, KeyState>>;

/// Drop counters, current use, and the keys each limit is engaged for.
#[derive(Debug)]
pub struct Limits {
    /// Drops per limit, indexed by [`Limit::index`].
    drops: [AtomicU64; Limit::ALL.len()],
    /// Current use per limit (in flight, open, waiting), where it has one.
    held: [AtomicI64; Limit::ALL.len()],
    /// The configured maximum per limit, for reports (0 = none or off).
    max: [AtomicU64; Limit::ALL.len()],
    /// Keys by limit, then key (looked up by `&str`: a drop allocates nothing).
    keys: Mutex<Keys>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new()
    }
}

impl Limits {
    /// Empty counters.
    pub fn new() -> Limits {
        Limits {
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            held: std::array::from_fn(|_| AtomicI64::new(0)),
            max: std::array::from_fn(|_| AtomicU64::new(0)),
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Record the configured maximum of `limit` (shown by reports).
    pub fn set_max(&self, limit: Limit, max: u64) {
        self.max[limit.index()].store(max, Ordering::Relaxed);
    }

    /// Count one drop (a query answered SERVFAIL or not at all, a connection
    /// closed) by `limit`, for `key` when the limit is keyed.
    pub fn dropped(&self, limit: Limit, key: Option<&str>) {
        self.drops[limit.index()].fetch_add(1, Ordering::Relaxed);
        if let Some(key) = key {
            if let Some(state) = self.lock().get_mut(&limit).and_then(|m| m.get_mut(key)) {
                state.drops += 1;
            }
        }
    }

    /// Drops counted for `limit` so far.
    pub fn drops(&self, limit: Limit) -> u64 {
        self.drops[limit.index()].load(Ordering::Relaxed)
    }

    /// Current use of `limit` changes by `delta`.
    pub fn add_held(&self, limit: Limit, delta: i64) {
        self.held[limit.index()].fetch_add(delta, Ordering::Relaxed);
    }

    /// Current use of `limit`.
    pub fn held(&self, limit: Limit) -> i64 {
        self.held[limit.index()].load(Ordering::Relaxed)
    }

    /// `limit` engages for `key`: logged (with `detail`) when it was not
    /// engaged before. Returns whether this call changed the state.
    pub fn engage(&self, limit: Limit, key: &str, detail: &str) -> bool {
        let mut keys = self.lock();
        let now = Instant::now();
        if let Some(state) = keys.get_mut(&limit).and_then(|m| m.get_mut(key)) {
            if state.engaged {
                return false;
            }
            state.engaged = true;
            state.since = now;
        } else {
            if keys.values().map(HashMap::len).sum::<usize>() >= MAX_KEYS {
                forget_one(&mut keys);
            }
            keys.entry(limit).or_default().insert(
                key.to_owned(),
                KeyState {
                    engaged: true,
                    drops: 0,
                    since: now,
                },
            );
        }
        drop(keys);
        tracing::warn!(limit = limit.as_label(), key, "limit engaged: {detail}");
        true
    }

    /// `limit` lets go of `key`: logged when it was engaged. Returns whether
    /// this call changed the state.
    pub fn release(&self, limit: Limit, key: &str) -> bool {
        let mut keys = self.lock();
        let Some(state) = keys.get_mut(&limit).and_then(|m| m.get_mut(key)) else {
            return false;
        };
        if !state.engaged {
            return false;
        }
        state.engaged = false;
        let held_for = state.since.elapsed();
        state.since = Instant::now();
        let drops = state.drops;
        drop(keys);
        tracing::info!(
            limit = limit.as_label(),
            key,
            drops,
            "limit released after {}",
            seconds(held_for)
        );
        true
    }

    /// Whether `limit` is engaged for `key` now.
    pub fn is_engaged(&self, limit: Limit, key: &str) -> bool {
        self.lock()
            .get(&limit)
            .and_then(|m| m.get(key))
            .is_some_and(|s| s.engaged)
    }

    /// What every limit holds and has dropped, and the keys they engaged for
    /// (`sekishoctl limits`).
    pub fn report(&self) -> LimitsReport {
        let limits = Limit::ALL
            .iter()
            .map(|&l| LimitStatus {
                limit: l.as_label().to_owned(),
                max: self.max[l.index()].load(Ordering::Relaxed),
                held: self.held(l),
                drops: self.drops(l),
            })
            .collect();
        let now = Instant::now();
        let mut keys: Vec<LimitKeyStatus> = self
            .lock()
            .iter()
            .flat_map(|(l, m)| m.iter().map(move |(key, s)| (l, key, s)))
            .map(|(l, key, s)| LimitKeyStatus {
                limit: l.as_label().to_owned(),
                key: key.clone(),
                engaged: s.engaged,
                drops: s.drops,
                seconds_in_state: now.saturating_duration_since(s.since).as_secs(),
            })
            .collect();
        keys.sort_by(|a, b| {
            (b.engaged, b.drops, &a.limit, &a.key).cmp(&(a.engaged, a.drops, &b.limit, &b.key))
        });
        LimitsReport { limits, keys }
    }

    /// The key table (a poisoned lock still holds consistent counters).
    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Forget the released key that changed state longest ago (or, when all are
/// engaged, the oldest), to make room.
fn forget_one(keys: &mut Keys) {
    let victim = keys
        .iter()
        .flat_map(|(l, m)| m.iter().map(move |(k, s)| (*l, k, s)))
        .min_by_key(|(_, _, s)| (s.engaged, s.since))
        .map(|(l, k, _)| (l, k.clone()));
    if let Some((l, k)) = victim {
        if let Some(m) = keys.get_mut(&l) {
            m.remove(&k);
        }
    }
}

/// "1.5s"-style text.
fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_logged_once_per_change_of_state() {
        let l = Limits::new();
        assert!(l.engage(Limit::FetchesPerZone, "slow.example.", "200 in flight"));
        assert!(!l.engage(Limit::FetchesPerZone, "slow.example.", "200 in flight"));
        for _ in 0..5 {
            l.dropped(Limit::FetchesPerZone, Some("slow.example."));
        }
        assert!(l.is_engaged(Limit::FetchesPerZone, "slow.example."));
        assert!(l.release(Limit::FetchesPerZone, "slow.example."));
        assert!(!l.release(Limit::FetchesPerZone, "slow.example."));
        assert!(!l.is_engaged(Limit::FetchesPerZone, "slow.example."));
        assert_eq!(l.drops(Limit::FetchesPerZone), 5);
        let r = l.report();
        let k = r
            .keys
            .iter()
            .find(|k| k.key == "slow.example.")
            .expect("key kept after release");
        assert_eq!((k.drops, k.engaged), (5, false));
        // Another limit with the same key is a different key.
        assert!(!l.is_engaged(Limit::FetchesPerServer, "slow.example."));
    }

    #[test]
    fn the_key_table_stays_bounded_and_forgets_released_keys_first() {
        let l = Limits::new();
        assert!(l.engage(Limit::RateLimit, "keep", "engaged"));
        for i in 0..MAX_KEYS + 50 {
            let k = format!("10.{}.{}.0/24", i / 256, i % 256);
            l.engage(Limit::RateLimit, &k, "x");
            l.release(Limit::RateLimit, &k);
        }
        let r = l.report();
        assert!(r.keys.len() <= MAX_KEYS);
        assert!(r.keys.iter().any(|k| k.key == "keep" && k.engaged));
    }

    #[test]
    fn reports_list_every_limit_with_its_use_and_drops() {
        let l = Limits::new();
        l.set_max(Limit::RecursiveClients, 10);
        l.add_held(Limit::RecursiveClients, 3);
        l.add_held(Limit::RecursiveClients, -1);
        l.dropped(Limit::RecursiveClients, None);
        let r = l.report();
        assert_eq!(r.limits.len(), Limit::ALL.len());
        let rc = &r.limits[0];
        assert_eq!(
            (rc.limit.as_str(), rc.max, rc.held, rc.drops),
            ("recursive-clients", 10, 2, 1)
        );
        let labels: std::collections::HashSet<_> =
            Limit::ALL.iter().map(|l| l.as_label()).collect();
        assert_eq!(labels.len(), Limit::ALL.len());
    }
}
