//! The thin tokio layer around the sans-I/O cores: zone transfers over TCP with
//! the two-octet length framing of
//! [RFC 1035 section 4.2.2](https://www.rfc-editor.org/rfc/rfc1035#section-4.2.2),
//! and SOA queries over UDP with a TCP retry on truncation.
//!
//! ```text
//!  transfer():  connect ─▶ write [len][query] ─▶ loop { read [len] ─▶ check_incoming
//!                                                      read body ─▶ XfrInterpreter::feed }
//!  query_soa(): UDP send ─▶ recv (ID match) ─▶ SoaQuery::interpret ─TC─▶ same over TCP
//! ```
//!
//! Every wait is bounded: [`Limits::idle_timeout`] per connect or read and
//! [`Limits::max_duration`] for the whole transfer.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::rr::Name;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout_at, Instant};
use tracing::{debug, Instrument};

use crate::error::{LimitKind, XfrError};
use crate::interpreter::{Limits, Progress, Request, Transfer, XfrInterpreter};
use crate::soa_query::{SoaAnswer, SoaOutcome, SoaQuery};
use crate::tsig::TsigKey;

/// Largest UDP response we accept for an SOA query.
const UDP_BUFFER: usize = 4096;

/// Seconds since the Unix epoch, for TSIG.
fn unix_now() -> u64 {
    // A clock before 1970 is a broken host; TSIG then fails with BADTIME, visibly.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs `f` until the earlier of `idle` from now and `deadline`, naming the bound hit.
async fn bounded<T, F>(deadline: Instant, idle: Duration, f: F) -> Result<T, XfrError>
where
    F: Future<Output = io::Result<T>>,
{
    let idle_end = Instant::now() + idle;
    let (until, kind) = if idle_end < deadline {
        (idle_end, LimitKind::Idle)
    } else {
        (deadline, LimitKind::Duration)
    };
    match timeout_at(until, f).await {
        Ok(Ok(v)) => Ok(v),
        // The peer closed the connection before the transfer's end.
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Err(XfrError::Incomplete),
        Ok(Err(e)) => Err(XfrError::Io(e)),
        Err(_) => Err(XfrError::Limit(kind)),
    }
}

/// Transfers `zone` from `primary` over TCP: AXFR, or IXFR from a serial we hold.
///
/// The request is signed with `key` when given and then every response message is
/// verified. An IXFR that the primary refuses (REFUSED, NOTIMP, FORMERR) fails with
/// [`XfrError::IxfrUnavailable`] so that the caller can retry with AXFR.
pub async fn transfer(
    primary: SocketAddr,
    zone: &Name,
    request: Request,
    key: Option<&TsigKey>,
    limits: &Limits,
) -> Result<Transfer, XfrError> {
    let kind = match request {
        Request::Axfr => "axfr",
        Request::Ixfr { .. } => "ixfr",
    };
    let span = tracing::info_span!("xfr", %primary, zone = %zone, kind);
    async move {
        let result = run_transfer(primary, zone, request, key, limits).await;
        match &result {
            Ok(t) => debug!(serial = %t.serial(), "transfer complete"),
            Err(error) => debug!(%error, label = error.as_metrics_label(), "transfer failed"),
        }
        result
    }
    .instrument(span)
    .await
}

/// The body of [`transfer`].
async fn run_transfer(
    primary: SocketAddr,
    zone: &Name,
    request: Request,
    key: Option<&TsigKey>,
    limits: &Limits,
) -> Result<Transfer, XfrError> {
    let deadline = Instant::now() + limits.max_duration;
    let idle = limits.idle_timeout;
    let (mut interpreter, query) =
        XfrInterpreter::start(zone, request, key, *limits, rand::random(), unix_now())?;

    let mut stream = bounded(deadline, idle, TcpStream::connect(primary)).await?;
    bounded(deadline, idle, stream.write_all(&framed(&query)?)).await?;

    let mut buf = Vec::new();
    loop {
        let mut len = [0u8; 2];
        bounded(deadline, idle, stream.read_exact(&mut len)).await?;
        let len = usize::from(u16::from_be_bytes(len));
        interpreter.check_incoming(len)?;
        buf.resize(len, 0);
        bounded(deadline, idle, stream.read_exact(&mut buf)).await?;
        if let Progress::Done(transfer) = interpreter.feed(&buf, unix_now())? {
            return Ok(transfer);
        }
    }
}

/// Prefixes a message with its two-octet length.
fn framed(msg: &[u8]) -> Result<Vec<u8>, XfrError> {
    let len = u16::try_from(msg.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "message longer than 65535 octets",
        )
    })?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    Ok(out)
}

/// Asks `primary` for the SOA of `zone` over UDP, retrying over TCP when the
/// answer is truncated; signs with `key` when given. `timeout` bounds each attempt.
pub async fn query_soa(
    primary: SocketAddr,
    zone: &Name,
    key: Option<&TsigKey>,
    timeout: Duration,
) -> Result<SoaAnswer, XfrError> {
    let span = tracing::debug_span!("soa_query", %primary, zone = %zone);
    async move {
        match query_soa_udp(primary, zone, key, timeout).await? {
            SoaOutcome::Answer(answer) => Ok(answer),
            SoaOutcome::Truncated => match query_soa_tcp(primary, zone, key, timeout).await? {
                SoaOutcome::Answer(answer) => Ok(answer),
                // TC over TCP is meaningless.
                SoaOutcome::Truncated => Err(XfrError::TruncatedResponse),
            },
        }
    }
    .instrument(span)
    .await
}

/// One SOA query over UDP.
async fn query_soa_udp(
    primary: SocketAddr,
    zone: &Name,
    key: Option<&TsigKey>,
    timeout: Duration,
) -> Result<SoaOutcome, XfrError> {
    let deadline = Instant::now() + timeout;
    let (mut query, bytes) = SoaQuery::start(zone, key, rand::random(), unix_now())?;
    let local: SocketAddr = match primary {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    // A connected socket only delivers datagrams from the primary's address.
    socket.connect(primary).await?;
    socket.send(&bytes).await?;
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let n = match timeout_at(deadline, socket.recv(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => return Err(XfrError::Timeout),
        };
        let msg = &buf[..n];
        // Drop datagrams for other queries (late answers to an earlier poll) and
        // keep waiting, as RFC 5452 section 9.1 advises.
        if msg.len() < 2 || u16::from_be_bytes([msg[0], msg[1]]) != query.id() {
            continue;
        }
        return query.interpret(msg, unix_now());
    }
}

/// One SOA query over TCP.
async fn query_soa_tcp(
    primary: SocketAddr,
    zone: &Name,
    key: Option<&TsigKey>,
    timeout: Duration,
) -> Result<SoaOutcome, XfrError> {
    let deadline = Instant::now() + timeout;
    let (mut query, bytes) = SoaQuery::start(zone, key, rand::random(), unix_now())?;
    let exchange = async {
        let mut stream = TcpStream::connect(primary).await?;
        stream.write_all(&framed(&bytes)?).await?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await?;
        Ok::<_, XfrError>(buf)
    };
    let buf = match timeout_at(deadline, exchange).await {
        Ok(r) => r?,
        Err(_) => return Err(XfrError::Timeout),
    };
    query.interpret(&buf, unix_now())
}
