//! The `rpz-log` lines of a `HitLog` are written once per change of state,
//! not once per dropped line or retry.
//!
//! The writer runs on its own thread, so the events are caught by a
//! process-wide subscriber; this file holds one test so nothing else in
//! this test binary logs.

mod common;
use common::wait_until;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sekisho_hitlog::{Destination, HitLog};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One caught event: its level and its `destination` and `dropped` fields.
#[derive(Clone, Debug)]
struct Caught {
    level: Level,
    destination: String,
    dropped: Option<u64>,
}

/// A subscriber that keeps the `rpz-log` events.
struct Catcher(Arc<Mutex<Vec<Caught>>>);

/// Reads the fields of one event.
#[derive(Default)]
struct Fields {
    destination: String,
    dropped: Option<u64>,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "dropped" {
            self.dropped = Some(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "destination" {
            self.destination = format!("{value:?}");
        }
    }
}

impl Subscriber for Catcher {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "rpz-log"
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let caught = Caught {
            level: *event.metadata().level(),
            destination: f.destination,
            dropped: f.dropped,
        };
        if let Ok(mut v) = self.0.lock() {
            v.push(caught);
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[test]
fn state_changes_are_logged_once_each() {
    let caught = Arc::new(Mutex::new(Vec::new()));
    tracing::subscriber::set_global_default(Catcher(Arc::clone(&caught)))
        .expect("the only subscriber of this test binary");
    let events = |level: Level| -> Vec<Caught> {
        caught
            .lock()
            .map(|v| v.iter().filter(|c| c.level == level).cloned().collect())
            .unwrap_or_default()
    };

    let dir: PathBuf =
        std::env::temp_dir().join(format!("sekisho-hitlog-{}-log-once", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test directory");
    let logs = dir.join("logs");
    let path = logs.join("hits.log");
    let log = HitLog::start(
        Destination::File {
            path: path.clone(),
            rotate_size: 0,
            rotate_keep: 0,
            rotate_interval: None,
        },
        64,
    );

    // Unusable for over two seconds: several retries, many dropped lines.
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_millis(2500) {
        log.write(format!("lost-{n}"));
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(wait_until(Duration::from_secs(5), || log.stats().dropped == n));
    let warns = events(Level::WARN);
    assert_eq!(warns.len(), 1, "{warns:?}");
    assert!(warns[0].destination.contains("hits.log"), "{warns:?}");

    std::fs::create_dir(&logs).expect("create the log directory");
    let resumed = wait_until(Duration::from_secs(10), || {
        log.write("kept".to_owned());
        log.stats().healthy
    });
    assert!(resumed, "{:?}", log.stats());
    for _ in 0..10 {
        log.write("kept".to_owned());
    }
    log.shutdown(Duration::from_secs(10));
    let infos = events(Level::INFO);
    assert_eq!(infos.len(), 1, "{infos:?}");
    let dropped = infos[0]
        .dropped
        .expect("the info line counts the dropped lines");
    assert!(dropped >= n, "{dropped} < {n}");
    assert_eq!(dropped, log.stats().dropped);
    assert_eq!(events(Level::WARN).len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
