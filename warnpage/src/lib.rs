//! The warning page: where clients sent to the policy's local data land.
//!
//! ```text
//!  browser ─TCP─▶ accept (≤ MAX_CONNECTIONS) ─▶ read head (≤ 8 KiB, ≤ 10 s)
//!          ─▶ parse_head (sans-I/O) ─▶ respond (sans-I/O): page │ 307/303 │ 400
//!          ─▶ write, close (draining a request body briefly so the client sees the answer)
//! ```
//!
//! A blocked name answers the warning server's address, so the browser asks
//! it for whatever URL the user typed: any Host, any path, any method. Every
//! well-formed request gets the same answer:
//!
//! - page mode: `403 Forbidden` with the operator's HTML file or the built-in
//!   page (Japanese and English, no external resources), `Cache-Control:
//!   no-store` so the real site is not shadowed by a cached copy once the
//!   block is lifted. 403 rather than 200 tells scripts and crawlers the
//!   content is not the site's; browsers show the body all the same.
//! - redirect mode: `307 Temporary Redirect` to the canonical warning URL for
//!   GET and HEAD; other methods (a form posted to a blocked site) get `303
//!   See Other`, which makes the browser fetch the warning URL with GET
//!   instead of re-posting the form there ([RFC 9110 section 15.4.4](https://www.rfc-editor.org/rfc/rfc9110#section-15.4.4)).
//! - HEAD gets the same head without the body.
//!
//! Only a request that is not HTTP/1.x at all (garbage, an oversized head,
//! TLS sent to the plain port) gets `400`. HTTPS to a blocked name cannot be
//! answered by any warning page without a certificate for that name; those
//! clients see a connection error (nothing listens on 443 unless configured).
//!
//! Privacy: the access log has no client address unless `log-client-ip` says
//! so (`none` by default here, stricter than the resolver's `masked`), and the
//! metrics count results only — never per client or per Host.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use sekisho_conf::ClientIpLog;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tracing::{debug, info, warn};

/// Longest request head read.
pub const MAX_HEAD: usize = 8192;
/// Time a client has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed to write the answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After answering, at most this much of a request body is read and dropped, so
/// closing does not reset the connection before the client has read the page.
const DRAIN_LIMIT: usize = 1 << 20;
/// ... for at most this long.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections served at once; beyond that, accepting waits.
const MAX_CONNECTIONS: usize = 4096;
/// Largest operator page accepted.
pub const MAX_PAGE: u64 = 1 << 20;

/// Metric name of the request counter.
pub const REQUESTS_TOTAL: &str = "sekisho_warnpage_requests_total";

/// What every request is answered with.
#[derive(Debug, Clone)]
pub enum Response {
    /// The built-in bilingual page (it names the requested Host, HTML-escaped).
    DefaultPage,
    /// The operator's HTML, served as is.
    Page(Arc<[u8]>),
    /// A redirect to the canonical warning URL.
    Redirect(Arc<str>),
}

/// Result of one request, the `result` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The page was served.
    Page,
    /// A redirect was sent.
    Redirect,
    /// Not a usable HTTP/1.x request.
    BadRequest,
}

impl Outcome {
    /// Label value.
    pub fn as_label(self) -> &'static str {
        match self {
            Outcome::Page => "page",
            Outcome::Redirect => "redirect",
            Outcome::BadRequest => "bad_request",
        }
    }
}

/// Request counters, resolved once.
#[derive(Debug, Clone)]
pub struct WarnMetrics {
    /// `result="page"`.
    page: IntCounter,
    /// `result="redirect"`.
    redirect: IntCounter,
    /// `result="bad_request"`.
    bad_request: IntCounter,
}

impl WarnMetrics {
    /// Registers `sekisho_warnpage_requests_total{result}` in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let vec = IntCounterVec::new(
            Opts::new(
                REQUESTS_TOTAL,
                "Requests to the warning page server, by result (page, redirect, bad_request).",
            ),
            &["result"],
        )?;
        registry.register(Box::new(vec.clone()))?;
        Ok(Self {
            page: vec.with_label_values(&[Outcome::Page.as_label()]),
            redirect: vec.with_label_values(&[Outcome::Redirect.as_label()]),
            bad_request: vec.with_label_values(&[Outcome::BadRequest.as_label()]),
        })
    }

    /// Counts one request.
    fn count(&self, outcome: Outcome) {
        match outcome {
            Outcome::Page => self.page.inc(),
            Outcome::Redirect => self.redirect.inc(),
            Outcome::BadRequest => self.bad_request.inc(),
        }
    }
}

/// Everything the server needs.
#[derive(Debug, Clone)]
pub struct WarnConfig {
    /// What to answer.
    pub response: Response,
    /// How client addresses appear in the access log.
    pub log_client_ip: ClientIpLog,
    /// Counters.
    pub metrics: WarnMetrics,
}

/// The parts of a request head the answer depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// Method token (`GET`, `HEAD`, `POST`...).
    pub method: &'a str,
    /// The Host header without its port, if present and plausible.
    pub host: Option<&'a str>,
}

/// Why a head is not a usable request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadRequest {
    /// No complete head within [`MAX_HEAD`] octets.
    #[error("request head too large")]
    TooLarge,
    /// The request line is not `METHOD TARGET HTTP/1.x`.
    #[error("malformed request line")]
    RequestLine,
    /// A TLS ClientHello on the plain-HTTP port.
    #[error("TLS handshake on the plain-HTTP port")]
    Tls,
}

/// Position just past the blank line ending the head in `buf`, if complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    // RFC 9112 section 2.2 lets a recipient accept a bare LF as a line terminator.
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Parses a complete request head ([RFC 9112 section 3](https://www.rfc-editor.org/rfc/rfc9112#section-3)).
/// Lenient where browsers differ, strict only about the request line.
pub fn parse_head(head: &[u8]) -> Result<RequestHead<'_>, BadRequest> {
    // Handshake record (22), TLS major version 3 (RFC 8446 section 5.1).
    if head.starts_with(&[0x16, 0x03]) {
        return Err(BadRequest::Tls);
    }
    let text = std::str::from_utf8(head).map_err(|_| BadRequest::RequestLine)?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().ok_or(BadRequest::RequestLine)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BadRequest::RequestLine);
    };
    // RFC 9110 section 9.1: a method is a token; section 5.6.2: tchar.
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !token(method) || target.is_empty() || !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return Err(BadRequest::RequestLine);
    }
    let host = lines
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("host")
                .then(|| value.trim())
        })
        .map(strip_port)
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 253
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b))
        });
    Ok(RequestHead { method, host })
}

/// `host:port` → `host`; `[v6]:port` → `[v6]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The whole answer to `request` (head and, unless HEAD, body) and its outcome.
pub fn respond(
    response: &Response,
    request: Result<&RequestHead<'_>, BadRequest>,
) -> (Vec<u8>, Outcome) {
    let req = match request {
        Ok(r) => r,
        // Nothing HTTP would help a TLS client: close at once, so a browser
        // trying https:// first (Chrome's HTTPS-Upgrades) falls back to http://
        // without waiting.
        Err(BadRequest::Tls) => return (Vec::new(), Outcome::BadRequest),
        Err(e) => {
            let body = format!("{e}\n");
            return (
                message(
                    "400 Bad Request",
                    "text/plain; charset=utf-8",
                    &[],
                    body.as_bytes(),
                    false,
                ),
                Outcome::BadRequest,
            );
        }
    };
    let head_only = req.method == "HEAD";
    match response {
        Response::Redirect(url) => {
            let status = if matches!(req.method, "GET" | "HEAD") {
                "307 Temporary Redirect"
            } else {
                "303 See Other"
            };
            let body = format!(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Blocked</title></head><body><p><a href=\"{0}\">{0}</a></p></body></html>\n",
                html_escape(url)
            );
            (
                message(
                    status,
                    "text/html; charset=utf-8",
                    &[("Location", url)],
                    body.as_bytes(),
                    head_only,
                ),
                Outcome::Redirect,
            )
        }
        Response::Page(page) => (
            message(
                "403 Forbidden",
                "text/html; charset=utf-8",
                &[],
                page,
                head_only,
            ),
            Outcome::Page,
        ),
        Response::DefaultPage => {
            let body = default_page(req.host);
            (
                message(
                    "403 Forbidden",
                    "text/html; charset=utf-8",
                    // The built-in page loads nothing from anywhere.
                    &[(
                        "Content-Security-Policy",
                        "default-src 'none'; style-src 'unsafe-inline'",
                    )],
                    body.as_bytes(),
                    head_only,
                ),
                Outcome::Page,
            )
        }
    }
}

/// An HTTP/1.1 message that closes the connection.
fn message(
    status: &str,
    content_type: &str,
    extra: &[(&str, &str)],
    body: &[u8],
    head_only: bool,
) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in extra {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// Escapes text for HTML content and attribute values.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The built-in page; `host` (already restricted to name characters) is shown escaped.
fn default_page(host: Option<&str>) -> String {
    let site = host.map(html_escape);
    let (ja_site, en_site) = match &site {
        Some(h) => (
            format!("<p class=\"host\">{h}</p>"),
            format!("<p class=\"host\">{h}</p>"),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>アクセスが制限されています / Access blocked</title>
<style>
body {{ font-family: sans-serif; background: #f4f4f4; color: #222; margin: 0; }}
main {{ max-width: 44em; margin: 3em auto; background: #fff; border-top: 6px solid #c0392b; padding: 1.5em 2em; }}
h1 {{ font-size: 1.4em; color: #c0392b; }}
h2 {{ font-size: 1.2em; color: #c0392b; margin-top: 2em; }}
.host {{ font-family: monospace; font-size: 1.1em; background: #f4f4f4; padding: .3em .6em; word-break: break-all; }}
p {{ line-height: 1.6; }}
</style>
</head>
<body>
<main>
<h1>このサイトへのアクセスは制限されています</h1>
{ja_site}
<p>お使いのインターネット接続事業者は、このサイトをブロッキングの対象としています。このサイトは、児童の性的虐待を記録した画像、マルウェア、フィッシングなど、利用者に害を及ぼす内容を掲載しているとしてリストに登録されています。</p>
<p>ブロッキングが誤っているとお考えの場合は、ご契約のインターネット接続事業者にお問い合わせください。</p>
<h2 lang="en">Access to this site is blocked</h2>
<div lang="en">
{en_site}
<p>Your Internet service provider blocks this site. It is on a blocking list of sites that carry content harmful to users, such as images of child sexual abuse, malware or phishing.</p>
<p>If you believe this is a mistake, please contact your Internet service provider.</p>
</div>
</main>
</body>
</html>
"#
    )
}

/// A client address as the access log shows it.
fn client_label(mode: ClientIpLog, ip: IpAddr) -> String {
    match mode {
        ClientIpLog::None => "-".into(),
        ClientIpLog::Full => ip.to_string(),
        ClientIpLog::Masked => match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                format!("{}.{}.{}.0/24", o[0], o[1], o[2])
            }
            IpAddr::V6(v6) => {
                let mut s = v6.segments();
                s[3] &= 0xff00;
                for x in &mut s[4..] {
                    *x = 0;
                }
                format!("{}/56", std::net::Ipv6Addr::from(s))
            }
        },
    }
}

/// Binds a listening socket; IPv6 sockets are IPv6-only, so `[::]:80` and
/// `0.0.0.0:80` can both be listed.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Serves the warning page on every listener until `stop` turns true.
pub async fn serve(listeners: Vec<TcpListener>, config: WarnConfig, stop: watch::Receiver<bool>) {
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        tasks.spawn(accept_loop(
            listener,
            config.clone(),
            slots.clone(),
            stop.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
}

/// Accepts on one listener, one task per connection.
async fn accept_loop(
    listener: TcpListener,
    config: Arc<WarnConfig>,
    slots: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(%error, "warning page accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let config = config.clone();
        tokio::spawn(async move {
            handle(stream, peer, &config).await;
            drop(permit);
        });
    }
}

/// One connection: one request, one answer, close.
async fn handle(mut stream: TcpStream, peer: SocketAddr, config: &WarnConfig) {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut n = 0;
    let read = tokio::time::timeout(HEAD_TIMEOUT, async {
        loop {
            if let Some(end) = head_end(&buf[..n]) {
                return Ok(Some(end));
            }
            // A TLS ClientHello (or other binary) never ends a head: answer now.
            if n > 0 && !buf[0].is_ascii_alphabetic() {
                return Ok(Some(n));
            }
            if n == buf.len() {
                return Ok(None);
            }
            let k = stream.read(&mut buf[n..]).await?;
            if k == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            n += k;
        }
    })
    .await;
    let parsed = match read {
        Ok(Ok(Some(end))) => parse_head(&buf[..end]),
        Ok(Ok(None)) => Err(BadRequest::TooLarge),
        // A client that sent nothing useful in time, or went away: nothing to answer.
        Ok(Err(_)) | Err(_) => {
            debug!("warning page client closed or timed out before a request");
            return;
        }
    };
    let (answer, outcome) = respond(&config.response, parsed.as_ref().map_err(|e| *e));
    config.metrics.count(outcome);
    let client = client_label(config.log_client_ip, peer.ip());
    match &parsed {
        Ok(req) => info!(
            target: "warnpage",
            client = %client,
            method = %req.method,
            host = %req.host.unwrap_or("-"),
            result = %outcome.as_label(),
            "warning page request"
        ),
        Err(error) => info!(
            target: "warnpage",
            client = %client,
            %error,
            result = %outcome.as_label(),
            "warning page request"
        ),
    }
    let write = async {
        if answer.is_empty() {
            return Ok(());
        }
        stream.write_all(&answer).await?;
        stream.flush().await?;
        stream.shutdown().await
    };
    if tokio::time::timeout(WRITE_TIMEOUT, write).await.is_err() {
        return;
    }
    // Read and drop what the client still sends (a POST body), so closing does
    // not send a RST that could discard the answer before the browser read it.
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        let mut sink = [0u8; 4096];
        let mut total = 0;
        while total < DRAIN_LIMIT {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(k) => total += k,
            }
        }
    })
    .await;
}

/// Usage text of `sekisho warn-page`.
pub const USAGE: &str =
    "usage: sekisho warn-page --listen ADDR [--listen ADDR ...] [--redirect URL | --page FILE] \
[--metrics ADDR] [--log-client-ip none|masked|full]
  ADDR is ip:port, [v6]:port or ip@port; port 0 picks a free port (logged)";

/// A parsed `sekisho warn-page` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarnArgs {
    /// `--listen`, at least one.
    pub listen: Vec<SocketAddr>,
    /// `--redirect`.
    pub redirect: Option<String>,
    /// `--page`.
    pub page: Option<std::path::PathBuf>,
    /// `--metrics`.
    pub metrics: Option<SocketAddr>,
    /// `--log-client-ip` (default `none`).
    pub log_client_ip: ClientIpLog,
}

/// Parses an address as `ip:port`, `[v6]:port` or Unbound's `ip@port`.
fn parse_addr(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse() {
        return Some(a);
    }
    let (ip, port) = s.split_once('@')?;
    Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))
}

/// Parses the arguments after `warn-page`.
pub fn parse_args(args: &[String]) -> Result<WarnArgs, String> {
    let mut out = WarnArgs {
        listen: Vec::new(),
        redirect: None,
        page: None,
        metrics: None,
        log_client_ip: ClientIpLog::None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let v = inline
            .or_else(|| it.next().cloned())
            .ok_or_else(|| format!("{flag} needs a value"))?;
        match flag {
            "--listen" => out.listen.push(
                parse_addr(&v)
                    .ok_or_else(|| format!("--listen {v:?}: not ip:port, [v6]:port or ip@port"))?,
            ),
            "--metrics" => {
                out.metrics =
                    Some(parse_addr(&v).ok_or_else(|| format!("--metrics {v:?}: not ip:port"))?);
            }
            "--redirect" => {
                // The URL goes into a header verbatim: no line breaks or blanks.
                let ok = (v.starts_with("http://") || v.starts_with("https://"))
                    && v.bytes().all(|b| b.is_ascii_graphic());
                if !ok {
                    return Err(format!(
                        "--redirect {v:?}: expected an http:// or https:// URL without blanks"
                    ));
                }
                out.redirect = Some(v);
            }
            "--page" => out.page = Some(v.into()),
            "--log-client-ip" => {
                out.log_client_ip = v
                    .parse()
                    .map_err(|_| format!("--log-client-ip {v:?}: expected none, masked or full"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if out.listen.is_empty() {
        return Err("at least one --listen ADDR is required".into());
    }
    if out.redirect.is_some() && out.page.is_some() {
        return Err("--redirect and --page exclude each other".into());
    }
    Ok(out)
}

/// Reads the operator's page, refusing files over [`MAX_PAGE`].
fn read_page(path: &std::path::Path) -> Result<Arc<[u8]>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("--page {}: {e}", path.display()))?;
    if meta.len() > MAX_PAGE {
        return Err(format!(
            "--page {}: larger than {MAX_PAGE} octets",
            path.display()
        ));
    }
    std::fs::read(path)
        .map(Arc::from)
        .map_err(|e| format!("--page {}: {e}", path.display()))
}

/// Runs `sekisho warn-page ARGS` until SIGTERM or SIGINT. Exit codes: 0 clean
/// stop, 2 usage error, 3 start-up failure (cannot bind, cannot read the page).
pub fn command(args: &[String]) -> std::process::ExitCode {
    use std::process::ExitCode;
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let opts = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("sekisho warn-page: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get().min(4)))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sekisho warn-page: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sekisho warn-page: {e}");
            ExitCode::from(3)
        }
    }
}

/// The standalone server: binds, serves, stops on SIGTERM/SIGINT.
async fn run(opts: WarnArgs) -> Result<(), String> {
    let response = match (&opts.redirect, &opts.page) {
        (Some(url), _) => Response::Redirect(url.as_str().into()),
        (None, Some(path)) => Response::Page(read_page(path)?),
        (None, None) => Response::DefaultPage,
    };
    let registry = Registry::new();
    let metrics = WarnMetrics::register(&registry).map_err(|e| format!("metrics: {e}"))?;
    let mut listeners = Vec::new();
    for addr in &opts.listen {
        let l = bind(*addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let local = l.local_addr().map_err(|e| format!("{addr}: {e}"))?;
        info!(addr = %local, "warning page listening");
        listeners.push(l);
    }
    let (stop_tx, stop) = watch::channel(false);
    if let Some(addr) = opts.metrics {
        let l = bind(addr).map_err(|e| format!("cannot listen on {addr} for metrics: {e}"))?;
        let local = l.local_addr().map_err(|e| format!("{addr}: {e}"))?;
        info!(addr = %local, "warning page metrics listening");
        let registry = registry.clone();
        let render: sekisho_http::Render = Arc::new(move || {
            let mut out = Vec::new();
            if prometheus::Encoder::encode(
                &prometheus::TextEncoder::new(),
                &registry.gather(),
                &mut out,
            )
            .is_err()
            {
                out.clear();
            }
            out
        });
        tokio::spawn(sekisho_http::serve_metrics(l, render, stop.clone()));
    }
    let config = WarnConfig {
        response,
        log_client_ip: opts.log_client_ip,
        metrics,
    };
    let server = tokio::spawn(serve(listeners, config, stop));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("signals: {e}"))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    info!("warning page stopping");
    let _ = stop_tx.send(true);
    let _ = server.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer to `raw` as text.
    fn answer(response: &Response, raw: &str) -> (String, Outcome) {
        let end = head_end(raw.as_bytes()).expect("complete head");
        let parsed = parse_head(&raw.as_bytes()[..end]);
        let (bytes, outcome) = respond(response, parsed.as_ref().map_err(|e| *e));
        (String::from_utf8(bytes).expect("utf-8"), outcome)
    }

    #[test]
    fn any_host_and_path_gets_the_built_in_page_naming_the_host() {
        let (text, outcome) = answer(
            &Response::DefaultPage,
            "GET /a/b?c=d HTTP/1.1\r\nHost: Blocked.Example1.JP:8080\r\nUser-Agent: x\r\n\r\n",
        );
        assert_eq!(outcome, Outcome::Page);
        assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        assert!(text.contains("Cache-Control: no-store\r\n"));
        assert!(text.contains("<p class=\"host\">Blocked.Example1.JP</p>"));
        assert!(text.contains("このサイトへのアクセスは制限されています"));
        assert!(text.contains("Access to this site is blocked"));
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "no external resources"
        );
    }

    #[test]
    fn head_gets_the_head_only_with_the_full_length() {
        let (get, _) = answer(&Response::DefaultPage, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        let (head, _) = answer(&Response::DefaultPage, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
        let (get_head, body) = get.split_once("\r\n\r\n").expect("head");
        assert_eq!(head, format!("{get_head}\r\n\r\n"));
        assert!(get_head.contains(&format!("Content-Length: {}\r\n", body.len())));
    }

    #[test]
    fn redirects_are_307_for_get_and_303_for_a_posted_form() {
        let r = Response::Redirect("https://warn.example/blocked".into());
        let (get, o) = answer(&r, "GET /x HTTP/1.0\n\n");
        assert_eq!(o, Outcome::Redirect);
        assert!(get.starts_with("HTTP/1.1 307 Temporary Redirect\r\n"));
        assert!(get.contains("Location: https://warn.example/blocked\r\n"));
        let (post, _) = answer(
            &r,
            "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
        );
        assert!(post.starts_with("HTTP/1.1 303 See Other\r\n"));
    }

    #[test]
    fn hostile_hosts_are_not_echoed_and_garbage_is_a_bad_request() {
        let (text, _) = answer(
            &Response::DefaultPage,
            "GET / HTTP/1.1\r\nHost: <script>alert(1)</script>\r\n\r\n",
        );
        assert!(!text.contains("<script>"));
        assert!(!text.contains("class=\"host\""));
        let (tls, o) = answer(&Response::DefaultPage, "\x16\x03\x01 hello\r\n\r\n");
        assert_eq!(
            (tls.as_str(), o),
            ("", Outcome::BadRequest),
            "a TLS client is closed on"
        );
        for bad in [
            "\x01junk\r\n\r\n",
            "GET /\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
        ] {
            let (text, o) = answer(&Response::DefaultPage, bad);
            assert_eq!(o, Outcome::BadRequest, "{bad:?}");
            assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        }
    }

    #[test]
    fn ports_are_stripped_from_hosts_of_both_families() {
        assert_eq!(strip_port("a.example:80"), "a.example");
        assert_eq!(strip_port("[2001:db8::1]:80"), "[2001:db8::1]");
        assert_eq!(strip_port("a.example"), "a.example");
    }

    #[test]
    fn client_addresses_are_logged_only_as_configured() {
        let v4: IpAddr = "198.51.100.7".parse().expect("ip");
        let v6: IpAddr = "2001:db8:1:2345:6::7".parse().expect("ip");
        assert_eq!(client_label(ClientIpLog::None, v4), "-");
        assert_eq!(client_label(ClientIpLog::Masked, v4), "198.51.100.0/24");
        assert_eq!(
            client_label(ClientIpLog::Masked, v6),
            "2001:db8:1:2300::/56"
        );
        assert_eq!(client_label(ClientIpLog::Full, v4), "198.51.100.7");
    }

    #[test]
    fn the_counter_has_help_and_bounded_labels() {
        let registry = Registry::new();
        let m = WarnMetrics::register(&registry).expect("register");
        m.count(Outcome::Page);
        m.count(Outcome::BadRequest);
        let mut out = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &registry.gather(),
            &mut out,
        )
        .expect("encode");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("# HELP sekisho_warnpage_requests_total "));
        assert!(text.contains("sekisho_warnpage_requests_total{result=\"page\"} 1"));
        assert!(text.contains("sekisho_warnpage_requests_total{result=\"redirect\"} 0"));
    }
}
