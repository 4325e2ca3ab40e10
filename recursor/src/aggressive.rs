//! Aggressive use of the DNSSEC-validated cache (RFC 8198): NXDOMAIN and
//! NODATA answered from NSEC and NSEC3 records the validator has already
//! proven, without asking the zone's servers.
//!
//! ```text
//!  validate_step: a denial proven secure (NSEC or NSEC3, not opt-out)
//!     └─▶ Denials::store(zone, SOA + NSEC/NSEC3 + RRSIGs)      per zone, TTL per RFC 9077
//!  resolve, per name of the chain, before iterating:
//!     validating, not CD, not domain-insecure, zone known Secure, no known cut below it
//!     └─▶ synthesise(zone, name, type):
//!           NSEC:  covering NSEC for the name + covering NSEC for *.<closest encloser> ─▶ NXDOMAIN
//!                  matching NSEC without the type (and without CNAME)                 ─▶ NODATA
//!           NSEC3: matching NSEC3 without the type                                    ─▶ NODATA
//!                  closest encloser matched, next closer covered (never opt-out),
//!                  *.<closest encloser> covered                                       ─▶ NXDOMAIN
//!     └─▶ a Step like the zone's own negative answer (SOA, the proofs, their RRSIGs),
//!         secure, with the TTL left of its records; on to the answer and the packet cache
//!  validate_step: a wildcard answer proven secure with NSEC (no closer name)
//!     └─▶ Denials::store_wildcards(zone, *.<ce> RRset + RRSIGs, the NSEC that proved it)
//!  synthesise, first:  *.<ce> of the type kept, and a kept NSEC of it covering the name
//!                      with <ce> as the closest encloser                             ─▶ the
//!                      wildcard's RRset and RRSIGs under the name, the NSEC as proof
//! ```
//!
//! Why: a random-subdomain flood against a signed zone ("water torture")
//! sends every query to the zone's servers, since no two names repeat and the
//! packet cache never hits. One validated NXDOMAIN proves a whole span of
//! names absent; answering the rest of the span from it spares the servers
//! and answers at cache speed (RFC 8198 section 6).
//!
//! What is stored is only what the validator verified, with the keys of the
//! zone that signed it: the RRsets of a denial step whose proof came out
//! secure. RRSIGs are kept only when their signer is the zone and their label
//! count is the owner's (an NSEC "expanded" from a wildcard owner could deny
//! names that exist). An NSEC whose owner is a delegation point (NS without
//! SOA) or a DNAME proves nothing below it (RFC 4035 section 5.4, RFC 6672
//! section 5.3.2): such a record never yields an NXDOMAIN for names below its
//! owner, nor a NODATA for anything but DS at the owner. An opt-out NSEC3
//! span covering the next closer name allows unsigned delegations in it, so
//! it never yields an NXDOMAIN (RFC 5155 section 9.2).
//!
//! TTL (RFC 8198 section 5.4 as updated by RFC 9077 section 3.3): each record
//! is kept for min(its TTL, SOA TTL, SOA MINIMUM, what is left of its best
//! RRSIG's validity, `cache.max-ttl`), and a synthesised answer carries what
//! is left of the shortest lifetime of the records it uses.
//!
//! Bounds: the store is one map of zones in the recursor's caches, charged
//! its bytes against its share of `cache.max-cache-size` and evicted by
//! CLOCK like the others ([`super::infra`]); one zone keeps at most
//! [`MAX_PER_ZONE`] NSEC and as many NSEC3 records, the soonest to expire
//! going first. NSEC3 hashes computed to look a name up are charged to the
//! query's [`Work`] like the validator's.
//!
//! Wildcard answers (RFC 8198 section 5.3) are synthesised with NSEC only
//! (as BIND 9.18 does; Unbound's aggressive NSEC is NSEC-only altogether):
//! a wildcard RRset is kept with the NSEC records that proved, for the names
//! it answered, that no closer name exists, and answers a new name that one
//! of those NSEC covers with the same closest encloser. A wildcard CNAME or
//! a type not yet seen goes to the servers, as do NSEC3 zones. A zone keeps
//! at most [`MAX_PER_ZONE`] wildcard RRsets, each with at most
//! [`MAX_PROOFS`] NSEC records; their lifetime is that of the RRset, its
//! RRSIGs and `cache.max-ttl`, and a proof's that of the NSEC and its
//! RRSIGs, each capped by the other when answering.

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::mem::size_of;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::dnssec::rdata::{NSEC, NSEC3};
use hickory_proto::dnssec::Nsec3HashAlgorithm;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sekisho_cache::clock::{Bounds, ClockMap, ALLOC_HEADER};
use sekisho_cache::size;

use super::classify::rrsig_covers;
use super::infra::{by_labels, KeyHash, Step, StepKind, ZoneSecurity};
use super::validate::{
    as_nsec, as_nsec3, as_rrsig, below_cut_or_dname, nodata_holds, nsec_closest_encloser,
    nsec_covers, nsec_denies, nsec_wildcard, owner_hash, wildcard_at, Hasher, Work,
    MAX_NSEC3_ITERATIONS,
};
use super::{Failure, Recursor};

/// Most NSEC records (and, separately, NSEC3 records) kept for one zone:
/// one zone cannot take the whole store, and a lookup stays a few B-tree
/// steps.
pub(crate) const MAX_PER_ZONE: usize = 1024;

/// NSEC records kept per wildcard RRset (the spans that proved its answers).
pub(crate) const MAX_PROOFS: usize = 8;

/// What a B-tree holds per entry beyond the key and value themselves: its
/// share of node headers and spare room (nodes are between half and full).
const BTREE_OVERHEAD: usize = 16;

/// One stored record with its RRSIGs.
#[derive(Debug, Clone)]
struct Held {
    /// The NSEC, NSEC3 or SOA first, then its RRSIGs; every TTL is the
    /// lifetime it was stored with.
    records: Vec<Record>,
    /// When it stops being usable.
    expires: Instant,
}

impl Held {
    /// The NSEC, NSEC3 or SOA record itself.
    fn record(&self) -> Option<&Record> {
        self.records.first()
    }

    /// Bytes it owns on the heap.
    fn heap_bytes(&self) -> usize {
        size::records_heap(&self.records)
    }
}

/// The validated denial records of one zone.
#[derive(Debug, Default)]
struct ZoneDenials {
    /// The zone's SOA with its RRSIGs (the SOA of negative answers).
    soa: Option<Held>,
    /// NSEC records by owner (lower case; canonical order, RFC 4034 section 6.1).
    nsec: BTreeMap<Name, Held>,
    /// NSEC3 records by the hash in their owner name.
    nsec3: BTreeMap<Vec<u8>, Held>,
    /// Wildcard RRsets by owner (`*.<closest encloser>`, lower case) and type.
    wild: BTreeMap<(Name, u16), Wild>,
}

/// A validated wildcard RRset and the NSEC records that proved its answers.
#[derive(Debug, Clone)]
struct Wild {
    /// The RRset under the wildcard's own name, then its RRSIGs.
    rrset: Held,
    /// NSEC records (with RRSIGs), each covering a name the wildcard answered.
    proofs: Vec<Held>,
}

impl Wild {
    /// Bytes it owns on the heap.
    fn heap_bytes(&self) -> usize {
        self.rrset.heap_bytes()
            + self
                .proofs
                .iter()
                .map(|h| size_of::<Held>() + h.heap_bytes())
                .sum::<usize>()
            + ALLOC_HEADER
    }
}

impl ZoneDenials {
    /// Bytes it owns on the heap, as charged to the map.
    fn heap_bytes(&self) -> usize {
        let soa = self.soa.as_ref().map_or(0, Held::heap_bytes);
        let nsec: usize = self
            .nsec
            .iter()
            .map(|(k, h)| {
                size_of::<(Name, Held)>() + BTREE_OVERHEAD + size::name_heap(k) + h.heap_bytes()
            })
            .sum();
        let nsec3: usize = self
            .nsec3
            .iter()
            .map(|(k, h)| {
                size_of::<(Vec<u8>, Held)>()
                    + BTREE_OVERHEAD
                    + k.len()
                    + ALLOC_HEADER
                    + h.heap_bytes()
            })
            .sum();
        let wild: usize = self
            .wild
            .iter()
            .map(|((k, _), w)| {
                size_of::<((Name, u16), Wild)>()
                    + BTREE_OVERHEAD
                    + size::name_heap(k)
                    + w.heap_bytes()
            })
            .sum();
        soa + nsec + nsec3 + wild
    }

    /// When the last of its records expires.
    fn expires(&self) -> Option<Instant> {
        self.soa
            .iter()
            .chain(self.nsec.values())
            .chain(self.nsec3.values())
            .chain(self.wild.values().map(|w| &w.rrset))
            .map(|h| h.expires)
            .max()
    }

    /// Drop what expired by `now`.
    fn prune(&mut self, now: Instant) {
        if self.soa.as_ref().is_some_and(|h| h.expires <= now) {
            self.soa = None;
        }
        self.nsec.retain(|_, h| h.expires > now);
        self.nsec3.retain(|_, h| h.expires > now);
        self.wild.retain(|_, w| {
            w.proofs.retain(|h| h.expires > now);
            w.rrset.expires > now && !w.proofs.is_empty()
        });
    }

    /// The live SOA.
    fn soa(&self, now: Instant) -> Option<&Held> {
        self.soa.as_ref().filter(|h| h.expires > now)
    }

    /// The live NSEC at `name` or the closest one before it in canonical
    /// order: the only one that can match or cover it.
    fn nsec_at_or_before(&self, name: &Name, now: Instant) -> Option<(&Name, &Held)> {
        self.nsec
            .range(..=name.to_lowercase())
            .next_back()
            .filter(|(_, h)| h.expires > now)
    }

    /// The NSEC3 parameters lookups use: those of the latest-expiring live
    /// record (a zone changing its salt has two chains for a while).
    fn nsec3_params(&self, now: Instant) -> Option<(Name, NSEC3)> {
        self.nsec3
            .values()
            .filter(|h| h.expires > now)
            .max_by_key(|h| h.expires)
            .and_then(|h| {
                let r = h.record()?;
                Some((r.name.clone(), as_nsec3(r)?.clone()))
            })
    }

    /// The live NSEC3 whose owner hash is `hash`, with the parameters `p`.
    fn nsec3_matching(&self, hash: &[u8], p: &NSEC3, now: Instant) -> Option<&Held> {
        self.nsec3
            .get(hash)
            .filter(|h| h.expires > now && same_params(h, p))
    }

    /// The live NSEC3 whose span covers `hash`, with the parameters `p`.
    fn nsec3_covering(&self, hash: &[u8], p: &NSEC3, now: Instant) -> Option<&Held> {
        // The span starting before `hash`, or the last one (it wraps around).
        let (owner, held) = self
            .nsec3
            .range::<[u8], _>((std::ops::Bound::Unbounded, std::ops::Bound::Excluded(hash)))
            .next_back()
            .or_else(|| self.nsec3.iter().next_back())?;
        if held.expires <= now || !same_params(held, p) {
            return None;
        }
        let next = as_nsec3(held.record()?)?.next_hashed_owner_name();
        let covers = if owner.as_slice() < next {
            owner.as_slice() < hash && hash < next
        } else {
            hash > owner.as_slice() || hash < next
        };
        covers.then_some(held)
    }
}

/// True when the NSEC3 in `h` has the hash parameters of `p`.
fn same_params(h: &Held, p: &NSEC3) -> bool {
    h.record().and_then(as_nsec3).is_some_and(|n| {
        n.hash_algorithm() == p.hash_algorithm()
            && n.iterations() == p.iterations()
            && n.salt() == p.salt()
    })
}

/// The validated denial records of every zone, bounded in bytes.
#[derive(Debug)]
pub(crate) struct Denials {
    /// Zones by apex (lower case).
    map: Mutex<ClockMap<Name, ZoneDenials>>,
    /// Keyed hashing: zone names come from the network.
    hasher: RandomState,
    /// What the map may hold.
    bounds: Bounds,
}

impl Denials {
    /// An empty store of at most `max_bytes`.
    pub(crate) fn new(max_bytes: usize) -> Denials {
        Denials {
            map: Mutex::new(ClockMap::new()),
            hasher: RandomState::new(),
            bounds: Bounds::bytes(max_bytes),
        }
    }

    /// The lock.
    fn lock(&self) -> std::sync::MutexGuard<'_, ClockMap<Name, ZoneDenials>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on the live records of `zone` (and mark the zone used).
    fn with_zone<R>(&self, zone: &Name, f: impl FnOnce(&ZoneDenials) -> R) -> Option<R> {
        // Names compare and hash without regard to case: no lower-cased copy.
        let hash = zone.key_hash(&self.hasher);
        let m = self.lock();
        let slot = m.get(hash, zone)?;
        slot.touch();
        Some(f(slot.value()))
    }

    /// True when something is stored for the zone whose lower-cased wire
    /// labels (no root label) are `lower`.
    pub(crate) fn holds_labels(&self, lower: &[u8]) -> bool {
        by_labels(&self.lock(), &self.hasher, lower).is_some()
    }

    /// Keep the denial records of `authority`, a negative answer of `zone`
    /// whose every RRset the validator verified with the zone's keys and
    /// whose proof came out secure. `expanded` names the owners whose RRset
    /// verified as a wildcard expansion (never kept). `max_ttl` caps every
    /// lifetime (`cache.max-ttl`); `unix` is the time RRSIGs are judged at.
    /// Returns how many NSEC/NSEC3 records were kept.
    pub(crate) fn store(
        &self,
        zone: &Name,
        authority: &[Record],
        expanded: &[Name],
        max_ttl: u32,
        unix: u32,
        now: Instant,
    ) -> usize {
        let Some((soa, soa_ttl)) = authority.iter().find_map(|r| match &r.data {
            RData::SOA(s) if r.name == *zone => Some((r, r.ttl.min(s.minimum))),
            _ => None,
        }) else {
            // No SOA, no negative TTL and nothing to answer with.
            return 0;
        };
        let cap = soa_ttl.min(max_ttl);
        let soa = held(zone, soa, authority, cap, unix, now);
        let mut nsec = Vec::new();
        let mut nsec3 = Vec::new();
        for r in authority {
            if expanded.contains(&r.name) || !zone.zone_of(&r.name) {
                continue;
            }
            if let Some(n) = as_nsec(r) {
                if !zone.zone_of(n.next_domain_name()) {
                    continue;
                }
                if let Some(h) = held(zone, r, authority, cap, unix, now) {
                    nsec.push((r.name.to_lowercase(), h));
                }
            } else if let Some(n) = as_nsec3(r) {
                // Only records a lookup could ever hash for (RFC 9276).
                if r.name.base_name() != *zone
                    || n.hash_algorithm() != Nsec3HashAlgorithm::SHA1
                    || n.iterations() > MAX_NSEC3_ITERATIONS
                {
                    continue;
                }
                let (Some(hash), Some(h)) = (
                    owner_hash(&r.name),
                    held(zone, r, authority, cap, unix, now),
                ) else {
                    continue;
                };
                nsec3.push((hash, h));
            }
        }
        let kept = nsec.len() + nsec3.len();
        if kept == 0 || soa.is_none() {
            return 0;
        }
        self.merge(zone, now, |z| {
            z.soa = soa;
            z.nsec.extend(nsec);
            z.nsec3.extend(nsec3);
            trim(&mut z.nsec, |h| h.expires);
            trim(&mut z.nsec3, |h| h.expires);
        });
        kept
    }

    /// Take `zone`'s records out of the map, drop what expired, let `add`
    /// add to them, and put them back, charged their bytes and expiring with
    /// the latest of them (a zone larger than the whole bound is not kept).
    fn merge(&self, zone: &Name, now: Instant, add: impl FnOnce(&mut ZoneDenials)) {
        let key = zone.to_lowercase();
        let hash = key.key_hash(&self.hasher);
        let mut m = self.lock();
        let mut z = ZoneDenials::default();
        m.update(hash, &key, |v| {
            z = std::mem::take(v);
            0
        });
        z.prune(now);
        add(&mut z);
        let Some(expires) = z.expires() else {
            return;
        };
        let heap = size::name_heap(&key) + z.heap_bytes();
        let _ = m.insert(hash, key, z, expires, heap, now, &self.bounds);
    }

    /// Keep the wildcard RRsets of a validated answer of `zone`: `expanded`
    /// names each owner whose RRset verified as a wildcard expansion, with
    /// the label count of the RRSIG that verified it; `answers` holds those
    /// RRsets and their RRSIGs, `denials` the verified NSEC/NSEC3 records of
    /// the answer. An RRset is kept only with an NSEC that proves its owner
    /// has no closer match (NSEC3 zones: nothing is kept). `max_ttl` caps
    /// every lifetime (`cache.max-ttl`); `unix` is the time RRSIGs are
    /// judged at. Returns how many RRsets were kept.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn store_wildcards(
        &self,
        zone: &Name,
        answers: &[Record],
        expanded: &[(Name, u8)],
        denials: &[Record],
        max_ttl: u32,
        unix: u32,
        now: Instant,
    ) -> usize {
        let mut kept: Vec<((Name, u16), Wild)> = Vec::new();
        for (owner, labels) in expanded {
            let ce = owner.trim_to(usize::from(*labels));
            let Some(wild) = wildcard_at(&ce) else {
                continue;
            };
            if !zone.zone_of(&ce) {
                continue;
            }
            let proofs: Vec<Held> = denials
                .iter()
                .filter(|r| {
                    as_nsec(r).is_some_and(|n| {
                        zone.zone_of(n.next_domain_name())
                            && proves_wildcard(&r.name, n, zone, owner, &ce)
                    })
                })
                .filter_map(|r| held(zone, r, denials, max_ttl, unix, now))
                .collect();
            if proofs.is_empty() {
                continue;
            }
            let mut types: Vec<RecordType> = Vec::new();
            for r in answers.iter().filter(|r| r.name == *owner) {
                let t = r.record_type();
                if t != RecordType::RRSIG && !types.contains(&t) {
                    types.push(t);
                }
            }
            let renamed = |r: &Record| {
                let mut r = r.clone();
                r.name = wild.clone();
                r
            };
            for t in types {
                let set: Vec<Record> = answers
                    .iter()
                    .filter(|r| r.name == *owner && r.record_type() == t)
                    .map(renamed)
                    .collect();
                let sigs: Vec<Record> = answers
                    .iter()
                    .filter(|r| r.name == *owner && rrsig_covers(r) == Some(t))
                    .filter(|r| as_rrsig(r).is_some_and(|s| s.input().num_labels == *labels))
                    .map(renamed)
                    .collect();
                let Some(rrset) = held_set(zone, set, &sigs, max_ttl, unix, now) else {
                    continue;
                };
                kept.push((
                    (wild.to_lowercase(), u16::from(t)),
                    Wild {
                        rrset,
                        proofs: proofs.clone(),
                    },
                ));
            }
        }
        let n = kept.len();
        if n == 0 {
            return 0;
        }
        self.merge(zone, now, |z| merge_wild(z, kept));
        n
    }

    /// Forget everything.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// Forget what could deny the names `doomed` picks: the zones at or
    /// below `top` when `subtree`, else the zone `top` itself; in the zones
    /// above it, the NSEC records whose owner or next name is doomed or
    /// whose span covers `top`, and all NSEC3 records (their hashes do not
    /// say which names they cover). Returns how many records went.
    pub(crate) fn flush(&self, top: &Name, subtree: bool) -> usize {
        let top = top.to_lowercase();
        let doomed = |n: &Name| {
            if subtree {
                top.zone_of(n)
            } else {
                *n == top
            }
        };
        let mut m = self.lock();
        let mut gone = 0;
        m.remove_if(|zone, z| {
            let hit = doomed(zone);
            if hit {
                gone += z.nsec.len() + z.nsec3.len() + z.wild.len();
            }
            hit
        });
        let mut above = top.clone();
        while !above.is_root() {
            above = above.base_name();
            let hash = above.key_hash(&self.hasher);
            m.update(hash, &above, |z| {
                let before = z.nsec.len() + z.nsec3.len();
                z.nsec.retain(|owner, h| {
                    let next = h.record().and_then(as_nsec).map(|n| n.next_domain_name());
                    !(doomed(owner)
                        || next.is_some_and(|n| doomed(&n.to_lowercase()))
                        || next.is_some_and(|n| nsec_covers(owner, n, &top)))
                });
                z.nsec3.clear();
                gone += before - z.nsec.len() + z.wild.len();
                // A wildcard above could answer the flushed names: it goes too.
                z.wild.clear();
                z.heap_bytes()
            });
        }
        gone
    }

    /// Bytes charged.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes()
    }

    /// A negative answer for (`name`, `qtype`) in `zone` proven by the
    /// stored records, or `None` when they prove nothing (then the zone's
    /// servers are asked). The caller has checked that `zone` is secure and
    /// is the deepest known zone of `name`. NSEC3 hashes are charged to `w`;
    /// `Err` when its bound or the deadline stops them.
    pub(crate) fn synthesise(
        &self,
        zone: &Name,
        name: &Name,
        qtype: RecordType,
        w: &mut Work,
        now: Instant,
    ) -> Result<Option<Step>, Failure> {
        if let Some(step) = self
            .with_zone(zone, |z| wildcard_answer(z, zone, name, qtype, now))
            .flatten()
        {
            return Ok(Some(step));
        }
        let by_nsec = self
            .with_zone(zone, |z| {
                let soa = z.soa(now)?.clone();
                let (kind, proofs) = nsec_proof(z, zone, name, qtype, now)?;
                Some((soa, kind, proofs))
            })
            .flatten();
        let found = match by_nsec {
            Some(f) => Some(f),
            None => self.nsec3_proof(zone, name, qtype, w, now)?,
        };
        Ok(found.and_then(|(soa, kind, proofs)| step(zone, kind, &soa, &proofs, now)))
    }

    /// The NSEC3 proof of a negative answer for (`name`, `qtype`), with the
    /// zone's SOA.
    #[allow(clippy::type_complexity)]
    fn nsec3_proof(
        &self,
        zone: &Name,
        name: &Name,
        qtype: RecordType,
        w: &mut Work,
        now: Instant,
    ) -> Result<Option<(Held, StepKind, Vec<Held>)>, Failure> {
        let Some(Some((soa, (owner, params)))) =
            self.with_zone(zone, |z| Some((z.soa(now)?.clone(), z.nsec3_params(now)?)))
        else {
            return Ok(None);
        };
        let mut h = Hasher::new(w);
        let mut hash = |n: &Name| h.hash(n, &owner, &params);
        let matching = |d: &[u8]| {
            self.with_zone(zone, |z| z.nsec3_matching(d, &params, now).cloned())
                .flatten()
        };
        let covering = |d: &[u8]| {
            self.with_zone(zone, |z| z.nsec3_covering(d, &params, now).cloned())
                .flatten()
        };
        // NODATA (RFC 5155 section 8.5): the name's own NSEC3 without the type.
        let Some(d) = hash(name)? else {
            return Ok(None);
        };
        if let Some(m) = matching(&d) {
            let types = m.record().and_then(as_nsec3).map(types_of3);
            return Ok(match types {
                Some(t) if nodata_holds(&t, qtype, name, zone) => {
                    Some((soa, StepKind::NoData, vec![m]))
                }
                _ => None,
            });
        }
        // NXDOMAIN (RFC 5155 section 8.4): the closest encloser proof and
        // the wildcard at the closest encloser covered.
        let mut next_closer = name.clone();
        let mut ce = name.base_name();
        while zone.zone_of(&ce) {
            let Some(d) = hash(&ce)? else {
                return Ok(None);
            };
            if let Some(m) = matching(&d) {
                let Some(t) = m.record().and_then(as_nsec3).map(types_of3) else {
                    return Ok(None);
                };
                if below_cut_or_dname(&t, &ce, zone) {
                    return Ok(None);
                }
                let Some(nc) = hash(&next_closer)? else {
                    return Ok(None);
                };
                let Some(cover) = covering(&nc) else {
                    return Ok(None);
                };
                // RFC 5155 section 9.2: an opt-out span may hide unsigned
                // delegations, so it never proves that a name does not exist.
                if cover
                    .record()
                    .and_then(as_nsec3)
                    .is_none_or(|n| n.opt_out())
                {
                    return Ok(None);
                }
                let Some(wild) = wildcard_at(&ce) else {
                    return Ok(None);
                };
                let Some(wd) = hash(&wild)? else {
                    return Ok(None);
                };
                if matching(&wd).is_some() {
                    // A wildcard exists: its answer is not synthesised here.
                    return Ok(None);
                }
                let Some(wcover) = covering(&wd) else {
                    return Ok(None);
                };
                return Ok(Some((soa, StepKind::NxDomain, vec![m, cover, wcover])));
            }
            if ce == *zone || ce.is_root() {
                break;
            }
            next_closer = ce.clone();
            ce = ce.base_name();
        }
        Ok(None)
    }
}

/// The record `r` of `zone` with its RRSIGs from `authority`, kept for
/// min(`cap`, its TTL, what is left of its best RRSIG); `None` without a
/// usable RRSIG.
fn held(
    zone: &Name,
    r: &Record,
    authority: &[Record],
    cap: u32,
    unix: u32,
    now: Instant,
) -> Option<Held> {
    held_set(zone, vec![r.clone()], authority, cap, unix, now)
}

/// [`held`] for the RRset `set` (one owner, one type).
fn held_set(
    zone: &Name,
    set: Vec<Record>,
    authority: &[Record],
    cap: u32,
    unix: u32,
    now: Instant,
) -> Option<Held> {
    let r = set.first()?;
    let t = r.record_type();
    let sigs: Vec<&Record> = authority
        .iter()
        .filter(|s| s.name == r.name && rrsig_covers(s) == Some(t))
        .filter(|s| {
            as_rrsig(s).is_some_and(|sig| {
                let i = sig.input();
                // The zone's own signature over this owner, not a wildcard
                // expansion, valid now (RFC 1982 arithmetic, as RFC 4034 says).
                i.signer_name == *zone
                    && i.num_labels == r.name.num_labels()
                    && (unix.wrapping_sub(i.sig_inception.get()) as i32) >= 0
                    && (i.sig_expiration.get().wrapping_sub(unix) as i32) > 0
            })
        })
        .collect();
    let left = sigs
        .iter()
        .filter_map(|s| as_rrsig(s))
        .map(|sig| sig.input().sig_expiration.get().wrapping_sub(unix))
        .max()?;
    let ttl = set.iter().map(|x| x.ttl).min()?.min(cap).min(left);
    if ttl == 0 {
        return None;
    }
    let mut records = Vec::with_capacity(set.len() + sigs.len());
    records.extend(sigs.into_iter().cloned());
    records.splice(0..0, set);
    for x in &mut records {
        x.ttl = ttl;
    }
    Some(Held {
        records,
        expires: now.checked_add(Duration::from_secs(u64::from(ttl)))?,
    })
}

/// Add the wildcard RRsets `kept` to `z`: a new RRset replaces the kept one
/// of its owner and type, and keeps the spans proven before (the newest
/// first, at most [`MAX_PROOFS`]).
fn merge_wild(z: &mut ZoneDenials, kept: Vec<((Name, u16), Wild)>) {
    for (k, mut w) in kept {
        if let Some(old) = z.wild.remove(&k) {
            for p in old.proofs {
                let owner = p.record().map(|r| r.name.clone());
                let known = w
                    .proofs
                    .iter()
                    .any(|q| q.record().map(|r| r.name.clone()) == owner);
                if !known {
                    w.proofs.push(p);
                }
            }
            w.proofs.truncate(MAX_PROOFS);
        }
        z.wild.insert(k, w);
    }
    trim(&mut z.wild, |w| w.rrset.expires);
}

/// Keep at most [`MAX_PER_ZONE`] entries, dropping the soonest to expire.
fn trim<K: Ord + Clone, V>(m: &mut BTreeMap<K, V>, expires: impl Fn(&V) -> Instant) {
    while m.len() > MAX_PER_ZONE {
        let Some(k) = m
            .iter()
            .min_by_key(|(_, v)| expires(v))
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        m.remove(&k);
    }
}

/// The types an NSEC3 record lists.
fn types_of3(n: &NSEC3) -> Vec<RecordType> {
    n.type_bit_maps().collect()
}

/// The NSEC proof of a negative answer for (`name`, `qtype`) in `zone`.
fn nsec_proof(
    z: &ZoneDenials,
    zone: &Name,
    name: &Name,
    qtype: RecordType,
    now: Instant,
) -> Option<(StepKind, Vec<Held>)> {
    let (owner, held) = z.nsec_at_or_before(name, now)?;
    let nsec = held.record().and_then(as_nsec)?;
    let types: Vec<RecordType> = nsec.type_bit_maps().collect();
    let next = nsec.next_domain_name();
    if owner == name {
        // RFC 4035 section 3.1.3.1: the name exists without the type.
        return nodata_holds(&types, qtype, owner, zone)
            .then(|| (StepKind::NoData, vec![held.clone()]));
    }
    if !nsec_covers(owner, next, name) {
        return None;
    }
    // Below a delegation or a DNAME the span proves nothing (the names
    // there are another zone's, or are aliases).
    if owner.zone_of(name) && below_cut_or_dname(&types, owner, zone) {
        return None;
    }
    // An empty non-terminal (RFC 4035 section 3.1.3.2): the name exists
    // (something lies below it) and owns nothing.
    if name.zone_of(next) && next != name {
        return Some((StepKind::NoData, vec![held.clone()]));
    }
    // NXDOMAIN (RFC 4035 section 3.1.3.2): the name covered, and the
    // wildcard that could have matched it, at the closest encloser, too.
    let wild = nsec_wildcard(name, owner, next)?;
    if !zone.zone_of(&wild.base_name()) {
        return None;
    }
    if nsec_covers(owner, next, &wild) {
        return Some((StepKind::NxDomain, vec![held.clone()]));
    }
    let (wowner, wheld) = z.nsec_at_or_before(&wild, now)?;
    let wnsec = wheld.record().and_then(as_nsec)?;
    if *wowner == wild || !nsec_covers(wowner, wnsec.next_domain_name(), &wild) {
        // The wildcard exists (its answer is not synthesised) or is unproven.
        return None;
    }
    Some((StepKind::NxDomain, vec![held.clone(), wheld.clone()]))
}

/// True when the NSEC at `owner` proves that `name` has no closer match
/// than the wildcard at `ce` (RFC 4035 section 5.3.4): it covers the name
/// (not below a cut or DNAME), the name owns nothing below it (not an empty
/// non-terminal), and the closest encloser it implies is `ce`.
fn proves_wildcard(owner: &Name, n: &NSEC, zone: &Name, name: &Name, ce: &Name) -> bool {
    let next = n.next_domain_name();
    nsec_denies(owner, n, zone, name)
        && !name.zone_of(next)
        && nsec_closest_encloser(name, owner, next) == *ce
}

/// The answer for (`name`, `qtype`) from a kept wildcard RRset of `zone`,
/// with a kept NSEC that proves the name has no closer match (module docs).
fn wildcard_answer(
    z: &ZoneDenials,
    zone: &Name,
    name: &Name,
    qtype: RecordType,
    now: Instant,
) -> Option<Step> {
    if z.wild.is_empty() || qtype == RecordType::DS || qtype == RecordType::ANY {
        return None;
    }
    let lower = name.to_lowercase();
    let mut ce = lower.base_name();
    while zone.zone_of(&ce) {
        let found = wildcard_at(&ce).and_then(|wild| z.wild.get(&(wild, u16::from(qtype))));
        if let Some(w) = found.filter(|w| w.rrset.expires > now) {
            // The closest encloser is unique: the one wildcard that could
            // answer, proven here or not at all.
            let proof = w.proofs.iter().find(|h| {
                h.expires > now
                    && h.record().is_some_and(|r| {
                        as_nsec(r).is_some_and(|n| proves_wildcard(&r.name, n, zone, &lower, &ce))
                    })
            })?;
            return wild_step(zone, name, w, proof, now);
        }
        if ce == *zone || ce.is_root() {
            break;
        }
        ce = ce.base_name();
    }
    None
}

/// The wildcard's RRset and RRSIGs under `name`, the NSEC as the proof,
/// every TTL what is left of the shorter-lived of the two.
fn wild_step(zone: &Name, name: &Name, w: &Wild, proof: &Held, now: Instant) -> Option<Step> {
    let expires = w.rrset.expires.min(proof.expires);
    let left = u32::try_from(expires.checked_duration_since(now)?.as_secs()).ok()?;
    if left == 0 {
        return None;
    }
    let answers = w
        .rrset
        .records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.name = name.clone();
            r.ttl = left;
            r
        })
        .collect();
    let authority = proof
        .records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.ttl = left;
            r
        })
        .collect();
    Some(Step {
        zone: zone.clone(),
        kind: StepKind::Answer,
        answers,
        authority,
        next: None,
    })
}

/// The step a zone's servers would have given: its SOA and the proofs with
/// their RRSIGs, every TTL what is left of the shortest-lived of them.
fn step(zone: &Name, kind: StepKind, soa: &Held, proofs: &[Held], now: Instant) -> Option<Step> {
    let expires = proofs.iter().map(|h| h.expires).min()?.min(soa.expires);
    let left = u32::try_from(expires.checked_duration_since(now)?.as_secs()).ok()?;
    if left == 0 {
        return None;
    }
    let mut authority: Vec<Record> = soa.records.clone();
    for h in proofs {
        let dup = h.record().is_some_and(|r| {
            authority
                .iter()
                .any(|a| a.name == r.name && a.data == r.data)
        });
        if !dup {
            authority.extend(h.records.iter().cloned());
        }
    }
    for r in &mut authority {
        r.ttl = left;
    }
    Some(Step {
        zone: zone.clone(),
        kind,
        answers: Vec::new(),
        authority,
        next: None,
    })
}

impl Recursor {
    /// A negative answer for (`name`, `qtype`) from validated denials, when
    /// `dnssec.aggressive-nsec` is on, the name is not under a
    /// `domain-insecure` name and the zone whose denials are used is known
    /// secure. The caller validates (no
    /// CD). `Err` when the NSEC3 hash bound or the deadline stopped it.
    pub(crate) fn synthesise(
        &self,
        name: &Name,
        qtype: RecordType,
        w: &mut Work,
    ) -> Result<Option<Step>, Failure> {
        if !self.config.aggressive_nsec || self.exempt(name) {
            return Ok(None);
        }
        let now = Instant::now();
        let Some(zone) = self.infra.denials_zone(name, qtype == RecordType::DS, now) else {
            return Ok(None);
        };
        if !matches!(self.infra.zone(&zone, now), Some(ZoneSecurity::Secure(_))) {
            return Ok(None);
        }
        let step = self.infra.denials.synthesise(&zone, name, qtype, w, now)?;
        if let Some(s) = &step {
            tracing::debug!(%zone, %qtype, kind = ?s.kind, "answer synthesised from validated denials");
        }
        Ok(step)
    }
}
