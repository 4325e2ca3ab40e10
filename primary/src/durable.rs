//! What the primary role keeps on disk for a served zone with a file: the journal
//! (`jfile.rs`) and, for a zone changed by UPDATE, the zone file written back.
//!
//! ```text
//!  start-up (before the first load):
//!    zone.rpz.jnl ─open─▶ torn tail? truncate, one log line │ damaged? moved aside, one line
//!        │ entries
//!        ├─ journal ends past the file's serial, and reaches back to it:
//!        │      file + journal ─▶ zone.rpz (written, as BIND applies its journal at load)
//!        ├─ journal ends at the file's serial: kept (IXFR from its serials works)
//!        └─ otherwise (file edited meanwhile): cleared, one log line
//!  each new version:  commit ─▶ append the entry (write, fdatasync) ─▶ memory ─▶ NOTIFY
//!                             └ old entries dropped? rewrite (temp, fsync, rename)
//!  UPDATE versions:   dirty ─▶ write_file (background, coalesced; before a reload)
//! ```
//!
//! Everything here blocks: callers run it on blocking threads.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use sekisho_xfr::{Delta, Serial};
use sekisho_zonefile::{ParseOptions, ZoneReader};

use crate::jfile::{self, JournalFile, JournalFileError, Opened};
use crate::journal::{Journal, JournalEntry, Pushed, MAX_VERSIONS};
use crate::version::{owner_of, ZoneVersion};
use crate::Served;

/// Decodes one record in uncompressed wire form.
pub(crate) fn decode(rr: &[u8]) -> Option<Record> {
    Record::read(&mut BinDecoder::new(rr)).ok()
}

/// The serial of the apex SOA in zone file `path` (read up to the SOA).
fn file_serial(path: &Path, zone: &Name) -> Option<Serial> {
    let reader = ZoneReader::open(path, ParseOptions::with_origin(zone.clone())).ok()?;
    for r in reader.flatten() {
        if let RData::SOA(soa) = &r.data {
            if r.name == *zone {
                return Some(Serial(soa.serial));
            }
        }
    }
    None
}

/// A journal entry as the delta `saved::apply_deltas` takes.
fn delta_of(e: &JournalEntry) -> Option<Delta> {
    let all = |list: &[Box<[u8]>]| list.iter().map(|r| decode(r)).collect::<Option<Vec<_>>>();
    Some(Delta {
        from_serial: e.from,
        to_serial: e.to,
        removed: all(&e.removed)?,
        added: all(&e.added)?,
    })
}

impl Served {
    /// Opens the zone's journal file (start-up, before the first load), brings the
    /// zone file up to the journal's last serial when it lags, and fills the
    /// in-memory journal. Problems are logged in one line each and leave the zone
    /// served from its file.
    pub(crate) fn recover(&self) {
        let Some(file) = &self.file else {
            return;
        };
        let path = jfile::path_for(file);
        let (jf, entries) = match JournalFile::open(&path, &self.name) {
            Ok((jf, entries, opened)) => {
                if let Opened::TornTail { bytes, kept } = opened {
                    tracing::warn!(zone = %self.label, journal = %path.display(), bytes, kept, "journal ended in a torn entry (a write cut short by a crash); truncated to the entries before it");
                }
                (jf, entries)
            }
            Err(e) => {
                tracing::error!(zone = %self.label, journal = %path.display(), error = %e, "journal refused (moved aside as .damaged); the zone is served from its file");
                match JournalFile::create(&path, &self.name, &[]) {
                    Ok(jf) => (jf, Vec::new()),
                    Err(e) => {
                        tracing::error!(zone = %self.label, error = %e, "no journal file can be written; the journal is kept in memory only");
                        return;
                    }
                }
            }
        };
        let at = file_serial(file, &self.name);
        let mut journal = Journal::new(self.journal_size, MAX_VERSIONS);
        // What the file lacks was kept past the bounds when written: keep it now too.
        journal.pin(at);
        for e in entries {
            journal.push(Arc::new(e));
        }
        let mut jf = Some(jf);
        if let (Some(newest), Some(at)) = (journal.newest(), at) {
            if newest.is_newer_than(at) {
                match self.roll_forward(file, &journal, at, newest) {
                    Ok(n) => {
                        tracing::info!(zone = %self.label, file = %file.display(), from = at.get(), serial = newest.get(), records = n, "zone file brought up to date from its journal");
                    }
                    Err(reason) => {
                        tracing::error!(zone = %self.label, journal = %path.display(), from = at.get(), %reason, "journal cannot be applied to the zone file; the zone is served from its file and the journal starts anew");
                        journal.clear();
                    }
                }
            } else if newest != at {
                tracing::warn!(zone = %self.label, journal = %path.display(), journal_serial = newest.get(), file_serial = at.get(), "journal does not end at the zone file's serial (file edited meanwhile); it starts anew");
                journal.clear();
            }
        }
        if journal.is_empty() {
            if let Some(f) = jf.as_mut() {
                if let Err(e) = f.rewrite(&[]) {
                    tracing::error!(zone = %self.label, error = %e, "journal file cannot be reset");
                    jf = None;
                }
            }
        }
        let mut data = self.data.lock().unwrap_or_else(|p| p.into_inner());
        data.journal = Some(journal);
        drop(data);
        *self.jfile.lock().unwrap_or_else(|p| p.into_inner()) = jf;
    }

    /// Writes the zone file as `file` plus the journal's entries from `at` to `to`.
    fn roll_forward(
        &self,
        file: &Path,
        journal: &Journal,
        at: Serial,
        to: Serial,
    ) -> Result<usize, String> {
        let chain = journal
            .chain_from(at, to)
            .ok_or_else(|| format!("the journal does not reach back to serial {}", at.get()))?;
        let deltas = chain
            .iter()
            .map(|e| delta_of(e))
            .collect::<Option<Vec<_>>>()
            .ok_or("a journalled record does not decode")?;
        let soa = chain
            .last()
            .and_then(|e| decode(&e.new_soa))
            .ok_or("the journal's last SOA does not decode")?;
        sekisho_policy::saved::apply_deltas(file, &self.name, &deltas, &soa)
            .map_err(|e| e.to_string())
    }

    /// Makes `new` the current version, journalling `entry` (on disk first when the
    /// zone has a journal file), and wakes the NOTIFY sender. With `durable`, a
    /// journal that cannot be written refuses the version (UPDATE: nothing changes);
    /// without, the error is logged and the version goes live (the file it came
    /// from is the durable copy).
    pub(crate) fn commit(
        &self,
        new: Arc<ZoneVersion>,
        entry: Option<JournalEntry>,
        durable: bool,
    ) -> Result<(), JournalFileError> {
        let mut disk = self.jfile.lock().unwrap_or_else(|p| p.into_inner());
        let entry = entry.map(Arc::new);
        let newest = {
            let data = self.data.lock().unwrap_or_else(|p| p.into_inner());
            data.journal.as_ref().and_then(Journal::newest)
        };
        if let (Some(e), Some(f)) = (&entry, disk.as_mut()) {
            // An entry that continues the journal is appended; one that does not
            // (a gap, a serial going back) makes push start over, and the file is
            // rewritten below instead.
            if newest.is_none_or(|n| n == e.from) && e.to.is_newer_than(e.from) {
                if let Err(err) = f.append(e) {
                    if durable {
                        return Err(err);
                    }
                    tracing::error!(zone = %self.label, error = %err, "journal entry not written to disk; IXFR from it is served until a restart");
                }
            }
        }
        let rewrite = {
            let mut guard = self.data.lock().unwrap_or_else(|p| p.into_inner());
            let data = &mut *guard;
            let journal = data
                .journal
                .get_or_insert_with(|| Journal::new(self.journal_size, MAX_VERSIONS));
            // A zone changed by UPDATE keeps what its file lacks, bounds or not.
            if self.takes_updates() {
                journal.pin(*self.written.lock().unwrap_or_else(|p| p.into_inner()));
            }
            let pushed = match entry {
                Some(e) => journal.push(e),
                // A first version (start-up): a journal that does not end at it
                // cannot serve IXFR to it.
                None if journal.newest().is_some_and(|n| n != new.serial) => {
                    journal.clear();
                    Pushed::Rewrite
                }
                None => Pushed::Appended,
            };
            data.current = Some(new);
            (pushed == Pushed::Rewrite).then(|| journal.entries().cloned().collect::<Vec<_>>())
        };
        if let (Some(entries), Some(f)) = (rewrite, disk.as_mut()) {
            if let Err(err) = f.rewrite(&entries) {
                tracing::error!(zone = %self.label, journal = %f.path().display(), error = %err, "journal file not rewritten after dropping old versions");
            }
        }
        drop(disk);
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Writes `version` to the zone file (atomically; each owner's records together)
    /// and returns the records written. Blocks for time in proportion to the zone.
    pub(crate) fn write_file(&self, version: &ZoneVersion) -> Result<usize, String> {
        let file = self.file.as_ref().ok_or("zone has no file")?;
        let soa = decode(&version.soa).ok_or("SOA does not decode")?;
        // Records of the overlay whose owner also has older records go with them.
        let mut late: HashMap<Vec<u8>, Vec<&[u8]>> = HashMap::new();
        let records: Vec<&[u8]> = version.iter().collect();
        // The base comes first in `iter`; the overlay's added records follow it.
        let split = records.len() - version.added_len();
        let mut tail = Vec::new();
        for r in &records[split..] {
            let owner = owner_of(r).to_ascii_lowercase();
            if version.base_has_owner(&owner) {
                late.entry(owner).or_default().push(r);
            } else {
                tail.push(*r);
            }
        }
        let mut out: Vec<&[u8]> = Vec::with_capacity(records.len());
        let mut i = 0;
        while i < split {
            let (start, owner) = (i, owner_of(records[i]));
            while i < split && owner_of(records[i]).eq_ignore_ascii_case(owner) {
                i += 1;
            }
            out.extend_from_slice(&records[start..i]);
            if !late.is_empty() {
                if let Some(more) = late.remove(&owner.to_ascii_lowercase()) {
                    out.extend(more);
                }
            }
        }
        // Owners split in the base (rare) still get their late records.
        out.extend(late.into_values().flatten());
        out.extend(tail);
        let decoded = out
            .into_iter()
            .filter_map(decode)
            .filter(|r| !(r.record_type() == RecordType::SOA && r.name == self.name));
        sekisho_policy::saved::write_stream(file, &soa, decoded).map_err(|e| e.to_string())
    }
}
