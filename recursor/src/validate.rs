//! DNSSEC validation: chain of trust, signatures and denial proofs.
//!
//! ```text
//!  zone_security(Z):   NTA above Z ─▶ Insecure
//!                      Z = . ─▶ DNSKEY . matched against the trust anchor (DS or DNSKEY)
//!                      else: DS Z (from the parent P) and zone_security(P)
//!                        P insecure ─▶ Insecure        P bogus ─▶ Bogus
//!                        DS signed by P ─▶ DNSKEY Z must match a DS and sign itself ─▶ Secure(keys)
//!                        no DS, proven by P's NSEC/NSEC3 ─▶ Insecure, else Bogus
//!  step validation:    answer RRsets and denial records verified with the zone's keys
//! ```
//!
//! RFC 4033-4035 (DNSSEC), RFC 5155 (NSEC3), RFC 6840 (clarifications),
//! RFC 9276 (NSEC3 iteration limit). Signatures and digests are computed by
//! hickory-proto's `dnssec-ring` code; this module decides what to verify
//! against what. Results per zone are cached in [`super::infra`].
//! Failures carry an Extended DNS Error (RFC 8914).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::rdata::{DNSSECRData, DNSKEY, DS, NSEC, NSEC3, RRSIG};
use hickory_proto::dnssec::{Nsec3HashAlgorithm, PublicKey, Verifier};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::classify::rrsig_covers;
use super::infra::{Step, StepKind, ZoneSecurity};
use super::iter::{BoxFut, Budget};
use super::{Ede, Failure, Recursor};

/// RFC 9276 section 3.2: NSEC3 with more iterations than this counts as insecure.
const MAX_NSEC3_ITERATIONS: u16 = 150;
/// How long a bogus verdict is kept (s), so a broken zone is not re-fetched per query.
const BOGUS_TTL: u32 = 60;
/// Upper bound on how long any zone verdict is kept (s).
const MAX_ZONE_TTL: u32 = 3600;

impl Recursor {
    /// The DNSSEC state of `zone`, cached.
    pub(crate) fn zone_security<'a>(
        &'a self,
        zone: &'a Name,
        b: &'a mut Budget,
    ) -> BoxFut<'a, Result<ZoneSecurity, Failure>> {
        Box::pin(async move {
            if self.exempt(zone) {
                return Ok(ZoneSecurity::Insecure);
            }
            if let Some(s) = self.infra.zone(zone, Instant::now()) {
                return Ok(s);
            }
            let (sec, ttl) = if zone.is_root() {
                self.root_security(b).await?
            } else {
                self.child_security(zone, b).await?
            };
            if let ZoneSecurity::Bogus(e) = &sec {
                tracing::debug!(%zone, ede = e.code, reason = %e.text, "zone is bogus");
            }
            let ttl = match sec {
                ZoneSecurity::Bogus(_) => BOGUS_TTL,
                _ => ttl.min(MAX_ZONE_TTL),
            };
            self.infra
                .put_zone(zone.clone(), sec.clone(), ttl, Instant::now());
            Ok(sec)
        })
    }

    /// True when `name` is at or below a `domain-insecure` name (RFC 7646).
    pub(crate) fn exempt(&self, name: &Name) -> bool {
        self.config.domain_insecure.iter().any(|d| d.zone_of(name))
    }

    /// The root's keys, checked against the configured trust anchor.
    async fn root_security(&self, b: &mut Budget) -> Result<(ZoneSecurity, u32), Failure> {
        let root = Name::root();
        let step = self.lookup(&root, RecordType::DNSKEY, b).await?;
        let anchors = &self.config.anchors;
        let ds: Vec<DS> = anchors.iter().filter_map(|r| as_ds(r).cloned()).collect();
        let anchor_keys: Vec<&DNSKEY> = anchors.iter().filter_map(as_dnskey).collect();
        let ttl = min_ttl(&step.answers);
        let keys: Vec<&Record> = step
            .answers
            .iter()
            .filter(|r| as_dnskey(r).is_some())
            .collect();
        let trusted: Vec<&Record> = keys
            .iter()
            .copied()
            .filter(|k| {
                let Some(key) = as_dnskey(k) else {
                    return false;
                };
                anchor_keys
                    .iter()
                    .any(|a| a.public_key() == key.public_key())
                    || ds.iter().any(|d| ds_matches(d, &root, key))
            })
            .collect();
        Ok((
            self.keys_security(
                &root,
                &step,
                &trusted,
                ds.is_empty() && anchor_keys.is_empty(),
            ),
            ttl,
        ))
    }

    /// A child zone's state from its DS (at the parent) and its DNSKEY set.
    async fn child_security(
        &self,
        zone: &Name,
        b: &mut Budget,
    ) -> Result<(ZoneSecurity, u32), Failure> {
        let ds_step = self.lookup(zone, RecordType::DS, b).await?;
        let mut parent = ds_step.zone.clone();
        if parent == *zone || !parent.zone_of(zone) {
            parent = zone.base_name();
        }
        let pkeys = match self.zone_security(&parent, b).await? {
            ZoneSecurity::Secure(k) => k,
            other => return Ok((other, MAX_ZONE_TTL)),
        };
        let now = unix_now();
        if ds_step.kind != StepKind::Answer {
            // No DS: the parent must prove it (RFC 4035 section 5.2), then the child is insecure.
            if let Err(e) = verify_all(&ds_step.authority, &pkeys, now) {
                return Ok((ZoneSecurity::Bogus(e), 0));
            }
            return Ok(match no_ds_proof(zone, &ds_step.authority) {
                true => (ZoneSecurity::Insecure, negative_ttl(&ds_step.authority)),
                false => (
                    ZoneSecurity::Bogus(Ede::new(12, format!("no proof that {zone} has no DS"))),
                    0,
                ),
            });
        }
        if let Err(e) = verify_all(&ds_step.answers, &pkeys, now) {
            return Ok((ZoneSecurity::Bogus(e), 0));
        }
        let ds: Vec<DS> = ds_step
            .answers
            .iter()
            .filter_map(|r| as_ds(r).cloned())
            .collect();
        let usable: Vec<&DS> = ds
            .iter()
            .filter(|d| d.algorithm().is_supported() && d.digest_type().is_supported())
            .collect();
        if usable.is_empty() {
            // RFC 4035 section 5.2: only unsupported algorithms ─▶ treat as unsigned.
            return Ok((ZoneSecurity::Insecure, min_ttl(&ds_step.answers)));
        }
        let key_step = self.lookup(zone, RecordType::DNSKEY, b).await?;
        let trusted: Vec<&Record> = key_step
            .answers
            .iter()
            .filter(|r| as_dnskey(r).is_some_and(|k| usable.iter().any(|d| ds_matches(d, zone, k))))
            .collect();
        let ttl = min_ttl(&key_step.answers).min(min_ttl(&ds_step.answers));
        Ok((self.keys_security(zone, &key_step, &trusted, false), ttl))
    }

    /// Secure when the DNSKEY set in `step` is signed by one of `trusted`.
    fn keys_security(
        &self,
        zone: &Name,
        step: &Step,
        trusted: &[&Record],
        no_anchor: bool,
    ) -> ZoneSecurity {
        if no_anchor {
            return ZoneSecurity::Insecure;
        }
        if trusted.is_empty() {
            return ZoneSecurity::Bogus(Ede::new(
                9,
                format!("no DNSKEY of {zone} matches its DS or trust anchor"),
            ));
        }
        let keys: Vec<Record> = trusted.iter().map(|r| (*r).clone()).collect();
        let set: Vec<&Record> = step
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::DNSKEY)
            .collect();
        let sigs: Vec<&Record> = step
            .answers
            .iter()
            .filter(|r| rrsig_covers(r) == Some(RecordType::DNSKEY))
            .collect();
        match verify_rrset(&set, &sigs, &keys, unix_now()) {
            Ok(()) => ZoneSecurity::Secure(
                step.answers
                    .iter()
                    .filter(|r| r.record_type() == RecordType::DNSKEY)
                    .cloned()
                    .collect(),
            ),
            Err(e) => ZoneSecurity::Bogus(e),
        }
    }

    /// Validate one step of a resolution (the data or denial for `name`).
    /// `Ok(true)` = secure, `Ok(false)` = insecure, `Err` = bogus.
    pub(crate) async fn validate_step(
        &self,
        name: &Name,
        qtype: RecordType,
        step: &Step,
        b: &mut Budget,
    ) -> Result<Result<bool, Ede>, Failure> {
        if self.exempt(name) {
            return Ok(Ok(false));
        }
        // The signer may be a zone below the one whose servers answered (one
        // server for parent and child); it must still enclose the owner.
        let mut zone = step.zone.clone();
        for r in step.answers.iter().chain(&step.authority) {
            if let Some(s) = as_rrsig(r) {
                let signer = &s.input().signer_name;
                if zone.zone_of(signer) && signer.zone_of(&r.name) {
                    zone = signer.clone();
                }
            }
        }
        let keys = match self.zone_security(&zone, b).await? {
            ZoneSecurity::Secure(k) => k,
            ZoneSecurity::Insecure => return Ok(Ok(false)),
            ZoneSecurity::Bogus(e) => return Ok(Err(e)),
        };
        let now = unix_now();
        // A CNAME synthesised from a DNAME is unsigned (RFC 6672 section 5.3.1).
        let has_dname = step
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::DNAME);
        let answers: Vec<Record> = step
            .answers
            .iter()
            .filter(|r| !(has_dname && r.record_type() == RecordType::CNAME))
            .cloned()
            .collect();
        if let Err(e) = verify_all(&answers, &keys, now) {
            return Ok(Err(e));
        }
        if step.kind != StepKind::Answer {
            if let Err(e) = verify_all(&step.authority, &keys, now) {
                return Ok(Err(e));
            }
            let proven = match step.kind {
                StepKind::NxDomain => nxdomain_proof(name, &step.authority),
                _ => nodata_proof(name, qtype, &step.authority),
            };
            match proven {
                Proof::Secure => {}
                Proof::OptOut => return Ok(Ok(false)),
                Proof::Missing => {
                    return Ok(Err(Ede::new(
                        12,
                        format!("no valid denial of existence for {qtype} in {zone}"),
                    )))
                }
            }
        }
        Ok(Ok(true))
    }
}

/// The result of checking a denial of existence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    /// Proven.
    Secure,
    /// Covered by an opt-out NSEC3 span or too many iterations: insecure.
    OptOut,
    /// Not proven.
    Missing,
}

/// Verify every RRset in `records` (RRSIGs excluded) with `keys`.
pub(crate) fn verify_all(records: &[Record], keys: &[Record], now: u32) -> Result<(), Ede> {
    let mut sets: Vec<(&Name, RecordType)> = Vec::new();
    for r in records {
        let t = r.record_type();
        if t == RecordType::RRSIG || sets.iter().any(|(n, st)| **n == r.name && *st == t) {
            continue;
        }
        sets.push((&r.name, t));
    }
    for (name, t) in sets {
        let set: Vec<&Record> = records
            .iter()
            .filter(|r| r.name == *name && r.record_type() == t)
            .collect();
        let sigs: Vec<&Record> = records
            .iter()
            .filter(|r| r.name == *name && rrsig_covers(r) == Some(t))
            .collect();
        verify_rrset(&set, &sigs, keys, now)?;
    }
    Ok(())
}

/// Verify one RRset against its RRSIGs with any of `keys` (RFC 4035 section 5.3).
pub(crate) fn verify_rrset(
    set: &[&Record],
    sigs: &[&Record],
    keys: &[Record],
    now: u32,
) -> Result<(), Ede> {
    let Some(first) = set.first() else {
        return Ok(());
    };
    // Zone, not owner: query names stay out of the log unless the query log is on.
    let zone = keys.first().map(|k| k.name.to_string()).unwrap_or_default();
    let what = || format!("{} in {zone}", first.record_type());
    if sigs.is_empty() {
        return Err(Ede::new(10, format!("no RRSIG for {}", what())));
    }
    let mut why = Ede::new(6, format!("no RRSIG of {} verifies", what()));
    for sig in sigs.iter().filter_map(|r| as_rrsig(r)) {
        let input = sig.input();
        let inception = input.sig_inception.get();
        let expiration = input.sig_expiration.get();
        // RFC 4034 section 3.1.5: serial number arithmetic (RFC 1982).
        if (now.wrapping_sub(inception) as i32) < 0 {
            why = Ede::new(8, format!("RRSIG of {} not yet valid", what()));
            continue;
        }
        if (expiration.wrapping_sub(now) as i32) < 0 {
            why = Ede::new(7, format!("RRSIG of {} expired", what()));
            continue;
        }
        for key in keys {
            let Some(k) = as_dnskey(key) else { continue };
            if key.name != input.signer_name
                || k.revoke()
                || !k.zone_key()
                || k.public_key().algorithm() != input.algorithm
                || k.calculate_key_tag().ok() != Some(input.key_tag)
            {
                continue;
            }
            let records: Vec<Record> = set.iter().map(|r| (*r).clone()).collect();
            if k.verify_rrsig(&first.name, first.dns_class, sig, records.iter())
                .is_ok()
            {
                return Ok(());
            }
        }
    }
    Err(why)
}

/// The signer of an RRSIG record.
pub(crate) fn rrsig_signer(r: &Record) -> Option<Name> {
    as_rrsig(r).map(|s| s.input().signer_name.clone())
}

/// [`no_ds_proof`] over denial records that verify with the parent's `keys`.
pub(crate) fn no_ds_proof_checked(zone: &Name, authority: &[Record], keys: &[Record]) -> bool {
    verify_all(authority, keys, unix_now()).is_ok() && no_ds_proof(zone, authority)
}

/// Proof that `zone` has no DS at its parent: NSEC at the cut with NS and
/// without DS/SOA, NSEC3 likewise, or an opt-out NSEC3 span.
fn no_ds_proof(zone: &Name, authority: &[Record]) -> bool {
    for r in authority {
        if let Some(n) = as_nsec(r) {
            if r.name == *zone {
                let types: Vec<RecordType> = n.type_bit_maps().collect();
                return types.contains(&RecordType::NS)
                    && !types.contains(&RecordType::DS)
                    && !types.contains(&RecordType::SOA);
            }
        }
    }
    let nsec3: Vec<(&Record, &NSEC3)> = authority
        .iter()
        .filter_map(|r| as_nsec3(r).map(|n| (r, n)))
        .collect();
    if nsec3.is_empty() {
        return false;
    }
    if let Some((_, n)) = nsec3_match(zone, &nsec3) {
        let types: Vec<RecordType> = n.type_bit_maps().collect();
        return !types.contains(&RecordType::DS) && !types.contains(&RecordType::SOA);
    }
    // Opt-out (RFC 5155 section 8.6): the closest encloser proven, next closer covered by an opt-out span.
    matches!(nsec3_closest_encloser(zone, &nsec3), Some((_, true)))
}

/// Proof that `name` has no `qtype` (NODATA).
fn nodata_proof(name: &Name, qtype: RecordType, authority: &[Record]) -> Proof {
    for r in authority {
        if let Some(n) = as_nsec(r) {
            if r.name == *name {
                let types: Vec<RecordType> = n.type_bit_maps().collect();
                return if types.contains(&qtype) || types.contains(&RecordType::CNAME) {
                    Proof::Missing
                } else {
                    Proof::Secure
                };
            }
        }
    }
    let nsec3: Vec<(&Record, &NSEC3)> = authority
        .iter()
        .filter_map(|r| as_nsec3(r).map(|n| (r, n)))
        .collect();
    if nsec3
        .iter()
        .any(|(_, n)| n.iterations() > MAX_NSEC3_ITERATIONS)
    {
        return Proof::OptOut;
    }
    if let Some((_, n)) = nsec3_match(name, &nsec3) {
        let types: Vec<RecordType> = n.type_bit_maps().collect();
        return if types.contains(&qtype) || types.contains(&RecordType::CNAME) {
            Proof::Missing
        } else {
            Proof::Secure
        };
    }
    // An empty non-terminal under NSEC (RFC 4035 section 3.1.3.2): an NSEC whose
    // next name is below `name` proves `name` exists without data.
    if authority.iter().any(|r| {
        as_nsec(r).is_some_and(|n| {
            r.name < *name && name.zone_of(n.next_domain_name()) && *name != *n.next_domain_name()
        })
    }) {
        return Proof::Secure;
    }
    // NSEC3 DS NODATA under opt-out (RFC 5155 section 8.6).
    if qtype == RecordType::DS {
        if let Some((_, true)) = nsec3_closest_encloser(name, &nsec3) {
            return Proof::OptOut;
        }
    }
    Proof::Missing
}

/// Proof that `name` does not exist (NXDOMAIN).
fn nxdomain_proof(name: &Name, authority: &[Record]) -> Proof {
    let nsec_covers = authority.iter().any(|r| {
        as_nsec(r).is_some_and(|n| {
            let next = n.next_domain_name();
            (r.name < *name && *name < *next)
                || (r.name < *name && next < &r.name && next.zone_of(name))
        })
    });
    if nsec_covers {
        return Proof::Secure;
    }
    let nsec3: Vec<(&Record, &NSEC3)> = authority
        .iter()
        .filter_map(|r| as_nsec3(r).map(|n| (r, n)))
        .collect();
    if nsec3
        .iter()
        .any(|(_, n)| n.iterations() > MAX_NSEC3_ITERATIONS)
    {
        return Proof::OptOut;
    }
    match nsec3_closest_encloser(name, &nsec3) {
        Some((_, false)) => Proof::Secure,
        Some((_, true)) => Proof::OptOut,
        None => Proof::Missing,
    }
}

/// RFC 5155 section 8.3: the closest encloser of `name` (an ancestor with a
/// matching NSEC3) whose next closer name is covered by an NSEC3.
/// Returns the encloser and whether the covering NSEC3 has opt-out.
fn nsec3_closest_encloser(name: &Name, nsec3: &[(&Record, &NSEC3)]) -> Option<(Name, bool)> {
    let mut next_closer = name.clone();
    let mut ce = name.base_name();
    loop {
        if nsec3_match(&ce, nsec3).is_some() {
            let (_, n) = nsec3_cover(&next_closer, nsec3)?;
            return Some((ce, n.opt_out()));
        }
        if ce.is_root() {
            return None;
        }
        next_closer = ce.clone();
        ce = ce.base_name();
    }
}

/// The NSEC3 record whose owner hash equals the hash of `name`.
fn nsec3_match<'a>(
    name: &Name,
    nsec3: &[(&'a Record, &'a NSEC3)],
) -> Option<(&'a Record, &'a NSEC3)> {
    nsec3.iter().copied().find(|(r, n)| {
        let (Some(h), Some(owner)) = (nsec3_hash(name, n), owner_hash(&r.name)) else {
            return false;
        };
        h == owner && r.name.base_name().zone_of(name)
    })
}

/// The NSEC3 record whose span covers the hash of `name`.
fn nsec3_cover<'a>(
    name: &Name,
    nsec3: &[(&'a Record, &'a NSEC3)],
) -> Option<(&'a Record, &'a NSEC3)> {
    nsec3.iter().copied().find(|(r, n)| {
        let (Some(h), Some(owner)) = (nsec3_hash(name, n), owner_hash(&r.name)) else {
            return false;
        };
        let next = n.next_hashed_owner_name();
        if owner.as_slice() < next {
            owner.as_slice() < h.as_slice() && h.as_slice() < next
        } else {
            // The last span wraps around to the first hash.
            h.as_slice() > owner.as_slice() || h.as_slice() < next
        }
    })
}

/// The NSEC3 hash of `name` with the parameters of `n`.
fn nsec3_hash(name: &Name, n: &NSEC3) -> Option<Vec<u8>> {
    if n.hash_algorithm() != Nsec3HashAlgorithm::SHA1 || n.iterations() > MAX_NSEC3_ITERATIONS {
        return None;
    }
    let d = n
        .hash_algorithm()
        .hash(n.salt(), &name.to_lowercase(), n.iterations())
        .ok()?;
    Some(d.as_ref().to_vec())
}

/// The hash in an NSEC3 owner name's first label (base32hex, RFC 4648 section 7).
fn owner_hash(owner: &Name) -> Option<Vec<u8>> {
    let label = owner.iter().next()?;
    base32hex_decode(label)
}

/// Decode unpadded base32hex, case-insensitively.
fn base32hex_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut acc, mut bits) = (0u64, 0u32);
    for &c in s {
        let v = match c.to_ascii_uppercase() {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'A'..=b'V' => c - b'A' + 10,
            _ => return None,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// True when `ds` is a digest of `key` for `owner`.
fn ds_matches(ds: &DS, owner: &Name, key: &DNSKEY) -> bool {
    ds.algorithm() == key.public_key().algorithm()
        && key.calculate_key_tag().ok() == Some(ds.key_tag())
        && ds.covers(owner, key).unwrap_or(false)
}

/// The smallest TTL of `records` (3600 when empty).
fn min_ttl(records: &[Record]) -> u32 {
    records.iter().map(|r| r.ttl).min().unwrap_or(MAX_ZONE_TTL)
}

/// min(SOA TTL, SOA MINIMUM) of a negative answer.
fn negative_ttl(authority: &[Record]) -> u32 {
    authority
        .iter()
        .find_map(|r| match &r.data {
            RData::SOA(s) => Some(r.ttl.min(s.minimum)),
            _ => None,
        })
        .unwrap_or(0)
}

/// Seconds since the epoch, as RRSIG times count them.
fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// The DS inside a record.
pub(crate) fn as_ds(r: &Record) -> Option<&DS> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::DS(d)) => Some(d),
        _ => None,
    }
}

/// The DNSKEY inside a record.
pub(crate) fn as_dnskey(r: &Record) -> Option<&DNSKEY> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k),
        _ => None,
    }
}

/// The RRSIG inside a record.
fn as_rrsig(r: &Record) -> Option<&RRSIG> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::RRSIG(s)) => Some(s),
        _ => None,
    }
}

/// The NSEC inside a record.
fn as_nsec(r: &Record) -> Option<&NSEC> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::NSEC(n)) => Some(n),
        _ => None,
    }
}

/// The NSEC3 inside a record.
fn as_nsec3(r: &Record) -> Option<&NSEC3> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::NSEC3(n)) => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32hex_decodes_an_nsec3_owner_label() {
        // "CPNMU" = 0x66 0x6f 0x6f ("foo") in base32hex.
        assert_eq!(base32hex_decode(b"CPNMU"), Some(b"foo".to_vec()));
        assert_eq!(base32hex_decode(b"cpnmu"), Some(b"foo".to_vec()));
        assert_eq!(base32hex_decode(b"W"), None);
    }
}
