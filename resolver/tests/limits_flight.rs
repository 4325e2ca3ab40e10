//! Cache misses in flight, seen from clients: identical questions share one
//! upstream query (`clients-per-query` bounds the clients waiting on it),
//! and `recursive-clients` bounds the misses waiting on the network while
//! cache hits go on being answered. Each limit engages, is counted in
//! `sekishoctl limits` and the log (once per change of state), and lets go
//! when the load stops. The upstream is the test's own [`Responder`].
//! Each test owns 127.0.93.0/24.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

/// Sekisho forwarding `fw.test.` to `upstream`, with extra `[server]` lines.
fn config(s: &Scratch, tag: &str, listen: &str, upstream: &str, server: &str) -> String {
    format!(
        r#"[server]
listen = ["{listen}"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{dir}"
{server}

[[forward-zone]]
name = "fw.test."
forward-addr = ["{upstream}"]

[dnssec]
validation = "no"

[control]
socket = "{dir}/control-{tag}.sock"

[metrics]
listen = "none"
"#,
        dir = s.path.display()
    )
}

/// The upstream: `slow*` answered after 600 ms, `dead*` never, the rest at once.
fn responder(addr: &str) -> Responder {
    start_responder(addr, "fw.test.", |name, _| {
        let a = Canned::A {
            addr: "192.0.2.93".parse().expect("ip"),
            ttl: 300,
        };
        if name.starts_with("slow") {
            (a, Duration::from_millis(600))
        } else if name.starts_with("dead") {
            (Canned::Silent, Duration::ZERO)
        } else {
            (a, Duration::ZERO)
        }
    })
}

/// `n` clients, each on its own socket, send the same question at once; the
/// rcode each got (None: no answer within 5 s).
fn same_question_at_once(server: SocketAddr, name: &str, n: usize) -> Vec<Option<ResponseCode>> {
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            let name = name.to_owned();
            std::thread::spawn(move || {
                let sock = UdpSocket::bind("127.0.93.100:0").expect("bind");
                sock.set_read_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                let q = make_query(&name, RecordType::A, Some(1232));
                let bytes = q.to_vec().expect("encode");
                barrier.wait();
                sock.send_to(&bytes, server).expect("send");
                let mut buf = [0u8; 4096];
                let n = sock.recv(&mut buf).ok()?;
                let reply = Message::from_vec(&buf[..n]).ok()?;
                check_reply(&q, &reply);
                Some(reply.metadata.response_code)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect()
}

/// `sekishoctl limits --json`: (held, drops) of `limit`.
fn limit(sock: &std::path::Path, limit: &str) -> (i64, u64) {
    let (code, out, err) = ctl(sock, &["--json", "limits"]);
    assert_eq!(code, 0, "sekishoctl limits: {out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let row = v["limits"]
        .as_array()
        .expect("limits")
        .iter()
        .find(|r| r["limit"] == limit)
        .unwrap_or_else(|| panic!("{limit} missing: {out}"));
    (
        row["held"].as_i64().expect("held"),
        row["drops"].as_u64().expect("drops"),
    )
}

/// Log lines containing all of `words`.
fn log_lines(p: &Proc, words: &[&str]) -> usize {
    p.log_text()
        .lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .count()
}

#[test]
fn identical_questions_in_flight_reach_the_upstream_once() {
    let s = Scratch::new("flight-share");
    let up = responder("127.0.93.1:5353");
    let listen: SocketAddr = "127.0.93.2:5300".parse().expect("addr");
    let cfg = config(&s, "share", "127.0.93.2:5300", "127.0.93.1@5353", "");
    let _sk = start_sekisho(&s.path, "share", &cfg, listen);

    let got = same_question_at_once(listen, "slow1.fw.test.", 50);
    assert!(
        got.iter().all(|r| *r == Some(ResponseCode::NoError)),
        "every client answered: {got:?}"
    );
    assert_eq!(
        up.count("slow1.fw.test."),
        1,
        "50 identical questions in flight, one upstream query"
    );
}

#[test]
fn clients_per_query_caps_the_clients_waiting_on_one_fetch_and_lets_go() {
    let s = Scratch::new("flight-cpq");
    let up = responder("127.0.93.11:5353");
    let listen: SocketAddr = "127.0.93.12:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "cpq",
        "127.0.93.12:5300",
        "127.0.93.11@5353",
        "clients-per-query = 10",
    );
    let sk = start_sekisho(&s.path, "cpq", &cfg, listen);
    let sock = s.path.join("control-cpq.sock");

    let got = same_question_at_once(listen, "slow2.fw.test.", 40);
    let answered = got
        .iter()
        .filter(|r| **r == Some(ResponseCode::NoError))
        .count();
    let refused = got
        .iter()
        .filter(|r| **r == Some(ResponseCode::ServFail))
        .count();
    assert_eq!((answered, refused), (10, 30), "{got:?}");
    assert_eq!(up.count("slow2.fw.test."), 1);
    assert_eq!(limit(&sock, "clients-per-query").1, 30);
    // Logged once when it engaged and once when the fetch ended, not per client.
    assert!(eventually(Duration::from_secs(2), || {
        log_lines(&sk, &["limit released", "clients-per-query"]) == 1
    }));
    assert_eq!(log_lines(&sk, &["limit engaged", "clients-per-query"]), 1);
    // Let go: the next burst for another name is answered whole.
    let again = same_question_at_once(listen, "slow3.fw.test.", 10);
    assert!(
        again.iter().all(|r| *r == Some(ResponseCode::NoError)),
        "{again:?}"
    );
}

#[test]
fn recursive_clients_bounds_misses_in_flight_and_never_a_cache_hit() {
    let s = Scratch::new("flight-rc");
    let _up = responder("127.0.93.21:5353");
    let listen: SocketAddr = "127.0.93.22:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "rc",
        "127.0.93.22:5300",
        "127.0.93.21@5353",
        "recursive-clients = 20\nquery-timeout = \"2s\"",
    );
    let sk = start_sekisho(&s.path, "rc", &cfg, listen);
    let sock = s.path.join("control-rc.sock");
    // A name in the cache before the flood.
    let warm = query(listen, "www.fw.test.", RecordType::A);
    assert_eq!(warm.metadata.response_code, ResponseCode::NoError);

    // 300 misses under a zone that never answers, sent as fast as one socket
    // can in bursts of 25; the answers are read on another thread (they come
    // faster than a socket buffer holds: the pauses let a busy machine's
    // reader keep up with the refusals, which answer the bursts at once).
    let flood = UdpSocket::bind("127.0.93.101:0").expect("bind");
    flood
        .set_read_timeout(Some(Duration::from_secs(8)))
        .expect("timeout");
    let reader = flood.try_clone().expect("clone");
    let servfails = std::thread::spawn(move || {
        let mut servfails = 0;
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.recv(&mut buf) {
            if Message::from_vec(&buf[..n])
                .is_ok_and(|m| m.metadata.response_code == ResponseCode::ServFail)
            {
                servfails += 1;
            }
            if servfails == 300 {
                break;
            }
        }
        servfails
    });
    for i in 0..300 {
        let q = make_query(&format!("dead{i}.fw.test."), RecordType::A, None);
        flood
            .send_to(&q.to_vec().expect("encode"), listen)
            .expect("send");
        if i % 25 == 24 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // The bound holds while the flood waits on the network...
    assert!(
        eventually(Duration::from_secs(1), || limit(&sock, "recursive-clients")
            .1
            >= 200),
        "drops {:?}",
        limit(&sock, "recursive-clients")
    );
    let (held, _) = limit(&sock, "recursive-clients");
    assert!(held <= 20 && held > 0, "held {held}");
    // ...and the cached name is answered from the cache meanwhile.
    let t = Instant::now();
    let hit = query(listen, "www.fw.test.", RecordType::A);
    assert_eq!(hit.metadata.response_code, ResponseCode::NoError);
    assert!(!hit.answers.is_empty());
    assert!(t.elapsed() < Duration::from_secs(1));
    // Every client of the flood got SERVFAIL, at once or at its deadline.
    let servfails = servfails.join().expect("reader");
    assert_eq!(servfails, 300);
    // Once the flood has drained the limit lets go, logged once each way.
    assert!(eventually(Duration::from_secs(5), || limit(
        &sock,
        "recursive-clients"
    )
    .0 == 0));
    assert!(eventually(Duration::from_secs(2), || {
        log_lines(&sk, &["limit released", "recursive-clients"]) == 1
    }));
    assert_eq!(log_lines(&sk, &["limit engaged", "recursive-clients"]), 1);
    // And new misses are resolved again.
    let after = query(listen, "fresh.fw.test.", RecordType::A);
    assert_eq!(after.metadata.response_code, ResponseCode::NoError);
}

/// An upstream whose answers for `flip*` (TTL 2) and `pre*` (TTL 5) can be
/// switched off: then it never answers them.
fn switchable(addr: &str, on: Arc<std::sync::atomic::AtomicBool>) -> Responder {
    start_responder(addr, "fw.test.", move |name, _| {
        let ttl = if name.starts_with("flip") { 2 } else { 5 };
        if on.load(std::sync::atomic::Ordering::SeqCst) {
            (
                Canned::A {
                    addr: "192.0.2.94".parse().expect("ip"),
                    ttl,
                },
                Duration::ZERO,
            )
        } else {
            (Canned::Silent, Duration::ZERO)
        }
    })
}

/// Ask `name` A with EDNS; the reply and its EDE code, if any.
fn ask_ede(server: SocketAddr, name: &str) -> (Message, Option<u16>) {
    let q = make_query(name, RecordType::A, Some(1232));
    let raw = exchange_udp(
        None,
        server,
        &q.to_vec().expect("encode"),
        Duration::from_secs(5),
    )
    .unwrap_or_else(|| panic!("no answer for {name}"));
    (Message::from_vec(&raw).expect("decode"), ede_code(&raw))
}

#[test]
fn an_expired_answer_is_served_stale_when_the_upstream_stops_answering() {
    let s = Scratch::new("flight-stale");
    let on = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let _up = switchable("127.0.93.31:5353", on.clone());
    let listen: SocketAddr = "127.0.93.32:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "stale",
        "127.0.93.32:5300",
        "127.0.93.31@5353",
        "query-timeout = \"2s\"",
    );
    let _sk = start_sekisho(&s.path, "stale", &cfg, listen);
    let fresh = query(listen, "flip.fw.test.", RecordType::A);
    assert_eq!(fresh.answers.len(), 1);
    // The upstream goes silent and the answer expires.
    on.store(false, std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(2500));
    let (stale, ede) = ask_ede(listen, "flip.fw.test.");
    assert_eq!(stale.metadata.response_code, ResponseCode::NoError);
    assert_eq!(stale.answers.len(), 1, "{stale:?}");
    assert_eq!(stale.answers[0].ttl, 30, "stale-answer-ttl");
    assert_eq!(ede, Some(3), "EDE 3 (Stale Answer)");
    // A name never cached still fails.
    let never = query(listen, "flop.fw.test.", RecordType::A);
    assert_eq!(never.metadata.response_code, ResponseCode::ServFail);
}

#[test]
fn stale_answers_are_off_when_disabled() {
    let s = Scratch::new("flight-nostale");
    let on = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let _up = switchable("127.0.93.41:5353", on.clone());
    let listen: SocketAddr = "127.0.93.42:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "nostale",
        "127.0.93.42:5300",
        "127.0.93.41@5353",
        "query-timeout = \"2s\"",
    )
    .replace(
        "[dnssec]",
        "[cache]\nstale-answer-enable = false\n\n[dnssec]",
    );
    let _sk = start_sekisho(&s.path, "nostale", &cfg, listen);
    assert_eq!(
        query(listen, "flip.fw.test.", RecordType::A).answers.len(),
        1
    );
    on.store(false, std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(2500));
    let m = query(listen, "flip.fw.test.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}

#[test]
fn a_popular_answer_is_refreshed_before_it_expires() {
    let s = Scratch::new("flight-prefetch");
    let on = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let up = switchable("127.0.93.51:5353", on);
    let listen: SocketAddr = "127.0.93.52:5300".parse().expect("addr");
    let cfg = config(&s, "pre", "127.0.93.52:5300", "127.0.93.51@5353", "");
    let _sk = start_sekisho(&s.path, "pre", &cfg, listen);
    let t0 = Instant::now();
    assert_eq!(
        query(listen, "pre.fw.test.", RecordType::A).answers.len(),
        1
    );
    assert_eq!(up.count("pre.fw.test."), 1);
    // In the last tenth of the 5 s TTL: answered from the cache at once, and
    // refreshed behind the client's back.
    std::thread::sleep(Duration::from_millis(4600).saturating_sub(t0.elapsed()));
    let late = query(listen, "pre.fw.test.", RecordType::A);
    assert_eq!(late.answers.len(), 1);
    assert!(late.answers[0].ttl <= 1, "served from the cache: {late:?}");
    assert!(eventually(Duration::from_secs(2), || up
        .count("pre.fw.test.")
        == 2));
    // Past the first answer's expiry the refreshed one is served: no third query.
    std::thread::sleep(Duration::from_millis(5600).saturating_sub(t0.elapsed()));
    let after = query(listen, "pre.fw.test.", RecordType::A);
    assert_eq!(after.answers.len(), 1);
    assert!(after.answers[0].ttl >= 3, "{after:?}");
    assert_eq!(up.count("pre.fw.test."), 2);
}

/// A root server (port 53 on `root`) that delegates `sink.test.` to a
/// server on `sink` that never answers, and answers A for `*.ok.test.`
/// itself (NODATA for the rest, so minimised probes find no other cut).
/// Returns both and the root hints file.
fn sink_world(
    s: &Scratch,
    root: &'static str,
    sink: &'static str,
) -> (Responder, Responder, std::path::PathBuf) {
    let sink_ip: std::net::Ipv4Addr = sink.parse().expect("ip");
    let up = start_responder(&format!("{root}:53"), ".", move |name, qtype| {
        let canned = if name.ends_with("sink.test.") {
            Canned::Referral {
                zone: "sink.test.",
                ns: "ns.sink.test.",
                addr: sink_ip,
            }
        } else if qtype == RecordType::A && name.ends_with(".ok.test.") {
            Canned::A {
                addr: "192.0.2.94".parse().expect("ip"),
                ttl: 300,
            }
        } else {
            Canned::NoData {
                soa_ttl: 300,
                minimum: 300,
            }
        };
        (canned, Duration::ZERO)
    });
    let dead = start_responder(&format!("{sink}:53"), "sink.test.", |_, _| {
        (Canned::Silent, Duration::ZERO)
    });
    let hints = root_hints(s, root);
    (up, dead, hints)
}

/// Send `n` queries for unique names under `sink.test.` from `from`; the
/// replies that came within `wait`, as (rcode, EDE).
fn sink_flood(
    server: SocketAddr,
    from: &str,
    prefix: &str,
    n: usize,
    wait: Duration,
) -> Vec<(ResponseCode, Option<u16>)> {
    let sock = UdpSocket::bind(format!("{from}:0")).expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    for i in 0..n {
        let q = make_query(
            &format!("{prefix}{i}.sink.test."),
            RecordType::A,
            Some(1232),
        );
        sock.send_to(&q.to_vec().expect("encode"), server)
            .expect("send");
    }
    let until = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        if let Ok(len) = sock.recv(&mut buf) {
            if let Ok(m) = Message::from_vec(&buf[..len]) {
                got.push((m.metadata.response_code, ede_code(&buf[..len])));
            }
        }
    }
    got
}

#[test]
fn fetches_per_zone_drops_a_floods_excess_and_other_zones_go_on() {
    let s = Scratch::new("flight-fpz");
    let (_root, dead, hints) = sink_world(&s, "127.0.93.60", "127.0.93.61");
    let listen: SocketAddr = "127.0.93.62:5300".parse().expect("addr");
    let cfg = recursive_config(&s, "fpz", "127.0.93.62:5300", &hints).replace(
        "directory = ",
        "fetches-per-zone = 4\nquery-timeout = \"3s\"\ndirectory = ",
    );
    let sk = start_sekisho(&s.path, "fpz", &cfg, listen);
    let sock = s.path.join("control-fpz.sock");

    // 40 names under the dead zone at once, and a healthy name meanwhile.
    let flood = std::thread::spawn(move || {
        sink_flood(listen, "127.0.93.102", "f", 40, Duration::from_secs(7))
    });
    assert!(
        eventually(Duration::from_secs(2), || limit(&sock, "fetches-per-zone")
            .1
            >= 36),
        "drops {:?}",
        limit(&sock, "fetches-per-zone")
    );
    assert_eq!(limit(&sock, "fetches-per-zone").0, 4, "the quota in flight");
    let ok = query(listen, "www.ok.test.", RecordType::A);
    assert_eq!(ok.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ok.answers.len(), 1);
    // Only the four let through ever get an answer (SERVFAIL at their
    // deadline); the 36 refused get nothing ("drop", BIND's default).
    let got = flood.join().expect("flood");
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(
        got.iter().all(|(rc, _)| *rc == ResponseCode::ServFail),
        "{got:?}"
    );
    assert_eq!(limit(&sock, "fetches-per-zone").1, 36);
    // Nothing past the quota reached the server: each of the four was asked,
    // then asked once more after its timeout.
    assert!(
        dead.total() <= 8,
        "{} queries to the dead server",
        dead.total()
    );
    // Let go, logged once each way; the zone's next name is sent again.
    assert!(eventually(Duration::from_secs(3), || {
        limit(&sock, "fetches-per-zone").0 == 0
    }));
    assert!(eventually(Duration::from_secs(2), || {
        log_lines(&sk, &["limit released", "fetches-per-zone"]) == 1
    }));
    assert_eq!(log_lines(&sk, &["limit engaged", "fetches-per-zone"]), 1);
    let before = dead.total();
    let _ = sink_flood(
        listen,
        "127.0.93.102",
        "again",
        1,
        Duration::from_millis(300),
    );
    assert!(
        eventually(Duration::from_secs(2), || dead.total() > before),
        "let through again"
    );
}

#[test]
fn fetches_per_zone_response_fail_answers_the_excess_servfail_with_why() {
    let s = Scratch::new("flight-fpzf");
    let (_root, _dead, hints) = sink_world(&s, "127.0.93.63", "127.0.93.64");
    let listen: SocketAddr = "127.0.93.65:5300".parse().expect("addr");
    let cfg = recursive_config(&s, "fpzf", "127.0.93.65:5300", &hints).replace(
        "directory = ",
        "fetches-per-zone = 4\nfetches-per-zone-response = \"fail\"\nquery-timeout = \"2s\"\ndirectory = ",
    );
    let _sk = start_sekisho(&s.path, "fpzf", &cfg, listen);
    let sock = s.path.join("control-fpzf.sock");
    // Within a second: the 16 past the quota, SERVFAIL with EDE 0.
    let fast = sink_flood(listen, "127.0.93.103", "f", 20, Duration::from_secs(1));
    assert_eq!(fast.len(), 16, "{fast:?}");
    assert!(
        fast.iter().all(|r| *r == (ResponseCode::ServFail, Some(0))),
        "{fast:?}"
    );
    assert_eq!(limit(&sock, "fetches-per-zone").1, 16);
}

#[test]
fn fetches_per_server_fails_the_excess_for_a_zone_whose_servers_are_all_busy() {
    let s = Scratch::new("flight-fps");
    let (_root, dead, hints) = sink_world(&s, "127.0.93.66", "127.0.93.67");
    let listen: SocketAddr = "127.0.93.68:5300".parse().expect("addr");
    let cfg = recursive_config(&s, "fps", "127.0.93.68:5300", &hints).replace(
        "directory = ",
        "fetches-per-zone = 0\nfetches-per-server = 3\nquery-timeout = \"2s\"\ndirectory = ",
    );
    let sk = start_sekisho(&s.path, "fps", &cfg, listen);
    let sock = s.path.join("control-fps.sock");
    // One name first, so the zone's cut is known (the root's server has the
    // same quota of 3, and 20 questions at once would meet it there first).
    let warm = std::thread::spawn(move || {
        sink_flood(listen, "127.0.93.104", "warm", 1, Duration::from_millis(10))
    });
    assert!(eventually(Duration::from_secs(2), || dead.total() == 1));
    // Two more wait at the only server of sink.test.; the other 18 are
    // answered at once (BIND's default for this quota: fail), and say why.
    let fast = sink_flood(listen, "127.0.93.105", "f", 20, Duration::from_secs(1));
    assert_eq!(fast.len(), 18, "{fast:?}");
    assert!(
        fast.iter().all(|r| *r == (ResponseCode::ServFail, Some(0))),
        "{fast:?}"
    );
    assert_eq!(limit(&sock, "fetches-per-server").1, 18);
    // The three asked, and asked once more after a timeout: never more.
    assert!((3..=6).contains(&dead.total()), "{} sent", dead.total());
    let _ = warm.join();
    // The root's server is not held back meanwhile: other zones resolve.
    let ok = query(listen, "www.ok.test.", RecordType::A);
    assert_eq!(ok.metadata.response_code, ResponseCode::NoError);
    // Let go once the three have timed out, logged once each way.
    assert!(eventually(Duration::from_secs(5), || {
        limit(&sock, "fetches-per-server").0 == 0
    }));
    // Logged once per change of state, never per refused query (18 here): the
    // retries after the timeouts may engage and release it once more.
    assert!(
        eventually(Duration::from_secs(3), || {
            let engaged = log_lines(&sk, &["limit engaged", "fetches-per-server"]);
            let released = log_lines(&sk, &["limit released", "fetches-per-server"]);
            (1..=2).contains(&released) && engaged == released
        }),
        "{}",
        sk.log_text()
    );
}
