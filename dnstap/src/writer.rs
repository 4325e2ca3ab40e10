//! The writer thread: owns the collector socket, does the Frame Streams
//! handshake, writes queued frames, and reconnects with a backoff.
//!
//! ```text
//!          connect + handshake ok                 write error / EOF
//!  down ---------------------------> connected ---------------------> down
//!   ^  |  fails: wait 1 s, 2 s ... 30 s (frames taken meanwhile are dropped)
//!   +--+
//!  stop deadline: flush the queue (if connected), STOP, await FINISH, exit
//! ```
//!
//! Blocking calls are fine here (a dedicated OS thread, not an async
//! worker), but each one is bounded by a socket timeout so a stuck
//! collector cannot hold the thread past the shutdown limit. While no
//! collector is connected, the frames taken off the queue are dropped and
//! counted: the output resumes with fresh messages rather than a burst of
//! old ones.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fstrm::{self, Control, HandshakeError, CONTENT_TYPE};
use crate::{Destination, Shared};

/// First wait after a failed connection.
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Bound on a TCP connect and on each handshake read.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on one write: a collector that takes longer is treated as lost
/// (a timed-out write may have been partial, so the stream is unusable).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle writer looks for a stop request or a closed peer.
const TICK: Duration = Duration::from_millis(100);
/// Bytes written in one batch at most.
const BATCH: usize = 64 * 1024;
/// How long the writer lets frames gather after it emptied the queue: at
/// 100,000 frames a second, one wake-up per 2 ms instead of one per few
/// frames (measured: dnstap of every client query cost a third of the
/// cache-hit rate with a wake-up per batch, see docs/performance.md).
const LINGER: Duration = Duration::from_millis(2);
/// Shutdown limit used when every handle is dropped without `shutdown`.
const DROP_LIMIT: Duration = Duration::from_secs(1);

/// A connected collector socket.
enum Conn {
    /// Unix stream socket.
    Unix(UnixStream),
    /// TCP.
    Tcp(TcpStream),
}

impl Conn {
    /// Connects to `dest`.
    fn connect(dest: &Destination) -> io::Result<Conn> {
        Ok(match dest {
            Destination::Unix(path) => Conn::Unix(UnixStream::connect(path)?),
            Destination::Tcp(addr) => {
                let s = TcpStream::connect_timeout(addr, HANDSHAKE_TIMEOUT)?;
                // Frames are batched already; do not wait for more.
                s.set_nodelay(true)?;
                Conn::Tcp(s)
            }
        })
    }

    /// Sets both socket timeouts (a zero duration is raised to 1 ms, as
    /// std refuses zero).
    fn set_timeouts(&self, read: Duration, write: Duration) -> io::Result<()> {
        let read = Some(read.max(Duration::from_millis(1)));
        let write = Some(write.max(Duration::from_millis(1)));
        match self {
            Conn::Unix(s) => {
                s.set_read_timeout(read)?;
                s.set_write_timeout(write)
            }
            Conn::Tcp(s) => {
                s.set_read_timeout(read)?;
                s.set_write_timeout(write)
            }
        }
    }

    /// Switches non-blocking mode.
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.set_nonblocking(on),
            Conn::Tcp(s) => s.set_nonblocking(on),
        }
    }

    /// Whether the collector has closed its end (or reset it). A reader
    /// sends nothing between ACCEPT and FINISH, so any bytes are skipped.
    fn peer_closed(&mut self) -> Option<String> {
        if let Err(e) = self.set_nonblocking(true) {
            return Some(e.to_string());
        }
        let mut buf = [0u8; 64];
        let closed = match self.read(&mut buf) {
            Ok(0) => Some("collector closed the connection".to_string()),
            Ok(_) => None,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => Some(e.to_string()),
        };
        if let Err(e) = self.set_nonblocking(false) {
            return Some(e.to_string());
        }
        closed
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How a connected spell ended.
enum End {
    /// Stop requested: flushed what was queued by the deadline.
    Stop(Instant),
    /// The connection failed.
    Lost(String),
}

/// What the log last said, so each change of state is logged once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Logged {
    /// Nothing yet.
    Nothing,
    /// "connected" or "reconnected".
    Up,
    /// "unreachable" or "lost".
    Down,
}

/// The writer thread's state.
pub(crate) struct Writer {
    /// The collector.
    dest: Destination,
    /// Frames from the callers.
    frames: Receiver<Vec<u8>>,
    /// The shutdown deadline, once.
    stop: Receiver<Instant>,
    /// Counters.
    shared: Arc<Shared>,
    /// Whether a connection has ever been up (for "reconnected").
    ever_up: bool,
    /// What was logged last.
    logged: Logged,
}

impl Writer {
    /// A writer for `dest`; [`Writer::run`] does the work.
    pub(crate) fn new(
        dest: Destination,
        frames: Receiver<Vec<u8>>,
        stop: Receiver<Instant>,
        shared: Arc<Shared>,
    ) -> Writer {
        Writer {
            dest,
            frames,
            stop,
            shared,
            ever_up: false,
            logged: Logged::Nothing,
        }
    }

    /// Runs until stopped: connect, pump, back off, again.
    pub(crate) fn run(mut self) {
        let mut backoff = INITIAL_BACKOFF;
        loop {
            match self.open() {
                Ok(mut conn) => {
                    backoff = INITIAL_BACKOFF;
                    self.up();
                    match self.pump(&mut conn) {
                        End::Stop(deadline) => {
                            finish(&mut conn, deadline);
                            self.shared.connected.store(false, Ordering::Relaxed);
                            tracing::info!(target: "dnstap", "output stopped");
                            return;
                        }
                        End::Lost(reason) => {
                            self.shared.connected.store(false, Ordering::Relaxed);
                            tracing::warn!(target: "dnstap", destination = ?self.dest, %reason, "collector connection lost");
                            self.logged = Logged::Down;
                        }
                    }
                }
                Err(e) => {
                    if self.logged != Logged::Down {
                        tracing::warn!(target: "dnstap", destination = ?self.dest, error = %e, "collector unreachable; retrying with backoff");
                        self.logged = Logged::Down;
                    }
                }
            }
            if self.wait(backoff).is_some() {
                self.drop_queued();
                return;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Logs "connected" or "reconnected" and publishes the state.
    fn up(&mut self) {
        self.shared.connected.store(true, Ordering::Relaxed);
        if self.ever_up {
            tracing::info!(target: "dnstap", destination = ?self.dest, "collector back; output resumed");
        } else {
            tracing::info!(target: "dnstap", destination = ?self.dest, "collector connected");
        }
        self.ever_up = true;
        self.logged = Logged::Up;
    }

    /// Connects and does READY / ACCEPT / START.
    fn open(&self) -> Result<Conn, HandshakeError> {
        let mut conn = Conn::connect(&self.dest)?;
        conn.set_timeouts(HANDSHAKE_TIMEOUT, HANDSHAKE_TIMEOUT)?;
        conn.write_all(&fstrm::control_frame(Control::Ready, Some(CONTENT_TYPE)))?;
        let accept = fstrm::read_control(&mut conn)?;
        fstrm::check_accept(&accept)?;
        conn.write_all(&fstrm::control_frame(Control::Start, Some(CONTENT_TYPE)))?;
        conn.set_timeouts(HANDSHAKE_TIMEOUT, WRITE_TIMEOUT)?;
        Ok(conn)
    }

    /// Writes frames until the connection fails or a stop is requested.
    fn pump(&mut self, conn: &mut Conn) -> End {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            if let Some(deadline) = self.stop_requested() {
                return self.flush(conn, deadline, &mut batch);
            }
            match self.frames.recv_timeout(TICK) {
                Ok(frame) => {
                    batch.clear();
                    batch.extend_from_slice(&frame);
                    let mut count = 1;
                    // Take what else is queued, up to one batch.
                    while batch.len() < BATCH {
                        match self.frames.try_recv() {
                            Ok(frame) => {
                                batch.extend_from_slice(&frame);
                                count += 1;
                            }
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = self.write_batch(conn, &batch, count) {
                        return End::Lost(e.to_string());
                    }
                    if batch.len() < BATCH {
                        // The queue ran dry: let frames gather instead of
                        // being woken for each (a sender wakes a writer that
                        // waits in `recv`, not one that sleeps).
                        std::thread::sleep(LINGER);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(reason) = conn.peer_closed() {
                        return End::Lost(reason);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return End::Stop(Instant::now() + DROP_LIMIT);
                }
            }
        }
    }

    /// Writes everything still queued, bounded by `deadline`.
    fn flush(&mut self, conn: &mut Conn, deadline: Instant, batch: &mut Vec<u8>) -> End {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.drop_queued();
                return End::Stop(deadline);
            }
            batch.clear();
            let mut count = 0;
            while batch.len() < BATCH {
                match self.frames.try_recv() {
                    Ok(frame) => {
                        batch.extend_from_slice(&frame);
                        count += 1;
                    }
                    Err(_) => break,
                }
            }
            if count == 0 {
                return End::Stop(deadline);
            }
            let written = conn
                .set_timeouts(left, left)
                .and_then(|()| self.write_batch(conn, batch, count));
            if written.is_err() {
                self.drop_queued();
                return End::Stop(deadline);
            }
        }
    }

    /// Writes one batch of `count` frames and counts them as sent or
    /// dropped.
    fn write_batch(&self, conn: &mut Conn, batch: &[u8], count: u64) -> io::Result<()> {
        match conn.write_all(batch) {
            Ok(()) => {
                self.shared.sent.fetch_add(count, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.shared.dropped.fetch_add(count, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// The stop deadline, if one was sent.
    fn stop_requested(&self) -> Option<Instant> {
        match self.stop.try_recv() {
            Ok(deadline) => Some(deadline),
            Err(TryRecvError::Empty) => None,
            // Every handle is gone: stop soon.
            Err(TryRecvError::Disconnected) => Some(Instant::now() + DROP_LIMIT),
        }
    }

    /// Waits `period` while no collector is connected, dropping (and
    /// counting) the frames that arrive. Returns early with the deadline
    /// when a stop is requested.
    fn wait(&self, period: Duration) -> Option<Instant> {
        let until = Instant::now() + period;
        loop {
            if let Some(deadline) = self.stop_requested() {
                return Some(deadline);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match self.frames.recv_timeout(left.min(TICK)) {
                Ok(_) => {
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Some(Instant::now()),
            }
        }
    }

    /// Drops and counts everything queued.
    fn drop_queued(&self) {
        while self.frames.try_recv().is_ok() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends STOP and waits for FINISH until `deadline`; errors only shorten
/// the goodbye, the connection is closed either way.
fn finish(conn: &mut Conn, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    if conn.set_timeouts(left, left).is_err() {
        return;
    }
    if conn
        .write_all(&fstrm::control_frame(Control::Stop, None))
        .is_err()
    {
        return;
    }
    match fstrm::read_control(conn) {
        Ok(got) if got.kind == Some(Control::Finish) => {}
        Ok(got) => {
            tracing::debug!(target: "dnstap", kind = ?got.kind, "expected FINISH");
        }
        Err(e) => {
            tracing::debug!(target: "dnstap", error = %e, "no FINISH from collector");
        }
    }
}
