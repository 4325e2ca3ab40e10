//! Zones of a scenario: signed at load time, and answered like an
//! authoritative server would.
//!
//! Signing: one Ed25519 key per signed zone (flags 257: it signs
//! everything), derived from a fixed seed and the zone's name, so the keys,
//! key tags and DS records are the same every run; signatures are made at
//! load time with a window around now (`sigs=`), so they never expire.
//! NSEC chains only (no NSEC3).
//!
//! Answers follow RFC 1034 section 4.3.2 for the zones one server serves:
//! the deepest zone holding the name (its parent for a DS at a cut), then a
//! referral at a cut (NS, DS or the NSEC proving none, glue), data, a CNAME
//! followed inside the zone, NODATA or NXDOMAIN with SOA and NSEC proofs.
//! Wildcards are expanded (RFC 4592) with the NSEC proving no closer name.
//! DNSSEC records go only to queries with DO=1. No DNAME.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::crypto::Ed25519SigningKey;
use hickory_proto::dnssec::rdata::sig::SigInput;
use hickory_proto::dnssec::rdata::{DNSSECRData, DNSKEY, DS, NSEC, RRSIG};
use hickory_proto::dnssec::{Algorithm, DigestType, SigningKey, TBS};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};

use super::parse::{Anchor, DsMode, SigWindow, ZoneSpec};

/// A DNSSEC key pair of a scenario zone.
pub(crate) struct ZoneKey {
    /// The private half.
    signing: Ed25519SigningKey,
    /// The DNSKEY RDATA.
    pub(crate) dnskey: DNSKEY,
    /// Its key tag.
    tag: u16,
}

impl ZoneKey {
    /// The key named `role` of `zone`, from a seed: same zone, same key.
    pub(crate) fn derive(role: &str, zone: &Name) -> Result<ZoneKey, String> {
        let label = format!("sekisho scenario {role} {}", zone.to_lowercase());
        let seed = ring::digest::digest(&ring::digest::SHA256, label.as_bytes());
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed.as_ref())
            .map_err(|e| format!("key for {zone}: {e}"))?;
        let signing = Ed25519SigningKey::from_ed25519(pair);
        let public = signing
            .to_public_key()
            .map_err(|e| format!("key for {zone}: {e}"))?;
        let dnskey = DNSKEY::new(true, true, false, public);
        let tag = dnskey
            .calculate_key_tag()
            .map_err(|e| format!("key tag for {zone}: {e}"))?;
        Ok(ZoneKey {
            signing,
            dnskey,
            tag,
        })
    }

    /// The DS (SHA-256) of this key as a record owned by `zone`.
    pub(crate) fn ds(&self, zone: &Name, ttl: u32) -> Result<Record, String> {
        let digest = self
            .dnskey
            .to_digest(zone, DigestType::SHA256)
            .map_err(|e| format!("DS for {zone}: {e}"))?;
        let ds = DS::new(
            self.tag,
            Algorithm::ED25519,
            DigestType::SHA256,
            digest.as_ref().to_vec(),
        );
        Ok(Record::from_rdata(
            zone.clone(),
            ttl,
            RData::DNSSEC(DNSSECRData::DS(ds)),
        ))
    }

    /// The DNSKEY record owned by `zone`.
    pub(crate) fn dnskey_record(&self, zone: &Name, ttl: u32) -> Record {
        Record::from_rdata(
            zone.clone(),
            ttl,
            RData::DNSSEC(DNSSECRData::DNSKEY(self.dnskey.clone())),
        )
    }

    /// An RRSIG over `set` (one RRset) by this key for `zone`.
    fn sign(&self, zone: &Name, set: &[Record], window: (u32, u32)) -> Result<Record, String> {
        let first = set.first().ok_or("empty RRset")?;
        let input = SigInput {
            type_covered: first.record_type(),
            algorithm: Algorithm::ED25519,
            num_labels: first.name.num_labels(),
            original_ttl: first.ttl,
            sig_expiration: SerialNumber::new(window.1),
            sig_inception: SerialNumber::new(window.0),
            key_tag: self.tag,
            signer_name: zone.clone(),
        };
        let tbs = TBS::from_input(&first.name, DNSClass::IN, &input, set.iter())
            .map_err(|e| format!("signing {} {}: {e}", first.name, first.record_type()))?;
        let sig = self
            .signing
            .sign(&tbs)
            .map_err(|e| format!("signing {} {}: {e}", first.name, first.record_type()))?;
        Ok(Record::from_rdata(
            first.name.clone(),
            first.ttl,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
        ))
    }
}

/// A loaded zone: RRsets by owner and type, RRSIGs apart.
#[derive(Debug)]
pub(crate) struct Zone {
    /// The apex.
    pub(crate) apex: Name,
    /// Signed (serves RRSIGs and NSEC to DO=1 queries).
    signed: bool,
    /// RRsets (no RRSIGs), in canonical name order.
    sets: BTreeMap<Name, BTreeMap<u16, Vec<Record>>>,
    /// RRSIGs by (owner, covered type).
    sigs: HashMap<(Name, u16), Vec<Record>>,
}

/// Seconds since the epoch.
fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// The (inception, expiration) of a signature window.
fn window(w: SigWindow) -> (u32, u32) {
    const DAY: u32 = 86_400;
    let t = now();
    match w {
        SigWindow::Valid => (t - 3600, t + 30 * DAY),
        SigWindow::Expired => (t - 60 * DAY, t - 30 * DAY),
        SigWindow::Future => (t + 30 * DAY, t + 60 * DAY),
    }
}

/// Every zone of a scenario, loaded and signed, and the root's trust anchor.
pub(crate) fn load_all(
    specs: &[ZoneSpec],
    anchor: Option<Anchor>,
) -> Result<(Vec<Zone>, Vec<Record>), String> {
    let mut keys: HashMap<Name, ZoneKey> = HashMap::new();
    for z in specs.iter().filter(|z| z.signed) {
        if keys
            .insert(z.name.clone(), ZoneKey::derive("key", &z.name)?)
            .is_some()
        {
            return Err(format!("line {}: zone {} defined twice", z.line, z.name));
        }
    }
    let mut zones = Vec::new();
    for z in specs {
        let mut records = z.records.clone();
        // DS records for signed children delegated from this zone.
        for child in specs.iter().filter(|c| c.signed && c.name != z.name) {
            let parent = specs
                .iter()
                .filter(|p| p.name != child.name && p.name.zone_of(&child.name))
                .max_by_key(|p| p.name.num_labels());
            if parent.map(|p| &p.name) != Some(&z.name) {
                continue;
            }
            let delegated = records
                .iter()
                .any(|r| r.name == child.name && r.record_type() == RecordType::NS);
            if !delegated {
                return Err(format!(
                    "line {}: signed zone {} has no NS in its parent {}",
                    child.line, child.name, z.name
                ));
            }
            let ds = match child.ds {
                DsMode::None => continue,
                DsMode::Yes => keys
                    .get(&child.name)
                    .ok_or("no key")?
                    .ds(&child.name, 3600)?,
                DsMode::Wrong => ZoneKey::derive("decoy", &child.name)?.ds(&child.name, 3600)?,
            };
            records.push(ds);
        }
        let key = keys.get(&z.name);
        zones.push(Zone::load(z, records, key)?);
    }
    let root = Name::root();
    let anchor = match anchor.unwrap_or(if keys.contains_key(&root) {
        Anchor::Ds
    } else {
        Anchor::None
    }) {
        Anchor::None => Vec::new(),
        Anchor::Ds => vec![keys
            .get(&root)
            .ok_or("trust-anchor ds: the root is not signed")?
            .ds(&root, 86400)?],
        Anchor::Dnskey => vec![keys
            .get(&root)
            .ok_or("trust-anchor dnskey: the root is not signed")?
            .dnskey_record(&root, 86400)],
        Anchor::Wrong => vec![ZoneKey::derive("decoy", &root)?.ds(&root, 86400)?],
    };
    Ok((zones, anchor))
}

impl Zone {
    /// Load `spec` with `records` (its own plus DS for its children), signed
    /// with `key` when the zone is signed.
    fn load(spec: &ZoneSpec, records: Vec<Record>, key: Option<&ZoneKey>) -> Result<Zone, String> {
        let mut z = Zone {
            apex: spec.name.clone(),
            signed: spec.signed,
            sets: BTreeMap::new(),
            sigs: HashMap::new(),
        };
        for r in records {
            z.insert(r);
        }
        if z.rrset(&z.apex, RecordType::SOA).is_none() {
            return Err(format!("line {}: zone {} has no SOA", spec.line, spec.name));
        }
        let Some(key) = key else {
            return z.replace(&spec.after_signing);
        };
        let ttl = z.soa_ttl();
        z.insert(key.dnskey_record(&z.apex, 3600));
        // NSEC chain over the authoritative names (RFC 4034 section 4).
        let names: Vec<Name> = z.sets.keys().filter(|n| !z.occluded(n)).cloned().collect();
        for (k, n) in names.iter().enumerate() {
            let next = names.get(k + 1).unwrap_or(&names[0]).clone();
            let mut types: BTreeSet<RecordType> =
                z.sets[n].keys().map(|t| RecordType::from(*t)).collect();
            types.extend([RecordType::NSEC, RecordType::RRSIG]);
            z.insert(Record::from_rdata(
                n.clone(),
                ttl,
                RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(next, types))),
            ));
        }
        let win = window(spec.sigs);
        let mut sigs = Vec::new();
        for (owner, types) in &z.sets {
            if z.occluded(owner) {
                continue;
            }
            let cut = z.is_cut(owner);
            for (t, set) in types {
                let t = RecordType::from(*t);
                if cut && t != RecordType::DS && t != RecordType::NSEC {
                    continue; // delegation NS: not authoritative here
                }
                sigs.push(key.sign(&z.apex, set, win)?);
            }
        }
        for s in sigs {
            z.insert(s);
        }
        z.replace(&spec.after_signing)
    }

    /// Replace RRsets with `records` (RRSIGs kept as they were).
    fn replace(mut self, records: &[Record]) -> Result<Zone, String> {
        for r in records {
            if let Some(set) = self
                .sets
                .get_mut(&r.name)
                .and_then(|m| m.get_mut(&u16::from(r.record_type())))
            {
                set.clear();
            }
        }
        for r in records {
            self.insert(r.clone());
        }
        Ok(self)
    }

    /// Add one record.
    fn insert(&mut self, r: Record) {
        if let RData::DNSSEC(DNSSECRData::RRSIG(s)) = &r.data {
            let key = (r.name.clone(), u16::from(s.input().type_covered));
            self.sigs.entry(key).or_default().push(r);
            return;
        }
        let set = self
            .sets
            .entry(r.name.clone())
            .or_default()
            .entry(u16::from(r.record_type()))
            .or_default();
        if !set.iter().any(|x| x.data == r.data) {
            set.push(r);
        }
    }

    /// min(SOA TTL, SOA MINIMUM): the TTL of negative answers and NSEC.
    fn soa_ttl(&self) -> u32 {
        self.rrset(&self.apex, RecordType::SOA)
            .and_then(|s| s.first())
            .map(|r| match &r.data {
                RData::SOA(soa) => r.ttl.min(soa.minimum),
                _ => r.ttl,
            })
            .unwrap_or(300)
    }

    /// The RRset (`name`, `t`).
    fn rrset(&self, name: &Name, t: RecordType) -> Option<&Vec<Record>> {
        self.sets
            .get(name)
            .and_then(|m| m.get(&u16::from(t)))
            .filter(|s| !s.is_empty())
    }

    /// True when `name` is a delegation point of this zone.
    fn is_cut(&self, name: &Name) -> bool {
        *name != self.apex && self.rrset(name, RecordType::NS).is_some()
    }

    /// True when `name` lies strictly below a cut (glue, not authoritative).
    fn occluded(&self, name: &Name) -> bool {
        let mut n = name.clone();
        while n != self.apex && !n.is_root() {
            n = n.base_name();
            if self.is_cut(&n) {
                return true;
            }
        }
        false
    }

    /// True when something is owned at or below `name`.
    fn exists(&self, name: &Name) -> bool {
        self.sets
            .range(name.clone()..)
            .next()
            .is_some_and(|(n, _)| name.zone_of(n))
    }

    /// RRSIGs of (`name`, `t`).
    fn sigs_of(&self, name: &Name, t: RecordType) -> Vec<Record> {
        self.sigs
            .get(&(name.clone(), u16::from(t)))
            .cloned()
            .unwrap_or_default()
    }

    /// The NSEC record at `name`, or the one whose span covers it.
    fn nsec_for(&self, name: &Name) -> Option<&Record> {
        let at_or_before = self
            .sets
            .range(..=name.clone())
            .rev()
            .find_map(|(_, m)| m.get(&u16::from(RecordType::NSEC)));
        let set = match at_or_before {
            Some(s) => s,
            None => self
                .sets
                .values()
                .rev()
                .find_map(|m| m.get(&u16::from(RecordType::NSEC)))?,
        };
        set.first()
    }

    /// The closest encloser of `qname` (RFC 5155 section 1.3): its
    /// deepest existing ancestor in this zone.
    fn closest_encloser(&self, qname: &Name) -> Name {
        let mut ce = qname.base_name();
        while !self.exists(&ce) && ce != self.apex {
            ce = ce.base_name();
        }
        ce
    }

    /// The wildcard `*.<closest encloser>` that matches a missing `qname`.
    fn wildcard_for(&self, qname: &Name) -> Option<Name> {
        let w = Name::from_ascii("*")
            .and_then(|s| s.append_domain(&self.closest_encloser(qname)))
            .ok()?;
        (self.sets.contains_key(&w) && !self.occluded(&w)).then_some(w)
    }

    /// Answer `qname` from the wildcard `w` (RFC 4034 section 3.1.3): the
    /// records and their RRSIGs with the owner replaced, and for DO=1 the
    /// NSEC that proves no closer name exists (RFC 4035 section 3.1.3.3).
    fn expand(&self, w: &Name, qname: &Name, qtype: RecordType, dnssec: bool, out: &mut Message) {
        out.metadata.authoritative = true;
        let t = match self.rrset(w, qtype) {
            Some(_) => qtype,
            None if self.rrset(w, RecordType::CNAME).is_some() => RecordType::CNAME,
            None => {
                // NODATA at the wildcard: SOA, the wildcard's NSEC and the covering one.
                let soa = self
                    .rrset(&self.apex, RecordType::SOA)
                    .cloned()
                    .unwrap_or_default();
                out.authorities.extend(soa);
                if dnssec {
                    out.authorities
                        .extend(self.sigs_of(&self.apex, RecordType::SOA));
                    for n in [self.nsec_for(qname), self.nsec_for(w)]
                        .into_iter()
                        .flatten()
                    {
                        if !out
                            .authorities
                            .iter()
                            .any(|r| r.name == n.name && r.data == n.data)
                        {
                            out.authorities.push(n.clone());
                            out.authorities
                                .extend(self.sigs_of(&n.name, RecordType::NSEC));
                        }
                    }
                }
                return;
            }
        };
        let renamed = |r: &Record| {
            let mut r = r.clone();
            r.name = qname.clone();
            r
        };
        let set = self.rrset(w, t).cloned().unwrap_or_default();
        out.answers.extend(set.iter().map(renamed));
        if dnssec {
            out.answers.extend(self.sigs_of(w, t).iter().map(renamed));
            if let Some(n) = self.nsec_for(qname) {
                out.authorities.push(n.clone());
                out.authorities
                    .extend(self.sigs_of(&n.name, RecordType::NSEC));
            }
        }
    }

    /// The RRSIGs this zone holds over the RRset of `r`, if `r` is in it.
    pub(crate) fn signatures(&self, r: &Record) -> Vec<Record> {
        let held = self
            .rrset(&r.name, r.record_type())
            .is_some_and(|set| set.iter().any(|x| x.data == r.data));
        if !held {
            return Vec::new();
        }
        self.sigs_of(&r.name, r.record_type())
    }

    /// The RRset (`from`, `t`), with its RRSIGs for DO=1 in a signed zone,
    /// every owner renamed to `to` (the RRSIGs keep their label count).
    pub(crate) fn rrset_renamed(
        &self,
        from: &Name,
        t: RecordType,
        to: &Name,
        dnssec: bool,
    ) -> Vec<Record> {
        let mut out = self.rrset(from, t).cloned().unwrap_or_default();
        if dnssec && self.signed {
            out.extend(self.sigs_of(from, t));
        }
        for r in &mut out {
            r.name = to.clone();
        }
        out
    }

    /// Whether this zone can answer for `qname` at all.
    pub(crate) fn holds(&self, qname: &Name) -> bool {
        self.apex.zone_of(qname)
    }

    /// The response of this zone's authority to (`qname`, `qtype`).
    pub(crate) fn respond(&self, qname: &Name, qtype: RecordType, dnssec: bool, out: &mut Message) {
        let dnssec = dnssec && self.signed;
        let with_sigs = |v: &mut Vec<Record>, name: &Name, t: RecordType, set: &[Record]| {
            v.extend(set.iter().cloned());
            if dnssec {
                v.extend(self.sigs_of(name, t));
            }
        };
        // A cut on the way down: refer (a DS question at the cut is ours).
        let depth = usize::from(qname.num_labels());
        for labels in usize::from(self.apex.num_labels()) + 1..=depth {
            let n = qname.trim_to(labels);
            if !self.is_cut(&n) || (n == *qname && qtype == RecordType::DS) {
                continue;
            }
            let ns = self.rrset(&n, RecordType::NS).cloned().unwrap_or_default();
            let mut auth = ns.clone();
            if dnssec {
                match self.rrset(&n, RecordType::DS) {
                    Some(ds) => with_sigs(&mut auth, &n, RecordType::DS, ds),
                    None => {
                        if let Some(nsec) = self.rrset(&n, RecordType::NSEC) {
                            with_sigs(&mut auth, &n, RecordType::NSEC, nsec);
                        }
                    }
                }
            }
            for r in &ns {
                let RData::NS(target) = &r.data else { continue };
                if !self.apex.zone_of(&target.0) {
                    continue;
                }
                for t in [RecordType::A, RecordType::AAAA] {
                    if let Some(g) = self.rrset(&target.0, t) {
                        out.additionals.extend(g.iter().cloned());
                    }
                }
            }
            out.authorities = auth;
            return;
        }
        out.metadata.authoritative = true;
        let mut answers = Vec::new();
        let mut cur = qname.clone();
        for _ in 0..8 {
            if let Some(set) = self.rrset(&cur, qtype) {
                with_sigs(&mut answers, &cur, qtype, set);
                out.answers = answers;
                return;
            }
            let Some(cname) = self.rrset(&cur, RecordType::CNAME) else {
                break;
            };
            with_sigs(&mut answers, &cur, RecordType::CNAME, cname);
            let RData::CNAME(target) = &cname[0].data else {
                break;
            };
            if qtype == RecordType::CNAME
                || !self.apex.zone_of(&target.0)
                || self.occluded(&target.0)
                || self.is_cut(&target.0)
            {
                out.answers = answers;
                return;
            }
            cur = target.0.clone();
        }
        if !answers.is_empty() {
            out.answers = answers;
            return;
        }
        if !self.exists(qname) {
            if let Some(w) = self.wildcard_for(qname) {
                return self.expand(&w, qname, qtype, dnssec, out);
            }
        }
        // Negative: SOA, and NSEC proofs for DO=1.
        let soa = self
            .rrset(&self.apex, RecordType::SOA)
            .cloned()
            .unwrap_or_default();
        let mut auth = Vec::new();
        with_sigs(&mut auth, &self.apex, RecordType::SOA, &soa);
        let mut proofs: Vec<Name> = Vec::new();
        if self.exists(qname) {
            // NODATA (an empty non-terminal has no NSEC: the covering one proves it).
        } else {
            out.metadata.response_code = ResponseCode::NXDomain;
            let ce = self.closest_encloser(qname);
            if let Ok(w) = Name::from_ascii("*").and_then(|s| s.append_domain(&ce)) {
                proofs.push(w);
            }
        }
        proofs.insert(0, qname.clone());
        if dnssec {
            let mut seen: Vec<Name> = Vec::new();
            for p in &proofs {
                if let Some(n) = self.nsec_for(p) {
                    if !seen.contains(&n.name) {
                        seen.push(n.name.clone());
                        auth.push(n.clone());
                        auth.extend(self.sigs_of(&n.name, RecordType::NSEC));
                    }
                }
            }
        }
        out.authorities = auth;
    }
}
