//! A bounded map of expiring entries with CLOCK eviction and byte accounting,
//! shared by the packet cache's shards and the recursor's caches.
//!
//! ```text
//!  table (hash ─▶ slot index)      slots (the ring the hand walks)
//!                                  ┌──────┬──────┬──────┬──────┐
//!                                  │ e, 1 │ e, 0 │ free │ e, 1 │   e = entry, 1/0 = used bit
//!                                  └──────┴──────┴──────┴──────┘
//!  by_expiry (expires, slot) ─▶ the expired entry that expired first    ▲ hand
//! ```
//!
//! Why CLOCK: a FIFO throws out a popular entry as soon as enough new names
//! have passed through, which is exactly what a scan of one-time names (a
//! random-subdomain flood, a crawler) does. CLOCK (the second-chance
//! algorithm of virtual-memory page replacement, an approximation of LRU)
//! keeps one "used" bit per entry: a hit sets it with one relaxed atomic
//! store, and the eviction hand clears set bits as it passes and evicts the
//! first entry whose bit is clear. An entry hit at least once per turn of
//! the hand survives any number of one-time entries. Unlike an exact LRU, a
//! hit moves nothing, so it needs no write to shared list pointers.
//!
//! Expired entries go before any live one: when the map is over a bound,
//! the entry that expired first (kept in `by_expiry`) is removed while one
//! exists, and only then does the hand run. Expired entries are also kept
//! for no more than the `keep_expired` window of [`Bounds`] (the packet
//! cache's stale-answer window; zero for the recursor), dropped as inserts
//! pass.
//!
//! Bytes: each entry is charged the heap bytes its owner reports for its key
//! and value plus [`ClockMap::ENTRY_OVERHEAD`], the map's own bytes for one
//! entry (its slot, its table and expiry-index share, allocator headers).
//! The table's and the slot vector's spare capacity is not charged.

use std::borrow::Borrow;
use std::collections::BTreeSet;
use std::mem::size_of;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hashbrown::HashTable;

/// What one entry costs the table and the expiry index beyond its slot: a
/// `u32` index and a control byte in the table at a load of at most 7/8
/// (rounded up to 8 bytes), and one `(Instant, u32)` element of the B-tree
/// with its nodes' spare room (B-tree nodes are between half and full).
const INDEX_OVERHEAD: usize = 8 + 2 * size_of::<(Instant, u32)>();

/// Bytes the allocator keeps in front of each heap block (glibc malloc: 16).
pub const ALLOC_HEADER: usize = 16;

/// What a [`ClockMap`] may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Most bytes, as charged (see the module docs).
    pub max_bytes: usize,
    /// Most entries.
    pub max_entries: usize,
    /// How long an expired entry is kept (for stale answers); zero drops it
    /// once it is met after expiry.
    pub keep_expired: Duration,
}

impl Bounds {
    /// A bound in bytes alone: any number of entries, expired ones dropped
    /// once met (the recursor's maps, which never serve expired data).
    pub fn bytes(max_bytes: usize) -> Bounds {
        Bounds {
            max_bytes,
            max_entries: usize::MAX,
            keep_expired: Duration::ZERO,
        }
    }
}

/// One stored entry.
#[derive(Debug)]
pub struct Slot<K, V> {
    /// The key's hash, for the table.
    hash: u64,
    /// The key.
    key: K,
    /// The value.
    value: V,
    /// When it stops being fresh.
    expires: Instant,
    /// Bytes charged for it.
    bytes: usize,
    /// Hit since the hand last passed (CLOCK's reference bit).
    used: AtomicBool,
}

impl<K, V> Slot<K, V> {
    /// The key.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The value.
    pub fn value(&self) -> &V {
        &self.value
    }

    /// When it stops being fresh.
    pub fn expires(&self) -> Instant {
        self.expires
    }

    /// Mark it as used: it survives the hand's next pass. One relaxed load
    /// and, when not yet set, one relaxed store; no lock is needed beyond
    /// the shared borrow the caller holds.
    #[inline]
    pub fn touch(&self) {
        if !self.used.load(Ordering::Relaxed) {
            self.used.store(true, Ordering::Relaxed);
        }
    }
}

/// What an insert removed to stay within the bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Live entries the hand evicted.
    pub evicted: usize,
    /// Expired entries dropped (past their window, or first when over a bound).
    pub expired: usize,
}

/// Why an insert stored nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The entry alone is larger than the byte bound.
    #[error("entry of {bytes} bytes exceeds the bound of {max} bytes")]
    TooLarge {
        /// What it would be charged.
        bytes: usize,
        /// The bound.
        max: usize,
    },
}

/// A map of expiring entries bounded in bytes and count; see the module docs.
#[derive(Debug)]
pub struct ClockMap<K, V> {
    /// Slot indices by key hash.
    table: HashTable<u32>,
    /// The entries; `None` = free.
    slots: Vec<Option<Slot<K, V>>>,
    /// Free slot indices.
    free: Vec<u32>,
    /// The CLOCK hand: the next slot it looks at.
    hand: usize,
    /// Every entry by (expiry, slot), earliest first.
    by_expiry: BTreeSet<(Instant, u32)>,
    /// Bytes charged for all entries.
    bytes: usize,
}

impl<K, V> Default for ClockMap<K, V> {
    fn default() -> Self {
        ClockMap {
            table: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            hand: 0,
            by_expiry: BTreeSet::new(),
            bytes: 0,
        }
    }
}

impl<K, V> ClockMap<K, V> {
    /// Bytes the map itself uses per entry, charged on top of the heap bytes
    /// of key and value: the slot (key and value inline, expiry, hash, used
    /// bit) and its shares of the hash table and the expiry index.
    pub const ENTRY_OVERHEAD: usize = size_of::<Option<Slot<K, V>>>() + INDEX_OVERHEAD;

    /// An empty map.
    pub fn new() -> Self {
        ClockMap::default()
    }

    /// Number of entries (expired ones still held included).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Bytes charged for all entries.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The slot index of `key`.
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let slots = &self.slots;
        self.table
            .find(hash, |&i| {
                slots[i as usize]
                    .as_ref()
                    .is_some_and(|s| s.key.borrow() == key)
            })
            .copied()
    }

    /// The entry for `key`, fresh or expired; the caller decides and calls
    /// [`Slot::touch`] when it serves it.
    #[inline]
    pub fn get<Q>(&self, hash: u64, key: &Q) -> Option<&Slot<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let i = self.find(hash, key)?;
        self.slots[i as usize].as_ref()
    }

    /// The entry whose key `is` picks among those with `hash`, fresh or
    /// expired: a lookup by a borrowed form the key type cannot name (a
    /// name's lower-cased wire labels, say); `is` must agree with the key's
    /// `Eq` and the hash with the one the key was stored under.
    #[inline]
    pub fn get_by(&self, hash: u64, is: impl Fn(&K) -> bool) -> Option<&Slot<K, V>> {
        let slots = &self.slots;
        let i = self.table.find(hash, |&i| {
            slots[i as usize].as_ref().is_some_and(|s| is(&s.key))
        })?;
        self.slots[*i as usize].as_ref()
    }

    /// Change the value of `key` in place; `f` returns the value's new heap
    /// bytes, and the charge follows. False when `key` is absent.
    pub fn update<Q>(&mut self, hash: u64, key: &Q, f: impl FnOnce(&mut V) -> usize) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let Some(i) = self.find(hash, key) else {
            return false;
        };
        let Some(slot) = self.slots[i as usize].as_mut() else {
            return false;
        };
        let bytes = f(&mut slot.value) + Self::ENTRY_OVERHEAD;
        self.bytes = self.bytes - slot.bytes + bytes;
        slot.bytes = bytes;
        true
    }

    /// Store `value` under `key` until `expires`, charged `heap_bytes` (the
    /// heap bytes of key and value) plus [`Self::ENTRY_OVERHEAD`]; an entry
    /// with the same key is replaced. Then remove entries until within
    /// `bounds`: expired ones past their window, then expired ones earliest
    /// first, then what the hand finds unused. The new entry itself is never
    /// the one removed.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        expires: Instant,
        heap_bytes: usize,
        now: Instant,
        bounds: &Bounds,
    ) -> Result<Removed, InsertError>
    where
        K: Eq,
    {
        let bytes = heap_bytes.saturating_add(Self::ENTRY_OVERHEAD);
        if bytes > bounds.max_bytes || bounds.max_entries == 0 {
            return Err(InsertError::TooLarge {
                bytes,
                max: bounds.max_bytes,
            });
        }
        let mut removed = Removed {
            evicted: 0,
            expired: self.purge(now, bounds.keep_expired),
        };
        if let Some(old) = self.find(hash, &key) {
            self.remove_slot(old);
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let Ok(i) = u32::try_from(self.slots.len()) else {
                    return Err(InsertError::TooLarge {
                        bytes,
                        max: bounds.max_bytes,
                    });
                };
                self.slots.push(None);
                i
            }
        };
        self.slots[index as usize] = Some(Slot {
            hash,
            key,
            value,
            expires,
            bytes,
            used: AtomicBool::new(false),
        });
        let slots = &self.slots;
        self.table.insert_unique(hash, index, |&i| {
            slots[i as usize].as_ref().map_or(0, |s| s.hash)
        });
        self.by_expiry.insert((expires, index));
        self.bytes += bytes;
        while self.bytes > bounds.max_bytes || self.len() > bounds.max_entries {
            let expired = self
                .by_expiry
                .iter()
                .take(2)
                .find(|&&(at, i)| at <= now && i != index)
                .map(|&(_, i)| i);
            let victim = match expired {
                Some(i) => {
                    removed.expired += 1;
                    i
                }
                None => match self.clock_victim(index) {
                    Some(i) => {
                        removed.evicted += 1;
                        i
                    }
                    None => break,
                },
            };
            self.remove_slot(victim);
        }
        Ok(removed)
    }

    /// Advance the hand to the first entry not used since its last pass,
    /// clearing the used bits it passes; never `skip`. `None` when nothing
    /// but `skip` is stored.
    fn clock_victim(&mut self, skip: u32) -> Option<u32> {
        let n = self.slots.len();
        // Two turns: the first may only clear bits.
        for _ in 0..2 * n {
            let i = self.hand % n;
            self.hand = (i + 1) % n;
            if i == skip as usize {
                continue;
            }
            if let Some(slot) = self.slots[i].as_mut() {
                let used = slot.used.get_mut();
                if *used {
                    *used = false;
                } else {
                    return u32::try_from(i).ok();
                }
            }
        }
        None
    }

    /// Drop entries expired for at least `keep_expired`; returns how many.
    pub fn purge(&mut self, now: Instant, keep_expired: Duration) -> usize {
        let mut n = 0;
        while let Some(&(at, i)) = self.by_expiry.first() {
            if at > now || now.duration_since(at) < keep_expired {
                break;
            }
            self.remove_slot(i);
            n += 1;
        }
        n
    }

    /// Remove slot `i` from the table, the expiry index and the charge.
    fn remove_slot(&mut self, i: u32) -> Option<Slot<K, V>> {
        let slot = self.slots.get_mut(i as usize)?.take()?;
        if let Ok(e) = self.table.find_entry(slot.hash, |&j| j == i) {
            e.remove();
        }
        self.by_expiry.remove(&(slot.expires, i));
        self.bytes -= slot.bytes;
        self.free.push(i);
        Some(slot)
    }

    /// Remove `key`; true if it was there.
    pub fn remove<Q>(&mut self, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        match self.find(hash, key) {
            Some(i) => self.remove_slot(i).is_some(),
            None => false,
        }
    }

    /// Calls `f` with every entry's key, value and expiry (read only).
    pub fn for_each(&self, mut f: impl FnMut(&K, &V, Instant)) {
        for s in self.slots.iter().flatten() {
            f(&s.key, &s.value, s.expires);
        }
    }

    /// Remove every entry for which `drop` is true; returns how many.
    pub fn remove_if(&mut self, mut drop: impl FnMut(&K, &V) -> bool) -> usize {
        let doomed: Vec<u32> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s.as_ref()?;
                if drop(&s.key, &s.value) {
                    u32::try_from(i).ok()
                } else {
                    None
                }
            })
            .collect();
        for &i in &doomed {
            self.remove_slot(i);
        }
        if self.is_empty() {
            self.clear();
        }
        doomed.len()
    }

    /// Remove everything and give the memory back; returns how many entries went.
    pub fn clear(&mut self) -> usize {
        let n = self.len();
        *self = ClockMap::default();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;

    /// A map of u32 keys, with a hasher.
    struct Fixture {
        map: ClockMap<u32, u32>,
        hasher: RandomState,
        bounds: Bounds,
    }

    impl Fixture {
        fn new(max_entries: usize) -> Fixture {
            Fixture {
                map: ClockMap::new(),
                hasher: RandomState::new(),
                bounds: Bounds {
                    max_bytes: usize::MAX,
                    max_entries,
                    keep_expired: Duration::ZERO,
                },
            }
        }

        fn put(&mut self, k: u32, expires: Instant, now: Instant) -> Removed {
            let h = self.hasher.hash_one(k);
            self.map
                .insert(h, k, k, expires, 0, now, &self.bounds)
                .expect("fits")
        }

        fn hit(&self, k: u32) -> bool {
            let h = self.hasher.hash_one(k);
            self.map.get(h, &k).map(|s| s.touch()).is_some()
        }
    }

    #[test]
    fn entries_hit_once_per_turn_of_the_hand_survive_a_scan_of_one_time_entries() {
        let now = Instant::now();
        let later = now + Duration::from_secs(300);
        let mut f = Fixture::new(100);
        for k in 0..10 {
            f.put(k, later, now);
        }
        for k in 1000..11_000 {
            f.put(k, later, now);
            if k % 20 == 0 {
                for hot in 0..10 {
                    assert!(f.hit(hot), "hot entry {hot} evicted at {k}");
                }
            }
        }
        assert_eq!(f.map.len(), 100);
    }

    #[test]
    fn expired_entries_go_first_and_earliest_first() {
        let now = Instant::now();
        let mut f = Fixture::new(3);
        // Kept past expiry (stale), so only the bound removes them.
        f.bounds.keep_expired = Duration::from_secs(3600);
        f.put(1, now + Duration::from_secs(300), now);
        f.put(2, now + Duration::from_secs(2), now);
        f.put(3, now + Duration::from_secs(1), now);
        let t = now + Duration::from_secs(5);
        // 1 is unused and first in the ring, but 3 and 2 have expired.
        let r = f.put(4, t + Duration::from_secs(300), t);
        assert_eq!(
            r,
            Removed {
                evicted: 0,
                expired: 1
            }
        );
        assert!(!f.hit(3) && f.hit(2) && f.hit(1));
        let r = f.put(5, t + Duration::from_secs(300), t);
        assert_eq!(
            r,
            Removed {
                evicted: 0,
                expired: 1
            }
        );
        assert!(!f.hit(2) && f.hit(1));
    }

    #[test]
    fn expired_entries_are_kept_for_the_window_only() {
        let now = Instant::now();
        let mut f = Fixture::new(100);
        f.bounds.keep_expired = Duration::from_secs(60);
        f.put(1, now + Duration::from_secs(10), now);
        f.put(
            2,
            now + Duration::from_secs(100),
            now + Duration::from_secs(30),
        );
        assert!(f.hit(1), "expired 20 s ago: kept");
        let r = f.put(
            3,
            now + Duration::from_secs(200),
            now + Duration::from_secs(71),
        );
        assert_eq!(r.expired, 1);
        assert!(!f.hit(1) && f.hit(2));
    }

    #[test]
    fn bytes_follow_inserts_replacements_updates_and_removals() {
        let now = Instant::now();
        let later = now + Duration::from_secs(300);
        let h = RandomState::new();
        let o = ClockMap::<u32, u32>::ENTRY_OVERHEAD;
        let bounds = Bounds {
            max_bytes: 3 * (o + 100),
            max_entries: usize::MAX,
            keep_expired: Duration::ZERO,
        };
        let mut m: ClockMap<u32, u32> = ClockMap::new();
        for k in 0..3 {
            m.insert(h.hash_one(k), k, k, later, 100, now, &bounds)
                .expect("fits");
        }
        assert_eq!(m.bytes(), 3 * (o + 100));
        m.insert(h.hash_one(1), 1, 1, later, 50, now, &bounds)
            .expect("fits");
        assert_eq!(m.bytes(), 2 * (o + 100) + o + 50, "replaced, not added");
        let r = m
            .insert(h.hash_one(7), 7, 7, later, 100, now, &bounds)
            .expect("fits");
        assert_eq!(r.evicted, 1);
        assert!(m.bytes() <= bounds.max_bytes);
        assert!(m.update(h.hash_one(7), &7, |_| 10));
        assert_eq!(m.remove_if(|_, _| true), 3);
        assert_eq!(m.bytes(), 0);
        assert_eq!(
            m.insert(h.hash_one(9), 9, 9, later, bounds.max_bytes, now, &bounds),
            Err(InsertError::TooLarge {
                bytes: bounds.max_bytes + o,
                max: bounds.max_bytes
            })
        );
    }
}
