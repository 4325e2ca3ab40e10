//! Talking to authoritative servers: one message out, one answer back,
//! through the [`Exchange`] trait.
//!
//! ```text
//!  iter::try_server ── query (random ID, set by the recursor) ──▶ dyn Exchange
//!       │                                 ├─ NetExchange: real sockets (the daemon)
//!       │                                 └─ scripted authorities (tests/scenarios.rs)
//!       ├─ answer must match ID + question, else ignored (next server)
//!       └─ TC=1 over UDP ─▶ the same query over TCP, within the same time budget
//! ```
//!
//! Why a trait: the recursor's decisions (referrals, bailiwick, lame
//! servers, timeouts, truncation, DNSSEC chains) can then be tested without
//! starting servers, by scenario files whose scripted authorities answer
//! in process (`testdata/recursor/`, run by `recursor/tests/scenarios.rs`).
//! The fetch quotas per zone and per server (`quota.rs`) are taken around
//! each call in `iter.rs` rather than inside an `Exchange`: only there is
//! it known which zone a query is for, and which other server to ask when
//! one is at its quota.
//!
//! Adding a test case is adding a file: copy the closest
//! `testdata/recursor/NN-*.scn`, describe the zones (signed at load time
//! when marked `signed`), the servers and their misbehaviour, the client
//! question and the outcome (rcode, records, AD, EDE, the queries the
//! servers must have seen); `testdata/recursor/README.md` has the format.
//! Then break the feature for a moment and see the file fail.
//!
//! The recursor owns everything that is a resolution decision: the query
//! ID (random per query, RFC 5452 section 4.3), the check that an answer
//! matches the question, and the TCP retry on truncation (RFC 7766 section
//! 5). An `Exchange` only moves bytes: [`NetExchange`] sends one UDP
//! datagram from a fresh socket on a random port (RFC 5452 section 9.2) and
//! keeps listening past datagrams that do not match (an off-path spoofer
//! cannot end the wait), or opens one TCP connection. No connection reuse:
//! authoritative traffic is one query per server per resolution step, and
//! BIND/NSD close idle TCP quickly anyway.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use sekisho_upstream::matches_query;

/// Which transport one exchange uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// One datagram each way.
    Udp,
    /// One TCP connection, 2-byte length prefix (RFC 1035 section 4.2.2).
    Tcp,
}

impl Transport {
    /// Lower-case name, for logs and test transcripts.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// Why one exchange failed. Every kind makes the recursor try the next
/// server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// A socket error.
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    /// The answer was not a DNS message, or was too long to send.
    #[error("malformed answer")]
    Malformed,
    /// The answer's ID or question is not the query's: ignored.
    #[error("answer does not match the question")]
    Mismatch,
}

/// The future an [`Exchange`] returns: the answer's bytes.
pub type ExchangeFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<u8>, ExchangeError>> + Send + 'a>>;

/// The recursor's only way to reach an authoritative server.
///
/// `query` is a complete DNS message whose ID the recursor chose; an
/// implementation sends it as is over `transport` to `server` and returns
/// the first answer, or an error once `timeout` has passed. It need not
/// check that the answer matches: the recursor does.
pub trait Exchange: Send + Sync + 'static {
    /// Send `query` to `server` and wait up to `timeout` for the answer.
    fn exchange<'a>(
        &'a self,
        server: SocketAddr,
        query: &'a [u8],
        transport: Transport,
        timeout: Duration,
    ) -> ExchangeFuture<'a>;
}

/// The real network: a fresh UDP socket on a random port per query, or a
/// new TCP connection. What the daemon uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetExchange;

impl Exchange for NetExchange {
    fn exchange<'a>(
        &'a self,
        server: SocketAddr,
        query: &'a [u8],
        transport: Transport,
        timeout: Duration,
    ) -> ExchangeFuture<'a> {
        Box::pin(async move {
            let run = async {
                match transport {
                    Transport::Udp => udp(server, query).await,
                    Transport::Tcp => tcp(server, query).await,
                }
            };
            match tokio::time::timeout(timeout, run).await {
                Ok(r) => r,
                Err(_) => Err(ExchangeError::Timeout),
            }
        })
    }
}

/// One UDP exchange from a fresh socket on a random port (source port
/// randomisation, RFC 5452 section 9.2); datagrams that do not answer `q`
/// are dropped and the wait goes on.
///
/// The query is sent before the reactor hears of the socket (a fresh
/// socket's send buffer is empty, so the send does not wait), and the socket
/// is registered for reading only. Through tokio's `UdpSocket` the send
/// first waited a reactor turn for the new socket's writability, and each
/// send then woke the reactor once more for a writability nobody waited
/// for: two `epoll_wait` rounds per query more than needed.
async fn udp(server: SocketAddr, q: &[u8]) -> Result<Vec<u8>, ExchangeError> {
    // A non-blocking socket from the start, and no `bind`: the `connect`
    // binds it to a random ephemeral port as `bind` to port 0 would (the
    // kernel's choice is the same), two system calls fewer per query.
    // Neither call waits: a UDP connect only sets addresses.
    let domain = match server.ip() {
        IpAddr::V4(_) => socket2::Domain::IPV4,
        IpAddr::V6(_) => socket2::Domain::IPV6,
    };
    let sock = socket2::Socket::new(
        domain,
        socket2::Type::DGRAM.nonblocking(),
        Some(socket2::Protocol::UDP),
    )?;
    sock.connect(&server.into())?;
    let sock = std::net::UdpSocket::from(sock);
    let sent = match sock.send(q) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(e) => return Err(e.into()),
    };
    let interest = if sent {
        Interest::READABLE
    } else {
        Interest::READABLE | Interest::WRITABLE
    };
    // Deprecated because a caller could register a descriptor it does not
    // own; this `AsyncFd` owns the socket, which it closes after it has
    // deregistered it (the non-deprecated form is `unsafe`, which the
    // workspace forbids).
    #[allow(deprecated)]
    let sock = AsyncFd::with_interest(sock, interest)?;
    if !sent {
        loop {
            let mut ready = sock.writable().await?;
            // `Err`: the buffer filled again; readiness is cleared, wait again.
            if let Ok(r) = ready.try_io(|s| s.get_ref().send(q)) {
                r?;
                break;
            }
        }
    }
    let mut buf = vec![0u8; 4096];
    loop {
        let mut ready = sock.readable().await?;
        match ready.try_io(|s| s.get_ref().recv(&mut buf)) {
            Ok(Ok(n)) if matches_query(&buf[..n], q) => {
                buf.truncate(n);
                return Ok(buf);
            }
            // Not an answer to `q`: keep waiting.
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.into()),
            // Drained: readiness is cleared, wait again.
            Err(_) => {}
        }
    }
}

/// One TCP exchange on a new connection.
async fn tcp(server: SocketAddr, q: &[u8]) -> Result<Vec<u8>, ExchangeError> {
    let mut s = TcpStream::connect(server).await?;
    let len = u16::try_from(q.len()).map_err(|_| ExchangeError::Malformed)?;
    let mut framed = Vec::with_capacity(q.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(q);
    s.write_all(&framed).await?;
    let mut lenbuf = [0u8; 2];
    s.read_exact(&mut lenbuf).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(lenbuf))];
    s.read_exact(&mut buf).await?;
    if matches_query(&buf, q) {
        Ok(buf)
    } else {
        Err(ExchangeError::Malformed)
    }
}
