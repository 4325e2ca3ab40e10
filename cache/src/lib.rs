//! The packet cache: finished responses kept as wire bytes.
//!
//! ```text
//!  key = lower-cased QNAME wire ‖ QTYPE ‖ QCLASS ‖ DO ‖ CD
//!  hit:  copy bytes ─▶ patch ID, RD, question case ─▶ subtract age from every TTL ─▶ OPT
//! ```
//!
//! As in PowerDNS Recursor and dnsdist, a hit never decodes or re-encodes a
//! message: the stored response is copied and a handful of fields are
//! patched at offsets found once, when the response was stored. The client's
//! 0x20 letter case is restored by copying its question name over the stored
//! one (answers point at the question through compression, so they follow).
//!
//! TTLs count down: each stored TTL field is rewritten as
//! `original - age` on the way out. Negative answers live for
//! `min(SOA TTL, SOA MINIMUM)` (RFC 2308 section 5), capped by
//! `max-negative-ttl`. Stored responses carry no OPT record; the caller
//! appends one when the client used EDNS.
//!
//! Bounds and eviction ([`clock`]): the cache is bounded in entries
//! (`cache.max-entries`) and in bytes (its share of `cache.max-cache-size`,
//! see [`packet_share`]), each shard holding a 1/[`SHARDS`] part of both.
//! Each entry is charged its key, its wire bytes, its TTL offsets, its
//! policy facts and a fixed overhead ([`PacketCache::ENTRY_OVERHEAD`]);
//! [`PacketCache::bytes`] is the running total. When a shard is over a
//! bound, expired entries go first, then CLOCK evicts what was not hit
//! since the hand last passed, so popular names outlive a scan of one-time
//! names. A hit pays one relaxed atomic store (the entry's used bit) on top
//! of the shard lock it always took.
//!
//! Stale answers and prefetch: an expired entry is kept for
//! [`CacheLimits::max_stale`] (RFC 8767's "maximum stale timer";
//! [`MAX_STALE`] when stale answers are on) and still counts towards the
//! bounds. [`PacketCache::lookup`] serves fresh entries only;
//! [`PacketCache::lookup_stale`] also serves an expired one with every TTL
//! set to the stale-answer TTL, for when the authorities do not answer.
//! [`PacketCache::lookup_hit`] is `lookup` that also says, once per stored
//! answer, that a hit came in the last tenth of the answer's TTL, so the
//! caller can refresh it before it expires (Unbound's `prefetch`).
//!
//! The cache holds real data only. Policy (RPZ) is applied after a lookup,
//! so a policy change takes effect at once without flushing anything.

pub mod clock;
pub mod saved;
pub mod size;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sekisho_rpz::ResponseFacts;

use clock::{Bounds, ClockMap, Removed};

use sekisho_wire::{self as wire, Query, HEADER_LEN, TYPE_OPT, TYPE_SOA};

/// Number of independently locked shards (a power of two).
pub const SHARDS: usize = 64;

/// How long an expired answer is kept for stale serving when stale answers
/// are on: one day. RFC 8767 section 5 suggests a maximum stale timer of one
/// to three days (BIND's `max-stale-ttl` is 12 hours, Unbound's
/// `serve-expired-ttl` is commonly set to a day); the shortest suggested
/// keeps the memory spent on answers nobody refreshes small.
pub const MAX_STALE: u32 = 86_400;

/// The recursor's share of `cache.max-cache-size`: a quarter. The packet
/// cache answers every repeat question and holds each answer once per
/// (name, type, DO, CD), so it gets the rest; the recursor's caches (zone
/// cuts, steps, zone security, server RTTs) hold decoded records that serve
/// new questions under known zones.
pub fn recursor_share(max_cache_size: u64) -> u64 {
    max_cache_size / 4
}

/// The packet cache's share of `cache.max-cache-size`: what
/// [`recursor_share`] leaves.
pub fn packet_share(max_cache_size: u64) -> u64 {
    max_cache_size - recursor_share(max_cache_size)
}

/// Cache sizing and TTL clamps (from `[cache]` in the config).
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    /// Upper bound on stored responses.
    pub max_entries: usize,
    /// TTLs below this are raised to it.
    pub min_ttl: u32,
    /// TTLs above this are lowered to it.
    pub max_ttl: u32,
    /// Cap on the lifetime of NXDOMAIN/NODATA answers.
    pub max_negative_ttl: u32,
    /// Lifetime of a cached SERVFAIL (0 = not cached).
    pub servfail_ttl: u32,
    /// Upper bound on the bytes charged for stored responses (the packet
    /// cache's share of `cache.max-cache-size`, [`packet_share`]).
    pub max_bytes: u64,
    /// Seconds an expired response is kept for [`PacketCache::lookup_stale`]
    /// ([`MAX_STALE`] with stale answers on; 0 = dropped once met expired).
    pub max_stale: u32,
}

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheKind {
    /// An answer with data.
    Success,
    /// NXDOMAIN or NODATA (RFC 2308).
    Denial,
    /// A short-lived SERVFAIL.
    Failure,
}

impl CacheKind {
    /// Bounded metric label.
    pub fn as_label(&self) -> &'static str {
        match self {
            CacheKind::Success => "success",
            CacheKind::Denial => "denial",
            CacheKind::Failure => "failure",
        }
    }
}

/// One stored response (its key and expiry are kept by the [`ClockMap`]).
#[derive(Debug)]
struct Entry {
    /// The response.
    response: Prepared,
    /// When it was stored.
    stored: Instant,
    /// A hit has already been told to prefetch this answer.
    prefetch_told: AtomicBool,
}

/// A response normalised for serving and caching: no OPT, ID zero,
/// question lower-cased, AA and AD cleared, RA set, TTLs clamped.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The wire bytes.
    wire: Box<[u8]>,
    /// Offsets of every TTL field (OPT excluded).
    ttl_offsets: Box<[u16]>,
    /// Lifetime in the cache (0 = not cacheable).
    pub ttl: u32,
    /// What kind of answer this is.
    pub kind: CacheKind,
    /// CNAME chain and addresses for the policy post-check, computed once
    /// when the answer is stored (absent when no policy was loaded then).
    pub facts: Option<Arc<ResponseFacts>>,
    /// The Extended DNS Error (code, text) a stored failure was answered
    /// with, so that a repeat within `servfail-ttl` says why as the first did.
    pub ede: Option<(u16, Arc<str>)>,
}

impl Prepared {
    /// Normalise an upstream `response`; `None` if it cannot be walked.
    pub fn new(response: &[u8], limits: &CacheLimits) -> Option<Prepared> {
        prepare(response, limits)
    }

    /// Mark the answer as validated (AD=1), for the recursor:
    /// [`prepare`] clears AD because forwarded answers are not validated here.
    pub fn set_authentic_data(&mut self) {
        self.wire[3] |= 0x20;
    }

    /// The response code.
    pub fn rcode(&self) -> u8 {
        self.wire[3] & 0x0f
    }

    /// Heap bytes it owns: wire bytes, TTL offsets and policy facts.
    pub fn heap_bytes(&self) -> usize {
        size::vec_heap::<u8>(self.wire.len())
            + size::vec_heap::<u16>(self.ttl_offsets.len())
            + self.facts.as_deref().map_or(0, size::facts_heap)
            + self.ede.as_ref().map_or(0, |(_, t)| t.len() + 16)
    }

    /// Copy into `out` with every TTL set to `ttl` (a stale answer, RFC 8767
    /// section 4).
    pub fn write_with_ttl(&self, out: &mut Vec<u8>, ttl: u32) {
        out.clear();
        out.extend_from_slice(&self.wire);
        for &off in self.ttl_offsets.iter() {
            let off = usize::from(off);
            out[off..off + 4].copy_from_slice(&ttl.to_be_bytes());
        }
    }

    /// Copy into `out` with `age` seconds taken off every TTL.
    pub fn write_to(&self, out: &mut Vec<u8>, age: u32) {
        out.clear();
        out.extend_from_slice(&self.wire);
        if age > 0 {
            for &off in self.ttl_offsets.iter() {
                let off = usize::from(off);
                let ttl = u32::from_be_bytes([out[off], out[off + 1], out[off + 2], out[off + 3]]);
                out[off..off + 4].copy_from_slice(&ttl.saturating_sub(age).to_be_bytes());
            }
        }
    }

    /// Serve to a client: copy, then patch what is the client's own.
    pub fn serve(&self, client: &ClientEcho<'_>, out: &mut Vec<u8>) {
        self.write_to(out, 0);
        patch_for_client(out, client);
    }
}

/// What a cached answer takes from the query it answers.
#[derive(Debug, Clone, Copy)]
pub struct ClientEcho<'a> {
    /// The query's message ID.
    pub id: u16,
    /// Recursion desired, copied back.
    pub rd: bool,
    /// Checking disabled, copied back (RFC 4035 section 3.2.2); the cache
    /// key carries it, so an entry only ever serves queries with the same CD.
    pub cd: bool,
    /// The client asked with DO=1 or AD=1, so an AD bit may be shown to it
    /// (RFC 6840 section 5.8); otherwise AD is cleared.
    pub wants_ad: bool,
    /// The question name as the client wrote it (its letter case, 0x20).
    pub qname_wire: &'a [u8],
}

impl<'a> ClientEcho<'a> {
    /// The echo for `query`.
    pub fn of(query: &Query<'a>) -> Self {
        ClientEcho {
            id: query.id,
            rd: query.rd,
            cd: query.cd,
            wants_ad: query.ad || query.dnssec_ok(),
            qname_wire: query.qname_wire(),
        }
    }
}

impl ClientEcho<'_> {
    /// Patch a response made for another client with the same question (ID,
    /// RD, CD, AD and the question name's letter case) for this one.
    pub fn apply(&self, response: &mut [u8]) {
        if response.len() >= HEADER_LEN {
            patch_for_client(response, self);
        }
    }
}

/// Patch ID, RD, CD, AD and the question name's letter case for a client.
fn patch_for_client(out: &mut [u8], client: &ClientEcho<'_>) {
    out[0..2].copy_from_slice(&client.id.to_be_bytes());
    out[2] = (out[2] & !0x01) | u8::from(client.rd);
    out[3] = (out[3] & !0x10) | (u8::from(client.cd) << 4);
    if !client.wants_ad {
        out[3] &= !0x20;
    }
    // Same length by construction: the key was built from this very name.
    let q = client.qname_wire;
    if out.len() >= HEADER_LEN + q.len() {
        out[HEADER_LEN..HEADER_LEN + q.len()].copy_from_slice(q);
    }
}

/// One lock's worth of the cache.
type Shard = ClockMap<Box<[u8]>, Entry>;

/// Counters the metrics endpoint reads.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Live entries evicted to make room.
    pub evictions: AtomicU64,
    /// Expired entries dropped (past the stale window, or first to make room).
    pub expirations: AtomicU64,
}

/// What a lookup served.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The kind of answer.
    pub kind: CacheKind,
    /// Its policy facts, when stored with them.
    pub facts: Option<Arc<ResponseFacts>>,
    /// The answer had expired and was served with the stale-answer TTL
    /// ([`PacketCache::lookup_stale`] only).
    pub stale: bool,
    /// The hit came in the last tenth of the answer's TTL and no earlier hit
    /// of this stored answer was told so: refresh it now
    /// ([`PacketCache::lookup_hit`] only).
    pub prefetch: bool,
    /// The Extended DNS Error stored with a failure.
    pub ede: Option<(u16, Arc<str>)>,
}

/// Which lookup is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Fresh answers only.
    Fresh,
    /// Fresh answers, and the prefetch signal.
    FreshOrPrefetch,
    /// Fresh answers, else expired ones within the stale window with this TTL.
    Stale(u32),
}

/// A sharded packet cache bounded in entries and bytes.
#[derive(Debug)]
pub struct PacketCache {
    /// The shards.
    shards: Box<[Mutex<Shard>]>,
    /// Keyed hashing (SipHash with a random key): query names are the
    /// client's choice, so the table must not be open to chosen collisions.
    hasher: RandomState,
    /// What each shard may hold.
    bounds: Bounds,
    /// TTL clamps.
    limits: CacheLimits,
    /// Bytes charged over all shards.
    bytes: AtomicUsize,
    /// Eviction counters.
    pub stats: CacheStats,
}

impl PacketCache {
    /// Bytes charged per entry on top of its key and [`Prepared::heap_bytes`]:
    /// the shard's slot, table and expiry-index share, and the allocator's
    /// header of the key.
    pub const ENTRY_OVERHEAD: usize = Shard::ENTRY_OVERHEAD + clock::ALLOC_HEADER;

    /// An empty cache with these limits.
    pub fn new(limits: CacheLimits) -> Self {
        let per_shard = |total: u64| {
            usize::try_from(total.div_ceil(SHARDS as u64))
                .unwrap_or(usize::MAX)
                .max(1)
        };
        PacketCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect(),
            hasher: RandomState::new(),
            bounds: Bounds {
                max_bytes: per_shard(limits.max_bytes),
                max_entries: limits.max_entries.div_ceil(SHARDS).max(1),
                keep_expired: Duration::from_secs(u64::from(limits.max_stale)),
            },
            limits,
            bytes: AtomicUsize::new(0),
            stats: CacheStats::default(),
        }
    }

    /// Build the cache key for a query into `key` (cleared first).
    pub fn key_into(
        qname_wire: &[u8],
        qtype: u16,
        qclass: u16,
        dnssec_ok: bool,
        cd: bool,
        key: &mut Vec<u8>,
    ) {
        key.clear();
        wire::lowercase_name_into(qname_wire, key);
        key.extend_from_slice(&qtype.to_be_bytes());
        key.extend_from_slice(&qclass.to_be_bytes());
        key.push(u8::from(dnssec_ok) | (u8::from(cd) << 1));
    }

    /// Which shard holds the key with this hash (bits the table does not
    /// use for its own bucket choice or tags).
    fn shard(&self, hash: u64) -> &Mutex<Shard> {
        &self.shards[((hash >> 32) as usize) & (SHARDS - 1)]
    }

    /// Serve `key` into `out` as the answer to the query `client` echoes,
    /// if fresh. Returns the kind of answer and its facts, or `None`.
    pub fn lookup(
        &self,
        key: &[u8],
        client: &ClientEcho<'_>,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Option<(CacheKind, Option<Arc<ResponseFacts>>)> {
        self.serve(key, client, now, out, Want::Fresh)
            .map(|h| (h.kind, h.facts))
    }

    /// [`lookup`](Self::lookup) that also reports [`Hit::prefetch`]. Call it
    /// only when prefetch is on: the signal is given once per stored answer.
    pub fn lookup_hit(
        &self,
        key: &[u8],
        client: &ClientEcho<'_>,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Option<Hit> {
        self.serve(key, client, now, out, Want::FreshOrPrefetch)
    }

    /// [`lookup`](Self::lookup) with everything the hit carries (the EDE of
    /// a stored failure); never uses up the prefetch signal.
    pub fn lookup_full(
        &self,
        key: &[u8],
        client: &ClientEcho<'_>,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Option<Hit> {
        self.serve(key, client, now, out, Want::Fresh)
    }

    /// Serve a fresh answer as [`lookup`](Self::lookup) does, or else one
    /// expired less than [`CacheLimits::max_stale`] ago with every TTL set to
    /// `stale_ttl` (RFC 8767: for when resolving it again failed). Cached
    /// SERVFAILs are never served stale.
    pub fn lookup_stale(
        &self,
        key: &[u8],
        client: &ClientEcho<'_>,
        now: Instant,
        stale_ttl: u32,
        out: &mut Vec<u8>,
    ) -> Option<Hit> {
        self.serve(key, client, now, out, Want::Stale(stale_ttl))
    }

    /// The lookups' common path.
    fn serve(
        &self,
        key: &[u8],
        client: &ClientEcho<'_>,
        now: Instant,
        out: &mut Vec<u8>,
        want: Want,
    ) -> Option<Hit> {
        let hash = self.hasher.hash_one(key);
        let hit = {
            let shard = self.shard(hash).lock().unwrap_or_else(|p| p.into_inner());
            let slot = shard.get(hash, key)?;
            let entry = slot.value();
            let expires = slot.expires();
            let mut hit = Hit {
                kind: entry.response.kind,
                facts: None,
                stale: false,
                prefetch: false,
                ede: entry.response.ede.clone(),
            };
            if now < expires {
                let age = u32::try_from(now.saturating_duration_since(entry.stored).as_secs())
                    .unwrap_or(u32::MAX);
                entry.response.write_to(out, age);
                if want == Want::FreshOrPrefetch {
                    hit.prefetch = in_last_tenth(expires - now, entry.response.ttl)
                        && !entry.prefetch_told.swap(true, Ordering::Relaxed);
                }
            } else {
                let Want::Stale(ttl) = want else {
                    return None;
                };
                if hit.kind == CacheKind::Failure || now - expires >= self.bounds.keep_expired {
                    return None;
                }
                entry.response.write_with_ttl(out, ttl);
                hit.stale = true;
            }
            slot.touch();
            hit.facts = entry.response.facts.clone();
            hit
        };
        patch_for_client(out, client);
        Some(hit)
    }

    /// Store a prepared response under `key`; `false` if it is not
    /// cacheable (zero TTL, truncated, negative without SOA...) or larger
    /// than a shard's share of the byte bound.
    pub fn insert(&self, key: &[u8], response: Prepared, now: Instant) -> bool {
        if response.ttl == 0 {
            return false;
        }
        let hash = self.hasher.hash_one(key);
        let heap = key.len() + clock::ALLOC_HEADER + response.heap_bytes();
        let expires = now + Duration::from_secs(u64::from(response.ttl));
        let failure = response.kind == CacheKind::Failure;
        let entry = Entry {
            response,
            stored: now,
            prefetch_told: AtomicBool::new(false),
        };
        let mut shard = self.shard(hash).lock().unwrap_or_else(|p| p.into_inner());
        if failure {
            // A failure never replaces an answer still held (fresh, or expired
            // within the stale window): that one is better served stale.
            if let Some(slot) = shard.get(hash, key) {
                let kept_until = slot.expires() + self.bounds.keep_expired;
                if slot.value().response.kind != CacheKind::Failure && now < kept_until {
                    return false;
                }
            }
        }
        let before = shard.bytes();
        let result = shard.insert(hash, key.into(), entry, expires, heap, now, &self.bounds);
        self.charge(before, shard.bytes());
        drop(shard);
        match result {
            Ok(removed) => {
                self.count(removed);
                true
            }
            Err(_) => false,
        }
    }

    /// Move the running byte total by a shard's change from `before` to `after`.
    fn charge(&self, before: usize, after: usize) {
        if after >= before {
            self.bytes.fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.bytes.fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    /// Count what an insert removed.
    fn count(&self, removed: Removed) {
        if removed.evicted > 0 {
            self.stats
                .evictions
                .fetch_add(removed.evicted as u64, Ordering::Relaxed);
        }
        if removed.expired > 0 {
            self.stats
                .expirations
                .fetch_add(removed.expired as u64, Ordering::Relaxed);
        }
    }

    /// The TTL clamps in force.
    pub fn limits(&self) -> &CacheLimits {
        &self.limits
    }

    /// Bytes charged for all stored responses (expired ones still kept
    /// included); at most [`CacheLimits::max_bytes`] rounded up to a
    /// multiple of [`SHARDS`].
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Number of stored responses (expired ones still kept included).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop everything; returns how many entries went.
    pub fn flush(&self) -> usize {
        let mut n = 0;
        for s in self.shards.iter() {
            let mut shard = s.lock().unwrap_or_else(|p| p.into_inner());
            let before = shard.bytes();
            n += shard.clear();
            self.charge(before, 0);
        }
        n
    }

    /// Every answer still fresh at `now`, for a dump (`sekishoctl
    /// dump-cache`, the save on stop): its key, and its wire bytes with the
    /// TTLs it would be served with now. Failures (SERVFAIL kept for
    /// `servfail-ttl`) are left out: a restart should ask again. One shard
    /// is locked at a time, for a copy of its answers.
    pub fn fresh_entries(&self, now: Instant) -> Vec<saved::Saved> {
        let mut out = Vec::new();
        for s in self.shards.iter() {
            let shard = s.lock().unwrap_or_else(|p| p.into_inner());
            shard.for_each(|key, entry, expires| {
                if expires <= now || entry.response.kind == CacheKind::Failure {
                    return;
                }
                let age = u32::try_from(now.saturating_duration_since(entry.stored).as_secs())
                    .unwrap_or(u32::MAX);
                let mut wire = Vec::with_capacity(entry.response.wire.len());
                entry.response.write_to(&mut wire, age);
                out.push(saved::Saved {
                    key: key.to_vec(),
                    wire,
                });
            });
        }
        out
    }

    /// Drop every entry whose key (lower-case wire name first) satisfies `f`.
    pub fn flush_matching(&self, f: impl Fn(&[u8]) -> bool) -> usize {
        let mut n = 0;
        for s in self.shards.iter() {
            let mut shard = s.lock().unwrap_or_else(|p| p.into_inner());
            let before = shard.bytes();
            n += shard.remove_if(|k, _| f(k));
            self.charge(before, shard.bytes());
        }
        n
    }
}

/// True when `remaining` is at most a tenth of `ttl` seconds.
fn in_last_tenth(remaining: Duration, ttl: u32) -> bool {
    remaining
        .checked_mul(10)
        .is_some_and(|r| r <= Duration::from_secs(u64::from(ttl)))
}

/// Walk `response`, strip OPT, clamp TTLs and compute the lifetime
/// (0 when not cacheable). `None` = malformed.
fn prepare(response: &[u8], limits: &CacheLimits) -> Option<Prepared> {
    if response.len() < HEADER_LEN || response.len() > usize::from(u16::MAX) {
        return None;
    }
    let rcode = response[3] & 0x0f;
    let truncated = response[2] & 0x02 != 0;
    let qd = u16::from_be_bytes([response[4], response[5]]);
    let an = u16::from_be_bytes([response[6], response[7]]);
    let ns = u16::from_be_bytes([response[8], response[9]]);
    let ar = u16::from_be_bytes([response[10], response[11]]);
    if qd != 1 {
        return None;
    }
    let qname_end = wire::skip_name(response, HEADER_LEN)?;
    let mut pos = qname_end + 4;
    if pos > response.len() {
        return None;
    }
    let mut out = Vec::with_capacity(response.len());
    out.extend_from_slice(&response[..pos]);
    out[0] = 0;
    out[1] = 0;
    // AA off (we are not the authority), AD off (not validated here), RA on.
    out[2] &= !0x04;
    out[3] = (out[3] & !0x20) | 0x80;
    for b in &mut out[HEADER_LEN..qname_end] {
        *b = b.to_ascii_lowercase();
    }
    let mut offsets = Vec::new();
    let mut min_ttl = u32::MAX;
    let mut soa_neg_ttl: Option<u32> = None;
    let mut kept_ar: u16 = 0;
    let total = u32::from(an) + u32::from(ns) + u32::from(ar);
    for i in 0..total {
        let rr = wire::skip_record(response, pos)?;
        let in_additional = i >= u32::from(an) + u32::from(ns);
        if rr.rtype == TYPE_OPT {
            pos = rr.end;
            continue;
        }
        if in_additional {
            kept_ar += 1;
        }
        let new_start = out.len();
        out.extend_from_slice(&response[pos..rr.end]);
        let ttl_off = new_start + (rr.ttl_offset - pos);
        let raw = u32::from_be_bytes(response[rr.ttl_offset..rr.ttl_offset + 4].try_into().ok()?);
        // RFC 2181 section 8: a TTL with the top bit set is taken as zero.
        let mut ttl = if raw & 0x8000_0000 != 0 { 0 } else { raw };
        ttl = ttl.clamp(limits.min_ttl, limits.max_ttl.max(limits.min_ttl));
        let in_authority = i >= u32::from(an) && !in_additional;
        if in_authority && rr.rtype == TYPE_SOA && rr.end >= rr.rdata_start + 20 {
            // RFC 2308 section 5: negative TTL = min(SOA TTL, SOA MINIMUM).
            let m = &response[rr.end - 4..rr.end];
            let minimum = u32::from_be_bytes([m[0], m[1], m[2], m[3]]);
            ttl = ttl.min(minimum).min(limits.max_negative_ttl);
            soa_neg_ttl = Some(ttl);
        }
        out[ttl_off..ttl_off + 4].copy_from_slice(&ttl.to_be_bytes());
        offsets.push(u16::try_from(ttl_off).ok()?);
        if !in_additional {
            min_ttl = min_ttl.min(ttl);
        }
        pos = rr.end;
    }
    if pos != response.len() {
        return None;
    }
    out[10..12].copy_from_slice(&kept_ar.to_be_bytes());
    let (kind, mut ttl) = match rcode {
        wire::rcode::NOERROR if an > 0 => (CacheKind::Success, min_ttl),
        // No SOA: RFC 2308 section 5 says do not cache.
        wire::rcode::NOERROR | wire::rcode::NXDOMAIN => {
            (CacheKind::Denial, soa_neg_ttl.unwrap_or(0))
        }
        wire::rcode::SERVFAIL => (CacheKind::Failure, limits.servfail_ttl),
        _ => (CacheKind::Failure, 0),
    };
    if truncated {
        ttl = 0; // never keep a truncated answer
    }
    Some(Prepared {
        wire: out.into_boxed_slice(),
        ttl_offsets: offsets.into_boxed_slice(),
        ttl,
        kind,
        facts: None,
        ede: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::{Name, RData, Record, RecordType};
    use std::str::FromStr;

    fn limits() -> CacheLimits {
        CacheLimits {
            max_entries: 1000,
            min_ttl: 0,
            max_ttl: 86400,
            max_negative_ttl: 3600,
            servfail_ttl: 1,
            max_bytes: 1 << 30,
            max_stale: 0,
        }
    }

    fn prep(c: &PacketCache, r: &[u8]) -> Prepared {
        Prepared::new(r, c.limits()).expect("well-formed")
    }

    /// The echo of an RD=1, CD=0 query that may see AD.
    fn echo(id: u16, qname_wire: &[u8]) -> ClientEcho<'_> {
        ClientEcho {
            id,
            rd: true,
            cd: false,
            wants_ad: true,
            qname_wire,
        }
    }

    #[test]
    fn a_stored_failure_keeps_its_ede_and_never_replaces_a_held_answer() {
        let c = PacketCache::new(CacheLimits {
            max_stale: 3600,
            ..limits()
        });
        let q = b"\x01f\x07example\x02jp\x00";
        let mut k = Vec::new();
        PacketCache::key_into(q, 1, 1, false, false, &mut k);
        let mut fail = Message::new(7, MessageType::Response, OpCode::Query);
        fail.add_query(Query::query(name("f.example.jp."), RecordType::A));
        fail.metadata.response_code = ResponseCode::ServFail;
        let fail = fail.to_vec().expect("encode");
        let t0 = Instant::now();
        // Nothing held: the failure is stored (servfail-ttl) with its EDE.
        let mut p = prep(&c, &fail);
        p.ede = Some((22, Arc::from("no usable answer")));
        assert!(c.insert(&k, p, t0));
        let mut out = Vec::new();
        let hit = c.lookup_full(&k, &echo(1, q), t0, &mut out).expect("hit");
        assert_eq!(hit.kind, CacheKind::Failure);
        assert_eq!(hit.ede.as_ref().map(|(c, _)| *c), Some(22));
        // An answer held, even expired within the stale window, is kept.
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(name("f.example.jp."), RecordType::A));
        m.add_answer(a("f.example.jp.", 2, [192, 0, 2, 1]));
        let t1 = t0 + Duration::from_secs(5);
        assert!(c.insert(&k, prep(&c, &m.to_vec().expect("encode")), t1));
        let later = t1 + Duration::from_secs(10);
        assert!(
            !c.insert(&k, prep(&c, &fail), later),
            "a failure over a held answer"
        );
        let stale = c
            .lookup_stale(&k, &echo(2, q), later, 30, &mut out)
            .expect("the answer is still there");
        assert!(stale.stale);
    }

    #[test]
    fn validated_answers_show_ad_only_to_clients_that_asked_with_do_or_ad() {
        let c = PacketCache::new(limits());
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(name("s.example.jp."), RecordType::A));
        m.add_answer(a("s.example.jp.", 300, [192, 0, 2, 1]));
        let mut p = prep(&c, &m.to_vec().expect("encode"));
        p.set_authentic_data();
        let q = b"\x01s\x07example\x02jp\x00";
        let mut out = Vec::new();
        p.serve(&echo(1, q), &mut out);
        assert!(
            Message::from_vec(&out)
                .expect("decodes")
                .metadata
                .authentic_data
        );
        let plain = ClientEcho {
            wants_ad: false,
            ..echo(2, q)
        };
        p.serve(&plain, &mut out);
        assert!(
            !Message::from_vec(&out)
                .expect("decodes")
                .metadata
                .authentic_data
        );
        // The stored copy keeps AD for the next client that asks.
        let mut k = Vec::new();
        PacketCache::key_into(q, 1, 1, false, false, &mut k);
        assert!(c.insert(&k, p, Instant::now()));
        c.lookup(&k, &plain, Instant::now(), &mut out).expect("hit");
        assert!(
            !Message::from_vec(&out)
                .expect("decodes")
                .metadata
                .authentic_data
        );
        c.lookup(&k, &echo(3, q), Instant::now(), &mut out)
            .expect("hit");
        assert!(
            Message::from_vec(&out)
                .expect("decodes")
                .metadata
                .authentic_data
        );
    }

    #[test]
    fn prepared_answers_clear_aa_and_ad_and_set_ra() {
        let c = PacketCache::new(limits());
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.metadata.authoritative = true;
        m.metadata.authentic_data = true;
        m.add_query(Query::query(name("f.example.jp."), RecordType::A));
        m.add_answer(a("f.example.jp.", 300, [192, 0, 2, 1]));
        let p = prep(&c, &m.to_vec().expect("encode"));
        let mut out = Vec::new();
        let client = ClientEcho {
            rd: false,
            ..echo(9, b"\x01F\x07example\x02jp\x00")
        };
        p.serve(&client, &mut out);
        let back = Message::from_vec(&out).expect("decodes");
        assert!(!back.metadata.authoritative);
        assert!(!back.metadata.authentic_data);
        assert!(back.metadata.recursion_available);
        assert!(!back.metadata.recursion_desired);
        assert_eq!(back.metadata.id, 9);
    }

    #[test]
    fn truncated_and_zero_ttl_answers_are_served_but_not_cached() {
        let c = PacketCache::new(limits());
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.metadata.truncation = true;
        m.add_query(Query::query(name("t.example.jp."), RecordType::A));
        assert_eq!(prep(&c, &m.to_vec().expect("encode")).ttl, 0);
        let r = response(
            "z.example.jp.",
            ResponseCode::NoError,
            vec![a("z.example.jp.", 0, [192, 0, 2, 1])],
            vec![],
        );
        assert!(!c.insert(&key("z.example.jp."), prep(&c, &r), Instant::now()));
    }

    fn name(s: &str) -> Name {
        Name::from_str(s).expect("name")
    }

    fn response(
        qname: &str,
        rcode: ResponseCode,
        answers: Vec<Record>,
        authority: Vec<Record>,
    ) -> Vec<u8> {
        let mut m = Message::new(0x4242, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        m.add_query(Query::query(name(qname), RecordType::A));
        m.add_answers(answers);
        m.add_authorities(authority);
        m.to_vec().expect("encode")
    }

    fn a(owner: &str, ttl: u32, ip: [u8; 4]) -> Record {
        Record::from_rdata(
            name(owner),
            ttl,
            RData::A(A::new(ip[0], ip[1], ip[2], ip[3])),
        )
    }

    fn soa(ttl: u32, minimum: u32) -> Record {
        let s = SOA::new(
            name("example.jp."),
            name("host.example.jp."),
            1,
            3600,
            600,
            86400,
            minimum,
        );
        Record::from_rdata(name("example.jp."), ttl, RData::SOA(s))
    }

    fn key(qname: &str) -> Vec<u8> {
        let q = Query::query(name(qname), RecordType::A);
        let mut m = Message::new(0, MessageType::Query, OpCode::Query);
        m.add_query(q);
        let w = m.to_vec().expect("encode");
        let end = wire::skip_name(&w, HEADER_LEN).expect("name");
        let mut k = Vec::new();
        PacketCache::key_into(&w[HEADER_LEN..end], 1, 1, false, false, &mut k);
        k
    }

    #[test]
    fn a_hit_echoes_the_id_and_counts_ttls_down() {
        let c = PacketCache::new(limits());
        let t0 = Instant::now();
        let r = response(
            "www.example.jp.",
            ResponseCode::NoError,
            vec![a("www.example.jp.", 300, [192, 0, 2, 1])],
            vec![],
        );
        let k = key("www.example.jp.");
        assert!(c.insert(&k, prep(&c, &r), t0));
        let mut out = Vec::new();
        let qname = b"\x03WWW\x07example\x02jp\x00";
        let kind = c.lookup(
            &k,
            &echo(0x9999, qname),
            t0 + Duration::from_secs(100),
            &mut out,
        );
        assert_eq!(kind.map(|k| k.0), Some(CacheKind::Success));
        let m = Message::from_vec(&out).expect("decodes");
        assert_eq!(m.metadata.id, 0x9999);
        assert_eq!(m.answers[0].ttl, 200);
        assert_eq!(
            m.queries[0].name().to_ascii(),
            "WWW.example.jp.",
            "client's case echoed"
        );
    }

    #[test]
    fn an_entry_expires_with_its_smallest_ttl() {
        let c = PacketCache::new(limits());
        let t0 = Instant::now();
        let r = response(
            "x.example.jp.",
            ResponseCode::NoError,
            vec![
                a("x.example.jp.", 300, [192, 0, 2, 1]),
                a("x.example.jp.", 5, [192, 0, 2, 2]),
            ],
            vec![],
        );
        let k = key("x.example.jp.");
        assert!(c.insert(&k, prep(&c, &r), t0));
        let mut out = Vec::new();
        assert!(c
            .lookup(
                &k,
                &echo(1, b"\x01x\x07example\x02jp\x00"),
                t0 + Duration::from_secs(4),
                &mut out
            )
            .is_some());
        assert!(c
            .lookup(
                &k,
                &echo(1, b"\x01x\x07example\x02jp\x00"),
                t0 + Duration::from_secs(5),
                &mut out
            )
            .is_none());
    }

    #[test]
    fn negative_answers_live_for_the_soa_minimum() {
        let c = PacketCache::new(limits());
        let t0 = Instant::now();
        let r = response(
            "nx.example.jp.",
            ResponseCode::NXDomain,
            vec![],
            vec![soa(3600, 60)],
        );
        let k = key("nx.example.jp.");
        assert_eq!(prep(&c, &r).ttl, 60);
        assert!(c.insert(&k, prep(&c, &r), t0));
        let mut out = Vec::new();
        let kind = c.lookup(
            &k,
            &echo(1, b"\x02nx\x07example\x02jp\x00"),
            t0 + Duration::from_secs(10),
            &mut out,
        );
        assert_eq!(kind.map(|k| k.0), Some(CacheKind::Denial));
        let m = Message::from_vec(&out).expect("decodes");
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(m.authorities[0].ttl, 50);
    }

    #[test]
    fn negative_answers_without_soa_are_not_cached() {
        let c = PacketCache::new(limits());
        let r = response("nx.example.jp.", ResponseCode::NXDomain, vec![], vec![]);
        assert!(!c.insert(&key("nx.example.jp."), prep(&c, &r), Instant::now()));
    }

    #[test]
    fn ttls_are_clamped_to_the_configured_range() {
        let mut l = limits();
        l.min_ttl = 60;
        l.max_ttl = 600;
        let c = PacketCache::new(l);
        let r = response(
            "c.example.jp.",
            ResponseCode::NoError,
            vec![a("c.example.jp.", 5, [192, 0, 2, 1])],
            vec![],
        );
        assert_eq!(prep(&c, &r).ttl, 60);
        let r = response(
            "c.example.jp.",
            ResponseCode::NoError,
            vec![a("c.example.jp.", 99999, [192, 0, 2, 1])],
            vec![],
        );
        assert_eq!(prep(&c, &r).ttl, 600);
    }

    /// A positive answer for `q` with `n` A records.
    fn answer(q: &str, n: u8, ttl: u32) -> Vec<u8> {
        let records = (0..n).map(|i| a(q, ttl, [192, 0, 2, i])).collect();
        response(q, ResponseCode::NoError, records, vec![])
    }

    #[test]
    fn the_cache_stays_within_its_entry_bound() {
        let mut l = limits();
        l.max_entries = SHARDS; // one per shard
        let c = PacketCache::new(l);
        let t0 = Instant::now();
        for i in 0..1000 {
            let q = format!("n{i}.example.jp.");
            assert!(c.insert(&key(&q), prep(&c, &answer(&q, 1, 300)), t0));
        }
        assert!(c.len() <= SHARDS);
        assert!(c.stats.evictions.load(Ordering::Relaxed) >= (1000 - SHARDS) as u64);
    }

    #[test]
    fn an_insert_heavy_load_keeps_the_bytes_within_the_bound() {
        let mut l = limits();
        l.max_bytes = (SHARDS * 2048) as u64;
        let c = PacketCache::new(l);
        let t0 = Instant::now();
        let mut stored = 0usize;
        for i in 0..20_000u32 {
            let q = format!("load{i}.example.jp.");
            let r = answer(&q, (i % 8) as u8 + 1, 300);
            let k = key(&q);
            let p = prep(&c, &r);
            // What the entry owns, at the least: its key and its wire bytes.
            let floor = k.len() + r.len();
            assert!(c.insert(&k, p, t0));
            stored += floor;
            assert!(
                c.bytes() <= l.max_bytes as usize,
                "{} bytes after {i} inserts",
                c.bytes()
            );
        }
        assert!(
            stored > 10 * l.max_bytes as usize,
            "the load is over the bound"
        );
        assert!(c.bytes() > l.max_bytes as usize / 2, "the space is used");
        assert!(c.stats.evictions.load(Ordering::Relaxed) > 15_000);
        let per_entry = c.bytes() / c.len();
        assert!(per_entry > 100, "{per_entry} bytes per entry");
        c.flush();
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn an_entry_is_charged_at_least_its_key_and_wire_bytes() {
        let c = PacketCache::new(limits());
        let r = answer("w.example.jp.", 4, 300);
        let k = key("w.example.jp.");
        assert!(c.insert(&k, prep(&c, &r), Instant::now()));
        assert!(c.bytes() >= k.len() + r.len() + PacketCache::ENTRY_OVERHEAD);
        assert_eq!(c.flush_matching(|_| true), 1);
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn frequently_hit_entries_survive_a_scan_of_one_time_entries() {
        let mut l = limits();
        l.max_entries = SHARDS * 20;
        let c = PacketCache::new(l);
        let t0 = Instant::now();
        let hot: Vec<String> = (0..32).map(|i| format!("hot{i}.example.jp.")).collect();
        for q in &hot {
            assert!(c.insert(&key(q), prep(&c, &answer(q, 1, 300)), t0));
        }
        let mut out = Vec::new();
        for i in 0..20_000 {
            let q = format!("scan{i}.example.jp.");
            assert!(c.insert(&key(&q), prep(&c, &answer(&q, 1, 300)), t0));
            if i % 100 == 99 {
                for h in &hot {
                    let qw = wire_name(h);
                    assert!(
                        c.lookup(&key(h), &echo(1, &qw), t0, &mut out).is_some(),
                        "{h} evicted after {i} one-time entries"
                    );
                }
            }
        }
        assert!(c.len() <= SHARDS * 20);
    }

    #[test]
    fn expired_entries_are_evicted_before_live_ones() {
        let mut l = limits();
        l.max_entries = SHARDS * 80;
        l.max_stale = MAX_STALE;
        let c = PacketCache::new(l);
        let t0 = Instant::now();
        let put = |prefix: &str, n: usize, ttl: u32, at: Instant| {
            for i in 0..n {
                let q = format!("{prefix}{i}.example.jp.");
                assert!(c.insert(&key(&q), prep(&c, &answer(&q, 1, ttl)), at));
            }
        };
        // 2400 answers that will have expired, 300 that will not; then 2500
        // more: the shards overflow (about 81 entries for 80 places each on
        // average), and the live ones alone fit (about 44; more than 80 in a
        // shard is a one-in-a-million chance).
        put("old", 2400, 5, t0);
        let t1 = t0 + Duration::from_secs(10);
        put("live", 300, 300, t1);
        put("new", 2500, 300, t1);
        let mut out = Vec::new();
        for i in 0..300 {
            let q = format!("live{i}.example.jp.");
            let qw = wire_name(&q);
            assert!(
                c.lookup(&key(&q), &echo(1, &qw), t1, &mut out).is_some(),
                "{q}"
            );
        }
        assert_eq!(c.stats.evictions.load(Ordering::Relaxed), 0);
        assert!(c.stats.expirations.load(Ordering::Relaxed) > 0);
        assert!(c.len() <= SHARDS * 80);
    }

    /// The wire form of `q`.
    fn wire_name(q: &str) -> Vec<u8> {
        let k = key(q);
        k[..k.len() - 5].to_vec()
    }

    #[test]
    fn expired_answers_are_served_stale_only_when_asked_and_within_the_window() {
        let mut l = limits();
        l.max_stale = 600;
        let c = PacketCache::new(l);
        let t0 = Instant::now();
        let q = "s.example.jp.";
        let qw = wire_name(q);
        assert!(c.insert(&key(q), prep(&c, &answer(q, 2, 60)), t0));
        let mut out = Vec::new();
        let t1 = t0 + Duration::from_secs(100);
        assert!(c.lookup(&key(q), &echo(1, &qw), t1, &mut out).is_none());
        let hit = c
            .lookup_stale(&key(q), &echo(2, &qw), t1, 30, &mut out)
            .expect("stale");
        assert!(hit.stale);
        let m = Message::from_vec(&out).expect("decodes");
        assert_eq!(m.metadata.id, 2);
        assert!(m.answers.iter().all(|r| r.ttl == 30), "{m:?}");
        // A fresh answer through the same call is not stale.
        let fresh = c
            .lookup_stale(
                &key(q),
                &echo(3, &qw),
                t0 + Duration::from_secs(10),
                30,
                &mut out,
            )
            .expect("fresh");
        assert!(!fresh.stale);
        assert_eq!(Message::from_vec(&out).expect("decodes").answers[0].ttl, 50);
        // Past the window: gone.
        let t2 = t0 + Duration::from_secs(60 + 600);
        assert!(c
            .lookup_stale(&key(q), &echo(4, &qw), t2, 30, &mut out)
            .is_none());

        // Without a window nothing is served stale.
        let c0 = PacketCache::new(limits());
        assert!(c0.insert(&key(q), prep(&c0, &answer(q, 1, 60)), t0));
        assert!(c0
            .lookup_stale(&key(q), &echo(5, &qw), t1, 30, &mut out)
            .is_none());
    }

    #[test]
    fn a_cached_servfail_is_never_served_stale() {
        let mut l = limits();
        l.max_stale = 600;
        l.servfail_ttl = 5;
        let c = PacketCache::new(l);
        let t0 = Instant::now();
        let q = "f.example.jp.";
        let r = response(q, ResponseCode::ServFail, vec![], vec![]);
        assert!(c.insert(&key(q), prep(&c, &r), t0));
        let mut out = Vec::new();
        let t1 = t0 + Duration::from_secs(10);
        assert!(c
            .lookup_stale(&key(q), &echo(1, &wire_name(q)), t1, 30, &mut out)
            .is_none());
    }

    #[test]
    fn a_hit_in_the_last_tenth_of_the_ttl_asks_for_a_prefetch_once_per_stored_answer() {
        let c = PacketCache::new(limits());
        let t0 = Instant::now();
        let q = "p.example.jp.";
        let qw = wire_name(q);
        let store = |at| assert!(c.insert(&key(q), prep(&c, &answer(q, 1, 100)), at));
        store(t0);
        let mut out = Vec::new();
        let at = |s| t0 + Duration::from_secs(s);
        let hit = |t| {
            c.lookup_hit(&key(q), &echo(1, &qw), t, &mut Vec::new())
                .expect("hit")
        };
        assert!(!hit(at(89)).prefetch, "11 s of 100 left");
        // The plain lookup never takes the signal.
        assert!(c.lookup(&key(q), &echo(1, &qw), at(91), &mut out).is_some());
        assert!(hit(at(91)).prefetch, "9 s of 100 left");
        assert!(!hit(at(92)).prefetch, "told once");
        // Refreshed: a new stored answer, a new signal when its time comes.
        store(at(93));
        assert!(!hit(at(94)).prefetch);
        assert!(hit(at(184)).prefetch);
    }

    #[test]
    fn opt_records_are_not_stored() {
        let c = PacketCache::new(limits());
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(name("o.example.jp."), RecordType::A));
        m.add_answer(a("o.example.jp.", 300, [192, 0, 2, 1]));
        m.set_edns(hickory_proto::op::Edns::new());
        let r = m.to_vec().expect("encode");
        let k = key("o.example.jp.");
        assert!(c.insert(&k, prep(&c, &r), Instant::now()));
        let mut out = Vec::new();
        c.lookup(
            &k,
            &echo(1, b"\x01o\x07example\x02jp\x00"),
            Instant::now(),
            &mut out,
        )
        .expect("hit");
        assert_eq!(&out[10..12], &[0, 0], "ARCOUNT without OPT");
    }

    #[test]
    fn flush_matching_removes_a_subtree_only() {
        let c = PacketCache::new(limits());
        let t0 = Instant::now();
        for q in ["a.example.jp.", "b.a.example.jp.", "other.jp."] {
            let r = response(
                q,
                ResponseCode::NoError,
                vec![a(q, 300, [192, 0, 2, 1])],
                vec![],
            );
            assert!(c.insert(&key(q), prep(&c, &r), t0));
        }
        let removed = c.flush_matching(|k| k.windows(12).any(|w| w == b"\x07example\x02jp\x00"));
        assert_eq!(removed, 2);
        assert_eq!(c.len(), 1);
    }
}
