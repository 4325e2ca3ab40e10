//! The primary role against real secondaries: BIND 9.18 and Sekisho itself receive a
//! policy zone from Sekisho by TSIG-signed AXFR, then by IXFR after the zone file is
//! edited and `sekishoctl reload` runs (Sekisho NOTIFYs them), and answer the new
//! rule; a fan-out run times one change reaching four secondaries; refused transfers.
//!
//! DNS UPDATE (nsupdate with a TSIG key) changes a zone; BIND and Sekisho secondaries
//! follow by IXFR; the journal on disk serves IXFR after a restart, a torn tail is cut
//! and a damaged journal refused; UPDATEs without the right key change nothing.
//!
//! Each test owns its addresses in 127.0.46.0/24, the UPDATE ones in 127.0.230.0/24
//! (BIND binds only addresses that exist, so they are added to `lo` first; tests run
//! as root). BIND missing is a failure, not a skip.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use sekisho_xfr::tsig::{TsigAlgorithm, TsigKey};
use sekisho_xfr::{Limits, Request, Serial, XfrInterpreter};

/// The shared TSIG secret (32 bytes, base64), as `tsig-keygen` would print.
const SECRET: &str = "c2VraXNoby1wcmltYXJ5LXJvbGUtdGVzdC1rZXktMzI=";
/// `SECRET` decoded.
const RAW_SECRET: &[u8] = b"sekisho-primary-role-test-key-32";
/// Sekisho's DNS port in these tests.
const SEKISHO_PORT: u16 = 5300;
/// BIND's port in these tests.
const BIND_PORT: u16 = 5301;

/// The policy zone text at `serial` with rules `blocked<i>` for each `i`.
fn zone_text(serial: u32, rules: &[u8]) -> String {
    let mut z = format!(
        "$ORIGIN block.\n$TTL 60\n@ SOA ns.block. hostmaster.block. {serial} 3600 600 86400 60\n@ NS localhost.\n"
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
        "BIND 9.18 (`named`) is required for the primary-role tests: apt-get install bind9"
    );
}

/// The `[[key]]` block.
fn key_block(secret: &str) -> String {
    format!(
        "[[key]]\nname = \"block-tsig-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{secret}\"\n"
    )
}

/// A Sekisho primary serving `block` from `dir/block.rpz`: transfers for the key (and
/// `extra_allow`), NOTIFY to `notify`.
fn primary_config(
    dir: &Path,
    listen: SocketAddr,
    notify: &[SocketAddr],
    extra_allow: &str,
) -> String {
    let also: Vec<String> = notify
        .iter()
        .map(|a| format!("\"{}@{}\"", a.ip(), a.port()))
        .collect();
    format!(
        r#"[server]
listen = ["{listen}"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{d}"
{key}
[response-policy]
qname-wait-recurse = false
[[response-policy.zone]]
name = "block"
file = "block.rpz"
{zone_key}
allow-transfer = ["key block-tsig-key"{extra_allow}]
also-notify = [{also}]
[control]
socket = "{d}/control.sock"
[metrics]
listen = "none"
"#,
        d = dir.display(),
        key = key_block(SECRET),
        also = also.join(", "),
        // The zone's key signs the NOTIFYs; without also-notify it has no use (and
        // the config check says so).
        zone_key = if notify.is_empty() {
            ""
        } else {
            "key = \"block-tsig-key\""
        },
    )
}

/// A Sekisho secondary of `primary` (the existing distribution side).
fn secondary_config(dir: &Path, listen: SocketAddr, primary: SocketAddr) -> String {
    format!(
        r#"[server]
listen = ["{listen}"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{d}"
{key}
[response-policy]
qname-wait-recurse = false
[[response-policy.zone]]
name = "block"
primaries = ["{pip}@{pport}"]
key = "block-tsig-key"
file = "block.rpz"
min-refresh = "1s"
[control]
socket = "{d}/control.sock"
[metrics]
listen = "none"
"#,
        d = dir.display(),
        key = key_block(SECRET),
        pip = primary.ip(),
        pport = primary.port(),
    )
}

/// A daemon with its own directory.
struct Daemon {
    proc: Proc,
    dir: PathBuf,
    listen: SocketAddr,
}

impl Daemon {
    /// Starts Sekisho with `config(dir)` in `scratch/tag`, `zone` as its block.rpz if given.
    fn start(
        scratch: &Path,
        tag: &str,
        listen: SocketAddr,
        zone: Option<&str>,
        config: impl Fn(&Path) -> String,
    ) -> Daemon {
        add_loopback(&listen.ip().to_string());
        let dir = scratch.join(tag);
        std::fs::create_dir_all(&dir).expect("dir");
        if let Some(z) = zone {
            std::fs::write(dir.join("block.rpz"), z).expect("zone file");
        }
        let proc = start_sekisho(&dir, tag, &config(&dir), listen);
        Daemon { proc, dir, listen }
    }

    /// Rewrites the zone file and runs `sekishoctl reload`.
    fn publish(&self, zone: &str) {
        // Write then rename, as an operator's tooling would (and `rpz build` does).
        let tmp = self.dir.join("block.rpz.tmp");
        std::fs::write(&tmp, zone).expect("zone file");
        std::fs::rename(&tmp, self.dir.join("block.rpz")).expect("rename");
        let (code, out, err) = ctl(&self.dir.join("control.sock"), &["reload", "block"]);
        assert_eq!(code, 0, "reload failed: {out} {err}");
    }

    /// `sekishoctl --json zones`: the entry of zone `block.`.
    fn zone_status(&self) -> serde_json::Value {
        let (code, out, err) = ctl(&self.dir.join("control.sock"), &["--json", "zones"]);
        assert_eq!(code, 0, "zones failed: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("zones json");
        v["zones"]
            .as_array()
            .and_then(|a| a.iter().find(|z| z["name"] == "block."))
            .cloned()
            .unwrap_or_else(|| panic!("zone block. missing in {out}"))
    }

    /// The policy answer (A) for `name`, if any.
    fn answer(&self, name: &str) -> Option<String> {
        answer_at(self.listen, name)
    }
}

/// The first A address of an answer.
fn first_a(m: Message) -> Option<String> {
    m.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(a.0.to_string()),
        _ => None,
    })
}

/// BIND 9.18 as a secondary of zone `block` from `primary`, TSIG-keyed.
struct BindSecondary {
    proc: Proc,
    addr: SocketAddr,
}

impl BindSecondary {
    fn start(scratch: &Path, ip: &str, primary: SocketAddr) -> BindSecondary {
        require_named();
        add_loopback(ip);
        let dir = scratch.join(format!("bind-{ip}"));
        std::fs::create_dir_all(&dir).expect("bind dir");
        let conf = format!(
            r#"options {{
  directory "{d}";
  listen-on port {BIND_PORT} {{ {ip}; }};
  listen-on-v6 {{ none; }};
  pid-file "{d}/named.pid";
  session-keyfile "{d}/session.key";
  recursion no;
  notify no;
  transfer-source {ip};
  query-source address {ip};
}};
key "block-tsig-key" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
controls {{ }};
zone "block" {{
  type secondary;
  file "{d}/block.db";
  primaries {{ {pip} port {pport} key "block-tsig-key"; }};
}};
"#,
            d = dir.display(),
            pip = primary.ip(),
            pport = primary.port(),
        );
        let cf = dir.join("named.conf");
        std::fs::write(&cf, conf).expect("named.conf");
        let proc = Proc::spawn(
            "named",
            Command::new("named").arg("-g").arg("-c").arg(&cf),
            dir.join("named.log"),
        );
        let addr: SocketAddr = format!("{ip}:{BIND_PORT}").parse().expect("addr");
        let mut b = BindSecondary { proc, addr };
        wait_udp_answer(&mut b.proc, addr);
        b
    }

    /// BIND's authoritative answer (A) for `name` in its copy of the zone.
    fn answer(&self, name: &str) -> Option<String> {
        first_a(query_udp_from(
            None,
            self.addr,
            name,
            RecordType::A,
            None,
            Duration::from_millis(500),
        )?)
    }
}

/// Waits until the server at `addr` answers anything (BIND is up).
fn wait_udp_answer(p: &mut Proc, addr: SocketAddr) {
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
        .is_some()
        {
            return;
        }
        assert!(p.is_running(), "named exited:\n{}", p.log_text());
        thread::sleep(Duration::from_millis(50));
    }
    panic!("named did not start on {addr}:\n{}", p.log_text());
}

/// Waits until `f` answers `want` (panics with `log` otherwise); returns the time taken.
fn wait_answer(
    what: &str,
    limit: Duration,
    want: &str,
    mut f: impl FnMut() -> Option<String>,
    log: impl Fn() -> String,
) -> Duration {
    let started = Instant::now();
    let ok = eventually(limit, || f().as_deref() == Some(want));
    assert!(ok, "{what}: no {want} within {limit:?}; log:\n{}", log());
    started.elapsed()
}

/// The TSIG key in the xfr crate's form; `secret` is the raw secret (base64 in configs).
fn tsig(name: &str, secret: &[u8]) -> TsigKey {
    TsigKey::new(
        Name::from_ascii(name).expect("name"),
        TsigAlgorithm::HmacSha256,
        secret.to_vec(),
    )
}

/// Seconds since the epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Sends an AXFR for `block` (signed with `key` if given) over TCP and returns the first
/// answer message's bytes.
fn axfr_first_message(server: SocketAddr, key: Option<&TsigKey>) -> Vec<u8> {
    let zone = Name::from_ascii("block.").expect("name");
    let (_, bytes) = XfrInterpreter::start(
        &zone,
        Request::Axfr,
        key,
        Limits::default(),
        rand_id(),
        now(),
    )
    .expect("request");
    let mut s = TcpStream::connect_timeout(&server, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write_frame(&mut s, &bytes);
    read_frame(&mut s).expect("an answer")
}

/// The TSIG error field of a message that ends with a TSIG RR with empty Other Data
/// (RDATA ends: original ID, error, other length = 0).
fn tsig_error(msg: &[u8]) -> Option<u16> {
    let n = msg.len();
    let arcount = u16::from_be_bytes([*msg.get(10)?, *msg.get(11)?]);
    (arcount > 0 && n > 16 && msg[n - 2..] == [0, 0])
        .then(|| u16::from_be_bytes([msg[n - 4], msg[n - 3]]))
}

#[test]
fn bind_secondary_gets_the_zone_by_tsig_axfr_then_ixfr_and_answers_the_new_rule() {
    require_named();
    let s = Scratch::new("primary-bind");
    let listen: SocketAddr = format!("127.0.46.1:{SEKISHO_PORT}").parse().expect("addr");
    let bind_addr: SocketAddr = format!("127.0.46.2:{BIND_PORT}").parse().expect("addr");
    let primary = Daemon::start(&s.path, "primary", listen, Some(&zone_text(1, &[1])), |d| {
        primary_config(d, listen, &[bind_addr], "")
    });
    let bind = BindSecondary::start(&s.path, "127.0.46.2", listen);

    let took = wait_answer(
        "BIND after AXFR",
        Duration::from_secs(15),
        "192.0.2.1",
        || bind.answer("blocked1.example.jp.block."),
        || bind.proc.log_text(),
    );
    println!("BIND secondary answering after its first transfer: {took:?}");
    assert!(
        primary.proc.log_text().contains("kind=\"axfr\""),
        "no AXFR served:\n{}",
        primary.proc.log_text()
    );
    assert!(
        bind.proc.log_text().contains("TSIG 'block-tsig-key'"),
        "transfer not TSIG-signed:\n{}",
        bind.proc.log_text()
    );

    // Edit the zone file, reload: journal entry, NOTIFY, BIND asks IXFR.
    let started = Instant::now();
    primary.publish(&zone_text(2, &[1, 2]));
    wait_answer(
        "BIND after IXFR",
        Duration::from_secs(15),
        "192.0.2.2",
        || bind.answer("blocked2.example.jp.block."),
        || {
            format!(
                "{}\n--- primary ---\n{}",
                bind.proc.log_text(),
                primary.proc.log_text()
            )
        },
    );
    println!(
        "edit + reload -> NOTIFY -> IXFR -> BIND answering the new rule: {:?}",
        started.elapsed()
    );
    let plog = primary.proc.log_text();
    assert!(
        plog.contains("kind=\"ixfr\""),
        "the change did not travel by IXFR:\n{plog}"
    );
    assert!(
        plog.contains("NOTIFY answered"),
        "NOTIFY not answered:\n{plog}"
    );

    // A removal travels too.
    primary.publish(&zone_text(3, &[2, 3]));
    wait_answer(
        "BIND after the second IXFR",
        Duration::from_secs(15),
        "192.0.2.3",
        || bind.answer("blocked3.example.jp.block."),
        || bind.proc.log_text(),
    );
    assert!(
        eventually(Duration::from_secs(5), || bind
            .answer("blocked1.example.jp.block.")
            .is_none()),
        "blocked1 still in BIND's copy"
    );

    // sekishoctl zones shows BIND's serial, keyed by its address.
    let st = primary.zone_status();
    let secondaries = st["secondaries"].as_array().cloned().unwrap_or_default();
    let b = secondaries
        .iter()
        .find(|x| x["address"] == "127.0.46.2")
        .unwrap_or_else(|| panic!("BIND missing from {st}"));
    assert_eq!(b["serial"], 3, "{st}");
    assert!(st["journal"]["versions"].as_u64().unwrap_or(0) >= 2, "{st}");
    let (_, text, _) = ctl(&primary.dir.join("control.sock"), &["zones"]);
    assert!(text.contains("secondary 127.0.46.2: serial 3"), "{text}");
    for t in [primary.proc.log_text(), text] {
        assert!(!t.contains(SECRET), "the TSIG secret leaked");
    }
}

#[test]
fn sekisho_secondary_of_sekisho_gets_axfr_then_ixfr_and_enforces_the_new_rule() {
    let s = Scratch::new("primary-sekisho");
    let p_addr: SocketAddr = format!("127.0.46.11:{SEKISHO_PORT}").parse().expect("addr");
    let s_addr: SocketAddr = format!("127.0.46.12:{SEKISHO_PORT}").parse().expect("addr");
    let primary = Daemon::start(&s.path, "primary", p_addr, Some(&zone_text(1, &[1])), |d| {
        primary_config(d, p_addr, &[s_addr], "")
    });
    let secondary = Daemon::start(&s.path, "secondary", s_addr, None, |d| {
        secondary_config(d, s_addr, p_addr)
    });

    wait_answer(
        "secondary after AXFR",
        Duration::from_secs(15),
        "192.0.2.1",
        || secondary.answer("blocked1.example.jp."),
        || secondary.proc.log_text(),
    );
    assert_eq!(secondary.zone_status()["last_transfer_kind"], "axfr");

    let started = Instant::now();
    primary.publish(&zone_text(2, &[1, 2]));
    wait_answer(
        "secondary after IXFR",
        Duration::from_secs(15),
        "192.0.2.2",
        || secondary.answer("blocked2.example.jp."),
        || {
            format!(
                "{}\n--- primary ---\n{}",
                secondary.proc.log_text(),
                primary.proc.log_text()
            )
        },
    );
    println!(
        "edit + reload -> NOTIFY -> IXFR -> Sekisho secondary enforcing the new rule: {:?}",
        started.elapsed()
    );
    let st = secondary.zone_status();
    assert_eq!(st["serial"], 2, "{st}");
    assert_eq!(st["last_transfer_kind"], "ixfr", "{st}");
    assert!(
        secondary.proc.log_text().contains("NOTIFY received"),
        "NOTIFY not seen:\n{}",
        secondary.proc.log_text()
    );

    // Removal by IXFR.
    primary.publish(&zone_text(3, &[2]));
    assert!(
        eventually(Duration::from_secs(10), || secondary
            .answer("blocked1.example.jp.")
            .is_none()),
        "blocked1 still enforced"
    );
    let pst = primary.zone_status();
    let peers = pst["secondaries"].as_array().cloned().unwrap_or_default();
    assert!(peers.iter().any(|p| p["serial"] == 3), "{pst}");
}

#[test]
fn a_change_fans_out_to_three_sekisho_secondaries_and_bind() {
    require_named();
    let s = Scratch::new("primary-fanout");
    let p_addr: SocketAddr = format!("127.0.46.21:{SEKISHO_PORT}").parse().expect("addr");
    let sec_addrs: Vec<SocketAddr> = (22..25)
        .map(|i| {
            format!("127.0.46.{i}:{SEKISHO_PORT}")
                .parse()
                .expect("addr")
        })
        .collect();
    let bind_addr: SocketAddr = format!("127.0.46.25:{BIND_PORT}").parse().expect("addr");
    let mut notify = sec_addrs.clone();
    notify.push(bind_addr);
    let primary = Daemon::start(&s.path, "primary", p_addr, Some(&zone_text(1, &[1])), |d| {
        primary_config(d, p_addr, &notify, "")
    });
    let secondaries: Vec<Daemon> = sec_addrs
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            Daemon::start(&s.path, &format!("secondary{i}"), a, None, |d| {
                secondary_config(d, a, p_addr)
            })
        })
        .collect();
    let bind = BindSecondary::start(&s.path, "127.0.46.25", p_addr);
    for sec in &secondaries {
        wait_answer(
            "secondary after AXFR",
            Duration::from_secs(20),
            "192.0.2.1",
            || sec.answer("blocked1.example.jp."),
            || sec.proc.log_text(),
        );
    }
    wait_answer(
        "BIND after AXFR",
        Duration::from_secs(20),
        "192.0.2.1",
        || bind.answer("blocked1.example.jp.block."),
        || bind.proc.log_text(),
    );

    let started = Instant::now();
    primary.publish(&zone_text(2, &[1, 7]));
    let mut reached: Vec<(String, Duration)> = Vec::new();
    let mut pending: Vec<usize> = (0..=secondaries.len()).collect();
    let deadline = started + Duration::from_secs(30);
    while !pending.is_empty() && Instant::now() < deadline {
        pending.retain(|&i| {
            let (label, got) = if i < secondaries.len() {
                (
                    format!("sekisho {}", secondaries[i].listen.ip()),
                    secondaries[i].answer("blocked7.example.jp."),
                )
            } else {
                (
                    format!("bind {}", bind.addr.ip()),
                    bind.answer("blocked7.example.jp.block."),
                )
            };
            if got.as_deref() == Some("192.0.2.7") {
                reached.push((label, started.elapsed()));
                false
            } else {
                true
            }
        });
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        pending.is_empty(),
        "not every secondary got the change within 30 s: reached {reached:?}; primary log:\n{}",
        primary.proc.log_text()
    );
    for (who, t) in &reached {
        println!("  {who}: {t:?}");
    }
    let last = reached.iter().map(|(_, t)| *t).max().unwrap_or_default();
    println!(
        "fan-out: change on the primary reached all {} secondaries (3 Sekisho + BIND) in {last:?}",
        reached.len()
    );
    let ixfrs = primary.proc.log_text().matches("kind=\"ixfr\"").count();
    assert!(ixfrs >= 4, "expected an IXFR per secondary, saw {ixfrs}");
}

#[test]
fn transfers_outside_allow_transfer_or_with_a_wrong_key_are_refused() {
    let s = Scratch::new("primary-refused");
    let listen: SocketAddr = format!("127.0.46.31:{SEKISHO_PORT}").parse().expect("addr");
    // Allowed: the key, or the (unused) address 127.0.46.200; the test's connections come
    // from another loopback address.
    let primary = Daemon::start(
        &s.path,
        "primary",
        listen,
        Some(&zone_text(5, &[1, 2])),
        |d| primary_config(d, listen, &[], ", \"127.0.46.200/32\""),
    );

    // Unsigned from an address not in the list: REFUSED.
    let m = axfr_first_message(listen, None);
    assert_eq!(ResponseCode::from_low(m[3] & 0x0f), ResponseCode::Refused);
    let again = axfr_first_message(listen, None);
    assert_eq!(
        ResponseCode::from_low(again[3] & 0x0f),
        ResponseCode::Refused
    );

    // The right key name with a wrong secret: NOTAUTH, TSIG error BADSIG, no records.
    let m = axfr_first_message(
        listen,
        Some(&tsig(
            "block-tsig-key.",
            b"a-different-secret-of-32-octets!",
        )),
    );
    assert_eq!(ResponseCode::from_low(m[3] & 0x0f), ResponseCode::NotAuth);
    assert_eq!(u16::from_be_bytes([m[6], m[7]]), 0, "no answer records");
    assert_eq!(tsig_error(&m), Some(16), "BADSIG");

    // A key the primary does not know: NOTAUTH, BADKEY.
    let m = axfr_first_message(listen, Some(&tsig("other-key.", RAW_SECRET)));
    assert_eq!(ResponseCode::from_low(m[3] & 0x0f), ResponseCode::NotAuth);
    assert_eq!(tsig_error(&m), Some(17), "BADKEY");

    // The right key: the whole zone, verified by our own client.
    let key = tsig("block-tsig-key.", RAW_SECRET);
    let zone = Name::from_ascii("block.").expect("name");
    let t = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(sekisho_xfr::transfer(
            listen,
            &zone,
            Request::Axfr,
            Some(&key),
            &Limits::default(),
        ))
        .expect("signed AXFR");
    let sekisho_xfr::Transfer::Full { records, .. } = t else {
        panic!("expected a full transfer")
    };
    assert_eq!(records.len(), 4, "SOA, NS and two rules: {records:?}");

    // IXFR from a serial the journal does not hold (none yet): the whole zone,
    // AXFR-style; from the current serial: the SOA alone.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let old = Request::Ixfr {
        serial: Serial(1),
        soa: None,
    };
    let t = rt
        .block_on(sekisho_xfr::transfer(
            listen,
            &zone,
            old,
            Some(&key),
            &Limits::default(),
        ))
        .expect("IXFR answered");
    assert!(
        matches!(&t, sekisho_xfr::Transfer::Full { records, .. } if records.len() == 4),
        "{t:?}"
    );
    let current = Request::Ixfr {
        serial: Serial(5),
        soa: None,
    };
    let t = rt
        .block_on(sekisho_xfr::transfer(
            listen,
            &zone,
            current,
            Some(&key),
            &Limits::default(),
        ))
        .expect("IXFR answered");
    assert!(matches!(t, sekisho_xfr::Transfer::UpToDate { .. }), "{t:?}");

    // IXFR over UDP: the SOA alone (RFC 1995 section 2), signed.
    let ixfr = Request::Ixfr {
        serial: Serial(1),
        soa: None,
    };
    let (_, bytes) =
        XfrInterpreter::start(&zone, ixfr, Some(&key), Limits::default(), rand_id(), now())
            .expect("request");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    sock.send_to(&bytes, listen).expect("send");
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("an answer over UDP");
    let m = Message::from_vec(&buf[..n]).expect("decodes");
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1, "{m:?}");
    assert!(matches!(&m.answers[0].data, RData::SOA(soa) if soa.serial == 5));
    assert_eq!(tsig_error(&buf[..n]), Some(0), "signed, no TSIG error");

    // Refusals are logged once per peer.
    let log = primary.proc.log_text();
    assert_eq!(
        log.matches("zone transfer refused: not in allow-transfer")
            .count(),
        1,
        "{log}"
    );
    let st = primary.zone_status();
    let peers = st["secondaries"].as_array().cloned().unwrap_or_default();
    // Peers by address: the TCP ones (from the destination's own loopback address)
    // hold serial 5 after their transfers; the UDP socket (127.0.0.1) reported serial 1.
    let has = |addr: &str, serial: u32| {
        peers
            .iter()
            .any(|p| p["address"] == addr && p["serial"] == serial)
    };
    assert!(has("127.0.46.31", 5) && has("127.0.0.1", 1), "{st}");

    // No zone here takes UPDATEs: the opcode is not implemented, as before.
    let (code, out) = nsupdate(
        listen,
        Some(("block-tsig-key", SECRET)),
        "update add x.block. 60 A 192.0.2.1",
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("NOTIMP"), "{out}");
    assert_eq!(primary.zone_status()["serial"], 5);
}

// ----- DNS UPDATE and the journal on disk (addresses in 127.0.230.0/24) ------------------

/// The UPDATE key's secret (base64 of "sekisho-update-key-for-the-tests").
const UPD_SECRET: &str = "c2VraXNoby11cGRhdGUta2V5LWZvci10aGUtdGVzdHM=";

/// A primary of `block` that takes UPDATEs signed by `upd-key` (and transfers for
/// `block-tsig-key`, NOTIFY to `notify`).
fn update_config(dir: &Path, listen: SocketAddr, notify: &[SocketAddr]) -> String {
    let base = primary_config(dir, listen, notify, "");
    let with_key = base.replacen(
        "[response-policy]",
        &format!(
            "[[key]]\nname = \"upd-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{UPD_SECRET}\"\n[response-policy]"
        ),
        1,
    );
    with_key.replacen(
        "allow-transfer =",
        "allow-update = [\"key upd-key\"]\nallow-transfer =",
        1,
    )
}

/// Runs nsupdate against `server` with `key` (`None`: unsigned) and the update
/// lines `body`; returns (exit status, stdout + stderr).
fn nsupdate(server: SocketAddr, key: Option<(&str, &str)>, body: &str) -> (i32, String) {
    let script = format!(
        "server {} {}\nzone block\n{body}\nsend\n",
        server.ip(),
        server.port()
    );
    let mut cmd = Command::new("nsupdate");
    if let Some((name, secret)) = key {
        cmd.arg("-y").arg(format!("hmac-sha256:{name}:{secret}"));
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("nsupdate (bind9-dnsutils) runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(script.as_bytes()).expect("script");
    }
    let out = child.wait_with_output().expect("nsupdate finishes");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A signed transfer of `block` from `server` (`serial`: IXFR from it, else AXFR).
fn transfer_block(server: SocketAddr, serial: Option<u32>) -> sekisho_xfr::Transfer {
    let zone = Name::from_ascii("block.").expect("name");
    let key = tsig("block-tsig-key.", RAW_SECRET);
    let request = match serial {
        Some(s) => Request::Ixfr {
            serial: Serial(s),
            soa: None,
        },
        None => Request::Axfr,
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(sekisho_xfr::transfer(
            server,
            &zone,
            request,
            Some(&key),
            &Limits::default(),
        ))
        .expect("transfer answered")
}

/// The SOA serial in zone file `path` (the `; serial N` line the writer puts first,
/// or the SOA line of a hand-written file).
fn file_serial(path: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    let records = sekisho_zonefile::parse_str(
        &text,
        sekisho_zonefile::ParseOptions::with_origin(Name::from_ascii("block.").expect("name")),
    )
    .ok()?;
    records.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    })
}

#[test]
fn nsupdate_adds_and_deletes_rules_and_bind_and_sekisho_secondaries_follow_by_ixfr() {
    require_named();
    let s = Scratch::new("update-ixfr");
    let p_addr: SocketAddr = format!("127.0.230.1:{SEKISHO_PORT}").parse().expect("addr");
    let bind_addr: SocketAddr = format!("127.0.230.2:{BIND_PORT}").parse().expect("addr");
    let s_addr: SocketAddr = format!("127.0.230.3:{SEKISHO_PORT}").parse().expect("addr");
    let primary = Daemon::start(&s.path, "primary", p_addr, Some(&zone_text(1, &[1])), |d| {
        update_config(d, p_addr, &[bind_addr, s_addr])
    });
    let bind = BindSecondary::start(&s.path, "127.0.230.2", p_addr);
    let secondary = Daemon::start(&s.path, "secondary", s_addr, None, |d| {
        secondary_config(d, s_addr, p_addr)
    });
    wait_answer(
        "BIND after AXFR",
        Duration::from_secs(15),
        "192.0.2.1",
        || bind.answer("blocked1.example.jp.block."),
        || bind.proc.log_text(),
    );
    wait_answer(
        "Sekisho secondary after AXFR",
        Duration::from_secs(15),
        "192.0.2.1",
        || secondary.answer("blocked1.example.jp."),
        || secondary.proc.log_text(),
    );

    // One UPDATE: an addition and a deletion, signed with the zone's update key.
    let started = Instant::now();
    let (code, out) = nsupdate(
        p_addr,
        Some(("upd-key", UPD_SECRET)),
        "update add blocked2.example.jp.block. 60 A 192.0.2.2\nupdate delete blocked1.example.jp.block. A",
    );
    assert_eq!(
        code,
        0,
        "nsupdate failed: {out}\n{}",
        primary.proc.log_text()
    );
    assert_eq!(primary.zone_status()["serial"], 2, "serial stepped once");
    assert_eq!(
        primary.answer("blocked2.example.jp.").as_deref(),
        Some("192.0.2.2")
    );
    assert_eq!(
        primary.answer("blocked1.example.jp."),
        None,
        "deleted rule still enforced"
    );
    wait_answer(
        "BIND after NOTIFY and IXFR",
        Duration::from_secs(15),
        "192.0.2.2",
        || bind.answer("blocked2.example.jp.block."),
        || bind.proc.log_text(),
    );
    assert!(eventually(Duration::from_secs(5), || bind
        .answer("blocked1.example.jp.block.")
        .is_none()));
    wait_answer(
        "Sekisho secondary after NOTIFY and IXFR",
        Duration::from_secs(15),
        "192.0.2.2",
        || secondary.answer("blocked2.example.jp."),
        || secondary.proc.log_text(),
    );
    println!(
        "UPDATE -> both secondaries answering: {:?}",
        started.elapsed()
    );
    assert!(eventually(Duration::from_secs(5), || secondary
        .answer("blocked1.example.jp.")
        .is_none()));
    assert_eq!(secondary.zone_status()["last_transfer_kind"], "ixfr");
    let plog = primary.proc.log_text();
    assert!(plog.contains("policy zone updated (DNS UPDATE)"), "{plog}");
    assert!(
        plog.matches("kind=\"ixfr\"").count() >= 2,
        "both secondaries took the change by IXFR:\n{plog}"
    );
    assert!(
        plog.lines()
            .any(|l| l.contains("peer=127.0.230.2:") && l.contains("kind=\"ixfr\"")),
        "BIND did not take the change by IXFR:\n{plog}"
    );

    // The file follows in the background; the journal keeps the difference on disk.
    let file = primary.dir.join("block.rpz");
    assert!(
        eventually(Duration::from_secs(15), || file_serial(&file) == Some(2)),
        "zone file not written:\n{}",
        primary.proc.log_text()
    );
    let text = std::fs::read_to_string(&file).expect("zone file");
    assert!(
        text.contains("blocked2.example.jp.block.") && !text.contains("blocked1."),
        "{text}"
    );
    assert!(primary.dir.join("block.rpz.jnl").exists());
    let st = primary.zone_status();
    assert_eq!(st["journal"]["versions"], 1, "{st}");
}

/// A primary of `block` at `addr` with `config` (zone at serial 1 with `blocked1`),
/// then two UPDATEs adding `blocked2` (serial 2) and `blocked3` (serial 3).
fn primary_updated_twice(
    s: &Scratch,
    addr: SocketAddr,
    config: impl Fn(&Path) -> String,
) -> Daemon {
    let primary = Daemon::start(&s.path, "primary", addr, Some(&zone_text(1, &[1])), config);
    for i in 2..=3 {
        let (code, out) = nsupdate(
            addr,
            Some(("upd-key", UPD_SECRET)),
            &format!("update add blocked{i}.example.jp.block. 60 A 192.0.2.{i}"),
        );
        assert_eq!(code, 0, "{out}");
    }
    primary
}

/// The policy answer (A) for `name` from the Sekisho at `addr`.
fn answer_at(addr: SocketAddr, name: &str) -> Option<String> {
    first_a(query_udp_from(
        None,
        addr,
        name,
        RecordType::A,
        Some(1232),
        Duration::from_millis(500),
    )?)
}

#[test]
fn after_a_restart_ixfr_from_an_older_serial_is_served_from_the_journal_on_disk() {
    let s = Scratch::new("update-restart");
    let p_addr: SocketAddr = format!("127.0.230.11:{SEKISHO_PORT}")
        .parse()
        .expect("addr");
    // A journal bound that holds one entry: the entries the zone file lacks are
    // kept past it all the same.
    let config = |d: &Path| {
        update_config(d, p_addr, &[]).replacen(
            "allow-update =",
            "journal-size = 300\nallow-update =",
            1,
        )
    };
    let primary = primary_updated_twice(&s, p_addr, config);
    // A crash before the zone file is written (it waits 2 s for more changes):
    // the journal alone holds serials 2 and 3.
    let file = primary.dir.join("block.rpz");
    let before = file_serial(&file);
    primary.proc.signal("KILL");
    thread::sleep(Duration::from_millis(200));
    let config = config(&primary.dir);
    let mut again = start_sekisho(&primary.dir, "primary-again", &config, p_addr);
    let log = again.log_text();
    println!("zone file serial when the primary was killed: {before:?}");
    if before == Some(1) {
        assert!(
            log.contains("zone file brought up to date from its journal"),
            "{log}"
        );
    }
    assert_eq!(file_serial(&file), Some(3), "file + journal = serial 3");
    assert_eq!(
        answer_at(p_addr, "blocked3.example.jp.").as_deref(),
        Some("192.0.2.3"),
        "{log}"
    );
    for (from, deltas) in [(1u32, 2usize), (2, 1)] {
        match transfer_block(p_addr, Some(from)) {
            sekisho_xfr::Transfer::Incremental { deltas: d, .. } => {
                assert_eq!(d.len(), deltas, "IXFR from {from}: {d:?}");
                assert_eq!(d.last().map(|x| x.to_serial), Some(Serial(3)));
            }
            t => panic!("IXFR from {from} after the restart was not incremental: {t:?}\n{log}"),
        }
    }
    // A clean stop; the next start has the file at serial 3, so the bound holds
    // again: the last entry (about 170 octets) stays, the older one goes.
    again.stop();
    let mut third = start_sekisho(&primary.dir, "primary-third", &config, p_addr);
    assert!(matches!(
        transfer_block(p_addr, Some(2)),
        sekisho_xfr::Transfer::Incremental { .. }
    ));
    assert!(matches!(
        transfer_block(p_addr, Some(1)),
        sekisho_xfr::Transfer::Full { .. }
    ));
    // A stop right after an UPDATE (before the 2 s the writer waits for more)
    // still leaves the zone file up to date.
    let (code, out) = nsupdate(
        p_addr,
        Some(("upd-key", UPD_SECRET)),
        "update add blocked4.example.jp.block. 60 A 192.0.2.4",
    );
    assert_eq!(code, 0, "{out}");
    // (Normally still 3 here: the writer waits 2 s for more changes.)
    println!("zone file serial before the stop: {:?}", file_serial(&file));
    assert_eq!(third.stop(), Some(0));
    assert_eq!(file_serial(&file), Some(4), "{}", third.log_text());
}

#[test]
fn a_torn_journal_tail_is_cut_and_a_damaged_journal_is_refused_with_the_zone_served_from_its_file()
{
    let s = Scratch::new("update-damaged");
    let p_addr: SocketAddr = format!("127.0.230.21:{SEKISHO_PORT}")
        .parse()
        .expect("addr");
    let mut primary = primary_updated_twice(&s, p_addr, |d| update_config(d, p_addr, &[]));
    let key = Some(("upd-key", UPD_SECRET));
    let file = primary.dir.join("block.rpz");
    assert!(eventually(Duration::from_secs(15), || file_serial(&file) == Some(3)));
    primary.proc.stop();
    let journal = primary.dir.join("block.rpz.jnl");
    let config = update_config(&primary.dir, p_addr, &[]);

    // A write cut short: a few octets of an entry at the end.
    let whole = std::fs::read(&journal).expect("journal");
    let mut torn = whole.clone();
    torn.extend_from_slice(&[0, 0, 1, 0, 9, 9, 9]);
    std::fs::write(&journal, &torn).expect("write");
    let mut p = start_sekisho(&primary.dir, "torn", &config, p_addr);
    let log = p.log_text();
    assert_eq!(log.matches("torn entry").count(), 1, "{log}");
    assert_eq!(
        std::fs::read(&journal).expect("journal"),
        whole,
        "truncated to the entries"
    );
    assert!(matches!(
        transfer_block(p_addr, Some(1)),
        sekisho_xfr::Transfer::Incremental { .. }
    ));
    p.stop();

    // Damage inside the first entry (not the last one): refused, kept aside.
    let mut bad = whole.clone();
    let at = bad.len() / 3;
    bad[at] ^= 0x55;
    std::fs::write(&journal, &bad).expect("write");
    let mut p = start_sekisho(&primary.dir, "damaged", &config, p_addr);
    let log = p.log_text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("journal refused"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("block.rpz.jnl"),
        "the line names the file: {}",
        lines[0]
    );
    assert_eq!(
        std::fs::read(primary.dir.join("block.rpz.jnl.damaged")).expect("kept aside"),
        bad
    );
    // Served from the file: every rule, serial 3, and IXFR from 1 is a full answer.
    let answer = |name: &str| answer_at(p_addr, name);
    assert_eq!(answer("blocked3.example.jp.").as_deref(), Some("192.0.2.3"));
    assert_eq!(answer("blocked1.example.jp.").as_deref(), Some("192.0.2.1"));
    assert!(matches!(
        transfer_block(p_addr, Some(1)),
        sekisho_xfr::Transfer::Full { .. }
    ));
    // A new journal starts with the next change.
    let (code, out) = nsupdate(
        p_addr,
        key,
        "update add blocked4.example.jp.block. 60 A 192.0.2.4",
    );
    assert_eq!(code, 0, "{out}");
    assert!(matches!(
        transfer_block(p_addr, Some(3)),
        sekisho_xfr::Transfer::Incremental { .. }
    ));
    p.stop();
}

#[test]
fn unsigned_wrong_key_and_failed_prerequisite_updates_change_nothing() {
    let s = Scratch::new("update-refused");
    let p_addr: SocketAddr = format!("127.0.230.31:{SEKISHO_PORT}")
        .parse()
        .expect("addr");
    let primary = Daemon::start(&s.path, "primary", p_addr, Some(&zone_text(1, &[1])), |d| {
        update_config(d, p_addr, &[])
    });
    let add = "update add blocked9.example.jp.block. 60 A 192.0.2.9";
    let cases = [
        ("unsigned", None, add, "REFUSED"),
        // A key Sekisho knows, but not one allow-update names.
        ("transfer key", Some(("block-tsig-key", SECRET)), add, "REFUSED"),
        (
            "wrong secret",
            Some(("upd-key", "d3JvbmctLXdyb25nLS13cm9uZy0td3JvbmctLXdyb25nIQ==")),
            add,
            "NOTAUTH",
        ),
        ("unknown key", Some(("no-such-key", UPD_SECRET)), add, "NOTAUTH"),
        (
            "prerequisite",
            Some(("upd-key", UPD_SECRET)),
            "prereq nxdomain blocked1.example.jp.block.\nupdate add blocked9.example.jp.block. 60 A 192.0.2.9",
            "YXDOMAIN",
        ),
    ];
    for (what, key, body, rcode) in cases {
        let (code, out) = nsupdate(p_addr, key, body);
        assert_ne!(code, 0, "{what}: nsupdate succeeded: {out}");
        assert!(
            out.contains(rcode) || (rcode == "NOTAUTH" && out.contains("tsig")),
            "{what}: {out}"
        );
        let st = primary.zone_status();
        assert_eq!(st["serial"], 1, "{what}: {st}");
        assert_eq!(primary.answer("blocked9.example.jp."), None, "{what}");
        assert_eq!(
            primary.answer("blocked1.example.jp.").as_deref(),
            Some("192.0.2.1")
        );
    }
    assert!(matches!(
        transfer_block(p_addr, Some(1)),
        sekisho_xfr::Transfer::UpToDate { .. }
    ));
    let log = primary.proc.log_text();
    assert_eq!(
        log.matches("UPDATE refused: not in allow-update").count(),
        1,
        "logged once per peer: {log}"
    );
    // The one allowed UPDATE then goes through.
    let (code, out) = nsupdate(p_addr, Some(("upd-key", UPD_SECRET)), add);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        primary.answer("blocked9.example.jp.").as_deref(),
        Some("192.0.2.9")
    );
    assert!(
        !primary.proc.log_text().contains(UPD_SECRET),
        "the secret leaked"
    );
}

#[test]
fn update_sections_follow_rfc_2136_prerequisites_rrsets_cname_ttl_and_apex() {
    let s = Scratch::new("update-semantics");
    let p_addr: SocketAddr = format!("127.0.230.41:{SEKISHO_PORT}")
        .parse()
        .expect("addr");
    let primary = Daemon::start(&s.path, "primary", p_addr, Some(&zone_text(1, &[1])), |d| {
        update_config(d, p_addr, &[])
    });
    let key = Some(("upd-key", UPD_SECRET));
    let serial = || primary.zone_status()["serial"].as_u64();
    let steps: [(&str, &str, Option<&str>, u64); 6] = [
        (
            "value-dependent prerequisite met, a name deleted whole, an addition",
            "prereq yxrrset blocked1.example.jp.block. A 192.0.2.1\nupdate delete blocked1.example.jp.block.\nupdate add blocked5.example.jp.block. 60 A 192.0.2.5",
            None,
            2,
        ),
        (
            "value-dependent prerequisite not met",
            "prereq yxrrset blocked5.example.jp.block. A 192.0.2.99\nupdate add blocked6.example.jp.block. 60 A 192.0.2.6",
            Some("NXRRSET"),
            2,
        ),
        (
            "a CNAME beside other data is ignored",
            "update add blocked5.example.jp.block. 60 CNAME .",
            None,
            2,
        ),
        (
            "the same record with another TTL replaces it",
            "update add blocked5.example.jp.block. 300 A 192.0.2.5",
            None,
            3,
        ),
        ("the apex NS stays", "update delete block. NS", None, 3),
        (
            "a name outside the zone",
            "update add blocked7.example.jp. 60 A 192.0.2.7",
            Some("NOTZONE"),
            3,
        ),
    ];
    for (what, body, rcode, want) in steps {
        let (code, out) = nsupdate(p_addr, key, body);
        match rcode {
            None => assert_eq!(code, 0, "{what}: {out}"),
            Some(r) => assert!(code != 0 && out.contains(r), "{what}: {out}"),
        }
        assert_eq!(serial(), Some(want), "{what}");
    }
    assert_eq!(primary.answer("blocked1.example.jp."), None);
    assert_eq!(primary.answer("blocked6.example.jp."), None);
    assert_eq!(
        primary.answer("blocked5.example.jp.").as_deref(),
        Some("192.0.2.5")
    );
    let sekisho_xfr::Transfer::Full { records, .. } = transfer_block(p_addr, None) else {
        panic!("AXFR expected");
    };
    let b5: Vec<_> = records
        .iter()
        .filter(|r| r.name.to_ascii().starts_with("blocked5."))
        .collect();
    assert_eq!(b5.len(), 1, "one record, no CNAME beside it: {b5:?}");
    assert_eq!(b5[0].ttl, 300);
    assert!(records.iter().any(|r| r.record_type() == RecordType::NS));
    // IXFR from 1 carries both changes, in order.
    let sekisho_xfr::Transfer::Incremental { deltas, .. } = transfer_block(p_addr, Some(1)) else {
        panic!("IXFR expected");
    };
    assert_eq!(deltas.len(), 2);
    assert_eq!(
        (deltas[1].removed.len(), deltas[1].added.len()),
        (1, 1),
        "{deltas:?}"
    );
    // A record added at an owner the file already has is written beside its
    // records (the RPZ compiler expects each owner's records together).
    let (code, out) = nsupdate(p_addr, key, "update add block. 60 TXT \"apex note\"");
    assert_eq!(code, 0, "{out}");
    let file = primary.dir.join("block.rpz");
    assert!(eventually(Duration::from_secs(15), || file_serial(&file) == Some(4)));
    let text = std::fs::read_to_string(&file).expect("zone file");
    let lines: Vec<&str> = text.lines().collect();
    let ns = lines
        .iter()
        .position(|l| l.contains("\tNS\t") || l.contains(" NS "));
    let txt = lines.iter().position(|l| l.contains("apex note"));
    assert!(
        matches!((ns, txt), (Some(n), Some(t)) if t == n + 1),
        "{text}"
    );
}
