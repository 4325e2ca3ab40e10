//! Talking to authoritative servers: one question, one answer.
//!
//! ```text
//!  exchange(addr, query) ──UDP (random port, random ID)──▶ answer
//!                            │ TC=1 (RFC 7766 section 5)
//!                            └──TCP (2-byte length prefix)──▶ answer
//! ```
//!
//! No connection reuse: authoritative traffic is one query per server per
//! resolution step, and BIND/NSD close idle TCP quickly anyway. Answers that
//! do not match the question (ID, question section) are ignored, as in
//! [`sekisho_upstream::matches_query`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use sekisho_upstream::matches_query;

/// Why one exchange failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum NetError {
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// A socket error.
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    /// The TCP answer was not a DNS message for our question.
    #[error("malformed answer")]
    Malformed,
}

/// Send `query` (its ID is replaced) to `server` port 53 and wait up to
/// `timeout` for the matching answer; a truncated UDP answer is retried over
/// TCP within the same budget.
pub(crate) async fn exchange(
    server: SocketAddr,
    query: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, NetError> {
    let mut q = query.to_vec();
    let id: u16 = rand::random();
    if q.len() < 2 {
        return Err(NetError::Malformed);
    }
    q[0..2].copy_from_slice(&id.to_be_bytes());
    let run = async {
        let answer = udp(server, &q).await?;
        if answer.get(2).is_some_and(|b| b & 0x02 != 0) {
            return tcp(server, &q).await;
        }
        Ok(answer)
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(NetError::Timeout),
    }
}

/// One UDP exchange from a fresh socket on a random port (source port
/// randomisation, RFC 5452 section 9.2).
async fn udp(server: SocketAddr, q: &[u8]) -> Result<Vec<u8>, NetError> {
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(local).await?;
    sock.connect(server).await?;
    sock.send(q).await?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).await?;
        if matches_query(&buf[..n], q) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

/// One TCP exchange on a new connection.
async fn tcp(server: SocketAddr, q: &[u8]) -> Result<Vec<u8>, NetError> {
    let mut s = TcpStream::connect(server).await?;
    let len = u16::try_from(q.len()).map_err(|_| NetError::Malformed)?;
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
        Err(NetError::Malformed)
    }
}
