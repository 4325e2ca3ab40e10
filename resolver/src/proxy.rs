//! The PROXY protocol v2 in front of the UDP, TCP and DNS over TLS
//! listeners (`[server] proxy-protocol-from`): a load balancer such as
//! dnsdist puts a header naming the client before each datagram and at the
//! start of each connection, and that client, not the load balancer, is the
//! client of the query path.
//!
//! ```text
//!  UDP datagram from ─┬─ a load balancer ─▶ header? ─yes─▶ query, client = header's source
//!                     │                             └─no──▶ dropped, counted
//!                     └─ anyone else ─────▶ starts with the signature? ─yes─▶ dropped, counted
//!                                                                     └─no──▶ query, client = sender
//!  TCP/DoT connection from a load balancer: the header first (before TLS), read within
//!  tcp-idle-timeout; the whole connection's client is the header's source
//! ```
//!
//! Answers go back to the sender (the load balancer, which relays them
//! without a header of their own). Everything that keys on the client sees
//! the carried address: the access lists, client-IP policy triggers, the UDP
//! rate limit, `tcp-clients-per-ip`, the query log and `log-client-ip`. A
//! LOCAL header (dnsdist's health checks) keeps the load balancer's address.
//!
//! A header is trusted from the listed addresses only: anyone could write
//! one, so a datagram from elsewhere that starts with the signature is not
//! taken as DNS (it would decode as an IQUERY) but dropped. A connection
//! from elsewhere is served as DNS as always, but one whose first octets are
//! the signature is closed at once (they would read as a frame of 3338
//! octets that never comes); the listener tells by peeking, without reading.
//!
//! Drops are counted as `limit="proxy-protocol"`, keyed by the sender's
//! address: logged once when its drops start and once when a second has
//! passed without one (by [`ProxyProtocol::run`]), never per packet. The
//! table of senders with drops is bounded ([`MAX_SOURCES`]); past it drops
//! are counted without a key.
//!
//! The header itself is parsed by `sekisho_wire::proxy` (sans-I/O). With
//! the list empty there is no [`ProxyProtocol`] at all, and a UDP worker
//! pays one `Option` test per datagram.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use sekisho_limits::{Limit, Limits};
use sekisho_wire::proxy::{self as header, ProxyError};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

/// Most senders with drops remembered at once (as `sekisho_limits::MAX_KEYS`).
pub const MAX_SOURCES: usize = 1024;

/// A sender with no drop for this long is let go (logged).
const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// Why a datagram or connection was dropped.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// A load balancer's, without a valid header.
    Invalid(ProxyError),
    /// A load balancer's connection sent no whole header in time.
    Timeout,
    /// A header from an address not in `proxy-protocol-from`.
    Stranger,
}

impl Refusal {
    /// The engage log line's text.
    fn detail(self) -> String {
        match self {
            Refusal::Invalid(e) => format!("no valid PROXY v2 header from a load balancer: {e}"),
            Refusal::Timeout => {
                "no PROXY v2 header from a load balancer within tcp-idle-timeout".into()
            }
            Refusal::Stranger => "PROXY header from an address not in proxy-protocol-from".into(),
        }
    }
}

/// The load balancers, and the senders whose datagrams or connections are being dropped.
#[derive(Debug)]
pub struct ProxyProtocol {
    /// `proxy-protocol-from`: never empty.
    from: Vec<IpNet>,
    /// Senders with drops now, and when each last had one.
    dropping: Mutex<HashMap<IpAddr, Instant>>,
    /// The drop counter and the engage/release log lines.
    limits: Arc<Limits>,
}

impl ProxyProtocol {
    /// Headers from `from`; `None` when the list is empty (the feature is off).
    pub fn new(from: Vec<IpNet>, limits: Arc<Limits>) -> Option<Arc<ProxyProtocol>> {
        if from.is_empty() {
            return None;
        }
        Some(Arc::new(ProxyProtocol {
            from,
            dropping: Mutex::new(HashMap::new()),
            limits,
        }))
    }

    /// Whether `ip` is a load balancer of `proxy-protocol-from`.
    pub fn is_proxy(&self, ip: IpAddr) -> bool {
        sekisho_conf::allows(&self.from, ip)
    }

    /// A datagram from `peer`: the DNS message in it and its client, or
    /// `None` when it is dropped (counted).
    pub fn datagram<'a>(
        &self,
        packet: &'a [u8],
        peer: SocketAddr,
    ) -> Option<(&'a [u8], SocketAddr)> {
        if self.is_proxy(peer.ip()) {
            let parsed = header::parse_header(packet).and_then(|h| {
                packet
                    .get(h.len..)
                    .map(|dns| (dns, h.client(peer)))
                    .ok_or(ProxyError::Incomplete { needed: h.len })
            });
            return match parsed {
                Ok(x) => Some(x),
                Err(e) => {
                    self.refuse(peer.ip(), Refusal::Invalid(e));
                    None
                }
            };
        }
        if header::has_signature(packet) {
            self.refuse(peer.ip(), Refusal::Stranger);
            return None;
        }
        Some((packet, peer))
    }

    /// Reads the header at the start of a load balancer's connection from
    /// `rd`, exactly (the TLS handshake or DNS frames behind it are left
    /// unread), within `limit`. The connection's client, or `None` when it
    /// must be closed (counted, unless the load balancer closed it first).
    pub async fn read_header<R: AsyncRead + Unpin>(
        &self,
        rd: &mut R,
        peer: SocketAddr,
        limit: Duration,
    ) -> Option<SocketAddr> {
        let read = async {
            let mut buf = [0u8; header::MAX_HEADER_LEN];
            let (mut have, mut want) = (0, header::FIXED_LEN);
            loop {
                let Some(more) = buf.get_mut(have..want) else {
                    // The parser never asks past MAX_HEADER_LEN; were it to, refuse.
                    return Ok(Err(ProxyError::TooLong { len: want }));
                };
                rd.read_exact(more).await?;
                have = want;
                match header::parse_header(&buf[..have]) {
                    Err(ProxyError::Incomplete { needed }) if needed > have => want = needed,
                    parsed => return Ok::<_, std::io::Error>(parsed),
                }
            }
        };
        match tokio::time::timeout(limit, read).await {
            Ok(Ok(Ok(h))) => Some(h.client(peer)),
            Ok(Ok(Err(e))) => {
                self.refuse(peer.ip(), Refusal::Invalid(e));
                None
            }
            Ok(Err(error)) => {
                // Closed or reset before a whole header: the load balancer gave up, nothing hostile.
                tracing::debug!(%peer, %error, "load balancer connection ended before its PROXY header");
                None
            }
            Err(_) => {
                self.refuse(peer.ip(), Refusal::Timeout);
                None
            }
        }
    }

    /// A connection from `ip`, not a load balancer, opened with a PROXY
    /// header: counted (and logged as a datagram's would be) before it is closed.
    pub fn stranger_connection(&self, ip: IpAddr) {
        self.refuse(ip, Refusal::Stranger);
    }

    /// Counts a drop from `ip`; logs it when `ip` had none before.
    fn refuse(&self, ip: IpAddr, why: Refusal) {
        // An IPv4-mapped address is the IPv4 sender.
        let ip = ip.to_canonical();
        let key = ip.to_string();
        let mut dropping = self.lock();
        let known = dropping.len() < MAX_SOURCES || dropping.contains_key(&ip);
        let new = known && dropping.insert(ip, Instant::now()).is_none();
        drop(dropping);
        if new {
            self.limits
                .engage(Limit::ProxyProtocol, &key, &why.detail());
        }
        self.limits
            .dropped(Limit::ProxyProtocol, known.then_some(key.as_str()));
    }

    /// Lets go (logged) of the senders without a drop for [`RELEASE_AFTER`].
    pub fn sweep(&self, now: Instant) {
        let mut quiet = Vec::new();
        self.lock().retain(|ip, last| {
            let keep = now.saturating_duration_since(*last) < RELEASE_AFTER;
            if !keep {
                quiet.push(*ip);
            }
            keep
        });
        for ip in quiet {
            self.limits.release(Limit::ProxyProtocol, &ip.to_string());
        }
    }

    /// Sweeps every second until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(RELEASE_AFTER);
        loop {
            tokio::select! {
                _ = tick.tick() => self.sweep(Instant::now()),
                _ = stop.changed() => return,
            }
        }
    }

    /// The table (a poisoned lock still holds consistent times).
    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.dropping.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_wire::proxy::{encode, encode_local, Transport};

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    fn setup() -> (Arc<ProxyProtocol>, Arc<Limits>) {
        let limits = Arc::new(Limits::new());
        let p = ProxyProtocol::new(vec!["192.0.2.1/32".parse().expect("net")], limits.clone())
            .expect("on");
        (p, limits)
    }

    #[test]
    fn an_empty_list_turns_the_feature_off() {
        assert!(ProxyProtocol::new(Vec::new(), Arc::new(Limits::new())).is_none());
    }

    #[test]
    fn a_load_balancers_datagram_is_the_query_behind_its_header_from_the_carried_client() {
        let (p, limits) = setup();
        let lb = addr("192.0.2.1:4000");
        let mut d = encode(
            addr("203.0.113.9:5353"),
            addr("192.0.2.1:53"),
            Transport::Dgram,
        );
        d.extend_from_slice(b"dns");
        let (dns, client) = p.datagram(&d, lb).expect("taken");
        assert_eq!((dns, client), (&b"dns"[..], addr("203.0.113.9:5353")));
        // A health check: LOCAL keeps the load balancer's address.
        let mut d = encode_local();
        d.extend_from_slice(b"dns");
        assert_eq!(p.datagram(&d, lb), Some((&b"dns"[..], lb)));
        assert_eq!(limits.drops(Limit::ProxyProtocol), 0);
    }

    #[test]
    fn a_load_balancers_datagram_without_a_header_is_dropped_counted_and_logged_once() {
        let (p, limits) = setup();
        let lb = addr("192.0.2.1:4000");
        assert_eq!(p.datagram(b"\x12\x34plain dns", lb), None);
        assert_eq!(p.datagram(b"\x12\x34plain dns", lb), None);
        assert_eq!(limits.drops(Limit::ProxyProtocol), 2);
        assert!(limits.is_engaged(Limit::ProxyProtocol, "192.0.2.1"));
        // A second without a drop: let go.
        p.sweep(Instant::now() + RELEASE_AFTER);
        assert!(!limits.is_engaged(Limit::ProxyProtocol, "192.0.2.1"));
    }

    #[test]
    fn a_header_from_a_stranger_is_dropped_and_plain_dns_from_it_is_not() {
        let (p, limits) = setup();
        let stranger = addr("198.51.100.7:4000");
        let mut d = encode(
            addr("203.0.113.9:5353"),
            addr("192.0.2.53:53"),
            Transport::Dgram,
        );
        d.extend_from_slice(b"dns");
        assert_eq!(p.datagram(&d, stranger), None);
        assert!(limits.is_engaged(Limit::ProxyProtocol, "198.51.100.7"));
        assert_eq!(
            p.datagram(b"\x12\x34dns", stranger),
            Some((&b"\x12\x34dns"[..], stranger))
        );
        assert_eq!(limits.drops(Limit::ProxyProtocol), 1);
    }

    #[test]
    fn the_table_of_dropping_senders_stays_bounded() {
        let (p, limits) = setup();
        let d = encode_local();
        for i in 0..MAX_SOURCES + 10 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i as u32);
            p.datagram(&d, SocketAddr::new(IpAddr::V4(ip), 1));
        }
        assert_eq!(p.lock().len(), MAX_SOURCES);
        assert_eq!(
            limits.drops(Limit::ProxyProtocol),
            (MAX_SOURCES + 10) as u64
        );
    }

    #[tokio::test]
    async fn a_stream_header_is_read_exactly_and_the_rest_left_unread() {
        let (p, limits) = setup();
        let lb = addr("192.0.2.1:4000");
        let mut bytes = encode(
            addr("[2001:db8::9]:1"),
            addr("[2001:db8::53]:53"),
            Transport::Stream,
        );
        bytes.extend_from_slice(b"TLS");
        let mut rd = &bytes[..];
        let client = p.read_header(&mut rd, lb, Duration::from_secs(1)).await;
        assert_eq!(client, Some(addr("[2001:db8::9]:1")));
        assert_eq!(rd, b"TLS");
        // Not a header: refused and counted.
        let mut rd = &b"\x00\x1cplain frame......................"[..];
        assert_eq!(
            p.read_header(&mut rd, lb, Duration::from_secs(1)).await,
            None
        );
        assert_eq!(limits.drops(Limit::ProxyProtocol), 1);
        // Cut short: the load balancer went away; not counted.
        let mut rd = &bytes[..20];
        assert_eq!(
            p.read_header(&mut rd, lb, Duration::from_secs(1)).await,
            None
        );
        assert_eq!(limits.drops(Limit::ProxyProtocol), 1);
    }

    #[tokio::test]
    async fn a_stream_header_that_does_not_come_in_time_is_counted() {
        let (p, limits) = setup();
        let (mut rd, _wr) = tokio::io::duplex(64);
        let lb = addr("192.0.2.1:4000");
        assert_eq!(
            p.read_header(&mut rd, lb, Duration::from_millis(50)).await,
            None
        );
        assert_eq!(limits.drops(Limit::ProxyProtocol), 1);
    }
}
