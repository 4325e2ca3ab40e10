//! Log output through tracing: text or JSON lines on stderr, level from the
//! config (`RUST_LOG` overrides it for debugging).
//!
//! Lines are written by a thread of their own: a query task that logs (an
//! RPZ hit line in BIND's format, one per hit by default) formats its line
//! into a buffer and hands it over without waiting, instead of writing to
//! stderr under a lock on a runtime thread. With a policy hit in every tenth
//! query, writing the hit line in place cost about a third of the cache-hit
//! rate (docs/performance.md). The queue is bounded: when stderr cannot keep
//! up (a stuck journal), lines are dropped, counted, and the count is written
//! once the writer catches up. [`LogGuard`] writes what is queued when the
//! program ends.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use sekisho_conf::{LogFormat, Logging};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Lines waiting for the writer thread.
const QUEUE: usize = 16_384;
/// How long the writer lets lines gather after it emptied the queue, when
/// lines come faster than one a wake-up.
const LINGER: Duration = Duration::from_millis(2);
/// Bytes the writer gathers at most into one `write`.
const CHUNK: usize = 64 * 1024;

/// Keeps the log writer thread; dropping it writes what is queued (call it
/// at the end of `main`, after the last line).
#[derive(Debug)]
pub struct LogGuard {
    /// The queue's sending side of the subscriber, closed on drop.
    lines: Option<Lines>,
    /// The writer thread.
    thread: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        // The subscriber keeps its own sender; tell the writer to finish
        // what is queued and stop.
        if let Some(lines) = self.lines.take() {
            let _ = lines.tx.try_send(Line::Stop);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the queue carries.
#[derive(Debug)]
enum Line {
    /// One formatted line.
    Text(Vec<u8>),
    /// Write what is queued and stop.
    Stop,
}

/// The subscriber's writer: hands each line to the writer thread.
#[derive(Debug, Clone)]
struct Lines {
    /// The queue.
    tx: SyncSender<Line>,
    /// Lines dropped because the queue was full.
    dropped: Arc<AtomicU64>,
}

/// One line being formatted; sent when the formatter is done with it.
struct LineBuf<'a> {
    /// The line's bytes.
    buf: Vec<u8>,
    /// Where it goes.
    to: &'a Lines,
}

impl Write for LineBuf<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuf<'_> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let line = Line::Text(std::mem::take(&mut self.buf));
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.to.tx.try_send(line)
        {
            self.to.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = LineBuf<'a>;

    fn make_writer(&'a self) -> LineBuf<'a> {
        LineBuf {
            buf: Vec::with_capacity(256),
            to: self,
        }
    }
}

/// The writer thread: lines to stderr, gathered into few writes.
fn write_lines(rx: Receiver<Line>, dropped: Arc<AtomicU64>) {
    let mut stderr = std::io::stderr();
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut reported = 0;
    let mut stop = false;
    while !stop {
        let Ok(first) = rx.recv() else { break };
        chunk.clear();
        let mut count = 0;
        let mut next = Some(first);
        while let Some(line) = next {
            match line {
                Line::Text(bytes) => {
                    chunk.extend_from_slice(&bytes);
                    count += 1;
                }
                Line::Stop => stop = true,
            }
            next = if chunk.len() < CHUNK && !stop {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        let lost = dropped.load(Ordering::Relaxed);
        if lost > reported {
            let _ = writeln!(
                chunk,
                "sekisho: {} log lines dropped: stderr did not keep up",
                lost - reported
            );
            reported = lost;
        }
        let _ = stderr.write_all(&chunk);
        // Several lines at once: lines come faster than one a wake-up, so
        // let them gather (a line that comes alone is written at once).
        if !stop && count > 1 && chunk.len() < CHUNK {
            std::thread::sleep(LINGER);
        }
    }
    // What came after a Stop (other threads still logging) is written too.
    chunk.clear();
    while let Ok(Line::Text(bytes)) = rx.try_recv() {
        chunk.extend_from_slice(&bytes);
    }
    let _ = stderr.write_all(&chunk);
}

/// Install the global subscriber. Safe to call once; later calls are
/// ignored. Keep the guard until the program ends.
pub fn init(config: &Logging) -> LogGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    let lines = Lines {
        tx,
        dropped: Arc::new(AtomicU64::new(0)),
    };
    let dropped = lines.dropped.clone();
    let thread = match std::thread::Builder::new()
        .name("sekisho-log".into())
        .spawn(move || write_lines(rx, dropped))
    {
        Ok(thread) => thread,
        Err(_) => {
            // No thread for it: lines are written in place.
            install(config, filter, std::io::stderr);
            return LogGuard {
                lines: None,
                thread: None,
            };
        }
    };
    if !install(config, filter, lines.clone()) {
        // Another subscriber was there first: this writer gets no lines.
        let _ = lines.tx.try_send(Line::Stop);
    }
    LogGuard {
        lines: Some(lines),
        thread: Some(thread),
    }
}

/// The global subscriber writing to `writer`; whether it was installed.
fn install<W>(config: &Logging, filter: EnvFilter, writer: W) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match config.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init().is_ok(),
        LogFormat::Text => builder.with_ansi(false).try_init().is_ok(),
    }
}
