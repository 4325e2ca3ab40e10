//! Fetch quotas: how many queries may be in flight at once to the servers
//! of one zone (BIND `fetches-per-zone`) and to one server address (BIND
//! `fetches-per-server`).
//!
//! ```text
//!  iter::ask ── for each server of the cut ──────────────────────────────┐
//!     zone slot  = quotas.zone.enter("example.")   full ─▶ Failure (SERVFAIL, EDE 0), counted
//!     server slot = quotas.server.enter("192.0.2.1") full ─▶ skip to the next server;
//!                                                         all full ─▶ Failure, counted
//!     try_server(..).await          (both slots held while the query is out)
//!     drop(slots)                   ─▶ counts go down, also when the client's
//!                                      deadline drops the whole future
//! ```
//!
//! Why: a random-subdomain flood under one zone whose servers are slow or
//! silent would otherwise fill every recursion slot with queries waiting on
//! those servers, and starve resolutions that have nothing to do with it.
//! With a quota the excess for that zone fails at once, while every other
//! zone resolves as before. The server quota does the same for one address
//! (many zones can share a hoster's servers); there the recursor first tries
//! the zone's other servers.
//!
//! A slot is an RAII guard: the count goes down when it is dropped, so a
//! resolution that ends early, fails, or is cancelled (the pipeline drops
//! the future at the client's deadline) gives its slot back.
//!
//! Each quota keeps a count per key (zone name or server address) in a map
//! holding only keys with queries in flight: an entry is removed when its
//! count reaches zero, so the map is never larger than the number of
//! queries in flight.
//!
//! Admission is by count alone: a query is let through while fewer than
//! the quota are in flight. The *engaged* state, which is only for the log
//! and `sekishoctl limits`, changes with hysteresis: the limit engages for
//! a key when a query is refused for it, and releases when the key's count
//! falls to 90 % of the quota (rounded down) or less and nothing has been
//! refused for it for [`RELEASE_HOLD`] (or at once when nothing is in flight
//! any more), so a zone hovering at its quota logs one line when it starts
//! shedding load and one when it stops, not one per query nor one per
//! swing of a busy server's count around 90 %.
//!
//! The server quota adapts to congestion, as BIND's does (`fetch-quota-params`
//! at its defaults): every [`WINDOW`] outcomes (answers and timeouts) of a
//! server, the share of timeouts is folded into a moving average (the new
//! window weighs [`DISCOUNT`]); above [`HIGH`] the server's quota steps down
//! by 12 % (to at least one query), below [`LOW`] it steps back up, until it
//! is the configured quota again. A server that stops answering under a
//! flood therefore ends up with one query in flight instead of
//! `fetches-per-server`, and the recursor turns to the zone's other servers.
//! A lowered server is logged once when it is first lowered and once when it
//! is back at its full quota. A server's state is kept while it is lowered or
//! counting a window (at most [`TRACKED_KEYS`] servers; past that a server
//! with no query in flight is forgotten, i.e. starts afresh) and forgotten
//! after [`IDLE_RESET`] without an outcome. The zone quota is fixed.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sekisho_limits::{Limit, Limits};

use super::RecursorConfig;

/// The key of `zone` in the zone quota, or `None` for the root and the
/// top-level zones, which are exempt: their servers are built for the whole
/// Internet's load, and a cold cache sends every miss through them (their
/// servers' quota still applies).
pub(crate) fn zone_key(zone: &hickory_proto::rr::Name) -> Option<ZoneKey> {
    (zone.num_labels() >= 2).then(|| ZoneKey::of(zone))
}

/// A key of the zone quota: the zone's labels in lower case, in wire form
/// without the root label, shared by the table and the slots that hold it.
/// Hashing and comparing it are one pass over a few bytes (a hickory `Name`
/// is hashed label by label, a case fold per byte), and a slot's copy is a
/// reference count.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ZoneKey(Arc<[u8]>);

impl ZoneKey {
    /// The key of `zone`.
    pub(crate) fn of(zone: &hickory_proto::rr::Name) -> ZoneKey {
        // Written on the stack, then copied once into the shared slice.
        let mut wire = [0u8; 256];
        let n = super::infra::lower_labels(zone, &mut wire);
        ZoneKey(Arc::from(&wire[..n]))
    }

    /// The zone's name (for the log and the counters, when a limit engages).
    pub(crate) fn name(&self) -> hickory_proto::rr::Name {
        let mut labels = Vec::new();
        let mut at = 0;
        while let Some(&len) = self.0.get(at) {
            let end = (at + 1 + usize::from(len)).min(self.0.len());
            labels.push(&self.0[at + 1..end]);
            at = end;
        }
        // The labels came from a valid name.
        hickory_proto::rr::Name::from_labels(labels).unwrap_or_default()
    }
}

impl Display for ZoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Display::fmt(&self.name(), f)
    }
}

impl std::fmt::Debug for ZoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ZoneKey({self})")
    }
}

/// The two fetch quotas of a recursor.
#[derive(Debug)]
pub(crate) struct Quotas {
    /// Queries in flight per zone cut, keyed by the zone's name.
    pub(crate) zone: Quota<ZoneKey>,
    /// Queries in flight per server, keyed by its address.
    pub(crate) server: Quota<IpAddr>,
}

impl Quotas {
    /// The quotas of `config`, reported to its [`Limits`] with the other
    /// bounds the recursor enforces (query budget, NS address lookups).
    pub(crate) fn new(config: &RecursorConfig) -> Quotas {
        let limits = &config.limits;
        let wide = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        limits.set_max(Limit::FetchesPerZone, wide(config.fetches_per_zone));
        limits.set_max(Limit::FetchesPerServer, wide(config.fetches_per_server));
        limits.set_max(Limit::MaxRecursionQueries, u64::from(config.max_queries));
        limits.set_max(
            Limit::NsAddressQueries,
            u64::from(config.max_ns_address_queries),
        );
        Quotas {
            zone: Quota::new(Limit::FetchesPerZone, config.fetches_per_zone, limits),
            server: Quota::new(Limit::FetchesPerServer, config.fetches_per_server, limits)
                .adaptive(),
        }
    }
}

/// An engaged key is released no sooner than this after its last refusal.
pub(crate) const RELEASE_HOLD: Duration = Duration::from_secs(1);
/// Outcomes per recalculation of a server's timeout ratio (BIND: 100).
pub(crate) const WINDOW: u32 = 100;
/// Below this moving timeout ratio a lowered quota steps up (BIND: 0.1).
pub(crate) const LOW: f64 = 0.1;
/// Above this moving timeout ratio the quota steps down (BIND: 0.3).
pub(crate) const HIGH: f64 = 0.3;
/// Weight of the newest window in the moving ratio (BIND: 0.7).
pub(crate) const DISCOUNT: f64 = 0.7;
/// Factor of one step down (BIND's table falls by about 12 % a step).
const STEP: f64 = 0.88;
/// Steps down at most (0.88^60 of any quota up to 100,000 is below one).
const MAX_STEPS: u8 = 60;
/// Servers remembered at most with no query in flight (lowered, or in the
/// middle of a window).
pub(crate) const TRACKED_KEYS: usize = 4096;
/// A lowered server with no outcome for this long starts afresh.
pub(crate) const IDLE_RESET: Duration = Duration::from_secs(300);

/// Queries in flight per key, at most `max` each. Keys are kept as they are
/// (a zone's name, a server's address) and written out only for the log and
/// the counters of a limit that engages: building a string per key, as this
/// table once did, cost every cache miss two formatted strings and a handful
/// of allocations.
#[derive(Debug)]
pub(crate) struct Quota<K> {
    /// Which limit this is (counters, log lines).
    limit: Limit,
    /// The quota; 0 = no limit (nothing is counted).
    max: usize,
    /// Lower a key's quota while its queries time out (see the module docs).
    adapts: bool,
    /// How long after its last refusal an engaged key may be released.
    hold: Duration,
    /// Where drops, use and state changes are reported.
    limits: Arc<Limits>,
    /// Keys with queries in flight.
    table: Mutex<HashMap<K, Count>>,
    /// Keys with their quota in flight now: while 0, [`Quota::is_full`]
    /// answers without the lock (the common case on every cache miss).
    full_keys: AtomicUsize,
}

/// The state of one key.
#[derive(Debug, Default)]
struct Count {
    /// Queries in flight.
    in_flight: usize,
    /// The limit is engaged for this key: when it last refused a query
    /// (see the module docs).
    engaged: Option<Instant>,
    /// Adaptive quotas only: how the key's servers are doing.
    health: Health,
    /// Counted in [`Quota::full_keys`]: the quota is in flight.
    full: bool,
}

/// Timeouts against answers of one server, and what its quota became.
#[derive(Debug, Default)]
struct Health {
    /// Outcomes in the current window.
    outcomes: u32,
    /// Timeouts among them.
    timeouts: u32,
    /// Moving timeout ratio over the windows so far.
    ratio: f64,
    /// Steps down from the configured quota (0 = the configured quota).
    steps: u8,
    /// When the last outcome came (`None`: never).
    last: Option<Instant>,
}

impl Health {
    /// The quota after `steps` steps down from `max`: at least one.
    fn quota(&self, max: usize) -> usize {
        if self.steps == 0 {
            return max;
        }
        let q = (max as f64) * STEP.powi(i32::from(self.steps));
        (q as usize).max(1)
    }
}

/// One query's place in a [`Quota`]; gives it back when dropped.
#[derive(Debug)]
#[must_use = "the slot is given back as soon as it is dropped"]
pub(crate) struct Slot<'a, K: Eq + Hash + Clone + Display> {
    /// The quota and the key counted, `None` when the quota is off.
    held: Option<(&'a Quota<K>, K)>,
}

impl<K: Eq + Hash + Clone + Display> Quota<K> {
    /// A quota of `max` per key (0 = off) for `limit`.
    pub(crate) fn new(limit: Limit, max: usize, limits: &Arc<Limits>) -> Quota<K> {
        Quota {
            limit,
            max,
            adapts: false,
            hold: RELEASE_HOLD,
            limits: limits.clone(),
            table: Mutex::new(HashMap::new()),
            full_keys: AtomicUsize::new(0),
        }
    }

    /// The same quota, lowered per key while the key's queries time out.
    pub(crate) fn adaptive(mut self) -> Quota<K> {
        self.adapts = true;
        self
    }

    /// One query to `key` ended: answered, or timed out. Every [`WINDOW`]
    /// outcomes the key's quota may step down or up (adaptive quotas only).
    pub(crate) fn outcome(&self, key: &K, timed_out: bool) {
        if !self.adapts || self.max == 0 {
            return;
        }
        let now = Instant::now();
        let mut table = self.lock();
        let Some(count) = table.get_mut(key) else {
            // Not in flight and never lowered: nothing to learn from one outcome.
            return;
        };
        let h = &mut count.health;
        h.last = Some(now);
        h.outcomes += 1;
        h.timeouts += u32::from(timed_out);
        if h.outcomes < WINDOW {
            return;
        }
        let window = f64::from(h.timeouts) / f64::from(h.outcomes);
        h.ratio = h.ratio * (1.0 - DISCOUNT) + window * DISCOUNT;
        h.outcomes = 0;
        h.timeouts = 0;
        let before = h.steps;
        if h.ratio > HIGH && h.steps < MAX_STEPS {
            h.steps += 1;
        } else if h.ratio < LOW && h.steps > 0 {
            h.steps -= 1;
        }
        let (after, ratio, quota) = (h.steps, h.ratio, h.quota(self.max));
        self.refresh_full(count);
        drop(table);
        match (before, after) {
            (0, 1) => tracing::info!(
                limit = self.limit.as_label(),
                server = %key,
                quota,
                timeout_ratio = ratio,
                "fetch quota of a server lowered: its queries time out"
            ),
            (1, 0) => tracing::info!(
                limit = self.limit.as_label(),
                server = %key,
                quota,
                timeout_ratio = ratio,
                "fetch quota of a server restored"
            ),
            (b, a) if b != a => tracing::debug!(
                limit = self.limit.as_label(),
                server = %key,
                quota,
                timeout_ratio = ratio,
                "fetch quota of a server changed"
            ),
            _ => {}
        }
    }

    /// The quota of `key` now (the configured one unless adapted).
    #[cfg(test)]
    fn quota_of(&self, key: &K) -> usize {
        self.lock()
            .get(key)
            .map_or(self.max, |c| c.health.quota(self.max))
    }

    /// A slot for one more query to `key`, or `None` when `key` already has
    /// the quota in flight. A refusal engages the limit for `key` (logged
    /// once, with `detail`); counting the drop is the caller's, which knows
    /// whether the refusal fails the resolution.
    pub(crate) fn enter(&self, key: &K, detail: impl FnOnce() -> String) -> Option<Slot<'_, K>> {
        if self.max == 0 {
            return Some(Slot { held: None });
        }
        let mut table = self.lock();
        let count = table.entry(key.clone()).or_default();
        if count.health.last.is_some_and(|t| t.elapsed() >= IDLE_RESET) {
            count.health = Health::default();
        }
        if count.in_flight < count.health.quota(self.max) {
            count.in_flight += 1;
            self.refresh_full(count);
            drop(table);
            self.limits.add_held(self.limit, 1);
            return Some(Slot {
                held: Some((self, key.clone())),
            });
        }
        drop(table);
        self.refused(key, detail);
        None
    }

    /// A query for `key` was refused (here, or up front by a caller that saw
    /// [`is_full`](Self::is_full)): engages the limit for `key`, logged once
    /// with `detail`, and restarts its hold. Counts nothing.
    pub(crate) fn refused(&self, key: &K, detail: impl FnOnce() -> String) {
        let mut table = self.lock();
        // Nothing in flight for `key` any more: nothing to engage for.
        let Some(count) = table.get_mut(key) else {
            return;
        };
        let engage = count.engaged.is_none();
        count.engaged = Some(Instant::now());
        drop(table);
        if engage {
            self.limits.engage(self.limit, &key.to_string(), &detail());
        }
    }

    /// Whether any key has its quota in flight now (an atomic load).
    pub(crate) fn any_full(&self) -> bool {
        self.max != 0 && self.full_keys.load(Ordering::Relaxed) > 0
    }

    /// Whether `key` has its quota in flight now (the next
    /// [`enter`](Self::enter) would be refused). Counts nothing.
    pub(crate) fn is_full(&self, key: &K) -> bool {
        if self.max == 0 || self.full_keys.load(Ordering::Relaxed) == 0 {
            return false;
        }
        self.lock()
            .get(key)
            .is_some_and(|c| c.in_flight >= c.health.quota(self.max))
    }

    /// One query to `key` is over: count it down, release the limit when
    /// the count has fallen far enough, and forget the key at zero.
    fn leave(&self, key: K) {
        let mut table = self.lock();
        let keys = table.len();
        // One look-up for the count and its removal.
        let Entry::Occupied(mut entry) = table.entry(key) else {
            return;
        };
        let count = entry.get_mut();
        count.in_flight = count.in_flight.saturating_sub(1);
        self.refresh_full(count);
        let release = count.engaged.is_some_and(|at| {
            count.in_flight == 0
                || (count.in_flight <= release_at(count.health.quota(self.max))
                    && at.elapsed() >= self.hold)
        });
        if release {
            count.engaged = None;
        }
        // `release_at` is never negative, so a key at zero is not engaged. A
        // key lowered or in the middle of a window is remembered (bounded),
        // so that its next queries meet the lowered quota and its outcomes
        // add up also when it has one query at a time.
        let tracked = count.health.steps > 0 || count.health.outcomes > 0;
        let forget = count.in_flight == 0 && (!tracked || keys > TRACKED_KEYS);
        let released = release.then(|| entry.key().to_string());
        if forget {
            entry.remove();
        }
        drop(table);
        self.limits.add_held(self.limit, -1);
        if let Some(key) = released {
            self.limits.release(self.limit, &key);
        }
    }

    /// Keep `count.full` and [`Quota::full_keys`] true to the count and
    /// quota of the key now.
    fn refresh_full(&self, count: &mut Count) {
        let full = count.in_flight >= count.health.quota(self.max);
        if full != count.full {
            count.full = full;
            if full {
                self.full_keys.fetch_add(1, Ordering::Relaxed);
            } else {
                self.full_keys.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Queries in flight to `key` now.
    #[cfg(test)]
    fn in_flight(&self, key: &K) -> usize {
        self.lock().get(key).map_or(0, |c| c.in_flight)
    }

    /// Keys with queries in flight now.
    #[cfg(test)]
    fn keys(&self) -> usize {
        self.lock().len()
    }

    /// The key table (a poisoned lock still holds consistent counts: every
    /// change is one field update).
    fn lock(&self) -> MutexGuard<'_, HashMap<K, Count>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The count at or below which an engaged key is released: 90 % of its
/// quota `max`, rounded down.
fn release_at(max: usize) -> usize {
    // max * 9 / 10 without overflow for any usize.
    max / 10 * 9 + max % 10 * 9 / 10
}

impl<K: Eq + Hash + Clone + Display> Drop for Slot<'_, K> {
    fn drop(&mut self) {
        if let Some((quota, key)) = self.held.take() {
            quota.leave(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zone quota that releases as soon as the count allows.
    fn quota(max: usize) -> (Quota<String>, Arc<Limits>) {
        let limits = Arc::new(Limits::new());
        let mut q = Quota::new(Limit::FetchesPerZone, max, &limits);
        q.hold = Duration::ZERO;
        (q, limits)
    }

    #[test]
    fn a_key_stays_engaged_for_the_hold_after_its_last_refusal_unless_it_empties() {
        let limits = Arc::new(Limits::new());
        let mut q: Quota<String> = Quota::new(Limit::FetchesPerZone, 20, &limits);
        q.hold = Duration::from_secs(3600);
        let mut slots: Vec<_> = (0..20).map(|_| enter(&q, "z.").expect("room")).collect();
        assert!(enter(&q, "z.").is_none());
        slots.truncate(10);
        assert!(
            limits.is_engaged(Limit::FetchesPerZone, "z."),
            "below 90 % but refused within the hold: no swing in the log"
        );
        drop(slots);
        assert!(
            !limits.is_engaged(Limit::FetchesPerZone, "z."),
            "nothing in flight: released"
        );
    }

    fn enter<'a>(q: &'a Quota<String>, key: &str) -> Option<Slot<'a, String>> {
        q.enter(&k(key), || format!("full: {key}"))
    }

    #[test]
    fn a_zone_key_ignores_case_and_shows_the_zone_as_before() {
        let name = |s: &str| hickory_proto::rr::Name::from_ascii(s).expect("name");
        let mixed = ZoneKey::of(&name("Slow.Example.TEST."));
        assert_eq!(mixed, ZoneKey::of(&name("slow.example.test.")));
        assert_ne!(mixed, ZoneKey::of(&name("slow.example.tes.")));
        assert_eq!(mixed.to_string(), "slow.example.test.");
        assert_eq!(mixed.name(), name("slow.example.test."));
        assert_eq!(zone_key(&name("test.")), None, "top-level zones are exempt");
        assert_eq!(
            zone_key(&name("Example.Test.")).map(|k| k.to_string()),
            Some("example.test.".to_owned())
        );
    }

    /// A key of the tests' quotas.
    fn k(key: &str) -> String {
        key.to_owned()
    }

    #[test]
    fn a_full_key_refuses_and_engages_once_while_other_keys_go_on() {
        let (q, limits) = quota(2);
        let a = enter(&q, "slow.test.").expect("first");
        let b = enter(&q, "slow.test.").expect("second");
        assert!(enter(&q, "slow.test.").is_none());
        assert!(enter(&q, "slow.test.").is_none());
        assert!(limits.is_engaged(Limit::FetchesPerZone, "slow.test."));
        // Engaging once per change of state: a second engage call would change nothing.
        assert!(!limits.engage(Limit::FetchesPerZone, "slow.test.", "x"));
        let other = enter(&q, "fast.test.").expect("another zone is not limited");
        assert_eq!(limits.held(Limit::FetchesPerZone), 3);
        drop((a, b, other));
        assert_eq!(limits.held(Limit::FetchesPerZone), 0);
    }

    #[test]
    fn the_limit_releases_at_ninety_percent_and_admits_again() {
        let (q, limits) = quota(20);
        let mut slots: Vec<_> = (0..20).map(|_| enter(&q, "z.").expect("room")).collect();
        assert!(enter(&q, "z.").is_none());
        slots.pop();
        assert!(
            limits.is_engaged(Limit::FetchesPerZone, "z."),
            "19 of 20 in flight: still engaged"
        );
        // Admission is by count alone: there is room for one again.
        slots.push(enter(&q, "z.").expect("below the quota"));
        slots.truncate(19);
        assert!(limits.is_engaged(Limit::FetchesPerZone, "z."));
        slots.truncate(18);
        assert!(!limits.is_engaged(Limit::FetchesPerZone, "z."), "18 = 90 %");
        assert_eq!(q.in_flight(&k("z.")), 18);
        drop(slots);
        assert_eq!(q.in_flight(&k("z.")), 0);
        assert_eq!(limits.held(Limit::FetchesPerZone), 0);
    }

    #[test]
    fn keys_are_forgotten_at_zero_so_the_table_stays_small() {
        let (q, limits) = quota(1);
        for i in 0..10_000 {
            let s = enter(&q, &format!("n{i}.test.")).expect("room");
            assert_eq!(q.keys(), 1);
            drop(s);
        }
        assert_eq!(q.keys(), 0);
        // A quota of one: engaged at the first refusal, released when the one query ends.
        let s = enter(&q, "one.").expect("room");
        assert!(enter(&q, "one.").is_none());
        assert!(limits.is_engaged(Limit::FetchesPerZone, "one."));
        drop(s);
        assert!(!limits.is_engaged(Limit::FetchesPerZone, "one."));
        assert_eq!(q.keys(), 0);
    }

    #[test]
    fn any_full_follows_the_keys_at_their_quota_also_when_a_quota_adapts() {
        let (q, _) = quota(2);
        assert!(!q.any_full());
        let a = enter(&q, "a.").expect("room");
        assert!(!q.any_full() && !q.is_full(&k("a.")));
        let b = enter(&q, "a.").expect("room");
        assert!(q.any_full() && q.is_full(&k("a.")));
        let c = enter(&q, "b.").expect("another key");
        assert!(enter(&q, "a.").is_none());
        drop(b);
        assert!(!q.any_full(), "a. below its quota, b. too");
        drop((a, c));
        assert!(!q.any_full());
        // An adaptive quota lowered to one: one query in flight makes it full,
        // the outcome that lowers it makes a key full without a new query.
        let s = server_quota(2);
        let one = s.enter(&k("192.0.2.1"), String::new).expect("room");
        assert!(!s.any_full());
        for _ in 0..WINDOW {
            s.outcome(&k("192.0.2.1"), true);
        }
        assert_eq!(s.quota_of(&k("192.0.2.1")), 1);
        assert!(s.any_full(), "lowered under a query in flight: full");
        drop(one);
        assert!(!s.any_full());
    }

    #[test]
    fn a_quota_of_zero_is_off() {
        let (q, limits) = quota(0);
        let slots: Vec<_> = (0..1000).map(|_| enter(&q, "z.").expect("off")).collect();
        assert_eq!(q.keys(), 0);
        assert_eq!(limits.held(Limit::FetchesPerZone), 0);
        drop(slots);
    }

    fn server_quota(max: usize) -> Quota<String> {
        Quota::new(Limit::FetchesPerServer, max, &Arc::new(Limits::new())).adaptive()
    }

    /// `n` outcomes for `key`, each with a query in flight as in the recursor.
    fn outcomes(q: &Quota<String>, key: &str, n: u32, timed_out: bool) {
        for _ in 0..n {
            let slot = q.enter(&k(key), String::new).expect("room for one");
            q.outcome(&k(key), timed_out);
            drop(slot);
        }
    }

    #[test]
    fn a_server_whose_queries_time_out_gets_a_smaller_quota_and_it_comes_back() {
        let q = server_quota(400);
        outcomes(&q, "192.0.2.1", WINDOW - 1, true);
        assert_eq!(
            q.quota_of(&k("192.0.2.1")),
            400,
            "not before a whole window"
        );
        outcomes(&q, "192.0.2.1", 1, true);
        assert_eq!(q.quota_of(&k("192.0.2.1")), 352, "one step: 400 * 0.88");
        // Lowered keys are remembered with nothing in flight.
        assert_eq!(q.keys(), 1);
        outcomes(&q, "192.0.2.1", 60 * WINDOW, true);
        assert_eq!(q.quota_of(&k("192.0.2.1")), 1, "never below one query");
        // The quota is enforced: one in flight, the second refused.
        let one = q.enter(&k("192.0.2.1"), String::new).expect("one");
        assert!(q.enter(&k("192.0.2.1"), String::new).is_none());
        drop(one);
        // Other servers keep theirs.
        assert_eq!(q.quota_of(&k("192.0.2.2")), 400);
        // Answers again: the ratio falls below LOW within a few windows, then
        // one step up per window until the configured quota.
        outcomes(&q, "192.0.2.1", 100 * WINDOW, false);
        assert_eq!(q.quota_of(&k("192.0.2.1")), 400);
        assert_eq!(q.keys(), 0, "restored, between windows: forgotten");
        outcomes(&q, "192.0.2.1", 1, false);
        assert_eq!(q.keys(), 1, "counting a window");
    }

    #[test]
    fn a_timeout_ratio_between_the_thresholds_changes_nothing() {
        let q = server_quota(100);
        // 20 % timeouts: above LOW, below HIGH.
        for _ in 0..20 {
            outcomes(&q, "192.0.2.1", WINDOW / 5, true);
            outcomes(&q, "192.0.2.1", WINDOW * 4 / 5, false);
        }
        assert_eq!(q.quota_of(&k("192.0.2.1")), 100);
    }

    #[test]
    fn the_zone_quota_does_not_adapt() {
        let (q, _) = quota(10);
        outcomes(&q, "z.", 10 * WINDOW, true);
        assert_eq!(q.quota_of(&k("z.")), 10);
        assert_eq!(q.keys(), 0);
    }

    #[test]
    fn ninety_percent_is_rounded_down_without_overflow() {
        let at = release_at;
        assert_eq!((at(1), at(3), at(10), at(200)), (0, 2, 9, 180));
        assert_eq!(at(usize::MAX), usize::MAX / 10 * 9 + 4);
    }
}
