//! Forwarding end to end against real peers: NSD as the authoritative
//! source, Unbound as the upstream (plain, DNS over TLS and DNS over HTTPS), the real
//! `sekisho` binary in between. Each test owns 127.0.3X.0/24 (DNS over
//! HTTPS: 127.0.19X.0/24).

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

/// A sekisho config forwarding `example1.jp.` to `addrs`.
fn config(
    scratch: &Scratch,
    listen: &str,
    addrs: &[String],
    extra_zone: &str,
    extra: &str,
) -> String {
    let addrs = addrs
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"[server]
listen = ["{listen}"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{dir}"
{extra}
[[forward-zone]]
name = "example1.jp."
forward-addr = [{addrs}]
{extra_zone}

# The upstream is an authoritative test server with no DNSSEC data.
[dnssec]
validation = "no"

[control]
socket = "{dir}/control.sock"

[metrics]
listen = "none"
"#,
        dir = scratch.path.display()
    )
}

fn a_record(m: &hickory_proto::op::Message) -> Option<std::net::Ipv4Addr> {
    m.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(a.0),
        _ => None,
    })
}

/// What stands on a DoT upstream's own address and port: a TCP listener
/// that relays every connection opening with a TLS handshake record to the
/// real DoT listener (Unbound, on another port that Sekisho is not told
/// about), and counts as plaintext every UDP datagram and every TCP
/// connection that opens with anything else (plain DNS over TCP opens with
/// a two-octet length). Nothing in clear is ever answered, so a plaintext
/// fall-back can neither pass unseen nor get an answer.
struct DotFront {
    /// UDP datagrams and non-TLS TCP connections received.
    plaintext: Arc<AtomicUsize>,
    /// TCP connections that opened with a TLS handshake and were relayed.
    tls: Arc<AtomicUsize>,
}

fn dot_front(front: SocketAddr, backend: SocketAddr) -> DotFront {
    let plaintext = Arc::new(AtomicUsize::new(0));
    let tls = Arc::new(AtomicUsize::new(0));
    let udp = UdpSocket::bind(front).expect("bind the UDP trap on the DoT address and port");
    let tcp = TcpListener::bind(front).expect("bind the TCP front on the DoT address and port");
    let p = plaintext.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while udp.recv_from(&mut buf).is_ok() {
            p.fetch_add(1, Ordering::SeqCst);
        }
    });
    let (p, t) = (plaintext.clone(), tls.clone());
    std::thread::spawn(move || {
        for conn in tcp.incoming().flatten() {
            let (p, t) = (p.clone(), t.clone());
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = [0u8; 2];
                let n = loop {
                    match conn.peek(&mut head) {
                        Ok(n) if n >= 2 || n == 0 => break n,
                        Ok(_) => std::thread::sleep(Duration::from_millis(5)),
                        Err(_) => break 0,
                    }
                };
                if n == 0 {
                    return; // closed or silent: nothing was sent in clear
                }
                // A TLS record of type handshake (22), version 3.x.
                if head != [0x16, 0x03] {
                    p.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                t.fetch_add(1, Ordering::SeqCst);
                let _ = conn.set_read_timeout(None);
                let Ok(back) = TcpStream::connect(backend) else {
                    return;
                };
                let (Ok(mut c_rd), Ok(mut b_wr)) = (conn.try_clone(), back.try_clone()) else {
                    return;
                };
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_rd, &mut b_wr);
                    let _ = b_wr.shutdown(std::net::Shutdown::Write);
                });
                let (mut b_rd, mut c_wr) = (back, conn);
                let _ = std::io::copy(&mut b_rd, &mut c_wr);
                let _ = c_wr.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    DotFront { plaintext, tls }
}

#[test]
fn answers_come_over_dot_and_nothing_in_clear_reaches_the_upstreams_address_and_port() {
    let s = Scratch::new("dot");
    let zone = s.file("example1.jp.zone", &example_zone("example1.jp."));
    let _nsd = start_nsd(&s.path, "127.0.31.1", 5353, &[("example1.jp.", &zone)]);
    let certs = make_certs(&s.path, "dot.test.invalid", "127.0.31.2");
    // Sekisho is told 127.0.31.2@8853; Unbound's DoT listener sits behind the front on 8854.
    let front = dot_front(
        "127.0.31.2:8853".parse().expect("addr"),
        "127.0.31.2:8854".parse().expect("addr"),
    );
    let unbound = start_unbound(
        &s.path,
        "127.0.31.2",
        8854,
        Some(&certs),
        "example1.jp.",
        "127.0.31.1@5353",
    );
    let extra = format!(
        "forward-tls-upstream = true\ntls-ca-file = \"{}\"",
        certs.ca.display()
    );
    let listen: SocketAddr = "127.0.31.3:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "127.0.31.3:5300",
        &["127.0.31.2@8853#dot.test.invalid".into()],
        &extra,
        "",
    );
    let mut sk = start_sekisho(&s.path, "dot", &cfg, listen);

    let m = query(listen, "www.example1.jp.", RecordType::A);
    assert_eq!(
        front.plaintext.load(Ordering::SeqCst),
        0,
        "nothing reached the upstream's address and port in clear"
    );
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NoError,
        "{}",
        sk.log_text()
    );
    assert_eq!(a_record(&m), Some("192.0.2.1".parse().expect("ip")));
    // Several more, over TCP too, all through the one TLS connection.
    for name in ["alias.example1.jp.", "bad.example1.jp."] {
        let m = query_tcp(listen, name, RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(a_record(&m).is_some(), "{m:?}");
    }
    for name in ["www.example1.jp", "alias.example1.jp", "bad.example1.jp"] {
        assert_eq!(
            unbound_queries_for(&unbound, name),
            1,
            "the DoT upstream saw {name}, and it can only be reached over TLS"
        );
    }
    assert_eq!(
        front.plaintext.load(Ordering::SeqCst),
        0,
        "nothing reached the upstream's address and port in clear"
    );
    assert_eq!(
        front.tls.load(Ordering::SeqCst),
        1,
        "one TLS connection carried every query"
    );
    assert_eq!(sk.stop(), Some(0), "clean exit on SIGTERM");
}

#[test]
fn a_dot_upstream_whose_certificate_does_not_carry_the_auth_name_is_not_used() {
    let s = Scratch::new("dot-badname");
    let zone = s.file("example1.jp.zone", &example_zone("example1.jp."));
    let _nsd = start_nsd(&s.path, "127.0.32.1", 5353, &[("example1.jp.", &zone)]);
    let certs = make_certs(&s.path, "dot.test.invalid", "127.0.32.2");
    let unbound = start_unbound(
        &s.path,
        "127.0.32.2",
        8853,
        Some(&certs),
        "example1.jp.",
        "127.0.32.1@5353",
    );
    let extra = format!(
        "forward-tls-upstream = true\ntls-ca-file = \"{}\"",
        certs.ca.display()
    );
    let listen: SocketAddr = "127.0.32.3:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "127.0.32.3:5300",
        &["127.0.32.2@8853#wrong.test.invalid".into()],
        &extra,
        "",
    );
    let _sk = start_sekisho(&s.path, "dot-badname", &cfg, listen);
    let m = query(listen, "www.example1.jp.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(
        unbound_queries_for(&unbound, "www.example1.jp"),
        0,
        "no query went over an unauthenticated channel"
    );
}

#[test]
fn a_dot_upstream_whose_certificate_chains_to_an_untrusted_ca_is_not_used() {
    let s = Scratch::new("dot-badca");
    let zone = s.file("example1.jp.zone", &example_zone("example1.jp."));
    let _nsd = start_nsd(&s.path, "127.0.72.1", 5353, &[("example1.jp.", &zone)]);
    // The CA Sekisho trusts, and another one (same subject name, another
    // key) that signed the certificate Unbound presents: right name and
    // address, wrong issuer.
    let trusted = make_certs(&s.path, "dot.test.invalid", "127.0.72.2");
    let rogue_dir = s.path.join("rogue");
    std::fs::create_dir_all(&rogue_dir).expect("rogue dir");
    let rogue = make_certs(&rogue_dir, "dot.test.invalid", "127.0.72.2");
    let unbound = start_unbound(
        &s.path,
        "127.0.72.2",
        8853,
        Some(&rogue),
        "example1.jp.",
        "127.0.72.1@5353",
    );
    let extra = format!(
        "forward-tls-upstream = true\ntls-ca-file = \"{}\"",
        trusted.ca.display()
    );
    let listen: SocketAddr = "127.0.72.3:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "127.0.72.3:5300",
        &["127.0.72.2@8853#dot.test.invalid".into()],
        &extra,
        "",
    )
    .replace("listen = \"none\"", "listen = \"127.0.72.3:9153\"");
    let sk = start_sekisho(&s.path, "dot-badca", &cfg, listen);
    let m = query(listen, "www.example1.jp.", RecordType::A);
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::ServFail,
        "{}",
        sk.log_text()
    );
    assert_eq!(
        unbound_queries_for(&unbound, "www.example1.jp"),
        0,
        "no query went over an unauthenticated channel"
    );
    let metrics = http_get("127.0.72.3:9153", "/metrics");
    let tls_errors = metric_value(
        &metrics,
        "sekisho_upstream_errors_total",
        &[
            r#"upstream="127.0.72.2@8853#dot.test.invalid""#,
            r#"reason="tls""#,
        ],
    );
    assert!(
        tls_errors.is_some_and(|n| n >= 1.0),
        "the refused handshake is counted as a tls error: {tls_errors:?}\n{metrics}"
    );
}

#[test]
fn allow_recursion_and_allow_query_each_refuse_the_clients_outside_them() {
    let s = Scratch::new("allow-recursion");
    let up = start_responder("127.0.72.21:5353", "example1.jp.", |_, _| {
        (
            Canned::A {
                addr: "192.0.2.72".parse().expect("ip"),
                ttl: 300,
            },
            Duration::ZERO,
        )
    });
    let listen: SocketAddr = "127.0.72.22:5300".parse().expect("addr");
    // allow-query: .24-.31; allow-recursion: .25 and .40.
    let cfg = config(&s, "127.0.72.22:5300", &["127.0.72.21@5353".into()], "", "")
        .replace(
            "allow-query = [\"127.0.0.0/8\"]",
            "allow-query = [\"127.0.72.24/29\"]",
        )
        .replace(
            "allow-recursion = [\"127.0.0.0/8\"]",
            "allow-recursion = [\"127.0.72.25/32\", \"127.0.72.40/32\"]",
        );
    let _sk = start_sekisho(&s.path, "allow-recursion", &cfg, listen);
    let ask = |from: &str, name: &str| {
        query_udp_from(
            Some(from.parse().expect("ip")),
            listen,
            name,
            RecordType::A,
            Some(1232),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no answer to {from} for {name}"))
    };

    // In both lists: answered, and the answer is now cached.
    let m = ask("127.0.72.25", "www.example1.jp.");
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_record(&m), Some("192.0.2.72".parse().expect("ip")));
    assert_eq!(up.count("www.example1.jp."), 1);

    // In allow-query only: REFUSED, for a cached name (docs/config.md:
    // allow-recursion covers answers from the cache too) and for a new one,
    // which is not sent upstream.
    for name in ["www.example1.jp.", "new.example1.jp."] {
        let m = ask("127.0.72.26", name);
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::Refused,
            "{name} for a client outside allow-recursion"
        );
        assert!(m.answers.is_empty());
    }
    // In allow-recursion only: REFUSED too.
    let m = ask("127.0.72.40", "www.example1.jp.");
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::Refused,
        "a client outside allow-query"
    );
    assert!(m.answers.is_empty());
    assert_eq!(
        up.count("new.example1.jp."),
        0,
        "nothing refused went upstream"
    );
    assert_eq!(up.count("www.example1.jp."), 1);
}

#[test]
fn queries_fail_over_when_an_upstream_stops_and_lazy_checks_bring_it_back() {
    let s = Scratch::new("failover");
    let zone = s.file("example1.jp.zone", &example_zone("example1.jp."));
    let _nsd = start_nsd(&s.path, "127.0.33.1", 5353, &[("example1.jp.", &zone)]);
    let mut first = start_unbound(
        &s.path,
        "127.0.33.2",
        5353,
        None,
        "example1.jp.",
        "127.0.33.1@5353",
    );
    let second = start_unbound(
        &s.path,
        "127.0.33.3",
        5353,
        None,
        "example1.jp.",
        "127.0.33.1@5353",
    );
    let hc = r#"selection = "ordered"
timeout = "300ms"
health-check = { mode = "lazy", check-interval = "200ms", failed-interval = "500ms", rise = 2, max-failures = 3, threshold = 30, sample-size = 20, min-sample-count = 3, lazy-mode = "timeout-only", check-name = "probe.example1.jp.", check-type = "A" }"#;
    let listen: SocketAddr = "127.0.33.4:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "127.0.33.4:5300",
        &["127.0.33.2@5353".into(), "127.0.33.3@5353".into()],
        hc,
        "query-timeout = \"3s\"",
    );
    let sk = start_sekisho(&s.path, "failover", &cfg, listen);
    let sock = s.path.join("control.sock");

    // Healthy: the first upstream answers everything, and is never probed.
    for i in 0..20 {
        let m = query(listen, &format!("n{i}.example1.jp."), RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    }
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        unbound_queries_for(&first, "probe.example1.jp"),
        0,
        "lazy mode sends no probe to a healthy upstream"
    );
    assert_eq!(
        unbound_queries_for(&second, "n3.example1.jp"),
        0,
        "ordered selection keeps to the first"
    );

    // Stop the first: queries still get answers, from the second.
    first.stop();
    for i in 0..10 {
        let m = query(listen, &format!("f{i}.example1.jp."), RecordType::A);
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::NXDomain,
            "failover answer {i}: {}",
            sk.log_text()
        );
    }
    assert!(unbound_queries_for(&second, "f9.example1.jp") >= 1);
    assert!(
        eventually(Duration::from_secs(5), || ctl(&sock, &["status"])
            .1
            .contains("127.0.33.2@5353 (udp): down")),
        "first upstream marked down: {}",
        ctl(&sock, &["status"]).1
    );

    // Restart it on the same address: probes every failed-interval bring it back after rise=2.
    let first = start_unbound(
        &s.path,
        "127.0.33.2",
        5353,
        None,
        "example1.jp.",
        "127.0.33.1@5353",
    );
    assert!(
        eventually(Duration::from_secs(10), || ctl(&sock, &["status"])
            .1
            .contains("127.0.33.2@5353 (udp): up")),
        "restarted upstream back up: {}",
        ctl(&sock, &["status"]).1
    );
    assert!(
        unbound_queries_for(&first, "probe.example1.jp") >= 2,
        "it was probed until rise successes"
    );
    let log = sk.log_text();
    assert_eq!(
        log.matches("upstream marked down").count(),
        1,
        "one log line per state change, not per query:\n{log}"
    );
}

#[test]
fn the_cache_answers_repeats_counts_ttls_down_and_keeps_negative_answers() {
    let s = Scratch::new("cache");
    let (_nsd, up) = start_example_upstream(&s, "127.0.34.1", "127.0.34.2");
    let listen: SocketAddr = "127.0.34.3:5300".parse().expect("addr");
    let cfg = config(&s, "127.0.34.3:5300", &["127.0.34.2@5353".into()], "", "");
    let _sk = start_sekisho(&s.path, "cache", &cfg, listen);

    let first = query(listen, "www.example1.jp.", RecordType::A);
    let ttl0 = first.answers[0].ttl;
    std::thread::sleep(Duration::from_millis(2100));
    let again = query(listen, "WwW.ExAmPlE1.jP.", RecordType::A);
    assert_eq!(
        unbound_queries_for(&up, "www.example1.jp"),
        1,
        "the repeat was a cache hit"
    );
    assert!(
        again.answers[0].ttl <= ttl0 - 2,
        "TTL counts down: {} then {}",
        ttl0,
        again.answers[0].ttl
    );
    assert_eq!(
        again.queries[0].name().to_ascii(),
        "WwW.ExAmPlE1.jP.",
        "0x20 case echoed"
    );
    assert_eq!(a_record(&again), a_record(&first));

    for _ in 0..3 {
        let nx = query(listen, "nope.example1.jp.", RecordType::A);
        assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
        assert!(nx
            .authorities
            .iter()
            .any(|r| r.record_type() == RecordType::SOA));
    }
    assert_eq!(
        unbound_queries_for(&up, "nope.example1.jp"),
        1,
        "the negative answer was cached"
    );

    // A 3 s TTL expires and is fetched again.
    query(listen, "short.example1.jp.", RecordType::A);
    std::thread::sleep(Duration::from_millis(3200));
    query(listen, "short.example1.jp.", RecordType::A);
    assert_eq!(
        unbound_queries_for(&up, "short.example1.jp"),
        2,
        "expired entries are not served"
    );
}

#[test]
fn large_answers_are_truncated_over_udp_and_complete_over_tcp() {
    let s = Scratch::new("tc");
    let (_nsd, _up) = start_example_upstream(&s, "127.0.34.11", "127.0.34.12");
    let listen: SocketAddr = "127.0.34.13:5300".parse().expect("addr");
    let cfg = config(&s, "127.0.34.13:5300", &["127.0.34.12@5353".into()], "", "");
    let sk = start_sekisho(&s.path, "tc", &cfg, listen);

    // The 40-string TXT RRset is ~2.6 kB: larger than the 1232-byte buffer,
    // so Sekisho itself must have fetched it from the upstream over TCP.
    let udp = query_udp_from(
        None,
        listen,
        "big.example1.jp.",
        RecordType::TXT,
        Some(4096),
        Duration::from_secs(5),
    )
    .expect("udp answer");
    assert!(udp.metadata.truncation, "TC=1 over UDP: {}", sk.log_text());
    assert!(udp.answers.is_empty());
    let tcp = query_tcp(listen, "big.example1.jp.", RecordType::TXT);
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 40);
    // Without EDNS the limit is 512 octets.
    let plain = query_udp_from(
        None,
        listen,
        "www.example1.jp.",
        RecordType::A,
        None,
        Duration::from_secs(5),
    )
    .expect("answer");
    assert!(!plain.metadata.truncation);
    assert!(plain.edns.is_none(), "no OPT to a client that sent none");
}

#[test]
fn tcp_queries_pipelined_on_one_connection_are_all_answered() {
    let s = Scratch::new("pipeline");
    let (_nsd, _up) = start_example_upstream(&s, "127.0.34.21", "127.0.34.22");
    let listen: SocketAddr = "127.0.34.23:5300".parse().expect("addr");
    let cfg = config(&s, "127.0.34.23:5300", &["127.0.34.22@5353".into()], "", "");
    let _sk = start_sekisho(&s.path, "pipeline", &cfg, listen);
    let mut conn = TcpStream::connect(listen).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let names = ["www", "alias", "bad", "nope1", "nope2", "probe"];
    let mut ids = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let mut m = make_query(&format!("{n}.example1.jp."), RecordType::A, Some(1232));
        m.metadata.id = 1000 + i as u16;
        ids.push(m.metadata.id);
        write_frame(&mut conn, &m.to_vec().expect("encode"));
    }
    let mut got = Vec::new();
    for _ in &names {
        let r = hickory_proto::op::Message::from_vec(&read_frame(&mut conn).expect("answer"))
            .expect("decode");
        got.push(r.metadata.id);
    }
    got.sort_unstable();
    assert_eq!(got, ids);
}

#[test]
fn answers_come_over_doh_on_one_reused_connection_and_the_upstream_counts_them_as_https() {
    let s = Scratch::new("doh");
    let zone = s.file("example1.jp.zone", &example_zone("example1.jp."));
    let _nsd = start_nsd(&s.path, "127.0.190.1", 5353, &[("example1.jp.", &zone)]);
    let certs = make_certs(&s.path, "doh.test.invalid", "127.0.190.2");
    // Sekisho is told port 8443; Unbound's DoH listener sits behind the
    // counting front on 8444, so every TLS connection Sekisho opens is seen.
    let front = dot_front(
        "127.0.190.2:8443".parse().expect("addr"),
        "127.0.190.2:8444".parse().expect("addr"),
    );
    let unbound = start_unbound_on(
        &s.path,
        "127.0.190.2",
        8444,
        UnboundListener::Https(&certs),
        "example1.jp.",
        "127.0.190.1@5353",
    );
    let upstream = "https://127.0.190.2:8443/dns-query#doh.test.invalid";
    let extra = format!("tls-ca-file = \"{}\"", certs.ca.display());
    let listen: SocketAddr = "127.0.190.3:5300".parse().expect("addr");
    let cfg = config(&s, "127.0.190.3:5300", &[upstream.into()], &extra, "")
        .replace("listen = \"none\"", "listen = \"127.0.190.3:9153\"");
    let mut sk = start_sekisho(&s.path, "doh", &cfg, listen);

    // The answers are the authority's.
    let m = query(listen, "www.example1.jp.", RecordType::A);
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NoError,
        "{}",
        sk.log_text()
    );
    assert_eq!(a_record(&m), Some("192.0.2.1".parse().expect("ip")));
    let m = query_tcp(listen, "bad.example1.jp.", RecordType::A);
    assert_eq!(a_record(&m), Some("198.51.100.66".parse().expect("ip")));
    let m = query(listen, "alias.example1.jp.", RecordType::A);
    assert!(
        m.answers
            .iter()
            .any(|r| matches!(&r.data, RData::CNAME(c) if c.0.to_ascii() == "www.example1.jp.")),
        "{m:?}"
    );
    assert_eq!(a_record(&m), Some("192.0.2.1".parse().expect("ip")));

    // Many more, six clients at once: HTTP/2 streams on the same connection.
    let clients: Vec<_> = (0..6)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..5 {
                    let m = query(listen, &format!("n{t}-{i}.example1.jp."), RecordType::A);
                    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{m:?}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client thread");
    }
    let sent = 3 + 6 * 5;

    assert_eq!(
        front.plaintext.load(Ordering::SeqCst),
        0,
        "nothing reached the upstream's address and port in clear"
    );
    assert_eq!(
        front.tls.load(Ordering::SeqCst),
        1,
        "one TLS connection carried every query"
    );
    assert_eq!(unbound_queries_for(&unbound, "www.example1.jp"), 1);
    assert_eq!(unbound_queries_for(&unbound, "n5-4.example1.jp"), 1);
    let https = unbound_stat(&s.path, "127.0.190.2", "num.query.https");
    assert!(
        https >= sent,
        "Unbound counted {https} queries over HTTPS, expected at least {sent}"
    );
    let metrics = http_get("127.0.190.3:9153", "/metrics");
    let label = format!("upstream=\"{upstream}\"");
    let queries = metric_value(&metrics, "sekisho_upstream_queries_total", &[&label]);
    assert!(
        queries.is_some_and(|n| n >= sent as f64),
        "the upstream's metrics carry its https:// label: {queries:?}\n{metrics}"
    );
    for reason in ["http", "tls", "closed", "bad_response"] {
        let n = metric_value(
            &metrics,
            "sekisho_upstream_errors_total",
            &[&label, &format!("reason=\"{reason}\"")],
        );
        assert_eq!(n, Some(0.0), "no {reason} errors");
    }
    let status = ctl(&s.path.join("control.sock"), &["status"]).1;
    assert!(
        status.contains(&format!("{upstream} (https): up")),
        "{status}"
    );
    assert_eq!(sk.stop(), Some(0), "clean exit on SIGTERM");
}

#[test]
fn a_doh_upstream_whose_certificate_does_not_carry_the_auth_name_is_not_used() {
    let s = Scratch::new("doh-name");
    let zone = s.file("example1.jp.zone", &example_zone("example1.jp."));
    let _nsd = start_nsd(&s.path, "127.0.192.1", 5353, &[("example1.jp.", &zone)]);
    let certs = make_certs(&s.path, "doh.test.invalid", "127.0.192.2");
    let unbound = start_unbound_on(
        &s.path,
        "127.0.192.2",
        8444,
        UnboundListener::Https(&certs),
        "example1.jp.",
        "127.0.192.1@5353",
    );
    let extra = format!("tls-ca-file = \"{}\"", certs.ca.display());
    let listen: SocketAddr = "127.0.192.3:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "127.0.192.3:5300",
        &["https://127.0.192.2:8444/dns-query#wrong.test.invalid".into()],
        &extra,
        "",
    );
    let sk = start_sekisho(&s.path, "doh-name", &cfg, listen);
    let m = query(listen, "www.example1.jp.", RecordType::A);
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::ServFail,
        "{}",
        sk.log_text()
    );
    assert_eq!(
        unbound_queries_for(&unbound, "www.example1.jp"),
        0,
        "no query went over an unauthenticated channel"
    );
}

#[test]
fn doh_queries_fail_over_to_a_live_doh_upstream_and_lazy_checks_bring_the_dead_one_back() {
    let s = Scratch::new("doh-failover");
    let zone = s.file("example1.jp.zone", &example_zone("example1.jp."));
    let _nsd = start_nsd(&s.path, "127.0.191.1", 5353, &[("example1.jp.", &zone)]);
    let certs = make_certs(&s.path, "doh.test.invalid", "127.0.191.2");
    let doh = |ip: &str| {
        start_unbound_on(
            &s.path,
            ip,
            8444,
            UnboundListener::Https(&certs),
            "example1.jp.",
            "127.0.191.1@5353",
        )
    };
    let mut first = doh("127.0.191.2");
    let second = doh("127.0.191.3");
    let hc = format!(
        r#"tls-ca-file = "{}"
selection = "ordered"
timeout = "300ms"
health-check = {{ mode = "lazy", check-interval = "200ms", failed-interval = "500ms", rise = 2, max-failures = 3, threshold = 30, sample-size = 20, min-sample-count = 3, lazy-mode = "timeout-only", check-name = "probe.example1.jp.", check-type = "A" }}"#,
        certs.ca.display()
    );
    let (up1, up2) = (
        "https://127.0.191.2:8444/dns-query#doh.test.invalid",
        "https://127.0.191.3:8444/dns-query#doh.test.invalid",
    );
    let listen: SocketAddr = "127.0.191.4:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "127.0.191.4:5300",
        &[up1.into(), up2.into()],
        &hc,
        "query-timeout = \"3s\"",
    );
    let sk = start_sekisho(&s.path, "doh-failover", &cfg, listen);
    let sock = s.path.join("control.sock");

    for i in 0..10 {
        let m = query(listen, &format!("n{i}.example1.jp."), RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    }
    assert_eq!(unbound_queries_for(&first, "n9.example1.jp"), 1);
    assert_eq!(
        unbound_queries_for(&second, "n9.example1.jp"),
        0,
        "ordered selection keeps to the first"
    );

    // The first goes away (its HTTP/2 connection with it): answers come from the second.
    first.stop();
    for i in 0..10 {
        let m = query(listen, &format!("f{i}.example1.jp."), RecordType::A);
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::NXDomain,
            "failover answer {i}: {}",
            sk.log_text()
        );
    }
    assert!(unbound_queries_for(&second, "f9.example1.jp") >= 1);
    assert!(unbound_stat(&s.path, "127.0.191.3", "num.query.https") >= 1);
    assert!(
        eventually(Duration::from_secs(5), || ctl(&sock, &["status"])
            .1
            .contains(&format!("{up1} (https): down"))),
        "first upstream marked down: {}",
        ctl(&sock, &["status"]).1
    );

    // Back on the same address: probes over DoH bring it up after rise=2.
    let first = doh("127.0.191.2");
    assert!(
        eventually(Duration::from_secs(10), || ctl(&sock, &["status"])
            .1
            .contains(&format!("{up1} (https): up"))),
        "restarted upstream back up: {}",
        ctl(&sock, &["status"]).1
    );
    assert!(
        unbound_queries_for(&first, "probe.example1.jp") >= 2,
        "it was probed over DoH until rise successes"
    );
    let log = sk.log_text();
    assert_eq!(
        log.matches("upstream marked down").count(),
        1,
        "one log line per state change, not per query:\n{log}"
    );
}

#[test]
fn one_zone_mixes_plain_dot_and_doh_upstreams_each_reached_over_its_own_transport() {
    let s = Scratch::new("mixed");
    let zone = s.file("example1.jp.zone", &example_zone("example1.jp."));
    let _nsd = start_nsd(&s.path, "127.0.193.1", 5353, &[("example1.jp.", &zone)]);
    let certs = make_certs(&s.path, "up.test.invalid", "127.0.193.3");
    let stub = "127.0.193.1@5353";
    let plain = start_unbound_on(
        &s.path,
        "127.0.193.2",
        5353,
        UnboundListener::Plain,
        "example1.jp.",
        stub,
    );
    let dot = start_unbound_on(
        &s.path,
        "127.0.193.3",
        8853,
        UnboundListener::Tls(&certs),
        "example1.jp.",
        stub,
    );
    let doh = start_unbound_on(
        &s.path,
        "127.0.193.4",
        8444,
        UnboundListener::Https(&certs),
        "example1.jp.",
        stub,
    );
    let addrs = [
        "127.0.193.2@5353".to_owned(),
        "tls://127.0.193.3@8853#up.test.invalid".to_owned(),
        "https://127.0.193.4:8444/dns-query#up.test.invalid".to_owned(),
    ];
    let extra = format!(
        "selection = \"round-robin\"\ntls-ca-file = \"{}\"",
        certs.ca.display()
    );
    let listen: SocketAddr = "127.0.193.5:5300".parse().expect("addr");
    let cfg = config(&s, "127.0.193.5:5300", &addrs, &extra, "");
    let sk = start_sekisho(&s.path, "mixed", &cfg, listen);

    for i in 0..12 {
        let m = query(listen, &format!("m{i}.example1.jp."), RecordType::A);
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::NXDomain,
            "{}",
            sk.log_text()
        );
    }
    let m = query(listen, "www.example1.jp.", RecordType::A);
    assert_eq!(a_record(&m), Some("192.0.2.1".parse().expect("ip")));
    let saw = |p: &Proc| {
        (0..12)
            .filter(|i| unbound_queries_for(p, &format!("m{i}.example1.jp")) > 0)
            .count()
    };
    // Round robin over three: each saw a third, each over its own listener
    // (the DoT and DoH Unbounds listen for nothing else).
    assert_eq!(
        (saw(&plain), saw(&dot), saw(&doh)),
        (4, 4, 4),
        "{}",
        sk.log_text()
    );
    assert!(unbound_stat(&s.path, "127.0.193.4", "num.query.https") >= 4);
    let status = ctl(&s.path.join("control.sock"), &["status"]).1;
    for (addr, transport) in addrs.iter().zip(["udp", "tls", "https"]) {
        assert!(
            status.contains(&format!("{addr} ({transport}): up")),
            "{status}"
        );
    }
}

#[test]
fn a_doh_answer_that_is_not_200_counts_as_an_http_error_and_the_next_upstream_answers() {
    let s = Scratch::new("doh-404");
    let zone = s.file("example1.jp.zone", &example_zone("example1.jp."));
    let _nsd = start_nsd(&s.path, "127.0.194.1", 5353, &[("example1.jp.", &zone)]);
    let certs = make_certs(&s.path, "doh.test.invalid", "127.0.194.2");
    let unbound = start_unbound_on(
        &s.path,
        "127.0.194.2",
        8444,
        UnboundListener::Https(&certs),
        "example1.jp.",
        "127.0.194.1@5353",
    );
    // The same server twice: first at a path it does not serve (404), then right.
    let wrong = "https://127.0.194.2:8444/no-such-path#doh.test.invalid";
    let right = "https://127.0.194.2:8444/dns-query#doh.test.invalid";
    let extra = format!(
        "selection = \"ordered\"\ntls-ca-file = \"{}\"",
        certs.ca.display()
    );
    let listen: SocketAddr = "127.0.194.3:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "127.0.194.3:5300",
        &[wrong.into(), right.into()],
        &extra,
        "",
    )
    .replace("listen = \"none\"", "listen = \"127.0.194.3:9153\"");
    let sk = start_sekisho(&s.path, "doh-404", &cfg, listen);

    let m = query(listen, "www.example1.jp.", RecordType::A);
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NoError,
        "{}",
        sk.log_text()
    );
    assert_eq!(a_record(&m), Some("192.0.2.1".parse().expect("ip")));
    assert_eq!(unbound_queries_for(&unbound, "www.example1.jp"), 1);
    let metrics = http_get("127.0.194.3:9153", "/metrics");
    let http_errors = metric_value(
        &metrics,
        "sekisho_upstream_errors_total",
        &[&format!("upstream=\"{wrong}\""), r#"reason="http""#],
    );
    assert!(
        http_errors.is_some_and(|n| n >= 1.0),
        "the 404 is counted as an http error: {http_errors:?}\n{metrics}"
    );
}
