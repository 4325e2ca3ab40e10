//! Listen addresses changed by a reload, against the real binary: added
//! ones are bound and served, removed ones stop reading and accepting but
//! answer what they have in flight, unchanged ones are not touched (a
//! connection open across the reload goes on), and an address that cannot
//! be bound makes the whole reload change nothing, naming key and address.
//! DoT and DoH listeners move the same way (checked with `kdig`), and the
//! first one added to a daemon that loaded no certificate is refused.
//! Each test owns addresses in 127.0.220.0/24.

mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

/// Forwarding `up.test.` to `upstream`; `listen` and `listen_http` are TOML lists' insides.
fn config(s: &Scratch, listen: &str, listen_http: &str, allow: &str) -> String {
    format!(
        r#"[server]
listen = [{listen}]
listen-http = [{listen_http}]
allow-query = ["{allow}"]
allow-recursion = ["127.0.0.0/8"]
directory = "{dir}"
udp-workers = 2

[[forward-zone]]
name = "up.test."
forward-addr = ["127.0.220.29@5300"]
timeout = "3s"

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

/// Writes `config` to `file`, sends SIGHUP to `sk` and waits for it to log `line`.
fn reload_with(sk: &Proc, file: &Path, config: String, line: &str) {
    std::fs::write(file, config).expect("write");
    sk.signal("HUP");
    assert!(
        eventually(Duration::from_secs(5), || sk.log_text().contains(line)),
        "{}",
        sk.log_text()
    );
}

/// Whether anything answers a TCP connection at `addr`.
fn tcp_open(addr: &str) -> bool {
    TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_millis(500)).is_ok()
}

/// One query over UDP with a short timeout: the reply, if any.
fn udp(server: &str, name: &str) -> Option<Message> {
    query_udp_from(
        None,
        server.parse().expect("addr"),
        name,
        RecordType::A,
        None,
        Duration::from_millis(500),
    )
}

#[test]
fn a_reload_adds_and_removes_listeners_and_drains_the_removed_ones() {
    let s = Scratch::new("listen-reload");
    for ip in [
        "127.0.220.21",
        "127.0.220.22",
        "127.0.220.23",
        "127.0.220.29",
    ] {
        add_loopback(ip);
    }
    // `slow` names are answered after 1.5 s: in flight across the reload.
    let up = start_responder("127.0.220.29:5300", "up.test.", |name, _| {
        let delay = if name.starts_with("slow") {
            Duration::from_millis(1500)
        } else {
            Duration::ZERO
        };
        (
            Canned::A {
                addr: Ipv4Addr::new(192, 0, 2, 8),
                ttl: 600,
            },
            delay,
        )
    });
    let (a, b, c) = (
        "127.0.220.21:5300",
        "127.0.220.22:5300",
        "127.0.220.23:5300",
    );
    let first = config(
        &s,
        &format!(r#""{a}", "{b}""#),
        r#""127.0.220.21:8053""#,
        "127.0.0.0/8",
    );
    let sk = start_sekisho(&s.path, "lr", &first, a.parse().expect("addr"));
    let cf = s.path.join("sekisho-lr.toml");
    let sock = s.path.join("control.sock");
    assert!(udp(b, "x.up.test.").is_some());
    assert!(!tcp_open("127.0.220.23:8053"));

    // A TCP connection to the address that stays, open across the reload.
    let mut kept = TcpStream::connect(a).expect("connect");
    kept.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    // A query in flight on the address that goes.
    let client = UdpSocket::bind("127.0.220.21:0").expect("client");
    client
        .set_read_timeout(Some(Duration::from_secs(4)))
        .expect("timeout");
    let slow = make_query("slow.up.test.", RecordType::A, None);
    client
        .send_to(&slow.to_vec().expect("encode"), b)
        .expect("send");
    assert!(eventually(Duration::from_secs(2), || up
        .count("slow.up.test.")
        == 1));
    let asked = Instant::now();

    reload_with(
        &sk,
        &cf,
        config(
            &s,
            &format!(r#""{a}", "{c}""#),
            r#""127.0.220.23:8053""#,
            "127.0.0.0/8",
        ),
        "listeners changed by reload",
    );
    assert!(
        asked.elapsed() < Duration::from_millis(1400),
        "the reload is done while the slow query is still in flight"
    );
    // The removed address answers what it had in flight...
    let mut buf = [0u8; 4096];
    let (n, from) = client.recv_from(&mut buf).expect("the slow answer");
    assert_eq!(from, b.parse::<SocketAddr>().expect("addr"));
    let answer = Message::from_vec(&buf[..n]).expect("decode");
    assert_eq!(answer.metadata.id, slow.metadata.id);
    assert_eq!(answer.answers.len(), 1, "{answer:?}");
    // ...and nothing more, over UDP, TCP or HTTP.
    assert!(
        eventually(Duration::from_secs(3), || udp(b, "y.up.test.").is_none()
            && !tcp_open(b)
            && !tcp_open("127.0.220.21:8053")),
        "{}",
        sk.log_text()
    );
    // The added ones are served.
    assert_eq!(
        udp(c, "z.up.test.")
            .expect("udp on the new address")
            .answers
            .len(),
        1
    );
    assert_eq!(
        query_tcp(c.parse().expect("addr"), "z.up.test.", RecordType::A)
            .answers
            .len(),
        1
    );
    assert!(tcp_open("127.0.220.23:8053"));
    // The one that stayed was not touched: the connection opened before goes on.
    let q = make_query("kept.up.test.", RecordType::A, None);
    write_frame(&mut kept, &q.to_vec().expect("encode"));
    let reply = Message::from_vec(&read_frame(&mut kept).expect("answer on the kept connection"))
        .expect("decode");
    assert_eq!(reply.metadata.id, q.metadata.id);
    let (code, out, _) = ctl(&sock, &["status"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("listening on: {a} {c} http://127.0.220.23:8053/")),
        "{out}"
    );

    // An address that cannot be bound (TEST-NET-1 is on no interface): the
    // whole reload changes nothing, and the log names key and address.
    reload_with(
        &sk,
        &cf,
        config(
            &s,
            &format!(r#""{a}", "{c}", "192.0.2.1:5300""#),
            r#""127.0.220.23:8053""#,
            "127.0.220.99/32",
        ),
        "reload refused: a new listen address cannot be served",
    );
    assert!(
        sk.log_text().contains("server.listen 192.0.2.1:5300"),
        "{}",
        sk.log_text()
    );
    // The access list was not applied either: this client is still admitted.
    let r = udp(c, "w.up.test.").expect("answer");
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(r.answers.len(), 1);
    assert!(udp(a, "w.up.test.").is_some());
}

/// `kdig` over TLS (`+tls`) or HTTPS (`+https=/dns-query`) to `addr`, the
/// certificate checked against `ca`: whether it got an A record for `name`.
fn kdig_answers(addr: &str, ca: &Path, how: &str, name: &str) -> (bool, String) {
    let addr: SocketAddr = addr.parse().expect("addr");
    let out = Command::new("kdig")
        .args([
            format!("@{}", addr.ip()),
            "-p".into(),
            addr.port().to_string(),
            format!("+tls-ca={}", ca.display()),
            format!("+tls-hostname={CERT_NAME}"),
            "+time=3".into(),
            "+retry=0".into(),
            how.into(),
            name.into(),
            "A".into(),
            "+short".into(),
        ])
        .output()
        .expect("kdig (apt-get install knot-dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && text.trim() == "192.0.2.8", text)
}

/// The name the test certificate is made for.
const CERT_NAME: &str = "reload.test.invalid";

/// A config with DoT and DoH addresses (`tls`, `https`: TOML lists' insides)
/// and, with `certs`, the certificate.
fn tls_config(s: &Scratch, tls: &str, https: &str, certs: Option<&Certs>) -> String {
    let files = certs.map_or(String::new(), |c| {
        format!(
            "tls-cert-file = \"{}\"\ntls-key-file = \"{}\"\n",
            c.cert.display(),
            c.key.display()
        )
    });
    config(s, r#""127.0.220.31:5300""#, "", "127.0.0.0/8")
        .replace(
            "listen-http = []\n",
            &format!("listen-tls = [{tls}]\nlisten-https = [{https}]\n{files}"),
        )
        .replace("127.0.220.29@5300", "127.0.220.39@5300")
}

#[test]
fn a_reload_moves_encrypted_listeners_and_refuses_the_first_one_without_a_certificate() {
    let s = Scratch::new("listen-reload-tls");
    for ip in ["127.0.220.31", "127.0.220.32", "127.0.220.39"] {
        add_loopback(ip);
    }
    let _up = start_responder("127.0.220.39:5300", "up.test.", |_, _| {
        (
            Canned::A {
                addr: Ipv4Addr::new(192, 0, 2, 8),
                ttl: 600,
            },
            Duration::ZERO,
        )
    });
    let certs = make_certs(&s.path, CERT_NAME, "127.0.220.31");
    let (t1, t2, h) = (
        "127.0.220.31:8530",
        "127.0.220.32:8530",
        "127.0.220.32:4430",
    );
    // Started without encrypted listeners: no certificate is loaded.
    let sk = start_sekisho(
        &s.path,
        "lrt",
        &tls_config(&s, "", "", None),
        "127.0.220.31:5300".parse().expect("addr"),
    );
    let cf = s.path.join("sekisho-lrt.toml");
    reload_with(
        &sk,
        &cf,
        tls_config(&s, &format!(r#""{t1}""#), "", Some(&certs)),
        "reload refused: a new listen address cannot be served",
    );
    assert!(
        sk.log_text()
            .contains("server.listen-tls 127.0.220.31:8530: no TLS certificate loaded"),
        "{}",
        sk.log_text()
    );
    assert!(!tcp_open(t1));
    drop(sk);

    // Started with DoT on one address, then moved, and DoH added.
    let sk = start_sekisho(
        &s.path,
        "lrt",
        &tls_config(&s, &format!(r#""{t1}""#), "", Some(&certs)),
        "127.0.220.31:5300".parse().expect("addr"),
    );
    wait_tcp(t1.parse().expect("addr"), Duration::from_secs(10));
    let (ok, out) = kdig_answers(t1, &certs.ca, "+tls", "a.up.test.");
    assert!(ok, "{out}\n{}", sk.log_text());
    reload_with(
        &sk,
        &cf,
        tls_config(
            &s,
            &format!(r#""{t2}""#),
            &format!(r#""{h}""#),
            Some(&certs),
        ),
        "listeners changed by reload",
    );
    let (ok, out) = kdig_answers(t2, &certs.ca, "+tls", "b.up.test.");
    assert!(ok, "DoT on the added address: {out}\n{}", sk.log_text());
    let (ok, out) = kdig_answers(h, &certs.ca, "+https=/dns-query", "c.up.test.");
    assert!(ok, "DoH on the added address: {out}\n{}", sk.log_text());
    assert!(
        eventually(Duration::from_secs(3), || !tcp_open(t1)),
        "the removed DoT address stops accepting"
    );
}
