//! Negative trust anchors set at run time (`sekishoctl nta`, RFC 7646): a
//! name at or below one is not validated until the anchor expires or is
//! removed, as at or below a `dnssec.domain-insecure` name.
//!
//! Why: a zone operator's DNSSEC mistake (an expired signature, a key roll
//! gone wrong) makes every validating resolver answer SERVFAIL for the zone
//! until they fix it; RFC 7646 lets the resolver operator stop validating
//! that zone for a while, without a restart, as BIND's `rndc nta` and
//! Unbound's `insecure_add` do. Each anchor has a lifetime (BIND's
//! `nta-lifetime` default of one hour, at most a week), so a forgotten one
//! ends by itself.
//!
//! The list is small (an operator types each entry) and read on every
//! validation: a lock-free emptiness check first, then a read lock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use hickory_proto::rr::Name;

/// The lifetime of an anchor added without one (BIND `nta-lifetime`).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// The longest lifetime an anchor may have (BIND: one week).
pub const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The run-time negative trust anchors.
#[derive(Debug, Default)]
pub(crate) struct Ntas {
    /// Names (lower case) and when they expire.
    list: RwLock<Vec<(Name, Instant)>>,
    /// How many the list holds (expired ones included until pruned).
    len: AtomicUsize,
}

impl Ntas {
    /// Add (or renew) an anchor at `name` for `lifetime`, capped at
    /// [`MAX_LIFETIME`].
    pub(crate) fn add(&self, name: &Name, lifetime: Duration, now: Instant) {
        let name = name.to_lowercase();
        let until = now + lifetime.min(MAX_LIFETIME);
        let mut l = self.list.write().unwrap_or_else(PoisonError::into_inner);
        l.retain(|(n, t)| *t > now && *n != name);
        l.push((name, until));
        self.len.store(l.len(), Ordering::Relaxed);
    }

    /// Remove the anchor at `name`; whether there was one (live).
    pub(crate) fn remove(&self, name: &Name, now: Instant) -> bool {
        let name = name.to_lowercase();
        let mut l = self.list.write().unwrap_or_else(PoisonError::into_inner);
        let had = l.iter().any(|(n, t)| *n == name && *t > now);
        l.retain(|(n, t)| *t > now && *n != name);
        self.len.store(l.len(), Ordering::Relaxed);
        had
    }

    /// The live anchors with the time each has left, by name.
    pub(crate) fn list(&self, now: Instant) -> Vec<(Name, Duration)> {
        let l = self.list.read().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<(Name, Duration)> = l
            .iter()
            .filter(|(_, t)| *t > now)
            .map(|(n, t)| (n.clone(), t.duration_since(now)))
            .collect();
        v.sort();
        v
    }

    /// True when no anchor was ever set or all were removed (an atomic
    /// load: every validation asks, before reading the clock).
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Relaxed) == 0
    }

    /// True when a live anchor is at or above `name`.
    pub(crate) fn covers(&self, name: &Name, now: Instant) -> bool {
        if self.is_empty() {
            return false;
        }
        let l = self.list.read().unwrap_or_else(PoisonError::into_inner);
        l.iter().any(|(n, t)| *t > now && n.zone_of(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn n(s: &str) -> Name {
        Name::from_str(s).expect("name")
    }

    #[test]
    fn an_anchor_covers_its_name_and_below_until_it_expires_or_is_removed() {
        let ntas = Ntas::default();
        let t0 = Instant::now();
        assert!(!ntas.covers(&n("www.broken.test."), t0));
        ntas.add(&n("Broken.TEST."), Duration::from_secs(60), t0);
        assert!(ntas.covers(&n("broken.test."), t0));
        assert!(ntas.covers(&n("www.broken.test."), t0));
        assert!(!ntas.covers(&n("test."), t0), "not above it");
        assert!(!ntas.covers(&n("notbroken.test."), t0), "not beside it");
        assert!(
            !ntas.covers(&n("www.broken.test."), t0 + Duration::from_secs(61)),
            "expired"
        );
        assert_eq!(
            ntas.list(t0),
            vec![(n("broken.test."), Duration::from_secs(60))]
        );
        // Renewing replaces; the lifetime is capped at a week.
        ntas.add(&n("broken.test."), Duration::from_secs(30 * 24 * 3600), t0);
        assert_eq!(ntas.list(t0), vec![(n("broken.test."), MAX_LIFETIME)]);
        assert!(ntas.remove(&n("broken.test."), t0));
        assert!(!ntas.remove(&n("broken.test."), t0), "already gone");
        assert!(!ntas.covers(&n("www.broken.test."), t0));
        assert!(ntas.list(t0).is_empty());
    }
}
