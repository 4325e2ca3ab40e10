//! The daemon as an operator meets it: access control, hostile packets,
//! the control command, config checking, the embedded default, and RD=0
//! queries (answered from the cache only).
//! Each test owns 127.0.35.0/24 .. 127.0.37.0/24.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

fn minimal(scratch: &Scratch, listen: &str, acl: &str) -> String {
    format!(
        "[server]\nlisten = [\"{listen}\"]\nallow-query = [{acl}]\nallow-recursion = [{acl}]\ndirectory = \"{d}\"\n[control]\nsocket = \"{d}/control.sock\"\n[metrics]\nlisten = \"none\"\n",
        d = scratch.path.display()
    )
}

#[test]
fn clients_outside_allow_recursion_are_refused() {
    let s = Scratch::new("acl");
    let listen: SocketAddr = "127.0.35.1:5300".parse().expect("addr");
    let _sk = start_sekisho(
        &s.path,
        "acl",
        &minimal(&s, "127.0.35.1:5300", "\"127.0.35.9/32\""),
        listen,
    );
    let outsider: IpAddr = "127.0.35.2".parse().expect("ip");
    let m = query_udp_from(
        Some(outsider),
        listen,
        "www.example1.jp.",
        RecordType::A,
        Some(1232),
        Duration::from_secs(3),
    )
    .expect("answer");
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert_eq!(m.queries.len(), 1, "the question is echoed");
    // As BIND 9.18 refuses: RA clear (no recursion for this client) and EDE 18.
    assert!(!m.metadata.recursion_available);
    let ede: Vec<u16> = m
        .edns
        .iter()
        .flat_map(|e| e.options().options.iter())
        .filter_map(|(_, o)| match o {
            hickory_proto::rr::rdata::opt::EdnsOption::Unknown(15, d) if d.len() >= 2 => {
                Some(u16::from_be_bytes([d[0], d[1]]))
            }
            _ => None,
        })
        .collect();
    assert_eq!(ede, [18], "EDE 18 (Prohibited)");
    let insider: IpAddr = "127.0.35.9".parse().expect("ip");
    let m = query_udp_from(
        Some(insider),
        listen,
        "www.example1.jp.",
        RecordType::A,
        Some(1232),
        Duration::from_secs(6),
    )
    .expect("answer");
    assert_ne!(
        m.metadata.response_code,
        ResponseCode::Refused,
        "an allowed client is served"
    );
}

#[test]
fn malformed_packets_get_formerr_or_nothing_and_the_server_keeps_answering() {
    let s = Scratch::new("malformed");
    let listen: SocketAddr = "127.0.35.11:5300".parse().expect("addr");
    let mut sk = start_sekisho(
        &s.path,
        "malformed",
        &minimal(&s, "127.0.35.11:5300", "\"127.0.0.0/8\""),
        listen,
    );
    let good = make_query("www.example1.jp.", RecordType::A, Some(1232))
        .to_vec()
        .expect("encode");
    let mut corpus: Vec<(&str, Vec<u8>, Option<u8>)> = vec![
        ("empty", vec![], None),
        ("truncated header", good[..7].to_vec(), None),
        ("header only", good[..12].to_vec(), Some(1)),
        (
            "response bit set",
            {
                let mut p = good.clone();
                p[2] |= 0x80;
                p
            },
            None,
        ),
        (
            "two questions",
            {
                let mut p = good.clone();
                p[5] = 2;
                p
            },
            Some(1),
        ),
        (
            "question cut short",
            good[..good.len() - 14].to_vec(),
            Some(1),
        ),
        (
            "label loop pointer",
            {
                let mut p = good[..12].to_vec();
                p.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
                p
            },
            Some(1),
        ),
        (
            "label past end",
            {
                let mut p = good[..12].to_vec();
                p.extend_from_slice(&[63, b'a']);
                p
            },
            Some(1),
        ),
        (
            "bad additional count",
            {
                let mut p = good.clone();
                p[11] = 5;
                p
            },
            Some(1),
        ),
        (
            "trailing garbage",
            {
                let mut p = good.clone();
                p.extend_from_slice(&[1, 2, 3]);
                p
            },
            Some(1),
        ),
        (
            "reserved label type",
            {
                let mut p = good[..12].to_vec();
                p.extend_from_slice(&[0x40, 0, 0, 1, 0, 1]);
                p
            },
            Some(1),
        ),
        (
            "unknown opcode",
            {
                let mut p = good.clone();
                p[2] = (p[2] & 0x87) | (5 << 3);
                p
            },
            Some(4),
        ),
        (
            "oversize name",
            {
                let mut p = good[..12].to_vec();
                for _ in 0..5 {
                    p.push(63);
                    p.extend_from_slice(&[b'x'; 63]);
                }
                p.extend_from_slice(&[0, 0, 1, 0, 1]);
                p
            },
            Some(1),
        ),
    ];
    let mut big = good.clone();
    big.extend(std::iter::repeat_n(0u8, 60000));
    corpus.push(("oversize datagram", big, Some(1)));
    for (what, packet, expect) in &corpus {
        let answer = exchange_udp(None, listen, packet, Duration::from_millis(500));
        match (expect, answer) {
            (None, None) => {}
            (None, Some(a)) => panic!("{what}: expected no answer, got {a:?}"),
            (Some(rcode), Some(a)) => {
                assert!(a.len() >= 12, "{what}: short answer");
                assert_eq!(a[3] & 0x0f, *rcode, "{what}: rcode");
                assert_eq!(&a[..2], &packet[..2], "{what}: ID echoed");
            }
            (Some(_), None) => panic!("{what}: no answer"),
        }
    }
    // Random garbage must never stop the server.
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..2000 {
        let len = (x % 300) as usize;
        let p: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let _ = exchange_udp(None, listen, &p, Duration::from_millis(1));
    }
    assert!(sk.is_running(), "still running after the corpus");
    let m = query(listen, "localhost.", RecordType::A);
    assert!(
        m.metadata.response_code == ResponseCode::ServFail
            || m.metadata.response_code == ResponseCode::NoError
    );
    assert!(!sk.log_text().contains("panicked"), "no task panicked");
}

#[test]
fn a_full_tcp_connection_table_refuses_new_connections() {
    let s = Scratch::new("tcplimit");
    let listen: SocketAddr = "127.0.35.21:5300".parse().expect("addr");
    let cfg = minimal(&s, "127.0.35.21:5300", "\"127.0.0.0/8\"").replace(
        "[server]\n",
        "[server]\ntcp-max-connections = 4\ntcp-idle-timeout = \"30s\"\n",
    );
    let _sk = start_sekisho(&s.path, "tcplimit", &cfg, listen);
    std::thread::sleep(Duration::from_millis(200)); // the readiness probe's connection closes
    let held: Vec<_> = (0..4)
        .map(|_| std::net::TcpStream::connect(listen).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = std::net::TcpStream::connect(listen).expect("the kernel still accepts");
    extra
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let q = make_query("a.example1.jp.", RecordType::A, None)
        .to_vec()
        .expect("encode");
    let _ = std::io::Write::write_all(
        &mut extra,
        &[&(q.len() as u16).to_be_bytes()[..], &q].concat(),
    );
    assert!(
        read_frame(&mut extra).is_none(),
        "the fifth connection is closed without an answer"
    );
    drop(held);
    let ok = eventually(Duration::from_secs(3), || {
        std::net::TcpStream::connect(listen)
            .ok()
            .and_then(|mut c| {
                c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                write_frame(&mut c, &q);
                read_frame(&mut c)
            })
            .is_some()
    });
    assert!(ok, "room again once connections close");
}

#[test]
fn sekishoctl_reports_status_flushes_and_stops_the_daemon() {
    let s = Scratch::new("ctl");
    let listen: SocketAddr = "127.0.36.1:5300".parse().expect("addr");
    let mut sk = start_sekisho(
        &s.path,
        "ctl",
        &minimal(&s, "127.0.36.1:5300", "\"127.0.0.0/8\""),
        listen,
    );
    let sock = s.path.join("control.sock");
    let mode = std::fs::metadata(&sock)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .expect("socket");
    assert_eq!(mode, 0o600);
    let (code, out, _) = ctl(&sock, &["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("listening on: 127.0.36.1:5300"), "{out}");
    let (code, out, _) = ctl(&sock, &["--json", "status"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["result"], "status");
    assert!(v["pid"].as_u64().is_some());
    let (code, out, _) = ctl(&sock, &["flush"]);
    assert_eq!((code, out.contains("flushed")), (0, true));
    let (code, _, err) = ctl(&sock, &["flushname"]);
    assert_eq!(code, 2, "missing argument is a usage error: {err}");
    let (code, _, err) = ctl(&sock, &["frobnicate"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = ctl(&sock, &["flushname", "bad..name"]);
    assert_eq!(code, 1, "the daemon's error gives exit 1: {err}");
    let (code, _, _) = ctl(&sock, &["stop"]);
    assert_eq!(code, 0);
    assert!(
        eventually(Duration::from_secs(5), || !sk.is_running()),
        "stop stops the daemon"
    );
    let (code, _, err) = ctl(&sock, &["status"]);
    assert_eq!(code, 3, "not running gives exit 3: {err}");
    assert!(err.contains("not running"));
}

#[test]
fn check_config_names_the_key_path_of_every_error() {
    let s = Scratch::new("checkconfig");
    let bad = s.file(
        "bad.toml",
        "[server]\nlisten = [\"127.0.0.1:99999\"]\nedns-buffer-size = 70000\n[[forward-zone]]\nname = \"example.jp.\"\nforward-addr = [\"not-an-ip@53\"]\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sekisho"))
        .arg("check-config")
        .arg(&bad)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "server.listen[0]",
        "server.edns-buffer-size",
        "forward-zone[0].forward-addr[0]",
    ] {
        assert!(err.contains(key), "{key} named in:\n{err}");
    }
    // A bad config also refuses to start.
    let out = Command::new(env!("CARGO_BIN_EXE_sekisho"))
        .arg("--config")
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let good = s.file(
        "good.toml",
        &minimal(&s, "127.0.36.9:5300", "\"127.0.0.0/8\""),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sekisho"))
        .arg("check-config")
        .arg(&good)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn with_no_arguments_sekisho_runs_the_embedded_default_on_port_5300() {
    let s = Scratch::new("default");
    let mut sk = Proc::spawn(
        "sekisho",
        Command::new(env!("CARGO_BIN_EXE_sekisho")).env("XDG_RUNTIME_DIR", &s.path),
        s.path.join("default.log"),
    );
    let listen: SocketAddr = "127.0.0.1:5300".parse().expect("addr");
    wait_tcp(listen, Duration::from_secs(10));
    let m = query(listen, "localhost.", RecordType::A);
    assert_ne!(
        m.metadata.response_code,
        ResponseCode::Refused,
        "loopback is admitted"
    );
    let v6: SocketAddr = "[::1]:5300".parse().expect("addr");
    if std::net::UdpSocket::bind("[::1]:0").is_ok() {
        let m6 = query_udp_from(
            None,
            v6,
            "localhost.",
            RecordType::A,
            Some(1232),
            Duration::from_secs(6),
        );
        assert!(m6.is_some(), "answers on [::1]:5300 too");
    }
    let (code, out, _) = ctl(&s.path.join("sekisho/control.sock"), &["status"]);
    assert_eq!(code, 0, "control socket under the runtime dir: {out}");
    let metrics = http_get("127.0.0.1:9153", "/metrics");
    assert!(
        metrics.contains("sekisho_queries_total"),
        "metrics on 127.0.0.1:9153"
    );
    assert_eq!(sk.stop(), Some(0));
}

/// A resolver that recurses from a root that does not answer (its hints name
/// a.root.test at 127.0.37.99, where nothing listens), with a QNAME rule in a
/// `recursive-only` zone and one in a zone with `recursive-only = false`.
fn unreachable_root(s: &Scratch, ip: &str) -> String {
    let hints = s.file(
        "root.hints",
        ".  3600000 NS a.root.test.\na.root.test. 3600000 A 127.0.37.99\n",
    );
    let block = s.file(
        "block.rpz",
        "$TTL 300\n@ SOA localhost. root.localhost. 1 3600 600 86400 60\n@ NS localhost.\nbad.example1.jp CNAME .\n",
    );
    let nonrec = s.file(
        "nonrec.rpz",
        "$TTL 300\n@ SOA localhost. root.localhost. 1 3600 600 86400 60\n@ NS localhost.\nrec.example1.jp CNAME .\n",
    );
    format!(
        "[server]\nlisten = [\"{ip}:5300\"]\nallow-query = [\"127.0.0.0/8\"]\nallow-recursion = [\"127.0.0.0/8\"]\ndirectory = \"{d}\"\nroot-hints = \"{h}\"\nquery-timeout = \"2s\"\n\
         [dnssec]\nvalidation = \"no\"\n\
         [response-policy]\nqname-wait-recurse = false\nede = \"off\"\n\
         [[response-policy.zone]]\nname = \"block\"\nfile = \"{b}\"\n\
         [[response-policy.zone]]\nname = \"nonrec\"\nfile = \"{n}\"\nrecursive-only = false\n\
         [control]\nsocket = \"{d}/control.sock\"\n[metrics]\nlisten = \"none\"\n",
        d = s.path.display(),
        h = hints.display(),
        b = block.display(),
        n = nonrec.display(),
    )
}

/// `dig @ip -p 5300 ARGS` (dig is a test peer: a missing dig fails the test).
fn dig(ip: &str, args: &[&str]) -> String {
    let out = Command::new("dig")
        .arg(format!("@{ip}"))
        .args(["-p", "5300", "+tries=1", "+time=5"])
        .args(args)
        .output()
        .expect("dig is installed (apt-get install dnsutils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_rd0_query_right_after_start_gets_a_referral_and_never_starts_a_resolution() {
    // As BIND 9.18 answers `dig +norec` with nothing cached: NOERROR, no answer,
    // the root hints' NS set in AUTHORITY. Before, Sekisho recursed for it and
    // answered SERVFAIL with EDE 22 ("no usable answer from the servers of .").
    let s = Scratch::new("norec");
    let ip = "127.0.37.1";
    let listen: SocketAddr = format!("{ip}:5300").parse().expect("addr");
    let sk = start_sekisho(&s.path, "norec", &unreachable_root(&s, ip), listen);
    let referral = |out: &str| {
        out.contains("status: NOERROR")
            && out.contains("flags: qr ra;")
            && out.contains("ANSWER: 0, AUTHORITY: 1,")
            && out.contains(".\t\t\t518400\tIN\tNS\ta.root.test.")
            && !out.contains("EDE")
    };
    let out = dig(ip, &["+norec", "www.example1.jp", "A"]);
    assert!(referral(&out), "{out}");
    // A listed name: the zone is recursive-only (BIND's default), so RD=0 is not
    // rewritten, and not resolved either: the same referral...
    let out = dig(ip, &["+norec", "bad.example1.jp", "A"]);
    assert!(referral(&out), "{out}");
    // ...while RD=1 is rewritten (qname-wait-recurse = false: no resolution needed).
    let out = dig(ip, &["bad.example1.jp", "A"]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    // With recursive-only = false the rule applies to RD=0 too, as in BIND.
    let out = dig(ip, &["+norec", "rec.example1.jp", "A"]);
    assert!(
        out.contains("status: NXDOMAIN") && out.contains("flags: qr ra;"),
        "{out}"
    );
    // Nothing asked the root: the log has no recursion for these names.
    let log = sk.log_text();
    assert!(!log.contains("recursion failed"), "{log}");
}
