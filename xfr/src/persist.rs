//! Persisted copies of transferred zones, so a restart serves the last good data
//! before the primary answers.
//!
//! ```text
//!  records ─▶ DIR/.NAME.tmp.PID.N  (write, fsync) ─rename─▶ DIR/NAME ─▶ fsync(DIR)
//! ```
//!
//! The rename is atomic on POSIX file systems, so a reader sees the old file or
//! the new one, never half of one; the directory fsync makes the rename itself
//! durable. The first line is `; serial N`, which lets an operator (and a cheap
//! startup check) see the version without parsing the zone.
//!
//! The text form comes from [`format_record`], the single swap point for the
//! `sekisho-zonefile` writer once it lands. These functions block: call them from
//! `spawn_blocking` (style practice 10).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::rr::Record;
use thiserror::Error;

use crate::serial::Serial;

/// Distinguishes temporary files of concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A failed write of a zone copy, naming the file.
#[derive(Debug, Error)]
#[error("{path}: {source}")]
pub struct PersistError {
    /// The file being written (or its directory).
    pub path: PathBuf,
    /// What went wrong.
    #[source]
    pub source: io::Error,
}

/// One record in master-file form: `owner TTL CLASS TYPE rdata`, absolute names.
///
/// Uses hickory's `Display` for the RDATA for now; this is the one function to
/// replace with the `sekisho-zonefile` writer.
pub fn format_record(record: &Record) -> String {
    format!(
        "{} {} {} {} {}",
        record.name,
        record.ttl,
        record.dns_class,
        record.record_type(),
        record.data
    )
}

/// Writes `records` to `path` atomically with a `; serial N` header.
pub fn write_zone_file(
    path: &Path,
    serial: Serial,
    records: &[Record],
) -> Result<(), PersistError> {
    let err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| PersistError { path: p, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))
        .map_err(err(path))?;
    let temp = dir.join(format!(
        ".{}.tmp.{}.{}",
        file_name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));

    let written = write_temp(&temp, serial, records).and_then(|()| fs::rename(&temp, path));
    if let Err(e) = written {
        // Best effort: a leftover temp file is harmless but untidy.
        let _ = fs::remove_file(&temp);
        return Err(err(path)(e));
    }
    // Make the rename durable: fsync the directory entry.
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(err(&dir))
}

/// Writes and fsyncs the temporary file.
fn write_temp(temp: &Path, serial: Serial, records: &[Record]) -> io::Result<()> {
    let file = OpenOptions::new().write(true).create_new(true).open(temp)?;
    let mut w = BufWriter::new(file);
    writeln!(w, "; serial {serial}")?;
    for record in records {
        writeln!(w, "{}", format_record(record))?;
    }
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::{Name, RData};

    use super::*;

    fn records() -> Vec<Record> {
        let zone = Name::from_ascii("rpz.example.").expect("name");
        vec![
            Record::from_rdata(
                zone.clone(),
                300,
                RData::SOA(SOA::new(
                    Name::from_ascii("ns.rpz.example.").expect("name"),
                    Name::from_ascii("h.rpz.example.").expect("name"),
                    2026112201,
                    3600,
                    600,
                    86400,
                    60,
                )),
            ),
            Record::from_rdata(
                Name::from_ascii("bad.rpz.example.").expect("name"),
                60,
                RData::A(A::new(192, 0, 2, 1)),
            ),
        ]
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("sekisho-xfr-persist-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn a_written_zone_starts_with_the_serial_and_has_one_record_per_line() {
        let dir = temp_dir("write");
        let path = dir.join("rpz.example.zone");
        write_zone_file(&path, Serial(2026112201), &records()).expect("write");
        let text = fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "; serial 2026112201");
        assert_eq!(
            lines[1],
            "rpz.example. 300 IN SOA ns.rpz.example. h.rpz.example. 2026112201 3600 600 86400 60"
        );
        assert_eq!(lines[2], "bad.rpz.example. 60 IN A 192.0.2.1");
        assert_eq!(lines.len(), 3);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn rewriting_replaces_the_file_and_leaves_no_temporary_files() {
        let dir = temp_dir("rewrite");
        let path = dir.join("z.zone");
        write_zone_file(&path, Serial(1), &records()).expect("first");
        write_zone_file(&path, Serial(2), &records()[..1]).expect("second");
        let text = fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("; serial 2\n"));
        assert_eq!(text.lines().count(), 2);
        let entries: Vec<_> = fs::read_dir(&dir).expect("list").collect();
        assert_eq!(entries.len(), 1, "only the zone file remains");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_write_into_a_missing_directory_names_the_file() {
        let path = std::env::temp_dir().join("sekisho-xfr-no-such-dir/z.zone");
        let err = write_zone_file(&path, Serial(1), &records()).expect_err("no dir");
        assert_eq!(err.path, path);
        assert!(err.to_string().contains("z.zone"));
    }
}
