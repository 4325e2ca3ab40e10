//! The global bound on SOA queries to primaries (BIND `serial-query-rate`,
//! 20 per second by default): every zone's SOA check, whatever caused it
//! (timer, NOTIFY, `refresh`), takes the next free slot, spaced `1 / rate`
//! apart. A check that finds no free slot waits for its own; nothing is
//! dropped. The wait is counted, and the bound engaging and releasing is
//! logged once per change of state.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// BIND 9.18's default `serial-query-rate`.
pub(crate) const SOA_QUERIES_PER_SECOND: u32 = 20;

/// A change of the pacer's state, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Queries started waiting for slots.
    Engaged,
    /// A query found a free slot again; this many had waited.
    Released {
        /// Queries that waited while engaged.
        delayed: u64,
    },
}

/// Mutable pacer state.
#[derive(Debug)]
struct State {
    /// The next free slot.
    next: Option<Instant>,
    /// Whether queries are waiting for slots.
    engaged: bool,
    /// Queries that waited since the bound engaged.
    delayed: u64,
}

/// Spaces SOA queries `1 / rate` apart. Pure: the caller passes the time and sleeps.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Spacing between two queries.
    interval: Duration,
    /// Slot bookkeeping.
    state: Mutex<State>,
}

impl Pacer {
    /// A pacer for `per_second` queries per second (at least one).
    pub(crate) fn new(per_second: u32) -> Pacer {
        Pacer {
            interval: Duration::from_secs(1) / per_second.max(1),
            state: Mutex::new(State {
                next: None,
                engaged: false,
                delayed: 0,
            }),
        }
    }

    /// The spacing between queries.
    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// Takes the next slot at or after `now`: how long to wait for it, and a state
    /// change to log if this query changed it.
    pub(crate) fn reserve(&self, now: Instant) -> (Duration, Option<Transition>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let slot = st.next.map_or(now, |n| n.max(now));
        st.next = Some(slot + self.interval);
        let wait = slot.saturating_duration_since(now);
        if wait.is_zero() {
            if st.engaged {
                st.engaged = false;
                let delayed = std::mem::take(&mut st.delayed);
                return (wait, Some(Transition::Released { delayed }));
            }
            return (wait, None);
        }
        st.delayed += 1;
        if st.engaged {
            (wait, None)
        } else {
            st.engaged = true;
            (wait, Some(Transition::Engaged))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_spaced_and_the_bound_is_reported_once_each_way() {
        let p = Pacer::new(20);
        let t0 = Instant::now();
        assert_eq!(p.reserve(t0), (Duration::ZERO, None));
        let mut waits = Vec::new();
        let mut changes = Vec::new();
        for _ in 0..5 {
            let (w, t) = p.reserve(t0);
            waits.push(w.as_millis());
            changes.extend(t);
        }
        assert_eq!(waits, [50, 100, 150, 200, 250]);
        assert_eq!(changes, [Transition::Engaged]);
        // Long after: free again, and the release says how many waited.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            p.reserve(later),
            (Duration::ZERO, Some(Transition::Released { delayed: 5 }))
        );
        assert_eq!(
            p.reserve(later + Duration::from_secs(1)),
            (Duration::ZERO, None)
        );
    }

    #[test]
    fn a_rate_of_zero_is_one_per_second() {
        assert_eq!(Pacer::new(0).interval(), Duration::from_secs(1));
    }
}
