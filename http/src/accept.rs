//! Accepting connections: the listener abstraction, the pause after accept
//! errors and the connection-cap bookkeeping, the last two sans-I/O so their
//! decisions (how long to pause, when to log) are tested without sockets.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

/// Something connections are accepted from: a [`TcpListener`], or in tests a
/// scripted source of streams and errors.
pub trait Accept: Send + 'static {
    /// One accepted connection.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Waits for the next connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, SocketAddr)>> + Send;
}

impl Accept for TcpListener {
    type Io = TcpStream;

    fn accept(&mut self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send {
        TcpListener::accept(self)
    }
}

/// Pause after the first failed accept in a row.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// Longest pause, reached after a few failures in a row.
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// What the accept loop does after a failed `accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptFailure {
    /// Sleep this long before accepting again (zero: retry at once).
    pub pause: Duration,
    /// Log this failure: failing has just started, or its kind changed.
    pub log: bool,
}

/// The state of one accept loop with respect to errors: how many in a row,
/// of which kind. Resource errors pause 100 ms, doubling up to 1 s; errors
/// that concern one aborted connection only are retried at once.
#[derive(Debug, Default, Clone)]
pub struct AcceptBackoff {
    /// Failures since the last success.
    failures: u64,
    /// Kind of the last failure, while failing.
    kind: Option<io::ErrorKind>,
}

impl AcceptBackoff {
    /// A loop that has not failed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a failed accept with error `kind`.
    pub fn failed(&mut self, kind: io::ErrorKind) -> AcceptFailure {
        let log = self.kind != Some(kind);
        self.kind = Some(kind);
        self.failures += 1;
        // A peer that reset before accept() returned: the next connection is
        // unaffected, and each such error needs a new client, so no spin.
        let per_connection = matches!(
            kind,
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
        );
        let pause = if per_connection {
            Duration::ZERO
        } else {
            let doublings = u32::try_from(self.failures.saturating_sub(1).min(16)).unwrap_or(16);
            FIRST_PAUSE.saturating_mul(1 << doublings).min(MAX_PAUSE)
        };
        AcceptFailure { pause, log }
    }

    /// Records a successful accept; returns the number of failures in a row
    /// it ends (to log "accepting again" once), or `None` if there were none.
    pub fn succeeded(&mut self) -> Option<u64> {
        self.kind = None;
        let ended = std::mem::take(&mut self.failures);
        (ended > 0).then_some(ended)
    }
}

/// Whether the connection cap is engaged, so that reaching it and leaving it
/// are logged once each, not per refused connection.
#[derive(Debug, Default, Clone)]
pub struct CapState {
    /// Connections refused since the cap was last reached; `None` while below it.
    refused: Option<u64>,
}

impl CapState {
    /// Below the cap.
    pub fn new() -> Self {
        Self::default()
    }

    /// A connection was refused; true if this is the first since the cap was
    /// reached (log it).
    pub fn refused(&mut self) -> bool {
        match &mut self.refused {
            Some(n) => {
                *n += 1;
                false
            }
            None => {
                self.refused = Some(1);
                true
            }
        }
    }

    /// A connection was admitted; returns how many were refused while the cap
    /// was engaged if this ends that period (log it), else `None`.
    pub fn admitted(&mut self) -> Option<u64> {
        self.refused.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_errors_pause_and_grow_to_a_ceiling() {
        let mut b = AcceptBackoff::new();
        let pauses: Vec<Duration> = (0..8)
            .map(|_| b.failed(io::ErrorKind::Other).pause)
            .collect();
        assert_eq!(pauses[0], Duration::from_millis(100));
        assert_eq!(pauses[1], Duration::from_millis(200));
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]), "{pauses:?}");
        assert_eq!(pauses[7], Duration::from_secs(1));
        // Success resets: the next failure starts small again.
        assert_eq!(b.succeeded(), Some(8));
        assert_eq!(b.succeeded(), None);
        assert_eq!(
            b.failed(io::ErrorKind::Other).pause,
            Duration::from_millis(100)
        );
    }

    #[test]
    fn failures_are_logged_once_per_change_of_kind() {
        let mut b = AcceptBackoff::new();
        let logs: Vec<bool> = [
            io::ErrorKind::Other,
            io::ErrorKind::Other,
            io::ErrorKind::Other,
            io::ErrorKind::OutOfMemory,
            io::ErrorKind::OutOfMemory,
        ]
        .into_iter()
        .map(|k| b.failed(k).log)
        .collect();
        assert_eq!(logs, [true, false, false, true, false]);
        b.succeeded();
        assert!(b.failed(io::ErrorKind::OutOfMemory).log);
    }

    #[test]
    fn an_aborted_handshake_is_retried_at_once() {
        let mut b = AcceptBackoff::new();
        assert_eq!(
            b.failed(io::ErrorKind::ConnectionAborted).pause,
            Duration::ZERO
        );
    }

    #[test]
    fn reaching_and_leaving_the_cap_is_reported_once_each() {
        let mut c = CapState::new();
        assert_eq!(c.admitted(), None);
        assert!(c.refused());
        assert!(!c.refused());
        assert!(!c.refused());
        assert_eq!(c.admitted(), Some(3));
        assert_eq!(c.admitted(), None);
        assert!(c.refused());
    }
}
