//! A DNS over HTTPS connection to an upstream (RFC 8484).
//!
//! ```text
//!  exchange(query) ──ID set to 0, POST application/dns-message──▶ h2 stream ─┐
//!                                                                             │ one TLS connection
//!                                                                             │ (ALPN h2), many
//!  answer with the query's ID ◀── 200, application/dns-message, ≤ 64 KiB ◀───┘ streams at once
//! ```
//!
//! Built like the DoT transport ([`crate::stream`]): one connection per
//! upstream, opened by [`crate::Upstream`] under its connect backoff and
//! reused by every query until it fails or the server closes it
//! ([`HttpsConn::is_alive`] turns false), then replaced. HTTP/2 does the
//! multiplexing that message IDs do on DoT, so queries need no ID of their
//! own: RFC 8484 section 4.1 says "the DNS ID SHOULD be 0" so that equal
//! queries are equal HTTP requests; the answer gets the query's ID back.
//!
//! Queries are sent with POST, not GET. Both are allowed (RFC 8484
//! section 4.1); GET's only gain is that HTTP caches can keep answers, and
//! Sekisho has its own cache in front. POST carries the message as it is,
//! where GET adds a third in base64url and puts the query into a URL that
//! proxies and servers log.
//!
//! Anything but status 200 with `Content-Type: application/dns-message`
//! fails the attempt (counted as `reason="http"`), as a broken connection
//! does; the group then tries the next upstream.

use std::sync::Arc;

use http::header::{ACCEPT, CONTENT_TYPE};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{HttpError, UpstreamError};
use sekisho_wire::HEADER_LEN;

/// The media type of a DNS message in a body (RFC 8484 section 6).
const DNS_MESSAGE: &str = "application/dns-message";

/// Largest answer body read: a DNS message is at most 65535 octets.
const MAX_ANSWER: usize = 65_535;

/// One open HTTP/2 connection to a DoH upstream.
#[derive(Debug)]
pub(crate) struct HttpsConn {
    /// Opens streams on the connection; clones share it.
    send: SendRequest<Full<Bytes>>,
    /// The URL every query is POSTed to.
    uri: Uri,
}

impl HttpsConn {
    /// TLS over `tcp` (ALPN must settle on h2), then the HTTP/2 handshake;
    /// the connection's I/O runs in a task of its own until it closes.
    pub(crate) async fn connect(
        tcp: TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        uri: Uri,
    ) -> Result<HttpsConn, UpstreamError> {
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(UpstreamError::Tls)?;
        // RFC 8484 section 5.2: HTTP/2 is the minimum recommended version;
        // we offer nothing else, so a server that did not pick h2 is not one.
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(UpstreamError::Http(HttpError::NoH2));
        }
        HttpsConn::handshake(tls, uri).await
    }

    /// The HTTP/2 handshake on an established (TLS) stream; the
    /// connection's I/O runs in a task of its own until it closes.
    pub(crate) async fn handshake<S>(stream: S, uri: Uri) -> Result<HttpsConn, UpstreamError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(|e| UpstreamError::Http(HttpError::Protocol(e)))?;
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%error, "DoH upstream connection ended");
            }
        });
        Ok(HttpsConn { send, uri })
    }

    /// False once the connection has failed or the server closed it.
    pub(crate) fn is_alive(&self) -> bool {
        !self.send.is_closed()
    }

    /// POST `query` with ID 0 and return the answer with `query`'s ID. The
    /// caller bounds the wait with a timeout and checks the question.
    pub(crate) async fn exchange(&self, query: &[u8]) -> Result<Vec<u8>, UpstreamError> {
        if query.len() < HEADER_LEN {
            return Err(UpstreamError::BadResponse);
        }
        let mut body = query.to_vec();
        body[0..2].copy_from_slice(&[0, 0]);
        let request = Request::post(self.uri.clone())
            .header(CONTENT_TYPE, DNS_MESSAGE)
            .header(ACCEPT, DNS_MESSAGE)
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| UpstreamError::BadResponse)?;
        let mut send = self.send.clone();
        send.ready().await.map_err(hyper_error)?;
        let response = send.send_request(request).await.map_err(hyper_error)?;
        if response.status() != StatusCode::OK {
            return Err(UpstreamError::Http(HttpError::Status {
                status: response.status().as_u16(),
            }));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if !is_dns_message(&content_type) {
            return Err(UpstreamError::Http(HttpError::ContentType { content_type }));
        }
        let body = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|_| UpstreamError::BadResponse)?
            .to_bytes();
        if body.len() < HEADER_LEN {
            return Err(UpstreamError::BadResponse);
        }
        let mut answer = body.to_vec();
        answer[0..2].copy_from_slice(&query[0..2]);
        Ok(answer)
    }
}

/// A failed request: a closed connection is [`UpstreamError::Closed`] (the
/// caller reconnects once), anything else an HTTP failure.
fn hyper_error(e: hyper::Error) -> UpstreamError {
    if e.is_closed() || e.is_canceled() {
        UpstreamError::Closed
    } else {
        UpstreamError::Http(HttpError::Protocol(e))
    }
}

/// True for `application/dns-message`, parameters and letter case aside
/// (media types are case-insensitive, RFC 9110 section 8.3.1).
fn is_dns_message(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case(DNS_MESSAGE)
}

/// The URL of a DoH upstream: `https://` plus the TLS name (the HTTP
/// `:authority`, so a server that serves several names picks the right one)
/// with the port when it is not 443, plus the path.
pub fn doh_uri(name: &ServerName<'_>, port: u16, path: &str) -> Result<Uri, http::Error> {
    let host = match name {
        ServerName::DnsName(n) => n.as_ref().to_owned(),
        ServerName::IpAddress(ip) => match std::net::IpAddr::from(*ip) {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        },
        _ => String::new(),
    };
    let authority = if port == 443 {
        host
    } else {
        format!("{host}:{port}")
    };
    Uri::builder()
        .scheme("https")
        .authority(authority)
        .path_and_query(path)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_media_type_is_matched_without_parameters_or_case() {
        assert!(is_dns_message("application/dns-message"));
        assert!(is_dns_message("Application/DNS-Message; charset=binary"));
        assert!(!is_dns_message("application/dns-json"));
        assert!(!is_dns_message("text/html"));
        assert!(!is_dns_message(""));
    }

    #[test]
    fn the_url_carries_the_tls_name_and_a_port_other_than_443() {
        let name = ServerName::try_from("dns.example.net").unwrap();
        assert_eq!(
            doh_uri(&name, 443, "/dns-query").unwrap().to_string(),
            "https://dns.example.net/dns-query"
        );
        assert_eq!(
            doh_uri(&name, 8443, "/q").unwrap().to_string(),
            "https://dns.example.net:8443/q"
        );
        let ip = ServerName::IpAddress("2001:db8::1".parse::<std::net::IpAddr>().unwrap().into());
        assert_eq!(
            doh_uri(&ip, 443, "/dns-query").unwrap().to_string(),
            "https://[2001:db8::1]/dns-query"
        );
    }

    /// What the test server saw of one request.
    #[derive(Debug, Clone)]
    struct Seen {
        /// The method.
        method: String,
        /// The URL path.
        path: String,
        /// The request's content type.
        content_type: String,
        /// The body (the DNS query as sent).
        body: Vec<u8>,
    }

    /// An HTTP/2 server on one end of an in-memory pipe answering every
    /// request with `status`, `content_type` and the query echoed back as a
    /// response (QR set); the client end connected as an [`HttpsConn`].
    async fn served(
        status: u16,
        answer_type: &'static str,
    ) -> (HttpsConn, Arc<std::sync::Mutex<Vec<Seen>>>) {
        use http::Response;
        use hyper::body::Incoming;
        use hyper::service::service_fn;

        let (client, server) = tokio::io::duplex(64 * 1024);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let service = service_fn(move |req: Request<Incoming>| {
            let log = log.clone();
            async move {
                let method = req.method().to_string();
                let path = req.uri().path().to_owned();
                let content_type = req
                    .headers()
                    .get(CONTENT_TYPE)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default();
                let body = req.into_body().collect().await?.to_bytes().to_vec();
                let mut answer = body.clone();
                answer[2] |= 0x80;
                log.lock().unwrap().push(Seen {
                    method,
                    path,
                    content_type,
                    body,
                });
                Ok::<_, hyper::Error>(
                    Response::builder()
                        .status(status)
                        .header(CONTENT_TYPE, answer_type)
                        .body(Full::new(Bytes::from(answer)))
                        .unwrap(),
                )
            }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(server), service)
                .await;
        });
        let uri: Uri = "https://dns.example.net/dns-query".parse().unwrap();
        (HttpsConn::handshake(client, uri).await.unwrap(), seen)
    }

    /// A query for `www.example.` A with `id`.
    fn query(id: u16) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        q.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        q
    }

    #[tokio::test]
    async fn queries_are_posted_with_id_zero_and_answers_get_the_id_back() {
        let (conn, seen) = served(200, "application/dns-message").await;
        for id in [0x1234, 0xbeef] {
            let answer = conn.exchange(&query(id)).await.unwrap();
            assert_eq!(&answer[0..2], &id.to_be_bytes(), "the query's ID restored");
            assert!(crate::matches_query(&answer, &query(id)));
        }
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "both on the one connection");
        for s in seen {
            assert_eq!(s.method, "POST");
            assert_eq!(s.path, "/dns-query");
            assert_eq!(s.content_type, DNS_MESSAGE);
            assert_eq!(
                &s.body[0..2],
                &[0, 0],
                "RFC 8484 section 4.1: ID 0 on the wire"
            );
            assert_eq!(&s.body[2..], &query(0)[2..]);
        }
        assert!(conn.is_alive());
    }

    #[tokio::test]
    async fn a_status_other_than_200_fails_the_attempt_as_an_http_error() {
        let (conn, _) = served(503, "application/dns-message").await;
        let err = conn.exchange(&query(7)).await.unwrap_err();
        assert!(
            matches!(err, UpstreamError::Http(HttpError::Status { status: 503 })),
            "{err:?}"
        );
        assert_eq!(err.as_label(), "http");
    }

    #[tokio::test]
    async fn an_answer_of_another_media_type_fails_the_attempt_as_an_http_error() {
        let (conn, _) = served(200, "text/html").await;
        let err = conn.exchange(&query(7)).await.unwrap_err();
        assert!(
            matches!(&err, UpstreamError::Http(HttpError::ContentType { content_type }) if content_type == "text/html"),
            "{err:?}"
        );
        assert_eq!(err.as_label(), "http");
    }

    #[tokio::test]
    async fn a_closed_connection_is_reported_closed_so_the_owner_reconnects() {
        let (client, server) = tokio::io::duplex(1024);
        drop(server);
        let uri: Uri = "https://dns.example.net/dns-query".parse().unwrap();
        // Either the handshake or the first request sees the closed pipe.
        if let Ok(conn) = HttpsConn::handshake(client, uri).await {
            let err = conn.exchange(&query(1)).await.unwrap_err();
            assert!(
                matches!(err, UpstreamError::Closed | UpstreamError::Http(_)),
                "{err:?}"
            );
            assert!(!conn.is_alive());
        }
    }

    #[test]
    fn a_bad_path_is_an_error_not_a_panic() {
        let name = ServerName::try_from("dns.example.net").unwrap();
        assert!(doh_uri(&name, 443, "no slash").is_err());
    }
}
