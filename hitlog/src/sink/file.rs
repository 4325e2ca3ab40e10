//! The file output: append, rotate by size and time, follow the path.
//!
//! Rotation renames `path` to `path.1` after shifting `path.1` to
//! `path.2` and so on up to `path.{keep}`, which the shift overwrites (so
//! the oldest goes); with `keep` 0 the full file is deleted. Rotation
//! happens when a line arrives: before the line that would take the file
//! past the size limit, and before the first line of a new interval (so a
//! quiet night leaves no empty files). A file that already exists at start
//! is appended to, and rotated at the first line if its modification time
//! lies in an earlier interval. An empty file is never rotated.
//!
//! A write that fails part-way (a full disk) may leave a partial line; the
//! next line after recovery starts on the same text line.
//!
//! The file is opened with `O_APPEND | O_CREAT`, but its directory is never
//! created: a log directory that is missing is usually an unmounted
//! filesystem, and creating it would write the log beneath the mount point
//! onto the root filesystem. The directory reappearing is noticed within a
//! second (see [`FileOut::check`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Output;

/// The open file and what rotation needs to know of it.
#[derive(Debug)]
struct Open {
    /// The file, in append mode.
    file: File,
    /// (device, inode) of the file, to notice when `path` names another.
    id: (u64, u64),
    /// Its size in bytes.
    size: u64,
    /// The rotation interval its content belongs to, once known.
    interval: Option<u64>,
}

/// A hit log file.
#[derive(Debug)]
pub(crate) struct FileOut {
    /// Where the log is written.
    path: PathBuf,
    /// Rotate before the file passes this size; 0 = never.
    rotate_size: u64,
    /// How many rotated files to keep.
    rotate_keep: usize,
    /// The rotation interval in whole seconds (at least 1), if any.
    interval_secs: Option<u64>,
    /// The open file, if any.
    open: Option<Open>,
    /// The line and its newline, written in one `write`.
    buf: Vec<u8>,
}

impl FileOut {
    /// A closed file output; [`Output::open`] opens it.
    pub(crate) fn new(
        path: PathBuf,
        rotate_size: u64,
        rotate_keep: usize,
        rotate_interval: Option<Duration>,
    ) -> FileOut {
        FileOut {
            path,
            rotate_size,
            rotate_keep,
            interval_secs: rotate_interval.map(|d| d.as_secs().max(1)),
            open: None,
            buf: Vec::new(),
        }
    }

    /// The interval index of `t`, if rotating by time.
    fn interval_of(&self, t: SystemTime) -> Option<u64> {
        let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.interval_secs.map(|i| secs / i)
    }

    /// Whether a line of `len` bytes written at `now` goes to a new file.
    fn must_rotate(&self, open: &Open, len: u64, now: SystemTime) -> bool {
        if open.size == 0 {
            return false;
        }
        let by_size = self.rotate_size > 0 && open.size + len > self.rotate_size;
        let by_time = match (open.interval, self.interval_of(now)) {
            (Some(file), Some(now)) => now > file,
            _ => false,
        };
        by_size || by_time
    }

    /// Moves the file aside (`path` → `path.1`, …) and opens a new one.
    fn rotate(&mut self) -> io::Result<()> {
        self.open = None;
        if self.rotate_keep == 0 {
            ignore_missing(std::fs::remove_file(&self.path))?;
        } else {
            for i in (1..self.rotate_keep).rev() {
                ignore_missing(std::fs::rename(
                    numbered(&self.path, i),
                    numbered(&self.path, i + 1),
                ))?;
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
        }
        self.open()
    }
}

impl Output for FileOut {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn is_open(&self) -> bool {
        self.open.is_some()
    }

    fn open(&mut self) -> io::Result<()> {
        self.open = None;
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)?;
        let meta = file.metadata()?;
        let size = meta.len();
        let interval = if size > 0 {
            meta.modified().ok().and_then(|t| self.interval_of(t))
        } else {
            None
        };
        self.open = Some(Open {
            file,
            id: (meta.dev(), meta.ino()),
            size,
            interval,
        });
        Ok(())
    }

    fn close(&mut self) {
        self.open = None;
    }

    fn write_line(&mut self, line: &str, now: SystemTime) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        let rotate = match &self.open {
            Some(open) => self.must_rotate(open, len, now),
            None => return Err(io::Error::new(io::ErrorKind::NotConnected, "not open")),
        };
        if rotate {
            self.rotate()?;
        }
        let now_interval = self.interval_of(now);
        let Some(open) = self.open.as_mut() else {
            // rotate() returned Ok, so it opened the new file.
            return Err(io::Error::new(io::ErrorKind::NotConnected, "not open"));
        };
        self.buf.clear();
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
        open.file.write_all(&self.buf)?;
        open.size += len;
        if open.interval < now_interval {
            open.interval = now_interval;
        }
        Ok(())
    }

    /// Reopens when `path` no longer names the open file: it was deleted
    /// with its directory, or moved away by a logrotate that sent no reopen.
    fn check(&mut self) -> io::Result<()> {
        let Some(open) = &self.open else {
            return Ok(());
        };
        match std::fs::metadata(&self.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == open.id => Ok(()),
            _ => self.open(),
        }
    }
}

/// `path` with `.n` appended to its file name.
fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// `Ok` for a file that is not there (nothing to move or delete).
fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("sekisho-hitlog-{}-unit-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_default()
    }

    const DAY: u64 = 86_400;

    fn day(n: u64, secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(20_000 * DAY + n * DAY + secs)
    }

    #[test]
    fn rotates_at_interval_boundaries() {
        let d = dir("interval");
        let path = d.join("hits.log");
        let mut f = FileOut::new(path.clone(), 0, 2, Some(Duration::from_secs(DAY)));
        f.open().expect("open");
        f.write_line("a", day(0, 10)).expect("write");
        f.write_line("b", day(0, DAY - 1)).expect("write");
        f.write_line("c", day(1, 0)).expect("write");
        f.write_line("d", day(3, 5)).expect("write");
        f.write_line("e", day(3, 6)).expect("write");
        assert_eq!(read(&path), "d\ne\n");
        assert_eq!(read(&numbered(&path, 1)), "c\n");
        assert_eq!(read(&numbered(&path, 2)), "a\nb\n");
        assert!(!numbered(&path, 3).exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn keep_zero_deletes_the_full_file() {
        let d = dir("keep0");
        let path = d.join("hits.log");
        let mut f = FileOut::new(path.clone(), 4, 0, None);
        f.open().expect("open");
        f.write_line("abc", day(0, 0)).expect("write");
        f.write_line("def", day(0, 0)).expect("write");
        assert_eq!(read(&path), "def\n");
        assert!(!numbered(&path, 1).exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_line_larger_than_the_limit_still_goes_to_its_own_file() {
        let d = dir("large");
        let path = d.join("hits.log");
        let mut f = FileOut::new(path.clone(), 4, 3, None);
        f.open().expect("open");
        f.write_line("0123456789", day(0, 0)).expect("write");
        f.write_line("x", day(0, 0)).expect("write");
        assert_eq!(read(&path), "x\n");
        assert_eq!(read(&numbered(&path, 1)), "0123456789\n");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn missing_directory_is_not_created() {
        let d = dir("nodir");
        let path = d.join("gone").join("hits.log");
        let mut f = FileOut::new(path.clone(), 0, 0, None);
        assert!(f.open().is_err());
        assert!(!d.join("gone").exists());
        let _ = std::fs::remove_dir_all(&d);
    }
}
