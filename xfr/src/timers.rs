//! SOA timer arithmetic for a secondary zone
//! ([RFC 1035 section 3.3.13](https://www.rfc-editor.org/rfc/rfc1035#section-3.3.13),
//! [RFC 1996 section 2](https://www.rfc-editor.org/rfc/rfc1996#section-2)).
//!
//! ```text
//!   success ──refresh──▶ check ──ok──▶ success ...
//!                          └─fail─▶ retry ─▶ check ─fail─▶ retry ...
//!   last success + expire ─▶ expired: stop serving the copy (keep retrying)
//! ```
//!
//! "REFRESH: A 32 bit time interval before the zone should be refreshed. RETRY: A
//! 32 bit time interval that should elapse before a failed refresh should be
//! retried. EXPIRE: A 32 bit time value that specifies the upper limit on the time
//! interval that can elapse before the zone is no longer authoritative."
//!
//! Primaries publish odd values (zero, negative in hickory's `i32`, years), so each
//! is clamped to operator bounds as BIND's `min-refresh-time` and friends do.
//! Pure arithmetic on [`Instant`]s: no clocks are read here.

use std::time::{Duration, Instant};

use hickory_proto::rr::rdata::SOA;

/// Operator bounds on the SOA timers. Defaults follow BIND 9.18.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshClamps {
    /// Shortest refresh (BIND `min-refresh-time`, 300 s).
    pub min_refresh: Duration,
    /// Longest refresh (BIND `max-refresh-time`, 4 weeks).
    pub max_refresh: Duration,
    /// Shortest retry (BIND `min-retry-time`, 500 s).
    pub min_retry: Duration,
    /// Longest retry (BIND `max-retry-time`, 2 weeks).
    pub max_retry: Duration,
    /// Shortest expire (1 hour); the expire is also kept above refresh + retry.
    pub min_expire: Duration,
    /// Longest expire (BIND caps it at 24 weeks).
    pub max_expire: Duration,
}

/// One week.
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

impl Default for RefreshClamps {
    fn default() -> Self {
        RefreshClamps {
            min_refresh: Duration::from_secs(300),
            max_refresh: 4 * WEEK,
            min_retry: Duration::from_secs(500),
            max_retry: 2 * WEEK,
            min_expire: Duration::from_secs(3600),
            max_expire: 24 * WEEK,
        }
    }
}

/// The clamped refresh, retry and expire intervals of a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPlan {
    /// Interval between successful checks.
    pub refresh: Duration,
    /// Interval between checks after a failure.
    pub retry: Duration,
    /// How long after the last success the copy stays usable.
    pub expire: Duration,
}

/// An SOA interval as a duration; negative values (hickory keeps them as `i32`) are 0.
fn seconds(v: i32) -> Duration {
    Duration::from_secs(u64::try_from(v).unwrap_or(0))
}

impl RefreshPlan {
    /// The plan for `soa` within `clamps`.
    pub fn from_soa(soa: &SOA, clamps: &RefreshClamps) -> Self {
        let refresh = seconds(soa.refresh).clamp(
            clamps.min_refresh,
            clamps.max_refresh.max(clamps.min_refresh),
        );
        let retry =
            seconds(soa.retry).clamp(clamps.min_retry, clamps.max_retry.max(clamps.min_retry));
        // An expire shorter than one refresh and retry would expire a healthy copy
        // between two checks (RFC 1912 section 2.2 advises expire much larger).
        let floor = clamps.min_expire.max(refresh + retry);
        let expire = seconds(soa.expire).clamp(floor, clamps.max_expire.max(floor));
        RefreshPlan {
            refresh,
            retry,
            expire,
        }
    }
}

/// What a zone's timers call for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextAction {
    /// A routine refresh check is due at this time.
    Refresh(Instant),
    /// A retry after a failure is due at this time.
    Retry(Instant),
}

impl NextAction {
    /// When the action is due.
    pub fn at(self) -> Instant {
        match self {
            NextAction::Refresh(t) | NextAction::Retry(t) => t,
        }
    }
}

/// The timer state of one secondary zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneTimer {
    /// The intervals in force (from the last SOA seen).
    plan: RefreshPlan,
    /// When the copy we serve was last confirmed current.
    last_success: Instant,
    /// When the last check failed, if the last check failed.
    last_failure: Option<Instant>,
    /// Failures since the last success.
    failures: u32,
    /// Whether a check is due right away (startup, NOTIFY).
    check_now: bool,
}

impl ZoneTimer {
    /// Timers for a copy last confirmed current at `last_success` (for a copy
    /// loaded from disk: now minus the file's age). A check is due at once, as a
    /// secondary checks its primaries on startup.
    pub fn new(plan: RefreshPlan, last_success: Instant) -> Self {
        ZoneTimer {
            plan,
            last_success,
            last_failure: None,
            failures: 0,
            check_now: true,
        }
    }

    /// The plan in force.
    pub fn plan(&self) -> RefreshPlan {
        self.plan
    }

    /// Failed checks since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a successful check or transfer at `now` (with the plan from the
    /// SOA now held).
    pub fn on_success(&mut self, now: Instant, plan: RefreshPlan) {
        self.plan = plan;
        self.last_success = now;
        self.last_failure = None;
        self.failures = 0;
        self.check_now = false;
    }

    /// Records a failed check or transfer at `now`.
    pub fn on_failure(&mut self, now: Instant) {
        self.last_failure = Some(now);
        self.failures = self.failures.saturating_add(1);
        self.check_now = false;
    }

    /// A NOTIFY arrived: check as soon as possible (RFC 1996 section 4.7).
    pub fn on_notify(&mut self) {
        self.check_now = true;
    }

    /// What to do next and when; `now` is used for "as soon as possible".
    pub fn next(&self, now: Instant) -> NextAction {
        if self.check_now {
            return NextAction::Refresh(now);
        }
        match self.last_failure {
            Some(failed) => NextAction::Retry(failed + self.plan.retry),
            None => NextAction::Refresh(self.last_success + self.plan.refresh),
        }
    }

    /// When the copy expires.
    pub fn expires_at(&self) -> Instant {
        self.last_success + self.plan.expire
    }

    /// True once the copy has gone `expire` without a successful check: it must
    /// no longer be served (the caller keeps retrying).
    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires_at()
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::Name;

    use super::*;

    fn soa(refresh: i32, retry: i32, expire: i32) -> SOA {
        SOA::new(Name::root(), Name::root(), 1, refresh, retry, expire, 60)
    }

    fn plan(refresh: i32, retry: i32, expire: i32) -> RefreshPlan {
        RefreshPlan::from_soa(&soa(refresh, retry, expire), &RefreshClamps::default())
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn ordinary_soa_timers_pass_through_unchanged() {
        let p = plan(3600, 900, 1_209_600);
        assert_eq!(
            p,
            RefreshPlan {
                refresh: S(3600),
                retry: S(900),
                expire: S(1_209_600)
            }
        );
    }

    #[test]
    fn tiny_and_negative_timers_are_raised_to_the_minimums() {
        let p = plan(0, -5, 10);
        assert_eq!(p.refresh, S(300));
        assert_eq!(p.retry, S(500));
        assert_eq!(p.expire, S(3600));
    }

    #[test]
    fn huge_timers_are_capped() {
        let p = plan(i32::MAX, i32::MAX, i32::MAX);
        assert_eq!(p.refresh, 4 * WEEK);
        assert_eq!(p.retry, 2 * WEEK);
        assert_eq!(p.expire, 24 * WEEK);
    }

    #[test]
    fn expire_never_falls_below_refresh_plus_retry() {
        let p = plan(86400, 7200, 3600);
        assert_eq!(p.expire, S(86400 + 7200));
    }

    #[test]
    fn a_new_timer_checks_at_once() {
        let t0 = Instant::now();
        let t = ZoneTimer::new(plan(3600, 600, 86400), t0);
        assert_eq!(t.next(t0 + S(1)), NextAction::Refresh(t0 + S(1)));
    }

    #[test]
    fn after_success_the_next_check_is_one_refresh_later() {
        let t0 = Instant::now();
        let mut t = ZoneTimer::new(plan(3600, 600, 86400), t0);
        t.on_success(t0 + S(10), plan(7200, 600, 86400));
        assert_eq!(t.next(t0 + S(10)), NextAction::Refresh(t0 + S(10 + 7200)));
        assert!(!t.is_expired(t0 + S(10 + 86399)));
    }

    #[test]
    fn after_failure_the_next_check_is_one_retry_later() {
        let t0 = Instant::now();
        let mut t = ZoneTimer::new(plan(3600, 600, 86400), t0);
        t.on_success(t0, plan(3600, 600, 86400));
        t.on_failure(t0 + S(3600));
        assert_eq!(t.next(t0 + S(3600)), NextAction::Retry(t0 + S(4200)));
        assert_eq!(t.failures(), 1);
    }

    #[test]
    fn the_copy_expires_expire_seconds_after_the_last_success() {
        let t0 = Instant::now();
        let mut t = ZoneTimer::new(plan(3600, 600, 86400), t0);
        t.on_success(t0, plan(3600, 600, 86400));
        t.on_failure(t0 + S(3600));
        assert!(!t.is_expired(t0 + S(86399)));
        assert!(t.is_expired(t0 + S(86400)));
        // A later success revives it.
        t.on_success(t0 + S(90000), plan(3600, 600, 86400));
        assert!(!t.is_expired(t0 + S(90001)));
    }

    #[test]
    fn a_notify_makes_a_check_due_now() {
        let t0 = Instant::now();
        let mut t = ZoneTimer::new(plan(3600, 600, 86400), t0);
        t.on_success(t0, plan(3600, 600, 86400));
        t.on_notify();
        assert_eq!(t.next(t0 + S(5)).at(), t0 + S(5));
    }
}
