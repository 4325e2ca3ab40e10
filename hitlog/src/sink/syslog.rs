//! The syslog output: one RFC 5424 datagram per line.
//!
//! [RFC 5424 §6](https://www.rfc-editor.org/rfc/rfc5424#section-6):
//!
//! ```text
//! SYSLOG-MSG = HEADER SP STRUCTURED-DATA [SP MSG]
//! HEADER     = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID
//! ```
//!
//! so a line goes out as `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - - MSG`,
//! with PRI = facility × 8 + 6 (informational), no MSGID and no structured
//! data. The message is sent without a BOM: the line is UTF-8 JSON or BIND
//! text, which §6.4 allows as MSG-ANY.
//!
//! The transport is a Unix datagram socket (the local syslog daemon's
//! `/dev/log`) or UDP ([RFC 5426](https://www.rfc-editor.org/rfc/rfc5426)).
//! Sends wait at most [`SEND_TIMEOUT`] for a full receive buffer, so a
//! stuck daemon costs dropped lines, not a stuck writer.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, SystemTime};

use super::{Output, SyslogTarget};
use crate::record::rfc3339_millis;

/// How long a send may wait for room in the receiver's buffer.
const SEND_TIMEOUT: Duration = Duration::from_millis(100);

/// RFC 5424 severity 6: informational.
const SEVERITY_INFO: u16 = 6;

/// The largest facility code (23 = local7).
const MAX_FACILITY: u8 = 23;

/// A socket to the syslog receiver.
#[derive(Debug)]
enum Socket {
    /// A local daemon, connected.
    Unix(UnixDatagram),
    /// A remote or local receiver over UDP; not connected, see [`SyslogOut::open`].
    Udp(UdpSocket, SocketAddr),
}

/// A syslog receiver and the fixed part of every header.
#[derive(Debug)]
pub(crate) struct SyslogOut {
    /// Where the datagrams go.
    target: SyslogTarget,
    /// `<PRI>1 ` (the PRI and VERSION fields).
    prefix: String,
    /// ` HOSTNAME APP-NAME PROCID - - ` (after the timestamp).
    middle: String,
    /// The socket, once connected.
    socket: Option<Socket>,
    /// The datagram being built.
    buf: String,
}

impl SyslogOut {
    /// A syslog output (not yet connected) with this facility (values over
    /// 23 are taken as 23, local7), application name and host name
    /// (`None` or an empty one is sent as `-`, the RFC's NILVALUE).
    pub(crate) fn new(
        target: SyslogTarget,
        facility: u8,
        app_name: &str,
        hostname: Option<&str>,
    ) -> SyslogOut {
        let pri = u16::from(facility.min(MAX_FACILITY)) * 8 + SEVERITY_INFO;
        let host = header_field(hostname.unwrap_or(""), 255);
        let app = header_field(app_name, 48);
        SyslogOut {
            target,
            prefix: format!("<{pri}>1 "),
            middle: format!(" {host} {app} {} - - ", std::process::id()),
            socket: None,
            buf: String::new(),
        }
    }
}

/// This machine's host name from `/proc/sys/kernel/hostname`, if readable.
pub(crate) fn local_hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(name.trim().to_owned())
}

/// A header field: printable US-ASCII only (§6: `PRINTUSASCII`, no
/// spaces), at most `max` characters, `-` when empty.
fn header_field(s: &str, max: usize) -> String {
    let v: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if v.is_empty() {
        "-".to_owned()
    } else {
        v
    }
}

impl Output for SyslogOut {
    fn name(&self) -> String {
        match &self.target {
            SyslogTarget::Unix(path) => format!("syslog {}", path.display()),
            SyslogTarget::Udp(addr) => format!("syslog udp {addr}"),
        }
    }

    fn is_open(&self) -> bool {
        self.socket.is_some()
    }

    /// Connects a Unix socket (a missing or dead daemon is an error here
    /// or at the next send). A UDP socket is bound but not connected: a
    /// connected one would report an ICMP port unreachable at the send
    /// after it, so a receiver that is down would flap between healthy and
    /// unhealthy once a second; unconnected, only a local error (no route)
    /// makes UDP unhealthy, as with any syslog client.
    fn open(&mut self) -> io::Result<()> {
        self.socket = None;
        let socket = match &self.target {
            SyslogTarget::Unix(path) => {
                let s = UnixDatagram::unbound()?;
                s.set_write_timeout(Some(SEND_TIMEOUT))?;
                s.connect(path)?;
                Socket::Unix(s)
            }
            SyslogTarget::Udp(addr) => {
                let local: SocketAddr = match addr {
                    SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
                    SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
                };
                let s = UdpSocket::bind(local)?;
                s.set_write_timeout(Some(SEND_TIMEOUT))?;
                Socket::Udp(s, *addr)
            }
        };
        self.socket = Some(socket);
        Ok(())
    }

    fn close(&mut self) {
        self.socket = None;
    }

    fn write_line(&mut self, line: &str, now: SystemTime) -> io::Result<()> {
        self.buf.clear();
        self.buf.push_str(&self.prefix);
        self.buf.push_str(&rfc3339_millis(now));
        self.buf.push_str(&self.middle);
        self.buf.push_str(line);
        let sent = match &self.socket {
            Some(Socket::Unix(s)) => s.send(self.buf.as_bytes())?,
            Some(Socket::Udp(s, addr)) => s.send_to(self.buf.as_bytes(), addr)?,
            None => return Err(io::Error::new(io::ErrorKind::NotConnected, "not open")),
        };
        if sent < self.buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "datagram truncated",
            ));
        }
        Ok(())
    }

    fn check(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_are_printable_ascii_or_nil() {
        assert_eq!(header_field("resolver-1", 255), "resolver-1");
        assert_eq!(header_field("", 255), "-");
        assert_eq!(header_field("a b\tc", 255), "abc");
        assert_eq!(header_field("sekishø", 255), "sekish");
        assert_eq!(header_field(&"x".repeat(60), 48).len(), 48);
    }

    #[test]
    fn pri_is_facility_times_eight_plus_six() {
        let t = SyslogTarget::Udp(([127, 0, 0, 1], 514).into());
        assert!(SyslogOut::new(t.clone(), 16, "sekisho", Some("h")).prefix == "<134>1 ");
        assert!(SyslogOut::new(t.clone(), 0, "sekisho", Some("h")).prefix == "<6>1 ");
        assert!(SyslogOut::new(t, 200, "sekisho", None).prefix == "<190>1 ");
    }
}
