//! The server loop driven through its public API: the connection cap with real
//! sockets, the accept-error pause with a scripted listener on a paused clock,
//! keep-alive, malformed requests, the idle watchdog and graceful shutdown.
//! Addresses: 127.0.61.0/24 (this file only), ports picked by the kernel.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use sekisho_http::{
    serve, serve_metrics, Accept, Body, Handler, Render, ServerConfig, ServerStats,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

/// Bound on any wait in these tests; reaching it means the behaviour is broken.
const LIMIT: Duration = Duration::from_secs(10);

/// Answers `ok <path>`; counts malformed connections; can be held.
#[derive(Default)]
struct Echo {
    /// Malformed connections reported.
    malformed: AtomicU64,
    /// When set, each request waits for `release` after signalling `entered`.
    hold: Option<(Arc<Notify>, Arc<Notify>)>,
}

impl Handler for Echo {
    async fn handle(&self, req: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        if let Some((entered, release)) = &self.hold {
            entered.notify_one();
            release.notified().await;
        }
        Response::new(Body::new(Bytes::from(format!("ok {}", req.uri().path()))))
    }

    fn malformed(&self, _peer: SocketAddr, _error: &hyper::Error) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads one HTTP/1.1 response (head and Content-Length body) from `s`;
/// `None` if the server closed first.
async fn read_response(s: &mut (impl AsyncReadExt + Unpin)) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Some(text[..end + 4 + length].to_owned());
            }
        }
        let n = tokio::time::timeout(LIMIT, s.read(&mut chunk))
            .await
            .expect("the server neither answered nor closed")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends `GET path` on `s` and reads the answer.
async fn get(s: &mut TcpStream, path: &str) -> Option<String> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return None;
    }
    read_response(s).await
}

/// Starts `serve` with `handler` on a fresh listener at `ip`.
async fn start(
    ip: &str,
    handler: Echo,
    config: ServerConfig,
) -> (
    SocketAddr,
    Arc<ServerStats>,
    watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stats = Arc::new(ServerStats::default());
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(serve(vec![listener], handler, config, stats.clone(), rx));
    (addr, stats, tx, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_at_once_and_counted() {
    let mut config = ServerConfig::new("test");
    config.max_connections = 2;
    let (addr, stats, _stop, _task) = start("127.0.61.1", Echo::default(), config).await;
    let mut a = TcpStream::connect(addr).await.expect("connect");
    let mut b = TcpStream::connect(addr).await.expect("connect");
    assert!(get(&mut a, "/a")
        .await
        .expect("a served")
        .ends_with("ok /a"));
    assert!(get(&mut b, "/b")
        .await
        .expect("b served")
        .ends_with("ok /b"));
    // The third is accepted by the kernel, then closed by the server unanswered.
    let mut c = TcpStream::connect(addr).await.expect("connect");
    assert_eq!(get(&mut c, "/c").await, None, "past the cap: closed");
    assert_eq!(stats.refused(), 1);
    // The first two keep being served on their connections (keep-alive).
    assert!(get(&mut a, "/a2")
        .await
        .expect("a again")
        .ends_with("ok /a2"));
    assert!(get(&mut b, "/b2")
        .await
        .expect("b again")
        .ends_with("ok /b2"));
    assert_eq!(stats.accepted(), 2);
    // Once one closes, a new connection is served again.
    drop(a);
    let served = tokio::time::timeout(LIMIT, async {
        loop {
            let mut d = TcpStream::connect(addr).await.expect("connect");
            if let Some(r) = get(&mut d, "/d").await {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a slot came free");
    assert!(served.ends_with("ok /d"), "{served}");
}

/// A listener that plays a script of accept results, then waits forever;
/// it also gives up (waits forever) after 1000 calls so a spinning loop
/// ends up counted instead of hanging the test.
struct Scripted {
    /// What the next calls return.
    script: Arc<Mutex<VecDeque<io::Result<DuplexStream>>>>,
    /// Calls so far.
    calls: Arc<AtomicU64>,
    /// Fail every call once the script is over.
    fail_forever: bool,
}

impl Accept for Scripted {
    type Io = DuplexStream;

    async fn accept(&mut self) -> io::Result<(DuplexStream, SocketAddr)> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        tokio::task::yield_now().await;
        let next = self.script.lock().expect("script").pop_front();
        match next {
            _ if n >= 1000 => std::future::pending().await,
            Some(r) => r.map(|s| (s, SocketAddr::from(([192, 0, 2, 1], 1)))),
            None if self.fail_forever => Err(io::Error::from_raw_os_error(24)),
            None => std::future::pending().await,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_accept_pauses_instead_of_spinning() {
    let calls = Arc::new(AtomicU64::new(0));
    let listener = Scripted {
        script: Arc::default(),
        calls: calls.clone(),
        fail_forever: true,
    };
    let stats = Arc::new(ServerStats::default());
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(serve(
        vec![listener],
        Echo::default(),
        ServerConfig::new("test"),
        stats.clone(),
        rx,
    ));
    // One second of (virtual) time: 100 + 200 + 400 ms of pauses fit, so a
    // handful of calls; a loop without a pause would make 1000 at once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let n = calls.load(Ordering::Relaxed);
    assert!((2..=6).contains(&n), "accept called {n} times in 1 s");
    assert_eq!(stats.accept_errors(), n);
    // Stop ends the loop even in the middle of a pause.
    stop.send(true).expect("stop");
    task.await.expect("serve ends");
}

#[tokio::test(start_paused = true)]
async fn after_accept_errors_the_next_connection_is_served() {
    let (client, server) = tokio::io::duplex(4096);
    let script: VecDeque<io::Result<DuplexStream>> = (0..3)
        .map(|_| Err(io::Error::from_raw_os_error(24)))
        .chain([Ok(server)])
        .collect();
    let calls = Arc::new(AtomicU64::new(0));
    let listener = Scripted {
        script: Arc::new(Mutex::new(script)),
        calls: calls.clone(),
        fail_forever: false,
    };
    let stats = Arc::new(ServerStats::default());
    let (_stop, rx) = watch::channel(false);
    tokio::spawn(serve(
        vec![listener],
        Echo::default(),
        ServerConfig::new("test"),
        stats.clone(),
        rx,
    ));
    let mut client = client;
    client
        .write_all(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    let r = read_response(&mut client).await.expect("served");
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("ok /after"),
        "{r}"
    );
    assert_eq!(stats.accept_errors(), 3);
    assert_eq!(stats.accepted(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_gets_400_and_is_reported() {
    let handler = Echo::default();
    let listener = TcpListener::bind(("127.0.61.2", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stats = Arc::new(ServerStats::default());
    let (_stop, rx) = watch::channel(false);
    let handler = Arc::new(handler);
    /// Shares the counting handler with the test.
    struct Shared(Arc<Echo>);
    impl Handler for Shared {
        async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
            self.0.handle(req, peer).await
        }
        fn malformed(&self, peer: SocketAddr, error: &hyper::Error) {
            self.0.malformed(peer, error);
        }
    }
    tokio::spawn(serve(
        vec![listener],
        Shared(handler.clone()),
        ServerConfig::new("test"),
        stats.clone(),
        rx,
    ));
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"BAD METHOD / HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    let r = read_response(&mut s).await.expect("an answer");
    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");
    let counted = tokio::time::timeout(LIMIT, async {
        while handler.malformed.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(counted.is_ok(), "malformed() was not called");
    assert_eq!(stats.malformed(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_closed_by_the_idle_watchdog() {
    let mut config = ServerConfig::new("test");
    config.idle_timeout = Duration::from_millis(200);
    config.max_connections = 1;
    let (addr, stats, _stop, _task) = start("127.0.61.3", Echo::default(), config).await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // Not a byte sent: the server closes (before hyper even knows the version).
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(LIMIT, s.read(&mut buf))
        .await
        .expect("the idle connection was never closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    // Its slot is free again.
    let served = tokio::time::timeout(LIMIT, async {
        loop {
            let mut t = TcpStream::connect(addr).await.expect("connect");
            if let Some(r) = get(&mut t, "/next").await {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("slot freed");
    assert!(served.ends_with("ok /next"));
    assert_eq!(stats.accepted(), 2, "refused attempts are not admissions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_lets_the_request_in_flight_finish_then_stops_accepting() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let handler = Echo {
        hold: Some((entered.clone(), release.clone())),
        ..Echo::default()
    };
    let (addr, _stats, stop, task) = start("127.0.61.4", handler, ServerConfig::new("test")).await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    tokio::time::timeout(LIMIT, entered.notified())
        .await
        .expect("request reached the handler");
    stop.send(true).expect("stop");
    release.notify_one();
    let r = read_response(&mut s)
        .await
        .expect("the in-flight request is answered");
    assert!(r.ends_with("ok /slow"), "{r}");
    tokio::time::timeout(LIMIT, task)
        .await
        .expect("serve returned after its connections finished")
        .expect("no panic");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed after stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_closes_idle_keep_alive_connections_without_waiting_for_timers() {
    // Every timer far beyond the test's bound: only the stop signal can close.
    let mut config = ServerConfig::new("test");
    config.shutdown_grace = Duration::from_secs(60);
    config.header_read_timeout = Duration::from_secs(60);
    config.idle_timeout = Duration::from_secs(60);
    let (addr, stats, stop, task) = start("127.0.61.7", Echo::default(), config).await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    assert!(get(&mut s, "/x").await.is_some());
    assert_eq!(stats.open(), 1);
    stop.send(true).expect("stop");
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(LIMIT, s.read(&mut buf))
        .await
        .expect("the idle connection stayed open after stop")
        .unwrap_or(0);
    assert_eq!(n, 0);
    tokio::time::timeout(LIMIT, task)
        .await
        .expect("serve returned")
        .expect("no panic");
    assert_eq!(stats.open(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_drops_a_request_that_outlives_the_grace() {
    let entered = Arc::new(Notify::new());
    let handler = Echo {
        hold: Some((entered.clone(), Arc::new(Notify::new()))),
        ..Echo::default()
    };
    let mut config = ServerConfig::new("test");
    config.shutdown_grace = Duration::from_millis(100);
    let (addr, _stats, stop, task) = start("127.0.61.5", handler, config).await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /never HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    tokio::time::timeout(LIMIT, entered.notified())
        .await
        .expect("request reached the handler");
    stop.send(true).expect("stop");
    tokio::time::timeout(LIMIT, task)
        .await
        .expect("serve returned although a handler never finishes")
        .expect("no panic");
    assert_eq!(read_response(&mut s).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_metrics_answers_keep_alive_scrapes_and_404_elsewhere() {
    let listener = TcpListener::bind(("127.0.61.6", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let scrapes = Arc::new(AtomicU64::new(0));
    let count = scrapes.clone();
    let render: Render = Arc::new(move || {
        let n = count.fetch_add(1, Ordering::Relaxed) + 1;
        format!("scrapes {n}\n").into_bytes()
    });
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(serve_metrics(listener, render, rx));
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let one = get(&mut s, "/metrics").await.expect("first");
    assert!(one.starts_with("HTTP/1.1 200 OK\r\n"), "{one}");
    assert!(
        one.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{one}"
    );
    assert!(one.ends_with("scrapes 1\n"), "{one}");
    let two = get(&mut s, "/metrics")
        .await
        .expect("second on the same connection");
    assert!(two.ends_with("scrapes 2\n"), "{two}");
    let other = get(&mut s, "/").await.expect("404");
    assert!(other.starts_with("HTTP/1.1 404 Not Found\r\n"), "{other}");
    // Dropping the sender stops it too.
    drop(stop);
    tokio::time::timeout(LIMIT, task)
        .await
        .expect("stopped")
        .expect("no panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_carries_several_requests_on_one_connection() {
    use http_body_util::BodyExt;
    let mut config = ServerConfig::new("test");
    config.idle_timeout = Duration::from_millis(300);
    let (addr, stats, _stop, _task) = start("127.0.61.8", Echo::default(), config).await;
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("HTTP/2 handshake");
    let driver = tokio::spawn(conn);
    for path in ["/one", "/two", "/three"] {
        let req = Request::get(format!("http://t{path}"))
            .body(http_body_util::Empty::<Bytes>::new())
            .expect("request");
        let r = send.send_request(req).await.expect("answered");
        assert_eq!(r.version(), hyper::Version::HTTP_2);
        let body = r.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(body, format!("ok {path}").as_bytes());
    }
    assert_eq!(stats.accepted(), 1, "all on one connection");
    // Idle: the server closes it (GOAWAY), which ends the client's connection.
    tokio::time::timeout(LIMIT, driver)
        .await
        .expect("the idle HTTP/2 connection was closed by the server")
        .expect("no panic")
        .expect("closed cleanly");
    // The server's side of the close is counted when its connection task ends, which
    // may be just after the client sees the connection end.
    let until = std::time::Instant::now() + LIMIT;
    while stats.open() != 0 && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stats.open(), 0);
}
