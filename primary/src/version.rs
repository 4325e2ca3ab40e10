//! One version of a served zone: its SOA and its records in uncompressed wire form
//! (`sekisho_xfr::serve::encode_record`), built so that the next version costs what
//! changed, not what the zone holds.
//!
//! ```text
//!  full version (file load, AXFR):   base = every record ─────────────── overlay empty
//!  next version (UPDATE, IXFR in):   the same base (shared, Arc) ─ overlay { removed base
//!                                                                   slots, added records }
//!  compact (background, with the file write): base = every record again, overlay empty
//! ```
//!
//! Records are identified as RFC 2136 section 1.1.1 and RFC 1995 compare them: owner
//! (case-insensitive), type, class and RDATA, not the TTL. The base has an index by
//! owner (a hash table of slot numbers, built once per base on first use), so a
//! lookup by record, by RRset or by owner costs the records of that owner. A new
//! version copies the overlay (bounded by compaction), never the base.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};

use hashbrown::HashTable;
use sekisho_xfr::Serial;

/// Where the parts of an encoded record are.
#[derive(Debug, Clone, Copy)]
struct Parts<'a> {
    /// The owner in wire form (uncompressed, as written).
    owner: &'a [u8],
    /// TYPE and CLASS.
    type_class: &'a [u8],
    /// RDATA.
    rdata: &'a [u8],
}

/// Splits an encoded record; `None` for bytes that are not one (never from
/// `encode_record`, which the callers use).
fn parts(rr: &[u8]) -> Option<Parts<'_>> {
    let mut pos = 0usize;
    loop {
        let len = usize::from(*rr.get(pos)?);
        pos += 1;
        if len == 0 {
            break;
        }
        if len & 0xC0 != 0 {
            return None;
        }
        pos += len;
    }
    let owner = rr.get(..pos)?;
    let type_class = rr.get(pos..pos + 4)?;
    let rdlen = usize::from(u16::from_be_bytes([*rr.get(pos + 8)?, *rr.get(pos + 9)?]));
    let rdata = rr.get(pos + 10..pos + 10 + rdlen)?;
    Some(Parts {
        owner,
        type_class,
        rdata,
    })
}

/// The owner of an encoded record (all of it for bytes that are not a record).
pub(crate) fn owner_of(rr: &[u8]) -> &[u8] {
    parts(rr).map_or(rr, |p| p.owner)
}

/// The TYPE of an encoded record.
pub(crate) fn type_of(rr: &[u8]) -> Option<u16> {
    parts(rr).map(|p| u16::from_be_bytes([p.type_class[0], p.type_class[1]]))
}

/// Whether two wire owners are the same name (ASCII case-insensitive; the
/// length octets never hold letters' codes in a way that matters: equal lengths
/// are compared as bytes).
pub(crate) fn same_owner(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Whether two encoded records are the same record (owner case and TTL aside).
pub(crate) fn same_record(a: &[u8], b: &[u8]) -> bool {
    match (parts(a), parts(b)) {
        (Some(x), Some(y)) => {
            same_owner(x.owner, y.owner) && x.type_class == y.type_class && x.rdata == y.rdata
        }
        _ => a == b,
    }
}

/// The identity of an encoded record as bytes: owner lower-cased, TYPE, CLASS, RDATA.
pub(crate) fn identity(rr: &[u8]) -> Vec<u8> {
    match parts(rr) {
        Some(p) => {
            let mut v = Vec::with_capacity(p.owner.len() + 4 + p.rdata.len());
            v.extend(p.owner.iter().map(u8::to_ascii_lowercase));
            v.extend_from_slice(p.type_class);
            v.extend_from_slice(p.rdata);
            v
        }
        None => rr.to_vec(),
    }
}

/// The hasher every index of one base (and its overlays) uses.
type State = std::hash::RandomState;

/// Hash of a wire owner, lower-cased.
fn owner_hash(state: &State, owner: &[u8]) -> u64 {
    let mut h = state.build_hasher();
    for b in owner {
        h.write_u8(b.to_ascii_lowercase());
    }
    h.finish()
}

/// The records of a full version, with their owner index.
#[derive(Debug)]
struct Base {
    /// Every record, in the order of the source.
    records: Vec<Box<[u8]>>,
    /// Slot numbers by owner hash, built on first use (a file publish never needs it).
    index: OnceLock<HashTable<u32>>,
    /// The hasher of `index` and of every overlay on this base.
    state: State,
}

impl Base {
    /// The owner index.
    fn index(&self) -> &HashTable<u32> {
        self.index.get_or_init(|| {
            let mut t = HashTable::with_capacity(self.records.len());
            for (i, r) in self.records.iter().enumerate() {
                let h = owner_hash(&self.state, owner_of(r));
                // Slots fit u32: a zone of 4 billion records is refused long before.
                let slot = u32::try_from(i).unwrap_or(u32::MAX);
                t.insert_unique(h, slot, |&j| {
                    owner_hash(&self.state, owner_of(&self.records[j as usize]))
                });
            }
            t
        })
    }
}

/// What a version changes in its base.
#[derive(Debug, Clone, Default)]
struct Overlay {
    /// Base slots no longer in the zone.
    removed: HashSet<u32>,
    /// Records not in the base, by owner hash.
    added: HashTable<Box<[u8]>>,
}

/// One version of a served zone.
#[derive(Debug)]
pub struct ZoneVersion {
    /// Its serial.
    pub serial: Serial,
    /// The apex SOA, encoded.
    pub soa: Box<[u8]>,
    /// The records of the last full version.
    base: Arc<Base>,
    /// What this version changes in `base`.
    overlay: Arc<Overlay>,
}

impl ZoneVersion {
    /// A full version: `records` (every record but the apex SOA) as given.
    pub fn full(serial: Serial, soa: Box<[u8]>, records: Vec<Box<[u8]>>) -> ZoneVersion {
        ZoneVersion {
            serial,
            soa,
            base: Arc::new(Base {
                records,
                index: OnceLock::new(),
                state: State::new(),
            }),
            overlay: Arc::new(Overlay::default()),
        }
    }

    /// Number of records (SOA aside).
    pub fn len(&self) -> usize {
        self.base.records.len() - self.overlay.removed.len() + self.overlay.added.len()
    }

    /// True when the zone holds nothing but its SOA.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records the overlay adds to the base.
    pub fn added_len(&self) -> usize {
        self.overlay.added.len()
    }

    /// Records held in the overlay (what compaction would fold into a new base).
    pub fn overlay_len(&self) -> usize {
        self.overlay.removed.len() + self.overlay.added.len()
    }

    /// Every record (SOA aside): the base's in source order, then the added ones.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let removed = &self.overlay.removed;
        let base = self
            .base
            .records
            .iter()
            .enumerate()
            .filter_map(move |(i, r)| {
                let slot = u32::try_from(i).unwrap_or(u32::MAX);
                (removed.is_empty() || !removed.contains(&slot)).then_some(&r[..])
            });
        base.chain(self.overlay.added.iter().map(|r| &r[..]))
    }

    /// Approximate bytes of a full transfer (records and both SOAs).
    pub fn wire_bytes(&self) -> usize {
        self.iter().map(<[u8]>::len).sum::<usize>() + 2 * self.soa.len()
    }

    /// Builds the owner index of the base now (a blocking thread calls this after a
    /// full publish of a zone that takes updates, so the first UPDATE does not).
    pub fn prepare_index(&self) {
        let _ = self.base.index();
    }

    /// The records of owner `owner` (wire form, any case).
    pub fn owner_records<'a, 'o>(
        &'a self,
        owner: &'o [u8],
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'o> {
        let h = owner_hash(&self.base.state, owner);
        let base = self
            .base
            .index()
            .iter_hash(h)
            .filter(move |&&i| !self.overlay.removed.contains(&i))
            .map(move |&i| &self.base.records[i as usize][..])
            .filter(move |r| same_owner(owner_of(r), owner));
        let added = self
            .overlay
            .added
            .iter_hash(h)
            .map(|r| &r[..])
            .filter(move |r| same_owner(owner_of(r), owner));
        base.chain(added)
    }

    /// Whether the base (not the overlay) still holds a record of `owner`.
    pub fn base_has_owner(&self, owner: &[u8]) -> bool {
        let h = owner_hash(&self.base.state, owner);
        self.base.index().iter_hash(h).any(|&i| {
            !self.overlay.removed.contains(&i)
                && same_owner(owner_of(&self.base.records[i as usize]), owner)
        })
    }

    /// The stored record that is the same record as `rr` (TTL and owner case aside).
    pub fn find(&self, rr: &[u8]) -> Option<&[u8]> {
        self.owner_records(owner_of(rr))
            .find(|r| same_record(r, rr))
    }

    /// The version `serial` with `soa`: this one without `removed` (records as
    /// [`ZoneVersion::find`] returned them) and with `added` (records not held).
    /// Costs the overlay and the changes, not the zone.
    pub fn with_changes(
        &self,
        serial: Serial,
        soa: Box<[u8]>,
        removed: &[Box<[u8]>],
        added: &[Box<[u8]>],
    ) -> ZoneVersion {
        let state = &self.base.state;
        let index = self.base.index();
        let mut overlay = (*self.overlay).clone();
        for r in removed {
            let h = owner_hash(state, owner_of(r));
            // An added record goes from the overlay; a base record is marked removed.
            if let Ok(e) = overlay.added.find_entry(h, |a| a[..] == r[..]) {
                e.remove();
                continue;
            }
            let slot = index.iter_hash(h).copied().find(|&i| {
                self.base.records[i as usize][..] == r[..] && !overlay.removed.contains(&i)
            });
            if let Some(i) = slot {
                overlay.removed.insert(i);
            }
        }
        for r in added {
            let h = owner_hash(state, owner_of(r));
            overlay
                .added
                .insert_unique(h, r.clone(), |a| owner_hash(state, owner_of(a)));
        }
        ZoneVersion {
            serial,
            soa,
            base: self.base.clone(),
            overlay: Arc::new(overlay),
        }
    }

    /// The same version with its overlay folded into a new base (a full copy:
    /// run on a blocking thread, off the update path).
    pub fn compact(&self) -> ZoneVersion {
        let records = self.iter().map(Box::from).collect();
        let v = ZoneVersion::full(self.serial, self.soa.clone(), records);
        v.prepare_index();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An encoded A record `owner` -> 192.0.2.`last` with `ttl`.
    fn a(owner: &str, last: u8, ttl: u32) -> Box<[u8]> {
        let mut v = Vec::new();
        for label in owner.split('.').filter(|l| !l.is_empty()) {
            v.push(label.len() as u8);
            v.extend_from_slice(label.as_bytes());
        }
        v.push(0);
        v.extend_from_slice(&[0, 1, 0, 1]);
        v.extend_from_slice(&ttl.to_be_bytes());
        v.extend_from_slice(&[0, 4, 192, 0, 2, last]);
        v.into_boxed_slice()
    }

    fn sorted(v: &ZoneVersion) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = v.iter().map(<[u8]>::to_vec).collect();
        out.sort();
        out
    }

    #[test]
    fn records_are_the_same_whatever_the_ttl_or_owner_case() {
        assert!(same_record(&a("x.block", 1, 60), &a("X.Block", 1, 300)));
        assert!(!same_record(&a("x.block", 1, 60), &a("x.block", 2, 60)));
        assert!(!same_record(&a("x.block", 1, 60), &a("y.block", 1, 60)));
    }

    #[test]
    fn changes_build_on_the_base_and_compact_to_the_same_records() {
        let v1 = ZoneVersion::full(
            Serial(1),
            Box::from(&b"soa1"[..]),
            vec![
                a("x.block", 1, 60),
                a("y.block", 2, 60),
                a("y.block", 3, 60),
            ],
        );
        let found = v1.find(&a("Y.block", 2, 0)).map(Box::from).expect("held");
        assert_eq!(found, a("y.block", 2, 60), "the stored TTL comes back");
        assert!(v1.find(&a("z.block", 1, 60)).is_none());
        let v2 = v1.with_changes(
            Serial(2),
            Box::from(&b"soa2"[..]),
            &[found],
            &[a("z.block", 9, 60)],
        );
        assert_eq!(v2.len(), 3);
        assert_eq!(v2.owner_records(&a("y.block", 0, 0)[..9]).count(), 1);
        assert!(v2.find(&a("z.block", 9, 1)).is_some());
        // The added record can go again, and a removed base record come back.
        let v3 = v2.with_changes(
            Serial(3),
            Box::from(&b"soa3"[..]),
            &[a("z.block", 9, 60)],
            &[a("y.block", 2, 60)],
        );
        assert_eq!(sorted(&v3), sorted(&v1));
        assert_eq!(sorted(&v3.compact()), sorted(&v3));
        assert_eq!(v3.compact().overlay_len(), 0);
        assert_eq!(v1.len(), 3, "older versions are untouched");
    }
}
