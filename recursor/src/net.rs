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
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

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
            sekisho_upstream::udp::within(timeout, run)
                .await
                .unwrap_or(Err(ExchangeError::Timeout))
        })
    }
}

/// One UDP exchange from a fresh socket on a random port (source port
/// randomisation, RFC 5452 section 9.2): [`sekisho_upstream::udp::exchange`],
/// which the forwarders use too.
async fn udp(server: SocketAddr, q: &[u8]) -> Result<Vec<u8>, ExchangeError> {
    Ok(sekisho_upstream::udp::exchange(server, q).await?)
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
