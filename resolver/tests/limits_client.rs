//! The limits a client meets at the listeners, observed on the wire against
//! the real `sekisho` binary: TCP connections per client address, a TCP
//! client that never reads its answers, and the per-prefix UDP rate limit.
//! Each is checked to engage, to be counted (the metrics endpoint's
//! `sekisho_limit_drops_total`), to spare other clients, and to let go.
//!
//! Clients take their source address from 127.0.0.0/8 (any of it is local
//! on Linux), so one test plays several client addresses and prefixes. Each
//! test owns one of 127.0.150.0/24 to 127.0.159.0/24.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use socket2::{Domain, Protocol, Socket, Type};

/// A sekisho config forwarding `upstream_zone` to `upstream`, with `server`
/// lines added to `[server]`, `extra` tables appended, and metrics on `metrics`.
fn config(
    s: &Scratch,
    listen: &str,
    metrics: &str,
    zone: &str,
    upstream: &str,
    server: &str,
    extra: &str,
) -> String {
    format!(
        r#"[server]
listen = ["{listen}"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{dir}"
{server}

[[forward-zone]]
name = "{zone}"
forward-addr = ["{upstream}"]
timeout = "3s"

[dnssec]
validation = "no"

[control]
socket = "{dir}/control.sock"

[metrics]
listen = "{metrics}"

{extra}
"#,
        dir = s.path.display()
    )
}

/// A responder for `limits.test.` answering every name with an A record at once.
fn responder(addr: &str) -> Responder {
    start_responder(addr, "limits.test.", |_, _| {
        (
            Canned::A {
                addr: "192.0.2.80".parse().expect("ip"),
                ttl: 300,
            },
            Duration::ZERO,
        )
    })
}

/// The value of `sekisho_limit_held{limit}`.
fn held(metrics: &str, limit: &str) -> f64 {
    let body = http_get(metrics, "/metrics");
    metric_value(
        &body,
        "sekisho_limit_held",
        &[&format!("limit=\"{limit}\"")],
    )
    .unwrap_or(0.0)
}

/// A TCP connection to `server` from source address `from`, with a receive
/// buffer of `rcvbuf` bytes when given (set before the handshake, so the
/// window the server sees stays that small).
fn connect_from(from: &str, server: SocketAddr, rcvbuf: Option<usize>) -> TcpStream {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    if let Some(n) = rcvbuf {
        sock.set_recv_buffer_size(n).expect("rcvbuf");
    }
    let src: SocketAddr = format!("{from}:0").parse().expect("source");
    sock.bind(&src.into()).expect("bind source");
    sock.connect_timeout(&server.into(), Duration::from_secs(2))
        .expect("connect");
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    s
}

/// One query on `conn`, answered (the answer checked against the query).
fn ask(conn: &mut TcpStream, name: &str, rtype: RecordType) -> Option<Message> {
    let q = make_query(name, rtype, None);
    let mut frame = (q.to_vec().expect("encode").len() as u16)
        .to_be_bytes()
        .to_vec();
    frame.extend_from_slice(&q.to_vec().expect("encode"));
    conn.write_all(&frame).ok()?;
    let m = Message::from_vec(&read_frame(conn)?).ok()?;
    check_reply(&q, &m);
    Some(m)
}

/// How a read on a connection the server should have closed (or reset)
/// ended, after reading whatever was still buffered: `Ok(bytes read)` when
/// it was closed, `Err` when it is still open.
fn read_to_close(conn: &mut TcpStream, limit: Duration) -> Result<usize, String> {
    conn.set_read_timeout(Some(limit)).expect("timeout");
    let mut buf = vec![0u8; 65536];
    let mut total = 0;
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                return Ok(total)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "still open after {total} bytes: the read timed out"
                ))
            }
            Err(e) => return Err(format!("unexpected read error {e}")),
        }
    }
}

#[test]
fn a_fifth_connection_from_one_address_is_closed_while_other_addresses_connect() {
    let s = Scratch::new("limits-tcp-per-ip");
    let _up = responder("127.0.150.1:5353");
    let listen: SocketAddr = "127.0.150.2:5300".parse().expect("addr");
    let metrics = "127.0.150.2:9153";
    let cfg = config(
        &s,
        "127.0.150.2:5300",
        metrics,
        "limits.test.",
        "127.0.150.1@5353",
        "tcp-clients-per-ip = 4\ntcp-idle-timeout = \"30s\"",
        "",
    );
    let sk = start_sekisho(&s.path, "tcp-per-ip", &cfg, listen);
    // In the cache from now on: a served connection is answered at once.
    query(listen, "www.limits.test.", RecordType::A);

    // Four from 127.0.150.10, each answered and held open.
    let mut held_open: Vec<TcpStream> = (0..4)
        .map(|i| {
            let mut c = connect_from("127.0.150.10", listen, None);
            let m = ask(&mut c, "www.limits.test.", RecordType::A)
                .unwrap_or_else(|| panic!("connection {i} from the address is served"));
            assert_eq!(m.answers.len(), 1);
            c
        })
        .collect();
    assert_eq!(held(metrics, "tcp-clients-per-ip"), 4.0, "open connections");

    // The fifth from the same address: closed at once, without an answer.
    let mut fifth = connect_from("127.0.150.10", listen, None);
    let started = Instant::now();
    assert!(
        ask(&mut fifth, "www.limits.test.", RecordType::A).is_none(),
        "the fifth connection from one address got an answer"
    );
    if let Err(e) = read_to_close(&mut fifth, Duration::from_secs(3)) {
        panic!("the fifth connection was not closed: {e}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed at once, not by a timeout: {:?}",
        started.elapsed()
    );
    // A sixth, refused the same way: still one log line for the address.
    let mut sixth = connect_from("127.0.150.10", listen, None);
    assert!(ask(&mut sixth, "www.limits.test.", RecordType::A).is_none());
    assert_eq!(limit_drops(metrics, "tcp-clients-per-ip"), 2.0);

    // Another address is not affected, and the four held ones are still served.
    let mut other = connect_from("127.0.150.11", listen, None);
    assert!(ask(&mut other, "www.limits.test.", RecordType::A).is_some());
    assert!(ask(&mut held_open[0], "www.limits.test.", RecordType::A).is_some());

    // Once the four close (the server has seen it when only `other` is
    // counted open), the address connects again.
    held_open.clear();
    let closed = eventually(Duration::from_secs(5), || {
        held(metrics, "tcp-clients-per-ip") == 1.0
    });
    assert!(closed, "the four closed connections are still counted open");
    let mut again = connect_from("127.0.150.10", listen, None);
    assert!(
        ask(&mut again, "www.limits.test.", RecordType::A).is_some(),
        "a new connection is accepted once the four have closed"
    );
    assert_eq!(limit_drops(metrics, "tcp-clients-per-ip"), 2.0);

    let log = sk.log_text();
    let lines = |what: &str| {
        log.lines()
            .filter(|l| l.contains(what) && l.contains("tcp-clients-per-ip"))
            .filter(|l| l.contains("127.0.150.10"))
            .count()
    };
    assert_eq!(lines("limit engaged"), 1, "{log}");
    assert_eq!(lines("limit released"), 1, "{log}");
    assert!(
        !log.lines()
            .any(|l| l.contains("limit engaged") && l.contains("127.0.150.11")),
        "the other address never engaged"
    );
}

#[test]
fn clients_that_send_queries_and_never_read_lose_their_connections_within_the_write_timeout() {
    // The idle timeout (60 s) plays no part here.
    stuck_clients(
        "tcp-stuck-write",
        151,
        "tcp-write-timeout = \"2s\"\ntcp-idle-timeout = \"60s\"",
    );
}

#[test]
fn clients_that_send_queries_and_never_read_lose_their_connections_within_the_idle_timeout() {
    // The idle timeout applies while answers wait for the client, even when
    // the write timeout is longer.
    stuck_clients(
        "tcp-stuck-idle",
        158,
        "tcp-write-timeout = \"60s\"\ntcp-idle-timeout = \"2s\"",
    );
}

/// Three clients (from 127.0.`net`.20-22) send 200 pipelined queries each
/// for a large answer and never read, against a daemon with five TCP slots
/// and the timeouts in `timeouts`: each loses its connection within 15 s,
/// counted as `tcp-write-timeout`; another client is answered meanwhile, and
/// afterwards all five slots can be used at once.
fn stuck_clients(tag: &str, net: u8, timeouts: &str) {
    let ip = |host: u8| format!("127.0.{net}.{host}");
    let s = Scratch::new(&format!("limits-{tag}"));
    // `huge.example1.jp. TXT`: about 37 KB, so 200 answers (7 MB) are more
    // than the socket buffers on both sides hold (on loopback the server's
    // send buffer grows to a few MB).
    let huge: String = (0..150)
        .map(|i| format!("huge 300 IN TXT \"{i:0>240}\"\n"))
        .collect();
    let zone = s.file(
        "example1.jp.zone",
        &format!("{}{huge}", example_zone("example1.jp.")),
    );
    let _nsd = start_nsd(&s.path, &ip(1), 5353, &[("example1.jp.", &zone)]);
    let _unbound = start_unbound(
        &s.path,
        &ip(2),
        5353,
        None,
        "example1.jp.",
        &format!("{}@5353", ip(1)),
    );
    let listen: SocketAddr = format!("{}:5300", ip(3)).parse().expect("addr");
    let metrics = &format!("{}:9153", ip(3));
    // Five slots in all: the three stuck clients below would leave two.
    let cfg = config(
        &s,
        &listen.to_string(),
        metrics,
        "example1.jp.",
        &format!("{}@5353", ip(2)),
        &format!("tcp-max-connections = 5\n{timeouts}"),
        "",
    );
    let sk = start_sekisho(&s.path, tag, &cfg, listen);
    // Cached: each of the queries below is answered at once.
    let big = query_tcp(listen, "huge.example1.jp.", RecordType::TXT);
    let answer_size = big.to_vec().expect("encode").len();
    assert!(answer_size > 30_000, "{answer_size}");

    // Three clients, each from its own address, send 200 pipelined queries
    // (some 7 MB of answers) and never read, with a small receive window.
    let started = Instant::now();
    let mut stuck: Vec<TcpStream> = (0..3u8)
        .map(|i| {
            let mut c = connect_from(&ip(20 + i), listen, Some(4096));
            let mut batch = Vec::new();
            for _ in 0..200 {
                let q = make_query("huge.example1.jp.", RecordType::TXT, None)
                    .to_vec()
                    .expect("encode");
                batch.extend_from_slice(&(q.len() as u16).to_be_bytes());
                batch.extend_from_slice(&q);
            }
            c.write_all(&batch).expect("write the queries");
            c
        })
        .collect();

    // Meanwhile another client is answered, on a connection of its own.
    let mut other = connect_from(&ip(30), listen, None);
    for _ in 0..5 {
        let m = ask(&mut other, "www.example1.jp.", RecordType::TXT)
            .expect("another client is answered while the stuck ones hold their connections");
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    }
    drop(other);

    // Each stuck connection is given up within the shorter timeout (2 s), and counted.
    let all_counted = eventually(Duration::from_secs(15), || {
        limit_drops(metrics, "tcp-write-timeout") >= 3.0
    });
    let took = started.elapsed();
    assert!(
        all_counted,
        "the stuck connections were not given up: {} counted after {took:?}\n{}",
        limit_drops(metrics, "tcp-write-timeout"),
        sk.log_text()
    );
    assert!(took < Duration::from_secs(15), "{took:?}");
    // On the wire: what was buffered, then a reset or a close, far short of
    // the 200 answers asked for.
    for (i, c) in stuck.iter_mut().enumerate() {
        match read_to_close(c, Duration::from_secs(5)) {
            Ok(n) => assert!(
                n < 200 * answer_size,
                "client {i} got all {n} bytes: it was never stuck"
            ),
            Err(e) => panic!("stuck client {i}: {e}"),
        }
    }
    drop(stuck);

    // Their slots are free again: all five can be used at once.
    let ok = eventually(Duration::from_secs(3), || {
        held(metrics, "tcp-clients-per-ip") == 0.0
    });
    assert!(ok, "connections still counted open");
    let mut five: Vec<TcpStream> = (0..5u8)
        .map(|i| connect_from(&ip(40 + i), listen, None))
        .collect();
    for (i, c) in five.iter_mut().enumerate() {
        assert!(
            ask(c, "www.example1.jp.", RecordType::A).is_some(),
            "connection {i} of five is served"
        );
    }
}

/// Send `n` UDP queries for `name` from `from` to `server` back to back;
/// returns (answers, TC=1 answers) received within a second of the last.
fn udp_burst(from: &str, server: SocketAddr, name: &str, n: usize) -> (usize, usize) {
    let sock = UdpSocket::bind(format!("{from}:0")).expect("bind");
    sock.connect(server).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    // Received while sending, so that the answers do not overflow the socket's buffer.
    let rx = sock.try_clone().expect("clone");
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 4096];
        while let Ok(len) = rx.recv(&mut buf) {
            got.push(Message::from_vec(&buf[..len]).expect("decode"));
        }
        got
    });
    let sent: Vec<Message> = (0..n)
        .map(|_| {
            let q = make_query(name, RecordType::A, Some(1232));
            sock.send(&q.to_vec().expect("encode")).expect("send");
            q
        })
        .collect();
    let (mut answers, mut truncated) = (0, 0);
    for m in receiver.join().expect("receiver") {
        let q = sent
            .iter()
            .find(|q| q.metadata.id == m.metadata.id)
            .expect("an answer to a query sent");
        check_reply(q, &m);
        if m.metadata.truncation {
            assert!(m.answers.is_empty(), "a slipped answer is empty");
            truncated += 1;
        } else {
            assert_eq!(m.answers.len(), 1);
            answers += 1;
        }
    }
    (answers, truncated)
}

#[test]
fn a_prefix_over_its_rate_gets_its_quota_and_tc_slips_and_is_let_go_after_a_pause() {
    let s = Scratch::new("limits-rate");
    let _up = responder("127.0.152.1:5353");
    let listen: SocketAddr = "127.0.152.2:5300".parse().expect("addr");
    let metrics = "127.0.152.2:9153";
    let cfg = config(
        &s,
        "127.0.152.2:5300",
        metrics,
        "limits.test.",
        "127.0.152.1@5353",
        "",
        "[rate-limit]\nqueries-per-second = 50\nipv4-prefix-length = 24\nslip = 2\nexempt = [\"127.0.154.0/24\"]",
    );
    let sk = start_sekisho(&s.path, "rate", &cfg, listen);
    // Cached: every query below is answered at once unless limited (this
    // one comes from 127.0.0.1, outside the prefixes below).
    query(listen, "www.limits.test.", RecordType::A);

    // 500 at once from 127.0.153.10: one second's worth (50) answered, and
    // every second one of the rest a TC=1 slip.
    let (answers, truncated) = udp_burst("127.0.153.10", listen, "www.limits.test.", 500);
    assert!(
        (40..=80).contains(&answers),
        "about 50 of 500 answered: {answers} (TC=1: {truncated})"
    );
    assert!(
        (150..=260).contains(&truncated),
        "about half of the 450 limited got TC=1: {truncated}"
    );
    let dropped = limit_drops(metrics, "rate-limit");
    assert!((420.0..=460.0).contains(&dropped), "counted: {dropped}");

    // Another prefix, and an exempt one, are not limited meanwhile.
    let (other, other_tc) = udp_burst("127.0.155.10", listen, "www.limits.test.", 20);
    assert_eq!((other, other_tc), (20, 0), "another /24 is answered");
    let (exempt, exempt_tc) = udp_burst("127.0.154.10", listen, "www.limits.test.", 200);
    assert_eq!((exempt, exempt_tc), (200, 0), "an exempt /24 is answered");

    // After a pause the prefix is answered again, here by dig.
    std::thread::sleep(Duration::from_secs(2));
    let out = Command::new("dig")
        .args([
            "-b",
            "127.0.153.11",
            "-p",
            "5300",
            "@127.0.152.2",
            "www.limits.test.",
            "A",
            "+notcp",
            "+ignore",
            "+tries=1",
            "+timeout=2",
        ])
        .output()
        .expect("dig is installed (apt-get install dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("status: NOERROR") && text.contains("192.0.2.80") && !text.contains(" tc"),
        "{text}"
    );
    let released = eventually(Duration::from_secs(3), || {
        sk.log_text()
            .lines()
            .any(|l| l.contains("limit released") && l.contains("127.0.153.0/24"))
    });
    assert!(released, "{}", sk.log_text());
    let log = sk.log_text();
    let lines = |what: &str| {
        log.lines()
            .filter(|l| l.contains(what) && l.contains("rate-limit"))
            .collect::<Vec<_>>()
    };
    let engaged = lines("limit engaged");
    assert_eq!(engaged.len(), 1, "one line, not one per query: {engaged:?}");
    assert!(engaged[0].contains("127.0.153.0/24"), "{engaged:?}");
    assert_eq!(lines("limit released").len(), 1, "{log}");
    assert_eq!(held(metrics, "rate-limit"), 0.0, "no prefix limited now");
}

#[test]
fn a_reload_switches_the_rate_limit_on() {
    let s = Scratch::new("limits-rate-reload");
    let _up = responder("127.0.156.1:5353");
    let listen: SocketAddr = "127.0.156.2:5300".parse().expect("addr");
    let metrics = "127.0.156.2:9153";
    let cfg = |qps: u32| {
        config(
            &s,
            "127.0.156.2:5300",
            metrics,
            "limits.test.",
            "127.0.156.1@5353",
            "",
            &format!("[rate-limit]\nqueries-per-second = {qps}\nexempt = []"),
        )
    };
    let mut sk = start_sekisho(&s.path, "rate-reload", &cfg(0), listen);
    query(listen, "www.limits.test.", RecordType::A);
    let (answers, _) = udp_burst("127.0.157.10", listen, "www.limits.test.", 200);
    assert_eq!(answers, 200, "off: everything answered");

    std::fs::write(s.path.join("sekisho-rate-reload.toml"), cfg(20)).expect("config");
    sk.signal("HUP");
    let reloaded = eventually(Duration::from_secs(5), || {
        sk.log_text().contains("configuration reloaded")
    });
    assert!(reloaded, "{}", sk.log_text());
    let (answers, truncated) = udp_burst("127.0.157.10", listen, "www.limits.test.", 200);
    assert!(
        (15..=40).contains(&answers) && truncated > 50,
        "limited after the reload: {answers} answered, {truncated} TC=1"
    );
    assert!(limit_drops(metrics, "rate-limit") >= 150.0);
    assert!(sk.is_running());
}

#[test]
fn a_thousand_clients_that_never_read_give_their_tcp_slots_back() {
    let s = Scratch::new("limits-tcp-thousand");
    let (_nsd, _unbound) = start_example_upstream(&s, "127.0.159.1", "127.0.159.2");
    let listen: SocketAddr = "127.0.159.3:5300".parse().expect("addr");
    let metrics = "127.0.159.3:9153";
    // tcp-max-connections and tcp-clients-per-ip at their defaults (1024, 16).
    let cfg = config(
        &s,
        "127.0.159.3:5300",
        metrics,
        "example1.jp.",
        "127.0.159.2@5353",
        "tcp-write-timeout = \"2s\"",
        "",
    );
    let sk = start_sekisho(&s.path, "tcp-thousand", &cfg, listen);
    query_tcp(listen, "big.example1.jp.", RecordType::TXT);
    let mut batch = Vec::new();
    for _ in 0..QUERIES_PER_STUCK_CLIENT {
        let q = make_query("big.example1.jp.", RecordType::TXT, None)
            .to_vec()
            .expect("encode");
        batch.extend_from_slice(&(q.len() as u16).to_be_bytes());
        batch.extend_from_slice(&q);
    }

    // 1,008 clients, 16 from each of 63 addresses, each with a small window
    // and segment size (so that a few answers fill what the kernel holds for
    // it), send their queries and never read.
    let started = Instant::now();
    let mut stuck = Vec::new();
    for host in 1..=63u8 {
        for _ in 0..16 {
            let sock =
                Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
            sock.set_recv_buffer_size(4096).expect("rcvbuf");
            sock.set_tcp_mss(1000).expect("mss");
            let src: SocketAddr = format!("127.0.160.{host}:0").parse().expect("source");
            sock.bind(&src.into()).expect("bind");
            sock.connect_timeout(&listen.into(), Duration::from_secs(5))
                .expect("connect");
            let mut c: TcpStream = sock.into();
            c.write_all(&batch).expect("write the queries");
            stuck.push(c);
        }
    }

    // Every one is given up within bounded time, and counted.
    let all_counted = eventually(Duration::from_secs(60), || {
        limit_drops(metrics, "tcp-write-timeout") >= 1008.0
    });
    assert!(
        all_counted,
        "{} of 1008 stuck connections given up after {:?}\n{}",
        limit_drops(metrics, "tcp-write-timeout"),
        started.elapsed(),
        sk.log_text()
    );
    drop(stuck);
    let free = eventually(Duration::from_secs(10), || {
        held(metrics, "tcp-clients-per-ip") == 0.0
    });
    assert!(free, "slots still held");

    // Their slots are usable again: 1,000 new connections, all open at once, all answered.
    let mut fresh = Vec::new();
    for host in 1..=100u8 {
        for _ in 0..10 {
            let mut c = connect_from(&format!("127.0.161.{host}"), listen, None);
            assert!(
                ask(&mut c, "www.example1.jp.", RecordType::A).is_some(),
                "fresh connection {} is served",
                fresh.len()
            );
            fresh.push(c);
        }
    }
    assert_eq!(limit_drops(metrics, "tcp-clients-per-ip"), 0.0);
}

/// Queries each client of the thousand sends (about 3 KB of answer each).
const QUERIES_PER_STUCK_CLIENT: usize = 40;
