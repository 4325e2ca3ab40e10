//! DNSSEC validation: chain of trust, signatures and denial proofs, with
//! bounded work.
//!
//! ```text
//!  zone_security(Z):   NTA above Z ─▶ Insecure
//!                      Z = . ─▶ DNSKEY . matched against the trust anchor (DS or DNSKEY)
//!                      else: DS Z (from the parent P) and zone_security(P)
//!                        P insecure ─▶ Insecure        P bogus ─▶ Bogus
//!                        DS signed by P ─▶ DNSKEY Z must match a DS and sign itself ─▶ Secure(keys)
//!                        no DS, proven by P's NSEC/NSEC3 ─▶ Insecure, else Bogus
//!  step validation:    answer RRsets and denial records verified with the zone's keys;
//!                      a wildcard expansion needs the proof that no closer name exists
//!                      NXDOMAIN: the name denied and *.<closest encloser> denied
//!                      NODATA: the name's (or its wildcard's) NSEC/NSEC3 without the type
//!                      NSEC/NSEC3 that verified as wildcard expansions deny nothing
//!                      NSEC/NSEC3 at a cut (NS, no SOA) or DNAME: nothing below; at a cut only DS
//!  every signature check and NSEC3 hash is charged to the query's Work:
//!                      past a bound, or past the deadline ─▶ stop (SERVFAIL, EDE 0)
//! ```
//!
//! RFC 4033-4035 (DNSSEC), RFC 5155 (NSEC3), RFC 6840 (clarifications),
//! RFC 9276 (NSEC3 iteration limit). Signatures and digests are computed by
//! hickory-proto's `dnssec-ring` code; this module decides what to verify
//! against what, and how much of it one client query may cost. Results per
//! zone are cached in [`super::infra`]; failed answers in [`super::bogus`].
//! Failures carry an Extended DNS Error (RFC 8914).
//!
//! Work bounds (KeyTrap, CVE-2023-50387, and CVE-2023-50868): a hostile
//! zone can publish many DNSKEYs sharing one key tag and many RRSIGs, so
//! that "try every key for every signature" (RFC 4035 section 5.3.1) costs
//! thousands of public-key operations per answer, or NSEC3 records with
//! many iterations, so that a denial proof costs thousands of hashes. So an
//! RRSIG is only tried with keys of its signer, key tag and algorithm, with
//! at most [`MAX_KEYS_PER_SIG`] of them; every signature check and every
//! NSEC3 hash (iterations + 1 hash rounds) is charged to a [`Work`] that
//! lives for one client query, and validation stops at
//! `dnssec.max-validations-per-query` or `dnssec.max-nsec3-hashes-per-query`.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::rdata::{DNSSECRData, DNSKEY, DS, NSEC, NSEC3, RRSIG};
use hickory_proto::dnssec::{Nsec3HashAlgorithm, PublicKey, Verifier};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sekisho_limits::Limit;

use super::classify::rrsig_covers;
use super::infra::{Step, StepKind, ZoneSecurity};
use super::iter::{BoxFut, Budget};
use super::{Ede, Failure, Recursor};

/// RFC 9276 section 3.2: NSEC3 with more iterations than this counts as
/// insecure (Unbound's and BIND's ceiling); such records are never hashed.
pub(crate) const MAX_NSEC3_ITERATIONS: u16 = 150;
/// Upper bound on how long any zone verdict is kept (s).
const MAX_ZONE_TTL: u32 = 3600;
/// Keys tried for one RRSIG: those of its signer, key tag and algorithm,
/// at most this many (PowerDNS `max-dnskeys` is 2). Honest zones have one
/// key per tag; a collision during a key roll makes two.
pub(crate) const MAX_KEYS_PER_SIG: usize = 2;

/// DS records of one zone matched against its keys (PowerDNS
/// `max-ds-per-zone` is 8): each match of a DS with a key of the same tag
/// costs a digest, and a parent may publish any number of DS.
const MAX_DS_PER_ZONE: usize = 8;

/// The validation work one client query may cause, and the deadline it
/// must finish by. Created with the query's [`Budget`] and passed next to it.
#[derive(Debug)]
pub(crate) struct Work {
    /// Signature checks (public-key operations) so far.
    pub(crate) checks: u32,
    /// Upper bound on checks (`dnssec.max-validations-per-query`).
    max_checks: u32,
    /// NSEC3 hash rounds so far (a hash with N iterations is N + 1 rounds).
    pub(crate) hashes: u32,
    /// Upper bound on hash rounds (`dnssec.max-nsec3-hashes-per-query`).
    max_hashes: u32,
    /// When the client stops waiting.
    deadline: Instant,
    /// The bound that stopped validation, and the zone it stopped in.
    pub(crate) stopped: Option<(Limit, Name)>,
}

impl Work {
    /// Nothing done yet.
    pub(crate) fn new(max_checks: u32, max_hashes: u32, deadline: Instant) -> Work {
        Work {
            checks: 0,
            max_checks,
            hashes: 0,
            max_hashes,
            deadline,
            stopped: None,
        }
    }

    /// Charge one signature check on a record of `zone`; `Err` ends validation.
    fn check(&mut self, zone: &Name) -> Result<(), Failure> {
        self.in_time()?;
        if self.checks >= self.max_checks {
            return Err(self.stop(Limit::MaxValidations, zone));
        }
        self.checks += 1;
        Ok(())
    }

    /// Charge one NSEC3 hash with `iterations` for a record of `zone`.
    fn hash(&mut self, zone: &Name, iterations: u16) -> Result<(), Failure> {
        self.in_time()?;
        let cost = u32::from(iterations) + 1;
        if self.hashes.saturating_add(cost) > self.max_hashes {
            return Err(self.stop(Limit::Nsec3Hashes, zone));
        }
        self.hashes += cost;
        Ok(())
    }

    /// The same bounds and deadline, nothing done: for work whose verdict
    /// is kept for every query ([`Recursor::key_verdict`]), so that it does
    /// not depend on what the query that happens to compute it spent before.
    fn fresh(&self) -> Work {
        Work::new(self.max_checks, self.max_hashes, self.deadline)
    }

    /// Charge `other`'s work to this query as well (capped at the bounds:
    /// the next check or hash past them stops it), and its stop, if any.
    fn add(&mut self, other: &Work) {
        self.checks = self
            .checks
            .saturating_add(other.checks)
            .min(self.max_checks);
        self.hashes = self
            .hashes
            .saturating_add(other.hashes)
            .min(self.max_hashes);
        if self.stopped.is_none() {
            self.stopped.clone_from(&other.stopped);
        }
    }

    /// `Err` once the deadline has passed (checked between checks, not only
    /// between sends: a slow proof must not outlive its client).
    fn in_time(&self) -> Result<(), Failure> {
        if Instant::now() >= self.deadline {
            return Err(Failure::new("out of time", None));
        }
        Ok(())
    }

    /// Record that `limit` stopped validation in `zone`.
    fn stop(&mut self, limit: Limit, zone: &Name) -> Failure {
        tracing::debug!(limit = limit.as_label(), %zone, checks = self.checks, hashes = self.hashes, "validation work bound reached");
        if self.stopped.is_none() {
            self.stopped = Some((limit, zone.clone()));
        }
        Failure::new("validation work bound reached", Some(limit_ede(limit)))
    }
}

/// The EDE of an answer whose validation a work bound stopped: 0 (Other),
/// as the answer is not known to be bogus, only too costly to check.
pub(crate) fn limit_ede(limit: Limit) -> Ede {
    let what = match limit {
        Limit::Nsec3Hashes => "NSEC3 hash limit per query reached (max-nsec3-hashes-per-query)",
        _ => "signature check limit per query reached (max-validations-per-query)",
    };
    Ede::new(0, format!("DNSSEC validation stopped: {what}"))
}

/// A verified RRset that was synthesised from a wildcard (RFC 4035 section
/// 5.3.4): its owner and the label count of the RRSIG that verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expanded {
    /// The owner (the question's name).
    owner: Name,
    /// The RRSIG's labels: the wildcard is `*.` + the owner's last `labels` labels.
    labels: u8,
}

impl Recursor {
    /// The DNSSEC state of `zone`, cached.
    pub(crate) fn zone_security<'a>(
        &'a self,
        zone: &'a Name,
        b: &'a mut Budget,
        w: &'a mut Work,
    ) -> BoxFut<'a, Result<ZoneSecurity, Failure>> {
        Box::pin(async move {
            if self.exempt(zone) {
                return Ok(ZoneSecurity::Insecure);
            }
            if let Some(s) = self.infra.zone(zone, Instant::now()) {
                return Ok(s);
            }
            // A bound or the deadline (Err) leaves no verdict to cache.
            let (sec, ttl) = if zone.is_root() {
                self.root_security(b, w).await?
            } else {
                self.child_security(zone, b, w).await?
            };
            if let ZoneSecurity::Bogus(e) = &sec {
                tracing::debug!(%zone, ede = e.code, reason = %e.text, "zone is bogus");
            }
            let ttl = match sec {
                ZoneSecurity::Bogus(_) => self.bogus.ttl_secs(),
                _ => ttl.min(MAX_ZONE_TTL),
            };
            if ttl > 0 {
                self.infra
                    .put_zone(zone.clone(), sec.clone(), ttl, Instant::now());
            }
            Ok(sec)
        })
    }

    /// True when `name` is at or below a `domain-insecure` name or a
    /// negative trust anchor set at run time (RFC 7646).
    pub(crate) fn exempt(&self, name: &Name) -> bool {
        self.config.domain_insecure.iter().any(|d| d.zone_of(name))
            || (!self.ntas.is_empty() && self.ntas.covers(name, std::time::Instant::now()))
    }

    /// The root's keys, checked against the configured trust anchor.
    async fn root_security(
        &self,
        b: &mut Budget,
        w: &mut Work,
    ) -> Result<(ZoneSecurity, u32), Failure> {
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
        let no_anchor = ds.is_empty() && anchor_keys.is_empty();
        let sec = self
            .key_verdict(&root, &step, &trusted, no_anchor, w)
            .await?;
        Ok((sec, ttl))
    }

    /// A child zone's state from its DS (at the parent) and its DNSKEY set.
    async fn child_security(
        &self,
        zone: &Name,
        b: &mut Budget,
        w: &mut Work,
    ) -> Result<(ZoneSecurity, u32), Failure> {
        let ds_step = self.lookup(zone, RecordType::DS, b).await?;
        let mut parent = ds_step.zone.clone();
        if parent == *zone || !parent.zone_of(zone) {
            parent = zone.base_name();
        }
        let pkeys = match self.zone_security(&parent, b, w).await? {
            ZoneSecurity::Secure(k) => k,
            other => return Ok((other, MAX_ZONE_TTL)),
        };
        let pass = self.cpu.enter(zone).await;
        let now = unix_now();
        if ds_step.kind != StepKind::Answer {
            // No DS: the parent must prove it (RFC 4035 section 5.2), then the child is insecure.
            if let Err(e) = verify_all(&ds_step.authority, &pkeys, now, w)? {
                return Ok((ZoneSecurity::Bogus(e), 0));
            }
            return Ok(match no_ds_proof(zone, &parent, &ds_step.authority, w)? {
                true => (ZoneSecurity::Insecure, negative_ttl(&ds_step.authority)),
                false => (
                    ZoneSecurity::Bogus(Ede::new(12, format!("no proof that {zone} has no DS"))),
                    0,
                ),
            });
        }
        if let Err(e) = verify_all(&ds_step.answers, &pkeys, now, w)? {
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
            .take(MAX_DS_PER_ZONE)
            .collect();
        if usable.is_empty() {
            // RFC 4035 section 5.2: only unsupported algorithms ─▶ treat as unsigned.
            return Ok((ZoneSecurity::Insecure, min_ttl(&ds_step.answers)));
        }
        drop(pass);
        let key_step = self.lookup(zone, RecordType::DNSKEY, b).await?;
        let trusted: Vec<&Record> = key_step
            .answers
            .iter()
            .filter(|r| as_dnskey(r).is_some_and(|k| usable.iter().any(|d| ds_matches(d, zone, k))))
            .collect();
        let ttl = min_ttl(&key_step.answers).min(min_ttl(&ds_step.answers));
        let sec = self
            .key_verdict(zone, &key_step, &trusted, false, w)
            .await?;
        Ok((sec, ttl))
    }

    /// [`keys_security`] for `zone`'s DNSKEY set, in the zone's turn at the
    /// CPU gate and off the runtime's workers. The verdict is cached for
    /// every query under the zone, so it is computed with bounds of its own
    /// (then charged to `w`): a key set that needs more signature checks than
    /// one query may make (KeyTrap: many RRSIGs with the key's tag) is bogus
    /// for `bogus-ttl`, instead of being checked again, up to the bound, for
    /// every query that reaches the zone.
    async fn key_verdict(
        &self,
        zone: &Name,
        step: &Step,
        trusted: &[&Record],
        no_anchor: bool,
        w: &mut Work,
    ) -> Result<ZoneSecurity, Failure> {
        let _pass = self.cpu.enter(zone).await;
        let mut own = w.fresh();
        let verdict = off_runtime(|| keys_security(zone, step, trusted, no_anchor, &mut own));
        w.add(&own);
        match (verdict, &own.stopped) {
            (Ok(sec), _) => Ok(sec),
            (Err(_), Some((limit, _))) => Ok(ZoneSecurity::Bogus(limit_ede(*limit))),
            (Err(f), None) => Err(f),
        }
    }

    /// Validate one step of a resolution (the data or denial for `name`).
    /// `Ok(Ok(true))` = secure, `Ok(Ok(false))` = insecure, `Ok(Err)` =
    /// bogus, `Err` = not judged (a lookup failed, a work bound or the
    /// deadline stopped validation). `keep`: the step is fresh from the
    /// zone's servers, and a denial proven secure is kept for RFC 8198
    /// answers (a step from the step cache is not kept again: that would
    /// stretch its records' lifetime past their TTL).
    pub(crate) async fn validate_step(
        &self,
        name: &Name,
        qtype: RecordType,
        step: &Step,
        keep: bool,
        b: &mut Budget,
        w: &mut Work,
    ) -> Result<Result<bool, Ede>, Failure> {
        if self.exempt(name) {
            return Ok(Ok(false));
        }
        // The signer may be a zone below the one whose servers answered (one
        // server for parent and child); it must still enclose the owner. For
        // data, the data's signer: the NSEC/NSEC3 kept with an answer only
        // back up a wildcard expansion of it.
        let mut zone = step.zone.clone();
        let denial: &[Record] = match step.kind {
            StepKind::Answer => &[],
            _ => &step.authority,
        };
        for r in step.answers.iter().chain(denial) {
            if let Some(s) = as_rrsig(r) {
                let signer = &s.input().signer_name;
                if zone.zone_of(signer) && signer.zone_of(&r.name) {
                    zone = signer.clone();
                }
            }
        }
        let keys = match self.zone_security(&zone, b, w).await? {
            ZoneSecurity::Secure(k) => k,
            ZoneSecurity::Insecure => return Ok(Ok(false)),
            ZoneSecurity::Bogus(e) => return Ok(Err(e)),
        };
        // The rest computes (no more awaits): in the zone's turn.
        let _pass = self.cpu.enter(&zone).await;
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
        let expanded = match verify_all(&answers, &keys, now, w)? {
            Ok(x) => x,
            Err(e) => return Ok(Err(e)),
        };
        if step.kind == StepKind::Answer {
            if expanded.is_empty() {
                return Ok(Ok(true));
            }
            // RFC 4035 section 5.3.4, RFC 5155 section 8.8: a wildcard answer is
            // only as good as the proof that the name asked for does not exist.
            let denial_expanded = match verify_all(&step.authority, &keys, now, w)? {
                Ok(x) => x,
                Err(e) => return Ok(Err(e)),
            };
            let authority = denial_records(&step.authority, &denial_expanded);
            for x in &expanded {
                if !wildcard_proof(x, &zone, &authority, w)? {
                    return Ok(Err(Ede::new(
                        12,
                        format!(
                            "wildcard answer in {zone} without proof that no closer name exists"
                        ),
                    )));
                }
            }
            if keep && self.config.aggressive_nsec {
                let owners: Vec<(Name, u8)> =
                    expanded.into_iter().map(|x| (x.owner, x.labels)).collect();
                let kept = self.infra.denials.store_wildcards(
                    &zone,
                    &answers,
                    &owners,
                    &authority,
                    self.infra.max_ttl(),
                    now,
                    Instant::now(),
                );
                tracing::trace!(%zone, kept, "validated wildcard kept");
            }
            return Ok(Ok(true));
        }
        let expanded = match verify_all(&step.authority, &keys, now, w)? {
            Ok(x) => x,
            Err(e) => return Ok(Err(e)),
        };
        let authority = denial_records(&step.authority, &expanded);
        // NSEC3 proofs hash names (up to the per-query bound): CPU work too.
        let proven = off_runtime(|| match step.kind {
            StepKind::NxDomain => nxdomain_proof(name, &zone, &authority, w),
            _ => nodata_proof(name, qtype, &zone, &authority, w),
        })?;
        match proven {
            Proof::Secure => {
                if keep && self.config.aggressive_nsec {
                    let owners: Vec<Name> = expanded.into_iter().map(|x| x.owner).collect();
                    let kept = self.infra.denials.store(
                        &zone,
                        &step.authority,
                        &owners,
                        self.infra.max_ttl(),
                        now,
                        Instant::now(),
                    );
                    tracing::trace!(%zone, kept, "validated denial kept");
                }
                Ok(Ok(true))
            }
            Proof::OptOut => Ok(Ok(false)),
            Proof::Missing => Ok(Err(Ede::new(
                12,
                format!("no valid denial of existence for {qtype} in {zone}"),
            ))),
        }
    }
}

/// Secure when the DNSKEY set in `step` is signed by one of `trusted`.
fn keys_security(
    zone: &Name,
    step: &Step,
    trusted: &[&Record],
    no_anchor: bool,
    w: &mut Work,
) -> Result<ZoneSecurity, Failure> {
    if no_anchor {
        return Ok(ZoneSecurity::Insecure);
    }
    if trusted.is_empty() {
        return Ok(ZoneSecurity::Bogus(Ede::new(
            9,
            format!("no DNSKEY of {zone} matches its DS or trust anchor"),
        )));
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
    let keys = zone_keys(&keys);
    Ok(match verify_rrset(&set, &sigs, &keys, unix_now(), w)? {
        Ok(_) => ZoneSecurity::Secure(
            step.answers
                .iter()
                .filter(|r| r.record_type() == RecordType::DNSKEY)
                .cloned()
                .collect(),
        ),
        Err(e) => ZoneSecurity::Bogus(e),
    })
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

/// Verify every RRset in `records` (RRSIGs excluded) with `keys`; the
/// RRsets that verified as wildcard expansions are returned.
pub(crate) fn verify_all(
    records: &[Record],
    keys: &[Record],
    now: u32,
    w: &mut Work,
) -> Result<Result<Vec<Expanded>, Ede>, Failure> {
    off_runtime(|| verify_sets(records, keys, now, w))
}

/// Run CPU-bound validation work (signature checks, NSEC3 hashing) without
/// holding a runtime worker: on the daemon's multi-threaded runtime the
/// worker hands its other tasks to another thread while this one computes
/// (`tokio::task::block_in_place`), so answers waiting on the network are
/// not queued behind a crafted zone's signatures; the work itself stays
/// bounded per query by [`Work`]. Elsewhere (a current-thread runtime, as
/// in tests, or no runtime) it simply runs.
pub(crate) fn off_runtime<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// [`verify_all`] on the calling thread.
fn verify_sets(
    records: &[Record],
    keys: &[Record],
    now: u32,
    w: &mut Work,
) -> Result<Result<Vec<Expanded>, Ede>, Failure> {
    let mut sets: Vec<(&Name, RecordType)> = Vec::new();
    for r in records {
        let t = r.record_type();
        if t == RecordType::RRSIG || sets.iter().any(|(n, st)| **n == r.name && *st == t) {
            continue;
        }
        sets.push((&r.name, t));
    }
    let keys = zone_keys(keys);
    let mut expanded = Vec::new();
    for (name, t) in sets {
        let set: Vec<&Record> = records
            .iter()
            .filter(|r| r.name == *name && r.record_type() == t)
            .collect();
        let sigs: Vec<&Record> = records
            .iter()
            .filter(|r| r.name == *name && rrsig_covers(r) == Some(t))
            .collect();
        match verify_rrset(&set, &sigs, &keys, now, w)? {
            // RFC 4034 section 3.1.3: fewer RRSIG labels than the owner has
            // (a leading "*" not counted) ─▶ synthesised from a wildcard.
            Ok(labels) if labels < name.num_labels() => expanded.push(Expanded {
                owner: name.clone(),
                labels,
            }),
            Ok(_) => {}
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(expanded))
}

/// A DNSKEY that may sign (zone key bit, not revoked), with its owner and
/// key tag computed once per verification rather than once per RRSIG.
struct ZoneKey<'a> {
    /// The owner (the signer name an RRSIG must carry).
    owner: &'a Name,
    /// The key.
    key: &'a DNSKEY,
    /// Its key tag (RFC 4034 appendix B).
    tag: u16,
}

/// The keys of `keys` that may sign, with their tags.
fn zone_keys(keys: &[Record]) -> Vec<ZoneKey<'_>> {
    keys.iter()
        .filter_map(|r| {
            let key = as_dnskey(r)?;
            if key.revoke() || !key.zone_key() {
                return None;
            }
            Some(ZoneKey {
                owner: &r.name,
                key,
                tag: key.calculate_key_tag().ok()?,
            })
        })
        .collect()
}

/// Verify one RRset against its RRSIGs with any of `keys` (RFC 4035
/// section 5.3): the label count of the RRSIG that verified, or why none did.
/// Each RRSIG is tried only with keys of its signer, key tag and algorithm
/// (at most [`MAX_KEYS_PER_SIG`]), and each try is charged to `w`.
fn verify_rrset(
    set: &[&Record],
    sigs: &[&Record],
    keys: &[ZoneKey<'_>],
    now: u32,
    w: &mut Work,
) -> Result<Result<u8, Ede>, Failure> {
    let Some(first) = set.first() else {
        // Nothing to verify, nothing synthesised.
        return Ok(Ok(u8::MAX));
    };
    // Zone, not owner: query names stay out of the log unless the query log is on.
    let zone = keys.first().map(|k| k.owner.clone()).unwrap_or_default();
    let what = || format!("{} in {zone}", first.record_type());
    if sigs.is_empty() {
        return Ok(Err(Ede::new(10, format!("no RRSIG for {}", what()))));
    }
    let mut why = Ede::new(6, format!("no RRSIG of {} verifies", what()));
    let records: Vec<Record> = set.iter().map(|r| (*r).clone()).collect();
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
        // RFC 4035 section 5.3.1: the signer, key tag and algorithm select the key.
        let candidates = keys
            .iter()
            .filter(|k| {
                k.tag == input.key_tag
                    && k.key.public_key().algorithm() == input.algorithm
                    && *k.owner == input.signer_name
            })
            .take(MAX_KEYS_PER_SIG);
        for k in candidates {
            w.check(&zone)?;
            if k.key
                .verify_rrsig(&first.name, first.dns_class, sig, records.iter())
                .is_ok()
            {
                return Ok(Ok(input.num_labels));
            }
        }
    }
    Ok(Err(why))
}

/// The signer of an RRSIG record.
pub(crate) fn rrsig_signer(r: &Record) -> Option<Name> {
    as_rrsig(r).map(|s| s.input().signer_name.clone())
}

/// [`no_ds_proof`] over denial records that verify with the parent's `keys`.
pub(crate) fn no_ds_proof_checked(
    zone: &Name,
    parent: &Name,
    authority: &[Record],
    keys: &[Record],
    w: &mut Work,
) -> Result<bool, Failure> {
    Ok(verify_all(authority, keys, unix_now(), w)?.is_ok()
        && no_ds_proof(zone, parent, authority, w)?)
}

/// Proof that `zone` has no DS at its parent `parent`: NSEC at the cut with
/// NS and without DS/SOA, NSEC3 likewise, or an opt-out NSEC3 span (whose
/// closest encloser is no delegation point or DNAME of `parent`). NSEC3 with
/// more than [`MAX_NSEC3_ITERATIONS`] counts as proof (insecure, RFC 9276
/// section 3.2), as for the other denials.
fn no_ds_proof(
    zone: &Name,
    parent: &Name,
    authority: &[Record],
    w: &mut Work,
) -> Result<bool, Failure> {
    for r in authority {
        if let Some(n) = as_nsec(r) {
            if r.name == *zone {
                let types: Vec<RecordType> = n.type_bit_maps().collect();
                return Ok(types.contains(&RecordType::NS)
                    && !types.contains(&RecordType::DS)
                    && !types.contains(&RecordType::SOA));
            }
        }
    }
    let nsec3 = nsec3_records(authority);
    if nsec3.is_empty() {
        return Ok(false);
    }
    if too_many_iterations(&nsec3) {
        return Ok(true);
    }
    let mut h = Hasher::new(w);
    if let Some((_, n)) = h.matching(zone, &nsec3)? {
        // RFC 5155 section 8.9: the NSEC3 of the cut must have NS (else the
        // name is no delegation, and a referral to it is forged) and
        // neither DS nor SOA.
        let types: Vec<RecordType> = n.type_bit_maps().collect();
        return Ok(types.contains(&RecordType::NS)
            && !types.contains(&RecordType::DS)
            && !types.contains(&RecordType::SOA));
    }
    // Opt-out (RFC 5155 section 8.6): the closest encloser proven, next closer covered by an opt-out span.
    Ok(matches!(
        h.closest_encloser(zone, parent, &nsec3)?,
        Some((_, true))
    ))
}

/// Proof that `name` has no `qtype` (NODATA), also at a wildcard.
fn nodata_proof(
    name: &Name,
    qtype: RecordType,
    zone: &Name,
    authority: &[Record],
    w: &mut Work,
) -> Result<Proof, Failure> {
    // At a delegation point only DS is denied (see `nodata_holds`).
    let lacks = |types: Vec<RecordType>, owner: &Name| {
        if nodata_holds(&types, qtype, owner, zone) {
            Proof::Secure
        } else {
            Proof::Missing
        }
    };
    for r in authority {
        if let Some(n) = as_nsec(r) {
            if r.name == *name {
                return Ok(lacks(types_of(n), name));
            }
        }
    }
    // Wildcard NODATA (RFC 4035 section 3.1.3.4): an NSEC proving `name`
    // does not exist, and the NSEC of the wildcard at its closest encloser
    // without the type.
    for r in authority {
        let Some(n) = as_nsec(r) else { continue };
        if !nsec_denies(&r.name, n, zone, name) {
            continue;
        }
        let Some(wild) = nsec_wildcard(name, &r.name, n.next_domain_name()) else {
            continue;
        };
        let at_wildcard = authority
            .iter()
            .filter(|x| x.name == wild)
            .filter_map(as_nsec)
            .any(|wn| lacks(types_of(wn), &wild) == Proof::Secure);
        if at_wildcard {
            return Ok(Proof::Secure);
        }
    }
    let nsec3 = nsec3_records(authority);
    if too_many_iterations(&nsec3) {
        return Ok(Proof::OptOut);
    }
    let mut h = Hasher::new(w);
    if let Some((_, n)) = h.matching(name, &nsec3)? {
        return Ok(lacks(n.type_bit_maps().collect(), name));
    }
    // An empty non-terminal under NSEC (RFC 4035 section 3.1.3.2): an NSEC whose
    // next name is below `name` proves `name` exists without data.
    // Not one at a delegation point or DNAME above `name`: the names below
    // are not its zone's.
    if authority.iter().any(|r| {
        as_nsec(r).is_some_and(|n| {
            r.name < *name
                && name.zone_of(n.next_domain_name())
                && *name != *n.next_domain_name()
                && !(r.name.zone_of(name) && below_cut_or_dname(&types_of(n), &r.name, zone))
        })
    }) {
        return Ok(Proof::Secure);
    }
    if nsec3.is_empty() {
        return Ok(Proof::Missing);
    }
    match h.closest_encloser(name, zone, &nsec3)? {
        // NSEC3 wildcard NODATA (RFC 5155 section 8.7): the closest encloser
        // proof, and the wildcard at it matched without the type.
        Some((ce, opt_out)) => {
            if let Some(wild) = wildcard_at(&ce) {
                if let Some((_, n)) = h.matching(&wild, &nsec3)? {
                    if lacks(n.type_bit_maps().collect(), &wild) == Proof::Secure {
                        return Ok(Proof::Secure);
                    }
                }
            }
            // NSEC3 DS NODATA under opt-out (RFC 5155 section 8.6).
            if qtype == RecordType::DS && opt_out {
                return Ok(Proof::OptOut);
            }
            Ok(Proof::Missing)
        }
        None => Ok(Proof::Missing),
    }
}

/// The records of a verified authority section a denial proof may use:
/// all but those owned by a name whose RRset verified as a wildcard
/// expansion (`expanded`). An NSEC or NSEC3 is signed together with its
/// owner name; one "expanded" from a wildcard owner carries a next name
/// the signer never wrote for the name it now stands at, and could deny
/// names that exist (RFC 4035 section 5.3.4: the expansion rules prove a
/// wildcard answer, not non-existence). Authoritative servers never put
/// such records in a denial.
fn denial_records(authority: &[Record], expanded: &[Expanded]) -> Vec<Record> {
    authority
        .iter()
        .filter(|r| !expanded.iter().any(|x| x.owner == r.name))
        .cloned()
        .collect()
}

/// Proof that `name` does not exist (NXDOMAIN): RFC 4035 section 5.4 and
/// RFC 7129 section 3 with NSEC, RFC 5155 section 8.4 with NSEC3. Both
/// need two facts: no name `name` (an NSEC covering it; NSEC3: the closest
/// encloser proof) and no wildcard at the closest encloser that would have
/// answered it (an NSEC or NSEC3 covering `*.<closest encloser>`, which may
/// be the same record). Without the second, an attacker could strip a
/// wildcard answer and keep the NSEC that came with it as an NXDOMAIN.
fn nxdomain_proof(
    name: &Name,
    zone: &Name,
    authority: &[Record],
    w: &mut Work,
) -> Result<Proof, Failure> {
    let nsecs: Vec<(&Name, &NSEC)> = authority
        .iter()
        .filter_map(|r| as_nsec(r).map(|n| (&r.name, n)))
        .collect();
    // An NSEC at a delegation point or a DNAME denies nothing below it.
    let denied = |target: &Name| {
        nsecs
            .iter()
            .any(|(owner, n)| nsec_denies(owner, n, zone, target))
    };
    for (owner, n) in &nsecs {
        if !nsec_denies(owner, n, zone, name) {
            continue;
        }
        if nsec_wildcard(name, owner, n.next_domain_name()).is_some_and(|wild| denied(&wild)) {
            return Ok(Proof::Secure);
        }
    }
    let nsec3 = nsec3_records(authority);
    if too_many_iterations(&nsec3) {
        return Ok(Proof::OptOut);
    }
    if nsec3.is_empty() {
        return Ok(Proof::Missing);
    }
    let mut h = Hasher::new(w);
    // A matching NSEC3 says the name exists (RFC 5155 section 8.4: the
    // closest encloser must not be the name itself).
    if h.matching(name, &nsec3)?.is_some() {
        return Ok(Proof::Missing);
    }
    let Some((ce, opt_out)) = h.closest_encloser(name, zone, &nsec3)? else {
        return Ok(Proof::Missing);
    };
    let Some(wild) = wildcard_at(&ce) else {
        return Ok(Proof::Missing);
    };
    if h.covering(&wild, &nsec3)?.is_none() {
        return Ok(Proof::Missing);
    }
    // RFC 5155 sections 8.4 and 9.2: an opt-out span over the next closer
    // name may hide an unsigned delegation, so the name's absence is not
    // proven: insecure, not secure.
    Ok(if opt_out {
        Proof::OptOut
    } else {
        Proof::Secure
    })
}

/// RFC 4035 section 5.3.4 and RFC 5155 section 8.8: the wildcard answer
/// `x` is proven when an NSEC or NSEC3 shows that the name asked for does
/// not exist below the wildcard's parent (its closest encloser): NSEC
/// covering the owner with that closest encloser, or NSEC3 covering the
/// next closer name. Without it, a signed wildcard answer could be replayed
/// for a name that exists with other data.
fn wildcard_proof(
    x: &Expanded,
    zone: &Name,
    authority: &[Record],
    w: &mut Work,
) -> Result<bool, Failure> {
    let ce = x.owner.trim_to(usize::from(x.labels));
    let by_nsec = authority.iter().any(|r| {
        as_nsec(r).is_some_and(|n| {
            nsec_denies(&r.name, n, zone, &x.owner)
                && nsec_closest_encloser(&x.owner, &r.name, n.next_domain_name()) == ce
        })
    });
    if by_nsec {
        return Ok(true);
    }
    let nsec3 = nsec3_records(authority);
    if nsec3.is_empty() {
        return Ok(false);
    }
    if too_many_iterations(&nsec3) {
        // Treated as insecure elsewhere; here it cannot prove anything.
        return Ok(false);
    }
    let next_closer = x.owner.trim_to(usize::from(x.labels) + 1);
    Ok(Hasher::new(w).covering(&next_closer, &nsec3)?.is_some())
}

/// True when an NSEC or NSEC3 at `owner` (in `zone`) listing `types`
/// proves that `owner` has no `qtype`: the type is absent, and so is CNAME
/// (the name would be an alias). At a delegation point (NS without SOA) the
/// parent is authoritative only for DS (and its own NSEC/NSEC3 and RRSIG,
/// which are never asked as NODATA): every other type is the child's, so
/// the parent's record denies none of them (RFC 4035 section 5.4, RFC 6840
/// section 4.1, RFC 5155 section 8.5). DS is the parent's: a record with SOA
/// (the child's apex) never denies it, except at the root, which has no
/// parent.
pub(crate) fn nodata_holds(
    types: &[RecordType],
    qtype: RecordType,
    owner: &Name,
    zone: &Name,
) -> bool {
    if types.contains(&qtype) || types.contains(&RecordType::CNAME) {
        return false;
    }
    let soa = types.contains(&RecordType::SOA);
    let cut = types.contains(&RecordType::NS) && !soa;
    match qtype {
        RecordType::DS => owner.is_root() || (owner != zone && !soa),
        _ => !cut,
    }
}

/// True when names below `owner` (in `zone`), whose NSEC or NSEC3 lists
/// `types`, are not the zone's to deny: a delegation point (NS without
/// SOA: the names are the child zone's, RFC 4035 section 5.4, RFC 6840
/// section 4.1, RFC 5155 section 8.3) or a DNAME (they are aliases, RFC
/// 6672 section 5.3.2).
pub(crate) fn below_cut_or_dname(types: &[RecordType], owner: &Name, zone: &Name) -> bool {
    (owner != zone && types.contains(&RecordType::NS) && !types.contains(&RecordType::SOA))
        || types.contains(&RecordType::DNAME)
}

/// True when the NSEC at `owner` (in `zone`) proves that `name` does not
/// exist: its span covers the name, and the name is not below a delegation
/// point or DNAME at `owner` (see [`below_cut_or_dname`]).
pub(crate) fn nsec_denies(owner: &Name, n: &NSEC, zone: &Name, name: &Name) -> bool {
    nsec_covers(owner, n.next_domain_name(), name)
        && !(owner.zone_of(name) && below_cut_or_dname(&types_of(n), owner, zone))
}

/// The types an NSEC record lists.
fn types_of(n: &NSEC) -> Vec<RecordType> {
    n.type_bit_maps().collect()
}

/// True when the NSEC span from `owner` to `next` covers `name` (the last
/// NSEC of a zone wraps around to the apex).
pub(crate) fn nsec_covers(owner: &Name, next: &Name, name: &Name) -> bool {
    (owner < name && name < next) || (owner < name && next < owner && next.zone_of(name))
}

/// The closest encloser of `name` an NSEC from `owner` to `next` implies:
/// the longer of `name`'s common ancestors with either end.
pub(crate) fn nsec_closest_encloser(name: &Name, owner: &Name, next: &Name) -> Name {
    let a = common_ancestor(name, owner);
    let b = common_ancestor(name, next);
    if a.iter().count() >= b.iter().count() {
        a
    } else {
        b
    }
}

/// The longest common suffix of two names (labels compared without regard
/// to case, as `Name::zone_of` does), in `a`'s spelling. One pass from the
/// right and one name built: this runs for every answer RFC 8198
/// synthesises from a wildcard, where trimming one label at a time was a
/// sixth of the work.
fn common_ancestor(a: &Name, b: &Name) -> Name {
    let same = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x.eq_ignore_ascii_case(y))
        .count();
    // `trim_to` counts every label, a leading "*" too.
    a.trim_to(same)
}

/// The wildcard that could have answered `name`, which an NSEC from `owner`
/// to `next` covers: `*.` + the closest encloser the span implies (RFC 4592
/// section 4.1). An NXDOMAIN needs it denied too; a wildcard NODATA needs
/// its NSEC without the type.
pub(crate) fn nsec_wildcard(name: &Name, owner: &Name, next: &Name) -> Option<Name> {
    wildcard_at(&nsec_closest_encloser(name, owner, next))
}

/// `*.` + `ce`.
pub(crate) fn wildcard_at(ce: &Name) -> Option<Name> {
    Name::from_ascii("*").ok()?.append_domain(ce).ok()
}

/// The NSEC3 records of a section.
fn nsec3_records(authority: &[Record]) -> Vec<(&Record, &NSEC3)> {
    authority
        .iter()
        .filter_map(|r| as_nsec3(r).map(|n| (r, n)))
        .collect()
}

/// True when some NSEC3 has more iterations than RFC 9276 lets us hash:
/// the denial is treated as insecure (no hash is computed for it).
fn too_many_iterations(nsec3: &[(&Record, &NSEC3)]) -> bool {
    nsec3
        .iter()
        .any(|(_, n)| n.iterations() > MAX_NSEC3_ITERATIONS)
}

/// NSEC3 hashing for one proof: each distinct (name, salt, iterations) is
/// hashed once and charged to the query's [`Work`].
pub(crate) struct Hasher<'w> {
    /// Where the hashes are charged.
    w: &'w mut Work,
    /// Hashes computed so far: name, salt, iterations, digest.
    memo: Vec<(Name, Vec<u8>, u16, Vec<u8>)>,
}

impl<'w> Hasher<'w> {
    /// No hash computed yet.
    pub(crate) fn new(w: &'w mut Work) -> Hasher<'w> {
        Hasher {
            w,
            memo: Vec::new(),
        }
    }

    /// The NSEC3 hash of `name` with the parameters of `n` (owned by `owner`);
    /// `None` for an unsupported algorithm or too many iterations.
    pub(crate) fn hash(
        &mut self,
        name: &Name,
        owner: &Name,
        n: &NSEC3,
    ) -> Result<Option<Vec<u8>>, Failure> {
        if n.hash_algorithm() != Nsec3HashAlgorithm::SHA1 || n.iterations() > MAX_NSEC3_ITERATIONS {
            return Ok(None);
        }
        let name = name.to_lowercase();
        if let Some((_, _, _, d)) = self
            .memo
            .iter()
            .find(|(m, s, i, _)| *m == name && s == n.salt() && *i == n.iterations())
        {
            return Ok(Some(d.clone()));
        }
        self.w.hash(&owner.base_name(), n.iterations())?;
        let Ok(d) = n.hash_algorithm().hash(n.salt(), &name, n.iterations()) else {
            return Ok(None);
        };
        let d = d.as_ref().to_vec();
        self.memo
            .push((name, n.salt().to_vec(), n.iterations(), d.clone()));
        Ok(Some(d))
    }

    /// RFC 5155 section 8.3: the closest encloser of `name` (an ancestor with a
    /// matching NSEC3) whose next closer name is covered by an NSEC3.
    /// Returns the encloser and whether the covering NSEC3 has opt-out.
    /// `None` also when the encloser's NSEC3 is a delegation point's (NS
    /// without SOA) or has DNAME: it comes from the parent side of a cut, or
    /// the names below are aliases, and proves nothing below it.
    fn closest_encloser(
        &mut self,
        name: &Name,
        zone: &Name,
        nsec3: &[(&Record, &NSEC3)],
    ) -> Result<Option<(Name, bool)>, Failure> {
        if nsec3.is_empty() {
            return Ok(None);
        }
        let mut next_closer = name.clone();
        let mut ce = name.base_name();
        loop {
            if let Some((_, m)) = self.matching(&ce, nsec3)? {
                let types: Vec<RecordType> = m.type_bit_maps().collect();
                if below_cut_or_dname(&types, &ce, zone) {
                    return Ok(None);
                }
                return Ok(self
                    .covering(&next_closer, nsec3)?
                    .map(|(_, n)| (ce, n.opt_out())));
            }
            if ce.is_root() {
                return Ok(None);
            }
            next_closer = ce.clone();
            ce = ce.base_name();
        }
    }

    /// The NSEC3 record whose owner hash equals the hash of `name`.
    fn matching<'a>(
        &mut self,
        name: &Name,
        nsec3: &[(&'a Record, &'a NSEC3)],
    ) -> Result<Option<(&'a Record, &'a NSEC3)>, Failure> {
        for &(r, n) in nsec3 {
            if !r.name.base_name().zone_of(name) {
                continue;
            }
            let (Some(h), Some(owner)) = (self.hash(name, &r.name, n)?, owner_hash(&r.name)) else {
                continue;
            };
            if h == owner {
                return Ok(Some((r, n)));
            }
        }
        Ok(None)
    }

    /// The NSEC3 record whose span covers the hash of `name`.
    fn covering<'a>(
        &mut self,
        name: &Name,
        nsec3: &[(&'a Record, &'a NSEC3)],
    ) -> Result<Option<(&'a Record, &'a NSEC3)>, Failure> {
        for &(r, n) in nsec3 {
            if !r.name.base_name().zone_of(name) {
                continue;
            }
            let (Some(h), Some(owner)) = (self.hash(name, &r.name, n)?, owner_hash(&r.name)) else {
                continue;
            };
            let next = n.next_hashed_owner_name();
            let covers = if owner.as_slice() < next {
                owner.as_slice() < h.as_slice() && h.as_slice() < next
            } else {
                // The last span wraps around to the first hash.
                h.as_slice() > owner.as_slice() || h.as_slice() < next
            };
            if covers {
                return Ok(Some((r, n)));
            }
        }
        Ok(None)
    }
}

/// The hash in an NSEC3 owner name's first label (base32hex, RFC 4648 section 7).
pub(crate) fn owner_hash(owner: &Name) -> Option<Vec<u8>> {
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
pub(crate) fn unix_now() -> u32 {
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
pub(crate) fn as_rrsig(r: &Record) -> Option<&RRSIG> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::RRSIG(s)) => Some(s),
        _ => None,
    }
}

/// The NSEC inside a record.
pub(crate) fn as_nsec(r: &Record) -> Option<&NSEC> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::NSEC(n)) => Some(n),
        _ => None,
    }
}

/// The NSEC3 inside a record.
pub(crate) fn as_nsec3(r: &Record) -> Option<&NSEC3> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::NSEC3(n)) => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use std::time::Duration;

    fn n(s: &str) -> Name {
        Name::from_str(s).expect("name")
    }

    #[test]
    fn validation_work_lets_the_runtimes_other_tasks_run_meanwhile() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        // One worker: without the hand-over the task below could not run
        // until the work ended.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("runtime");
        let ran = rt.block_on(async {
            let flag = Arc::new(AtomicBool::new(false));
            let seen = flag.clone();
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                flag.store(true, Ordering::SeqCst);
            });
            tokio::spawn(async move {
                // The "work": waits (bounded) for the other task to have run.
                off_runtime(|| {
                    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
                    while !seen.load(Ordering::SeqCst) && std::time::Instant::now() < until {
                        std::thread::yield_now();
                    }
                    seen.load(Ordering::SeqCst)
                })
            })
            .await
            .expect("task")
        });
        assert!(ran, "the other task ran while the work was computing");
        // Off the runtime (and on a current-thread one) it just runs.
        assert_eq!(off_runtime(|| 7), 7);
    }

    #[test]
    fn signature_checks_stop_at_the_bound_and_name_the_zone() {
        let mut w = Work::new(3, 150, Instant::now() + Duration::from_secs(60));
        for _ in 0..3 {
            w.check(&n("trap.test.")).expect("within the bound");
        }
        let f = w
            .check(&n("trap.test."))
            .expect_err("the fourth check is refused");
        assert_eq!(f.ede.map(|e| e.code), Some(0));
        assert_eq!(w.checks, 3);
        assert_eq!(w.stopped, Some((Limit::MaxValidations, n("trap.test."))));
    }

    #[test]
    fn nsec3_hashes_cost_their_iterations_plus_one() {
        let mut w = Work::new(32, 25, Instant::now() + Duration::from_secs(60));
        w.hash(&n("n3.test."), 10).expect("11 rounds");
        w.hash(&n("n3.test."), 10).expect("22 rounds");
        w.hash(&n("n3.test."), 10)
            .expect_err("33 rounds would pass 25");
        assert_eq!(w.hashes, 22);
        assert_eq!(w.stopped, Some((Limit::Nsec3Hashes, n("n3.test."))));
    }

    #[test]
    fn a_passed_deadline_stops_validation_between_checks() {
        let mut w = Work::new(32, 150, Instant::now());
        let f = w.check(&n("slow.test.")).expect_err("out of time");
        assert_eq!(f.reason, "out of time");
        assert!(w.hash(&n("slow.test."), 0).is_err());
        // Not a work bound: nothing to count or remember.
        assert_eq!(w.stopped, None);
        assert_eq!((w.checks, w.hashes), (0, 0));
    }

    #[test]
    fn the_closest_encloser_of_an_nsec_span_is_the_deeper_common_ancestor() {
        let q = n("foo.wild.test.");
        assert_eq!(
            nsec_closest_encloser(&q, &n("*.wild.test."), &n("x.wild.test.")),
            n("wild.test.")
        );
        // A span inside b.wild.test: the wildcard at wild.test cannot apply.
        assert_eq!(
            nsec_closest_encloser(
                &n("x.b.wild.test."),
                &n("b.wild.test."),
                &n("y.b.wild.test.")
            ),
            n("b.wild.test.")
        );
        assert_eq!(
            common_ancestor(&n("A.B.Wild.TEST."), &n("x.b.wild.test.")),
            n("b.wild.test.")
        );
        assert_eq!(
            common_ancestor(&n("*.wild.test."), &n("*.wild.test.")),
            n("*.wild.test.")
        );
        assert_eq!(
            common_ancestor(&n("*.wild.test."), &n("a.wild.test.")),
            n("wild.test.")
        );
        assert!(common_ancestor(&n("a.test."), &n("a.example.")).is_root());
        assert!(common_ancestor(&n("."), &n("a.test.")).is_root());
        assert!(nsec_covers(&n("*.wild.test."), &n("x.wild.test."), &q));
        assert!(!nsec_covers(
            &n("*.wild.test."),
            &n("x.wild.test."),
            &n("x.wild.test.")
        ));
    }

    #[test]
    fn at_a_delegation_point_only_ds_is_denied_and_nothing_below_it() {
        use RecordType::{A, CNAME, DNAME, DS, NS, NSEC, RRSIG, SOA};
        let (zone, cut) = (n("test."), n("child.test."));
        let deleg = [NS, RRSIG, NSEC];
        assert!(nodata_holds(&deleg, DS, &cut, &zone));
        assert!(!nodata_holds(&deleg, A, &cut, &zone));
        assert!(!nodata_holds(&[NS, DS, RRSIG, NSEC], DS, &cut, &zone));
        assert!(below_cut_or_dname(&deleg, &cut, &zone));
        // The apex: NS with SOA is no cut; DS is the parent's, except at the root.
        let apex = [SOA, NS, RRSIG, NSEC];
        assert!(nodata_holds(&apex, A, &zone, &zone));
        assert!(!nodata_holds(&apex, DS, &zone, &zone));
        assert!(nodata_holds(&apex, DS, &Name::root(), &Name::root()));
        assert!(!below_cut_or_dname(&apex, &zone, &zone));
        // A DNAME owner: its own types are deniable, names below it are not.
        let dname = [DNAME, RRSIG, NSEC];
        assert!(nodata_holds(&dname, A, &n("dn.test."), &zone));
        assert!(below_cut_or_dname(&dname, &n("dn.test."), &zone));
        // A CNAME owner has every type (the alias's).
        assert!(!nodata_holds(
            &[CNAME, RRSIG, NSEC],
            A,
            &n("c.test."),
            &zone
        ));
    }

    #[test]
    fn base32hex_decodes_an_nsec3_owner_label() {
        // "CPNMU" = 0x66 0x6f 0x6f ("foo") in base32hex.
        assert_eq!(base32hex_decode(b"CPNMU"), Some(b"foo".to_vec()));
        assert_eq!(base32hex_decode(b"cpnmu"), Some(b"foo".to_vec()));
        assert_eq!(base32hex_decode(b"W"), None);
    }
}
