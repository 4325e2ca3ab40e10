//! DNS over HTTPS (RFC 8484): DNS messages in HTTP/2 or HTTP/1.1 requests
//! over the TLS settings of the DoT listener (ALPN `h2`, `http/1.1`).
//!
//! ```text
//!  accept ─▶ tcp-clients-per-ip, tcp-max-connections (shared with TCP and DoT)
//!         ─▶ TLS handshake (tls-handshake-timeout; driven by the first read or write)
//!         ─▶ sekisho_http::serve: HTTP/1.1 or HTTP/2, header-read and idle timeouts
//!         ─▶ DohHandler: path (404) ─▶ method (405) ─▶ GET ?dns= (400) | POST body
//!            (415 unless application/dns-message, 413 past 65535 bytes)
//!         ─▶ Dispatch::handle_fast / resolve, as UDP and TCP (ACL sees the client's address)
//!         ─▶ 200 application/dns-message, Cache-Control: max-age=<smallest TTL>
//! ```
//!
//! Plain HTTP (`listen-http`): the same requests over HTTP/1.1 or HTTP/2
//! with prior knowledge (h2c), no TLS, for a proxy that terminates TLS in
//! front ([`HttpAccept`]). A connection from a proxy of `http-proxy-from`
//! counts in `tcp-max-connections` only (it carries many clients), and the
//! client of each of its requests is the one its `X-Forwarded-For` or
//! `Forwarded` header names ([`crate::forwarded`]); any other connection is
//! a client of its own, admitted as on HTTPS, whose headers are ignored.
//!
//! The HTTP side is the one server loop of `sekisho_http` (also behind the
//! metrics endpoint and the warning page); this module gives it connections
//! through [`DohAccept`], and answers requests with [`DohHandler`]. The TLS
//! handshake runs inside the connection's own task ([`DohIo`] drives it on
//! the first read or write), so a slow handshake never holds up the accept
//! loop, and it is bounded and counted as on the DoT listener.
//!
//! RFC 8484 section 4.1: clients should use DNS ID 0 for cache friendliness;
//! the answer echoes whatever ID the query carried. Section 5.1: the HTTP
//! freshness lifetime must not exceed the smallest TTL of the answer, so
//! `max-age` is the smallest TTL of the answer and authority records (0 when
//! there are none).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

use ipnet::IpNet;

use crate::forwarded::{client_address, ClientSource};
use crate::listen::{handshake_timed_out, ConnSlot, SharedTcp, StreamContext};
use crate::metrics::Proto;
use crate::pipeline::Step;

/// The media type of a DNS message (RFC 8484 section 6).
pub const DNS_MESSAGE: &str = "application/dns-message";
/// Largest DNS message, and so the largest POST body (a TCP frame's length field).
const MAX_MESSAGE: usize = 65535;
/// Most bytes of a refused POST body read (and dropped) before answering, so
/// the client sees the status; a larger body is not waited for.
const MAX_DRAIN: usize = 256 * 1024;

/// The listeners of `sekisho_http::serve` for DoH: a TCP listener whose
/// connections pass the stream listeners' caps and then speak TLS.
pub struct DohAccept {
    /// The socket.
    listener: TcpListener,
    /// TLS settings (ALPN h2, http/1.1).
    acceptor: tokio_rustls::TlsAcceptor,
    /// The caps, counts and timeouts shared with TCP and DoT.
    ctx: StreamContext,
}

impl DohAccept {
    /// Connections of `listener`, admitted by `ctx`'s caps, with TLS by `tls`.
    pub fn new(
        listener: TcpListener,
        tls: Arc<rustls::ServerConfig>,
        ctx: StreamContext,
    ) -> DohAccept {
        DohAccept {
            listener,
            acceptor: tokio_rustls::TlsAcceptor::from(tls),
            ctx,
        }
    }
}

impl sekisho_http::Accept for DohAccept {
    type Io = DohIo;

    async fn accept(&mut self) -> std::io::Result<(DohIo, SocketAddr)> {
        loop {
            let (stream, peer) = self.listener.accept().await?;
            // Past a cap: closed at once (and counted by `admit`), as on TCP.
            let Some(slot) = self.ctx.admit(peer) else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let socket = Arc::new(stream);
            let handshake = self.acceptor.accept(SharedTcp(socket.clone()));
            let io = DohIo {
                state: State::Handshake {
                    accept: Box::new(handshake),
                    deadline: Box::pin(tokio::time::sleep(self.ctx.limits.handshake_timeout)),
                },
                socket,
                peer,
                ctx: self.ctx.clone(),
                _slot: slot,
            };
            return Ok((io, peer));
        }
    }
}

/// The listeners of `sekisho_http::serve` for DoH over plain HTTP: a TCP
/// listener whose connections pass the stream listeners' caps (a trusted
/// proxy's only the total) and then speak HTTP/1.1 or h2c.
pub struct HttpAccept {
    /// The socket.
    listener: TcpListener,
    /// `http-proxy-from`.
    proxies: Arc<[IpNet]>,
    /// The caps and counts shared with TCP, DoT and DoH.
    ctx: StreamContext,
}

impl HttpAccept {
    /// Connections of `listener`, admitted by `ctx`'s caps; those from
    /// `proxies` by `tcp-max-connections` only.
    pub fn new(listener: TcpListener, proxies: Arc<[IpNet]>, ctx: StreamContext) -> HttpAccept {
        HttpAccept {
            listener,
            proxies,
            ctx,
        }
    }
}

impl sekisho_http::Accept for HttpAccept {
    type Io = HttpIo;

    async fn accept(&mut self) -> std::io::Result<(HttpIo, SocketAddr)> {
        loop {
            let (stream, peer) = self.listener.accept().await?;
            let ip = peer.ip().to_canonical();
            let slot = if self.proxies.iter().any(|net| net.contains(&ip)) {
                self.ctx.admit_total()
            } else {
                self.ctx.admit(peer)
            };
            // Past a cap: closed at once (and counted by `admit`), as on TCP.
            let Some(slot) = slot else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            return Ok((
                HttpIo {
                    stream,
                    _slot: slot,
                },
                peer,
            ));
        }
    }
}

/// One DoH connection over plain HTTP: the TCP stream and its place in the caps.
pub struct HttpIo {
    /// The connection.
    stream: TcpStream,
    /// Its place in the connection caps, given back when the connection ends.
    _slot: ConnSlot,
}

impl AsyncRead for HttpIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for HttpIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// One DoH connection: its TLS handshake first, then the TLS stream.
pub struct DohIo {
    /// Where the connection is.
    state: State,
    /// The TCP socket (for the reset of a handshake that ran out of time).
    socket: Arc<TcpStream>,
    /// The client.
    peer: SocketAddr,
    /// For the handshake-timeout count.
    ctx: StreamContext,
    /// Its place in the connection caps, given back when the connection ends.
    _slot: ConnSlot,
}

/// The phases of a [`DohIo`].
enum State {
    /// Handshaking, until `deadline`.
    Handshake {
        /// The handshake (boxed: it holds a whole rustls connection).
        accept: Box<tokio_rustls::Accept<SharedTcp>>,
        /// `tls-handshake-timeout` from the accept.
        deadline: Pin<Box<tokio::time::Sleep>>,
    },
    /// Up.
    Ready(Box<TlsStream<SharedTcp>>),
    /// The handshake failed or ran out of time; every read and write fails.
    Failed,
}

impl DohIo {
    /// Drives the handshake; ready once the stream is up.
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let State::Handshake { accept, deadline } = &mut self.state else {
            return Poll::Ready(match self.state {
                State::Ready(_) => Ok(()),
                _ => Err(std::io::ErrorKind::NotConnected.into()),
            });
        };
        if let Poll::Ready(result) = Pin::new(accept.as_mut()).poll(cx) {
            return Poll::Ready(match result {
                Ok(stream) => {
                    self.state = State::Ready(Box::new(stream));
                    Ok(())
                }
                Err(error) => {
                    tracing::debug!(peer = %self.peer, %error, "tls handshake failed");
                    self.state = State::Failed;
                    Err(error)
                }
            });
        }
        ready!(deadline.as_mut().poll(cx));
        handshake_timed_out(&self.socket, self.peer, &self.ctx);
        self.state = State::Failed;
        Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()))
    }

    /// The TLS stream, once the handshake is done.
    fn stream(&mut self) -> std::io::Result<Pin<&mut TlsStream<SharedTcp>>> {
        match &mut self.state {
            State::Ready(s) => Ok(Pin::new(s.as_mut())),
            _ => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }
}

impl AsyncRead for DohIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_handshake(cx))?;
        this.stream()?.poll_read(cx, buf)
    }
}

impl AsyncWrite for DohIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_handshake(cx))?;
        this.stream()?.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut().stream() {
            Ok(s) => s.poll_flush(cx),
            // Nothing was written before the stream was up.
            Err(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut().stream() {
            Ok(s) => s.poll_shutdown(cx),
            Err(_) => Poll::Ready(Ok(())),
        }
    }
}

/// Answers DoH requests through the query path.
pub struct DohHandler {
    /// The query path, the in-flight count.
    ctx: StreamContext,
    /// `https-path`.
    path: String,
    /// `http-proxy-from` on the plain HTTP listeners; empty on HTTPS,
    /// where no forwarding header is read.
    proxies: Arc<[IpNet]>,
    /// dnstap's response address: the listeners' first address (one handler
    /// serves every listener of its kind).
    local: SocketAddr,
}

impl DohHandler {
    /// Answers on `path` through `ctx`'s dispatch; the peer is the client.
    pub fn new(ctx: StreamContext, path: String) -> DohHandler {
        DohHandler {
            ctx,
            path,
            proxies: Arc::from([]),
            local: SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    /// The handler with `local` as the address dnstap shows as ours.
    pub fn at(self, local: SocketAddr) -> DohHandler {
        DohHandler { local, ..self }
    }

    /// Answers on `path` through `ctx`'s dispatch; a request from one of
    /// `proxies` is from the client its forwarding header names.
    pub fn behind_proxies(ctx: StreamContext, path: String, proxies: Arc<[IpNet]>) -> DohHandler {
        DohHandler {
            ctx,
            path,
            proxies,
            local: SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    /// The DNS message of a request, or the HTTP status that refuses it.
    async fn message(&self, req: Request<Incoming>) -> Result<Vec<u8>, StatusCode> {
        if req.uri().path() != self.path {
            return Err(StatusCode::NOT_FOUND);
        }
        match *req.method() {
            Method::GET => {
                let text = req
                    .uri()
                    .query()
                    .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("dns=")))
                    .ok_or(StatusCode::BAD_REQUEST)?;
                // RFC 8484 section 4.1: base64url without padding; padding is tolerated.
                data_encoding::BASE64URL_NOPAD
                    .decode(text.trim_end_matches('=').as_bytes())
                    .map_err(|_| StatusCode::BAD_REQUEST)
            }
            Method::POST => {
                let content_type = req
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.split(';').next().unwrap_or("").trim());
                let wanted = content_type.is_some_and(|t| t.eq_ignore_ascii_case(DNS_MESSAGE));
                let declared = req
                    .headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                if declared.is_some_and(|n| n > MAX_DRAIN as u64) {
                    return Err(StatusCode::PAYLOAD_TOO_LARGE);
                }
                // The body is read even when the request is refused: an answer sent
                // before the whole request has arrived ends in a stream reset, which
                // clients (curl) report as an error instead of the status.
                let body = read_body(req.into_body()).await;
                if !wanted {
                    return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
                }
                body
            }
            _ => Err(StatusCode::METHOD_NOT_ALLOWED),
        }
    }

    /// The answer to `packet` from `peer`, as UDP and TCP get it.
    async fn answer(&self, packet: &[u8], peer: SocketAddr) -> Result<Vec<u8>, StatusCode> {
        let dispatch = &self.ctx.dispatch;
        let mut out = Vec::with_capacity(512);
        let mut key = Vec::with_capacity(272);
        match dispatch.handle_fast(packet, peer, self.local, Proto::Https, &mut out, &mut key) {
            Step::Reply => Ok(out),
            Step::Resolve => {
                let _guard = self.ctx.inflight.enter();
                // No answer at all: a policy DROP, or the query was shed.
                dispatch
                    .resolve(packet, peer, self.local, Proto::Https)
                    .await
                    .ok_or(StatusCode::GATEWAY_TIMEOUT)
            }
            // Not a query (a response, a runt), or a zone transfer, which needs a stream.
            Step::Drop | Step::Transfer => Err(StatusCode::BAD_REQUEST),
        }
    }
}

impl sekisho_http::Handler for DohHandler {
    async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<sekisho_http::Body> {
        // Read before the request is consumed; only from a trusted proxy.
        let (client, source) = client_address(req.headers(), peer, &self.proxies);
        if source != ClientSource::Peer {
            tracing::trace!(%peer, %client, ?source, "client named by a trusted proxy");
        }
        let result = match self.message(req).await {
            Ok(packet) => self.answer(&packet, client).await,
            Err(status) => Err(status),
        };
        match result {
            Ok(answer) => http_response(StatusCode::OK)
                .header(CONTENT_TYPE, DNS_MESSAGE)
                .header(
                    CACHE_CONTROL,
                    format!("max-age={}", min_ttl(&answer).unwrap_or(0)),
                )
                .body(Full::new(Bytes::from(answer))),
            Err(status) => {
                let mut r = http_response(status);
                if status == StatusCode::METHOD_NOT_ALLOWED {
                    r = r.header(ALLOW, "GET, POST");
                }
                r.header(CONTENT_TYPE, "text/plain; charset=utf-8")
                    .body(Full::new(Bytes::from(format!(
                        "{}\n",
                        status.canonical_reason().unwrap_or("")
                    ))))
            }
        }
        // Only constant, valid header names and values are set above.
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    }
}

/// A POST body: the message, or 413 past [`MAX_MESSAGE`] bytes (read on, and
/// dropped, up to [`MAX_DRAIN`]), or 400 when the body breaks off. Holds at
/// most one message in memory.
async fn read_body(mut body: Incoming) -> Result<Vec<u8>, StatusCode> {
    let mut message = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| StatusCode::BAD_REQUEST)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        total = total.saturating_add(data.len());
        if total > MAX_DRAIN {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        if total <= MAX_MESSAGE {
            message.extend_from_slice(&data);
        }
    }
    if total > MAX_MESSAGE {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    Ok(message)
}

/// A response builder with `status`.
fn http_response(status: StatusCode) -> http::response::Builder {
    Response::builder().status(status)
}

/// The smallest TTL of the answer and authority records of `message`
/// (`None` when there are none, or the message does not parse).
pub fn min_ttl(message: &[u8]) -> Option<u32> {
    let count = |at: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *message.get(at)?,
            *message.get(at + 1)?,
        ])))
    };
    let (questions, records) = (count(4)?, count(6)? + count(8)?);
    let mut pos = sekisho_wire::HEADER_LEN;
    for _ in 0..questions {
        pos = sekisho_wire::skip_name(message, pos)? + 4;
    }
    let mut min: Option<u32> = None;
    for _ in 0..records {
        let span = sekisho_wire::skip_record(message, pos)?;
        let ttl = message.get(span.ttl_offset..span.ttl_offset + 4)?;
        let ttl = u32::from_be_bytes([ttl[0], ttl[1], ttl[2], ttl[3]]);
        min = Some(min.map_or(ttl, |m| m.min(ttl)));
        pos = span.end;
    }
    min
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `www.example. A` with the given answer and authority TTLs.
    fn message(answer_ttls: &[u32], authority_ttls: &[u32]) -> Vec<u8> {
        let mut m = vec![0, 0, 0x81, 0x80, 0, 1];
        m.extend_from_slice(&(answer_ttls.len() as u16).to_be_bytes());
        m.extend_from_slice(&(authority_ttls.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        for ttl in answer_ttls.iter().chain(authority_ttls) {
            m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
            m.extend_from_slice(&ttl.to_be_bytes());
            m.extend_from_slice(&[0, 4, 192, 0, 2, 1]);
        }
        m
    }

    #[test]
    fn max_age_is_the_smallest_ttl_of_answer_and_authority() {
        assert_eq!(min_ttl(&message(&[300, 60, 120], &[])), Some(60));
        assert_eq!(min_ttl(&message(&[300], &[30])), Some(30));
        assert_eq!(min_ttl(&message(&[], &[])), None);
    }

    #[test]
    fn a_cut_message_has_no_ttl() {
        let m = message(&[300], &[]);
        assert_eq!(min_ttl(&m[..m.len() - 3]), None);
        assert_eq!(min_ttl(&m[..5]), None);
    }
}
