//! NOTIFY coalescing: how many SOA checks a stream of NOTIFYs for one zone may
//! cause, and when a burst of them is a flood worth one log line.
//!
//! ```text
//!  NOTIFY(serial?) ─▶ serial not newer than ours ─────────────▶ UpToDate   (no check; BIND does the same)
//!                  ─▶ Idle                       ─────────────▶ Scheduled  (check now; no serial: not before
//!                                                                          HOLD after the last check started)
//!                  ─▶ Queued (check not started) ─────────────▶ Coalesced  (that check covers it)
//!                  ─▶ Running, newer serial (or none), nothing
//!                     queued yet                 ─────────────▶ Scheduled  (one more check after this one)
//!                  ─▶ Running otherwise          ─────────────▶ Coalesced
//! ```
//!
//! Every NOTIFY is answered at once by the caller; this only decides whether it
//! costs an SOA query. A NOTIFY says "check now", and a check whose SOA query is
//! sent after the NOTIFY arrived answers it, so while a check is queued every
//! further NOTIFY is covered by it. While a check runs, its SOA query may predate
//! a change, so a NOTIFY announcing a serial newer than the check is known to
//! reach queues one more check (never more than one). A NOTIFY without a serial
//! cannot be compared; it queues one too, but a zone's NOTIFY-caused checks then
//! start at most once per [`HOLD`], so a flood of them costs one check per second.
//! BIND's NOTIFYs carry the serial, so a flood of BIND-like NOTIFYs for one change
//! costs exactly one check.
//!
//! Pure state: the caller passes the time, reads the live serial and acts on the
//! verdicts (wake the zone task, count, log).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use sekisho_xfr::Serial;

/// Shortest spacing between a zone's check and one caused by a NOTIFY without a serial.
pub(crate) const HOLD: Duration = Duration::from_secs(1);
/// NOTIFYs for one zone within [`FLOOD_WINDOW`] from which a flood is logged.
pub(crate) const FLOOD_THRESHOLD: u32 = 20;
/// The window [`FLOOD_THRESHOLD`] is counted in.
pub(crate) const FLOOD_WINDOW: Duration = Duration::from_secs(1);
/// A flood has ended once no NOTIFY for the zone came for this long.
pub(crate) const FLOOD_QUIET: Duration = Duration::from_secs(2);

/// What one NOTIFY leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A new check is scheduled at `at`; `wake` says whether the zone task must be
    /// woken (false when it is busy with a check and will see it afterwards).
    Scheduled {
        /// When the check may start.
        at: Instant,
        /// Wake the zone task.
        wake: bool,
    },
    /// A queued or running check covers it (or an already queued one was brought
    /// forward: `wake` says so).
    Coalesced {
        /// Wake the zone task (a queued check was brought forward).
        wake: bool,
    },
    /// Its serial is not newer than the copy held: nothing to do.
    UpToDate,
}

impl Verdict {
    /// The `sekisho_notify_total` result label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Verdict::Scheduled { .. } => "accepted",
            Verdict::Coalesced { .. } => "coalesced",
            Verdict::UpToDate => "up_to_date",
        }
    }

    /// Whether the zone task must be woken.
    pub(crate) fn wakes(self) -> bool {
        matches!(
            self,
            Verdict::Scheduled { wake: true, .. } | Verdict::Coalesced { wake: true }
        )
    }
}

/// Where the zone's check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No check queued or running.
    Idle,
    /// A check is due at this time and has not started.
    Queued(Instant),
    /// A check is running.
    Running,
}

/// A flood in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FloodRun {
    /// When it was noticed (the window it crossed the threshold in started then).
    pub(crate) since: Instant,
    /// The last NOTIFY seen.
    pub(crate) last: Instant,
    /// The sender of the NOTIFY that crossed the threshold.
    pub(crate) from: IpAddr,
    /// NOTIFYs counted since `since`.
    pub(crate) notifies: u64,
    /// The zone's NOTIFY-caused check count when its first NOTIFY came.
    pub(crate) checks_before: u64,
}

/// The coalescing state of one zone. See the module docs.
#[derive(Debug)]
pub(crate) struct Gate {
    /// Where the check stands.
    phase: Phase,
    /// The newest serial the queued or running check is known to reach (from the
    /// NOTIFY that queued it, or the primary's SOA answer).
    target: Option<Serial>,
    /// One more check after the running one: when, and the serial that asked for it.
    again: Option<(Instant, Option<Serial>)>,
    /// When the last check started.
    last_start: Option<Instant>,
    /// Start of the current flood-counting window, NOTIFYs in it, and the
    /// zone's NOTIFY-caused check count when it started.
    window: Option<(Instant, u32, u64)>,
    /// The flood in progress, if any.
    flood: Option<FloodRun>,
}

/// True when `a` is newer than `b`, or `b` is unknown.
fn newer(a: Serial, b: Option<Serial>) -> bool {
    b.is_none_or(|b| a.is_newer_than(b))
}

/// The newer of two optional serials.
fn newest(a: Option<Serial>, b: Option<Serial>) -> Option<Serial> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if x.is_newer_than(y) { x } else { y }),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Gate {
    /// An idle gate.
    pub(crate) fn new() -> Gate {
        Gate {
            phase: Phase::Idle,
            target: None,
            again: None,
            last_start: None,
            window: None,
            flood: None,
        }
    }

    /// The earliest time a check caused by a NOTIFY without a serial may start.
    fn hold_end(&self, now: Instant) -> Instant {
        match self.last_start {
            Some(t) => now.max(t + HOLD),
            None => now,
        }
    }

    /// Decides what a NOTIFY carrying `serial` does, with `live` the serial of the copy held.
    pub(crate) fn on_notify(
        &mut self,
        now: Instant,
        serial: Option<Serial>,
        live: Option<Serial>,
    ) -> Verdict {
        if let (Some(s), Some(l)) = (serial, live) {
            if !s.is_newer_than(l) {
                return Verdict::UpToDate;
            }
        }
        let known = newest(live, self.target);
        let news = serial.is_some_and(|s| newer(s, known));
        match self.phase {
            Phase::Idle => {
                let at = if serial.is_some() {
                    now
                } else {
                    self.hold_end(now)
                };
                self.phase = Phase::Queued(at);
                self.target = serial;
                Verdict::Scheduled { at, wake: true }
            }
            Phase::Queued(at) => {
                if news {
                    self.target = serial;
                    if at > now {
                        // A held check becomes urgent: a newer serial is announced.
                        self.phase = Phase::Queued(now);
                        return Verdict::Coalesced { wake: true };
                    }
                }
                Verdict::Coalesced { wake: false }
            }
            Phase::Running => match self.again {
                Some((at, s)) => {
                    if news {
                        self.again = Some((at.min(now), newest(s, serial)));
                    }
                    Verdict::Coalesced { wake: false }
                }
                None if serial.is_none() => {
                    let at = self.hold_end(now);
                    self.again = Some((at, None));
                    Verdict::Scheduled { at, wake: false }
                }
                None if news => {
                    self.again = Some((now, serial));
                    Verdict::Scheduled {
                        at: now,
                        wake: false,
                    }
                }
                None => Verdict::Coalesced { wake: false },
            },
        }
    }

    /// When the queued check is due, if one is queued.
    pub(crate) fn queued_at(&self) -> Option<Instant> {
        match self.phase {
            Phase::Queued(at) => Some(at),
            _ => None,
        }
    }

    /// The zone task may start a check at `now` (`timer_due`: its SOA timer or an
    /// operator asks for one). `Some(true)`: start one that answers NOTIFYs;
    /// `Some(false)`: start a timer check; `None`: nothing is due.
    pub(crate) fn begin(&mut self, now: Instant, timer_due: bool) -> Option<bool> {
        let notify = match self.phase {
            Phase::Queued(at) if at <= now || timer_due => true,
            Phase::Idle if timer_due => false,
            _ => return None,
        };
        self.phase = Phase::Running;
        self.last_start = Some(now);
        Some(notify)
    }

    /// The running check learnt the primary's serial (its SOA answer).
    pub(crate) fn saw_serial(&mut self, serial: Serial) {
        if self.phase == Phase::Running {
            self.target = newest(self.target, Some(serial));
        }
    }

    /// The running check ended, with `live` the serial now held. A check queued
    /// meanwhile becomes due, unless the copy already reached the serial it was for.
    pub(crate) fn finish(&mut self, live: Option<Serial>) {
        self.target = None;
        self.phase = Phase::Idle;
        if let Some((at, serial)) = self.again.take() {
            let reached = matches!((serial, live), (Some(s), Some(l)) if !s.is_newer_than(l));
            if !reached {
                self.phase = Phase::Queued(at);
                self.target = serial;
            }
        }
    }

    /// Counts a NOTIFY from `from` for flood detection. Returns the flood when this
    /// NOTIFY starts one (log it once); `checks` is the zone's NOTIFY-caused check
    /// count before this NOTIFY.
    pub(crate) fn record(&mut self, now: Instant, from: IpAddr, checks: u64) -> Option<FloodRun> {
        if let Some(run) = &mut self.flood {
            run.notifies += 1;
            run.last = now;
            return None;
        }
        let (start, count, before) = match self.window {
            Some((start, count, before)) if now.saturating_duration_since(start) < FLOOD_WINDOW => {
                (start, count + 1, before)
            }
            _ => (now, 1, checks),
        };
        self.window = Some((start, count, before));
        if count < FLOOD_THRESHOLD {
            return None;
        }
        self.window = None;
        let run = FloodRun {
            since: start,
            last: now,
            from,
            notifies: u64::from(count),
            checks_before: before,
        };
        self.flood = Some(run.clone());
        Some(run)
    }

    /// Whether a flood is in progress.
    pub(crate) fn flooding(&self) -> bool {
        self.flood.is_some()
    }

    /// Ends the flood if none came for [`FLOOD_QUIET`]; returns it for the summary line.
    pub(crate) fn flood_ended(&mut self, now: Instant) -> Option<FloodRun> {
        match &self.flood {
            Some(run) if now.saturating_duration_since(run.last) >= FLOOD_QUIET => {
                self.flood.take()
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn started(g: &mut Gate, now: Instant) {
        assert_eq!(g.begin(now, false), Some(true), "a queued check starts");
    }

    #[test]
    fn a_flood_of_the_same_newer_serial_costs_one_check() {
        let t0 = Instant::now();
        let mut g = Gate::new();
        let (live, new) = (Some(Serial(5)), Some(Serial(6)));
        assert_eq!(
            g.on_notify(t0, new, live),
            Verdict::Scheduled { at: t0, wake: true }
        );
        for i in 1..500 {
            assert_eq!(
                g.on_notify(t0 + MS(i / 10), new, live),
                Verdict::Coalesced { wake: false },
                "queued"
            );
        }
        started(&mut g, t0 + MS(1));
        for i in 0..500 {
            assert_eq!(
                g.on_notify(t0 + MS(2 + i / 10), new, live),
                Verdict::Coalesced { wake: false },
                "running"
            );
        }
        g.finish(Some(Serial(6)));
        assert_eq!(g.queued_at(), None);
        for _ in 0..500 {
            assert_eq!(
                g.on_notify(t0 + MS(90), new, Some(Serial(6))),
                Verdict::UpToDate
            );
        }
        assert_eq!(g.begin(t0 + MS(100), false), None, "nothing is due");
    }

    #[test]
    fn a_newer_serial_during_a_check_queues_exactly_one_more() {
        let t0 = Instant::now();
        let mut g = Gate::new();
        g.on_notify(t0, Some(Serial(6)), Some(Serial(5)));
        started(&mut g, t0);
        assert_eq!(
            g.on_notify(t0 + MS(1), Some(Serial(7)), Some(Serial(5))),
            Verdict::Scheduled {
                at: t0 + MS(1),
                wake: false
            }
        );
        assert_eq!(
            g.on_notify(t0 + MS(2), Some(Serial(8)), Some(Serial(5))),
            Verdict::Coalesced { wake: false },
            "at most one queued"
        );
        g.finish(Some(Serial(6)));
        assert_eq!(g.queued_at(), Some(t0 + MS(1)));
        started(&mut g, t0 + MS(3));
        g.finish(Some(Serial(8)));
        assert_eq!(g.queued_at(), None);
    }

    #[test]
    fn the_primarys_soa_answer_covers_notifies_for_that_serial() {
        let t0 = Instant::now();
        let mut g = Gate::new();
        // A timer check, not a NOTIFY, is running.
        assert_eq!(g.begin(t0, true), Some(false));
        g.saw_serial(Serial(6));
        assert_eq!(
            g.on_notify(t0 + MS(1), Some(Serial(6)), Some(Serial(5))),
            Verdict::Coalesced { wake: false }
        );
        g.finish(Some(Serial(6)));
        assert_eq!(g.queued_at(), None);
    }

    #[test]
    fn a_queued_check_already_reached_is_dropped() {
        let t0 = Instant::now();
        let mut g = Gate::new();
        g.begin(t0, true);
        // Announced before the SOA answer came back...
        g.on_notify(t0, Some(Serial(6)), Some(Serial(5)));
        // ...and the check transferred it anyway.
        g.finish(Some(Serial(6)));
        assert_eq!(g.queued_at(), None);
    }

    #[test]
    fn notifies_without_a_serial_cost_one_check_per_hold() {
        let t0 = Instant::now();
        let mut g = Gate::new();
        assert_eq!(
            g.on_notify(t0, None, Some(Serial(5))),
            Verdict::Scheduled { at: t0, wake: true }
        );
        started(&mut g, t0);
        // During the check: one more, held until HOLD after this one started.
        assert_eq!(
            g.on_notify(t0 + MS(1), None, Some(Serial(5))),
            Verdict::Scheduled {
                at: t0 + HOLD,
                wake: false
            }
        );
        for i in 2..1000 {
            assert_eq!(
                g.on_notify(t0 + MS(i), None, Some(Serial(5))).label(),
                "coalesced"
            );
        }
        g.finish(Some(Serial(5)));
        assert_eq!(g.queued_at(), Some(t0 + HOLD));
        assert_eq!(g.begin(t0 + MS(500), false), None, "held");
        started(&mut g, t0 + HOLD);
        g.finish(Some(Serial(5)));
        // Idle again but within HOLD of the last start: scheduled after it.
        assert_eq!(
            g.on_notify(t0 + HOLD + MS(10), None, Some(Serial(5))),
            Verdict::Scheduled {
                at: t0 + HOLD + HOLD,
                wake: true
            }
        );
    }

    #[test]
    fn a_newer_serial_brings_a_held_check_forward() {
        let t0 = Instant::now();
        let mut g = Gate::new();
        g.begin(t0, true);
        g.finish(Some(Serial(5)));
        g.on_notify(t0 + MS(10), None, Some(Serial(5)));
        assert_eq!(g.queued_at(), Some(t0 + HOLD));
        assert_eq!(
            g.on_notify(t0 + MS(20), Some(Serial(6)), Some(Serial(5))),
            Verdict::Coalesced { wake: true }
        );
        assert_eq!(g.queued_at(), Some(t0 + MS(20)));
    }

    #[test]
    fn a_timer_check_absorbs_a_held_notify() {
        let t0 = Instant::now();
        let mut g = Gate::new();
        g.begin(t0, true);
        g.finish(Some(Serial(5)));
        g.on_notify(t0 + MS(10), None, None);
        assert_eq!(g.begin(t0 + MS(20), true), Some(true));
    }

    #[test]
    fn a_flood_is_noticed_once_and_ends_after_quiet() {
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.53".parse().expect("ip");
        let mut g = Gate::new();
        let mut started = 0;
        for i in 0..2000u64 {
            if g.record(t0 + Duration::from_micros(i * 200), ip, 7)
                .is_some()
            {
                started += 1;
            }
        }
        assert_eq!(started, 1);
        assert!(g.flooding());
        let last = t0 + Duration::from_micros(1999 * 200);
        assert_eq!(g.flood_ended(last + MS(100)), None);
        let run = g.flood_ended(last + FLOOD_QUIET).expect("ended");
        assert_eq!(run.notifies, 2000);
        assert_eq!(run.checks_before, 7);
        assert!(!g.flooding());
    }

    #[test]
    fn notifies_spread_out_are_no_flood() {
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.53".parse().expect("ip");
        let mut g = Gate::new();
        for i in 0..100u64 {
            assert_eq!(g.record(t0 + MS(i * 100), ip, 0), None);
        }
        assert!(!g.flooding());
    }
}
