//! Policy answers built once and served like cache hits.
//!
//! Kept: a rewritten answer, a DROP (nothing sent) and a PASSTHRU (the real
//! answer served), each with the hit to log.
//!
//! A rewritten answer is a pure function of the policy set, the question
//! (name, type, class, DO, CD, RD), whether the query had EDNS, the
//! transport class (`rpz-tcp-only` answers UDP only), and, for a decision
//! taken after resolution, the real answer's policy facts. When no zone has
//! client-IP rules, nothing else enters it, so the answer the async path
//! built for one client is the answer for the next one with the same
//! question, patched like a cache hit (ID, RD, CD, the name's letter case).
//!
//! ```text
//!  async path: rewrite built, no chase, no disabled-zone hit ─▶ kept here, keyed by
//!              question + shape, tagged with the policy set (and the real answer's facts)
//!  fast path:  cache hit, policy match ─▶ kept answer whose tags are the live ones?
//!              ─yes─▶ copy, patch, truncate for UDP, log the hit ─▶ answer
//!              ─no──▶ the async path (which keeps the new answer)
//! ```
//!
//! Nothing is ever invalidated: a kept answer names the policy set it was
//! built from (a `Weak`, so the set's memory is not held and its address is
//! not reused while the tag lives) and the real answer's facts (the `Arc`
//! the packet cache entry holds), and serves only while both are the live
//! ones. A reload, a zone update, an expired or flushed real answer each
//! change a tag. A kept hit holds its policy zone (the hit log reads it), so
//! the table is emptied when the live set changes: at the next answer kept,
//! and by [`Prebuilt::run`] within a second otherwise, so that an old set's
//! zones are not held past that. The table is small and bounded
//! ([`MAX_ENTRIES`] answers of at most [`MAX_ANSWER`] bytes): it holds the
//! hot blocked names, not the list.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::watch;

use hickory_proto::rr::{Name, RecordType};
use sekisho_rpz::{Hit, PolicySet, ResponseFacts};

/// Answers kept in all (the hot blocked names).
pub const MAX_ENTRIES: usize = 2048;

/// Larger rewrites are not kept (they are rare: big local data).
pub const MAX_ANSWER: usize = 1232;

/// Lock shards.
const SHARDS: usize = 16;

/// How often [`Prebuilt::run`] looks for a changed policy set.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What a kept answer was built from, besides its question.
#[derive(Debug, Clone, Copy)]
pub struct Basis<'a> {
    /// The live policy set.
    pub policy: &'a Arc<PolicySet>,
    /// The real answer's facts when the decision read them (post-check);
    /// `None` when it was taken before resolution (pre-check).
    pub facts: Option<&'a Arc<ResponseFacts>>,
}

/// The shape of a query beyond its cache key: what else the rewrite reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// The query had EDNS (the answer carries OPT).
    pub edns: bool,
    /// It came over a stream (TCP, DoT, DoH).
    pub stream: bool,
}

impl Shape {
    /// The shape of `query`, come over `proto`.
    pub fn of(query: &sekisho_wire::Query<'_>, proto: crate::metrics::Proto) -> Shape {
        Shape {
            edns: query.edns.is_some(),
            stream: proto != crate::metrics::Proto::Udp,
        }
    }

    fn byte(self) -> u8 {
        u8::from(self.edns) | (u8::from(self.stream) << 1)
    }
}

/// What a kept decision does.
#[derive(Debug)]
pub enum Outcome {
    /// Send this answer (OPT included when the shape has EDNS, untruncated).
    Answer(Box<[u8]>),
    /// Send nothing (`rpz-drop`).
    Drop,
    /// Serve the real answer (`rpz-passthru`, `rpz-tcp-only` over a stream).
    Unchanged,
}

/// What the async path decided, as [`Prebuilt::keep`] takes it.
#[derive(Debug, Clone, Copy)]
pub enum Decided<'a> {
    /// This answer.
    Answer(&'a [u8]),
    /// Nothing sent.
    Drop,
    /// The real answer.
    Unchanged,
}

/// One kept answer.
#[derive(Debug)]
pub struct Kept {
    /// The policy set it was built from.
    policy: Weak<PolicySet>,
    /// The real answer's facts it was built from (post-check decisions).
    facts: Option<Arc<ResponseFacts>>,
    /// What it does.
    pub outcome: Outcome,
    /// The hit that decided it, for the hit log and metrics.
    pub hit: Hit,
    /// The query name (lower case) the hit log shows.
    pub qname: Name,
    /// The query type.
    pub qtype: RecordType,
}

impl Kept {
    /// Whether it was built from these policy set and facts.
    fn current(&self, policy: &Arc<PolicySet>, facts: Option<&Arc<ResponseFacts>>) -> bool {
        if !std::ptr::eq(self.policy.as_ptr(), Arc::as_ptr(policy)) {
            return false;
        }
        match (&self.facts, facts) {
            (None, _) => true,
            (Some(kept), Some(live)) => Arc::ptr_eq(kept, live),
            (Some(_), None) => false,
        }
    }
}

/// One lock's worth of the table.
type Shard = HashMap<Box<[u8]>, Arc<Kept>>;

/// A decision the async path applied, with the hit that made it.
#[derive(Debug, Clone, Copy)]
pub struct Built<'a> {
    /// What it did.
    pub decided: Decided<'a>,
    /// The hit.
    pub hit: &'a Hit,
    /// The query name (lower case).
    pub qname: &'a Name,
    /// The query type.
    pub qtype: RecordType,
}

/// The table of kept policy answers.
#[derive(Debug)]
pub struct Prebuilt {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    /// The address of the policy set the kept answers were built from (0:
    /// none yet). Kept answers hold a `Weak` of it, so while any is kept the
    /// address is not reused by another set.
    generation: AtomicUsize,
}

impl Default for Prebuilt {
    fn default() -> Self {
        Prebuilt {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            generation: AtomicUsize::new(0),
        }
    }
}

impl Prebuilt {
    /// The kept answer for the question `key` (a packet-cache key) asked
    /// with `shape`, if it was built from `policy` and `facts` (the real
    /// answer the cache holds for it).
    pub fn get(
        &self,
        key: &mut Vec<u8>,
        shape: Shape,
        policy: &Arc<PolicySet>,
        facts: Option<&Arc<ResponseFacts>>,
    ) -> Option<Arc<Kept>> {
        key.push(shape.byte());
        let found = {
            let shard = self.shard(key);
            shard.get(&key[..]).cloned()
        };
        key.pop();
        found.filter(|k| k.current(policy, facts))
    }

    /// Keep `built`, the answer the async path built for `key` and `shape`
    /// from `basis`. Too large an answer, or a set whose decisions read the
    /// client's address, is not kept.
    pub fn keep(&self, key: &[u8], shape: Shape, basis: Basis<'_>, built: Built<'_>) {
        if basis.policy.reads_client() {
            return;
        }
        let outcome = match built.decided {
            Decided::Answer(wire) if wire.len() > MAX_ANSWER => return,
            Decided::Answer(wire) => Outcome::Answer(wire.into()),
            Decided::Drop => Outcome::Drop,
            Decided::Unchanged => Outcome::Unchanged,
        };
        self.follow(basis.policy);
        let mut full = Vec::with_capacity(key.len() + 1);
        full.extend_from_slice(key);
        full.push(shape.byte());
        let kept = Arc::new(Kept {
            policy: Arc::downgrade(basis.policy),
            facts: basis.facts.cloned(),
            outcome,
            hit: built.hit.clone(),
            qname: built.qname.clone(),
            qtype: built.qtype,
        });
        let mut shard = self.shard(&full);
        if shard.len() >= MAX_ENTRIES / SHARDS && !shard.contains_key(&full[..]) {
            // Full: one arbitrary answer makes room (the hash order is random).
            if let Some(old) = shard.keys().next().cloned() {
                shard.remove(&old);
            }
        }
        shard.insert(full.into_boxed_slice(), kept);
    }

    /// Empty the table if its answers were built from another set than
    /// `live`.
    pub fn follow(&self, live: &Arc<PolicySet>) {
        let live = Arc::as_ptr(live) as usize;
        if self.generation.swap(live, Ordering::AcqRel) != live {
            for shard in self.shards.iter() {
                shard.lock().unwrap_or_else(|e| e.into_inner()).clear();
            }
        }
    }

    /// Every second until `stop` turns true, follow the live set of `policy`
    /// (see [`Prebuilt::follow`]).
    pub async fn run(
        self: Arc<Self>,
        policy: Arc<arc_swap::ArcSwap<PolicySet>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.follow(&policy.load()),
                _ = stop.changed() => return,
            }
        }
    }

    /// Answers kept.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &[u8]) -> std::sync::MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }
}
