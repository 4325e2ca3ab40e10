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

/// BIND's rndc control port (on the BIND instance's own address).
const RNDC_PORT: u16 = 9530;
/// The rndc key's secret (any 32 bytes, base64).
const RNDC_SECRET: &str = "cm5kYy1rZXktZm9yLXRoZS1kaXN0cmlidXRpb24tdGU=";

/// BIND serving zone `block` on `ip`:5301, transfers signed with `block-tsig-key`,
/// controlled by `rndc` on `ip`:9530.
struct Bind {
    proc: Proc,
    dir: PathBuf,
    ip: String,
}

impl Bind {
    /// BIND sending a signed NOTIFY to `notify_to` at once (`notify-delay 0`).
    fn start(scratch: &Path, ip: &str, notify_to: SocketAddr, zone: &str) -> Bind {
        let also_notify = format!(
            "{} port {} key \"block-tsig-key\";",
            notify_to.ip(),
            notify_to.port()
        );
        Bind::start_with(scratch, ip, zone, &also_notify, "notify-delay 0;")
    }

    /// BIND with the zone's `also-notify` list `also_notify` and extra zone
    /// options `zone_extra` (BIND's defaults otherwise).
    fn start_with(
        scratch: &Path,
        ip: &str,
        zone: &str,
        also_notify: &str,
        zone_extra: &str,
    ) -> Bind {
        require_named();
        add_loopback(ip);
        let dir = scratch.join(format!("bind-{ip}"));
        std::fs::create_dir_all(&dir).expect("bind dir");
        std::fs::write(dir.join("block.db"), zone).expect("zone file");
        let rndc_key =
            format!("key \"rndc-key\" {{ algorithm hmac-sha256; secret \"{RNDC_SECRET}\"; }};\n");
        std::fs::write(dir.join("rndc.key"), &rndc_key).expect("rndc key");
        // `notify explicit`: NOTIFY only the also-notify list, not the zone's NS
        // (`localhost.`, which is somebody else's port 53 on a test machine).
        // `notify-source`: a primary with one address notifies from it.
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
  transfer-source {ip};
}};
key "block-tsig-key" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
{rndc_key}controls {{ inet {ip} port {RNDC_PORT} allow {{ any; }} keys {{ "rndc-key"; }}; }};
zone "block" {{
  type primary;
  file "{d}/block.db";
  ixfr-from-differences yes;
  max-ixfr-ratio unlimited;
  allow-transfer {{ key "block-tsig-key"; }};
  also-notify {{ {also_notify} }};
  {zone_extra}
}};
"#,
            d = dir.display(),
        );
        let cf = dir.join("named.conf");
        std::fs::write(&cf, conf).expect("named.conf");
        let proc = Proc::spawn(
            "named",
            Command::new("named").arg("-g").arg("-c").arg(&cf),
            dir.join("named.log"),
        );
        let mut bind = Bind {
            proc,
            dir,
            ip: ip.to_owned(),
        };
        let addr = bind.addr();
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

    /// BIND's DNS address.
    fn addr(&self) -> SocketAddr {
        format!("{}:{BIND_PORT}", self.ip).parse().expect("addr")
    }

    /// Rewrite the zone file and make BIND reload it (it computes the IXFR
    /// difference and sends NOTIFY).
    fn publish(&self, zone: &str) {
        std::fs::write(self.dir.join("block.db"), zone).expect("zone file");
        self.proc.signal("HUP");
    }

    /// Runs `rndc ARGS` against this BIND; panics with its output on failure.
    fn rndc(&self, args: &[&str]) -> String {
        let out = Command::new("rndc")
            .arg("-k")
            .arg(self.dir.join("rndc.key"))
            .args(["-s", &self.ip, "-p", &RNDC_PORT.to_string()])
            .args(args)
            .output()
            .expect("rndc runs (apt-get install bind9-utils)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "rndc {args:?} failed: {text}");
        text
    }

    /// The serial BIND serves now.
    fn serial(&self) -> Option<u32> {
        let m = query_udp_from(
            None,
            self.addr(),
            "block.",
            RecordType::SOA,
            None,
            Duration::from_millis(500),
        )?;
        m.answers.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
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
    daemon_config(
        scratch,
        listen,
        key_block,
        "",
        &format!(
            "[[response-policy.zone]]\nname = \"block\"\nprimaries = [\"{primary}\"]\nfile = \"block.rpz\"\nmin-refresh = \"1s\"\n{zone_extra}\n"
        ),
    )
}

/// Sekisho on `listen` with `key_block`, `tables` (forward zones and the like)
/// and the policy `zones` (whole `[[response-policy.zone]]` tables); control
/// socket and metrics as every test here expects them.
fn daemon_config(
    scratch: &Path,
    listen: SocketAddr,
    key_block: &str,
    tables: &str,
    zones: &str,
) -> String {
    format!(
        r#"[server]
listen = ["{listen}"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{d}"
{key_block}
{tables}
[response-policy]
qname-wait-recurse = false
{zones}
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
    answer_a_within(server, name, Duration::from_millis(500))
}

/// The A address Sekisho answers for `name` within `timeout`, if any.
fn answer_a_within(server: SocketAddr, name: &str, timeout: Duration) -> Option<String> {
    let m = query_udp_from(None, server, name, RecordType::A, Some(1232), timeout)?;
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
    // What the stale-zone alert compares: the SOA refresh (3600, within the
    // clamps) and when the primary last confirmed the copy.
    assert_eq!(
        metric_sample(
            &metrics,
            "sekisho_rpz_zone_refresh_interval_seconds{zone=\"block.\"} "
        ),
        3600.0
    );
    let confirmed = metric_sample(
        &metrics,
        "sekisho_rpz_zone_last_refresh_timestamp_seconds{zone=\"block.\"} ",
    ) as u64;
    assert!(
        confirmed + 120 > now && confirmed <= now + 1,
        "last refresh {confirmed}, now {now}"
    );
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

/// `SECRET` decoded: the key Sekisho and BIND share.
const SECRET_BYTES: &[u8] = b"sekisho-distribution-test-key-32";
/// `WRONG_SECRET` decoded.
const WRONG_SECRET_BYTES: &[u8] = b"wrong-secret-wrong-secret-wrong1";

/// An HMAC-SHA256 TSIG key `name` with `secret`.
fn tsig(name: &str, secret: &[u8]) -> sekisho_xfr::TsigKey {
    sekisho_xfr::TsigKey::new(
        Name::from_ascii(name).expect("name"),
        sekisho_xfr::TsigAlgorithm::HmacSha256,
        secret.to_vec(),
    )
}

/// Now as Unix seconds, for TSIG.
fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// One NOTIFY exchange from `src`; the answer, raw.
fn send_notify(src: &str, server: SocketAddr, packet: &[u8]) -> Vec<u8> {
    exchange_udp(
        Some(src.parse().expect("ip")),
        server,
        packet,
        Duration::from_secs(2),
    )
    .unwrap_or_else(|| panic!("no answer to a NOTIFY from {src}"))
}

/// The RCODE of a raw answer (TSIG-bearing answers included: header only).
fn rcode(answer: &[u8]) -> u8 {
    answer.get(3).map_or(255, |b| b & 0x0f)
}

#[test]
fn notifies_from_strangers_for_unknown_zones_or_with_bad_keys_are_refused_and_counted() {
    let s = Scratch::new("dist-notify");
    std::fs::write(s.path.join("block.rpz"), zone_text(1, &[1])).expect("saved copy");
    let listen: SocketAddr = format!("127.0.40.42:{SEKISHO_PORT}").parse().expect("addr");
    // The primary (nothing listens there) is the only allowed NOTIFY source.
    let cfg = sekisho_config(
        &s.path,
        listen,
        &format!("127.0.40.41@{BIND_PORT}"),
        &key_block("hmac-sha256", SECRET),
        "key = \"block-tsig-key\"",
    );
    let sk = start_sekisho(&s.path, "notify", &cfg, listen);
    const NOERROR: u8 = 0;
    const NOTAUTH: u8 = 9;
    const REFUSED: u8 = 5;
    // A stranger, unsigned: REFUSED each time, logged once.
    for _ in 0..2 {
        let reply = send_notify("127.0.40.49", listen, &notify("block."));
        let m = Message::from_vec(&reply).expect("decode");
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
        assert_eq!(m.metadata.op_code, OpCode::Notify);
    }
    // The listed primary, unsigned although the zone has a key: NOERROR (BIND does the same).
    let reply = send_notify("127.0.40.41", listen, &notify("block."));
    assert_eq!(rcode(&reply), NOERROR);
    // A zone we do not transfer: NOTAUTH.
    let reply = send_notify("127.0.40.41", listen, &notify("other.example."));
    assert_eq!(rcode(&reply), NOTAUTH);
    // Signed with the zone's key name but a wrong secret (BADSIG), or with a key
    // we do not know (BADKEY): NOTAUTH, even from the primary.
    let now = unix_secs();
    for key in [
        tsig("block-tsig-key.", WRONG_SECRET_BYTES),
        tsig("nobody-key.", SECRET_BYTES),
    ] {
        let (signed, _) =
            sekisho_xfr::tsig::sign_request(&key, &notify("block."), now).expect("sign");
        assert_eq!(rcode(&send_notify("127.0.40.41", listen, &signed)), NOTAUTH);
    }
    // Signed with the zone's key: NOERROR, and the answer is signed with it.
    let key = tsig("block-tsig-key.", SECRET_BYTES);
    let (signed, mac) =
        sekisho_xfr::tsig::sign_request(&key, &notify("block."), now).expect("sign");
    let reply = send_notify("127.0.40.41", listen, &signed);
    assert_eq!(rcode(&reply), NOERROR);
    sekisho_xfr::tsig::ResponseVerifier::new(key, mac)
        .verify(&reply, unix_secs())
        .expect("the answer is signed with the zone's key");
    // A stranger signing with the right key is still a stranger.
    let (signed, _) = sekisho_xfr::tsig::sign_request(
        &tsig("block-tsig-key.", SECRET_BYTES),
        &notify("block."),
        unix_secs(),
    )
    .expect("sign");
    assert_eq!(rcode(&send_notify("127.0.40.49", listen, &signed)), REFUSED);

    let metrics = scrape(SocketAddr::new(listen.ip(), 9153));
    for (series, value) in [
        ("{result=\"refused\",zone=\"block.\"}", 3.0),
        ("{result=\"unknown_zone\",zone=\"unknown\"}", 1.0),
        ("{result=\"badsig\",zone=\"block.\"}", 1.0),
        ("{result=\"badkey\",zone=\"block.\"}", 1.0),
    ] {
        assert_eq!(
            metric_or_zero(&metrics, &format!("sekisho_notify_total{series} ")),
            value,
            "{series}:\n{metrics}"
        );
    }
    // Two NOTIFYs from the primary were accepted: the first scheduled a check;
    // the second was scheduled or covered by it, depending on timing.
    assert_eq!(
        notify_count(&metrics, "accepted") + notify_count(&metrics, "coalesced"),
        2.0,
        "{metrics}"
    );
    let log = sk.log_text();
    let lines = |needle: &str| {
        log.lines()
            .filter(|l| l.contains(" WARN ") && l.contains(needle))
            .count()
    };
    assert_eq!(
        lines("NOTIFY refused: source is neither a primary nor in allow-notify"),
        1,
        "a stranger is logged once:\n{log}"
    );
    assert_eq!(
        lines("NOTIFY refused: its TSIG does not verify"),
        1,
        "{log}"
    );
    assert_eq!(lines("NOTIFY for a zone we do not transfer"), 1, "{log}");
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

/// The Unix time (seconds) at the start of a log line of Sekisho's text log
/// (`2026-01-02T03:04:05.678901Z  INFO ...`, UTC).
fn log_time(line: &str) -> Option<f64> {
    let stamp = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':');
    let (h, min) = (
        t.next()?.parse::<f64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
    );
    let sec = t.next()?.parse::<f64>().ok()?;
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + h * 3600.0 + min * 60.0 + sec)
}

/// The first line of `log` containing every one of `needles`.
fn log_line<'a>(log: &'a str, needles: &[&str]) -> Option<&'a str> {
    log.lines().find(|l| needles.iter().all(|n| l.contains(n)))
}

/// Now as Unix seconds.
fn unix_now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// A metric sample, or 0 when the series is absent.
fn metric_or_zero(body: &str, prefix: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// `sekisho_notify_total{zone="block.",result}`.
fn notify_count(metrics: &str, result: &str) -> f64 {
    metric_or_zero(
        metrics,
        &format!("sekisho_notify_total{{result=\"{result}\",zone=\"block.\"}} "),
    )
}

/// `sekisho_notify_soa_checks_total{zone="block."}`.
fn soa_checks(metrics: &str) -> f64 {
    metric_sample(metrics, "sekisho_notify_soa_checks_total{zone=\"block.\"} ")
}

#[test]
fn the_guidelines_list_master_sends_an_unsigned_notify_and_the_change_is_live_within_a_second() {
    // The list master as the guideline configures it: `also-notify` to the
    // cache, `ixfr-from-differences yes`, transfers only with the key, and no
    // `server { keys ...; }` clause, so its NOTIFY goes out unsigned. BIND's
    // default `notify-delay` (5 s) applies: a NOTIFY leaves at once unless one
    // left for the zone less than 5 s before (then at that one + 5 s: BIND's
    // zone_notify() sets the next allowed time to now + notify-delay). So the
    // delay from `rndc reload` to the NOTIFY is measured and printed, and the
    // bound is asserted from the NOTIFY's arrival, read from Sekisho's log.
    let s = Scratch::new("dist-guideline");
    let listen: SocketAddr = format!("127.0.40.62:{SEKISHO_PORT}").parse().expect("addr");
    let bind = Bind::start_with(
        &s.path,
        "127.0.40.61",
        &zone_text(1, &[1]),
        &format!("{} port {};", listen.ip(), listen.port()),
        "",
    );
    let cfg = sekisho_config(
        &s.path,
        listen,
        &format!("127.0.40.61@{BIND_PORT}"),
        &key_block("hmac-sha256", SECRET),
        "key = \"block-tsig-key\"",
    );
    let sk = start_sekisho(&s.path, "guideline", &cfg, listen);
    wait_rule(
        &sk,
        listen,
        "blocked1.example.jp.",
        "192.0.2.1",
        Duration::from_secs(10),
    );

    // Serial 2 right after start-up: BIND's start-up NOTIFY (serial 1) left
    // moments ago, so notify-delay holds this one back until 5 s after it.
    // Serial 3 more than 5 s after serial 2's NOTIFY: it leaves at once.
    let mut last_notify = 0.0;
    for serial in [2u32, 3] {
        if serial == 3 {
            let wait = last_notify + 5.5 - unix_now_f64();
            if wait > 0.0 {
                thread::sleep(Duration::from_secs_f64(wait));
            }
        }
        let rules: Vec<u8> = (1..=serial as u8).collect();
        std::fs::write(bind.dir.join("block.db"), zone_text(serial, &rules)).expect("zone file");
        let rule = format!("blocked{serial}.example.jp.");
        let addr = format!("192.0.2.{serial}");
        let reloaded = unix_now_f64();
        bind.rndc(&["reload", "block"]);
        // Until the rule is live the name is resolved (and fails: no network),
        // so each poll waits at most 10 ms: a rewritten answer takes well under 1 ms.
        let mut answered = None;
        let until = Instant::now() + Duration::from_secs(15);
        while Instant::now() < until {
            if answer_a_within(listen, &rule, Duration::from_millis(10)).as_deref()
                == Some(addr.as_str())
            {
                answered = Some(unix_now_f64());
                break;
            }
            thread::sleep(Duration::from_millis(2));
        }
        let answered = answered.unwrap_or_else(|| {
            panic!(
                "serial {serial} never became live; sekisho log:\n{}\nnamed log:\n{}",
                sk.log_text(),
                bind.proc.log_text()
            )
        });
        let log = sk.log_text();
        let serial_field = format!("serial={serial}");
        let notify_line = log_line(
            &log,
            &["NOTIFY received; checking the primaries", &serial_field],
        )
        .unwrap_or_else(|| panic!("no NOTIFY for serial {serial} logged:\n{log}"));
        assert!(
            notify_line.contains("signed=false") && notify_line.contains("peer=127.0.40.61:"),
            "the guideline's NOTIFY is unsigned and comes from the primary: {notify_line}"
        );
        let live_line = log_line(
            &log,
            &["policy zone updated (IXFR) and live", &serial_field],
        )
        .unwrap_or_else(|| panic!("no IXFR to serial {serial} logged:\n{log}"));
        let notified = log_time(notify_line).expect("NOTIFY log time");
        let live = log_time(live_line).expect("live log time");
        println!(
            "serial {serial}: rndc reload -> NOTIFY arrives: {:.3} s; NOTIFY -> IXFR live (log): \
             {:.3} s; NOTIFY -> first rewritten answer (polled every 2 ms): {:.3} s",
            notified - reloaded,
            live - notified,
            answered - notified
        );
        assert!(
            answered - notified < 1.0,
            "serial {serial} live {:.3} s after the NOTIFY arrived",
            answered - notified
        );
        if serial == 3 {
            assert!(
                notified - reloaded < 1.0,
                "5 s after the last NOTIFY, BIND notifies at once ({:.3} s)",
                notified - reloaded
            );
        }
        last_notify = notified;
    }
    assert_eq!(
        zone_status(&s.path.join("control.sock"))["last_transfer_kind"],
        "ixfr"
    );
    // The transfer itself was signed: BIND logs the key it verified.
    let named = bind.proc.log_text();
    assert!(
        named.contains("sending notifies (serial 2)")
            && named.contains("sending notifies (serial 3)"),
        "named log:\n{named}"
    );
    assert!(
        named
            .lines()
            .any(|l| l.contains("IXFR started") && l.contains("TSIG block-tsig-key")),
        "the IXFR was not TSIG-signed; named log:\n{named}"
    );
}

/// A NOTIFY for `block.` announcing `serial` (as BIND sends them), or none.
fn notify_with(serial: Option<u32>) -> Vec<u8> {
    let mut m = Message::from_vec(&notify("block.")).expect("decode");
    if let Some(serial) = serial {
        let soa = SOA::new(
            Name::from_ascii("ns.block.").expect("name"),
            Name::from_ascii("hostmaster.block.").expect("name"),
            serial,
            3600,
            1,
            3600,
            60,
        );
        m.add_answer(Record::from_rdata(
            Name::from_ascii("block.").expect("name"),
            60,
            RData::SOA(soa),
        ));
    }
    m.to_vec().expect("encode")
}

/// Sends `count` copies of `packet` (each with its own ID) from `src` to `server`,
/// at most 64 unanswered at a time. Returns (answers that are NOERROR + AA
/// NOTIFY responses to our IDs, all answers, time taken).
fn notify_flood(
    src: std::net::IpAddr,
    server: SocketAddr,
    packet: &[u8],
    count: u16,
) -> (usize, usize, Duration) {
    let sock = UdpSocket::bind(SocketAddr::new(src, 0)).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut out = packet.to_vec();
    let mut buf = vec![0u8; 4096];
    let mut seen = vec![false; usize::from(count)];
    let (mut sent, mut received, mut good) = (0u16, 0usize, 0usize);
    let started = Instant::now();
    while usize::from(sent) < usize::from(count) || received < usize::from(count) {
        while sent < count && usize::from(sent) < received + 64 {
            out[..2].copy_from_slice(&sent.to_be_bytes());
            sock.send_to(&out, server).expect("send");
            sent += 1;
        }
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            break; // 2 s without an answer: some were lost
        };
        received += 1;
        let Ok(m) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let id = usize::from(m.metadata.id);
        if m.metadata.response_code == ResponseCode::NoError
            && m.metadata.authoritative
            && m.metadata.op_code == OpCode::Notify
            && id < seen.len()
            && !seen[id]
        {
            seen[id] = true;
            good += 1;
        }
    }
    (good, received, started.elapsed())
}

#[test]
fn a_notify_flood_is_answered_in_full_and_costs_one_soa_check() {
    let s = Scratch::new("dist-flood");
    let listen: SocketAddr = format!("127.0.40.72:{SEKISHO_PORT}").parse().expect("addr");
    // BIND's own NOTIFYs go nowhere: the test sends them.
    let bind = Bind::start(
        &s.path,
        "127.0.40.71",
        "127.0.40.79:9".parse().expect("addr"),
        &zone_text(1, &[1]),
    );
    let cfg = sekisho_config(
        &s.path,
        listen,
        &format!("127.0.40.71@{BIND_PORT}"),
        &key_block("hmac-sha256", SECRET),
        "key = \"block-tsig-key\"",
    );
    let sk = start_sekisho(&s.path, "flood", &cfg, listen);
    let socket = s.path.join("control.sock");
    let metrics_at = SocketAddr::new(listen.ip(), 9153);
    wait_rule(
        &sk,
        listen,
        "blocked1.example.jp.",
        "192.0.2.1",
        Duration::from_secs(10),
    );
    bind.publish(&zone_text(2, &[1, 2]));
    assert!(
        eventually(Duration::from_secs(10), || bind.serial() == Some(2)),
        "BIND did not load serial 2"
    );
    let before = scrape(metrics_at);
    assert_eq!(soa_checks(&before), 0.0, "{before}");

    // 2,000 NOTIFYs announcing serial 2 (BIND's form) from the primary's address.
    let from = "127.0.40.71".parse().expect("ip");
    let (good, received, took) = notify_flood(from, listen, &notify_with(Some(2)), 2000);
    println!("2000 NOTIFYs (serial 2) answered in {took:?}");
    assert_eq!(received, 2000, "every NOTIFY is answered");
    assert_eq!(good, 2000, "every answer is NOERROR, AA, our ID");
    assert!(took < Duration::from_secs(3), "the flood took {took:?}");
    wait_rule(
        &sk,
        listen,
        "blocked2.example.jp.",
        "192.0.2.2",
        Duration::from_secs(5),
    );
    assert_eq!(zone_status(&socket)["serial"], 2);
    // The flood ends 2 s after its last NOTIFY; the watcher looks every 0.5 s.
    let ended = eventually(Duration::from_secs(5), || {
        sk.log_text().contains("NOTIFY flood ended")
    });
    assert!(ended, "no flood summary:\n{}", sk.log_text());
    let after = scrape(metrics_at);
    assert_eq!(
        soa_checks(&after),
        1.0,
        "one SOA check for 2000 NOTIFYs of one change:\n{after}"
    );
    let (accepted, coalesced, up_to_date) = (
        notify_count(&after, "accepted"),
        notify_count(&after, "coalesced"),
        notify_count(&after, "up_to_date"),
    );
    println!("accepted {accepted}, coalesced {coalesced}, up_to_date {up_to_date}");
    assert_eq!(accepted, 1.0);
    assert_eq!(accepted + coalesced + up_to_date, 2000.0);
    let soa_queries = |m: &str| {
        metric_or_zero(
            m,
            "sekisho_rpz_transfers_total{result=\"success\",type=\"soa\",zone=\"block.\"} ",
        )
    };
    assert_eq!(soa_queries(&after) - soa_queries(&before), 1.0, "{after}");
    let log = sk.log_text();
    let count_lines = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count_lines("NOTIFY flood:"), 1, "{log}");
    assert_eq!(count_lines("NOTIFY flood ended"), 1, "{log}");
    assert!(
        count_lines("NOTIFY received; checking the primaries") <= 1,
        "NOTIFYs are not logged one by one:\n{log}"
    );
    let summary = log_line(&log, &["NOTIFY flood ended"]).expect("summary");
    assert!(summary.contains("soa_checks=1"), "{summary}");

    // 2,000 NOTIFYs without a serial: they cannot be compared with ours, so a
    // check is held until one second after the previous one started. The
    // first costs one check; those during it or within its second queue one
    // more, which covers the rest.
    let before = scrape(metrics_at);
    let (good, _, took) = notify_flood(from, listen, &notify_with(None), 2000);
    println!("2000 NOTIFYs (no serial) answered in {took:?}");
    assert_eq!(good, 2000);
    assert!(eventually(Duration::from_secs(6), || sk
        .log_text()
        .lines()
        .filter(|l| l.contains("NOTIFY flood ended"))
        .count()
        == 2));
    let after = scrape(metrics_at);
    let checks = soa_checks(&after) - soa_checks(&before);
    println!("SOA checks for 2000 NOTIFYs without a serial: {checks}");
    if took < Duration::from_secs(1) {
        assert!((1.0..=2.0).contains(&checks), "{checks} checks:\n{after}");
    } else {
        assert!(
            checks <= took.as_secs_f64().ceil() + 1.0,
            "{checks} checks in {took:?}"
        );
    }
}

/// Version `serial` of a policy zone with local data of several types, changed
/// between versions in ways IXFR carries as partial removals.
fn mixed_zone(serial: u32) -> String {
    let head = format!(
        "$ORIGIN block.\n$TTL 60\n@ SOA ns.block. hostmaster.block. {serial} 3600 1 3600 60\n@ NS localhost.\n"
    );
    let body = match serial {
        1 => {
            "multi.example.jp A 192.0.2.10\nmulti.example.jp A 192.0.2.11\n\
             multi.example.jp AAAA 2001:db8::10\n\
             txt.example.jp TXT \"v1\"\ntxt.example.jp TXT \"extra\"\n\
             mx.example.jp MX 10 mail1.example.jp.\n\
             gone.example.jp A 192.0.2.20\n\
             nx.example.jp CNAME .\n\
             *.wild.example.jp A 192.0.2.30\n"
        }
        // One A of two removed, the AAAA kept; a TXT replaced, one kept; the MX
        // replaced; an owner removed; NXDOMAIN turned NODATA; the wildcard moved;
        // a new owner.
        2 => {
            "multi.example.jp A 192.0.2.10\n\
             multi.example.jp AAAA 2001:db8::10\n\
             txt.example.jp TXT \"v2\"\ntxt.example.jp TXT \"extra\"\n\
             mx.example.jp MX 20 mail2.example.jp.\n\
             nx.example.jp CNAME *.\n\
             *.wild.example.jp A 192.0.2.31\n\
             new.example.jp AAAA 2001:db8::1\n"
        }
        // An A added back beside the kept one, the AAAA removed; one TXT of two
        // removed; a second MX; the new owner gets an A as well.
        _ => {
            "multi.example.jp A 192.0.2.10\nmulti.example.jp A 192.0.2.12\n\
             txt.example.jp TXT \"v2\"\n\
             mx.example.jp MX 20 mail2.example.jp.\nmx.example.jp MX 30 mail3.example.jp.\n\
             nx.example.jp CNAME *.\n\
             *.wild.example.jp A 192.0.2.31\n\
             new.example.jp AAAA 2001:db8::1\nnew.example.jp A 192.0.2.40\n"
        }
    };
    format!("{head}{body}")
}

/// The records of a saved copy, one line each, sorted.
fn saved_records(path: &Path) -> Vec<String> {
    let origin = Name::from_ascii("block.").expect("name");
    let mut lines: Vec<String> = sekisho_zonefile::ZoneReader::open(
        path,
        sekisho_zonefile::ParseOptions::with_origin(origin),
    )
    .expect("open saved copy")
    .map(|r| {
        r.expect("the saved copy parses")
            .to_string()
            .to_ascii_lowercase()
    })
    .collect();
    lines.sort();
    lines
}

/// What Sekisho answers for `name`/`rtype`: RCODE and the answer records, sorted.
fn answers(server: SocketAddr, name: &str, rtype: RecordType) -> (ResponseCode, Vec<String>) {
    let m = query(server, name, rtype);
    let mut records: Vec<String> = m.answers.iter().map(ToString::to_string).collect();
    records.sort();
    (m.metadata.response_code, records)
}

#[test]
fn ixfr_updates_give_the_same_zone_and_answers_as_a_fresh_axfr() {
    let s = Scratch::new("dist-ixfr-axfr");
    let a: SocketAddr = format!("127.0.40.82:{SEKISHO_PORT}").parse().expect("addr");
    let b: SocketAddr = format!("127.0.40.83:{SEKISHO_PORT}").parse().expect("addr");
    let bind = Bind::start(&s.path, "127.0.40.81", a, &mixed_zone(1));
    let primary = format!("127.0.40.81@{BIND_PORT}");
    let dir_a = s.path.join("a");
    let dir_b = s.path.join("b");
    for d in [&dir_a, &dir_b] {
        std::fs::create_dir_all(d).expect("dir");
    }
    let key = key_block("hmac-sha256", SECRET);
    let zone_key = "key = \"block-tsig-key\"";
    let sk_a = start_sekisho(
        &dir_a,
        "a",
        &sekisho_config(&dir_a, a, &primary, &key, zone_key),
        a,
    );
    let socket_a = dir_a.join("control.sock");
    wait_rule(
        &sk_a,
        a,
        "gone.example.jp.",
        "192.0.2.20",
        Duration::from_secs(10),
    );
    for serial in [2, 3] {
        bind.publish(&mixed_zone(serial));
        assert!(
            eventually(Duration::from_secs(10), || zone_status(&socket_a)["serial"]
                == serial),
            "serial {serial} not reached; log:\n{}",
            sk_a.log_text()
        );
        assert_eq!(zone_status(&socket_a)["last_transfer_kind"], "ixfr");
    }
    let saved_a = dir_a.join("block.rpz");
    assert!(eventually(Duration::from_secs(5), || {
        std::fs::read_to_string(&saved_a).is_ok_and(|t| t.starts_with("; serial 3\n"))
    }));

    // A second instance starts from nothing: AXFR of the same serial.
    let sk_b = start_sekisho(
        &dir_b,
        "b",
        &sekisho_config(&dir_b, b, &primary, &key, zone_key),
        b,
    );
    let socket_b = dir_b.join("control.sock");
    assert!(
        eventually(Duration::from_secs(10), || zone_status(&socket_b)["serial"]
            == 3),
        "log:\n{}",
        sk_b.log_text()
    );
    assert_eq!(zone_status(&socket_b)["last_transfer_kind"], "axfr");
    let saved_b = dir_b.join("block.rpz");
    assert!(eventually(Duration::from_secs(5), || saved_b.exists()));

    // The saved copies hold the same records.
    let (records_a, records_b) = (saved_records(&saved_a), saved_records(&saved_b));
    assert_eq!(records_a, records_b, "saved copies differ");
    assert!(
        records_a.iter().any(|r| r.contains("192.0.2.12")),
        "{records_a:?}"
    );
    assert!(
        !records_a.iter().any(|r| r.contains("192.0.2.11")),
        "{records_a:?}"
    );
    assert_eq!(
        zone_status(&socket_a)["rules"],
        zone_status(&socket_b)["rules"]
    );

    // The live rules agree, for every owner any version had (`sekishoctl test`
    // does not resolve, so owners removed from the zone are asked too) ...
    let owners = [
        "multi.example.jp",
        "txt.example.jp",
        "mx.example.jp",
        "gone.example.jp",
        "nx.example.jp",
        "a.wild.example.jp",
        "new.example.jp",
    ];
    for owner in owners {
        for qtype in ["A", "AAAA", "TXT", "MX"] {
            let ta = ctl(&socket_a, &["test", owner, qtype]);
            let tb = ctl(&socket_b, &["test", owner, qtype]);
            assert_eq!(ta, tb, "sekishoctl test {owner} {qtype}");
            let expect = if owner == "gone.example.jp" { 1 } else { 0 };
            assert_eq!(ta.0, expect, "sekishoctl test {owner} {qtype}: {ta:?}");
        }
    }
    // ... and the answers are the same, for every owner the zone still has.
    for owner in owners.iter().filter(|o| **o != "gone.example.jp") {
        for qtype in [
            RecordType::A,
            RecordType::AAAA,
            RecordType::TXT,
            RecordType::MX,
        ] {
            let name = format!("{owner}.");
            assert_eq!(
                answers(a, &name, qtype),
                answers(b, &name, qtype),
                "{owner} {qtype}"
            );
        }
    }
    let (_, multi) = answers(a, "multi.example.jp.", RecordType::A);
    assert_eq!(multi.len(), 2, "{multi:?}");
    assert!(multi.iter().any(|r| r.ends_with("192.0.2.12")), "{multi:?}");
    let (rcode, mx) = answers(a, "mx.example.jp.", RecordType::MX);
    assert_eq!((rcode, mx.len()), (ResponseCode::NoError, 2), "{mx:?}");
    let (rcode, nx) = answers(a, "nx.example.jp.", RecordType::A);
    assert_eq!(
        (rcode, nx.len()),
        (ResponseCode::NoError, 0),
        "NODATA after serial 2"
    );
}

#[test]
fn notify_acceptance_matches_a_bind_secondary() {
    // The same NOTIFYs to BIND 9.18 as the secondary of zone `block` and to
    // Sekisho, both with primary 127.0.40.92 (port 5301, key block-tsig-key)
    // and allow-notify { 127.0.40.93; }: the answers' RCODEs must agree.
    require_named();
    let s = Scratch::new("dist-notify-bind");
    let bind_ip = "127.0.40.91";
    add_loopback(bind_ip);
    let bind_addr: SocketAddr = format!("{bind_ip}:{BIND_PORT}").parse().expect("addr");
    let conf = format!(
        r#"options {{
  directory "{d}";
  listen-on port {BIND_PORT} {{ {bind_ip}; }};
  listen-on-v6 {{ none; }};
  pid-file "{d}/named.pid";
  session-keyfile "{d}/session.key";
  recursion no;
}};
key "block-tsig-key" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
controls {{ }};
zone "block" {{
  type secondary;
  primaries {{ 127.0.40.92 port {BIND_PORT} key "block-tsig-key"; }};
  allow-notify {{ 127.0.40.93; }};
  file "{d}/block.db";
}};
"#,
        d = s.path.display()
    );
    let cf = s.file("named-secondary.conf", &conf);
    let named = Proc::spawn(
        "named",
        Command::new("named").arg("-g").arg("-c").arg(&cf),
        s.path.join("named-secondary.log"),
    );
    wait_dns(bind_addr, "block.", Duration::from_secs(15));
    let listen: SocketAddr = format!("127.0.40.95:{SEKISHO_PORT}").parse().expect("addr");
    let cfg = sekisho_config(
        &s.path,
        listen,
        &format!("127.0.40.92@{BIND_PORT}"),
        &key_block("hmac-sha256", SECRET),
        "key = \"block-tsig-key\"\nallow-notify = [\"127.0.40.93\"]",
    );
    let _sk = start_sekisho(&s.path, "notify-bind", &cfg, listen);
    let now = unix_secs();
    let sign = |key: sekisho_xfr::TsigKey| {
        sekisho_xfr::tsig::sign_request(&key, &notify("block."), now)
            .expect("sign")
            .0
    };
    let cases: [(&str, &str, Vec<u8>); 8] = [
        ("the primary, unsigned", "127.0.40.92", notify("block.")),
        ("allow-notify, unsigned", "127.0.40.93", notify("block.")),
        ("a stranger, unsigned", "127.0.40.94", notify("block.")),
        (
            "the primary, signed",
            "127.0.40.92",
            sign(tsig("block-tsig-key.", SECRET_BYTES)),
        ),
        (
            "the primary, wrong secret",
            "127.0.40.92",
            sign(tsig("block-tsig-key.", WRONG_SECRET_BYTES)),
        ),
        (
            "the primary, unknown key",
            "127.0.40.92",
            sign(tsig("nobody-key.", SECRET_BYTES)),
        ),
        (
            "a stranger, signed",
            "127.0.40.94",
            sign(tsig("block-tsig-key.", SECRET_BYTES)),
        ),
        ("another zone", "127.0.40.92", notify("other.example.")),
    ];
    for (what, src, packet) in &cases {
        let theirs = rcode(&send_notify(src, bind_addr, packet));
        let ours = rcode(&send_notify(src, listen, packet));
        println!("{what}: BIND rcode {theirs}, Sekisho rcode {ours}");
        assert_eq!(ours, theirs, "{what}; named log:\n{}", named.log_text());
    }
    let log = named.log_text();
    assert!(
        log.contains("refused notify from non-primary: 127.0.40.94"),
        "{log}"
    );
}

// ----- reload (SIGHUP) of zones with transfer roles, as `rndc reconfig` -------------
// These tests own 127.0.240.0/24.

/// A secret both sides move to in the key-change test.
const NEW_SECRET: &str = "bmV3LXNlY3JldC1mb3ItdGhlLXJlbG9hZC10ZXN0LTMyYg==";

/// Sekisho's configuration with `key_block`, everything forwarded to the test's
/// responder at `upstream`, and `zones` (whole `[[response-policy.zone]]` tables).
fn reload_config(
    scratch: &Path,
    listen: SocketAddr,
    upstream: &str,
    key_block: &str,
    zones: &str,
) -> String {
    let tables = format!(
        "[[forward-zone]]\nname = \".\"\nforward-addr = [\"{upstream}\"]\n[dnssec]\nvalidation = \"no\"\n"
    );
    daemon_config(scratch, listen, key_block, &tables, zones)
}

/// The `block` zone taken from `primary` with the key, checked every second.
fn block_zone(primary: &str) -> String {
    format!(
        "[[response-policy.zone]]\nname = \"block\"\nprimaries = [\"{primary}\"]\nkey = \"block-tsig-key\"\nfile = \"block.rpz\"\nmin-refresh = \"1s\"\nmax-refresh = \"1s\"\n"
    )
}

/// Writes `config` to the daemon's file (the one `start_sekisho` wrote for
/// `tag`), sends SIGHUP and waits for the `nth` "configuration reloaded" line.
fn reload_to(sk: &Proc, scratch: &Path, tag: &str, config: &str, nth: usize) {
    std::fs::write(scratch.join(format!("sekisho-{tag}.toml")), config).expect("config");
    sk.signal("HUP");
    assert!(
        eventually(Duration::from_secs(10), || sk
            .log_text()
            .matches("configuration reloaded")
            .count()
            >= nth),
        "reload {nth} not taken; log:\n{}",
        sk.log_text()
    );
}

/// Writes `config` to the daemon's file (as [`reload_to`]) and runs
/// `sekishoctl reload`, which answers once the zones are loaded.
fn reload_by_ctl(scratch: &Path, tag: &str, config: &str) {
    std::fs::write(scratch.join(format!("sekisho-{tag}.toml")), config).expect("config");
    let (code, out, err) = ctl(&scratch.join("control.sock"), &["reload"]);
    assert_eq!(code, 0, "sekishoctl reload: {out}{err}");
    assert!(out.contains("configuration reloaded"), "{out}");
}

/// Waits for the `nth` log line holding `needle` (the reload's per-role
/// lines come after its "configuration reloaded").
fn wait_lines(sk: &Proc, needle: &str, nth: usize) {
    assert!(
        eventually(Duration::from_secs(10), || sk
            .log_text()
            .matches(needle)
            .count()
            >= nth),
        "no {nth}th {needle:?}; log:\n{}",
        sk.log_text()
    );
}

/// The line of a reload that changed zones with primaries.
const TRANSFERRED_RECONFIGURED: &str = "policy zones with primaries reconfigured";
/// The line of a reload that changed served zones.
const SERVED_RECONFIGURED: &str = "served policy zones reconfigured";

/// SOA queries for `block` BIND has logged (`rndc querylog on`).
fn bind_soa_queries(bind: &Bind) -> usize {
    bind.proc.log_text().matches("query: block IN SOA").count()
}

/// The peers of a reload test: BIND serving `block` at serial 1 on
/// 127.0.240.`first` (NOTIFYing Sekisho), Sekisho's address (the next one)
/// and the upstream responder (the one after), which answers names under
/// `cached.test.` with 192.0.2.99 (TTL 1 h) and NODATA for the rest.
fn reload_peers(test: &str, first: u8) -> (Scratch, SocketAddr, Responder, Bind) {
    let s = Scratch::new(test);
    let ip = |n: u8| format!("127.0.240.{n}");
    let listen: SocketAddr = format!("{}:{SEKISHO_PORT}", ip(first + 1))
        .parse()
        .expect("addr");
    add_loopback(&ip(first + 1));
    add_loopback(&ip(first + 2));
    let up = start_responder(
        &format!("{}:5302", ip(first + 2)),
        ".",
        a_under(".cached.test.", "192.0.2.99", 3600),
    );
    let bind = Bind::start(&s.path, &ip(first), listen, &zone_text(1, &[1]));
    (s, listen, up, bind)
}

#[test]
fn a_zone_added_by_reload_transfers_and_decides_with_no_query_lost_and_removed_it_stops() {
    let (s, listen, up, bind) = reload_peers("dist-reload-add", 1);
    bind.rndc(&["querylog", "on"]);
    let key = key_block("hmac-sha256", SECRET);
    let without = reload_config(&s.path, listen, "127.0.240.3@5302", &key, "");
    let sk = start_sekisho(&s.path, "add", &without, listen);
    let metrics_at = SocketAddr::new(listen.ip(), 9153);

    // A name in the cache, asked in a loop through the reloads.
    assert_eq!(
        answer_a(listen, "www.cached.test.").as_deref(),
        Some("192.0.2.99")
    );
    let asked = up.count("www.cached.test.");
    let hits_before = metric_or_zero(
        &scrape(metrics_at),
        "sekisho_cache_hits_total{type=\"success\"} ",
    );
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let r = running.clone();
    let looper = thread::spawn(move || {
        let (mut ok, mut lost) = (0u32, 0u32);
        while r.load(std::sync::atomic::Ordering::SeqCst) {
            match answer_a_within(listen, "www.cached.test.", Duration::from_secs(1)) {
                Some(a) if a == "192.0.2.99" => ok += 1,
                _ => lost += 1,
            }
            thread::sleep(Duration::from_millis(5));
        }
        (ok, lost)
    });

    // (1) Added by reload (`sekishoctl reload`; SIGHUP below): transferred
    // from BIND, then deciding.
    let with = reload_config(
        &s.path,
        listen,
        "127.0.240.3@5302",
        &key,
        &block_zone(&format!("127.0.240.1@{BIND_PORT}")),
    );
    reload_by_ctl(&s.path, "add", &with);
    wait_rule(
        &sk,
        listen,
        "blocked1.example.jp.",
        "192.0.2.1",
        Duration::from_secs(10),
    );
    assert!(
        eventually(Duration::from_secs(5), || s.path.join("block.rpz").exists()),
        "no saved copy"
    );

    // A reload that leaves the zone as it is: its task goes on, no new transfer.
    let axfrs = || bind.proc.log_text().matches("query: block IN AXFR").count();
    let transfers = axfrs();
    assert!(transfers >= 1, "named log:\n{}", bind.proc.log_text());
    reload_to(
        &sk,
        &s.path,
        "add",
        &with.replace(
            "127.0.0.0/8\"]\ndirectory",
            "127.0.0.0/8\", \"10.0.0.0/8\"]\ndirectory",
        ),
        2,
    );
    assert!(
        eventually(Duration::from_secs(5), || bind_soa_queries(&bind) >= 2),
        "the task does not check every second; named log:\n{}",
        bind.proc.log_text()
    );
    assert_eq!(axfrs(), transfers, "transferred again");
    assert!(
        !sk.log_text().contains("policy zone task stopped"),
        "{}",
        sk.log_text()
    );
    assert_eq!(
        answer_a(listen, "blocked1.example.jp.").as_deref(),
        Some("192.0.2.1")
    );

    // (2) Removed by reload: no longer deciding, its task ends.
    reload_to(&sk, &s.path, "add", &without, 3);
    assert!(
        eventually(Duration::from_secs(5), || answer_a(
            listen,
            "blocked1.example.jp."
        )
        .is_none()),
        "the removed zone still decides; log:\n{}",
        sk.log_text()
    );
    assert!(
        eventually(Duration::from_secs(5), || sk
            .log_text()
            .contains("policy zone task stopped")),
        "{}",
        sk.log_text()
    );
    thread::sleep(Duration::from_millis(1500));
    let soa_after = bind_soa_queries(&bind);
    thread::sleep(Duration::from_secs(3));
    assert_eq!(
        bind_soa_queries(&bind),
        soa_after,
        "SOA queries go on after the zone was removed"
    );

    // Added again: seeded from its saved copy, as at start (no new AXFR: the
    // primary's serial is the copy's). The "reloaded" line comes before the
    // zones are loaded, hence the wait.
    let transfers = axfrs();
    reload_by_ctl(&s.path, "add", &with);
    wait_rule(
        &sk,
        listen,
        "blocked1.example.jp.",
        "192.0.2.1",
        Duration::from_secs(5),
    );
    assert!(
        eventually(Duration::from_secs(5), || bind_soa_queries(&bind)
            > soa_after),
        "the new task does not check; named log:\n{}",
        bind.proc.log_text()
    );
    assert_eq!(
        axfrs(),
        transfers,
        "transferred again despite the saved copy"
    );

    running.store(false, std::sync::atomic::Ordering::SeqCst);
    let (ok, lost) = looper.join().expect("query loop");
    assert_eq!(lost, 0, "{lost} of {} queries lost", ok + lost);
    assert!(ok > 50, "only {ok} answers");
    // The cache was kept: the upstream was not asked again, the answers were hits.
    assert_eq!(
        up.count("www.cached.test."),
        asked,
        "the cached name was asked upstream again"
    );
    let hits_after = metric_or_zero(
        &scrape(metrics_at),
        "sekisho_cache_hits_total{type=\"success\"} ",
    );
    assert!(
        hits_after >= hits_before + f64::from(ok),
        "cache hits {hits_before} -> {hits_after} for {ok} answers"
    );
    println!("{ok} answers, none lost, across two reloads");
}

#[test]
fn a_key_changed_by_reload_signs_the_next_transfer_and_a_mismatch_keeps_the_old_rules() {
    let (s, listen, _up, bind) = reload_peers("dist-reload-key", 11);
    let zone =
        block_zone(&format!("127.0.240.11@{BIND_PORT}")).replace("max-refresh = \"1s\"\n", "");
    let config = |secret: &str| {
        reload_config(
            &s.path,
            listen,
            "127.0.240.13@5302",
            &key_block("hmac-sha256", secret),
            &zone,
        )
    };
    let sk = start_sekisho(&s.path, "key", &config(SECRET), listen);
    wait_rule(
        &sk,
        listen,
        "blocked1.example.jp.",
        "192.0.2.1",
        Duration::from_secs(10),
    );

    // Both sides move to a new secret: the next NOTIFY-triggered transfer uses it.
    let named_conf = bind.dir.join("named.conf");
    let text = std::fs::read_to_string(&named_conf).expect("named.conf");
    std::fs::write(&named_conf, text.replace(SECRET, NEW_SECRET)).expect("named.conf");
    bind.rndc(&["reconfig"]);
    reload_to(&sk, &s.path, "key", &config(NEW_SECRET), 1);
    wait_lines(&sk, TRANSFERRED_RECONFIGURED, 1);
    bind.publish(&zone_text(2, &[1, 2]));
    wait_rule(
        &sk,
        listen,
        "blocked2.example.jp.",
        "192.0.2.2",
        Duration::from_secs(10),
    );
    assert_eq!(
        zone_status(&s.path.join("control.sock"))["last_transfer_kind"],
        "ixfr"
    );

    // Only Sekisho changes: the transfer fails, the rules stay, one log line.
    let failed = "policy zone refresh failed; the live version stays in force";
    let before = sk.log_text().matches(failed).count();
    reload_to(&sk, &s.path, "key", &config(WRONG_SECRET), 2);
    wait_lines(&sk, TRANSFERRED_RECONFIGURED, 2);
    bind.publish(&zone_text(3, &[1, 2, 3]));
    assert!(
        eventually(Duration::from_secs(5), || sk
            .log_text()
            .matches(failed)
            .count()
            > before),
        "{}",
        sk.log_text()
    );
    thread::sleep(Duration::from_secs(4));
    assert_eq!(answer_a(listen, "blocked3.example.jp."), None);
    assert_eq!(
        answer_a(listen, "blocked2.example.jp.").as_deref(),
        Some("192.0.2.2")
    );
    assert_eq!(zone_status(&s.path.join("control.sock"))["serial"], 2);
    assert_eq!(
        sk.log_text().matches(failed).count(),
        before + 1,
        "{}",
        sk.log_text()
    );

    // A reload that removes the key the zone still names is refused whole,
    // naming the zone's key path.
    std::fs::write(
        s.path.join("sekisho-key.toml"),
        reload_config(&s.path, listen, "127.0.240.13@5302", "", &zone),
    )
    .expect("config");
    sk.signal("HUP");
    assert!(
        eventually(Duration::from_secs(5), || sk.log_text().lines().any(|l| l
            .contains("reload refused")
            && l.contains("response-policy.zone[0].key"))),
        "{}",
        sk.log_text()
    );
    assert_eq!(
        answer_a(listen, "blocked2.example.jp.").as_deref(),
        Some("192.0.2.2")
    );
}

/// `dig AXFR block` at `server` from `source`: whether the transfer worked.
fn dig_axfr(source: &str, server: SocketAddr) -> (bool, String) {
    let out = Command::new("dig")
        .args(["-b", source, &format!("@{}", server.ip())])
        .args(["-p", &server.port().to_string(), "block.", "AXFR"])
        .output()
        .expect("dig runs (apt-get install bind9-dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let ok = text.matches("\tSOA\t").count() == 2 && !text.contains("Transfer failed");
    (ok, text)
}

#[test]
fn allow_transfer_changed_by_reload_lets_the_new_address_in_and_refuses_the_old() {
    let s = Scratch::new("dist-reload-allow");
    let listen: SocketAddr = format!("127.0.240.22:{SEKISHO_PORT}")
        .parse()
        .expect("addr");
    for ip in [
        "127.0.240.22",
        "127.0.240.23",
        "127.0.240.24",
        "127.0.240.25",
    ] {
        add_loopback(ip);
    }
    let _up = start_responder(
        "127.0.240.25:5302",
        ".",
        a_under(".cached.test.", "192.0.2.99", 3600),
    );
    s.file("served.rpz", &zone_text(7, &[1]));
    let config = |allowed: &str| {
        reload_config(
            &s.path,
            listen,
            "127.0.240.25@5302",
            "",
            &format!(
                "[[response-policy.zone]]\nname = \"block\"\nfile = \"served.rpz\"\nallow-transfer = [\"{allowed}/32\"]\n"
            ),
        )
    };
    let sk = start_sekisho(&s.path, "allow", &config("127.0.240.23"), listen);
    wait_rule(
        &sk,
        listen,
        "blocked1.example.jp.",
        "192.0.2.1",
        Duration::from_secs(10),
    );
    assert!(eventually(Duration::from_secs(5), || dig_axfr(
        "127.0.240.23",
        listen
    )
    .0));
    let (ok, text) = dig_axfr("127.0.240.24", listen);
    assert!(!ok, "{text}");

    reload_to(&sk, &s.path, "allow", &config("127.0.240.24"), 1);
    wait_lines(&sk, SERVED_RECONFIGURED, 1);
    let (ok, text) = dig_axfr("127.0.240.24", listen);
    assert!(ok, "newly allowed: {text}\n{}", sk.log_text());
    let (ok, text) = dig_axfr("127.0.240.23", listen);
    assert!(!ok, "no longer allowed: {text}");
    assert!(
        sk.log_text()
            .contains("zone transfer refused: not in allow-transfer"),
        "{}",
        sk.log_text()
    );
    // A target added to also-notify is sent NOTIFY for the current serial.
    let secondary = UdpSocket::bind("127.0.240.26:5303").expect("bind");
    secondary
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let notified = config("127.0.240.24").replace(
        "allow-transfer",
        "also-notify = [\"127.0.240.26@5303\"]\nallow-transfer",
    );
    reload_to(&sk, &s.path, "allow", &notified, 2);
    let mut buf = [0u8; 512];
    let (n, from) = secondary.recv_from(&mut buf).expect("a NOTIFY");
    let m = Message::from_vec(&buf[..n]).expect("message");
    assert_eq!(m.metadata.op_code, OpCode::Notify);
    assert_eq!(from.ip(), listen.ip(), "sent from the listen address");
    assert!(
        m.answers
            .iter()
            .any(|r| matches!(&r.data, RData::SOA(soa) if soa.serial == 7)),
        "{m:?}"
    );
    // The zone was not served again: the reload's file load found it unchanged.
    assert!(
        sk.log_text().contains("served zone unchanged at serial 7"),
        "{}",
        sk.log_text()
    );
}
