//! Policy zone distribution against a real primary: BIND 9.18 serving the
//! policy zone with TSIG, `ixfr-from-differences yes` and `also-notify` to
//! Sekisho, plus a tiny fake primary that cuts a transfer mid-stream.
//!
//! Each test owns its addresses in 127.0.40.0/24 (BIND binds only addresses
//! that exist, so they are added to `lo` first; tests run as root). BIND
//! missing is a failure, not a skip.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The shared TSIG secret (32 bytes, base64), as `tsig-keygen` would print.
const SECRET: &str = "c2VraXNoby1kaXN0cmlidXRpb24tdGVzdC1rZXktMzI=";
/// Another secret: a primary that does not know it answers BADSIG.
const WRONG_SECRET: &str = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZzE=";
/// BIND's port in these tests.
const BIND_PORT: u16 = 5301;
/// Sekisho's DNS port in these tests.
const SEKISHO_PORT: u16 = 5300;

/// The policy zone text at `serial` with rules `blocked<i>` for each `i`.
fn zone_text(serial: u32, rules: &[u8]) -> String {
    let mut z = format!(
        "$ORIGIN block.\n$TTL 60\n@ SOA ns.block. hostmaster.block. {serial} 3600 1 3600 60\n@ NS localhost.\n"
    );
    for i in rules {
        z.push_str(&format!("blocked{i}.example.jp A 192.0.2.{i}\n"));
    }
    z
}

/// Fails clearly when BIND is not installed.
fn require_named() {
    let ok = Command::new("named")
        .arg("-v")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "BIND 9.18 (`named`) is required for the distribution tests: apt-get install bind9"
    );
}

/// BIND serving zone `block` on `ip`:5301, transfers signed with `block-tsig-key`,
/// NOTIFY to `notify_to`.
struct Bind {
    proc: Proc,
    dir: PathBuf,
}

impl Bind {
    fn start(scratch: &Path, ip: &str, notify_to: SocketAddr, zone: &str) -> Bind {
        require_named();
        add_loopback(ip);
        let dir = scratch.join(format!("bind-{ip}"));
        std::fs::create_dir_all(&dir).expect("bind dir");
        std::fs::write(dir.join("block.db"), zone).expect("zone file");
        let conf = format!(
            r#"options {{
  directory "{d}";
  listen-on port {BIND_PORT} {{ {ip}; }};
  listen-on-v6 {{ none; }};
  pid-file "{d}/named.pid";
  session-keyfile "{d}/session.key";
  recursion no;
  notify explicit;
  notify-source {ip};
  notify-delay 0;
  transfer-source {ip};
}};
key "block-tsig-key" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
controls {{ }};
zone "block" {{
  type primary;
  file "{d}/block.db";
  ixfr-from-differences yes;
  max-ixfr-ratio unlimited;
  allow-transfer {{ key "block-tsig-key"; }};
  also-notify {{ {nip} port {nport} key "block-tsig-key"; }};
}};
"#,
            d = dir.display(),
            nip = notify_to.ip(),
            nport = notify_to.port(),
        );
        let cf = dir.join("named.conf");
        std::fs::write(&cf, conf).expect("named.conf");
        let proc = Proc::spawn(
            "named",
            Command::new("named").arg("-g").arg("-c").arg(&cf),
            dir.join("named.log"),
        );
        let mut bind = Bind { proc, dir };
        let addr: SocketAddr = format!("{ip}:{BIND_PORT}").parse().expect("addr");
        let until = Instant::now() + Duration::from_secs(15);
        while Instant::now() < until {
            if query_udp_from(
                None,
                addr,
                "block.",
                RecordType::SOA,
                None,
                Duration::from_millis(200),
            )
            .is_some_and(|m| m.metadata.response_code == ResponseCode::NoError)
            {
                return bind;
            }
            assert!(
                bind.proc.is_running(),
                "named exited:\n{}",
                bind.proc.log_text()
            );
            thread::sleep(Duration::from_millis(50));
        }
        panic!("named did not start on {addr}:\n{}", bind.proc.log_text());
    }

    /// Rewrite the zone file and make BIND reload it (it computes the IXFR
    /// difference and sends NOTIFY).
    fn publish(&self, zone: &str) {
        std::fs::write(self.dir.join("block.db"), zone).expect("zone file");
        self.proc.signal("HUP");
    }
}

/// Sekisho's configuration for zone `block` from `primary` with `key_block`.
fn sekisho_config(
    scratch: &Path,
    listen: SocketAddr,
    primary: &str,
    key_block: &str,
    zone_extra: &str,
) -> String {
    format!(
        r#"[server]
listen = ["{listen}"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{d}"
{key_block}
[response-policy]
qname-wait-recurse = false
[[response-policy.zone]]
name = "block"
primaries = ["{primary}"]
file = "block.rpz"
min-refresh = "1s"
{zone_extra}
[control]
socket = "{d}/control.sock"
[metrics]
listen = "{mip}:9153"
"#,
        d = scratch.display(),
        mip = listen.ip(),
    )
}

/// A `[[key]]` block named `block-tsig-key`.
fn key_block(algorithm: &str, secret: &str) -> String {
    format!(
        "[[key]]\nname = \"block-tsig-key\"\nalgorithm = \"{algorithm}\"\nsecret = \"{secret}\"\n"
    )
}

/// The A address Sekisho answers for `name`, if any.
fn answer_a(server: SocketAddr, name: &str) -> Option<String> {
    let m = query_udp_from(
        None,
        server,
        name,
        RecordType::A,
        Some(1232),
        Duration::from_millis(500),
    )?;
    m.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(a.0.to_string()),
        _ => None,
    })
}

/// `sekishoctl --json zones` as JSON: the entry of zone `block.`.
fn zone_status(socket: &Path) -> serde_json::Value {
    let (code, out, err) = ctl(socket, &["--json", "zones"]);
    assert_eq!(code, 0, "zones failed: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("zones json");
    v["zones"]
        .as_array()
        .and_then(|a| a.iter().find(|z| z["name"] == "block."))
        .cloned()
        .unwrap_or_else(|| panic!("zone block. missing in {out}"))
}

/// Waits until `name` answers `addr` (panics with the log otherwise).
fn wait_rule(sk: &Proc, server: SocketAddr, name: &str, addr: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    let ok = eventually(limit, || answer_a(server, name).as_deref() == Some(addr));
    assert!(
        ok,
        "{name} not rewritten to {addr} within {limit:?}; log:\n{}",
        sk.log_text()
    );
    started.elapsed()
}

/// The metrics page of the daemon at `addr`.
fn scrape(addr: SocketAddr) -> String {
    use std::io::Write;
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("metrics");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

#[test]
fn axfr_then_notify_and_ixfr_make_a_new_rule_live_and_the_copy_is_saved() {
    let s = Scratch::new("dist-ixfr");
    let listen: SocketAddr = format!("127.0.40.2:{SEKISHO_PORT}").parse().expect("addr");
    let bind = Bind::start(&s.path, "127.0.40.1", listen, &zone_text(1, &[1]));
    let cfg = sekisho_config(
        &s.path,
        listen,
        &format!("127.0.40.1@{BIND_PORT}"),
        &key_block("hmac-sha256", SECRET),
        "key = \"block-tsig-key\"",
    );
    let sk = start_sekisho(&s.path, "ixfr", &cfg, listen);
    let socket = s.path.join("control.sock");

    // Initial AXFR.
    let took = wait_rule(
        &sk,
        listen,
        "blocked1.example.jp.",
        "192.0.2.1",
        Duration::from_secs(10),
    );
    println!("initial AXFR live after {took:?} (from listener open)");
    let st = zone_status(&socket);
    assert_eq!(st["serial"], 1);
    assert_eq!(st["last_transfer_kind"], "axfr", "{st}");
    assert_eq!(answer_a(listen, "blocked2.example.jp."), None);

    // A change on the primary: NOTIFY, then IXFR.
    let started = Instant::now();
    bind.publish(&zone_text(2, &[1, 2]));
    let ok = eventually(Duration::from_secs(5), || {
        answer_a(listen, "blocked2.example.jp.").as_deref() == Some("192.0.2.2")
    });
    let live = started.elapsed();
    assert!(
        ok,
        "the new rule did not answer within 5 s; log:\n{}",
        sk.log_text()
    );
    println!("change on the primary (HUP) -> NOTIFY -> IXFR -> new rule answering: {live:?}");
    let st = zone_status(&socket);
    assert_eq!(st["serial"], 2);
    assert_eq!(st["last_transfer_kind"], "ixfr", "{st}");
    assert!(
        sk.log_text().contains("NOTIFY received"),
        "NOTIFY not seen:\n{}",
        sk.log_text()
    );

    // A removal travels by IXFR too.
    bind.publish(&zone_text(3, &[2, 3]));
    wait_rule(
        &sk,
        listen,
        "blocked3.example.jp.",
        "192.0.2.3",
        Duration::from_secs(5),
    );
    assert!(eventually(Duration::from_secs(5), || answer_a(
        listen,
        "blocked1.example.jp."
    )
    .is_none()));

    // The saved copy parses with our zone-file parser and holds serial 3's rules.
    let saved = s.path.join("block.rpz");
    assert!(eventually(Duration::from_secs(5), || {
        std::fs::read_to_string(&saved).is_ok_and(|t| t.starts_with("; serial 3\n"))
    }));
    let origin = Name::from_ascii("block.").expect("name");
    let records: Vec<Record> = sekisho_zonefile::ZoneReader::open(
        &saved,
        sekisho_zonefile::ParseOptions::with_origin(origin),
    )
    .expect("open saved copy")
    .collect::<Result<_, _>>()
    .expect("the saved copy parses");
    let owners: Vec<String> = records.iter().map(|r| r.name.to_ascii()).collect();
    assert!(
        owners.contains(&"blocked2.example.jp.block.".to_owned()),
        "{owners:?}"
    );
    assert!(
        owners.contains(&"blocked3.example.jp.block.".to_owned()),
        "{owners:?}"
    );
    assert!(
        !owners.contains(&"blocked1.example.jp.block.".to_owned()),
        "{owners:?}"
    );

    // The secret never shows.
    let (_, zones_text, _) = ctl(&socket, &["zones"]);
    let (_, status_json, _) = ctl(&socket, &["--json", "status"]);
    for text in [sk.log_text(), zones_text, status_json] {
        assert!(!text.contains(SECRET), "the TSIG secret leaked");
    }
    let metrics = scrape(SocketAddr::new(listen.ip(), 9153));
    assert!(
        metrics.contains(
            "sekisho_rpz_transfers_total{result=\"success\",type=\"ixfr\",zone=\"block.\"}"
        ),
        "{metrics}"
    );
    // The copy's expiry (SOA expire after the last contact) is in the future.
    let expiry = metric_sample(
        &metrics,
        "sekisho_rpz_zone_expiry_timestamp_seconds{zone=\"block.\"} ",
    ) as u64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(expiry > now, "expiry {expiry} not after now {now}");
}

#[test]
fn primary_down_keeps_enforcing_retries_and_a_restart_serves_the_saved_copy_at_once() {
    let s = Scratch::new("dist-down");
    let listen: SocketAddr = format!("127.0.40.12:{SEKISHO_PORT}").parse().expect("addr");
    let mut bind = Bind::start(&s.path, "127.0.40.11", listen, &zone_text(5, &[1, 7]));
    let cfg = sekisho_config(
        &s.path,
        listen,
        &format!("127.0.40.11@{BIND_PORT}"),
        &key_block("hmac-sha256", SECRET),
        "key = \"block-tsig-key\"",
    );
    let mut sk = start_sekisho(&s.path, "down", &cfg, listen);
    let socket = s.path.join("control.sock");
    wait_rule(
        &sk,
        listen,
        "blocked7.example.jp.",
        "192.0.2.7",
        Duration::from_secs(10),
    );

    // Primary stopped: still enforcing; the error shows; retries every SOA retry (1 s).
    bind.proc.stop();
    let (code, out, err) = ctl(&socket, &["refresh", "block"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(eventually(Duration::from_secs(5), || !zone_status(&socket)
        ["last_error"]
        .is_null()));
    let failures = zone_status(&socket)["failures"].as_u64().expect("failures");
    thread::sleep(Duration::from_secs(3));
    let st = zone_status(&socket);
    assert!(
        st["failures"].as_u64().expect("failures") >= failures + 2,
        "no retries at the SOA retry interval: {st}"
    );
    assert_eq!(
        answer_a(listen, "blocked7.example.jp.").as_deref(),
        Some("192.0.2.7")
    );
    let (_, zones_text, _) = ctl(&socket, &["zones"]);
    assert!(zones_text.contains("last error"), "{zones_text}");
    println!("zones while the primary is down: {zones_text}");

    // Restart while the primary is down: the saved copy is enforced from the first query.
    sk.stop();
    let sk = start_sekisho(&s.path, "down-restart", &cfg, listen);
    assert_eq!(
        answer_a(listen, "blocked7.example.jp.").as_deref(),
        Some("192.0.2.7"),
        "the saved copy was not enforced on the first query; log:\n{}",
        sk.log_text()
    );
    assert_eq!(zone_status(&socket)["serial"], 5);

    // The primary comes back: a retry picks up its change without a NOTIFY.
    std::fs::write(bind.dir.join("block.db"), zone_text(6, &[1, 7, 8])).expect("zone");
    let _bind = Bind::start(
        &s.path,
        "127.0.40.11",
        "127.0.40.19:9".parse().expect("addr"),
        &zone_text(6, &[1, 7, 8]),
    );
    wait_rule(
        &sk,
        listen,
        "blocked8.example.jp.",
        "192.0.2.8",
        Duration::from_secs(10),
    );
    assert!(eventually(Duration::from_secs(5), || zone_status(&socket)
        ["last_error"]
        .is_null()));
}

#[test]
fn a_wrong_key_or_algorithm_is_refused_and_the_old_zone_stays() {
    let s = Scratch::new("dist-key");
    let _bind = Bind::start(
        &s.path,
        "127.0.40.21",
        "127.0.40.29:9".parse().expect("addr"),
        &zone_text(9, &[1, 2]),
    );
    for (i, (algorithm, secret, expect)) in [
        ("hmac-sha256", WRONG_SECRET, "BADSIG"),
        ("hmac-sha512", SECRET, "BADKEY"),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = s.path.join(format!("sekisho-{i}"));
        std::fs::create_dir_all(&dir).expect("dir");
        // A saved copy at serial 8 with one rule: it must stay in force.
        std::fs::write(dir.join("block.rpz"), zone_text(8, &[1])).expect("saved copy");
        let listen: SocketAddr = format!("127.0.40.{}:{SEKISHO_PORT}", 22 + i)
            .parse()
            .expect("addr");
        let cfg = sekisho_config(
            &dir,
            listen,
            &format!("127.0.40.21@{BIND_PORT}"),
            &key_block(algorithm, secret),
            "key = \"block-tsig-key\"",
        );
        let sk = start_sekisho(&dir, "key", &cfg, listen);
        let socket = dir.join("control.sock");
        assert!(
            eventually(Duration::from_secs(10), || !zone_status(&socket)
                ["last_error"]
                .is_null()),
            "no error recorded with {algorithm}; log:\n{}",
            sk.log_text()
        );
        let st = zone_status(&socket);
        let error = st["last_error"].as_str().expect("error").to_owned();
        assert!(
            error.contains(expect),
            "{algorithm}: expected {expect} in {error:?}"
        );
        assert_eq!(st["serial"], 8, "{st}");
        assert_eq!(
            answer_a(listen, "blocked1.example.jp.").as_deref(),
            Some("192.0.2.1")
        );
        assert_eq!(
            answer_a(listen, "blocked2.example.jp."),
            None,
            "serial 9 must not be live"
        );
        let (_, zones_text, _) = ctl(&socket, &["zones"]);
        assert!(zones_text.contains(expect), "{zones_text}");
        println!("{algorithm} with the wrong key: {zones_text}");
        for text in [sk.log_text(), zones_text] {
            assert!(!text.contains(secret), "the TSIG secret leaked");
        }
    }
}

/// A fake primary on `ip`:5301: answers SOA queries (UDP) with `serial`, and for
/// any transfer (TCP) sends one message holding the opening SOA and a record,
/// then closes the connection: a transfer cut mid-stream.
fn fake_cutting_primary(ip: &str, serial: u32) {
    let zone = Name::from_ascii("block.").expect("name");
    let soa = Record::from_rdata(
        zone.clone(),
        60,
        RData::SOA(SOA::new(
            Name::from_ascii("ns.block.").expect("name"),
            Name::from_ascii("hostmaster.block.").expect("name"),
            serial,
            3600,
            1,
            3600,
            60,
        )),
    );
    let answer = move |req: &Message, records: Vec<Record>| {
        let mut m = Message::new(req.id, MessageType::Response, OpCode::Query);
        m.metadata.authoritative = true;
        if let Some(q) = req.queries.first() {
            m.add_query(q.clone());
        }
        m.add_answers(records);
        m.to_vec().expect("encode")
    };
    let udp = UdpSocket::bind(format!("{ip}:{BIND_PORT}")).expect("udp");
    let (soa_u, answer_u) = (soa.clone(), answer);
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, peer)) = udp.recv_from(&mut buf) {
            if let Ok(req) = Message::from_vec(&buf[..n]) {
                let _ = udp.send_to(&answer_u(&req, vec![soa_u.clone()]), peer);
            }
        }
    });
    let tcp = TcpListener::bind(format!("{ip}:{BIND_PORT}")).expect("tcp");
    thread::spawn(move || {
        for stream in tcp.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some(req) = read_frame(&mut stream).and_then(|b| Message::from_vec(&b).ok()) else {
                continue;
            };
            let rule = Record::from_rdata(
                Name::from_ascii("blocked2.example.jp.block.").expect("name"),
                60,
                RData::A(A::new(192, 0, 2, 2)),
            );
            write_frame(&mut stream, &answer(&req, vec![soa.clone(), rule]));
            // Cut: no closing SOA, connection closed.
            drop(stream);
        }
    });
}

#[test]
fn a_transfer_cut_mid_stream_keeps_the_old_zone() {
    let s = Scratch::new("dist-cut");
    fake_cutting_primary("127.0.40.31", 2);
    std::fs::write(s.path.join("block.rpz"), zone_text(1, &[1])).expect("saved copy");
    let listen: SocketAddr = format!("127.0.40.32:{SEKISHO_PORT}").parse().expect("addr");
    let cfg = sekisho_config(&s.path, listen, &format!("127.0.40.31@{BIND_PORT}"), "", "");
    let sk = start_sekisho(&s.path, "cut", &cfg, listen);
    let socket = s.path.join("control.sock");
    assert!(
        eventually(Duration::from_secs(10), || !zone_status(&socket)
            ["last_error"]
            .is_null()),
        "log:\n{}",
        sk.log_text()
    );
    let st = zone_status(&socket);
    let error = st["last_error"].as_str().expect("error");
    assert!(error.contains("ended before its final SOA"), "{error}");
    assert_eq!(st["serial"], 1);
    assert_eq!(
        answer_a(listen, "blocked1.example.jp.").as_deref(),
        Some("192.0.2.1")
    );
    assert_eq!(answer_a(listen, "blocked2.example.jp."), None);
    // The saved copy is untouched.
    let saved = std::fs::read_to_string(s.path.join("block.rpz")).expect("saved");
    assert_eq!(saved, zone_text(1, &[1]));
    // Logged once, with the peer and the zone, although retried every second.
    thread::sleep(Duration::from_secs(2));
    let log = sk.log_text();
    let warnings = log
        .lines()
        .filter(|l| {
            l.contains(" WARN ")
                && l.contains("policy zone refresh failed;")
                && l.contains("127.0.40.31")
        })
        .count();
    assert_eq!(warnings, 1, "expected one WARN line:\n{log}");
}

/// A NOTIFY for `zone` (unsigned).
fn notify(zone: &str) -> Vec<u8> {
    let mut m = Message::new(0x1996, MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.add_query(Query::query(
        Name::from_ascii(zone).expect("name"),
        RecordType::SOA,
    ));
    m.to_vec().expect("encode")
}

#[test]
fn a_notify_from_a_stranger_is_refused_and_counted() {
    let s = Scratch::new("dist-notify");
    std::fs::write(s.path.join("block.rpz"), zone_text(1, &[1])).expect("saved copy");
    let listen: SocketAddr = format!("127.0.40.42:{SEKISHO_PORT}").parse().expect("addr");
    // The primary (nothing listens there) is the only allowed NOTIFY source.
    let cfg = sekisho_config(&s.path, listen, &format!("127.0.40.41@{BIND_PORT}"), "", "");
    let sk = start_sekisho(&s.path, "notify", &cfg, listen);
    for _ in 0..2 {
        let reply = exchange_udp(
            Some("127.0.40.49".parse().expect("ip")),
            listen,
            &notify("block."),
            Duration::from_secs(2),
        )
        .expect("an answer");
        let m = Message::from_vec(&reply).expect("decode");
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
        assert_eq!(m.metadata.op_code, OpCode::Notify);
    }
    // The listed primary is answered NOERROR.
    let reply = exchange_udp(
        Some("127.0.40.41".parse().expect("ip")),
        listen,
        &notify("block."),
        Duration::from_secs(2),
    )
    .expect("an answer");
    assert_eq!(
        Message::from_vec(&reply)
            .expect("decode")
            .metadata
            .response_code,
        ResponseCode::NoError
    );
    let metrics = scrape(SocketAddr::new(listen.ip(), 9153));
    assert!(
        metrics.contains("sekisho_notify_total{result=\"refused\",zone=\"block.\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sekisho_notify_total{result=\"accepted\",zone=\"block.\"} 1"),
        "{metrics}"
    );
    let log = sk.log_text();
    let lines = log
        .lines()
        .filter(|l| {
            l.contains(" WARN ") && l.contains("NOTIFY refused") && l.contains("127.0.40.49")
        })
        .count();
    assert_eq!(lines, 1, "a stranger is logged once:\n{log}");
}

#[test]
fn refresh_and_retransfer_of_an_unknown_zone_exit_1_with_one_line() {
    let s = Scratch::new("dist-verbs");
    std::fs::write(s.path.join("block.rpz"), zone_text(1, &[1])).expect("saved copy");
    let listen: SocketAddr = format!("127.0.40.52:{SEKISHO_PORT}").parse().expect("addr");
    let cfg = sekisho_config(&s.path, listen, &format!("127.0.40.51@{BIND_PORT}"), "", "");
    let _sk = start_sekisho(&s.path, "verbs", &cfg, listen);
    let socket = s.path.join("control.sock");
    for verb in ["refresh", "retransfer"] {
        let (code, out, err) = ctl(&socket, &[verb, "nosuch.example"]);
        assert_eq!(code, 1, "{out}{err}");
        assert_eq!(
            err.trim(),
            "sekishoctl: no policy zone named nosuch.example"
        );
        let (code, out, _) = ctl(&socket, &[verb, "block"]);
        assert_eq!(code, 0);
        assert!(out.contains("queued"), "{out}");
    }
    let (code, _, err) = ctl(&socket, &["refresh"]);
    assert_eq!(code, 2, "{err}");
}
