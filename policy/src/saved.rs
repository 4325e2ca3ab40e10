//! A policy zone written back to disk: the saved copy of a transferred zone (after every
//! successful transfer) and the file of a zone changed by DNS UPDATE (primary role),
//! read back by [`crate::load_file`] at start-up.
//!
//! ```text
//!  AXFR:  records ───────────────────────────────▶ write_atomic(path)
//!  IXFR:  saved copy ─ZoneReader─▶ drop removed, add added (owners kept together)
//!                                                 ─▶ write_atomic(path)
//!  write_atomic: DIR/.NAME.tmp.PID.N (write, fsync) ─rename─▶ DIR/NAME ─▶ fsync(DIR)
//! ```
//!
//! The record text comes from `sekisho_zonefile::writer::write_record`, whose output
//! the zone-file parser reads back to identical records (TXT strings included; its
//! round-trip property tests say so). The write is atomic: temp file, fsync, rename,
//! fsync of the directory, so a crash leaves the old copy or the new one, never half.
//!
//! Everything here blocks: call it from `spawn_blocking` (style practice 10).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::rr::{Name, RData, Record, RecordType};
use sekisho_xfr::{Delta, Serial};
use sekisho_zonefile::{ParseOptions, ZoneReader};

/// Distinguishes temporary files of concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Why the saved copy could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaveError {
    /// Writing, syncing or renaming failed.
    #[error("{path}: {source}")]
    Io {
        /// The file (or its directory).
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The current saved copy, needed to apply an IXFR to it, could not be read.
    #[error("{path}: cannot apply the IXFR to the saved copy: {source}")]
    Base {
        /// The saved copy.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: sekisho_zonefile::Error,
    },
}

/// Writes `records` (SOA first) to `path` atomically.
pub fn write_full(path: &Path, serial: Serial, records: &[Record]) -> Result<(), SaveError> {
    write_atomic(path, |w| {
        writeln!(w, "; serial {serial}")?;
        for r in records {
            sekisho_zonefile::write_record(w, r)?;
        }
        Ok(())
    })
}

/// Writes the SOA `soa` and then `records` to `path` atomically, streaming: the
/// records are never all in memory as hickory records (a million-rule zone
/// changed by UPDATE is written from its wire form, one record at a time).
/// The caller keeps each owner's records together.
pub fn write_stream(
    path: &Path,
    soa: &Record,
    records: impl Iterator<Item = Record>,
) -> Result<usize, SaveError> {
    let serial = match &soa.data {
        RData::SOA(s) => Serial(s.serial),
        _ => Serial(0),
    };
    let mut written = 0usize;
    write_atomic(path, |w| {
        writeln!(w, "; serial {serial}")?;
        sekisho_zonefile::write_record(w, soa)?;
        written += 1;
        for r in records {
            sekisho_zonefile::write_record(w, &r)?;
            written += 1;
        }
        Ok(())
    })?;
    Ok(written)
}

/// A record's identity for IXFR: owner, type and RDATA, not TTL (RFC 1995 deletes
/// by exact RR, and a TTL change arrives as a delete plus an add of the same data).
type RecordKey = (Name, RecordType, RData);

/// The key of `r` (owner lower-cased, as names compare case-insensitively).
fn key(r: &Record) -> RecordKey {
    (r.name.to_lowercase(), r.record_type(), r.data.clone())
}

/// Rewrites the saved copy at `path` of zone `zone` with `deltas` applied and
/// `soa` as the new SOA; returns the number of records written.
///
/// The net effect of a chain of deltas on one record is decided by the last
/// delta that mentions it (removed: gone; added: present), whatever the copy
/// held, so the chain is folded into one map before the file is streamed once.
/// Added records are written next to their owner's other records, so the file
/// keeps each owner's records together as the RPZ compiler expects.
pub fn apply_deltas(
    path: &Path,
    zone: &Name,
    deltas: &[Delta],
    soa: &Record,
) -> Result<usize, SaveError> {
    // The apex SOA is `soa`; SOA records inside the deltas are not zone content.
    let is_apex_soa = |r: &Record| r.record_type() == RecordType::SOA && r.name == *zone;
    let mut last: HashMap<RecordKey, Option<Record>> = HashMap::new();
    for d in deltas {
        for r in d.removed.iter().filter(|r| !is_apex_soa(r)) {
            last.insert(key(r), None);
        }
        for r in d.added.iter().filter(|r| !is_apex_soa(r)) {
            last.insert(key(r), Some(r.clone()));
        }
    }
    // Additions grouped by owner, in the order they arrived.
    let mut additions: HashMap<Name, Vec<Record>> = HashMap::new();
    let mut order: Vec<Name> = Vec::new();
    for d in deltas {
        for r in d.added.iter().filter(|r| !is_apex_soa(r)) {
            let k = key(r);
            if let Some(Some(rec)) = last.remove(&k) {
                let owner = r.name.to_lowercase();
                let list = additions.entry(owner.clone()).or_insert_with(|| {
                    order.push(owner.clone());
                    Vec::new()
                });
                list.push(rec);
                last.insert(k, None);
            } else {
                // Already taken (a duplicate add) or removed later: nothing to add.
                last.insert(k, None);
            }
        }
    }
    // `last` now holds every touched key (added keys reinserted as None): a record
    // of the copy with one of these keys is dropped; the additions are written anew.
    let reader =
        ZoneReader::open(path, ParseOptions::with_origin(zone.clone())).map_err(|source| {
            SaveError::Base {
                path: path.to_owned(),
                source,
            }
        })?;
    let serial = match &soa.data {
        RData::SOA(s) => Serial(s.serial),
        _ => Serial(0),
    };
    let mut written = 0usize;
    let mut base_error: Option<sekisho_zonefile::Error> = None;
    let result = write_atomic(path, |w| {
        writeln!(w, "; serial {serial}")?;
        sekisho_zonefile::write_record(w, soa)?;
        written += 1;
        let mut previous: Option<Name> = None;
        for rec in reader {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    // A copy we cannot read completely must not be half-carried over.
                    base_error = Some(e);
                    return Err(io::Error::other("saved copy unreadable"));
                }
            };
            if rec.record_type() == RecordType::SOA && rec.name == *zone {
                continue;
            }
            let owner = rec.name.to_lowercase();
            if previous.as_ref().is_some_and(|p| *p != owner) {
                if let Some(p) = previous.take() {
                    written += flush_owner(w, &mut additions, &p)?;
                }
            }
            previous = Some(owner);
            if last.contains_key(&key(&rec)) {
                continue;
            }
            sekisho_zonefile::write_record(w, &rec)?;
            written += 1;
        }
        if let Some(p) = previous.take() {
            written += flush_owner(w, &mut additions, &p)?;
        }
        for owner in &order {
            written += flush_owner(w, &mut additions, owner)?;
        }
        Ok(())
    });
    match (result, base_error) {
        (_, Some(source)) => Err(SaveError::Base {
            path: path.to_owned(),
            source,
        }),
        (Err(e), None) => Err(e),
        (Ok(()), None) => Ok(written),
    }
}

/// Writes the pending additions of `owner`, if any.
fn flush_owner(
    w: &mut dyn Write,
    additions: &mut HashMap<Name, Vec<Record>>,
    owner: &Name,
) -> io::Result<usize> {
    let Some(list) = additions.remove(owner) else {
        return Ok(0);
    };
    for r in &list {
        sekisho_zonefile::write_record(w, r)?;
    }
    Ok(list.len())
}

/// Writes `path` through a temporary file in the same directory: `body` writes
/// the content, then the file is synced and renamed over `path`, and the
/// directory is synced so the rename survives a crash.
fn write_atomic(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), SaveError> {
    let err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| SaveError::Io { path: p, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))
        .map_err(err(path))?;
    fs::create_dir_all(&dir).map_err(err(&dir))?;
    let temp = dir.join(format!(
        ".{}.tmp.{}.{}",
        file_name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        body(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        // Best effort: a leftover temp file is harmless but untidy.
        let _ = fs::remove_file(&temp);
        return Err(err(path)(e));
    }
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(err(&dir))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::rr::rdata::{A, CNAME, SOA, TXT};

    use super::*;

    fn zone() -> Name {
        Name::from_ascii("rpz.test.").expect("name")
    }

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    fn soa(serial: u32) -> Record {
        Record::from_rdata(
            zone(),
            300,
            RData::SOA(SOA::new(
                n("ns.rpz.test."),
                n("h.rpz.test."),
                serial,
                60,
                30,
                3600,
                60,
            )),
        )
    }

    fn cname(owner: &str, target: &str) -> Record {
        Record::from_rdata(n(owner), 300, RData::CNAME(CNAME(n(target))))
    }

    fn a(owner: &str, last: u8) -> Record {
        Record::from_rdata(n(owner), 300, RData::A(A(Ipv4Addr::new(192, 0, 2, last))))
    }

    fn txt(owner: &str, text: &str) -> Record {
        Record::from_rdata(n(owner), 300, RData::TXT(TXT::new(vec![text.to_owned()])))
    }

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sekisho-saved-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("dir");
        d
    }

    fn read(path: &Path) -> Vec<Record> {
        ZoneReader::open(path, ParseOptions::with_origin(zone()))
            .expect("open")
            .collect::<Result<Vec<_>, _>>()
            .expect("parses")
    }

    #[test]
    fn a_full_copy_reads_back_record_for_record() {
        let d = dir("full");
        let path = d.join("rpz.db");
        let records = vec![
            soa(7),
            cname("bad.example.rpz.test.", "."),
            cname("*.wild.example.rpz.test.", "*."),
            a("local.example.rpz.test.", 1),
            txt(
                "local.example.rpz.test.",
                "a \"quoted\" string; not a comment",
            ),
            cname("drop.example.rpz.test.", "rpz-drop."),
        ];
        write_full(&path, Serial(7), &records).expect("write");
        assert_eq!(read(&path), records);
        let text = fs::read_to_string(&path).expect("text");
        assert!(text.starts_with("; serial 7\n"));
        assert_eq!(
            fs::read_dir(&d).expect("list").count(),
            1,
            "no temp file left"
        );
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn deltas_are_applied_to_the_saved_copy_keeping_owners_together() {
        let d = dir("ixfr");
        let path = d.join("rpz.db");
        let base = vec![
            soa(1),
            cname("one.rpz.test.", "."),
            a("two.rpz.test.", 2),
            cname("three.rpz.test.", "."),
        ];
        write_full(&path, Serial(1), &base).expect("write");
        let deltas = vec![
            Delta {
                from_serial: Serial(1),
                to_serial: Serial(2),
                removed: vec![cname("one.rpz.test.", ".")],
                added: vec![a("two.rpz.test.", 3), cname("four.rpz.test.", ".")],
            },
            Delta {
                from_serial: Serial(2),
                to_serial: Serial(3),
                // Added in the first delta, removed in the second: gone.
                removed: vec![cname("four.rpz.test.", ".")],
                added: vec![cname("five.rpz.test.", "rpz-passthru.")],
            },
        ];
        let n = apply_deltas(&path, &zone(), &deltas, &soa(3)).expect("apply");
        let got = read(&path);
        assert_eq!(n, got.len());
        assert_eq!(
            got,
            vec![
                soa(3),
                a("two.rpz.test.", 2),
                a("two.rpz.test.", 3),
                cname("three.rpz.test.", "."),
                cname("five.rpz.test.", "rpz-passthru."),
            ]
        );
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_missing_saved_copy_is_an_error_and_writes_nothing() {
        let d = dir("missing");
        let path = d.join("rpz.db");
        let err = apply_deltas(&path, &zone(), &[], &soa(2)).expect_err("no base");
        assert!(matches!(err, SaveError::Base { .. }), "{err}");
        assert!(!path.exists());
        let _ = fs::remove_dir_all(&d);
    }
}
