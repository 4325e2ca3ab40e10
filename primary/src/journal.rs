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
//! without re-encoding. A zone with a file also keeps its journal on disk
//! (`jfile.rs`, next to the file, as BIND's `.jnl`), so it outlives a restart;
//! a zone without one keeps it in memory only.
//!
//! Entries come from two places: a full publish (file reload, AXFR) diffs the whole
//! new version against the old one (`JournalEntry::between`, time in proportion to
//! the zone); a DNS UPDATE or an incoming IXFR knows its changes and builds the
//! entry from them (`JournalEntry::from_changes`, time in proportion to the change).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use sekisho_xfr::Serial;

use crate::version::ZoneVersion;

/// Most versions the journal keeps, whatever their size.
pub const MAX_VERSIONS: usize = 64;

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
        let old_set: HashSet<&[u8]> = old.iter().collect();
        let new_set: HashSet<&[u8]> = new.iter().collect();
        let mut seen = HashSet::new();
        let removed = old
            .iter()
            .filter(|r| !new_set.contains(r) && seen.insert(*r))
            .map(Box::from)
            .collect();
        let mut seen = HashSet::new();
        let added = new
            .iter()
            .filter(|r| !old_set.contains(r) && seen.insert(*r))
            .map(Box::from)
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

    /// The entry for known changes (UPDATE, IXFR in): `removed` and `added` as the
    /// new version was built from them.
    pub fn from_changes(
        old: &ZoneVersion,
        new: &ZoneVersion,
        removed: Vec<Box<[u8]>>,
        added: Vec<Box<[u8]>>,
    ) -> JournalEntry {
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

/// What [`Journal::push`] did besides appending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The entry was appended and nothing else changed.
    Appended,
    /// Older entries were dropped (bounds, a gap, a serial going back): a copy on
    /// disk must be written anew.
    Rewrite,
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
    /// The serial the zone file holds while it lags (a zone changed by UPDATE):
    /// entries from it on are never dropped by the bounds, so the file can
    /// always be brought up to date from the journal after a crash.
    pinned: Option<Serial>,
}

impl Journal {
    /// An empty journal with these bounds.
    pub fn new(max_bytes: usize, max_versions: usize) -> Journal {
        Journal {
            entries: VecDeque::new(),
            bytes: 0,
            max_bytes,
            max_versions: max_versions.max(1),
            pinned: None,
        }
    }

    /// Keeps the entries from `serial` on whatever the bounds say (`None`: the
    /// bounds alone decide); see the field.
    pub fn pin(&mut self, serial: Option<Serial>) {
        self.pinned = serial;
    }

    /// Appends `entry`. An entry that does not continue the chain (the zone went
    /// back in serial, or was replaced with the same serial) clears the journal
    /// first: no IXFR can span it. Then the oldest entries go until the bounds hold;
    /// an entry bigger than the whole bound is not kept at all. Returns whether
    /// anything but `entry` went in or out: then a journal file must be
    /// rewritten, else appending `entry` to it is enough.
    pub fn push(&mut self, entry: Arc<JournalEntry>) -> Pushed {
        let continues = self.entries.back().is_none_or(|last| last.to == entry.from);
        let mut pushed = Pushed::Appended;
        if !continues || !entry.to.is_newer_than(entry.from) {
            if !self.entries.is_empty() {
                pushed = Pushed::Rewrite;
            }
            self.clear();
            if !entry.to.is_newer_than(entry.from) {
                return Pushed::Rewrite;
            }
        }
        self.bytes += entry.bytes();
        self.entries.push_back(entry);
        while self.bytes > self.max_bytes || self.entries.len() > self.max_versions {
            if self.pinned.is_some() && self.entries.front().map(|e| e.from) == self.pinned {
                break;
            }
            match self.entries.pop_front() {
                Some(old) => {
                    self.bytes -= old.bytes();
                    pushed = Pushed::Rewrite;
                }
                None => break,
            }
        }
        pushed
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &Arc<JournalEntry>> {
        self.entries.iter()
    }

    /// The serial the journal ends at.
    pub fn newest(&self) -> Option<Serial> {
        self.entries.back().map(|e| e.to)
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
        ZoneVersion::full(
            Serial(serial),
            format!("soa{serial}").into_bytes().into_boxed_slice(),
            items
                .iter()
                .map(|s| s.as_bytes().to_vec().into_boxed_slice())
                .collect(),
        )
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
            j.push(Arc::new(JournalEntry::between(&w[0], &w[1])));
        }
        for start in &versions[..3] {
            let chain = j
                .chain_from(start.serial, Serial(4))
                .expect("in the journal");
            let mut set: HashSet<Vec<u8>> = start.iter().map(|r| r.to_vec()).collect();
            for e in chain {
                for r in &e.removed {
                    assert!(set.remove(&r.to_vec()), "removed records exist");
                }
                for r in &e.added {
                    assert!(set.insert(r.to_vec()), "added records are new");
                }
            }
            let want: HashSet<Vec<u8>> = versions[3].iter().map(|r| r.to_vec()).collect();
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
            j.push(Arc::new(JournalEntry::between(
                &version(s, &["x"]),
                &version(s + 1, &["y"]),
            )));
        }
        assert_eq!(j.len(), 2);
        assert_eq!(j.oldest(), Some(Serial(3)));
        assert!(j.chain_from(Serial(1), Serial(5)).is_none());
        assert!(j.chain_from(Serial(3), Serial(5)).is_some());

        let mut small = Journal::new(40, 100);
        for s in 1..5u32 {
            small.push(Arc::new(JournalEntry::between(
                &version(s, &["xxxx"]),
                &version(s + 1, &["yyyy"]),
            )));
        }
        assert!(small.bytes() <= 40, "{} bytes kept", small.bytes());
        assert!(small.len() < 4);
    }

    #[test]
    fn entries_the_zone_file_lacks_are_kept_past_the_bounds() {
        let mut j = Journal::new(1 << 20, 2);
        j.pin(Some(Serial(1)));
        for s in 1..5u32 {
            j.push(Arc::new(JournalEntry::between(
                &version(s, &["x"]),
                &version(s + 1, &["y"]),
            )));
        }
        assert_eq!((j.len(), j.oldest()), (4, Some(Serial(1))));
        // The file caught up with serial 4: the bounds apply again from there.
        j.pin(Some(Serial(4)));
        j.push(Arc::new(JournalEntry::between(
            &version(5, &["x"]),
            &version(6, &["y"]),
        )));
        assert_eq!((j.len(), j.oldest()), (2, Some(Serial(4))));
    }

    #[test]
    fn a_serial_going_back_or_a_gap_clears_the_journal() {
        let mut j = Journal::new(1 << 20, 10);
        j.push(Arc::new(JournalEntry::between(
            &version(1, &["a"]),
            &version(2, &["b"]),
        )));
        j.push(Arc::new(JournalEntry::between(
            &version(5, &["a"]),
            &version(6, &["b"]),
        )));
        assert_eq!(j.oldest(), Some(Serial(5)), "a gap starts over");
        j.push(Arc::new(JournalEntry::between(
            &version(6, &["b"]),
            &version(3, &["c"]),
        )));
        assert!(
            j.is_empty(),
            "backwards: nothing can be served incrementally"
        );
    }
}
