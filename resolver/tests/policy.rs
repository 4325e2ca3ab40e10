//! Policy zones in the running daemon: rewrites through a real forwarder
//! (NSD authoritative, Unbound upstream), reloads that keep the last good
//! set, and the BIND-format log line. Each test owns 127.0.38.0/24.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

/// The policy zone used below; `serial` and `extra` vary per step.
fn zone(serial: u32, extra: &str) -> String {
    format!(
        "$TTL 300\n@ SOA localhost. hostmaster.localhost. {serial} 3600 600 86400 300\n@ NS localhost.\n\
         bad.example1.jp A 192.0.2.10\nbad.example1.jp AAAA 2001:db8::10\n\
         *.wild.example1.jp CNAME .\n\
         32.66.100.51.198.rpz-ip CNAME *.\n\
         32.77.38.0.127.rpz-client-ip CNAME .\n\
         www.example1.jp CNAME rpz-passthru.\n{extra}"
    )
}

struct Setup {
    s: Scratch,
    sk: Proc,
    listen: SocketAddr,
    _nsd: Proc,
    _up: Proc,
}

fn setup(tag: &str, octet: u8, log_client_ip: &str) -> Setup {
    let s = Scratch::new(tag);
    let ip = |n: u8| format!("127.0.38.{}", octet + n);
    let (nsd, up) = start_example_upstream(&s, &ip(0), &ip(1));
    s.file("block.rpz", &zone(1, ""));
    let listen: SocketAddr = format!("{}:5300", ip(2)).parse().expect("addr");
    let cfg = format!(
        r#"[server]
listen = ["{listen}"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{d}"
[dnssec]
validation = "no"
[[forward-zone]]
name = "."
forward-addr = ["{up}@5353"]
[[response-policy.zone]]
name = "block."
file = "block.rpz"
max-policy-ttl = "60s"
[control]
socket = "{d}/control.sock"
[metrics]
listen = "{metrics}:9153"
[logging]
log-client-ip = "{log_client_ip}"
"#,
        d = s.path.display(),
        up = ip(1),
        metrics = ip(2),
    );
    let sk = start_sekisho(&s.path, tag, &cfg, listen);
    Setup {
        s,
        sk,
        listen,
        _nsd: nsd,
        _up: up,
    }
}

fn first_a(m: &Message) -> Option<String> {
    m.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(a.0.to_string()),
        _ => None,
    })
}

fn write_atomically(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

#[test]
fn triggers_rewrite_real_answers_as_bind_would() {
    let t = setup("policy-triggers", 1, "masked");
    // QNAME local data, with the policy SOA in ADDITIONAL, AA off, TTL capped, EDE 15.
    let m = query(t.listen, "bad.example1.jp.", RecordType::A);
    assert_eq!(first_a(&m).as_deref(), Some("192.0.2.10"));
    assert!(!m.metadata.authoritative);
    assert!(m.metadata.recursion_available);
    assert_eq!(m.answers[0].ttl, 60, "TTL = min(300, max-policy-ttl 60)");
    assert!(m
        .additionals
        .iter()
        .any(|r| r.record_type() == RecordType::SOA && r.name.to_ascii() == "block."));
    let raw = exchange_udp(
        None,
        t.listen,
        &make_query("bad.example1.jp.", RecordType::A, Some(1232))
            .to_vec()
            .expect("encode"),
        Duration::from_secs(5),
    )
    .expect("answer");
    assert!(
        raw.windows(6)
            .any(|w| w[0..2] == [0, 15] && w[4..6] == [0, 15]),
        "EDE option (code 15) with INFO-CODE 15 Blocked present"
    );
    // Wildcard NXDOMAIN below, not at, the wildcard's parent.
    assert_eq!(
        query(t.listen, "a.b.wild.example1.jp.", RecordType::A)
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    // Local data of the queried type: AAAA.
    let m = query(t.listen, "bad.example1.jp.", RecordType::AAAA);
    assert!(m
        .answers
        .iter()
        .any(|r| matches!(&r.data, RData::AAAA(a) if a.0.to_string() == "2001:db8::10")));
    // PASSTHRU: the real answer, even though the name is listed.
    let m = query(t.listen, "www.example1.jp.", RecordType::A);
    assert_eq!(first_a(&m).as_deref(), Some("192.0.2.1"));
    // Client IP: every name is NXDOMAIN for 127.0.38.77.
    let src: IpAddr = "127.0.38.77".parse().expect("ip");
    let m = query_udp_from(
        Some(src),
        t.listen,
        "www.example1.jp.",
        RecordType::A,
        Some(1232),
        Duration::from_secs(5),
    )
    .expect("answer");
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NXDomain,
        "client-IP beats QNAME passthru in the same zone"
    );
    // Over TCP the same rewrite.
    let m = query_tcp(t.listen, "bad.example1.jp.", RecordType::A);
    assert_eq!(first_a(&m).as_deref(), Some("192.0.2.10"));
    // BIND's log line, client address masked to /24.
    let log = t.sk.log_text();
    assert!(log.contains("client 127.0.0.0#0 (bad.example1.jp): rpz QNAME Local-Data rewrite bad.example1.jp/A/IN via bad.example1.jp.block"), "{log}");
    assert!(log.contains("rpz CLIENT-IP NXDOMAIN rewrite www.example1.jp/A/IN via 32.77.38.0.127.rpz-client-ip.block"), "{log}");
    // sekishoctl test explains.
    let (code, out, _) = ctl(
        &t.s.path.join("control.sock"),
        &["test", "x.wild.example1.jp", "AAAA"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("trigger QNAME action NXDOMAIN"), "{out}");
    let (code, out, _) = ctl(
        &t.s.path.join("control.sock"),
        &["test", "clean.example1.jp"],
    );
    assert_eq!(code, 1, "no match exits 1: {out}");
}

#[test]
fn a_response_ip_rule_rewrites_answers_that_point_into_the_listed_prefix() {
    let t = setup("policy-rpzip", 11, "none");
    // probe.example1.jp has A 192.0.2.99: untouched at first.
    let m = query(t.listen, "probe.example1.jp.", RecordType::A);
    assert_eq!(first_a(&m).as_deref(), Some("192.0.2.99"));
    // A fresh zone version lists 192.0.2.99/32 by response IP as NODATA.
    write_atomically(
        &t.s.path,
        "block.rpz",
        &zone(2, "32.99.2.0.192.rpz-ip CNAME *.\n"),
    );
    let (code, out, err) = ctl(&t.s.path.join("control.sock"), &["reload", "block"]);
    assert_eq!(code, 0, "{out}{err}");
    // The file was replaced by a rename: only its changed lines (the SOA, the new rule)
    // were applied to the live version.
    let log = t.sk.log_text();
    assert!(
        log.contains("policy zone loaded by difference")
            && log.contains("lines_removed=1 lines_added=2"),
        "{log}"
    );
    // The cached real answer is re-checked on the way out: the change is immediate.
    let m = query(t.listen, "probe.example1.jp.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(
        first_a(&m).is_none(),
        "NODATA after the response-IP hit: {m:?}"
    );
    assert!(
        !t.sk.log_text().contains("client 127."),
        "log-client-ip = none keeps addresses out of the log"
    );
}

#[test]
fn a_broken_zone_file_keeps_the_last_good_policy_and_reports_file_line() {
    let mut t = setup("policy-reload", 21, "full");
    let sock = t.s.path.join("control.sock");
    assert_eq!(
        first_a(&query(t.listen, "bad.example1.jp.", RecordType::A)).as_deref(),
        Some("192.0.2.10")
    );

    // 1. A fatal error ($INCLUDE outside the zone folder): the old set stays.
    write_atomically(
        &t.s.path,
        "block.rpz",
        &format!(
            "{}$INCLUDE /etc/passwd\n",
            zone(2, "new.example1.jp A 192.0.2.11\n")
        ),
    );
    let (code, _, err) = ctl(&sock, &["reload"]);
    assert_eq!(code, 1, "a failed reload exits non-zero");
    assert!(err.contains("block"), "{err}");
    let (_, zones, _) = ctl(&sock, &["zones"]);
    assert!(
        zones.contains("serial 1") && zones.contains("last error"),
        "{zones}"
    );
    assert!(
        zones.contains("block.rpz:"),
        "the error names the file (and line): {zones}"
    );
    assert_eq!(
        first_a(&query(t.listen, "bad.example1.jp.", RecordType::A)).as_deref(),
        Some("192.0.2.10"),
        "old rule still enforced"
    );
    assert_ne!(
        first_a(&query(t.listen, "new.example1.jp.", RecordType::A)).as_deref(),
        Some("192.0.2.11"),
        "new rule not half-applied"
    );

    // 2. A half-written file (no final newline) never replaces the good set.
    std::fs::write(
        t.s.path.join("block.rpz"),
        &zone(3, "new.example1.jp A 192.0.2.11\nhalf.example1.jp A 192.0")[..],
    )
    .expect("write");
    let (code, _, err) = ctl(&sock, &["reload", "block"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("newline"), "{err}");

    // 3. A malformed record is skipped with file:line, the rest loads.
    write_atomically(
        &t.s.path,
        "block.rpz",
        &zone(
            4,
            "new.example1.jp A 192.0.2.11\nbroken.example1.jp A 999.1.2.3\n",
        ),
    );
    let (code, out, err) = ctl(&sock, &["reload", "block"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("serial 4"), "{out}");
    assert_eq!(
        first_a(&query(t.listen, "new.example1.jp.", RecordType::A)).as_deref(),
        Some("192.0.2.11")
    );
    assert!(
        eventually(Duration::from_secs(2), || t
            .sk
            .log_text()
            .contains("block.rpz:")),
        "skipped record logged with its position"
    );

    // 4. SIGHUP reloads zones too.
    write_atomically(
        &t.s.path,
        "block.rpz",
        &zone(5, "hup.example1.jp A 192.0.2.12\n"),
    );
    t.sk.signal("HUP");
    assert!(
        eventually(Duration::from_secs(5), || first_a(&query(
            t.listen,
            "hup.example1.jp.",
            RecordType::A
        ))
        .as_deref()
            == Some("192.0.2.12")),
        "SIGHUP picked up the new zone"
    );
    assert!(
        t.sk.log_text().contains("client 127.0.0.1#0"),
        "log-client-ip = full logs the address"
    );
    // 5. A 10 GB file (sparse: no disk used) whose first line never ends fails at once
    // with file:line, and the good set stays; nothing is sized from the file's length.
    {
        use std::io::{Seek, SeekFrom, Write};
        let path = t.s.path.join("block.rpz");
        let mut f = std::fs::File::create(&path).expect("create");
        f.seek(SeekFrom::Start(10 << 30)).expect("seek");
        f.write_all(b"\n").expect("write");
    }
    let started = std::time::Instant::now();
    let (code, _, err) = ctl(&sock, &["reload", "block"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("block.rpz:1:") && err.contains("line longer than"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the bad file was not read to its end"
    );
    assert_eq!(
        first_a(&query(t.listen, "hup.example1.jp.", RecordType::A)).as_deref(),
        Some("192.0.2.12"),
        "the good set stays in force"
    );
    let metrics = http_get("127.0.38.23:9153", "/metrics");
    assert!(
        metrics.contains(
            r#"sekisho_rpz_hits_total{action="Local-Data",trigger="QNAME",zone="block."}"#
        ),
        "{metrics}"
    );
    assert_eq!(t.sk.stop(), Some(0));
}
