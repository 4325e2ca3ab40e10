//! The control protocol between `sekishoctl` and the daemon, and the status
//! types both sides print.
//!
//! ```text
//!  sekishoctl ──one JSON Request line──▶ control socket (0600) ──▶ daemon
//!             ◀──one JSON Reply line────
//! ```
//!
//! Both sides use these types, so a verb cannot drift between them; this
//! crate is serde only, so the control command links none of the server.
//! [`encode`] and [`decode`] are the framing: one object per line, bounded.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Longest request line the daemon accepts.
pub const MAX_REQUEST: usize = 64 * 1024;
/// Longest reply line the client accepts (a `zones` reply for many zones).
pub const MAX_REPLY: usize = 16 << 20;

/// One message as a line: JSON plus a newline.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    Ok(line)
}

/// One message from a line (surrounding whitespace ignored).
pub fn decode<'a, T: Deserialize<'a>>(line: &'a str) -> Result<T, serde_json::Error> {
    serde_json::from_str(line.trim())
}

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
    /// Re-read the configuration and every policy zone file, as SIGHUP does
    /// (no zone named), or the one named zone's file.
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
    /// What each limit on hostile traffic holds now and has dropped.
    Limits,
    /// Stop validating a name and the names below it for a while: a
    /// negative trust anchor (RFC 7646; BIND `rndc nta`).
    NtaAdd {
        /// The name.
        name: String,
        /// How long (`"1h"`, `"30m"`...; the daemon's default when absent).
        lifetime: Option<String>,
    },
    /// Remove a negative trust anchor.
    NtaRemove {
        /// The name.
        name: String,
    },
    /// The negative trust anchors in force.
    NtaList,
    /// One page of a policy zone's rules (Unbound `list_local_data`).
    RpzList {
        /// The policy zone.
        zone: String,
        /// Only owners containing this (case-insensitive); all when absent.
        pattern: Option<String>,
        /// Matching rules to skip.
        offset: usize,
        /// Rules at most in the page.
        limit: usize,
    },
    /// The clients with most hits in a policy zone, as the zone's `log-client-ip` shows them.
    RpzTopClients {
        /// The policy zone.
        zone: String,
        /// The window, as a duration (`"1h"`); the default is an hour.
        since: Option<String>,
        /// Entries at most.
        limit: usize,
    },
    /// The query names with most hits in a policy zone.
    RpzTopNames {
        /// The policy zone.
        zone: String,
        /// The window, as a duration (`"1h"`); the default is an hour.
        since: Option<String>,
        /// Entries at most.
        limit: usize,
    },
    /// Close and open the hit record file again (after logrotate moved it).
    ReopenLogs,
    /// Write the answer cache's fresh entries to a file (Unbound's `dump_cache`).
    DumpCache {
        /// The file, an absolute path (the daemon's working directory is not the caller's).
        file: String,
    },
    /// Read a dump into the answer cache (Unbound's `load_cache`).
    LoadCache {
        /// The file, an absolute path.
        file: String,
    },
    /// Switch a policy zone on or off until the next restart (Unbound's
    /// `rpz_enable`/`rpz_disable`): an off zone takes no part in any answer.
    RpzEnable {
        /// The policy zone.
        zone: String,
        /// On (true) or off.
        enabled: bool,
    },
    /// Stop the daemon gracefully.
    Stop,
    /// Start the binary at the daemon's own path with `--take-over` and its
    /// original arguments, and report whether it took the sockets over
    /// (nginx's binary upgrade, in one verb).
    Upgrade,
    /// Sent by a new process started with `--take-over`: save the answer
    /// cache and hand every bound socket over on this connection
    /// ([`Reply::HandOver`], then the descriptors), then wait for [`Serving`].
    TakeOver {
        /// The new process.
        pid: u32,
    },
}

/// The kind of a socket handed over on a binary upgrade; with its address it
/// names the configuration entry the socket serves.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum SocketKind {
    /// A UDP socket of one worker (`server.listen`; one per worker).
    Udp,
    /// A TCP listener (`server.listen`).
    Tcp,
    /// A DNS over TLS listener (`server.listen-tls`).
    Tls,
    /// A DNS over HTTPS listener (`server.listen-https`).
    Https,
    /// A DNS over plain HTTP listener (`server.listen-http`).
    Http,
    /// The metrics endpoint (`metrics.listen`).
    Metrics,
    /// The control socket (`control.socket`; its address is the path).
    Control,
}

impl std::fmt::Display for SocketKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SocketKind::Udp => "udp",
            SocketKind::Tcp => "tcp",
            SocketKind::Tls => "tls",
            SocketKind::Https => "https",
            SocketKind::Http => "http",
            SocketKind::Metrics => "metrics",
            SocketKind::Control => "control",
        })
    }
}

/// One socket of a hand-over: what it serves. The descriptors follow the
/// [`Reply::HandOver`] line in the order of its list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct HandedSocket {
    /// What it serves.
    pub kind: SocketKind,
    /// `ip:port`, or the path of the control socket.
    pub address: String,
}

impl std::fmt::Display for HandedSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.address)
    }
}

/// The last line of a hand-over, from the new process: it serves on the
/// sockets it took, so the old one may stop.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Serving {
    /// The new process.
    pub pid: u32,
    /// The handed-over sockets it serves (the others it closed).
    pub taken: Vec<HandedSocket>,
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
        zones: Vec<ZoneStatus>,
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
    /// `limits`.
    Limits(LimitsReport),
    /// `rpz list`: one page of a zone's rules.
    Rules {
        /// The zone.
        zone: String,
        /// Matching rules in all (the page is `offset..offset + rules.len()`).
        total: usize,
        /// Matching rules skipped before the page.
        offset: usize,
        /// The page.
        rules: Vec<RuleLine>,
    },
    /// `rpz top-clients`, `rpz top-names`: heavy hitters of a zone, most hits first.
    Top {
        /// The zone.
        zone: String,
        /// The window in seconds.
        since_seconds: u64,
        /// What is counted: `clients` or `names`.
        what: String,
        /// The entries.
        entries: Vec<TopEntry>,
    },
    /// `nta list`: the negative trust anchors in force, by name.
    Ntas {
        /// One entry per anchor.
        ntas: Vec<Nta>,
    },
    /// The answer to [`Request::TakeOver`]: the sockets whose descriptors
    /// follow on the connection, in this order.
    HandOver {
        /// Where the answer cache was saved for the new process (`None`: not
        /// saved; the new process starts cold).
        cache_file: Option<String>,
        /// The sockets.
        sockets: Vec<HandedSocket>,
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

/// One policy rule as `rpz list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RuleLine {
    /// The owner name in the policy zone (the trigger encoded, zone apex included).
    pub owner: String,
    /// QNAME, CLIENT-IP, IP, NSDNAME or NSIP.
    pub trigger: String,
    /// NXDOMAIN, NODATA, PASSTHRU, DROP, TCP-ONLY, Local-Data or CNAME (BIND's words).
    pub action: String,
    /// The records of a Local-Data rule, or the target of a CNAME one.
    pub data: Vec<String>,
}

impl std::fmt::Display for RuleLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.owner, self.trigger, self.action)?;
        for d in &self.data {
            write!(f, " {d}")?;
        }
        Ok(())
    }
}

/// One heavy hitter: a client (as the zone's policy shows it) or a query name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopEntry {
    /// The client or the name.
    pub key: String,
    /// Hits counted (an overestimate by at most `error`).
    pub count: u64,
    /// The sketch's bound on the overestimate; 0 = exact.
    pub error: u64,
}

/// One negative trust anchor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Nta {
    /// The name (validation is off at and below it).
    pub name: String,
    /// Seconds until it expires.
    pub seconds_left: u64,
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
    pub policy_zones: Vec<ZoneStatus>,
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

/// State of one policy zone, for status output.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ZoneStatus {
    /// Zone name.
    pub name: String,
    /// File the zone is loaded from.
    pub file: Option<String>,
    /// SOA serial of the live version.
    pub serial: Option<u32>,
    /// Rules in the live version.
    pub rules: usize,
    /// Unix time of the last successful load.
    pub last_load: Option<u64>,
    /// Seconds the last successful load took.
    pub load_seconds: Option<f64>,
    /// Records or rules skipped in the last successful load.
    pub skipped: usize,
    /// The last load error, cleared by a successful load.
    pub last_error: Option<String>,
    /// Loads that failed since start.
    pub failures: u64,
    /// Primaries the zone is transferred from (empty: file only).
    #[serde(default)]
    pub primaries: Vec<String>,
    /// Unix time of the last successful transfer.
    #[serde(default)]
    pub last_transfer: Option<u64>,
    /// Kind of the last successful transfer: `axfr` or `ixfr`.
    #[serde(default)]
    pub last_transfer_kind: Option<String>,
    /// Unix time the primaries last confirmed our copy (SOA check or transfer).
    #[serde(default)]
    pub last_refresh: Option<u64>,
    /// Unix time of the next scheduled SOA check.
    #[serde(default)]
    pub next_refresh: Option<u64>,
    /// Unix time the copy expires without contact with a primary.
    #[serde(default)]
    pub expires: Option<u64>,
    /// Seconds between SOA checks after a success (the SOA refresh, clamped).
    #[serde(default)]
    pub refresh_interval: Option<u64>,
    /// The copy went past its SOA expire without contact.
    #[serde(default)]
    pub expired: bool,
    /// Switched off at run time (`sekishoctl rpz disable`): its rules are not applied.
    #[serde(default)]
    pub disabled: bool,
    /// Primary role: secondaries seen transferring this zone, by address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secondaries: Vec<SecondaryStatus>,
    /// Primary role: the IXFR journal, when the zone is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<JournalStatus>,
}

impl std::fmt::Display for ZoneStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "policy zone {}: ", self.name)?;
        match self.serial {
            Some(s) => write!(f, "serial {s}, {} rules", self.rules)?,
            None => write!(f, "not loaded")?,
        }
        if let Some(t) = self.load_seconds {
            write!(f, ", loaded in {t:.3}s")?;
        }
        if self.skipped > 0 {
            write!(f, ", {} records skipped", self.skipped)?;
        }
        if !self.primaries.is_empty() {
            write_transfer_status(f, self, unix_now())?;
        }
        if let Some(e) = &self.last_error {
            write!(f, ", last error: {e}")?;
        }
        if self.disabled {
            write!(f, ", DISABLED (sekishoctl rpz enable)")?;
        }
        // Primary role: the journal and each secondary on lines of their own.
        if let Some(j) = &self.journal {
            write!(
                f,
                "\n  served: journal {} versions, {} bytes",
                j.versions, j.bytes
            )?;
            if let Some(s) = j.oldest_serial {
                write!(f, ", IXFR from serial {s}")?;
            }
        }
        let now = unix_now();
        for s in &self.secondaries {
            write!(f, "\n  secondary {}: ", s.address)?;
            match s.serial {
                Some(serial) => write!(f, "serial {serial}")?,
                None => write!(f, "serial unknown")?,
            }
            write!(
                f,
                ", last {} {}s ago",
                s.last_request,
                now.saturating_sub(s.last_seen)
            )?;
        }
        Ok(())
    }
}

/// The transfer part of a zone's status line: times shown relative to `now`.
fn write_transfer_status(
    f: &mut std::fmt::Formatter<'_>,
    st: &ZoneStatus,
    now: u64,
) -> std::fmt::Result {
    write!(f, ", primaries {}", st.primaries.join(" "))?;
    match (st.last_transfer, &st.last_transfer_kind) {
        (Some(t), Some(kind)) => {
            write!(f, ", last transfer {}s ago ({kind})", now.saturating_sub(t))?
        }
        (Some(t), None) => write!(f, ", last transfer {}s ago", now.saturating_sub(t))?,
        (None, _) => write!(f, ", no transfer yet")?,
    }
    if let Some(t) = st.last_refresh {
        write!(f, ", last refresh {}s ago", now.saturating_sub(t))?;
    }
    if let Some(t) = st.next_refresh {
        write!(f, ", next refresh in {}s", t.saturating_sub(now))?;
    }
    if st.expired {
        write!(f, ", EXPIRED")?;
    } else if let Some(t) = st.expires {
        write!(f, ", expires in {}s", t.saturating_sub(now))?;
    }
    Ok(())
}

/// A secondary as seen by the primary, for `sekishoctl zones`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct SecondaryStatus {
    /// The secondary's address (transfers and SOA queries come from it).
    pub address: String,
    /// The serial it holds as far as we know: the one its IXFR reported, or the one
    /// a completed transfer sent it.
    pub serial: Option<u32>,
    /// Unix time of its last request.
    pub last_seen: u64,
    /// What it last asked or got: `axfr`, `ixfr`, `up_to_date`, `soa`, or `refused`.
    pub last_request: String,
}

/// The journal's state, for `sekishoctl zones`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct JournalStatus {
    /// Differences held.
    pub versions: usize,
    /// Bytes held.
    pub bytes: usize,
    /// Oldest serial an IXFR can start from.
    pub oldest_serial: Option<u32>,
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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
        let back: Request = decode(r#"{"verb":"status"}"#).expect("parse");
        assert_eq!(back, Request::Status);
    }

    #[test]
    fn unknown_verbs_are_an_error_not_a_panic() {
        assert!(decode::<Request>(r#"{"verb":"explode"}"#).is_err());
    }

    #[test]
    fn a_reply_survives_the_line_framing() {
        let line = encode(&Reply::Done {
            message: "flushed".into(),
        })
        .expect("encode");
        assert_eq!(line.last(), Some(&b'\n'));
        let text = std::str::from_utf8(&line).expect("utf8");
        match decode::<Reply>(text).expect("decode") {
            Reply::Done { message } => assert_eq!(message, "flushed"),
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Output of `limits`: every limit, then the keys (zones, servers, client
/// prefixes) limits have engaged for, engaged ones first.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct LimitsReport {
    /// One row per limit.
    pub limits: Vec<LimitStatus>,
    /// Keys a limit engaged for (bounded; released ones are forgotten first).
    pub keys: Vec<LimitKeyStatus>,
}

/// One limit in `limits`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct LimitStatus {
    /// Its name (the `limit` label of `sekisho_limit_drops_total`).
    pub limit: String,
    /// The configured bound (0: none, or counted per key).
    pub max: u64,
    /// What it holds now (in flight, waiting, open), where that applies.
    pub held: i64,
    /// Queries or connections it has dropped since start.
    pub drops: u64,
}

/// One key of a limit in `limits`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct LimitKeyStatus {
    /// The limit.
    pub limit: String,
    /// The zone, server or client prefix.
    pub key: String,
    /// Engaged now.
    pub engaged: bool,
    /// Drops counted for this key.
    pub drops: u64,
    /// Seconds since it engaged or let go.
    pub seconds_in_state: u64,
}

impl std::fmt::Display for LimitsReport {
    /// One line per limit (`name  held/max  drops`), then the engaged and
    /// recently released keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<24} {:>10} {:>10} {:>12}",
            "limit", "held", "max", "drops"
        )?;
        for l in &self.limits {
            let max = if l.max == 0 {
                "-".to_owned()
            } else {
                l.max.to_string()
            };
            writeln!(
                f,
                "{:<24} {:>10} {:>10} {:>12}",
                l.limit, l.held, max, l.drops
            )?;
        }
        if !self.keys.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "{:<24} {:<40} {:<9} {:>10} {:>8}",
                "limit", "key", "state", "drops", "for (s)"
            )?;
            for k in &self.keys {
                writeln!(
                    f,
                    "{:<24} {:<40} {:<9} {:>10} {:>8}",
                    k.limit,
                    k.key,
                    if k.engaged { "engaged" } else { "released" },
                    k.drops,
                    k.seconds_in_state
                )?;
            }
        }
        Ok(())
    }
}
