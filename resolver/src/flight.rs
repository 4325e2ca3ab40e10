//! Work in flight for cache misses: how many client queries may wait on the
//! network at once, and one upstream query per question however many
//! clients ask it.
//!
//! - [`Slots`] bounds the client queries being resolved (BIND
//!   `recursive-clients`). When every slot is taken, the query that has
//!   waited longest, if it has waited at least [`JOSTLE_AFTER`], is answered
//!   SERVFAIL and the newcomer takes its slot (Unbound's `jostle-timeout`:
//!   under a flood of queries that never complete, the oldest is the least
//!   likely to be answered in time); when none has waited that long the
//!   newcomer is answered SERVFAIL. Either way one drop is counted. Every
//!   slot is released when its query's future ends, also when the client's
//!   deadline cancels it, so a slot cannot leak.
//! - [`Coalescer`] shares one fetch among the clients asking the same
//!   question (name, type, class, DO, CD: the cache key), as BIND's
//!   `clients-per-query` and Unbound's mesh do: fewer upstream queries, and
//!   fewer chances for a spoofed answer to be accepted. At most
//!   `clients-per-query` clients wait on one fetch; later ones are answered
//!   SERVFAIL and counted. The first client runs the fetch; when it is
//!   cancelled before an outcome, a waiting client takes over.
//!
//! Neither ever touches an answer the cache holds: the pipeline consults
//! them only after a cache miss.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sekisho_limits::{Limit, Limits};
use tokio::sync::{watch, Notify};

/// How long the oldest recursion must have waited before a newcomer may
/// take its slot (Unbound's `jostle-timeout` default).
pub const JOSTLE_AFTER: Duration = Duration::from_millis(200);

/// The key under which the recursive-clients limit is logged.
const SLOTS_KEY: &str = "all clients";

/// One admitted recursion in the table.
#[derive(Debug)]
struct Holder {
    /// When it was admitted.
    since: Instant,
    /// Woken when a newcomer takes the slot.
    evict: Arc<Notify>,
}

/// The recursions in flight (BIND `recursive-clients`).
#[derive(Debug)]
pub struct Slots {
    /// Admitted recursions by admission order.
    table: Mutex<BTreeMap<u64, Holder>>,
    /// Admission counter (the table's keys).
    next: AtomicU64,
    /// Drops, use and the log line.
    limits: Arc<Limits>,
}

/// A slot: released when dropped.
#[derive(Debug)]
pub struct Slot<'a> {
    /// The table it belongs to.
    slots: &'a Slots,
    /// Its key.
    id: u64,
    /// Fires when a newcomer takes this slot.
    evict: Arc<Notify>,
}

impl Slot<'_> {
    /// Resolves when the slot was taken by a newcomer (its query is to be
    /// answered SERVFAIL at once).
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut table = self.slots.lock();
        if table.remove(&self.id).is_some() {
            self.slots.limits.add_held(Limit::RecursiveClients, -1);
        }
        let empty = table.is_empty();
        drop(table);
        if empty {
            // Nothing waits any more: the limit, if engaged, lets go.
            self.slots
                .limits
                .release(Limit::RecursiveClients, SLOTS_KEY);
        }
    }
}

impl Slots {
    /// An empty table counting into `limits`.
    pub fn new(limits: Arc<Limits>) -> Slots {
        Slots {
            table: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            limits,
        }
    }

    /// A slot for a new recursion when fewer than `max` are in flight, or
    /// the one of the oldest when it has waited [`JOSTLE_AFTER`]; `None`
    /// (counted) otherwise.
    pub fn admit(&self, max: usize, now: Instant) -> Option<Slot<'_>> {
        let mut table = self.lock();
        if table.len() >= max {
            let oldest = table
                .first_key_value()
                .filter(|(_, h)| now.saturating_duration_since(h.since) >= JOSTLE_AFTER)
                .map(|(id, _)| *id);
            self.limits
                .dropped(Limit::RecursiveClients, Some(SLOTS_KEY));
            match oldest {
                Some(id) => {
                    if let Some(h) = table.remove(&id) {
                        // notify_one keeps the permit if the holder is not
                        // waiting yet: it sees it at its first poll.
                        h.evict.notify_one();
                        self.limits.add_held(Limit::RecursiveClients, -1);
                    }
                }
                _ => {
                    drop(table);
                    self.limits.engage(
                        Limit::RecursiveClients,
                        SLOTS_KEY,
                        &format!("{max} client queries in flight; new ones get SERVFAIL"),
                    );
                    return None;
                }
            }
            self.limits.engage(
                Limit::RecursiveClients,
                SLOTS_KEY,
                &format!("{max} client queries in flight; the oldest are answered SERVFAIL"),
            );
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let evict = Arc::new(Notify::new());
        table.insert(
            id,
            Holder {
                since: now,
                evict: evict.clone(),
            },
        );
        self.limits.add_held(Limit::RecursiveClients, 1);
        Some(Slot {
            slots: self,
            id,
            evict,
        })
    }

    /// Recursions in flight now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table (a poisoned lock still holds a consistent table).
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Holder>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a shared fetch ended with, as its first client got it.
pub type Outcome<T> = Arc<Option<T>>;

/// One question in flight.
#[derive(Debug)]
struct Pending<T> {
    /// Where the outcome is published: made when the first client joins
    /// to wait (most questions have one client, and need none).
    tx: Option<watch::Sender<Option<Outcome<T>>>>,
    /// Clients waiting on it, the one fetching included.
    clients: usize,
    /// Which fetch of this question it is (a new leader starts a new one).
    generation: u64,
    /// The label `clients-per-query` engaged under, released when the fetch ends.
    engaged: Option<String>,
}

/// Identical questions in flight share one fetch.
#[derive(Debug)]
pub struct Coalescer<T> {
    /// Questions in flight by cache key (shared with their [`Lead`]).
    pending: Mutex<HashMap<Arc<[u8]>, Pending<T>>>,
    /// Generation counter.
    next: AtomicU64,
    /// Drops and the log line.
    limits: Arc<Limits>,
}

/// How a client joins a question.
#[derive(Debug)]
pub enum Join<'a, T> {
    /// Run the fetch and [`Lead::publish`] its outcome.
    Lead(Lead<'a, T>),
    /// Wait for the outcome.
    Wait(Wait<'a, T>),
    /// `clients-per-query` clients already wait: answer SERVFAIL (counted).
    Full,
}

/// The client running a shared fetch. Dropped without publishing (its
/// client was cancelled), it hands the question to a waiting client.
#[derive(Debug)]
pub struct Lead<'a, T> {
    /// The coalescer.
    owner: &'a Coalescer<T>,
    /// The question (the table's key).
    key: Arc<[u8]>,
    /// The fetch's generation.
    generation: u64,
}

/// A client waiting for someone else's fetch.
#[derive(Debug)]
pub struct Wait<'a, T> {
    /// The coalescer.
    owner: &'a Coalescer<T>,
    /// The question.
    key: Box<[u8]>,
    /// The outcome channel.
    rx: watch::Receiver<Option<Outcome<T>>>,
    /// The fetch's generation.
    generation: u64,
}

impl<T> Coalescer<T> {
    /// Nothing in flight; drops counted into `limits`.
    pub fn new(limits: Arc<Limits>) -> Coalescer<T> {
        Coalescer {
            pending: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            limits,
        }
    }

    /// Join the question `key`, with at most `max_clients` clients on one fetch.
    /// `label` names the question in the log line when the cap engages.
    pub fn join(
        &self,
        key: &[u8],
        max_clients: usize,
        label: impl FnOnce() -> String,
    ) -> Join<'_, T> {
        let mut pending = self.lock();
        if let Some(p) = pending.get_mut(key) {
            if p.clients >= max_clients {
                let first = p.engaged.is_none();
                let label = p.engaged.get_or_insert_with(label).clone();
                drop(pending);
                self.limits.dropped(Limit::ClientsPerQuery, Some(&label));
                if first {
                    self.limits.engage(
                        Limit::ClientsPerQuery,
                        &label,
                        &format!("{max_clients} clients wait on one query; more get SERVFAIL"),
                    );
                }
                return Join::Full;
            }
            p.clients += 1;
            let rx = match &p.tx {
                Some(tx) => tx.subscribe(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    p.tx = Some(tx);
                    rx
                }
            };
            return Join::Wait(Wait {
                owner: self,
                key: key.into(),
                rx,
                generation: p.generation,
            });
        }
        let generation = self.next.fetch_add(1, Ordering::Relaxed);
        let key: Arc<[u8]> = key.into();
        pending.insert(
            key.clone(),
            Pending {
                tx: None,
                clients: 1,
                generation,
                engaged: None,
            },
        );
        Join::Lead(Lead {
            owner: self,
            key,
            generation,
        })
    }

    /// Questions in flight now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table.
    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<[u8]>, Pending<T>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// End the fetch `generation` of `key`: publish `outcome` (when there
    /// is one) to its waiting clients and forget the question.
    fn finish(&self, key: &Arc<[u8]>, generation: u64, outcome: Option<Outcome<T>>) {
        let mut pending = self.lock();
        // One look-up for the check and the removal.
        let Entry::Occupied(entry) = pending.entry(key.clone()) else {
            return;
        };
        if entry.get().generation != generation {
            return;
        }
        let p = entry.remove();
        drop(pending);
        if let (Some(tx), Some(o)) = (&p.tx, outcome) {
            tx.send_replace(Some(o));
        }
        // Dropping the sender wakes waiters that got no outcome: one of them
        // takes over (see `Wait::outcome`).
        if let Some(label) = p.engaged {
            self.limits.release(Limit::ClientsPerQuery, &label);
        }
    }
}

impl<T> Lead<'_, T> {
    /// Publish the fetch's outcome to the waiting clients.
    pub fn publish(self, outcome: Option<T>) -> Outcome<T> {
        let outcome = Arc::new(outcome);
        self.owner
            .finish(&self.key, self.generation, Some(outcome.clone()));
        std::mem::forget(self);
        outcome
    }
}

impl<T> Drop for Lead<'_, T> {
    fn drop(&mut self) {
        // Cancelled before an outcome: the waiters are woken without one.
        self.owner.finish(&self.key, self.generation, None);
    }
}

impl<'a, T> Wait<'a, T> {
    /// The shared outcome, or `None` when the fetch was abandoned (its client
    /// was cancelled) before it had one: then join again to take over.
    pub async fn outcome(mut self) -> Option<Outcome<T>> {
        loop {
            if let Some(o) = self.rx.borrow_and_update().clone() {
                return Some(o);
            }
            if self.rx.changed().await.is_err() {
                return self.rx.borrow().clone();
            }
        }
    }
}

impl<T> Drop for Wait<'_, T> {
    fn drop(&mut self) {
        let mut pending = self.owner.lock();
        if let Some(p) = pending.get_mut(&self.key[..]) {
            if p.generation == self.generation {
                p.clients = p.clients.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Arc<Limits> {
        Arc::new(Limits::new())
    }

    #[test]
    fn slots_refuse_newcomers_until_the_oldest_has_waited_long_enough() {
        let l = limits();
        let slots = Slots::new(l.clone());
        let t0 = Instant::now();
        let a = slots.admit(2, t0).expect("first");
        let _b = slots.admit(2, t0).expect("second");
        assert!(slots.admit(2, t0).is_none(), "full and nobody old enough");
        assert_eq!(l.drops(Limit::RecursiveClients), 1);
        assert!(l.is_engaged(Limit::RecursiveClients, SLOTS_KEY));
        // Later, the oldest (a) is evicted for a newcomer.
        let later = t0 + JOSTLE_AFTER;
        let c = slots.admit(2, later).expect("jostles the oldest");
        assert_eq!(slots.len(), 2);
        assert_eq!(l.drops(Limit::RecursiveClients), 2);
        assert_eq!(l.held(Limit::RecursiveClients), 2);
        // a's eviction is signalled (the permit is kept for its next poll).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(1), a.evicted())
                .await
                .expect("evicted");
        });
        drop(a); // already gone from the table: nothing double-counted
        assert_eq!(l.held(Limit::RecursiveClients), 2);
        drop(c);
        drop(_b);
        assert_eq!(l.held(Limit::RecursiveClients), 0);
        assert!(slots.is_empty());
        assert!(
            !l.is_engaged(Limit::RecursiveClients, SLOTS_KEY),
            "released when empty"
        );
    }

    #[tokio::test]
    async fn identical_questions_share_one_fetch_up_to_the_cap() {
        let l = limits();
        let co: &'static Coalescer<u32> = Box::leak(Box::new(Coalescer::new(l.clone())));
        let Join::Lead(lead) = co.join(b"q1", 3, || "q1".into()) else {
            panic!("first client leads");
        };
        let Join::Wait(w1) = co.join(b"q1", 3, || "q1".into()) else {
            panic!("second waits");
        };
        let Join::Wait(w2) = co.join(b"q1", 3, || "q1".into()) else {
            panic!("third waits");
        };
        assert!(matches!(co.join(b"q1", 3, || "q1".into()), Join::Full));
        assert!(matches!(co.join(b"q1", 3, || "q1".into()), Join::Full));
        assert_eq!(l.drops(Limit::ClientsPerQuery), 2);
        assert!(l.is_engaged(Limit::ClientsPerQuery, "q1"));
        // Another question is independent.
        assert!(matches!(co.join(b"q2", 3, || "q2".into()), Join::Lead(_)));
        let h1 = tokio::spawn(w1.outcome());
        let h2 = tokio::spawn(w2.outcome());
        lead.publish(Some(7));
        for h in [h1, h2] {
            let got = h.await.expect("task").expect("an outcome");
            assert_eq!(*got, Some(7));
        }
        assert!(
            !l.is_engaged(Limit::ClientsPerQuery, "q1"),
            "released with the fetch"
        );
        // The question is forgotten: the next client leads a new fetch.
        assert!(matches!(co.join(b"q1", 3, || "q1".into()), Join::Lead(_)));
    }

    #[tokio::test]
    async fn an_abandoned_fetch_wakes_its_waiters_without_an_outcome() {
        let co: &'static Coalescer<u32> = Box::leak(Box::new(Coalescer::new(limits())));
        let Join::Lead(lead) = co.join(b"q", 10, String::new) else {
            panic!("leads");
        };
        let Join::Wait(w) = co.join(b"q", 10, String::new) else {
            panic!("waits");
        };
        let h = tokio::spawn(w.outcome());
        drop(lead);
        assert!(h.await.expect("task").is_none());
        assert!(co.is_empty());
        assert!(matches!(co.join(b"q", 10, String::new), Join::Lead(_)));
    }
}
