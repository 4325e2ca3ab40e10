//! The warning page (`sekisho warn-page`): where clients sent to the policy's
//! local data land.
//!
//! ```text
//!  browser ─TCP─▶ sekisho-http (hyper: HTTP/1.1 keep-alive or HTTP/2; connection cap,
//!                 header and idle timeouts, pause after accept errors)
//!          ─▶ route(Host)  ─▶ Blocked (page, 403) │ WarningHost (page, 200) │ Redirect (307/303)
//!          ─▶ respond      ─▶ count result, access log line
//! ```
//!
//! A blocked name answers the warning server's address, so the browser asks
//! it for whatever URL the user typed: any Host, any path, any method. What
//! it gets depends on the flags ([`route`] decides, from the Host alone):
//!
//! | flags | Host = the URL's host | any other Host (or none) |
//! |---|---|---|
//! | `--page FILE` | — | the file, 403 |
//! | `--redirect URL` | built-in page, 200 (never a redirect to itself) | 307/303 to URL |
//! | `--page FILE --redirect URL` | the file, 200 | 307/303 to URL |
//! | neither | — | built-in page naming the Host, 403 |
//!
//! `--page` with `--redirect` is the Japanese ISP guideline's layout: one web
//! server, two virtual hosts, the redirect for every blocked name and the page
//! on the warning URL's host. See [`page`] for the status codes and headers.
//!
//! HTTP parsing, keep-alive and HTTP/2 are hyper's (through [`sekisho_http`]);
//! a request that is not HTTP at all (garbage, an oversized head, TLS sent to
//! the plain port) gets hyper's `400`/`431` and is counted as `bad_request`.
//! HTTPS to a blocked name cannot be answered by any warning page without a
//! certificate for that name; browsers that try `https://` first fall back
//! to `http://` on the protocol error.
//!
//! Privacy: the access log has no client address unless `--log-client-ip`
//! says so (`none` by default here, stricter than the resolver's `masked`),
//! and the metrics count results only, never per client or per Host.

mod args;
pub mod page;
pub mod route;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::HOST;
use hyper::{Request, Response};
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use sekisho_conf::ClientIpLog;
use sekisho_http::{Body, Handler, ServerConfig, ServerStats};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

pub use args::{WarnArgs, WarnError, DEFAULT_MAX_CONNECTIONS};
pub use page::{respond, Outcome};
pub use route::{host_part, route, HostKey, RedirectUrl, Route, Routes};

/// Largest operator page accepted.
pub const MAX_PAGE: u64 = 1 << 20;

/// Metric name of the request counter.
pub const REQUESTS_TOTAL: &str = "sekisho_warnpage_requests_total";
/// Metric name of the refused-connection counter.
pub const REFUSED_TOTAL: &str = "sekisho_warnpage_connections_refused_total";
/// Metric name of the open-connection gauge.
pub const OPEN_CONNECTIONS: &str = "sekisho_warnpage_connections_open";

/// The warning page's counters, resolved once.
#[derive(Debug, Clone)]
pub struct WarnMetrics {
    /// `result="page"`.
    page: IntCounter,
    /// `result="redirect"`.
    redirect: IntCounter,
    /// `result="bad_request"`.
    bad_request: IntCounter,
    /// Connections closed at once at the cap.
    refused: IntCounter,
    /// Connections open.
    open: IntGauge,
}

impl WarnMetrics {
    /// Registers the warning page's metrics in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let vec = IntCounterVec::new(
            Opts::new(
                REQUESTS_TOTAL,
                "Requests to the warning page server, by result (page, redirect, bad_request).",
            ),
            &["result"],
        )?;
        registry.register(Box::new(vec.clone()))?;
        let refused = IntCounter::new(
            REFUSED_TOTAL,
            "Connections to the warning page closed at once because --max-connections were open.",
        )?;
        registry.register(Box::new(refused.clone()))?;
        let open = IntGauge::new(
            OPEN_CONNECTIONS,
            "Connections to the warning page open now.",
        )?;
        registry.register(Box::new(open.clone()))?;
        Ok(Self {
            page: vec.with_label_values(&[Outcome::Page.as_label()]),
            redirect: vec.with_label_values(&[Outcome::Redirect.as_label()]),
            bad_request: vec.with_label_values(&[Outcome::BadRequest.as_label()]),
            refused,
            open,
        })
    }

    /// Counts one request.
    pub fn count(&self, outcome: Outcome) {
        match outcome {
            Outcome::Page => self.page.inc(),
            Outcome::Redirect => self.redirect.inc(),
            Outcome::BadRequest => self.bad_request.inc(),
        }
    }

    /// Copies the server's connection counters (at scrape time).
    pub fn sync(&self, stats: &ServerStats) {
        self.refused
            .inc_by(stats.refused().saturating_sub(self.refused.get()));
        self.open
            .set(i64::try_from(stats.open()).unwrap_or(i64::MAX));
    }
}

/// Answers every request of the warning page server.
#[derive(Debug, Clone)]
pub struct WarnHandler {
    /// What to answer.
    pub routes: Routes,
    /// How client addresses appear in the access log.
    pub log_client_ip: ClientIpLog,
    /// Counters.
    pub metrics: WarnMetrics,
}

/// The host a request is for: the URI's authority (HTTP/2, absolute-form
/// targets) or else the Host header.
fn request_host(req: &Request<Incoming>) -> Option<&str> {
    req.uri()
        .host()
        .or_else(|| req.headers().get(HOST)?.to_str().ok())
}

impl Handler for WarnHandler {
    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let host = request_host(&req);
        let (response, outcome) =
            respond(route(host, &self.routes), req.method(), host, &self.routes);
        self.metrics.count(outcome);
        info!(
            target: "warnpage",
            client = %client_label(self.log_client_ip, peer.ip()),
            method = %req.method(),
            host = %host.and_then(host_part).unwrap_or("-"),
            result = %outcome.as_label(),
            "warning page request"
        );
        response
    }

    fn malformed(&self, peer: SocketAddr, error: &hyper::Error) {
        self.metrics.count(Outcome::BadRequest);
        info!(
            target: "warnpage",
            client = %client_label(self.log_client_ip, peer.ip()),
            %error,
            result = %Outcome::BadRequest.as_label(),
            "warning page request"
        );
    }
}

/// A client address as the access log shows it.
fn client_label(mode: ClientIpLog, ip: IpAddr) -> String {
    match mode {
        // `--log-client-ip keyed-hash` is refused when the arguments are read.
        ClientIpLog::None | ClientIpLog::KeyedHash => "-".into(),
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

/// Reads the operator's page, refusing files over [`MAX_PAGE`].
fn read_page(path: &std::path::Path) -> Result<Arc<[u8]>, WarnError> {
    let err = |source| WarnError::Page {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(err)?;
    if meta.len() > MAX_PAGE {
        return Err(WarnError::PageTooLarge {
            path: path.to_owned(),
            limit: MAX_PAGE,
        });
    }
    std::fs::read(path).map(Arc::from).map_err(err)
}

/// Binds `addr`, logging the address actually bound (port 0 picks one).
fn listen(addr: SocketAddr, metrics: bool) -> Result<TcpListener, WarnError> {
    let bound = bind(addr)
        .and_then(|l| Ok((l.local_addr()?, l)))
        .map_err(|source| WarnError::Bind {
            addr,
            metrics,
            source,
        })?;
    if metrics {
        info!(addr = %bound.0, "warning page metrics listening");
    } else {
        info!(addr = %bound.0, "warning page listening");
    }
    Ok(bound.1)
}

/// Serves the warning page as `args` say until `stop` turns true (or its
/// sender is dropped); in-flight requests finish within a few seconds.
pub async fn run_until(args: WarnArgs, stop: watch::Receiver<bool>) -> Result<(), WarnError> {
    args.validate()?;
    let routes = Routes {
        page: args.page.as_deref().map(read_page).transpose()?,
        redirect: args.redirect.clone(),
    };
    let registry = Registry::new();
    let metrics = WarnMetrics::register(&registry)?;
    let listeners = args
        .listen
        .iter()
        .map(|a| listen(*a, false))
        .collect::<Result<Vec<_>, _>>()?;
    let stats = Arc::new(ServerStats::default());
    if let Some(addr) = args.metrics {
        let l = listen(addr, true)?;
        let (registry, metrics, stats) = (registry.clone(), metrics.clone(), stats.clone());
        let render: sekisho_http::Render = Arc::new(move || {
            metrics.sync(&stats);
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
    let mut config = ServerConfig::new("warning page");
    config.max_connections = args.max_connections;
    let handler = WarnHandler {
        routes,
        log_client_ip: args.log_client_ip,
        metrics,
    };
    sekisho_http::serve(listeners, handler, config, stats, stop).await;
    Ok(())
}

/// Serves the warning page until SIGTERM or SIGINT.
pub async fn run(args: WarnArgs) -> Result<(), WarnError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(WarnError::Runtime)?;
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        info!("warning page stopping");
        let _ = stop_tx.send(true);
    });
    run_until(args, stop).await
}

/// [`run`] on a runtime of its own (up to 4 worker threads).
pub fn run_blocking(args: WarnArgs) -> Result<(), WarnError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get().min(4)))
        .enable_all()
        .build()
        .map_err(WarnError::Runtime)?
        .block_on(run(args))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_counters_have_help_and_bounded_labels() {
        let registry = Registry::new();
        let m = WarnMetrics::register(&registry).expect("register");
        m.count(Outcome::Page);
        m.count(Outcome::BadRequest);
        m.sync(&ServerStats::default());
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
        assert!(text.contains("sekisho_warnpage_connections_refused_total 0"));
        assert!(text.contains("sekisho_warnpage_connections_open 0"));
    }

    #[test]
    fn a_missing_listen_is_a_usage_error_and_a_missing_page_is_not() {
        let mut args = WarnArgs {
            listen: Vec::new(),
            redirect: None,
            page: None,
            metrics: None,
            log_client_ip: ClientIpLog::None,
            max_connections: 8,
        };
        assert!(args.validate().is_err_and(|e| e.is_usage()));
        args.listen.push("127.0.0.1:0".parse().expect("addr"));
        args.page = Some("/nonexistent/sekisho/page.html".into());
        let e = read_page(args.page.as_deref().expect("page")).expect_err("missing");
        assert!(!e.is_usage());
        assert!(e
            .to_string()
            .starts_with("--page /nonexistent/sekisho/page.html: "));
    }
}
