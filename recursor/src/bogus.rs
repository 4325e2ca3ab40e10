//! Failed validations remembered for `dnssec.bogus-ttl` (Unbound
//! `val-bogus-ttl`), and the state of the validation work bounds.
//!
//! ```text
//!  resolve / check_forwarded (validating, CD=0)
//!     (name, type) in the map, not expired ─▶ the same SERVFAIL + EDE, no queries, no checks
//!     else validate ─▶ bogus, or stopped by a work bound ─▶ remembered for bogus-ttl
//!  a work bound that stops a query ─▶ Limits::dropped; engaged for the zone (logged once),
//!     released when that zone has caused no stop for bogus-ttl
//! ```
//!
//! Without this a client repeating a question whose answer is bogus (or
//! whose validation a work bound cut, as under KeyTrap) would make the
//! recursor redo the signature checks each time: the zone verdict cache in
//! [`super::infra`] only covers zones whose keys are bogus, not a bad
//! signature on one RRset of a good zone. Failures for other reasons (no
//! authority answered, the deadline) are not remembered: they say nothing
//! about the data. The map is bounded like the other caches: past
//! [`MAX_ENTRIES`] it drops expired entries, then everything.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::rr::{Name, RecordType};
use sekisho_limits::{Limit, Limits};
use sekisho_rpz::Delegation;

use super::validate::{limit_ede, Work};
use super::{Ede, Failure};

/// Upper bound on remembered answers.
const MAX_ENTRIES: usize = 10_000;
/// Upper bound on zones a work bound is engaged for at once.
const MAX_ENGAGED: usize = 256;

/// Why an answer failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The data is bogus: SERVFAIL with this EDE; the zone cuts on the way,
    /// for the policy's NSDNAME/NSIP triggers, as the first answer had them.
    Bogus(Ede, Vec<Delegation>),
    /// A work bound stopped validation: SERVFAIL with EDE 0.
    Stopped(Limit),
}

impl Verdict {
    /// The failure a stopped validation gives.
    pub(crate) fn failure(limit: Limit) -> Failure {
        Failure::new("validation work bound reached", Some(limit_ede(limit)))
    }
}

/// One remembered verdict.
#[derive(Debug, Clone)]
struct Entry {
    /// What failed.
    verdict: Verdict,
    /// When it is forgotten.
    expires: Instant,
}

/// Failed answers by (name, type), the zones a work bound is engaged for,
/// and the validation work done so far.
#[derive(Debug)]
pub(crate) struct BogusCache {
    /// How long a failure is kept; zero keeps nothing.
    ttl: Duration,
    /// Failed answers.
    answers: Mutex<HashMap<(Name, RecordType), Entry>>,
    /// Zones a work bound stopped validation in, with the last stop.
    engaged: Mutex<HashMap<(Limit, Name), Instant>>,
    /// Where drops are counted and bound changes logged.
    limits: Arc<Limits>,
    /// Signature checks done, in total.
    checks: AtomicU64,
    /// NSEC3 hash rounds done, in total.
    hashes: AtomicU64,
}

impl BogusCache {
    /// An empty cache keeping failures for `ttl`.
    pub(crate) fn new(ttl: Duration, limits: Arc<Limits>) -> BogusCache {
        BogusCache {
            ttl,
            answers: Mutex::new(HashMap::new()),
            engaged: Mutex::new(HashMap::new()),
            limits,
            checks: AtomicU64::new(0),
            hashes: AtomicU64::new(0),
        }
    }

    /// The TTL of bogus verdicts in seconds (also used for zone verdicts).
    pub(crate) fn ttl_secs(&self) -> u32 {
        u32::try_from(self.ttl.as_secs()).unwrap_or(u32::MAX)
    }

    /// The remembered failure of (`name`, `qtype`).
    pub(crate) fn get(&self, name: &Name, qtype: RecordType, now: Instant) -> Option<Verdict> {
        if self.ttl.is_zero() {
            return None;
        }
        let m = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&(name.clone(), qtype))
            .filter(|e| e.expires > now)
            .map(|e| e.verdict.clone())
    }

    /// Remember that (`name`, `qtype`) failed.
    fn put(&self, name: &Name, qtype: RecordType, verdict: Verdict, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut m = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_ENTRIES {
            m.retain(|_, e| e.expires > now);
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
        }
        m.insert(
            (name.clone(), qtype),
            Entry {
                verdict,
                expires: now + self.ttl,
            },
        );
    }

    /// Account for one finished validation of (`name`, `qtype`): add its
    /// work to the totals, remember a bogus answer, and count and remember
    /// a stop by a work bound.
    pub(crate) fn finish(
        &self,
        name: &Name,
        qtype: RecordType,
        w: &Work,
        bogus: Option<(&Ede, &[Delegation])>,
        now: Instant,
    ) {
        self.checks
            .fetch_add(u64::from(w.checks), Ordering::Relaxed);
        self.hashes
            .fetch_add(u64::from(w.hashes), Ordering::Relaxed);
        if let Some((limit, zone)) = &w.stopped {
            self.engage(*limit, zone, now);
            self.limits.dropped(*limit, Some(&zone.to_string()));
            self.put(name, qtype, Verdict::Stopped(*limit), now);
        } else if let Some((e, cuts)) = bogus {
            self.put(name, qtype, Verdict::Bogus(e.clone(), cuts.to_vec()), now);
        }
        self.release_quiet(now);
    }

    /// Note a stop by `limit` in `zone`; logged when it is new.
    fn engage(&self, limit: Limit, zone: &Name, now: Instant) {
        let mut m = self.engaged.lock().unwrap_or_else(|p| p.into_inner());
        let new = m.insert((limit, zone.clone()), now).is_none();
        if new && m.len() > MAX_ENGAGED {
            // Forget the oldest: the table stays small under ever-new zones.
            if let Some(oldest) = m.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) {
                m.remove(&oldest);
                self.limits.release(oldest.0, &oldest.1.to_string());
            }
        }
        drop(m);
        if new {
            let detail = match limit {
                Limit::Nsec3Hashes => "NSEC3 hashes for one query over max-nsec3-hashes-per-query",
                _ => "signature checks for one query over max-validations-per-query",
            };
            self.limits.engage(limit, &zone.to_string(), detail);
        }
    }

    /// Release the zones that caused no stop for a bogus-ttl (at least a minute).
    fn release_quiet(&self, now: Instant) {
        let quiet = self.ttl.max(Duration::from_secs(60));
        let mut m = self.engaged.lock().unwrap_or_else(|p| p.into_inner());
        if m.is_empty() {
            return;
        }
        let done: Vec<(Limit, Name)> = m
            .iter()
            .filter(|(_, t)| now.saturating_duration_since(**t) >= quiet)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &done {
            m.remove(k);
        }
        drop(m);
        for (limit, zone) in done {
            self.limits.release(limit, &zone.to_string());
        }
    }

    /// Signature checks and NSEC3 hash rounds done so far, in total.
    pub(crate) fn work(&self) -> (u64, u64) {
        (
            self.checks.load(Ordering::Relaxed),
            self.hashes.load(Ordering::Relaxed),
        )
    }

    /// Forget the remembered failures of `top` (and of every name below it
    /// when `subtree`); how many went.
    pub(crate) fn flush(&self, top: &Name, subtree: bool) -> usize {
        let mut m = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        let before = m.len();
        m.retain(|(n, _), _| !(if subtree { top.zone_of(n) } else { n == top }));
        before - m.len()
    }

    /// Forget every remembered failure.
    pub(crate) fn clear(&self) {
        self.answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
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
    fn flushes_forget_the_name_or_the_tree() {
        let c = BogusCache::new(Duration::from_secs(60), Arc::new(Limits::new()));
        let t0 = Instant::now();
        let w = Work::new(32, 150, t0 + Duration::from_secs(5));
        let bad = |name: &str| {
            c.finish(
                &n(name),
                RecordType::A,
                &w,
                Some((&Ede::new(6, "x"), &[])),
                t0,
            )
        };
        for name in [
            "bad.test.",
            "www.bad.test.",
            "a.www.bad.test.",
            "other.test.",
        ] {
            bad(name);
        }
        let held = |name: &str| c.get(&n(name), RecordType::A, t0).is_some();
        assert_eq!(c.flush(&n("www.bad.test."), false), 1);
        assert!(!held("www.bad.test.") && held("a.www.bad.test."));
        assert_eq!(c.flush(&n("bad.test."), true), 2);
        assert!(!held("bad.test.") && !held("a.www.bad.test.") && held("other.test."));
    }

    #[test]
    fn a_bogus_answer_is_remembered_for_the_ttl_only() {
        let c = BogusCache::new(Duration::from_secs(60), Arc::new(Limits::new()));
        let t0 = Instant::now();
        let w = Work::new(32, 150, t0 + Duration::from_secs(5));
        c.finish(
            &n("www.bad.test."),
            RecordType::A,
            &w,
            Some((&Ede::new(6, "x"), &[])),
            t0,
        );
        assert_eq!(
            c.get(&n("www.bad.test."), RecordType::A, t0),
            Some(Verdict::Bogus(Ede::new(6, "x"), Vec::new()))
        );
        assert_eq!(c.get(&n("www.bad.test."), RecordType::AAAA, t0), None);
        assert_eq!(
            c.get(
                &n("www.bad.test."),
                RecordType::A,
                t0 + Duration::from_secs(61)
            ),
            None
        );
    }

    #[test]
    fn a_zero_ttl_remembers_nothing() {
        let c = BogusCache::new(Duration::ZERO, Arc::new(Limits::new()));
        let t0 = Instant::now();
        let w = Work::new(32, 150, t0 + Duration::from_secs(5));
        c.finish(
            &n("www.bad.test."),
            RecordType::A,
            &w,
            Some((&Ede::new(6, "x"), &[])),
            t0,
        );
        assert_eq!(c.get(&n("www.bad.test."), RecordType::A, t0), None);
    }
}
