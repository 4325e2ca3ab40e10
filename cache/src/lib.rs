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
//! `max-negative-ttl`. The cache is bounded in entries; when a shard is full
//! the oldest insertion is evicted (FIFO; expired entries go first as they
//! are met). Stored responses carry no OPT record; the caller appends one
//! when the client used EDNS.
//!
//! The cache holds real data only. Policy (RPZ) is applied after a lookup,
//! so a policy change takes effect at once without flushing anything.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sekisho_rpz::ResponseFacts;

use sekisho_wire::{self as wire, Query, HEADER_LEN, TYPE_OPT, TYPE_SOA};

/// Number of independently locked shards (a power of two).
const SHARDS: usize = 64;

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

/// One stored response.
#[derive(Debug)]
struct Entry {
    /// The response.
    response: Prepared,
    /// When it was stored.
    stored: Instant,
    /// When it stops being served.
    expires: Instant,
    /// Insertion number, to tell a replaced entry from the one queued for eviction.
    generation: u64,
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
#[derive(Debug, Default)]
struct Shard {
    /// Stored responses by key.
    map: HashMap<Box<[u8]>, Entry>,
    /// Insertion order for eviction: (key, generation).
    order: VecDeque<(Box<[u8]>, u64)>,
}

/// Counters the metrics endpoint reads.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Entries evicted to make room.
    pub evictions: AtomicU64,
    /// Entries dropped because they expired.
    pub expirations: AtomicU64,
}

/// A sharded, bounded packet cache.
#[derive(Debug)]
pub struct PacketCache {
    /// The shards.
    shards: Box<[Mutex<Shard>]>,
    /// Entries allowed per shard.
    per_shard: usize,
    /// TTL clamps.
    limits: CacheLimits,
    /// Monotonic insertion counter.
    generation: AtomicU64,
    /// Eviction counters.
    pub stats: CacheStats,
}

impl PacketCache {
    /// An empty cache with these limits.
    pub fn new(limits: CacheLimits) -> Self {
        let per_shard = limits.max_entries.div_ceil(SHARDS).max(1);
        PacketCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard,
            limits,
            generation: AtomicU64::new(0),
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

    /// Which shard holds `key`.
    fn shard(&self, key: &[u8]) -> &Mutex<Shard> {
        // FNV-1a: cheap, and keys are short.
        let mut h: u32 = 0x811c_9dc5;
        for b in key {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
        &self.shards[(h as usize) & (SHARDS - 1)]
    }

    /// Serve `key` into `out` as the answer to the query `client` echoes.
    /// Returns the kind of answer served, or `None` on a miss.
    pub fn lookup(
        &self,
        key: &[u8],
        client: &ClientEcho<'_>,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Option<(CacheKind, Option<Arc<ResponseFacts>>)> {
        let found = {
            let mut shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
            let entry = shard.map.get(key)?;
            if now >= entry.expires {
                shard.map.remove(key);
                self.stats.expirations.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            let age = u32::try_from(now.saturating_duration_since(entry.stored).as_secs())
                .unwrap_or(u32::MAX);
            entry.response.write_to(out, age);
            (entry.response.kind, entry.response.facts.clone())
        };
        patch_for_client(out, client);
        Some(found)
    }

    /// Store a prepared response under `key`; `false` if it is not
    /// cacheable (zero TTL, truncated, negative without SOA...).
    pub fn insert(&self, key: &[u8], response: Prepared, now: Instant) -> bool {
        if response.ttl == 0 {
            return false;
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            expires: now + Duration::from_secs(u64::from(response.ttl)),
            response,
            stored: now,
            generation,
        };
        let mut shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        let key: Box<[u8]> = key.into();
        shard.order.push_back((key.clone(), generation));
        shard.map.insert(key, entry);
        while shard.map.len() > self.per_shard {
            let Some((old_key, old_gen)) = shard.order.pop_front() else {
                break;
            };
            if shard
                .map
                .get(&old_key)
                .is_some_and(|e| e.generation == old_gen)
            {
                let expired = shard.map.get(&old_key).is_some_and(|e| now >= e.expires);
                shard.map.remove(&old_key);
                let counter = if expired {
                    &self.stats.expirations
                } else {
                    &self.stats.evictions
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Keep the order queue from growing without bound through replacements.
        if shard.order.len() > 2 * self.per_shard + 16 {
            let Shard { map, order } = &mut *shard;
            order.retain(|(k, g)| map.get(k).is_some_and(|e| e.generation == *g));
        }
        true
    }

    /// The TTL clamps in force.
    pub fn limits(&self) -> &CacheLimits {
        &self.limits
    }

    /// Number of stored responses (expired ones not yet met included).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).map.len())
            .sum()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop everything; returns how many entries went.
    pub fn flush(&self) -> usize {
        self.flush_matching(|_| true)
    }

    /// Drop every entry whose key (lower-case wire name first) satisfies `f`.
    pub fn flush_matching(&self, f: impl Fn(&[u8]) -> bool) -> usize {
        let mut n = 0;
        for s in self.shards.iter() {
            let mut shard = s.lock().unwrap_or_else(|p| p.into_inner());
            let before = shard.map.len();
            shard.map.retain(|k, _| !f(k));
            n += before - shard.map.len();
            if shard.map.is_empty() {
                shard.order.clear();
            }
        }
        n
    }
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

    #[test]
    fn the_cache_stays_within_its_bound_by_evicting_the_oldest() {
        let mut l = limits();
        l.max_entries = SHARDS; // one per shard
        let c = PacketCache::new(l);
        let t0 = Instant::now();
        for i in 0..1000 {
            let q = format!("n{i}.example.jp.");
            let r = response(
                &q,
                ResponseCode::NoError,
                vec![a(&q, 300, [192, 0, 2, 1])],
                vec![],
            );
            assert!(c.insert(&key(&q), prep(&c, &r), t0));
        }
        assert!(c.len() <= SHARDS);
        assert!(c.stats.evictions.load(Ordering::Relaxed) >= (1000 - SHARDS) as u64);
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
