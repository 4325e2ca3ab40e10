//! The IXFR journal on disk, next to the zone file (`block.rpz` → `block.rpz.jnl`, as
//! BIND names its journals), so IXFR from a journalled serial still works after a
//! restart and a change accepted by UPDATE survives a crash before the zone file is
//! rewritten.
//!
//! ```text
//!  file   = header entry*
//!  header = "SKJNL\r\n\0" (8) | format version u16 (= 1) | zone name length u16 | zone (wire)
//!           | SHA-256 of the preceding header octets, first 8 octets
//!  entry  = payload length u32 | the length's bitwise complement u32
//!           | SHA-256 of the payload, first 8 octets | payload
//!  payload = from serial u32 | to serial u32 | old SOA | new SOA
//!            | removed count u32 | record* | added count u32 | record*
//!  SOA, record = length u16 | the record in uncompressed wire form
//!  (integers big-endian)
//! ```
//!
//! Appending an entry is one `write` of the whole entry and an `fdatasync`; the
//! change is answered (UPDATE) or served only after that. Dropping old entries (the
//! `journal-size` bound) rewrites the file: a temporary file, fsync, rename over the
//! journal, fsync of the directory, so a crash leaves the old journal or the new one.
//!
//! Reading: a header that is not ours, of another format version or of another
//! zone, an entry whose checksum fails with more entries after it, or entries that
//! do not follow each other, make the file damaged: it is refused (moved aside to
//! `.jnl.damaged`, nothing deleted) and the zone is served from its file. A last
//! entry cut short or failing its checksum is a write a crash interrupted: the file
//! is truncated to the entries before it. The length is written twice (as itself and
//! complemented) so that a damaged length in the middle of the file is told apart
//! from a last entry cut short, and never truncates the entries after it; zeros
//! where an entry should start (a file system that grew the file but lost the
//! write) count as cut short. The caller logs either case in one line.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::BinEncodable;
use sekisho_xfr::Serial;

use crate::journal::JournalEntry;

/// The first octets of every journal file.
const MAGIC: &[u8; 8] = b"SKJNL\r\n\0";
/// The format this code writes and reads.
const FORMAT_VERSION: u16 = 1;
/// Octets of SHA-256 kept as a checksum.
const SUM_LEN: usize = 8;
/// Octets before an entry's payload: its length, the length complemented, checksum.
const ENTRY_HEAD: usize = 8 + SUM_LEN;

/// Why a journal file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalFileError {
    /// Reading, writing, syncing or renaming failed.
    #[error("{path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file is not a journal this version can use.
    #[error("{path}: damaged journal ({reason} at offset {offset})")]
    Damaged {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
        /// Where.
        offset: u64,
    },
}

/// What [`JournalFile::open`] found besides the entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    /// No file yet, or a whole one.
    Clean,
    /// A last entry a crash cut short was dropped: the file was truncated from
    /// `bytes` octets to `kept`.
    TornTail {
        /// Size of the file as found.
        bytes: u64,
        /// Size after truncation.
        kept: u64,
    },
}

/// An open journal file.
#[derive(Debug)]
pub(crate) struct JournalFile {
    /// Its path.
    path: PathBuf,
    /// The zone it belongs to (for the header of a rewrite).
    zone: Name,
    /// Open for appending.
    file: File,
}

/// The journal path of zone file `file` (BIND's `file.jnl`).
pub(crate) fn path_for(file: &Path) -> PathBuf {
    let mut p = file.as_os_str().to_owned();
    p.push(".jnl");
    PathBuf::from(p)
}

/// The first [`SUM_LEN`] octets of SHA-256 of `data`.
fn checksum(data: &[u8]) -> [u8; SUM_LEN] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; SUM_LEN];
    out.copy_from_slice(&d.as_ref()[..SUM_LEN]);
    out
}

/// The header for `zone`.
fn header(zone: &Name) -> Vec<u8> {
    let name = zone.to_lowercase().to_bytes().unwrap_or_default();
    let mut h = Vec::with_capacity(MAGIC.len() + 4 + name.len() + SUM_LEN);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    // A wire name is at most 255 octets.
    h.extend_from_slice(&(name.len() as u16).to_be_bytes());
    h.extend_from_slice(&name);
    let sum = checksum(&h);
    h.extend_from_slice(&sum);
    h
}

/// Appends a length-prefixed record.
fn put_record(out: &mut Vec<u8>, rr: &[u8]) {
    // Encoded records are at most 65535 octets (RDLENGTH is 16 bits, the owner 255).
    out.extend_from_slice(&(rr.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    out.extend_from_slice(&rr[..rr.len().min(usize::from(u16::MAX))]);
}

/// `entry` as it is written: head and payload.
pub(crate) fn encode_entry(entry: &JournalEntry) -> Vec<u8> {
    let mut p = Vec::with_capacity(entry.bytes() + 16 + 2 * (entry.changes() + 2));
    p.extend_from_slice(&entry.from.get().to_be_bytes());
    p.extend_from_slice(&entry.to.get().to_be_bytes());
    put_record(&mut p, &entry.old_soa);
    put_record(&mut p, &entry.new_soa);
    for list in [&entry.removed, &entry.added] {
        p.extend_from_slice(&(list.len() as u32).to_be_bytes());
        for r in list {
            put_record(&mut p, r);
        }
    }
    let mut out = Vec::with_capacity(ENTRY_HEAD + p.len());
    // An entry holds at most journal-size octets, far below 4 GiB.
    let len = p.len() as u32;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&(!len).to_be_bytes());
    out.extend_from_slice(&checksum(&p));
    out.extend_from_slice(&p);
    out
}

/// Reads the fields of a payload; `None` when they do not fit it exactly.
fn decode_payload(p: &[u8]) -> Option<JournalEntry> {
    let mut pos = 0usize;
    let u32_at = |pos: &mut usize| -> Option<u32> {
        let b = p.get(*pos..*pos + 4)?;
        *pos += 4;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let from = u32_at(&mut pos)?;
    let to = u32_at(&mut pos)?;
    let record = |pos: &mut usize| -> Option<Box<[u8]>> {
        let l = p.get(*pos..*pos + 2)?;
        let len = usize::from(u16::from_be_bytes([l[0], l[1]]));
        let r = p.get(*pos + 2..*pos + 2 + len)?;
        *pos += 2 + len;
        Some(Box::from(r))
    };
    let old_soa = record(&mut pos)?;
    let new_soa = record(&mut pos)?;
    let mut lists: [Vec<Box<[u8]>>; 2] = [Vec::new(), Vec::new()];
    for list in &mut lists {
        let b = p.get(pos..pos + 4)?;
        pos += 4;
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        // Each record takes at least its 2-octet length: a count beyond that is a lie.
        if usize::try_from(n).ok()? > (p.len() - pos) / 2 {
            return None;
        }
        for _ in 0..n {
            list.push(record(&mut pos)?);
        }
    }
    if pos != p.len() {
        return None;
    }
    let [removed, added] = lists;
    Some(JournalEntry {
        from: Serial(from),
        to: Serial(to),
        old_soa,
        new_soa,
        removed,
        added,
    })
}

impl JournalFile {
    /// Opens (or creates) the journal at `path` for `zone` and reads its entries.
    /// A torn last entry is cut off (reported in [`Opened`]); a damaged file is
    /// moved aside to `path.damaged` and reported as the error, and the caller
    /// opens a fresh one.
    pub(crate) fn open(
        path: &Path,
        zone: &Name,
    ) -> Result<(JournalFile, Vec<JournalEntry>, Opened), JournalFileError> {
        let io_err = |source| JournalFileError::Io {
            path: path.to_owned(),
            source,
        };
        let mut data = Vec::new();
        match File::open(path) {
            Ok(mut f) => {
                f.read_to_end(&mut data).map_err(io_err)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        if data.is_empty() {
            let jf = JournalFile::create(path, zone, &[])?;
            return Ok((jf, Vec::new(), Opened::Clean));
        }
        let (entries, kept) = match parse(&data, zone) {
            Ok(x) => x,
            Err((reason, offset)) => {
                let aside = PathBuf::from(format!("{}.damaged", path.display()));
                fs::rename(path, &aside).map_err(io_err)?;
                return Err(JournalFileError::Damaged {
                    path: path.to_owned(),
                    reason,
                    offset,
                });
            }
        };
        let file = OpenOptions::new().append(true).open(path).map_err(io_err)?;
        let bytes = data.len() as u64;
        let opened = if kept < bytes {
            file.set_len(kept).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
            Opened::TornTail { bytes, kept }
        } else {
            Opened::Clean
        };
        let jf = JournalFile {
            path: path.to_owned(),
            zone: zone.clone(),
            file,
        };
        Ok((jf, entries, opened))
    }

    /// Writes a new journal at `path` holding `entries` (atomically: temporary file,
    /// fsync, rename, fsync of the directory) and opens it for appending.
    pub(crate) fn create(
        path: &Path,
        zone: &Name,
        entries: &[Arc<JournalEntry>],
    ) -> Result<JournalFile, JournalFileError> {
        let io_err = |source| JournalFileError::Io {
            path: path.to_owned(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = PathBuf::from(format!("{}.tmp.{}", path.display(), std::process::id()));
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temp)?;
            let mut buf = header(zone);
            for e in entries {
                buf.extend_from_slice(&encode_entry(e));
                if buf.len() > 1 << 20 {
                    f.write_all(&buf)?;
                    buf.clear();
                }
            }
            f.write_all(&buf)?;
            f.sync_all()?;
            fs::rename(&temp, path)?;
            File::open(&dir)?.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(io_err(e));
        }
        let file = OpenOptions::new().append(true).open(path).map_err(io_err)?;
        Ok(JournalFile {
            path: path.to_owned(),
            zone: zone.clone(),
            file,
        })
    }

    /// Appends `entry` durably (one write, then `fdatasync`).
    pub(crate) fn append(&mut self, entry: &JournalEntry) -> Result<(), JournalFileError> {
        let bytes = encode_entry(entry);
        let io_err = |source| JournalFileError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&bytes).map_err(io_err)?;
        self.file.sync_data().map_err(io_err)
    }

    /// Replaces the file with one holding `entries` (after old ones were dropped).
    pub(crate) fn rewrite(
        &mut self,
        entries: &[Arc<JournalEntry>],
    ) -> Result<(), JournalFileError> {
        *self = JournalFile::create(&self.path, &self.zone, entries)?;
        Ok(())
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Parses a whole journal: the entries and the length of the part that holds them
/// (shorter than `data` after a torn last entry), or why it is damaged and where.
fn parse(data: &[u8], zone: &Name) -> Result<(Vec<JournalEntry>, u64), (&'static str, u64)> {
    let want = header(zone);
    if data.len() < MAGIC.len() + 4 || &data[..MAGIC.len()] != MAGIC {
        return Err(("not a Sekisho journal", 0));
    }
    if data[MAGIC.len()..MAGIC.len() + 2] != FORMAT_VERSION.to_be_bytes() {
        return Err(("unknown format version", MAGIC.len() as u64));
    }
    if data.len() < want.len() || data[..want.len()] != want[..] {
        return Err(("header of another zone or corrupt", 0));
    }
    let mut pos = want.len();
    let mut entries: Vec<JournalEntry> = Vec::new();
    while pos < data.len() {
        let rest = &data[pos..];
        // A torn last entry: keep what comes before it.
        if rest.len() < ENTRY_HEAD {
            break;
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let check = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len != !check {
            if rest.iter().all(|&b| b == 0) {
                break;
            }
            return Err(("entry length damaged", pos as u64));
        }
        let len = len as usize;
        let Some(payload) = rest.get(ENTRY_HEAD..ENTRY_HEAD + len) else {
            break;
        };
        let last = ENTRY_HEAD + len == rest.len();
        if checksum(payload) != rest[8..ENTRY_HEAD] {
            if last {
                break;
            }
            return Err(("checksum mismatch", pos as u64));
        }
        let Some(entry) = decode_payload(payload) else {
            return Err(("entry fields do not fit", pos as u64));
        };
        if entries.last().is_some_and(|prev| prev.to != entry.from) {
            return Err(("entries do not follow each other", pos as u64));
        }
        entries.push(entry);
        pos += ENTRY_HEAD + len;
    }
    Ok((entries, pos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> Name {
        Name::from_ascii("block.").expect("name")
    }

    fn entry(from: u32, n: u8) -> Arc<JournalEntry> {
        Arc::new(JournalEntry {
            from: Serial(from),
            to: Serial(from + 1),
            old_soa: Box::from(&b"old soa"[..]),
            new_soa: Box::from(&b"new soa"[..]),
            removed: vec![Box::from(&[n, 1, 2][..])],
            added: vec![Box::from(&[n, 3][..]), Box::from(&[n; 40][..])],
        })
    }

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sekisho-jfile-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("dir");
        d
    }

    fn same(a: &JournalEntry, b: &JournalEntry) -> bool {
        (a.from, a.to, &a.old_soa, &a.new_soa, &a.removed, &a.added)
            == (b.from, b.to, &b.old_soa, &b.new_soa, &b.removed, &b.added)
    }

    #[test]
    fn entries_appended_are_read_back_after_a_reopen() {
        let d = dir("append");
        let path = d.join("block.rpz.jnl");
        let (mut f, got, opened) = JournalFile::open(&path, &zone()).expect("new");
        assert!(got.is_empty() && opened == Opened::Clean);
        for s in 1..4 {
            f.append(&entry(s, s as u8)).expect("append");
        }
        drop(f);
        let (_, got, opened) = JournalFile::open(&path, &zone()).expect("reopen");
        assert_eq!(opened, Opened::Clean);
        assert_eq!(got.len(), 3);
        for (s, e) in (1..4).zip(&got) {
            assert!(same(e, &entry(s, s as u8)));
        }
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_torn_last_entry_is_cut_off_and_the_rest_kept() {
        let d = dir("torn");
        let path = d.join("block.rpz.jnl");
        let mut f =
            JournalFile::create(&path, &zone(), &[entry(1, 1), entry(2, 2)]).expect("create");
        f.append(&entry(3, 3)).expect("append");
        drop(f);
        let full = fs::metadata(&path).expect("meta").len();
        // A crash in the middle of the last write.
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(full - 5))
            .expect("cut");
        let (mut f, got, opened) = JournalFile::open(&path, &zone()).expect("open");
        assert_eq!(got.len(), 2);
        let kept = match opened {
            Opened::TornTail { bytes, kept } => {
                assert_eq!(bytes, full - 5);
                kept
            }
            Opened::Clean => panic!("the torn tail went unnoticed"),
        };
        assert_eq!(fs::metadata(&path).expect("meta").len(), kept);
        // Appending goes on after the kept entries.
        f.append(&entry(3, 9)).expect("append");
        drop(f);
        let (_, got, opened) = JournalFile::open(&path, &zone()).expect("reopen");
        assert_eq!((got.len(), opened), (3, Opened::Clean));
        assert!(same(&got[2], &entry(3, 9)));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_damaged_middle_entry_or_header_refuses_the_file_and_keeps_it_aside() {
        for (tag, offset_from_header, what) in [
            ("middle", 20usize, "checksum mismatch"),
            ("header", usize::MAX, "not a Sekisho journal"),
        ] {
            let d = dir(tag);
            let path = d.join("block.rpz.jnl");
            drop(JournalFile::create(&path, &zone(), &[entry(1, 1), entry(2, 2)]).expect("create"));
            let mut bytes = fs::read(&path).expect("read");
            let at = if offset_from_header == usize::MAX {
                0
            } else {
                header(&zone()).len() + offset_from_header
            };
            bytes[at] ^= 0xff;
            fs::write(&path, &bytes).expect("write");
            let err = JournalFile::open(&path, &zone()).expect_err("damaged");
            let text = err.to_string();
            assert!(
                text.contains("block.rpz.jnl") && text.contains(what),
                "{text}"
            );
            assert!(!path.exists(), "moved aside");
            assert_eq!(
                fs::read(d.join("block.rpz.jnl.damaged")).expect("kept"),
                bytes
            );
            let _ = fs::remove_dir_all(&d);
        }
    }

    #[test]
    fn no_single_damaged_octet_panics_or_yields_an_entry_that_was_not_written() {
        let zone = zone();
        let written: Vec<Arc<JournalEntry>> = (1..4).map(|s| entry(s, s as u8)).collect();
        let mut bytes = header(&zone);
        for e in &written {
            bytes.extend_from_slice(&encode_entry(e));
        }
        let last_start = bytes.len() - encode_entry(&written[2]).len();
        for at in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[at] ^= flip;
                match parse(&bad, &zone) {
                    Ok((got, _)) => {
                        // Only damage inside the last entry reads as a torn tail.
                        assert!(at >= last_start, "octet {at} ^ {flip:#x} went unnoticed");
                        assert_eq!(got.len(), 2);
                        assert!(got.iter().zip(&written).all(|(g, w)| same(g, w)));
                    }
                    Err((_, offset)) => assert!(offset as usize <= at),
                }
            }
        }
        // A tail of zeros (a lost write the file system had already sized) is torn.
        let mut zeros = bytes.clone();
        zeros.extend_from_slice(&[0; 40]);
        assert_eq!(
            parse(&zeros, &zone).map(|(g, n)| (g.len(), n)),
            Ok((3, bytes.len() as u64))
        );
    }

    #[test]
    fn a_journal_of_another_zone_is_refused() {
        let d = dir("other");
        let path = d.join("block.rpz.jnl");
        drop(JournalFile::create(&path, &zone(), &[entry(1, 1)]).expect("create"));
        let other = Name::from_ascii("other.").expect("name");
        assert!(matches!(
            JournalFile::open(&path, &other),
            Err(JournalFileError::Damaged { .. })
        ));
        let _ = fs::remove_dir_all(&d);
    }
}
