//! DNS over TCP from the client side (RFC 7766): the connection cap, the
//! idle timeout, the per-connection pipelining limit and out-of-order
//! answers, each observed on the wire against the real `sekisho` binary.
//!
//! The upstream is a [`Responder`] run by the test, so a test decides how
//! long each answer takes and sees how many queries were outstanding at
//! once. Each test owns 127.0.70.0/24.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

/// A sekisho config forwarding `tcp.test.` to `upstream`, with `tcp` lines
/// added to `[server]`.
fn config(s: &Scratch, listen: &str, upstream: &str, tcp: &str) -> String {
    format!(
        r#"[server]
listen = ["{listen}"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{dir}"
{tcp}

[[forward-zone]]
name = "tcp.test."
forward-addr = ["{upstream}"]
timeout = "3s"

# The upstream is the test's own responder, with no DNSSEC data.
[dnssec]
validation = "no"

[control]
socket = "{dir}/control.sock"

[metrics]
listen = "none"
"#,
        dir = s.path.display()
    )
}

/// A responder for `tcp.test.` answering every name with an A record after
/// `delay(name)`.
fn responder(addr: &str, delay: fn(&str) -> Duration) -> Responder {
    start_responder(addr, "tcp.test.", move |name, _| {
        (
            Canned::A {
                addr: "192.0.2.70".parse().expect("ip"),
                ttl: 300,
            },
            delay(name),
        )
    })
}

/// Read one framed answer and check it answers `query`.
fn answer_to(conn: &mut TcpStream, query: &Message) -> Message {
    let raw = read_frame(conn).expect("an answer on the connection (none: closed or timed out)");
    let m = Message::from_vec(&raw).expect("decode");
    check_reply(query, &m);
    m
}

/// What a read on a connection the server should have closed returned.
fn closed_by_server(conn: &mut TcpStream) -> Result<(), String> {
    let mut buf = [0u8; 512];
    match conn.read(&mut buf) {
        Ok(0) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ) =>
        {
            Ok(())
        }
        Ok(n) => Err(format!("the server sent {n} bytes")),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Err("the read timed out: the connection was left open".into())
        }
        Err(e) => Err(format!("unexpected read error {e}")),
    }
}

#[test]
fn a_connection_past_tcp_max_connections_is_closed_at_once_without_an_answer() {
    let s = Scratch::new("tcp-cap");
    let up = responder("127.0.70.1:5353", |_| Duration::ZERO);
    let listen: SocketAddr = "127.0.70.2:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "127.0.70.2:5300",
        "127.0.70.1@5353",
        "tcp-max-connections = 4\ntcp-idle-timeout = \"30s\"",
    );
    let _sk = start_sekisho(&s.path, "tcp-cap", &cfg, listen);

    // The name asked below is in the cache, so a connection that is served
    // gets its answer at once: silence cannot pass for a slow upstream.
    let primed = query(listen, "cached.tcp.test.", RecordType::A);
    assert_eq!(primed.metadata.response_code, ResponseCode::NoError);
    let q = make_query("cached.tcp.test.", RecordType::A, None);
    let wire = q.to_vec().expect("encode");

    // Four connections, each answered and then held open.
    let held: Vec<TcpStream> = (0..4)
        .map(|i| {
            let mut c = TcpStream::connect(listen).expect("connect");
            c.set_read_timeout(Some(Duration::from_secs(3)))
                .expect("timeout");
            write_frame(&mut c, &wire);
            let m = answer_to(&mut c, &q);
            assert_eq!(m.answers.len(), 1, "connection {i} is served");
            c
        })
        .collect();
    assert_eq!(up.count("cached.tcp.test."), 1, "all from the cache");

    // The fifth: the kernel completes the handshake, Sekisho closes it.
    let mut extra = TcpStream::connect(listen).expect("the kernel still accepts");
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let started = Instant::now();
    let mut frame = (wire.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&wire);
    // The write may already fail: the server may have closed the connection.
    let _ = extra.write_all(&frame);
    if let Err(e) = closed_by_server(&mut extra) {
        panic!("the connection past the cap was not closed without an answer: {e}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed at once, not after a timeout: {:?}",
        started.elapsed()
    );

    // The held ones are still served.
    let mut first = held.into_iter().next().expect("held");
    write_frame(&mut first, &wire);
    assert_eq!(answer_to(&mut first, &q).answers.len(), 1);
    drop(first); // and the other three went with the iterator

    let ok = eventually(Duration::from_secs(3), || {
        TcpStream::connect(listen)
            .ok()
            .and_then(|mut c| {
                c.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                write_frame(&mut c, &wire);
                read_frame(&mut c)
            })
            .is_some()
    });
    assert!(ok, "room again once connections close");
}

#[test]
fn a_connection_with_no_query_for_tcp_idle_timeout_is_closed() {
    let s = Scratch::new("tcp-idle");
    let _up = responder("127.0.70.11:5353", |_| Duration::ZERO);
    let listen: SocketAddr = "127.0.70.12:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "127.0.70.12:5300",
        "127.0.70.11@5353",
        "tcp-idle-timeout = \"1s\"",
    );
    let _sk = start_sekisho(&s.path, "tcp-idle", &cfg, listen);
    query(listen, "idle.tcp.test.", RecordType::A);

    // Silent from the start: closed after about a second (the default is 10 s).
    let mut idle = TcpStream::connect(listen).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(6)))
        .expect("timeout");
    let started = Instant::now();
    if let Err(e) = closed_by_server(&mut idle) {
        panic!("an idle connection was not closed: {e}");
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "closed after tcp-idle-timeout (1 s), took {took:?}"
    );

    // A query every 500 ms keeps a connection open well past one second:
    // the timeout counts from the last query, not from the connect.
    let mut busy = TcpStream::connect(listen).expect("connect");
    busy.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let started = Instant::now();
    for i in 0..6 {
        let q = make_query("idle.tcp.test.", RecordType::A, None);
        write_frame(&mut busy, &q.to_vec().expect("encode"));
        let m = answer_to(&mut busy, &q);
        assert_eq!(m.answers.len(), 1, "query {i} answered");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(started.elapsed() >= Duration::from_secs(3));
    // Then silence closes it too.
    busy.set_read_timeout(Some(Duration::from_secs(6)))
        .expect("timeout");
    if let Err(e) = closed_by_server(&mut busy) {
        panic!("the connection was not closed once it went quiet: {e}");
    }
}

#[test]
fn no_more_than_tcp_max_pipelined_queries_of_a_connection_are_in_flight_and_all_are_answered() {
    let s = Scratch::new("tcp-pipelined");
    let up = responder("127.0.70.21:5353", |_| Duration::from_millis(400));
    let listen: SocketAddr = "127.0.70.22:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "127.0.70.22:5300",
        "127.0.70.21@5353",
        "tcp-max-pipelined = 2",
    );
    let _sk = start_sekisho(&s.path, "tcp-pipelined", &cfg, listen);

    let mut conn = TcpStream::connect(listen).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // Six different names (no cache hits), written back to back.
    let base = rand_id();
    let queries: Vec<Message> = (0..6u16)
        .map(|i| {
            let mut q = make_query(&format!("p{i}.tcp.test."), RecordType::A, Some(1232));
            q.metadata.id = base.wrapping_add(i);
            q
        })
        .collect();
    let mut batch = Vec::new();
    for q in &queries {
        let w = q.to_vec().expect("encode");
        batch.extend_from_slice(&(w.len() as u16).to_be_bytes());
        batch.extend_from_slice(&w);
    }
    conn.write_all(&batch).expect("write");

    let mut answered = Vec::new();
    for _ in &queries {
        let raw = read_frame(&mut conn).expect("every query is answered");
        let m = Message::from_vec(&raw).expect("decode");
        let q = queries
            .iter()
            .find(|q| q.metadata.id == m.metadata.id)
            .unwrap_or_else(|| panic!("an answer with an ID never asked: {}", m.metadata.id));
        check_reply(q, &m);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        answered.push(m.metadata.id);
    }
    answered.sort_unstable();
    answered.dedup();
    assert_eq!(answered.len(), 6, "each query answered once");
    assert_eq!(up.total(), 6);
    assert_eq!(
        up.max_pending(),
        2,
        "at most tcp-max-pipelined = 2 queries of the connection were at the upstream at once, and both slots were used"
    );
}

#[test]
fn a_fast_answer_overtakes_a_slow_one_on_the_same_connection() {
    let s = Scratch::new("tcp-order");
    let up = responder("127.0.70.31:5353", |name| {
        if name.starts_with("slow.") {
            Duration::from_millis(1500)
        } else {
            Duration::ZERO
        }
    });
    let listen: SocketAddr = "127.0.70.32:5300".parse().expect("addr");
    let cfg = config(&s, "127.0.70.32:5300", "127.0.70.31@5353", "");
    let _sk = start_sekisho(&s.path, "tcp-order", &cfg, listen);

    let mut conn = TcpStream::connect(listen).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(6)))
        .expect("timeout");
    let slow = make_query("slow.tcp.test.", RecordType::A, None);
    let mut fast = make_query("fast.tcp.test.", RecordType::A, None);
    fast.metadata.id = slow.metadata.id.wrapping_add(1);
    write_frame(&mut conn, &slow.to_vec().expect("encode"));
    write_frame(&mut conn, &fast.to_vec().expect("encode"));

    let first = Message::from_vec(&read_frame(&mut conn).expect("first answer")).expect("decode");
    assert_eq!(
        first.metadata.id, fast.metadata.id,
        "the fast query, asked second, is answered first"
    );
    check_reply(&fast, &first);
    let second = answer_to(&mut conn, &slow);
    for m in [&first, &second] {
        assert!(
            matches!(m.answers.first().map(|r| &r.data), Some(RData::A(_))),
            "{m:?}"
        );
    }
    assert_eq!(
        (up.count("slow.tcp.test."), up.count("fast.tcp.test.")),
        (1, 1)
    );
}
