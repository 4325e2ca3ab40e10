//! The file destination of a `HitLog`, driven through the public API:
//! writing, size rotation, reopen after logrotate, and a log directory
//! that disappears and returns.

mod common;
use common::wait_until;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sekisho_hitlog::{Destination, HitLog};

/// A fresh directory for one test: temp dir, process id and test name.
fn test_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sekisho-hitlog-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create the test directory");
    d
}

/// A file destination without rotation.
fn plain(path: &Path) -> Destination {
    Destination::File {
        path: path.to_path_buf(),
        rotate_size: 0,
        rotate_keep: 0,
        rotate_interval: None,
    }
}

/// The lines of a file; none if it is missing.
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `path` with `.n` appended.
fn numbered(path: &Path, n: usize) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

#[test]
fn writes_every_queued_line_in_order() {
    let dir = test_dir("writes-n");
    let path = dir.join("hits.log");
    let log = HitLog::start(plain(&path), 2000);
    for i in 0..1000 {
        log.write(format!("{{\"n\":{i}}}"));
    }
    log.shutdown(Duration::from_secs(10));
    let got = lines(&path);
    assert_eq!(got.len(), 1000);
    for (i, l) in got.iter().enumerate() {
        assert_eq!(l, &format!("{{\"n\":{i}}}"));
    }
    let stats = log.stats();
    assert_eq!(
        (stats.written, stats.dropped, stats.healthy),
        (1000, 0, true)
    );
    // After shutdown, lines are dropped and counted, not written.
    log.write("late".to_owned());
    assert_eq!(log.stats().dropped, 1);
    assert_eq!(lines(&path).len(), 1000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn appends_to_an_existing_file() {
    let dir = test_dir("append");
    let path = dir.join("hits.log");
    std::fs::write(&path, "old\n").expect("seed the file");
    let log = HitLog::start(plain(&path), 16);
    log.write("new".to_owned());
    log.shutdown(Duration::from_secs(10));
    assert_eq!(lines(&path), ["old", "new"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rotates_by_size_and_keeps_the_newest_files() {
    let dir = test_dir("rotate-size");
    let path = dir.join("hits.log");
    // 21 bytes a line: four fit under 100 bytes, the fifth starts a new file.
    let log = HitLog::start(
        Destination::File {
            path: path.clone(),
            rotate_size: 100,
            rotate_keep: 3,
            rotate_interval: None,
        },
        100,
    );
    for i in 0..30 {
        log.write(format!("line-{i:015}"));
    }
    log.shutdown(Duration::from_secs(10));
    let want =
        |r: std::ops::Range<i32>| -> Vec<String> { r.map(|i| format!("line-{i:015}")).collect() };
    // Files of lines 0-3, 4-7, …, 24-27, 28-29: the last four remain.
    assert_eq!(lines(&path), want(28..30));
    assert_eq!(lines(&numbered(&path, 1)), want(24..28));
    assert_eq!(lines(&numbered(&path, 2)), want(20..24));
    assert_eq!(lines(&numbered(&path, 3)), want(16..20));
    assert!(!numbered(&path, 4).exists());
    for p in [path.clone(), numbered(&path, 1)] {
        let len = std::fs::metadata(&p).expect("rotated file").len();
        assert!(len <= 100, "{} has {len} bytes", p.display());
    }
    assert_eq!(log.stats().written, 30);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reopen_after_logrotate_moved_the_file_writes_a_new_one() {
    let dir = test_dir("reopen");
    let path = dir.join("hits.log");
    let moved = dir.join("hits.log.old");
    let log = HitLog::start(plain(&path), 16);
    log.write("before".to_owned());
    assert!(wait_until(Duration::from_secs(5), || log.stats().written == 1));
    std::fs::rename(&path, &moved).expect("move the log away");
    log.reopen();
    log.write("after".to_owned());
    log.shutdown(Duration::from_secs(10));
    assert_eq!(lines(&moved), ["before"]);
    assert_eq!(lines(&path), ["after"]);
    assert_eq!(log.stats().dropped, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_removed_directory_drops_lines_and_its_return_resumes_the_log() {
    let dir = test_dir("dir-removed");
    let logs = dir.join("logs");
    std::fs::create_dir(&logs).expect("create the log directory");
    let path = logs.join("hits.log");
    let log = HitLog::start(plain(&path), 64);
    log.write("first".to_owned());
    assert!(wait_until(Duration::from_secs(5), || log.stats().written == 1));

    std::fs::remove_dir_all(&logs).expect("remove the log directory");
    // The writer notices within about a second; lines until then go to
    // the deleted file.
    let mut n = 0;
    let noticed = wait_until(Duration::from_secs(10), || {
        log.write(format!("gone-{n}"));
        n += 1;
        let s = log.stats();
        !s.healthy && s.dropped > 0
    });
    assert!(noticed, "{:?}", log.stats());
    assert!(!logs.exists(), "the directory must not be re-created");
    // Let the writer take every queued line before the directory returns,
    // so none of the `gone-` lines can land in the new file.
    assert!(wait_until(Duration::from_secs(5), || {
        let s = log.stats();
        s.written + s.dropped == 1 + n
    }));

    std::fs::create_dir(&logs).expect("re-create the log directory");
    let dropped = log.stats().dropped;
    let mut m = 0;
    let resumed = wait_until(Duration::from_secs(10), || {
        log.write(format!("back-{m}"));
        m += 1;
        log.stats().healthy
    });
    assert!(resumed, "{:?}", log.stats());
    log.write("last".to_owned());
    log.shutdown(Duration::from_secs(10));
    let got = lines(&path);
    assert_eq!(got.last().map(String::as_str), Some("last"), "{got:?}");
    assert!(got.iter().all(|l| l.starts_with("back-") || l == "last"));
    let s = log.stats();
    assert!(s.healthy);
    assert!(s.dropped >= dropped);
    assert_eq!(s.written + s.dropped, 1 + n + m + 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_directory_at_start_is_a_state_not_an_error() {
    let dir = test_dir("missing-at-start");
    let path = dir.join("not-yet").join("hits.log");
    let log = HitLog::start(plain(&path), 16);
    assert!(wait_until(Duration::from_secs(5), || !log.stats().healthy));
    log.write("dropped".to_owned());
    assert!(wait_until(Duration::from_secs(5), || log.stats().dropped == 1));
    std::fs::create_dir(dir.join("not-yet")).expect("create the directory");
    // A reopen retries at once instead of waiting for the next second.
    log.reopen();
    log.write("kept".to_owned());
    log.shutdown(Duration::from_secs(10));
    assert_eq!(lines(&path), ["kept"]);
    assert!(log.stats().healthy);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let dir = test_dir("full-queue");
    let path = dir.join("hits.log");
    let log = HitLog::start(plain(&path), 1);
    let n = 20_000u64;
    for i in 0..n {
        log.write(format!("line-{i}"));
    }
    log.shutdown(Duration::from_secs(10));
    let s = log.stats();
    assert_eq!(s.written + s.dropped, n, "{s:?}");
    assert_eq!(lines(&path).len() as u64, s.written);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn clones_share_one_writer() {
    let dir = test_dir("clones");
    let path = dir.join("hits.log");
    let log = HitLog::start(plain(&path), 1000);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    log.write(format!("t{t}-{i}"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread");
    }
    log.shutdown(Duration::from_secs(10));
    assert_eq!(lines(&path).len(), 400);
    assert_eq!(log.stats().written, 400);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A full disk (`/dev/full` answers every write with ENOSPC): lines are
/// dropped and counted, the log is unhealthy, and `write` never blocks.
#[test]
fn a_full_disk_drops_and_counts_lines() {
    let log = HitLog::start(plain(Path::new("/dev/full")), 64);
    let started = Instant::now();
    for i in 0..3 {
        log.write(format!("line {i}"));
    }
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "write blocked"
    );
    assert!(
        wait_until(Duration::from_secs(5), || log.stats().dropped == 3),
        "{:?}",
        log.stats()
    );
    let stats = log.stats();
    assert_eq!(stats.written, 0);
    assert!(!stats.healthy);
    log.shutdown(Duration::from_secs(1));
}
