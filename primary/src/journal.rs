//! Zone versions and the IXFR journal of differences between them, as BIND's
//! `ixfr-from-differences`: each new version of a served zone is compared with the
//! previous one and the difference kept, so a secondary gets only what changed.
//!
//! ```text
//!  version N ──diff──▶ entry { N → N+1: removed, added } ──┐
//!  version N+1 ─diff─▶ entry { N+1 → N+2 }  ───────────────┤ Journal (oldest dropped past
//!  version N+2 (current)                                   ┘  `max_bytes` or `max_versions`)
//!
//!  IXFR from N:   chain_from(N) = [N→N+1, N+1→N+2] ─▶ incremental answer (RFC 1995 section 4)
//!  IXFR from M:   not in the journal               ─▶ full answer, AXFR-style
//! ```
//!
//! Records are held in uncompressed wire form (`sekisho_xfr::serve::encode_record`):
//! comparison is byte equality (owner case and TTL included, so a TTL change is a
//! removal plus an addition, as in BIND's journal), and a transfer copies bytes
//! without re-encoding. The journal lives in memory only: after a restart the
//! first change starts a new one, and secondaries older than that get a full
//! transfer, which is always correct.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use sekisho_xfr::Serial;

/// Most versions the journal keeps, whatever their size.
pub const MAX_VERSIONS: usize = 64;

/// One version of a served zone.
#[derive(Debug)]
pub struct ZoneVersion {
    /// Its serial.
    pub serial: Serial,
    /// The apex SOA, encoded.
    pub soa: Box<[u8]>,
    /// Every other record, encoded, in the order of the source (file or transfer).
    pub records: Vec<Box<[u8]>>,
}

impl ZoneVersion {
    /// Approximate bytes of a full transfer (records and both SOAs).
    pub fn wire_bytes(&self) -> usize {
        self.records.iter().map(|r| r.len()).sum::<usize>() + 2 * self.soa.len()
    }
}

/// The difference between two consecutive versions.
#[derive(Debug)]
pub struct JournalEntry {
    /// Serial of the older version.
    pub from: Serial,
    /// Serial of the newer version.
    pub to: Serial,
    /// SOA of the older version.
    pub old_soa: Box<[u8]>,
    /// SOA of the newer version.
    pub new_soa: Box<[u8]>,
    /// Records in the older version only.
    pub removed: Vec<Box<[u8]>>,
    /// Records in the newer version only.
    pub added: Vec<Box<[u8]>>,
}

impl JournalEntry {
    /// The difference from `old` to `new` (SOAs excluded from the record sets).
    pub fn between(old: &ZoneVersion, new: &ZoneVersion) -> JournalEntry {
        let old_set: HashSet<&[u8]> = old.records.iter().map(|r| &r[..]).collect();
        let new_set: HashSet<&[u8]> = new.records.iter().map(|r| &r[..]).collect();
        let mut seen = HashSet::new();
        let removed = old
            .records
            .iter()
            .filter(|r| !new_set.contains(&r[..]) && seen.insert(&r[..]))
            .cloned()
            .collect();
        let mut seen = HashSet::new();
        let added = new
            .records
            .iter()
            .filter(|r| !old_set.contains(&r[..]) && seen.insert(&r[..]))
            .cloned()
            .collect();
        JournalEntry {
            from: old.serial,
            to: new.serial,
            old_soa: old.soa.clone(),
            new_soa: new.soa.clone(),
            removed,
            added,
        }
    }

    /// Bytes this entry holds (what the journal bound counts).
    pub fn bytes(&self) -> usize {
        self.old_soa.len()
            + self.new_soa.len()
            + self.removed.iter().map(|r| r.len()).sum::<usize>()
            + self.added.iter().map(|r| r.len()).sum::<usize>()
    }

    /// Number of changed records.
    pub fn changes(&self) -> usize {
        self.removed.len() + self.added.len()
    }
}

/// The bounded list of differences, oldest first.
#[derive(Debug)]
pub struct Journal {
    /// Entries, oldest first, each starting where the previous one ended.
    entries: VecDeque<Arc<JournalEntry>>,
    /// Sum of the entries' bytes.
    bytes: usize,
    /// Byte bound (`journal-size`).
    max_bytes: usize,
    /// Version bound.
    max_versions: usize,
}

impl Journal {
    /// An empty journal with these bounds.
    pub fn new(max_bytes: usize, max_versions: usize) -> Journal {
        Journal {
            entries: VecDeque::new(),
            bytes: 0,
            max_bytes,
            max_versions: max_versions.max(1),
        }
    }

    /// Appends `entry`. An entry that does not continue the chain (the zone went
    /// back in serial, or was replaced with the same serial) clears the journal
    /// first: no IXFR can span it. Then the oldest entries go until the bounds hold;
    /// an entry bigger than the whole bound is not kept at all.
    pub fn push(&mut self, entry: JournalEntry) {
        let continues = self.entries.back().is_none_or(|last| last.to == entry.from);
        if !continues || !entry.to.is_newer_than(entry.from) {
            self.clear();
            if !entry.to.is_newer_than(entry.from) {
                return;
            }
        }
        self.bytes += entry.bytes();
        self.entries.push_back(Arc::new(entry));
        while self.bytes > self.max_bytes || self.entries.len() > self.max_versions {
            match self.entries.pop_front() {
                Some(old) => self.bytes -= old.bytes(),
                None => break,
            }
        }
    }

    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// The entries leading from `serial` to `current`, or `None` when the journal
    /// does not reach back to `serial` (or does not end at `current`).
    pub fn chain_from(&self, serial: Serial, current: Serial) -> Option<Vec<Arc<JournalEntry>>> {
        let start = self.entries.iter().position(|e| e.from == serial)?;
        let chain: Vec<Arc<JournalEntry>> = self.entries.iter().skip(start).cloned().collect();
        (chain.last()?.to == current).then_some(chain)
    }

    /// Versions held (entries).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no difference is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The oldest serial an IXFR can start from.
    pub fn oldest(&self) -> Option<Serial> {
        self.entries.front().map(|e| e.from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version with `serial` and records named by `items`.
    fn version(serial: u32, items: &[&str]) -> ZoneVersion {
        ZoneVersion {
            serial: Serial(serial),
            soa: format!("soa{serial}").into_bytes().into_boxed_slice(),
            records: items
                .iter()
                .map(|s| s.as_bytes().to_vec().into_boxed_slice())
                .collect(),
        }
    }

    /// The records of a list as strings, sorted.
    fn texts(list: &[Box<[u8]>]) -> Vec<String> {
        let mut v: Vec<String> = list
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_difference_lists_only_what_changed() {
        let e = JournalEntry::between(
            &version(1, &["a", "b", "c"]),
            &version(2, &["b", "c", "d", "d"]),
        );
        assert_eq!(texts(&e.removed), ["a"]);
        assert_eq!(texts(&e.added), ["d"], "duplicates count once");
        assert_eq!((e.from, e.to), (Serial(1), Serial(2)));
    }

    #[test]
    fn applying_the_chain_from_any_kept_version_gives_the_current_version() {
        let versions = [
            version(1, &["a", "b"]),
            version(2, &["b", "c"]),
            version(3, &["c", "d", "e"]),
            version(4, &["a", "e"]),
        ];
        let mut j = Journal::new(1 << 20, 10);
        for w in versions.windows(2) {
            j.push(JournalEntry::between(&w[0], &w[1]));
        }
        for start in &versions[..3] {
            let chain = j
                .chain_from(start.serial, Serial(4))
                .expect("in the journal");
            let mut set: HashSet<Vec<u8>> = start.records.iter().map(|r| r.to_vec()).collect();
            for e in chain {
                for r in &e.removed {
                    assert!(set.remove(&r.to_vec()), "removed records exist");
                }
                for r in &e.added {
                    assert!(set.insert(r.to_vec()), "added records are new");
                }
            }
            let want: HashSet<Vec<u8>> = versions[3].records.iter().map(|r| r.to_vec()).collect();
            assert_eq!(set, want, "from serial {}", start.serial.get());
        }
        assert!(
            j.chain_from(Serial(9), Serial(4)).is_none(),
            "unknown serial: full transfer"
        );
    }

    #[test]
    fn the_oldest_versions_go_first_past_either_bound() {
        let mut j = Journal::new(1 << 20, 2);
        for s in 1..5u32 {
            j.push(JournalEntry::between(
                &version(s, &["x"]),
                &version(s + 1, &["y"]),
            ));
        }
        assert_eq!(j.len(), 2);
        assert_eq!(j.oldest(), Some(Serial(3)));
        assert!(j.chain_from(Serial(1), Serial(5)).is_none());
        assert!(j.chain_from(Serial(3), Serial(5)).is_some());

        let mut small = Journal::new(40, 100);
        for s in 1..5u32 {
            small.push(JournalEntry::between(
                &version(s, &["xxxx"]),
                &version(s + 1, &["yyyy"]),
            ));
        }
        assert!(small.bytes() <= 40, "{} bytes kept", small.bytes());
        assert!(small.len() < 4);
    }

    #[test]
    fn a_serial_going_back_or_a_gap_clears_the_journal() {
        let mut j = Journal::new(1 << 20, 10);
        j.push(JournalEntry::between(
            &version(1, &["a"]),
            &version(2, &["b"]),
        ));
        j.push(JournalEntry::between(
            &version(5, &["a"]),
            &version(6, &["b"]),
        ));
        assert_eq!(j.oldest(), Some(Serial(5)), "a gap starts over");
        j.push(JournalEntry::between(
            &version(6, &["b"]),
            &version(3, &["c"]),
        ));
        assert!(
            j.is_empty(),
            "backwards: nothing can be served incrementally"
        );
    }
}
