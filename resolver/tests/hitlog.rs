//! Who hit a policy zone, and how each output shows them: one policy zone
//! per client address policy (`none`, `masked`, `keyed-hash`, `full`), real
//! `dig` clients on several loopback addresses, and what the main log's rpz
//! line, the `rpz-log` JSON records, the dnstap frames (captured by
//! `fstrm_capture`, read back with `dnstap-read` and `fstrm_dump`) and
//! `sekishoctl rpz top-clients` show; then a record file that disappears
//! and comes back, and logrotate's move-then-reopen.
//!
//! Each test owns addresses in 127.0.210.0/24.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use common::*;
use hickory_proto::rr::RecordType;

/// Policy zones: one name blocked in each, one zone per address policy.
const ZONES: [(&str, &str, &str); 4] = [
    ("abuse", "none", "child.abuse.example"),
    ("malware-masked", "masked", "cc1.malware.example"),
    ("malware-hashed", "keyed-hash", "cc2.malware.example"),
    ("malware-full", "full", "cc3.malware.example"),
];

/// Clients, each a real `dig -b`.
const CLIENTS: [&str; 3] = ["127.0.210.11", "127.0.210.12", "127.0.210.13"];

fn zone_text(name: &str) -> String {
    format!("$TTL 300\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n@ NS localhost.\n{name} CNAME .\n")
}

/// A daemon on `ip`:5300 with the four zones, `rpz-log` at `log/rpz.jsonl`
/// and `dnstap` (when given) to a Unix socket.
fn config(s: &Scratch, ip: &str, dnstap: Option<&Path>) -> String {
    // The operator makes the log directory (systemd's LogsDirectory=).
    std::fs::create_dir_all(s.path.join("log")).expect("log directory");
    let mut text = format!(
        r#"[server]
listen = ["{ip}:5300"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{d}"

[control]
socket = "{d}/control.sock"

[metrics]
listen = "{ip}:9153"

[logging]
log-client-ip = "full"
log-client-key-file = "{d}/hit.key"
rpz-log = "{d}/log/rpz.jsonl"
"#,
        d = s.path.display()
    );
    if let Some(sock) = dnstap {
        text.push_str(&format!(
            "\n[dnstap]\nsocket = \"{}\"\nmessages = [\"client-query\", \"client-response\"]\n",
            sock.display()
        ));
    }
    for (zone, policy, name) in ZONES {
        s.file(&format!("{zone}.rpz"), &zone_text(name));
        text.push_str(&format!(
            "\n[[response-policy.zone]]\nname = \"{zone}\"\nfile = \"{zone}.rpz\"\nlog-client-ip = \"{policy}\"\n"
        ));
    }
    text
}

/// `dig` from `from` for `name`: the rcode it printed.
fn dig_from(ip: &str, from: &str, name: &str) -> String {
    let out = Command::new("dig")
        .arg(format!("@{ip}"))
        .args(["-p", "5300", "-b", from, name, "A", "+tries=1", "+time=3"])
        .output()
        .expect("dig runs (apt-get install dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "dig {name} from {from}:\n{text}");
    text.split("status: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("")
        .to_owned()
}

/// The JSON records of `rpz-log` for zone `zone`.
fn records(path: &Path, zone: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("one JSON object a line"))
        .filter(|r| r["zone"] == zone)
        .collect()
}

/// `rpz top-clients` or `top-names` of `zone` as (key, count) pairs.
fn top(sock: &Path, what: &str, zone: &str) -> Vec<(String, u64)> {
    let (code, out, err) = ctl(sock, &["--json", "rpz", what, zone, "--since", "1h"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["key"].as_str().expect("key").to_owned(),
                e["count"].as_u64().expect("count"),
            )
        })
        .collect()
}

/// `fstrm_capture` writing what comes to `sock` into `file`.
fn start_capture(s: &Scratch, sock: &Path, file: &Path) -> Proc {
    let p = Proc::spawn(
        "fstrm_capture",
        Command::new("fstrm_capture")
            .args(["-t", "protobuf:dnstap.Dnstap", "-u"])
            .arg(sock)
            .arg("-w")
            .arg(file),
        s.path.join("fstrm_capture.log"),
    );
    assert!(
        eventually(Duration::from_secs(5), || sock.exists()),
        "fstrm_capture (apt-get install fstrm-bin) did not open {}",
        sock.display()
    );
    p
}

/// Output of a reader run over the capture file.
fn read_with(tool: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .arg(file)
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every address policy end to end: the hit log, the rpz-log records,
/// dnstap and top-clients show each zone's clients as its policy says, and
/// a zone with `none` leaves no address anywhere. 127.0.210.1.
#[test]
fn each_address_policy_shows_in_every_output_as_the_zone_says() {
    let s = Scratch::new("hitlog-policies");
    let ip = "127.0.210.1";
    for c in CLIENTS {
        add_loopback(c);
    }
    // The operator's secret for keyed-hash pseudonyms.
    let key = s.file_bytes("hit.key", b"0123456789abcdef0123456789abcdef");
    let dnstap_sock = s.path.join("dnstap.sock");
    let capture_file = s.path.join("dnstap.fstrm");
    let mut capture = start_capture(&s, &dnstap_sock, &capture_file);
    let listen: SocketAddr = format!("{ip}:5300").parse().expect("addr");
    let mut sk = start_sekisho(
        &s.path,
        "policies",
        &config(&s, ip, Some(&dnstap_sock)),
        listen,
    );
    let sock = s.path.join("control.sock");

    // Every client asks every blocked name; the first client asks the
    // full-address zone's name twice more.
    for c in CLIENTS {
        for (_, _, name) in ZONES {
            assert_eq!(dig_from(ip, c, name), "NXDOMAIN", "{name} from {c}");
        }
    }
    for _ in 0..2 {
        dig_from(ip, CLIENTS[0], "cc3.malware.example");
    }

    // rpz-log: one JSON record a hit, the client as the zone says.
    let log = s.path.join("log/rpz.jsonl");
    assert!(
        eventually(Duration::from_secs(5), || records(&log, "malware-full")
            .len()
            == 5),
        "{:?}",
        std::fs::read_to_string(&log)
    );
    let pseudonyms = hitlog_keys(&key, CLIENTS);
    // The operator, holding the key, finds the same with the command line.
    let out = Command::new(env!("CARGO_BIN_EXE_sekisho"))
        .args(["client-pseudonym", "--config"])
        .arg(s.path.join("sekisho-policies.toml"))
        .args(CLIENTS)
        .output()
        .expect("sekisho client-pseudonym");
    assert!(out.status.success(), "{out:?}");
    let shown: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap_or("").to_owned())
        .collect();
    assert_eq!(shown, pseudonyms);
    let expect_client = |zone: &str, client: &str| -> Option<String> {
        match zone {
            "abuse" => None,
            "malware-masked" => Some("127.0.210.0".into()),
            "malware-hashed" => {
                let i = CLIENTS.iter().position(|c| *c == client).expect("client");
                Some(pseudonyms[i].clone())
            }
            _ => Some(client.into()),
        }
    };
    for (zone, _, name) in ZONES {
        let recs = records(&log, zone);
        assert_eq!(
            recs.len(),
            if zone == "malware-full" { 5 } else { 3 },
            "{zone}: {recs:?}"
        );
        for r in &recs {
            assert_eq!(r["qname"], name);
            assert_eq!(r["rule"], format!("{name}.{zone}"));
            assert_eq!(r["trigger"], "QNAME");
            assert_eq!(r["action"], "NXDOMAIN");
            assert_eq!(r["qtype"], "A");
            assert_eq!(r["transport"], "udp");
            assert_eq!(r["rcode"], "NXDOMAIN");
            assert!(r["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{r}");
        }
        let mut shown: Vec<Option<String>> = recs
            .iter()
            .map(|r| r.get("client").and_then(|c| c.as_str()).map(str::to_owned))
            .collect();
        shown.sort();
        shown.dedup();
        let mut expected: Vec<Option<String>> =
            CLIENTS.iter().map(|c| expect_client(zone, c)).collect();
        expected.sort();
        expected.dedup();
        assert_eq!(shown, expected, "{zone}");
    }
    let whole_log = std::fs::read_to_string(&log).expect("rpz-log");
    for line in whole_log.lines().filter(|l| l.contains("\"abuse\"")) {
        assert!(!line.contains("127.0.210"), "{line}");
    }

    // The main log's BIND line: the same view.
    let daemon_log = sk.log_text();
    let bind_lines: Vec<&str> = daemon_log
        .lines()
        .filter(|l| l.contains("rpz QNAME NXDOMAIN rewrite"))
        .collect();
    assert!(
        bind_lines
            .iter()
            .any(|l| l.contains("client - (child.abuse.example)")),
        "{bind_lines:#?}"
    );
    assert!(bind_lines
        .iter()
        .filter(|l| l.contains("child.abuse.example"))
        .all(|l| !l.contains("127.0.210")));
    assert!(bind_lines
        .iter()
        .any(|l| l.contains("client 127.0.210.0#0 (cc1.malware.example)")));
    assert!(bind_lines
        .iter()
        .any(|l| l.contains(&format!("client {}#0 (cc2.malware.example)", pseudonyms[1]))));
    assert!(bind_lines
        .iter()
        .any(|l| l.contains("client 127.0.210.12#0 (cc3.malware.example)")));

    // top-clients: nobody for `none`, one network for `masked`, three
    // pseudonyms, three addresses with the first client on top.
    assert_eq!(top(&sock, "top-clients", "abuse"), vec![]);
    assert_eq!(
        top(&sock, "top-names", "abuse"),
        vec![("child.abuse.example".to_owned(), 3)]
    );
    assert_eq!(
        top(&sock, "top-clients", "malware-masked"),
        vec![("127.0.210.0".to_owned(), 3)]
    );
    let mut hashed: Vec<String> = top(&sock, "top-clients", "malware-hashed")
        .into_iter()
        .map(|(k, n)| {
            assert_eq!(n, 1);
            k
        })
        .collect();
    hashed.sort();
    let mut want = pseudonyms.clone();
    want.sort();
    assert_eq!(hashed, want);
    let full = top(&sock, "top-clients", "malware-full");
    assert_eq!(full[0], ("127.0.210.11".to_owned(), 3), "{full:?}");
    assert_eq!(full.len(), 3, "{full:?}");
    let (code, _, err) = ctl(&sock, &["rpz", "top-clients", "nonesuch"]);
    assert_eq!(code, 1);
    assert!(err.contains("no policy zone nonesuch."), "{err}");

    // dnstap: stop the daemon (it flushes), then the collector.
    sk.stop();
    capture.stop();
    let yaml = read_with("dnstap-read", &["-y"], &capture_file);
    let frames: Vec<&str> = yaml.split("\n---").collect();
    let about = |name: &str| -> Vec<&str> {
        frames
            .iter()
            .copied()
            .filter(|f| f.contains(&format!("{name}.")))
            .collect()
    };
    // 3 queries and 3 answers per name (the full-address name 5 of each).
    for (zone, _, name) in ZONES {
        let n = about(name).len();
        assert_eq!(
            n,
            if zone == "malware-full" { 10 } else { 6 },
            "{name}: {yaml}"
        );
    }
    for f in about("child.abuse.example") {
        assert!(
            !f.contains("query_address"),
            "abuse frame with an address: {f}"
        );
    }
    for f in about("cc2.malware.example") {
        assert!(
            !f.contains("query_address"),
            "pseudonym frame with an address: {f}"
        );
    }
    assert!(about("cc1.malware.example")
        .iter()
        .all(|f| f.contains("query_address: \"127.0.210.0\"")));
    assert!(about("cc3.malware.example")
        .iter()
        .any(|f| f.contains("query_address: \"127.0.210.13\"")));
    assert!(about("cc3.malware.example")
        .iter()
        .any(|f| f.contains("type: CLIENT_RESPONSE")));
    // The policy and the pseudonym are in each answer frame's extra text
    // (dnstap-read does not print `extra`; fstrm_dump shows the frames' bytes).
    let raw = read_with("fstrm_dump", &[], &capture_file);
    assert!(
        raw.contains("rpz zone=malware-full. rule=cc3.malware.example.malware-full. trigger=QNAME action=NXDOMAIN"),
        "{raw}"
    );
    assert!(raw.contains(&format!("client={}", pseudonyms[2])), "{raw}");
    assert!(!raw.contains("client=127.0.210"), "{raw}");
}

/// The pseudonyms the operator computes with the key file for `clients` now.
fn hitlog_keys(key: &Path, clients: [&str; 3]) -> Vec<String> {
    let ring = sekisho_hitlog::KeyRing::from_file(key, Duration::from_secs(86_400)).expect("key");
    clients
        .iter()
        .map(|c| ring.pseudonym(c.parse::<IpAddr>().expect("ip"), SystemTime::now()))
        .collect()
}

/// The record file's directory disappears: queries are answered as before,
/// the loss is counted and logged once, and records resume by themselves
/// when it is back; `sekishoctl reopen-logs` after logrotate's move writes
/// to a new file. 127.0.210.21.
#[test]
fn a_record_file_that_goes_away_loses_records_not_queries_and_comes_back() {
    let s = Scratch::new("hitlog-gone");
    let ip = "127.0.210.21";
    s.file_bytes("hit.key", b"0123456789abcdef0123456789abcdef");
    let listen: SocketAddr = format!("{ip}:5300").parse().expect("addr");
    let sk = start_sekisho(&s.path, "gone", &config(&s, ip, None), listen);
    let sock = s.path.join("control.sock");
    let dir = s.path.join("log");
    let log = dir.join("rpz.jsonl");
    assert_eq!(dig_from(ip, ip, "cc3.malware.example"), "NXDOMAIN");
    assert!(eventually(Duration::from_secs(5), || records(
        &log,
        "malware-full"
    )
    .len()
        == 1));

    std::fs::remove_dir_all(&dir).expect("remove the log directory");
    for _ in 0..5 {
        assert_eq!(dig_from(ip, ip, "cc3.malware.example"), "NXDOMAIN");
    }
    let dropped = || {
        let (_, body) = http_get(&format!("{ip}:9153"), "/metrics")
            .split_once("\r\n\r\n")
            .map(|(h, b)| (h.to_owned(), b.to_owned()))
            .unwrap_or_default();
        metric_value(
            &body,
            "sekisho_rpz_log_records_total",
            &["result=\"dropped\""],
        )
        .unwrap_or(0.0)
    };
    // The writer notices within a second that its file is gone; records
    // from then on are dropped and counted, and every query is answered.
    assert!(
        eventually(Duration::from_secs(10), || {
            assert_eq!(dig_from(ip, ip, "cc3.malware.example"), "NXDOMAIN");
            dropped() >= 1.0
        }),
        "no record counted as dropped"
    );
    // Records come back by themselves once the directory is there again.
    std::fs::create_dir_all(&dir).expect("directory back");
    assert!(
        eventually(Duration::from_secs(10), || {
            dig_from(ip, ip, "cc3.malware.example");
            !records(&log, "malware-full").is_empty()
        }),
        "records did not resume"
    );
    let text = sk.log_text();
    let warns: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("rpz-log"))
        .collect();
    assert_eq!(
        warns.len(),
        1,
        "one warning per change of state: {warns:#?}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("INFO") && l.contains("hit log resumed after dropped lines")),
        "{text}"
    );

    // logrotate: move, then reopen-logs; the next record is in a new file.
    let moved = dir.join("rpz.jsonl.1");
    std::fs::rename(&log, &moved).expect("rotate");
    let (code, out, err) = ctl(&sock, &["reopen-logs"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("reopened"), "{out}");
    assert_eq!(dig_from(ip, ip, "child.abuse.example"), "NXDOMAIN");
    assert!(
        eventually(Duration::from_secs(5), || records(&log, "abuse").len() == 1),
        "no record in the reopened file"
    );
    assert!(records(&moved, "abuse").is_empty());

    // The same with SIGHUP, as logrotate's postrotate usually sends it.
    let moved2 = dir.join("rpz.jsonl.2");
    std::fs::rename(&log, &moved2).expect("rotate again");
    sk.signal("HUP");
    assert!(
        eventually(Duration::from_secs(10), || {
            dig_from(ip, ip, "cc1.malware.example");
            !records(&log, "malware-masked").is_empty()
        }),
        "no record in the file reopened by SIGHUP"
    );
}

/// dnstap with the collector absent at start: queries are answered and the
/// frames dropped and counted; once `fstrm_capture` listens, frames flow by
/// themselves, resolver and forwarder frames included (the root server is
/// the test's responder on 127.0.210.32:53, the forwarder another on
/// 127.0.210.33:5353). 127.0.210.31.
#[test]
fn dnstap_frames_resume_when_the_collector_comes_and_include_the_resolvers() {
    let s = Scratch::new("hitlog-dnstap");
    let root = "127.0.210.32";
    let _up = start_responder(
        &format!("{root}:53"),
        ".",
        a_under(".tap.test.", "192.0.2.32", 1),
    );
    let hints = root_hints(&s, root);
    // A forward zone's resolver, for the forwarder frames.
    let fwd = "127.0.210.33";
    let _fwd = start_responder(&format!("{fwd}:5353"), "fwd.test.", |_, _| {
        (
            Canned::A {
                addr: "192.0.2.33".parse().expect("ip"),
                ttl: 1,
            },
            Duration::ZERO,
        )
    });
    let ip = "127.0.210.31";
    let listen: SocketAddr = format!("{ip}:5300").parse().expect("addr");
    let sock = s.path.join("dnstap.sock");
    let cfg = recursive_config(&s, "tap", &format!("{ip}:5300"), &hints)
        .replace("listen = \"none\"", &format!("listen = \"{ip}:9153\""))
        + &format!(
            "\n[[forward-zone]]\nname = \"fwd.test.\"\nforward-addr = [\"{fwd}@5353\"]\n\
             [dnstap]\nsocket = \"{}\"\nmessages = [\"client-query\", \"client-response\", \"resolver-query\", \"resolver-response\", \"forwarder-query\", \"forwarder-response\"]\n",
            sock.display()
        );
    let _sk = start_sekisho(&s.path, "tap", &cfg, listen);
    let frames = |result: &str| {
        let body = http_get(&format!("{ip}:9153"), "/metrics");
        metric_value(
            &body,
            "sekisho_dnstap_frames_total",
            &[&format!("result=\"{result}\"")],
        )
        .unwrap_or(0.0)
    };
    let ask = |name: &str| {
        let m = query(listen, name, RecordType::A);
        assert_eq!(m.answers.len(), 1, "{name}: {m:?}");
    };
    ask("a.tap.test.");
    assert!(
        eventually(Duration::from_secs(5), || frames("dropped") >= 2.0),
        "frames without a collector are counted as dropped"
    );
    assert_eq!(frames("sent"), 0.0);

    let file = s.path.join("tap.fstrm");
    let mut capture = start_capture(&s, &sock, &file);
    // The writer retries within its backoff (1 s, doubling): keep asking
    // (new names: each one is resolved) until frames are sent.
    let mut n = 0;
    assert!(
        eventually(Duration::from_secs(15), || {
            n += 1;
            ask(&format!("n{n}.tap.test."));
            frames("sent") >= 4.0
        }),
        "frames did not resume"
    );
    ask("www.fwd.test.");
    assert!(eventually(Duration::from_secs(5), || frames("sent") >= 6.0));
    // Let the last frames reach the file, then close it.
    std::thread::sleep(Duration::from_millis(300));
    capture.stop();
    let yaml = read_with("dnstap-read", &["-y"], &file);
    for kind in [
        "CLIENT_QUERY",
        "CLIENT_RESPONSE",
        "RESOLVER_QUERY",
        "RESOLVER_RESPONSE",
        "FORWARDER_QUERY",
        "FORWARDER_RESPONSE",
    ] {
        assert!(yaml.contains(&format!("type: {kind}")), "{kind}: {yaml}");
    }
    assert!(
        yaml.contains(&format!("response_address: \"{root}\"")),
        "the root server answers the resolver frames: {yaml}"
    );
    assert!(
        yaml.contains(&format!("response_address: \"{fwd}\"")),
        "the forwarder answers the forwarder frames: {yaml}"
    );
    // What was dropped while the collector was away is not replayed.
    assert!(!yaml.contains("a.tap.test."), "{yaml}");
}

/// `rpz-log = "syslog"`: each hit is one RFC 5424 datagram on
/// `syslog-socket` (here the test's own socket), with the JSON record as its
/// message and the client as the zone says (`none`: absent). 127.0.210.41.
#[test]
fn hit_records_go_to_syslog_as_rfc5424_datagrams() {
    let s = Scratch::new("hitlog-syslog");
    let ip = "127.0.210.41";
    s.file_bytes("hit.key", b"0123456789abcdef0123456789abcdef");
    let dev_log = s.path.join("log.sock");
    let receiver = std::os::unix::net::UnixDatagram::bind(&dev_log).expect("bind syslog socket");
    receiver
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let cfg = config(&s, ip, None).replace(
        &format!("rpz-log = \"{}/log/rpz.jsonl\"", s.path.display()),
        &format!(
            "rpz-log = \"syslog\"\nsyslog-socket = \"{}\"",
            dev_log.display()
        ),
    );
    let listen: SocketAddr = format!("{ip}:5300").parse().expect("addr");
    let _sk = start_sekisho(&s.path, "syslog", &cfg, listen);
    let mut got = Vec::new();
    for name in ["cc3.malware.example", "child.abuse.example"] {
        assert_eq!(dig_from(ip, ip, name), "NXDOMAIN");
        let mut buf = vec![0u8; 8192];
        let n = receiver.recv(&mut buf).expect("a syslog datagram per hit");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    for d in &got {
        // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG; local0.info = 134.
        let parts: Vec<&str> = d.splitn(8, ' ').collect();
        assert_eq!(parts.len(), 8, "{d}");
        assert_eq!(parts[0], "<134>1", "{d}");
        assert!(parts[1].ends_with('Z'), "{d}");
        assert_eq!(parts[3], "sekisho", "{d}");
        assert_eq!(parts[5..7], ["-", "-"], "{d}");
        let record: serde_json::Value = serde_json::from_str(parts[7]).expect("JSON message");
        assert_eq!(record["action"], "NXDOMAIN");
    }
    let full: serde_json::Value =
        serde_json::from_str(got[0].splitn(8, ' ').nth(7).expect("msg")).expect("json");
    assert_eq!(full["zone"], "malware-full");
    assert_eq!(full["client"], ip);
    let none: serde_json::Value =
        serde_json::from_str(got[1].splitn(8, ' ').nth(7).expect("msg")).expect("json");
    assert_eq!(none["zone"], "abuse");
    assert!(none.get("client").is_none(), "{none}");
}
