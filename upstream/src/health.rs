//! Upstream health, as a state machine with no I/O and no clock of its own.
//!
//! Two modes, in dnsdist's vocabulary (`setHealthCheckMode`):
//!
//! ```text
//! lazy:    Up ──(failure ratio ≥ threshold over the sample window)──▶ Suspect
//!          Suspect ──probe ok──▶ Up        Suspect ──max-failures probes fail──▶ Down
//!          Down ──probe every failed-interval; rise successes in a row──▶ Up
//! active:  Up ──max-failures probes fail in a row──▶ Down ──rise successes──▶ Up
//!          (a probe every check-interval in both states)
//! ```
//!
//! In lazy mode a healthy upstream is never probed: only real query outcomes
//! are watched, which is what keeps a forwarder from hammering public DoT
//! resolvers. `lazy-mode = "timeout-only"` counts timeouts (and network
//! errors) as failures; `"timeout-or-servfail"` also counts SERVFAIL.
//! The owner calls [`Health::record`] after each query, asks
//! [`Health::probe_due`] on a timer, and reports probes with
//! [`Health::probe_result`]. Transitions are returned so they are logged once
//! per change, never per query.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Health-check parameters (from `health-check` of a forward zone).
#[derive(Debug, Clone)]
pub struct HealthParams {
    /// Lazy, active, or none.
    pub mode: Mode,
    /// Probe interval while suspect (lazy) or always (active).
    pub check_interval: Duration,
    /// Probe interval while down (lazy).
    pub failed_interval: Duration,
    /// Successful probes in a row that bring a down upstream back.
    pub rise: u32,
    /// Failed probes in a row that take an upstream down.
    pub max_failures: u32,
    /// Failure percentage over the window that makes a lazy upstream suspect.
    pub threshold: u8,
    /// Outcomes remembered (lazy).
    pub sample_size: usize,
    /// Outcomes needed before the ratio is trusted (lazy).
    pub min_sample_count: usize,
    /// Which outcomes count as failures in lazy mode.
    pub lazy_mode: LazyMode,
}

/// Health-check mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Watch queries; probe only after failures (dnsdist "lazy").
    Lazy,
    /// Probe at a fixed interval (dnsdist "up"/auto).
    Active,
    /// Never mark down.
    None,
}

/// What counts as a failure in lazy mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LazyMode {
    /// Timeouts and network errors only.
    TimeoutOnly,
    /// Timeouts, network errors and SERVFAIL answers.
    TimeoutOrServfail,
}

/// The outcome of one query sent to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A usable answer.
    Success,
    /// An answer with SERVFAIL.
    ServFail,
    /// No answer in time.
    Timeout,
    /// Connection refused, reset, TLS failure and the like.
    NetworkError,
}

/// Where the upstream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// In use.
    Up,
    /// Lazy mode: failures crossed the threshold; still used, being probed.
    Suspect,
    /// Not used while another upstream is available.
    Down,
}

impl State {
    /// Lower-case word for logs and status.
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Up => "up",
            State::Suspect => "suspect",
            State::Down => "down",
        }
    }
}

/// A change of state, returned so it can be logged once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// Before.
    pub from: State,
    /// After.
    pub to: State,
}

/// Health of one upstream.
#[derive(Debug)]
pub struct Health {
    /// Parameters.
    params: HealthParams,
    /// Current state.
    state: State,
    /// Recent outcomes, `true` = failure (lazy mode window).
    window: VecDeque<bool>,
    /// Failures currently in `window`.
    window_failures: usize,
    /// Probe failures in a row.
    probe_failures: u32,
    /// Probe successes in a row.
    probe_successes: u32,
    /// When the next probe is due, if any.
    next_probe: Option<Instant>,
}

impl Health {
    /// A fresh upstream: up; in active mode the first probe is due at once.
    pub fn new(params: HealthParams, now: Instant) -> Self {
        let next_probe = (params.mode == Mode::Active).then_some(now);
        Health {
            window: VecDeque::with_capacity(params.sample_size.min(1024)),
            params,
            state: State::Up,
            window_failures: 0,
            probe_failures: 0,
            probe_successes: 0,
            next_probe,
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether queries should go here while another upstream is up.
    pub fn is_usable(&self) -> bool {
        self.state != State::Down
    }

    /// Record a query outcome (lazy mode reads these; active mode ignores them).
    pub fn record(&mut self, outcome: Outcome, now: Instant) -> Option<Transition> {
        if self.params.mode != Mode::Lazy || self.state != State::Up {
            return None;
        }
        let failed = match outcome {
            Outcome::Success => false,
            Outcome::Timeout | Outcome::NetworkError => true,
            Outcome::ServFail => self.params.lazy_mode == LazyMode::TimeoutOrServfail,
        };
        if self.window.len() == self.params.sample_size.max(1)
            && self.window.pop_front() == Some(true)
        {
            self.window_failures -= 1;
        }
        self.window.push_back(failed);
        self.window_failures += usize::from(failed);
        let n = self.window.len();
        if n >= self.params.min_sample_count.max(1)
            && self.window_failures * 100 >= usize::from(self.params.threshold) * n
        {
            self.next_probe = Some(now);
            self.probe_failures = 0;
            return self.go(State::Suspect);
        }
        None
    }

    /// Whether a probe should be sent now.
    pub fn probe_due(&self, now: Instant) -> bool {
        self.next_probe.is_some_and(|t| now >= t)
    }

    /// A probe has been sent: none is due until its result is reported.
    pub fn probe_sent(&mut self) {
        self.next_probe = None;
    }

    /// Record a probe's result and schedule the next one.
    pub fn probe_result(&mut self, ok: bool, now: Instant) -> Option<Transition> {
        if ok {
            self.probe_failures = 0;
            self.probe_successes += 1;
        } else {
            self.probe_successes = 0;
            self.probe_failures += 1;
        }
        let p = &self.params;
        let (next_state, next_probe) = match (p.mode, self.state) {
            (Mode::None, _) => (State::Up, None),
            (Mode::Lazy, State::Up) => (State::Up, None),
            (Mode::Lazy, State::Suspect) if ok => (State::Up, None),
            (Mode::Lazy, State::Suspect) if self.probe_failures >= p.max_failures.max(1) => {
                (State::Down, Some(now + p.failed_interval))
            }
            (Mode::Lazy, State::Suspect) => (State::Suspect, Some(now + p.check_interval)),
            (Mode::Lazy, State::Down) if self.probe_successes >= p.rise.max(1) => (State::Up, None),
            (Mode::Lazy, State::Down) if ok => (State::Down, Some(now + p.check_interval)),
            (Mode::Lazy, State::Down) => (State::Down, Some(now + p.failed_interval)),
            (Mode::Active, State::Down) if self.probe_successes >= p.rise.max(1) => {
                (State::Up, Some(now + p.check_interval))
            }
            (Mode::Active, State::Up | State::Suspect)
                if self.probe_failures >= p.max_failures.max(1) =>
            {
                (State::Down, Some(now + p.check_interval))
            }
            (Mode::Active, s) => (s, Some(now + p.check_interval)),
        };
        self.next_probe = next_probe;
        if next_state == State::Up && self.state != State::Up {
            self.window.clear();
            self.window_failures = 0;
        }
        self.go(next_state)
    }

    /// Move to `to`, reporting a transition if it is a change.
    fn go(&mut self, to: State) -> Option<Transition> {
        let from = self.state;
        self.state = to;
        (from != to).then_some(Transition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parameters of the home-forwarder write-up that started the project.
    fn params(mode: Mode) -> HealthParams {
        HealthParams {
            mode,
            check_interval: Duration::from_secs(1),
            failed_interval: Duration::from_secs(30),
            rise: 2,
            max_failures: 3,
            threshold: 30,
            sample_size: 100,
            min_sample_count: 10,
            lazy_mode: LazyMode::TimeoutOnly,
        }
    }

    #[test]
    fn a_lazy_upstream_that_keeps_answering_is_never_probed() {
        let t = Instant::now();
        let mut h = Health::new(params(Mode::Lazy), t);
        for i in 0..1000 {
            assert_eq!(h.record(Outcome::Success, t), None);
            assert!(!h.probe_due(t + Duration::from_secs(i)));
        }
        assert_eq!(h.state(), State::Up);
    }

    #[test]
    fn a_lazy_upstream_is_suspect_only_after_min_sample_count_outcomes() {
        let t = Instant::now();
        let mut h = Health::new(params(Mode::Lazy), t);
        for _ in 0..9 {
            assert_eq!(h.record(Outcome::Timeout, t), None);
        }
        assert_eq!(
            h.record(Outcome::Timeout, t),
            Some(Transition {
                from: State::Up,
                to: State::Suspect
            })
        );
        assert!(h.probe_due(t));
        assert!(h.is_usable(), "suspect upstreams still take queries");
    }

    /// Lazy parameters with a small window, for the threshold and window tests.
    fn window(sample_size: usize, min_sample_count: usize, threshold: u8) -> HealthParams {
        HealthParams {
            sample_size,
            min_sample_count,
            threshold,
            ..params(Mode::Lazy)
        }
    }

    /// `true` = a timeout, `false` = a success.
    fn outcome(failed: bool) -> Outcome {
        if failed {
            Outcome::Timeout
        } else {
            Outcome::Success
        }
    }

    const TO_SUSPECT: Option<Transition> = Some(Transition {
        from: State::Up,
        to: State::Suspect,
    });

    #[test]
    fn failures_below_the_threshold_keep_a_lazy_upstream_up_and_reaching_it_makes_it_suspect() {
        // threshold 30 over a window of 100: failures spread so that every
        // prefix of 10 or more outcomes stays under 30% (floor(n * 0.29)
        // failures after n outcomes), 29 of 100 at the end.
        let t = Instant::now();
        let mut h = Health::new(params(Mode::Lazy), t);
        let mut failures = 0;
        for i in 0..100usize {
            let failed = (i + 1) * 29 / 100 > i * 29 / 100;
            failures += usize::from(failed);
            assert_eq!(h.record(outcome(failed), t), None, "outcome {i}");
        }
        assert_eq!(failures, 29);
        assert_eq!(h.state(), State::Up, "29% < threshold 30%");
        // Outcome 0 (a success) leaves the full window; one more failure
        // makes 30 of 100: the threshold is reached (not only exceeded).
        assert_eq!(h.record(Outcome::Timeout, t), TO_SUSPECT);
        assert!(h.probe_due(t), "a suspect upstream is probed at once");
    }

    #[test]
    fn the_threshold_is_a_share_of_the_outcomes_seen_once_min_sample_count_are_in() {
        // Window of 20, at least 10 outcomes, 30%: 7 successes and 3
        // failures are 30% of the 10 seen, though only 15% of the window's size.
        let t = Instant::now();
        let mut h = Health::new(window(20, 10, 30), t);
        for _ in 0..7 {
            assert_eq!(h.record(Outcome::Success, t), None);
        }
        assert_eq!(
            h.record(Outcome::Timeout, t),
            None,
            "1 of 8: too few outcomes"
        );
        assert_eq!(
            h.record(Outcome::Timeout, t),
            None,
            "2 of 9: too few outcomes"
        );
        assert_eq!(h.record(Outcome::Timeout, t), TO_SUSPECT, "3 of 10 = 30%");

        // Three failures first are 100%, but the ratio is not trusted before
        // min-sample-count outcomes: the change comes with the tenth
        // outcome, a success (3 of 10 = 30%).
        let mut h = Health::new(window(20, 10, 30), t);
        for _ in 0..3 {
            assert_eq!(h.record(Outcome::Timeout, t), None);
        }
        for i in 0..6 {
            assert_eq!(h.record(Outcome::Success, t), None, "outcome {}", 4 + i);
        }
        assert_eq!(h.record(Outcome::Success, t), TO_SUSPECT);

        // 2 of 10 is 20%: under the threshold, and stays so with successes.
        let mut h = Health::new(window(20, 10, 30), t);
        for failed in [
            true, true, false, false, false, false, false, false, false, false,
        ] {
            assert_eq!(h.record(outcome(failed), t), None);
        }
        assert_eq!(h.state(), State::Up);
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        // Window of 10, threshold 50%. Four failures among ten outcomes (40%)
        // keep it up; ten successes push them out; four new failures are
        // 40% again, not 80%.
        let t = Instant::now();
        let mut h = Health::new(window(10, 10, 50), t);
        for failed in [
            true, true, true, true, false, false, false, false, false, false,
        ] {
            assert_eq!(h.record(outcome(failed), t), None);
        }
        for _ in 0..10 {
            assert_eq!(h.record(Outcome::Success, t), None);
        }
        for i in 0..4 {
            assert_eq!(
                h.record(Outcome::Timeout, t),
                None,
                "failure {i}: only the last ten outcomes count"
            );
        }
        assert_eq!(h.state(), State::Up);
    }

    #[test]
    fn the_window_holds_only_the_last_sample_size_outcomes() {
        // Window of 10, threshold 50%: after 40 successes, five failures in a
        // row are 5 of the last 10 (50%) and make it suspect, where they
        // would be 5 of 45 (11%) over the whole history.
        let t = Instant::now();
        let mut h = Health::new(window(10, 10, 50), t);
        for _ in 0..40 {
            assert_eq!(h.record(Outcome::Success, t), None);
        }
        for i in 0..4 {
            assert_eq!(h.record(Outcome::Timeout, t), None, "failure {i}");
        }
        assert_eq!(h.record(Outcome::Timeout, t), TO_SUSPECT);
    }

    #[test]
    fn servfail_counts_only_in_timeout_or_servfail_mode() {
        let t = Instant::now();
        let mut h = Health::new(params(Mode::Lazy), t);
        for _ in 0..50 {
            assert_eq!(h.record(Outcome::ServFail, t), None);
        }
        let mut p = params(Mode::Lazy);
        p.lazy_mode = LazyMode::TimeoutOrServfail;
        let mut h = Health::new(p, t);
        let changed = (0..10)
            .filter_map(|_| h.record(Outcome::ServFail, t))
            .count();
        assert_eq!(changed, 1);
        assert_eq!(h.state(), State::Suspect);
    }

    #[test]
    fn a_suspect_upstream_goes_down_after_max_failures_probes_then_waits_failed_interval() {
        let t = Instant::now();
        let mut h = Health::new(params(Mode::Lazy), t);
        for _ in 0..10 {
            h.record(Outcome::Timeout, t);
        }
        assert_eq!(h.probe_result(false, t), None);
        assert!(h.probe_due(t + Duration::from_secs(1)));
        assert_eq!(h.probe_result(false, t), None);
        assert_eq!(
            h.probe_result(false, t),
            Some(Transition {
                from: State::Suspect,
                to: State::Down
            })
        );
        assert!(!h.is_usable());
        assert!(!h.probe_due(t + Duration::from_secs(29)));
        assert!(h.probe_due(t + Duration::from_secs(30)));
    }

    #[test]
    fn a_down_upstream_comes_back_after_rise_successes_in_a_row() {
        let t = Instant::now();
        let mut h = Health::new(params(Mode::Lazy), t);
        for _ in 0..10 {
            h.record(Outcome::Timeout, t);
        }
        for _ in 0..3 {
            h.probe_result(false, t);
        }
        assert_eq!(h.state(), State::Down);
        assert_eq!(
            h.probe_result(true, t),
            None,
            "one success is not enough with rise=2"
        );
        assert_eq!(h.probe_result(false, t), None);
        assert_eq!(h.probe_result(true, t), None);
        assert_eq!(
            h.probe_result(true, t),
            Some(Transition {
                from: State::Down,
                to: State::Up
            })
        );
        assert!(
            !h.probe_due(t + Duration::from_secs(3600)),
            "healthy lazy upstreams are not probed"
        );
        // The window was cleared: one timeout does not make it suspect again.
        assert_eq!(h.record(Outcome::Timeout, t), None);
    }

    #[test]
    fn a_suspect_upstream_whose_probe_succeeds_is_up_again() {
        let t = Instant::now();
        let mut h = Health::new(params(Mode::Lazy), t);
        for _ in 0..10 {
            h.record(Outcome::Timeout, t);
        }
        assert_eq!(
            h.probe_result(true, t),
            Some(Transition {
                from: State::Suspect,
                to: State::Up
            })
        );
    }

    #[test]
    fn active_mode_probes_every_check_interval_and_ignores_query_outcomes() {
        let t = Instant::now();
        let mut h = Health::new(params(Mode::Active), t);
        assert!(h.probe_due(t));
        for _ in 0..100 {
            assert_eq!(h.record(Outcome::Timeout, t), None);
        }
        assert_eq!(h.probe_result(true, t), None);
        assert!(!h.probe_due(t));
        assert!(h.probe_due(t + Duration::from_secs(1)));
        h.probe_result(false, t);
        h.probe_result(false, t);
        assert_eq!(
            h.probe_result(false, t),
            Some(Transition {
                from: State::Up,
                to: State::Down
            })
        );
        h.probe_result(true, t);
        assert_eq!(
            h.probe_result(true, t),
            Some(Transition {
                from: State::Down,
                to: State::Up
            })
        );
    }

    #[test]
    fn mode_none_never_marks_down() {
        let t = Instant::now();
        let mut h = Health::new(params(Mode::None), t);
        for _ in 0..100 {
            h.record(Outcome::Timeout, t);
        }
        assert_eq!(h.state(), State::Up);
        assert!(!h.probe_due(t));
    }
}
