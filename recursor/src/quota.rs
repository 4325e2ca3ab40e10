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
//! falls to 90 % of the quota (rounded down) or less, so a zone hovering at
//! its quota logs one line when it starts shedding load and one when it
//! stops, not one per query. BIND's adaptive quota (lowering a server's
//! quota as its answers time out) is not implemented: the quotas are fixed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sekisho_limits::{Limit, Limits};

use super::RecursorConfig;

/// The two fetch quotas of a recursor.
#[derive(Debug)]
pub(crate) struct Quotas {
    /// Queries in flight per zone cut, keyed by the zone's name.
    pub(crate) zone: Quota,
    /// Queries in flight per server, keyed by its address.
    pub(crate) server: Quota,
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
            server: Quota::new(Limit::FetchesPerServer, config.fetches_per_server, limits),
        }
    }
}

/// Queries in flight per key, at most `max` each.
#[derive(Debug)]
pub(crate) struct Quota {
    /// Which limit this is (counters, log lines).
    limit: Limit,
    /// The quota; 0 = no limit (nothing is counted).
    max: usize,
    /// Where drops, use and state changes are reported.
    limits: Arc<Limits>,
    /// Keys with queries in flight.
    table: Mutex<HashMap<String, Count>>,
}

/// The state of one key.
#[derive(Debug, Default)]
struct Count {
    /// Queries in flight.
    in_flight: usize,
    /// The limit is engaged for this key (see the module docs).
    engaged: bool,
}

/// One query's place in a [`Quota`]; gives it back when dropped.
#[derive(Debug)]
#[must_use = "the slot is given back as soon as it is dropped"]
pub(crate) struct Slot<'a> {
    /// The quota and the key counted, `None` when the quota is off.
    held: Option<(&'a Quota, String)>,
}

impl Quota {
    /// A quota of `max` per key (0 = off) for `limit`.
    pub(crate) fn new(limit: Limit, max: usize, limits: &Arc<Limits>) -> Quota {
        Quota {
            limit,
            max,
            limits: limits.clone(),
            table: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for one more query to `key`, or `None` when `key` already has
    /// the quota in flight. A refusal engages the limit for `key` (logged
    /// once, with `detail`); counting the drop is the caller's, which knows
    /// whether the refusal fails the resolution.
    pub(crate) fn enter(&self, key: &str, detail: impl FnOnce() -> String) -> Option<Slot<'_>> {
        if self.max == 0 {
            return Some(Slot { held: None });
        }
        let mut table = self.lock();
        let count = table.entry(key.to_owned()).or_default();
        if count.in_flight < self.max {
            count.in_flight += 1;
            drop(table);
            self.limits.add_held(self.limit, 1);
            return Some(Slot {
                held: Some((self, key.to_owned())),
            });
        }
        let engage = !count.engaged;
        count.engaged = true;
        drop(table);
        if engage {
            self.limits.engage(self.limit, key, &detail());
        }
        None
    }

    /// One query to `key` is over: count it down, release the limit when
    /// the count has fallen far enough, and forget the key at zero.
    fn leave(&self, key: &str) {
        let mut table = self.lock();
        let Some(count) = table.get_mut(key) else {
            return;
        };
        count.in_flight = count.in_flight.saturating_sub(1);
        let release = count.engaged && count.in_flight <= self.release_at();
        if release {
            count.engaged = false;
        }
        // `release_at` is never negative, so a key at zero is not engaged.
        if count.in_flight == 0 {
            table.remove(key);
        }
        drop(table);
        self.limits.add_held(self.limit, -1);
        if release {
            self.limits.release(self.limit, key);
        }
    }

    /// Queries in flight to `key` now.
    #[cfg(test)]
    fn in_flight(&self, key: &str) -> usize {
        self.lock().get(key).map_or(0, |c| c.in_flight)
    }

    /// Keys with queries in flight now.
    #[cfg(test)]
    fn keys(&self) -> usize {
        self.lock().len()
    }

    /// The count at or below which an engaged key is released: 90 % of
    /// the quota, rounded down.
    fn release_at(&self) -> usize {
        // max * 9 / 10 without overflow for any usize.
        self.max / 10 * 9 + self.max % 10 * 9 / 10
    }

    /// The key table (a poisoned lock still holds consistent counts: every
    /// change is one field update).
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Count>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some((quota, key)) = self.held.take() {
            quota.leave(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(max: usize) -> (Quota, Arc<Limits>) {
        let limits = Arc::new(Limits::new());
        (Quota::new(Limit::FetchesPerZone, max, &limits), limits)
    }

    fn enter<'a>(q: &'a Quota, key: &str) -> Option<Slot<'a>> {
        q.enter(key, || format!("full: {key}"))
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
        assert_eq!(q.in_flight("z."), 18);
        drop(slots);
        assert_eq!(q.in_flight("z."), 0);
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
    fn a_quota_of_zero_is_off() {
        let (q, limits) = quota(0);
        let slots: Vec<_> = (0..1000).map(|_| enter(&q, "z.").expect("off")).collect();
        assert_eq!(q.keys(), 0);
        assert_eq!(limits.held(Limit::FetchesPerZone), 0);
        drop(slots);
    }

    #[test]
    fn ninety_percent_is_rounded_down_without_overflow() {
        let at = |max| quota(max).0.release_at();
        assert_eq!((at(1), at(3), at(10), at(200)), (0, 2, 9, 180));
        assert_eq!(at(usize::MAX), usize::MAX / 10 * 9 + 4);
    }
}
