//! Compiling a policy zone from records in wire form: [`WireCompiler`].
//!
//! [`ZoneRules::compile`] takes hickory [`Record`]s. A zone file of millions of rules does
//! not need them: nearly every owner is one `CNAME .`-style action or a few addresses, and
//! both the parser and the index work in wire form. Building a hickory `Name` and `RData`
//! per record and moving the large `Record` values around cost about a third of a 1M-rule
//! load. The wire compiler groups records by owner on the bytes and compiles the common
//! owners directly:
//!
//! ```text
//!  (owner, type, class, ttl, rdata) ──group by owner (bytes, ignoring case)──▶ owner group
//!     common: class IN, a QNAME/NSDNAME trigger below the apex, and
//!             one CNAME, or only A/AAAA              ──▶ action ──▶ name table
//!     anything else (apex, IP triggers, warnings, other types)
//!             ──▶ hickory Records ──▶ the same path as ZoneRules::compile
//! ```
//!
//! The common path decides exactly what the record path decides for those owners (a
//! property test compiles random zones both ways and compares every rule and warning), and
//! every other owner takes the record path itself, so there is one definition of RPZ
//! semantics.

use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use crate::names::{walk_wire_labels, WireLabels};
use crate::rule::{Warning, WarningReason};
use crate::settings::ZoneSettings;
use crate::zone::{
    classify, is_rpz_namespace, rdata_from_wire, special_target, Builder, Target, ZoneRules,
};

/// Most labels an owner may have to take the common path (longer ones take the record
/// path). Small, because the label array is set up for every owner.
const MAX_FAST_LABELS: usize = 16;

/// One record of the owner group being collected.
#[derive(Debug, Clone, Copy)]
struct Pending {
    rtype: RecordType,
    class: DNSClass,
    ttl: u32,
    /// Span of the RDATA in the group's byte buffer.
    start: u32,
    end: u32,
    /// Span of this record's owner in the group's spelling buffer, when it is spelled in
    /// other case than the group's owner (kept so that records keep their own names).
    spelling: Option<(u32, u32)>,
}

/// Compiles one policy zone from records in wire form; see the [module docs](self).
///
/// Records must come grouped by owner for the fast path to apply (zone files and transfers
/// are); an owner seen again later is merged as [`ZoneRules::compile`] merges it.
pub struct WireCompiler {
    builder: Builder,
    settings: ZoneSettings,
    /// The apex labels, lower-cased, leftmost first.
    apex: Vec<Vec<u8>>,
    /// The apex in wire form (root label included), lower-cased.
    apex_wire: Vec<u8>,
    /// Owner of the current group (wire form, case as given).
    owner: Vec<u8>,
    /// Records of the current group.
    group: Vec<Pending>,
    /// RDATA of the current group, back to back.
    rdata: Vec<u8>,
    /// Owners of the current group spelled in other case than `owner`.
    spellings: Vec<u8>,
}

impl std::fmt::Debug for WireCompiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireCompiler")
            .field("zone", &self.settings.name)
            .finish_non_exhaustive()
    }
}

impl WireCompiler {
    /// A compiler for the zone of `settings`, sized for about `records` records.
    pub fn new(settings: ZoneSettings, records: usize) -> Self {
        let apex: Vec<Vec<u8>> = settings
            .name
            .iter()
            .map(<[u8]>::to_ascii_lowercase)
            .collect();
        Self {
            builder: Builder::new(&settings, records),
            settings,
            apex_wire: apex
                .iter()
                .flat_map(|l| std::iter::once(l.len() as u8).chain(l.iter().copied()))
                .chain(std::iter::once(0))
                .collect(),
            apex,
            owner: Vec::with_capacity(256),
            group: Vec::with_capacity(8),
            rdata: Vec::with_capacity(512),
            spellings: Vec::new(),
        }
    }

    /// Adds one record: `owner` is an uncompressed absolute name in wire form, `rdata`
    /// uncompressed wire RDATA of `rtype`. Data that does not decode is skipped with a
    /// [`WarningReason::BadRdata`] warning, as the record path skips data it cannot store.
    pub fn add(
        &mut self,
        owner: &[u8],
        rtype: RecordType,
        class: DNSClass,
        ttl: u32,
        rdata: &[u8],
    ) {
        if !self.group.is_empty() && !self.owner.eq_ignore_ascii_case(owner) {
            self.flush();
        }
        let mut spelling = None;
        if self.group.is_empty() {
            self.owner.clear();
            self.owner.extend_from_slice(owner);
        } else if self.owner != owner {
            let at = self.spellings.len() as u32;
            self.spellings.extend_from_slice(owner);
            spelling = Some((at, self.spellings.len() as u32));
        }
        let start = self.rdata.len() as u32;
        self.rdata.extend_from_slice(rdata);
        self.group.push(Pending {
            rtype,
            class,
            ttl,
            start,
            end: self.rdata.len() as u32,
            spelling,
        });
    }

    /// Compiles what is left and returns the zone and its warnings.
    pub fn finish(mut self) -> (ZoneRules, Vec<Warning>) {
        self.flush();
        self.builder.finish(self.settings)
    }

    /// Compiles the current owner group.
    fn flush(&mut self) {
        // A record given twice in one group (rare: groups are one to a few records).
        if self.group.len() > 1 && !self.builder.merged {
            let rdata = |p: &Pending| &self.rdata[p.start as usize..p.end as usize];
            self.builder.merged = self.group.iter().enumerate().any(|(i, a)| {
                self.group[i + 1..]
                    .iter()
                    .any(|b| a.rtype == b.rtype && rdata(a).eq_ignore_ascii_case(rdata(b)))
            });
        }
        if !self.group.is_empty() && !self.compile_common() {
            self.compile_as_records();
        }
        self.group.clear();
        self.rdata.clear();
        self.spellings.clear();
    }

    /// Compiles the group on the common path; `false` (nothing done) if it is not common.
    fn compile_common(&mut self) -> bool {
        if self.group.iter().any(|p| p.class != DNSClass::IN) {
            return false;
        }
        let mut owner: [&[u8]; MAX_FAST_LABELS] = [&[]; MAX_FAST_LABELS];
        let Some(n) = split_labels(&self.owner, &mut owner) else {
            return false;
        };
        let apex_labels = self.apex.len();
        if n <= apex_labels {
            return false;
        }
        // The apex labels start where the labels before them end; their bytes, as the
        // parser appends the origin, are nearly always the apex's own: one comparison of
        // the tail first, label by label ignoring case only if that fails.
        let rel_len: usize = owner[..n - apex_labels].iter().map(|l| 1 + l.len()).sum();
        let tail = self.owner.get(rel_len..);
        if tail != Some(&self.apex_wire[..])
            && !owner[n - apex_labels..n]
                .iter()
                .zip(&self.apex)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
        {
            return false;
        }
        let Some(Target::Name(kind, labels)) = classify(&owner[..n - apex_labels]) else {
            return false;
        };
        let first = self.group[0];
        let action = if first.rtype == RecordType::CNAME {
            if self.group.len() != 1 {
                return false;
            }
            let rdata = &self.rdata[first.start as usize..first.end as usize];
            let Some(t) = count_labels(rdata) else {
                return false;
            };
            let target = || WireLabels::new(rdata, t);
            let special = special_target(|| owner[..n].iter().copied(), target, apex_labels);
            match special {
                Some(v) => Some((v, first.ttl)),
                // An unknown `rpz-` action is warned about on the record path.
                None if is_rpz_namespace(target().last()) => return false,
                None => self
                    .builder
                    .store_encoded(vec![(RecordType::CNAME, first.ttl, rdata.to_vec())])
                    .map(|v| (v, first.ttl)),
            }
        } else {
            let fixed = |p: &Pending| match p.rtype {
                RecordType::A => p.end - p.start == 4,
                RecordType::AAAA => p.end - p.start == 16,
                _ => false,
            };
            if !self.group.iter().all(fixed) {
                return false;
            }
            let enc = self
                .group
                .iter()
                .map(|p| {
                    let bytes = &self.rdata[p.start as usize..p.end as usize];
                    (p.rtype, p.ttl, bytes.to_vec())
                })
                .collect();
            let ttl = self.group.iter().map(|p| p.ttl).min().unwrap_or(0);
            self.builder.store_encoded(enc).map(|v| (v, ttl))
        };
        if let Some((value, ttl)) = action {
            // The key's labels are the first ones of the owner, so its wire form is the
            // front of the owner's bytes: copied in one piece.
            let key_len: usize = labels.iter().map(|l| 1 + l.len()).sum();
            match self.owner.get(..key_len) {
                Some(wire) => self
                    .builder
                    .push_name_rule_wire(kind, wire, labels, ttl, value),
                None => self.builder.push_name_rule(kind, labels, ttl, value),
            }
        }
        true
    }

    /// Compiles the group as hickory records, through the path of [`ZoneRules::compile`].
    fn compile_as_records(&mut self) {
        let Ok(owner) = name_from_wire(&self.owner) else {
            for p in &self.group {
                self.builder
                    .warn_raw(self.settings.name.clone(), p.rtype, WarningReason::BadOwner);
            }
            return;
        };
        let mut records = Vec::with_capacity(self.group.len());
        for p in &self.group {
            let bytes = &self.rdata[p.start as usize..p.end as usize];
            let name = match p.spelling {
                Some((a, b)) => name_from_wire(&self.spellings[a as usize..b as usize])
                    .unwrap_or_else(|()| owner.clone()),
                None => owner.clone(),
            };
            match rdata_from_wire(p.rtype, bytes) {
                Some(data) => {
                    let mut r = Record::from_rdata(name, p.ttl, data);
                    r.dns_class = p.class;
                    records.push(r);
                }
                None => self
                    .builder
                    .warn_raw(name, p.rtype, WarningReason::BadRdata),
            }
        }
        if !records.is_empty() {
            self.builder.add_owner(&records);
        }
    }
}

/// Splits an uncompressed wire name into its labels (root excluded); `None` if it is not
/// exactly one well-formed name or has more labels than `out` holds.
fn split_labels<'w>(wire: &'w [u8], out: &mut [&'w [u8]]) -> Option<usize> {
    walk_wire_labels(wire, |i, _, label| {
        *out.get_mut(i)? = label;
        Some(())
    })
}

/// Number of labels (root excluded) of an uncompressed wire name that is all of `wire`.
fn count_labels(wire: &[u8]) -> Option<usize> {
    walk_wire_labels(wire, |_, _, _| Some(()))
}

/// A hickory name from uncompressed wire form (all of `wire`).
fn name_from_wire(wire: &[u8]) -> Result<Name, ()> {
    use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
    let mut decoder = BinDecoder::new(wire);
    let name = Name::read(&mut decoder).map_err(drop)?;
    if decoder.index() == wire.len() {
        Ok(name)
    } else {
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_only_from_one_well_formed_name() {
        let mut out: [&[u8]; 4] = [&[]; 4];
        assert_eq!(split_labels(b"\x03bad\x07example\x00", &mut out), Some(2));
        assert_eq!(out[..2], [&b"bad"[..], &b"example"[..]]);
        assert_eq!(split_labels(b"\x00", &mut out), Some(0));
        assert_eq!(count_labels(b"\x03bad\x07example\x00"), Some(2));
        let labels = WireLabels::new(b"\x03bad\x07example\x00", 2);
        assert_eq!(labels.len(), 2);
        assert_eq!(labels.collect::<Vec<_>>(), [&b"bad"[..], &b"example"[..]]);
        for bad in [
            &b"\x03bad"[..],
            b"\x03bad\x00\x00",
            b"\xc0\x0c",
            b"\x05ab\x00",
            b"",
        ] {
            assert_eq!(count_labels(bad), None, "{bad:?}");
        }
        assert_eq!(split_labels(b"\x03bad", &mut out), None, "no root label");
        assert_eq!(
            split_labels(b"\x03bad\x00\x00", &mut out),
            None,
            "bytes after the root"
        );
        assert_eq!(split_labels(b"\xc0\x0c", &mut out), None, "a pointer");
        assert_eq!(
            split_labels(b"\x01a\x01b\x01c\x01d\x01e\x00", &mut out),
            None,
            "too many"
        );
    }
}
