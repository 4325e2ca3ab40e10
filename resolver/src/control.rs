//! The control channel between `sekishoctl` and the daemon.
//!
//! One JSON object per line over a Unix socket (mode 0600): the client
//! sends a [`Request`], the daemon answers one [`Reply`] and closes. Both
//! sides use the types here, so a verb cannot drift between them. The
//! socket is only read by the control task; it never takes a lock on the
//! query path, and a slow client only holds its own connection (reads and
//! writes are bounded by a timeout).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// A control request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "verb", rename_all = "kebab-case")]
pub enum Request {
    /// Daemon state in brief.
    Status,
    /// Drop the whole cache.
    Flush,
    /// Drop cached answers for exactly this name (all types).
    Flushname {
        /// The name.
        name: String,
    },
    /// Drop cached answers for this name and everything below it.
    Flushtree {
        /// The apex of the tree.
        name: String,
    },
    /// Re-read policy zone files (all, or the one named).
    Reload {
        /// The zone, or all zones.
        zone: Option<String>,
    },
    /// Policy zones: serial, rules, last load or transfer, next refresh, expiry, last error.
    Zones,
    /// Check a transferred policy zone's primaries now (BIND `rndc refresh`).
    Refresh {
        /// The zone.
        zone: String,
    },
    /// Transfer a policy zone whole (AXFR) now, whatever its serial (BIND `rndc retransfer`).
    Retransfer {
        /// The zone.
        zone: String,
    },
    /// Which policy rule applies to a name, and why.
    Test {
        /// The query name.
        name: String,
        /// The query type (A when absent).
        qtype: Option<String>,
        /// The client address (127.0.0.1 when absent).
        client: Option<String>,
    },
    /// Counters and gauges, read-only (never reset).
    Stats,
    /// Switch the query log on or off.
    Querylog {
        /// On or off.
        on: bool,
    },
    /// Stop the daemon gracefully.
    Stop,
}

/// A control reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Reply {
    /// Status output.
    Status(Status),
    /// Policy zones.
    Zones {
        /// One entry per zone, in precedence order.
        zones: Vec<crate::policy::ZoneStatus>,
    },
    /// Result of a policy test.
    Test {
        /// One line per fact: the matching rule, or why none matched.
        lines: Vec<String>,
        /// Whether a rule matched.
        matched: bool,
    },
    /// `stats`: one `name{labels} value` line per sample.
    Stats {
        /// The samples.
        lines: Vec<String>,
    },
    /// A verb that did something; the message says what.
    Done {
        /// Human-readable summary.
        message: String,
    },
    /// The verb failed.
    Error {
        /// Why.
        message: String,
    },
}

/// Output of `status`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Status {
    /// Version of the daemon.
    pub version: String,
    /// Process ID.
    pub pid: u32,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Addresses served (UDP and TCP).
    pub listen: Vec<String>,
    /// Responses held in the cache.
    pub cache_entries: usize,
    /// Queries being resolved now.
    pub queries_in_flight: usize,
    /// Open client TCP connections.
    pub tcp_connections: usize,
    /// Upstreams by forward zone.
    pub upstreams: Vec<UpstreamStatus>,
    /// Policy zones.
    #[serde(default)]
    pub policy_zones: Vec<crate::policy::ZoneStatus>,
}

/// One upstream in `status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpstreamStatus {
    /// The forward zone.
    pub zone: String,
    /// The upstream, `ip@port#name`.
    pub upstream: String,
    /// Transport: udp, tcp, tls.
    pub transport: String,
    /// up, suspect or down.
    pub state: String,
    /// Queries in flight.
    pub outstanding: usize,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "version: sekisho {}", self.version)?;
        writeln!(f, "pid: {}", self.pid)?;
        writeln!(f, "uptime: {} seconds", self.uptime_seconds)?;
        writeln!(f, "listening on: {}", self.listen.join(" "))?;
        writeln!(f, "cache entries: {}", self.cache_entries)?;
        writeln!(f, "queries in flight: {}", self.queries_in_flight)?;
        writeln!(f, "tcp connections: {}", self.tcp_connections)?;
        if self.upstreams.is_empty() {
            writeln!(f, "upstreams: none (no forward-zone)")?;
        }
        for u in &self.upstreams {
            writeln!(
                f,
                "upstream {} {} ({}): {}, {} in flight",
                u.zone, u.upstream, u.transport, u.state, u.outstanding
            )?;
        }
        Ok(())
    }
}

/// A boxed reply future.
pub type ReplyFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Reply> + Send + 'a>>;

/// What the daemon does with a request (implemented by the daemon).
pub trait Handler: Send + Sync + 'static {
    /// Answer one request.
    fn handle(&self, request: Request) -> ReplyFuture<'_>;
}

/// Why the control socket could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("control socket {path}: {source}")]
pub struct ControlError {
    /// The socket path.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// Longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;
/// Bound on one client's read and write (a reload of a large zone takes a while).
const IO_TIMEOUT: Duration = Duration::from_secs(600);

/// Bind the control socket at `path` (replacing a stale one), mode 0600.
pub fn bind(path: &Path) -> Result<UnixListener, ControlError> {
    let err = |source| ControlError {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    if path.exists() {
        // A live daemon answers on it: refuse to steal its socket.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another daemon is answering on it",
            )));
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    Ok(listener)
}

/// Serve control requests until `stop` turns true.
pub async fn serve(
    listener: UnixListener,
    handler: std::sync::Arc<dyn Handler>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "control accept error");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let h = handler.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(IO_TIMEOUT, serve_one(stream, h)).await;
        });
    }
}

/// Read one request line, write one reply line.
async fn serve_one(
    stream: UnixStream,
    handler: std::sync::Arc<dyn Handler>,
) -> std::io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    let mut rd = BufReader::new(rd.take(MAX_REQUEST as u64));
    rd.read_line(&mut line).await?;
    let reply = match serde_json::from_str::<Request>(line.trim()) {
        Ok(req) => handler.handle(req).await,
        Err(e) => Reply::Error {
            message: format!("bad request: {e}"),
        },
    };
    let mut out = serde_json::to_vec(&reply)
        .unwrap_or_else(|_| b"{\"result\":\"error\",\"message\":\"encoding\"}".to_vec());
    out.push(b'\n');
    wr.write_all(&out).await?;
    wr.shutdown().await
}

/// Client side: send `request` to the daemon at `path`.
pub async fn call(path: &Path, request: &Request) -> std::io::Result<Reply> {
    let stream = UnixStream::connect(path).await?;
    let (rd, mut wr) = stream.into_split();
    let mut line = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    line.push(b'\n');
    wr.write_all(&line).await?;
    let mut reply = String::new();
    BufReader::new(rd.take(16 << 20))
        .read_line(&mut reply)
        .await?;
    serde_json::from_str(reply.trim())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_use_the_verb_as_tag() {
        let j = serde_json::to_string(&Request::Flushname {
            name: "example.jp".into(),
        })
        .expect("json");
        assert_eq!(j, r#"{"verb":"flushname","name":"example.jp"}"#);
        let back: Request = serde_json::from_str(r#"{"verb":"status"}"#).expect("parse");
        assert_eq!(back, Request::Status);
    }

    #[test]
    fn unknown_verbs_are_an_error_not_a_panic() {
        assert!(serde_json::from_str::<Request>(r#"{"verb":"explode"}"#).is_err());
    }
}
