//! Where hit lines go: a rotating file or syslog, written by one thread.
//!
//! ```text
//!   query path ──write(line)──► bounded queue ──► writer thread ──► file / syslog
//!     (never blocks: a full queue drops            (opens, rotates, reopens,
//!      the line and counts it)                      retries once a second)
//! ```
//!
//! The resolver calls [`HitLog::write`] on every policy hit, up to about
//! ten thousand a second, so recording must neither block nor fail the
//! query: the line goes into a bounded channel with `try_send`, and a full
//! queue or a closed log costs one counter add.
//!
//! The writer thread owns the destination. An unusable destination (a
//! missing directory, a full disk, no syslog daemon) is a state, not an
//! error: lines are dropped and counted, the state turns unhealthy and is
//! logged once (`warn`, target `rpz-log`, naming the destination and the
//! error), the destination is reopened at most once a second, and the
//! first line written again is logged once (`info`, with the number of
//! lines dropped meanwhile). [`Stats`] shows the same state to metrics.
//!
//! Files: see the `file` module for rotation and why a missing directory is
//! waited for, not created. Once a second the writer also checks that the
//! path still names its open file, and reopens it if not (the directory
//! was removed, or a logrotate moved the file without a reopen). Lines
//! written in the second before that check go to the old file. Syslog: see
//! the `syslog` module for the RFC 5424 header.
//!
//! [`HitLog::reopen`] (SIGHUP, `sekishoctl reopen-logs`, a logrotate
//! `postrotate`) makes the writer close and reopen the destination before
//! it writes its next line.

mod file;
mod syslog;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use self::file::FileOut;
use self::syslog::SyslogOut;

/// How often an unusable destination is retried, and a file's identity checked.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// How long the writer waits for a line before it looks at its timers.
const IDLE_WAKE: Duration = Duration::from_millis(200);

/// Lines the writer takes from the queue at most before it looks at its
/// flags (reopen, closing) and timers again.
const BURST: usize = 1024;

/// How long the writer lets lines gather after it emptied the queue.
const LINGER: Duration = Duration::from_millis(2);

/// Where the hit lines of a log go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A file, appended to; its directory must exist (it is waited for,
    /// never created).
    File {
        /// The file.
        path: PathBuf,
        /// Rotate before the file would pass this many bytes; 0 = never.
        rotate_size: u64,
        /// How many rotated files (`path.1` … `path.N`) to keep.
        rotate_keep: usize,
        /// Rotate at multiples of this since the Unix epoch (e.g. daily at
        /// 00:00 UTC), in whole seconds; `None` = never.
        rotate_interval: Option<Duration>,
    },
    /// Syslog, one RFC 5424 datagram per line.
    Syslog {
        /// The receiver.
        target: SyslogTarget,
        /// The facility code (e.g. 16 = local0; over 23 is taken as 23).
        facility: u8,
        /// The APP-NAME field (printable ASCII, at most 48 characters).
        app_name: String,
    },
}

/// A syslog receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyslogTarget {
    /// A Unix datagram socket, usually `/dev/log`.
    Unix(PathBuf),
    /// A UDP receiver (RFC 5426).
    Udp(SocketAddr),
}

/// The counters and state of a [`HitLog`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Lines written to the destination.
    pub written: u64,
    /// Lines dropped: the queue was full, the destination unusable, or
    /// the log shut down.
    pub dropped: u64,
    /// Whether the destination took its last line (or has had none to take).
    pub healthy: bool,
}

/// A hit log: a queue and the thread that writes it out. Clones share both.
#[derive(Clone, Debug)]
pub struct HitLog {
    /// What every clone shares.
    inner: Arc<Inner>,
}

/// The sending side of a hit log.
#[derive(Debug)]
struct Inner {
    /// The queue to the writer.
    tx: SyncSender<Msg>,
    /// State shared with the writer.
    shared: Arc<Shared>,
}

/// State shared by the senders and the writer thread.
#[derive(Debug)]
struct Shared {
    /// Lines written.
    written: AtomicU64,
    /// Lines dropped.
    dropped: AtomicU64,
    /// The destination's state.
    healthy: AtomicBool,
    /// A reopen was asked for.
    reopen: AtomicBool,
    /// The log is shutting down: no new lines.
    closing: AtomicBool,
    /// Until when the writer may drain the queue on shutdown.
    deadline: Mutex<Option<Instant>>,
    /// The writer has finished.
    done: Mutex<bool>,
    /// Signalled when `done` turns true.
    done_cv: Condvar,
}

/// What the queue carries.
#[derive(Debug)]
enum Msg {
    /// A line, without its newline.
    Line(String),
    /// Look at the flags now (reopen, shutdown).
    Wake,
}

impl HitLog {
    /// Starts the writer thread for `dest` with room for `queue` lines (at
    /// least 1). Never fails: if the destination cannot be opened, or the
    /// thread not started, the log is unhealthy and drops its lines.
    pub fn start(dest: Destination, queue: usize) -> HitLog {
        let (tx, rx) = mpsc::sync_channel(queue.max(1));
        let shared = Arc::new(Shared {
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            reopen: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            deadline: Mutex::new(None),
            done: Mutex::new(false),
            done_cv: Condvar::new(),
        });
        let out: Box<dyn Output + Send> = match dest {
            Destination::File {
                path,
                rotate_size,
                rotate_keep,
                rotate_interval,
            } => Box::new(FileOut::new(
                path,
                rotate_size,
                rotate_keep,
                rotate_interval,
            )),
            Destination::Syslog {
                target,
                facility,
                app_name,
            } => Box::new(SyslogOut::new(
                target,
                facility,
                &app_name,
                syslog::local_hostname().as_deref(),
            )),
        };
        let name = out.name();
        let writer = Writer {
            out,
            shared: Arc::clone(&shared),
            healthy: true,
            retry_at: None,
            check_at: Instant::now() + RETRY_INTERVAL,
            dropped_while_unhealthy: 0,
        };
        let spawned = std::thread::Builder::new()
            .name("sekisho-hitlog".to_owned())
            .spawn(move || writer.run(rx));
        if let Err(error) = spawned {
            // The receiver went with the closure: every write now counts as dropped.
            shared.healthy.store(false, Ordering::Relaxed);
            *shared.done.lock().unwrap_or_else(PoisonError::into_inner) = true;
            tracing::warn!(target: "rpz-log", destination = %name, %error,
                "cannot start the hit log writer; dropping its lines");
        }
        HitLog {
            inner: Arc::new(Inner { tx, shared }),
        }
    }

    /// Queues one line (without a newline); drops and counts it if the
    /// queue is full or the log shut down. Never blocks.
    pub fn write(&self, line: String) {
        let shared = &self.inner.shared;
        if shared.closing.load(Ordering::Relaxed)
            || self.inner.tx.try_send(Msg::Line(line)).is_err()
        {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Makes the writer close and reopen the file (or syslog socket)
    /// before its next line: after a logrotate moved the file away, or to
    /// retry an unhealthy destination at once.
    pub fn reopen(&self) {
        self.inner.shared.reopen.store(true, Ordering::Release);
        // A full queue wakes the writer anyway.
        let _ = self.inner.tx.try_send(Msg::Wake);
    }

    /// The counters and state.
    pub fn stats(&self) -> Stats {
        let s = &self.inner.shared;
        Stats {
            written: s.written.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            healthy: s.healthy.load(Ordering::Relaxed),
        }
    }

    /// Stops taking lines and lets the writer write what is queued for at
    /// most `limit`; what is left then is dropped and counted. Returns
    /// when the writer is done or `limit` has passed. Lines written by
    /// other threads during the shutdown itself may be lost uncounted.
    pub fn shutdown(&self, limit: Duration) {
        let shared = &self.inner.shared;
        let deadline = Instant::now() + limit;
        *shared
            .deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(deadline);
        shared.closing.store(true, Ordering::Release);
        let _ = self.inner.tx.try_send(Msg::Wake);
        let mut done = shared.done.lock().unwrap_or_else(PoisonError::into_inner);
        while !*done {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            done = shared
                .done_cv
                .wait_timeout(done, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A destination as the writer drives it.
trait Output {
    /// The destination for log lines: the path or the syslog target.
    fn name(&self) -> String;
    /// Whether it is open.
    fn is_open(&self) -> bool;
    /// Opens it, closing it first if open.
    fn open(&mut self) -> io::Result<()>;
    /// Closes it.
    fn close(&mut self);
    /// Writes one line written at `now`.
    fn write_line(&mut self, line: &str, now: SystemTime) -> io::Result<()>;
    /// The periodic check of an open destination; may reopen it.
    fn check(&mut self) -> io::Result<()>;
}

/// The writer thread's state.
struct Writer {
    /// The destination.
    out: Box<dyn Output + Send>,
    /// Counters and flags shared with the senders.
    shared: Arc<Shared>,
    /// The state last logged.
    healthy: bool,
    /// When the destination may be opened again after a failure.
    retry_at: Option<Instant>,
    /// When to run the next periodic check.
    check_at: Instant,
    /// Lines dropped since the state turned unhealthy.
    dropped_while_unhealthy: u64,
}

impl Writer {
    /// Writes lines until the senders are gone or the log shuts down.
    fn run(mut self, rx: Receiver<Msg>) {
        let name = self.out.name();
        if let Err(error) = self.out.open() {
            self.fail(&error);
        }
        loop {
            let msg = rx.recv_timeout(IDLE_WAKE);
            if self.shared.reopen.swap(false, Ordering::Acquire) {
                self.out.close();
                self.retry_at = None;
                self.try_open();
            }
            if self.shared.closing.load(Ordering::Acquire) {
                if let Ok(Msg::Line(line)) = msg {
                    self.line(&line);
                }
                self.drain(&rx);
                break;
            }
            match msg {
                Ok(Msg::Line(line)) => {
                    self.line(&line);
                    // Take what else is queued; when the queue ran dry, let
                    // lines gather instead of being woken for each (a sender
                    // wakes a writer waiting in `recv`, not a sleeping one).
                    let mut taken = 1;
                    while taken < BURST {
                        match rx.try_recv() {
                            Ok(Msg::Line(line)) => {
                                self.line(&line);
                                taken += 1;
                            }
                            Ok(Msg::Wake) => {}
                            Err(_) => break,
                        }
                    }
                    if taken < BURST {
                        std::thread::sleep(LINGER);
                    }
                }
                Ok(Msg::Wake) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.tick();
        }
        drop(rx);
        tracing::debug!(target: "rpz-log", destination = %name, "hit log writer stopped");
        *self
            .shared
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.done_cv.notify_all();
    }

    /// Writes what is queued until the shutdown deadline, then drops the rest.
    fn drain(&mut self, rx: &Receiver<Msg>) {
        let deadline = *self
            .shared
            .deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            let msg = match rx.try_recv() {
                Ok(msg) => msg,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            };
            let late = deadline.is_some_and(|d| Instant::now() >= d);
            match msg {
                Msg::Line(_) if late => self.drop_line(),
                Msg::Line(line) => self.line(&line),
                Msg::Wake => {}
            }
        }
    }

    /// Writes one line, or drops and counts it.
    fn line(&mut self, line: &str) {
        if !self.out.is_open() && !self.try_open() {
            self.drop_line();
            return;
        }
        match self.out.write_line(line, SystemTime::now()) {
            Ok(()) => {
                self.shared.written.fetch_add(1, Ordering::Relaxed);
                if !self.healthy {
                    self.healthy = true;
                    self.shared.healthy.store(true, Ordering::Relaxed);
                    tracing::info!(target: "rpz-log", destination = %self.out.name(),
                        dropped = self.dropped_while_unhealthy, "hit log resumed after dropped lines");
                    self.dropped_while_unhealthy = 0;
                }
            }
            Err(error) => {
                self.out.close();
                self.fail(&error);
                self.drop_line();
            }
        }
    }

    /// Opens a closed destination if the retry interval allows; whether it is open.
    fn try_open(&mut self) -> bool {
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        match self.out.open() {
            Ok(()) => {
                self.retry_at = None;
                true
            }
            Err(error) => {
                self.fail(&error);
                false
            }
        }
    }

    /// The periodic work: retry a closed destination, check an open one.
    fn tick(&mut self) {
        let now = Instant::now();
        if now < self.check_at {
            return;
        }
        self.check_at = now + RETRY_INTERVAL;
        if !self.out.is_open() {
            self.try_open();
        } else if let Err(error) = self.out.check() {
            self.out.close();
            self.fail(&error);
        }
    }

    /// Notes a failure: no retry for a while, and a log line if it is new.
    fn fail(&mut self, error: &io::Error) {
        self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
        if self.healthy {
            self.healthy = false;
            self.shared.healthy.store(false, Ordering::Relaxed);
            tracing::warn!(target: "rpz-log", destination = %self.out.name(), %error,
                "hit log unusable; dropping its lines until it works again");
        }
    }

    /// Counts a dropped line.
    fn drop_line(&mut self) {
        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        if !self.healthy {
            self.dropped_while_unhealthy += 1;
        }
    }
}
