//! Who hit a policy zone most, over a sliding window, in bounded memory.
//!
//! ```text
//!   record(key, now) ──► bucket of `now` (one Space-Saving sketch per bucket)
//!                         ┌────┬────┬────┬─ ─ ─┬────┐
//!   ring of `buckets`:    │ b0 │ b1 │ b2 │     │ bN │  a bucket older than the
//!                         └────┴────┴────┴─ ─ ─┴────┘  ring is cleared and reused
//!   top(since, n, now) ◄── merge of the buckets in [now - since, now]
//! ```
//!
//! Each bucket is a Space-Saving sketch (Metwally, Agrawal, El Abbadi,
//! "Efficient Computation of Frequent and Top-k Elements in Data Streams",
//! ICDT 2005) of `capacity` counters: a key already counted is
//! incremented; a new key takes a free counter, or else replaces the key
//! with the smallest count `min` and starts at `min + 1` with error `min`.
//! Every count is then at least the key's true count and overestimates it
//! by at most its error, and any key with more than `total / capacity`
//! hits is monitored.
//!
//! Merging buckets for [`HeavyHitters::top`] follows the mergeable
//! summaries of Agarwal et al. (PODS 2012): a key missing from a full
//! bucket may have had up to that bucket's `min` hits there, so that
//! amount is added to its count and its error, which keeps both bounds.
//!
//! Memory is at most `capacity × buckets` counters, whatever the number of
//! distinct clients; a bucket is allocated on its first hit, so a quiet
//! zone costs nothing. An update is a hash-map look-up and two B-tree
//! operations under a mutex (O(log capacity)); no update scans the
//! counters.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One line of a top list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Top {
    /// The key (a client as its [`ClientView`](crate::client::ClientView) shows it).
    pub key: String,
    /// The estimated count: at least the true count.
    pub count: u64,
    /// How much `count` may overestimate: `count - error` is at most the true count.
    pub error: u64,
}

/// Space-Saving sketches of keyed hits, one per time bucket, in a ring.
#[derive(Debug)]
pub struct HeavyHitters {
    /// Counters per bucket, at least 1.
    capacity: usize,
    /// The length of a bucket, at least 1 ms.
    bucket: Duration,
    /// Where bucket 0 starts.
    origin: Instant,
    /// The ring, `buckets` long; `None` until its first hit.
    ring: Mutex<Vec<Option<Sketch>>>,
}

impl HeavyHitters {
    /// Sketches of `capacity` counters (e.g. 512) for `buckets` buckets of
    /// length `bucket` (e.g. 288 of 5 minutes: a day). Zero values are
    /// taken as 1 (and a zero bucket length as 1 ms).
    pub fn new(capacity: usize, bucket: Duration, buckets: usize) -> HeavyHitters {
        let mut ring = Vec::new();
        ring.resize_with(buckets.max(1), || None);
        HeavyHitters {
            capacity: capacity.max(1),
            bucket: bucket.max(Duration::from_millis(1)),
            origin: Instant::now(),
            ring: Mutex::new(ring),
        }
    }

    /// Counts one hit of `key` at `now`.
    pub fn record(&self, key: &str, now: Instant) {
        let epoch = self.epoch(now);
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let len = ring.len() as u64;
        // The ring is never empty (new), and `epoch % len < len`.
        let slot = &mut ring[(epoch % len) as usize];
        match slot {
            Some(s) if s.epoch == epoch => s.add(key),
            Some(s) if s.epoch > epoch => {
                // A hit older than the ring allows: it belongs to a bucket
                // already recycled; drop it rather than corrupt a newer one.
            }
            Some(s) => {
                s.reset(epoch);
                s.add(key);
            }
            None => {
                let mut s = Sketch::new(self.capacity, epoch);
                s.add(key);
                *slot = Some(s);
            }
        }
    }

    /// The `n` keys with the highest counts in the buckets that overlap
    /// `[now - since, now]` (the window is rounded out to whole buckets and
    /// cut to the ring's length), by count descending, then key.
    pub fn top(&self, since: Duration, n: usize, now: Instant) -> Vec<Top> {
        let newest = self.epoch(now);
        let oldest_wanted = self.epoch(now.checked_sub(since).unwrap_or(self.origin));
        // (count - min, error - min) summed per key, and the mins summed.
        let mut acc: HashMap<&str, (i128, i128)> = HashMap::new();
        let mut mins: i128 = 0;
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let oldest_kept = (newest + 1).saturating_sub(ring.len() as u64);
        for s in ring.iter().flatten() {
            if s.epoch < oldest_wanted || s.epoch < oldest_kept || s.epoch > newest {
                continue;
            }
            let min = i128::from(s.floor());
            mins += min;
            for e in &s.entries {
                let a = acc.entry(e.key.as_str()).or_insert((0, 0));
                a.0 += i128::from(e.count) - min;
                a.1 += i128::from(e.error) - min;
            }
        }
        let mut out: Vec<Top> = acc
            .into_iter()
            .map(|(key, (count, error))| Top {
                key: key.to_owned(),
                // Both sums are at least 0: adding `mins` back gives the
                // key's counts (errors) where it is monitored plus the mins
                // of the buckets where it is not; the fallback is unreachable.
                count: u64::try_from(count + mins).unwrap_or(0),
                error: u64::try_from(error + mins).unwrap_or(0),
            })
            .collect();
        drop(ring);
        out.sort_unstable_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        out.truncate(n);
        out
    }

    /// The number of counters in use over all buckets (for the memory bound).
    #[cfg(test)]
    fn counters(&self) -> usize {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.iter().flatten().map(|s| s.entries.len()).sum()
    }

    /// The bucket index of `now`, counted from `origin`.
    fn epoch(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin);
        (elapsed.as_nanos() / self.bucket.as_nanos()) as u64
    }
}

/// One counter of a sketch.
#[derive(Debug)]
struct Entry {
    /// The key counted.
    key: String,
    /// Its estimated count.
    count: u64,
    /// The overestimate bound: the count the key took over.
    error: u64,
}

/// A Space-Saving sketch of one bucket.
#[derive(Debug)]
struct Sketch {
    /// The bucket index this sketch counts.
    epoch: u64,
    /// At most `capacity` counters.
    capacity: usize,
    /// The counters.
    entries: Vec<Entry>,
    /// Key → index into `entries`.
    index: HashMap<String, usize>,
    /// (count, index) of every entry, for the minimum in O(log n).
    order: BTreeSet<(u64, usize)>,
}

impl Sketch {
    /// An empty sketch of bucket `epoch`.
    fn new(capacity: usize, epoch: u64) -> Sketch {
        Sketch {
            epoch,
            capacity,
            entries: Vec::new(),
            index: HashMap::new(),
            order: BTreeSet::new(),
        }
    }

    /// Empties the sketch for bucket `epoch`, keeping its allocations.
    fn reset(&mut self, epoch: u64) {
        self.epoch = epoch;
        self.entries.clear();
        self.index.clear();
        self.order.clear();
    }

    /// The most a key not monitored here can have been counted: the
    /// minimum count once all counters are taken, else 0.
    fn floor(&self) -> u64 {
        if self.entries.len() < self.capacity {
            return 0;
        }
        self.order.first().map_or(0, |&(count, _)| count)
    }

    /// Counts one hit of `key`.
    fn add(&mut self, key: &str) {
        if let Some(&i) = self.index.get(key) {
            let e = &mut self.entries[i];
            self.order.remove(&(e.count, i));
            e.count += 1;
            self.order.insert((e.count, i));
            return;
        }
        if self.entries.len() < self.capacity {
            let i = self.entries.len();
            self.entries.push(Entry {
                key: key.to_owned(),
                count: 1,
                error: 0,
            });
            self.index.insert(key.to_owned(), i);
            self.order.insert((1, i));
            return;
        }
        // Full: the key with the smallest count gives up its counter.
        let Some((min, i)) = self.order.pop_first() else {
            // capacity >= 1 and the sketch is full, so `order` is not empty.
            return;
        };
        let e = &mut self.entries[i];
        self.index.remove(&e.key);
        e.key.clear();
        e.key.push_str(key);
        e.count = min + 1;
        e.error = min;
        self.index.insert(key.to_owned(), i);
        self.order.insert((min + 1, i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn counts_are_exact_below_capacity() {
        let hh = HeavyHitters::new(16, MIN, 10);
        let now = Instant::now();
        for (key, n) in [("a", 5), ("b", 3), ("c", 3), ("d", 1)] {
            for _ in 0..n {
                hh.record(key, now);
            }
        }
        let top = hh.top(MIN, 10, now);
        let got: Vec<(&str, u64, u64)> = top
            .iter()
            .map(|t| (t.key.as_str(), t.count, t.error))
            .collect();
        assert_eq!(got, [("a", 5, 0), ("b", 3, 0), ("c", 3, 0), ("d", 1, 0)]);
        assert_eq!(hh.top(MIN, 2, now).len(), 2);
    }

    #[test]
    fn a_heavy_key_among_many_light_ones_is_found_with_its_bounds() {
        let hh = HeavyHitters::new(32, MIN, 4);
        let now = Instant::now();
        let mut heavy = 0u64;
        for i in 0..20_000u32 {
            hh.record(&format!("light-{i}"), now);
            if i % 5 == 0 {
                hh.record("heavy", now);
                heavy += 1;
            }
        }
        let top = hh.top(MIN, 1, now);
        assert_eq!(top[0].key, "heavy");
        assert!(top[0].count >= heavy, "{top:?} vs {heavy}");
        assert!(top[0].count - top[0].error <= heavy, "{top:?} vs {heavy}");
    }

    #[test]
    fn merged_buckets_keep_the_bounds() {
        // The heavy key is evicted from some buckets and monitored in others.
        let hh = HeavyHitters::new(8, MIN, 8);
        let start = Instant::now();
        let mut truth = 0u64;
        for b in 0..6u32 {
            let now = start + MIN * b;
            for i in 0..200u32 {
                hh.record(&format!("l{b}-{i}"), now);
                if b % 2 == 0 && i % 4 == 0 {
                    hh.record("heavy", now);
                    truth += 1;
                }
            }
            // A few late hits that the heavy key may not survive.
            if b % 2 == 1 {
                hh.record("heavy", now);
                truth += 1;
            }
        }
        let now = start + MIN * 5;
        let top = hh.top(MIN * 10, 100, now);
        let heavy = top
            .iter()
            .find(|t| t.key == "heavy")
            .expect("heavy is monitored");
        assert!(heavy.count >= truth, "{heavy:?} vs {truth}");
        assert!(heavy.count - heavy.error <= truth, "{heavy:?} vs {truth}");
        assert_eq!(top[0].key, "heavy");
    }

    #[test]
    fn since_selects_the_buckets() {
        let hh = HeavyHitters::new(16, MIN, 10);
        let start = Instant::now();
        hh.record("old", start);
        hh.record("old", start);
        hh.record("new", start + MIN * 3);
        let now = start + MIN * 3;
        let keys =
            |since| -> Vec<String> { hh.top(since, 10, now).into_iter().map(|t| t.key).collect() };
        assert_eq!(keys(Duration::ZERO), ["new"]);
        assert_eq!(keys(MIN), ["new"]);
        assert_eq!(keys(MIN * 3), ["old", "new"]);
        assert_eq!(keys(MIN * 100), ["old", "new"]);
    }

    #[test]
    fn buckets_older_than_the_ring_are_recycled() {
        let hh = HeavyHitters::new(16, MIN, 3);
        let start = Instant::now();
        hh.record("first", start);
        hh.record("second", start + MIN);
        // Four buckets later: `first`'s slot is reused, `second`'s is out of the window.
        let now = start + MIN * 3;
        hh.record("third", now);
        let keys: Vec<String> = hh
            .top(MIN * 100, 10, now)
            .into_iter()
            .map(|t| t.key)
            .collect();
        assert_eq!(keys, ["second", "third"]);
        let later = start + MIN * 4;
        let keys: Vec<String> = hh
            .top(MIN * 100, 10, later)
            .into_iter()
            .map(|t| t.key)
            .collect();
        assert_eq!(keys, ["third"]);
        // A hit too old for the ring does not land in a newer bucket.
        hh.record("stale", start);
        assert!(hh
            .top(MIN * 100, 10, later)
            .iter()
            .all(|t| t.key != "stale"));
    }

    #[test]
    fn memory_stays_bounded_whatever_the_distinct_keys() {
        let hh = HeavyHitters::new(64, MIN, 4);
        let start = Instant::now();
        for i in 0..100_000u32 {
            hh.record(&format!("client-{i}"), start + MIN * (i % 7));
        }
        assert!(hh.counters() <= 64 * 4, "{}", hh.counters());
        let top = hh.top(MIN * 100, 1000, start + MIN * 6);
        assert!(top.len() <= 64 * 4);
        // Empty buckets cost nothing.
        let quiet = HeavyHitters::new(512, MIN, 288);
        assert_eq!(quiet.counters(), 0);
        assert!(quiet.top(MIN * 1000, 10, Instant::now()).is_empty());
    }

    #[test]
    fn ties_are_ordered_by_key() {
        let hh = HeavyHitters::new(16, MIN, 2);
        let now = Instant::now();
        for k in ["c", "a", "b"] {
            hh.record(k, now);
        }
        let keys: Vec<String> = hh.top(MIN, 10, now).into_iter().map(|t| t.key).collect();
        assert_eq!(keys, ["a", "b", "c"]);
    }
}
