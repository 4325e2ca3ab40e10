//! Queries a second per client prefix (`[rate-limit]`), checked for every
//! UDP, DoT and DoH query right after it is decoded, before any other work.
//!
//! ```text
//!  UDP query ─▶ decode ─▶ RateLimiter::check(client)
//!                            ├─ off, exempt, or a token left ─▶ Answer (the pipeline runs)
//!                            └─ bucket empty ─┬─ every slip-th ─▶ Slip: empty TC=1 answer
//!                                             └─ the others ────▶ Drop: nothing sent
//!  DoT, DoH query: the same bucket; limited ─▶ REFUSED (crate::dispatch)
//! ```
//!
//! Each client prefix (`ipv4-prefix-length`, `ipv6-prefix-length`) has a
//! token bucket that holds at most one second of queries and refills at
//! `queries-per-second`. A query takes a token; with none left it is limited.
//! Every `slip`-th limited query gets an empty truncated answer (TC=1) so a
//! real client behind a spoofed-at prefix retries over TCP (BIND RRL's
//! `slip`); `slip = 0` drops them all.
//!
//! Plain TCP is not limited, as in BIND's RRL: over UDP the limit is against
//! spoofed sources and reflection, which TCP's handshake rules out, and a
//! slipped client must be able to retry over TCP; TCP has its own bounds
//! (`crate::listen`: connections per address, pipelining, idle and write
//! timeouts). DoT and DoH share the prefix's bucket: there the limit is
//! against a subscriber's own machine sending too much (malware resolving
//! over DoH), and a limited query is answered REFUSED rather than dropped,
//! so that a client with queries pipelined on a connection, or an HTTP
//! request, is not left waiting.
//!
//! Logging: a prefix is logged when it becomes limited and once more when a
//! whole second has passed without a limited query from it (checked on its
//! next query and by [`RateLimiter::run`] every second), never per query.
//! Each limited query is counted with `Limits::dropped(RateLimit, prefix)`;
//! the limit's `held` is the number of prefixes limited now.
//!
//! Memory: the table holds at most [`MAX_PREFIXES`] prefixes, spread over
//! [`SHARDS`] mutex-guarded shards (one lock per query, held for one hash-map
//! operation). Prefixes idle for a second are forgotten by the sweep (their
//! bucket is full again, so forgetting them changes nothing). A shard that
//! fills up (a flood from ever-new prefixes) first forgets its idle prefixes;
//! if it is still more than three quarters full it forgets prefixes that are
//! not limited, then limited ones, down to three quarters. A forgotten prefix
//! starts again with a full bucket: at the cap the limit stays correct for
//! the prefixes it keeps and lets the others start over, which costs a flood
//! spread over that many prefixes its full rate only once per eviction.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use ipnet::IpNet;
use sekisho_conf::RateLimit;
use sekisho_limits::{Limit, Limits};
use tokio::sync::watch;

/// Most client prefixes remembered at once.
pub const MAX_PREFIXES: usize = 100_000;

/// Shards of the table (each its own lock).
pub const SHARDS: usize = 16;

/// A prefix with no limited query for this long is let go (logged).
const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// A prefix with no query for this long has a full bucket again and is forgotten.
const IDLE_AFTER: Duration = Duration::from_secs(1);

/// How often [`RateLimiter::run`] sweeps the table.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What to do with one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not limited: handle it.
    Answer,
    /// Limited: send nothing.
    Drop,
    /// Limited, and its turn to slip: send an empty TC=1 answer.
    Slip,
}

/// The settings of `[rate-limit]`, swapped whole on reload.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    /// Queries a second per prefix; 0 = off.
    queries_per_second: u32,
    /// IPv4 prefix length.
    ipv4_prefix_length: u8,
    /// IPv6 prefix length.
    ipv6_prefix_length: u8,
    /// Every `slip`-th limited query gets TC=1; 0 = none.
    slip: u32,
    /// Clients never limited.
    exempt: Vec<IpNet>,
}

impl From<&RateLimit> for Settings {
    fn from(c: &RateLimit) -> Settings {
        Settings {
            queries_per_second: c.queries_per_second,
            ipv4_prefix_length: c.ipv4_prefix_length.min(32),
            ipv6_prefix_length: c.ipv6_prefix_length.min(128),
            slip: c.slip,
            exempt: c.exempt.clone(),
        }
    }
}

/// One prefix's bucket.
#[derive(Debug)]
struct Bucket {
    /// Tokens left (at most one second's worth).
    tokens: f64,
    /// When it last refilled, which is also its last query (ns since the limiter's epoch).
    last: u64,
    /// Its last limited query (ns since the epoch).
    last_limited: u64,
    /// Limited queries so far (picks the slipped ones).
    limited: u32,
    /// While limited: the key it is reported under (`192.0.2.0/24`).
    engaged: Option<Box<str>>,
}

/// One shard of the table.
type Shard = HashMap<IpAddr, Bucket>;

/// The per-prefix rate limit; one per daemon, shared by every UDP worker.
#[derive(Debug)]
pub struct RateLimiter {
    /// The settings in force.
    settings: ArcSwap<Settings>,
    /// The buckets, by masked client address.
    shards: Box<[Mutex<Shard>]>,
    /// Most prefixes per shard.
    shard_cap: usize,
    /// Picks a prefix's shard.
    hasher: std::collections::hash_map::RandomState,
    /// Time zero of the buckets' clocks.
    epoch: Instant,
    /// Drop counters and the engage/release log lines.
    limits: Arc<Limits>,
}

impl RateLimiter {
    /// A limiter with `config`'s settings (off when `queries-per-second` is 0),
    /// remembering at most [`MAX_PREFIXES`] prefixes.
    pub fn new(config: &RateLimit, limits: Arc<Limits>) -> RateLimiter {
        RateLimiter::with_capacity(config, limits, MAX_PREFIXES)
    }

    /// As [`RateLimiter::new`], remembering at most `capacity` prefixes
    /// (rounded down to a multiple of [`SHARDS`], at least one per shard).
    pub fn with_capacity(config: &RateLimit, limits: Arc<Limits>, capacity: usize) -> RateLimiter {
        limits.set_max(Limit::RateLimit, u64::from(config.queries_per_second));
        RateLimiter {
            settings: ArcSwap::from_pointee(Settings::from(config)),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            shard_cap: (capacity / SHARDS).max(1),
            hasher: std::collections::hash_map::RandomState::new(),
            epoch: Instant::now(),
            limits,
        }
    }

    /// A reload: `config` applies from the next query. A change of prefix
    /// lengths, or switching the limit off, starts every prefix over (the
    /// limited ones are let go and logged).
    pub fn reconfigure(&self, config: &RateLimit) {
        let new = Settings::from(config);
        let old = self.settings.swap(Arc::new(new.clone()));
        self.limits
            .set_max(Limit::RateLimit, u64::from(new.queries_per_second));
        if new.queries_per_second == 0
            || new.ipv4_prefix_length != old.ipv4_prefix_length
            || new.ipv6_prefix_length != old.ipv6_prefix_length
        {
            for shard in self.shards.iter() {
                let mut map = lock(shard);
                for b in map.values_mut() {
                    self.let_go(b);
                }
                map.clear();
            }
        }
    }

    /// Whether the limit is on (`queries-per-second` > 0).
    pub fn is_on(&self) -> bool {
        self.settings.load().queries_per_second > 0
    }

    /// Account one query from `client` and say what to do with it.
    pub fn check(&self, client: IpAddr) -> Verdict {
        let settings = self.settings.load();
        let qps = settings.queries_per_second;
        if qps == 0 || sekisho_conf::allows(&settings.exempt, client) {
            return Verdict::Answer;
        }
        let (prefix, len) = prefix_of(client, &settings);
        let now = self.now();
        let mut map = lock(&self.shards[self.shard_of(&prefix)]);
        if map.len() >= self.shard_cap && !map.contains_key(&prefix) {
            self.make_room(&mut map, now);
        }
        let b = map.entry(prefix).or_insert_with(|| Bucket {
            tokens: f64::from(qps),
            last: now,
            last_limited: 0,
            limited: 0,
            engaged: None,
        });
        // Refill: one second's worth at most.
        let elapsed = now.saturating_sub(b.last) as f64 / 1e9;
        b.tokens = (b.tokens + elapsed * f64::from(qps)).min(f64::from(qps));
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            if b.engaged.is_some() && now.saturating_sub(b.last_limited) >= nanos(RELEASE_AFTER) {
                self.let_go(b);
            }
            return Verdict::Answer;
        }
        b.last_limited = now;
        b.limited = b.limited.wrapping_add(1);
        if b.engaged.is_none() {
            let key: Box<str> = format!("{prefix}/{len}").into();
            // Our own flag changes: the log line and the gauge follow it.
            self.limits.engage(
                Limit::RateLimit,
                &key,
                &format!("more than {qps} queries a second from the prefix"),
            );
            self.limits.add_held(Limit::RateLimit, 1);
            b.engaged = Some(key);
        }
        self.limits.dropped(Limit::RateLimit, b.engaged.as_deref());
        if settings.slip != 0 && b.limited % settings.slip == 0 {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }

    /// Let go of the prefixes with no limited query for a second and forget
    /// the idle ones.
    pub fn sweep(&self) {
        let now = self.now();
        for shard in self.shards.iter() {
            let mut map = lock(shard);
            map.retain(|_, b| {
                if b.engaged.is_some() && now.saturating_sub(b.last_limited) >= nanos(RELEASE_AFTER)
                {
                    self.let_go(b);
                }
                b.engaged.is_some() || now.saturating_sub(b.last) < nanos(IDLE_AFTER)
            });
        }
    }

    /// Sweep every second until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.sweep(),
                _ = stop.changed() => return,
            }
        }
    }

    /// Prefixes remembered now.
    pub fn tracked(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// A full shard: forget the idle prefixes; if more than three quarters
    /// remain, forget unlimited ones, then limited ones, down to three quarters.
    fn make_room(&self, map: &mut Shard, now: u64) {
        map.retain(|_, b| {
            let keep = now.saturating_sub(b.last) < nanos(IDLE_AFTER);
            if !keep {
                self.let_go(b);
            }
            keep
        });
        let target = self.shard_cap - self.shard_cap / 4;
        let mut excess = map.len().saturating_sub(target.min(self.shard_cap - 1));
        if excess == 0 {
            return;
        }
        map.retain(|_, b| {
            if excess == 0 || b.engaged.is_some() {
                return true;
            }
            excess -= 1;
            false
        });
        map.retain(|_, b| {
            if excess == 0 {
                return true;
            }
            excess -= 1;
            self.let_go(b);
            false
        });
    }

    /// The prefix of `b` is no longer limited: log it and lower the gauge.
    fn let_go(&self, b: &mut Bucket) {
        if let Some(key) = b.engaged.take() {
            self.limits.release(Limit::RateLimit, &key);
            self.limits.add_held(Limit::RateLimit, -1);
        }
    }

    /// The shard of `prefix`.
    fn shard_of(&self, prefix: &IpAddr) -> usize {
        // The modulo keeps the index in range.
        (self.hasher.hash_one(prefix) % SHARDS as u64) as usize
    }

    /// Nanoseconds since the epoch.
    fn now(&self) -> u64 {
        nanos(self.epoch.elapsed())
    }
}

/// `d` in nanoseconds (saturating; u64 nanoseconds last 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `client` masked to its prefix, and the prefix length. IPv4-mapped IPv6
/// clients count as IPv4.
fn prefix_of(client: IpAddr, s: &Settings) -> (IpAddr, u8) {
    match client.to_canonical() {
        IpAddr::V4(v4) => {
            let len = s.ipv4_prefix_length;
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            (IpAddr::V4((u32::from(v4) & mask).into()), len)
        }
        IpAddr::V6(v6) => {
            let len = s.ipv6_prefix_length;
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            (IpAddr::V6((u128::from(v6) & mask).into()), len)
        }
    }
}

/// A shard's table (a poisoned lock still holds consistent buckets).
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(qps: u32, slip: u32) -> RateLimit {
        RateLimit {
            queries_per_second: qps,
            ipv4_prefix_length: 24,
            ipv6_prefix_length: 56,
            slip,
            exempt: vec!["192.0.2.0/24".parse().expect("net")],
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    /// Verdicts for `n` queries from `client`, sent at once.
    fn burst(r: &RateLimiter, client: &str, n: usize) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for _ in 0..n {
            match r.check(ip(client)) {
                Verdict::Answer => counts.0 += 1,
                Verdict::Slip => counts.1 += 1,
                Verdict::Drop => counts.2 += 1,
            }
        }
        counts
    }

    #[test]
    fn a_burst_gets_one_second_of_queries_and_every_slip_th_of_the_rest_truncated() {
        let limits = Arc::new(Limits::new());
        let r = RateLimiter::new(&config(50, 2), limits.clone());
        let (answered, slipped, dropped) = burst(&r, "198.51.100.7", 500);
        // The burst takes well under the 20 ms a token needs to come back.
        assert!((50..=52).contains(&answered), "{answered}");
        assert_eq!(slipped + dropped, 500 - answered);
        assert!(slipped.abs_diff(dropped) <= 1, "{slipped} {dropped}");
        assert_eq!(limits.drops(Limit::RateLimit), (500 - answered) as u64);
        assert!(limits.is_engaged(Limit::RateLimit, "198.51.100.0/24"));
        assert_eq!(limits.held(Limit::RateLimit), 1);
        // The same /24, another host: the same bucket.
        assert_eq!(burst(&r, "198.51.100.200", 10).0, 0);
    }

    #[test]
    fn other_prefixes_and_exempt_clients_are_not_limited() {
        let r = RateLimiter::new(&config(10, 2), Arc::new(Limits::new()));
        burst(&r, "198.51.100.7", 100);
        assert_eq!(burst(&r, "198.51.101.7", 10).0, 10, "another /24");
        assert_eq!(burst(&r, "192.0.2.1", 1000).0, 1000, "exempt");
        assert_eq!(burst(&r, "2001:db8:0:1::1", 10).0, 10);
        // The same /56.
        assert_eq!(burst(&r, "2001:db8:0:ff::2", 10).0, 0);
    }

    #[test]
    fn slip_zero_drops_every_limited_query_and_slip_one_truncates_all() {
        let r = RateLimiter::new(&config(5, 0), Arc::new(Limits::new()));
        assert_eq!(burst(&r, "198.51.100.1", 50), (5, 0, 45));
        let r = RateLimiter::new(&config(5, 1), Arc::new(Limits::new()));
        assert_eq!(burst(&r, "198.51.100.1", 50), (5, 45, 0));
    }

    #[test]
    fn off_answers_everything_and_a_reload_switches_it_on_and_off() {
        let limits = Arc::new(Limits::new());
        let r = RateLimiter::new(&config(0, 2), limits.clone());
        assert!(!r.is_on());
        assert_eq!(burst(&r, "198.51.100.1", 1000).0, 1000);
        assert_eq!(r.tracked(), 0, "off keeps no state");
        r.reconfigure(&config(10, 2));
        assert!(burst(&r, "198.51.100.1", 100).0 <= 11);
        assert!(limits.is_engaged(Limit::RateLimit, "198.51.100.0/24"));
        r.reconfigure(&config(0, 2));
        assert!(!limits.is_engaged(Limit::RateLimit, "198.51.100.0/24"));
        assert_eq!(limits.held(Limit::RateLimit), 0);
        assert_eq!(r.tracked(), 0);
    }

    #[test]
    fn a_prefix_is_let_go_once_a_second_passes_without_a_limited_query() {
        let limits = Arc::new(Limits::new());
        let r = RateLimiter::new(&config(100, 2), limits.clone());
        burst(&r, "198.51.100.1", 300);
        assert!(limits.is_engaged(Limit::RateLimit, "198.51.100.0/24"));
        r.sweep();
        assert!(
            limits.is_engaged(Limit::RateLimit, "198.51.100.0/24"),
            "limited a moment ago"
        );
        std::thread::sleep(Duration::from_millis(1100));
        r.sweep();
        assert!(!limits.is_engaged(Limit::RateLimit, "198.51.100.0/24"));
        assert_eq!(limits.held(Limit::RateLimit), 0);
        assert_eq!(r.tracked(), 0, "idle prefixes are forgotten");
        assert_eq!(burst(&r, "198.51.100.1", 10).0, 10, "a full bucket again");
    }

    #[test]
    fn the_table_stays_bounded_under_a_flood_of_new_prefixes() {
        let limits = Arc::new(Limits::new());
        let cap = 8 * SHARDS;
        let r = RateLimiter::with_capacity(&config(1, 2), limits.clone(), cap);
        for i in 0..3_000u32 {
            let a = std::net::Ipv4Addr::from(0x0a00_0000 | (i << 8));
            r.check(IpAddr::V4(a));
            r.check(IpAddr::V4(a));
            if i % 64 == 0 {
                assert!(r.tracked() <= cap);
            }
        }
        assert!(r.tracked() <= cap);
        // The second query of each prefix was limited and logged; the keys
        // forgotten at the cap were let go, so few stay engaged.
        let engaged: usize = r
            .shards
            .iter()
            .map(|s| lock(s).values().filter(|b| b.engaged.is_some()).count())
            .sum();
        assert_eq!(limits.held(Limit::RateLimit), engaged as i64);
        r.reconfigure(&config(0, 2));
        assert_eq!(limits.held(Limit::RateLimit), 0);
    }
}
