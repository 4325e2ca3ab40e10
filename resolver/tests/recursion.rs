//! Recursion and DNSSEC validation end to end over the mini-internet
//! (`testdata/mini-internet`): BIND serves a signed root, an NSEC3-signed
//! `test.`, secure/insecure/bogus children and unsigned `example.` zones on
//! 127.0.20.1-8 port 53; the real `sekisho` binary resolves from those root
//! hints with that trust anchor.
//!
//! The hierarchy needs port 53 on 127.0.20.x, so exactly one test function
//! owns it, under a file lock (other test binaries or people running
//! `start.sh` wait for it). Every process is killed when its guard drops,
//! also when an assertion fails. The zones are signed afresh at setup
//! (`build.sh`, inception 2024-01-01, expiry 2050-01-01) from the committed
//! keys, so the trust anchor stays the same and signatures never age out.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

/// Held for the whole test: one owner of 127.0.20.x at a time (a directory:
/// `mkdir` is atomic; it holds the owner's PID so a crashed owner's lock is taken over).
const LOCK: &str = "/tmp/sekisho-mini-internet.lock.d";

/// The mini-internet lock, released on drop.
struct Lock;

impl Lock {
    fn take() -> Lock {
        let until = Instant::now() + Duration::from_secs(300);
        loop {
            if std::fs::create_dir(LOCK).is_ok() {
                std::fs::write(Path::new(LOCK).join("pid"), std::process::id().to_string())
                    .expect("lock pid");
                return Lock;
            }
            let owner = std::fs::read_to_string(Path::new(LOCK).join("pid")).unwrap_or_default();
            let alive = !owner.is_empty() && Path::new(&format!("/proc/{}", owner.trim())).exists();
            if !owner.is_empty() && !alive {
                let _ = std::fs::remove_dir_all(LOCK); // stale: its owner is gone
                continue;
            }
            assert!(
                Instant::now() < until,
                "mini-internet lock held by pid {owner} for 5 minutes"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(LOCK);
    }
}
/// Where sekisho instances listen (inside the locked range).
const SK_A: &str = "127.0.20.53:5300";
/// domain-insecure instance.
const SK_B: &str = "127.0.20.54:5300";
/// RPZ instance.
const SK_C: &str = "127.0.20.55:5300";
/// Forwarding instance (to the mini-internet's plain recursive BIND, 127.0.20.9).
const SK_D: &str = "127.0.20.56:5300";
/// Metrics of the domain-insecure instance.
const METRICS_B: &str = "127.0.20.54:9153";
/// Metrics of the forwarding instance.
const METRICS_D: &str = "127.0.20.56:9153";

/// `cfg` with its metrics endpoint on `addr` instead of off.
fn with_metrics(cfg: String, addr: &str) -> String {
    let off = "[metrics]\nlisten = \"none\"";
    assert!(
        cfg.contains(off),
        "config has no metrics section to turn on"
    );
    cfg.replace(off, &format!("[metrics]\nlisten = \"{addr}\""))
}

/// Queries sent to all upstreams, from a scrape.
fn upstream_queries(text: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with("sekisho_upstream_queries_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `sekisho_dnssec_validations_total{result}` in a scrape (every result is
/// exported from the start).
fn validations(text: &str, result: &str) -> f64 {
    metric_sample(
        text,
        &format!("sekisho_dnssec_validations_total{{result=\"{result}\"}} "),
    )
}
/// BIND 9.18 as a validating recursor with the same policy zone: the reference.
const BIND_REC: &str = "127.0.20.57";

/// The running hierarchy.
struct MiniInternet {
    /// The copy with signed zones and trust anchors.
    dir: PathBuf,
    /// named, authoritative (killed on drop).
    _named: Proc,
    /// named, the plain recursive upstream on 127.0.20.9 (killed on drop).
    _upstream: Proc,
    /// The lock (released on drop, after named is gone: fields drop in order).
    _lock: Lock,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read testdata") {
        let e = e.expect("entry");
        let name = e.file_name();
        if name == "run" || name == "zones" {
            continue; // generated
        }
        let dst = to.join(&name);
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
        }
    }
}

fn start_mini_internet(s: &Scratch) -> MiniInternet {
    let lock = Lock::take();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/mini-internet");
    let dir = s.path.join("mini-internet");
    copy_dir(&src, &dir);
    let st = Command::new("bash")
        .arg("build.sh")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status()
        .expect("bash build.sh (needs bind9-utils: dnssec-keygen, dnssec-signzone)");
    assert!(st.success(), "build.sh failed");
    let run = dir.join("run");
    std::fs::create_dir_all(run.join("auth-mkeys")).expect("run dir");
    let conf = std::fs::read_to_string(dir.join("auth/named.conf.in"))
        .expect("template")
        .replace("@ROOT@", &dir.display().to_string());
    let conf_path = run.join("auth.named.conf");
    std::fs::write(&conf_path, conf).expect("named.conf");
    for i in 1..=9 {
        add_loopback(&format!("127.0.20.{i}"));
    }
    for ip in [SK_A, SK_B, SK_C, SK_D, BIND_REC] {
        add_loopback(ip.split(':').next().expect("ip"));
    }
    let root: SocketAddr = "127.0.20.1:53".parse().expect("addr");
    assert!(
        query_udp_from(
            None,
            root,
            ".",
            RecordType::SOA,
            None,
            Duration::from_millis(300)
        )
        .is_none(),
        "something already serves 127.0.20.1:53 (a mini-internet started by hand? run stop.sh)"
    );
    let named = Proc::spawn(
        "named",
        Command::new("named")
            .arg("-4")
            .arg("-g")
            .arg("-c")
            .arg(&conf_path),
        run.join("named.log"),
    );
    for i in 1..=8 {
        wait_dns(
            format!("127.0.20.{i}:53").parse().expect("addr"),
            ".",
            Duration::from_secs(20),
        );
    }
    std::fs::create_dir_all(run.join("upstream")).expect("upstream dir");
    let conf = std::fs::read_to_string(dir.join("upstream/named.conf.in"))
        .expect("template")
        .replace("@ROOT@", &dir.display().to_string());
    let up_conf = run.join("upstream.named.conf");
    std::fs::write(&up_conf, conf).expect("named.conf");
    let upstream = Proc::spawn(
        "named",
        Command::new("named")
            .arg("-4")
            .arg("-g")
            .arg("-c")
            .arg(&up_conf),
        run.join("upstream.log"),
    );
    wait_dns(
        "127.0.20.9:53".parse().expect("addr"),
        "test.",
        Duration::from_secs(20),
    );
    MiniInternet {
        dir,
        _named: named,
        _upstream: upstream,
        _lock: lock,
    }
}

/// A sekisho config recursing over the mini-internet.
fn config(s: &Scratch, mi: &MiniInternet, listen: &str, tag: &str, extra: &str) -> String {
    format!(
        r#"[server]
listen = ["{listen}"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{d}/{tag}"
root-hints = "{mi}/hints/root.hints"
query-timeout = "5s"
[dnssec]
validation = "yes"
trust-anchor-file = "{mi}/trust/root.ds"
{extra}
[control]
socket = "{d}/{tag}.sock"
[metrics]
listen = "none"
"#,
        d = s.path.display(),
        mi = mi.dir.display(),
    )
}

/// One UDP query with chosen DO, AD and CD bits; returns the message and
/// the raw bytes (for the EDE option).
fn ask(
    server: SocketAddr,
    name: &str,
    t: RecordType,
    dnssec_ok: bool,
    cd: bool,
) -> (Message, Vec<u8>) {
    let mut m = make_query(name, t, Some(1232));
    if let Some(e) = m.edns.as_mut() {
        e.set_dnssec_ok(dnssec_ok);
    }
    m.metadata.checking_disabled = cd;
    m.metadata.authentic_data = !dnssec_ok;
    let raw = exchange_udp(
        None,
        server,
        &m.to_vec().expect("encode"),
        Duration::from_secs(8),
    )
    .unwrap_or_else(|| panic!("no answer from {server} for {name} {t}"));
    (Message::from_vec(&raw).expect("decode"), raw)
}

/// The answer data (A, AAAA, CNAME target, TXT) as text.
fn data(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            RData::CNAME(c) => Some(c.0.to_string()),
            RData::MX(mx) => Some(mx.exchange.to_string()),
            RData::TXT(t) => Some(t.to_string()),
            _ => None,
        })
        .collect()
}

fn has_rrsig(m: &Message) -> bool {
    m.answers
        .iter()
        .chain(&m.authorities)
        .any(|r| r.record_type() == RecordType::RRSIG)
}

/// What a case expects.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Want {
    /// NOERROR with this datum among the answers.
    Data(&'static str),
    /// NOERROR without answers.
    NoData,
    /// NXDOMAIN.
    NxDomain,
    /// SERVFAIL with this EDE info code.
    Bogus(u16),
    /// SERVFAIL after bounded work.
    Fail,
}

/// (name, type, expectation, AD expected).
const CASES: &[(&str, RecordType, Want, bool)] = &[
    // signed, NSEC (secure.test.) under NSEC3 (test.) under NSEC (.)
    (
        "www.secure.test.",
        RecordType::A,
        Want::Data("192.0.2.10"),
        true,
    ),
    (
        "www.secure.test.",
        RecordType::AAAA,
        Want::Data("2001:db8:1::10"),
        true,
    ),
    (
        "secure.test.",
        RecordType::MX,
        Want::Data("mail.secure.test."),
        true,
    ),
    (
        "txt.secure.test.",
        RecordType::TXT,
        Want::Data("signed txt"),
        true,
    ),
    (
        "alias.secure.test.",
        RecordType::A,
        Want::Data("192.0.2.10"),
        true,
    ),
    (
        "x.ent.secure.test.",
        RecordType::A,
        Want::Data("192.0.2.12"),
        true,
    ),
    ("ent.secure.test.", RecordType::A, Want::NoData, true),
    (
        "foo.wild.secure.test.",
        RecordType::A,
        Want::Data("192.0.2.15"),
        true,
    ),
    // Wildcard NODATA: the NSEC covering the name and the wildcard's own NSEC.
    ("foo.wild.secure.test.", RecordType::TXT, Want::NoData, true),
    ("nothere.secure.test.", RecordType::A, Want::NxDomain, true),
    ("www.secure.test.", RecordType::MX, Want::NoData, true),
    ("www.test.", RecordType::A, Want::Data("192.0.2.2"), true),
    (
        "txt.test.",
        RecordType::TXT,
        Want::Data("test tld txt"),
        true,
    ),
    ("nx.test.", RecordType::A, Want::NxDomain, true),
    ("www.test.", RecordType::AAAA, Want::NoData, true),
    (
        "ok.bogus2.test.",
        RecordType::A,
        Want::Data("192.0.2.32"),
        true,
    ),
    // provably insecure child of a signed zone
    (
        "www.insecure.test.",
        RecordType::A,
        Want::Data("192.0.2.40"),
        false,
    ),
    (
        "txt.insecure.test.",
        RecordType::TXT,
        Want::Data("unsigned child"),
        false,
    ),
    ("nx.insecure.test.", RecordType::A, Want::NxDomain, false),
    // bogus: DS matches no DNSKEY; an RRset altered after signing
    ("www.bogus.test.", RecordType::A, Want::Bogus(9), false),
    ("txt.bogus.test.", RecordType::TXT, Want::Bogus(9), false),
    ("www.bogus2.test.", RecordType::A, Want::Bogus(6), false),
    // signatures from the future / expired ones (keys signed the same way)
    ("www.future.test.", RecordType::A, Want::Bogus(8), false),
    ("www.expired.test.", RecordType::A, Want::Bogus(7), false),
    // unsigned example. and its children
    (
        "www.corp.example.",
        RecordType::A,
        Want::Data("192.0.2.51"),
        false,
    ),
    (
        "www.corp.example.",
        RecordType::AAAA,
        Want::Data("2001:db8:1::51"),
        false,
    ),
    (
        "corp.example.",
        RecordType::MX,
        Want::Data("mail.corp.example."),
        false,
    ),
    (
        "txt.corp.example.",
        RecordType::TXT,
        Want::Data("hello world"),
        false,
    ),
    (
        "multi.corp.example.",
        RecordType::A,
        Want::Data("192.0.2.55"),
        false,
    ),
    (
        "chain1.corp.example.",
        RecordType::A,
        Want::Data("192.0.2.90"),
        false,
    ),
    (
        "mid-a.corp.example.",
        RecordType::A,
        Want::Data("192.0.2.91"),
        false,
    ),
    (
        "mid2-a.corp.example.",
        RecordType::A,
        Want::Data("192.0.2.92"),
        false,
    ),
    (
        "dangling.corp.example.",
        RecordType::A,
        Want::NxDomain,
        false,
    ),
    (
        "to-ads.corp.example.",
        RecordType::A,
        Want::Data("192.0.2.81"),
        false,
    ),
    (
        "to-secure.corp.example.",
        RecordType::A,
        Want::Data("192.0.2.10"),
        false,
    ),
    (
        "to-badip.corp.example.",
        RecordType::A,
        Want::Data("198.51.100.10"),
        false,
    ),
    (
        "to-mixed.corp.example.",
        RecordType::A,
        Want::Data("203.0.113.7"),
        false,
    ),
    (
        "x.y.ent.corp.example.",
        RecordType::A,
        Want::Data("192.0.2.56"),
        false,
    ),
    ("ent.corp.example.", RecordType::A, Want::NoData, false),
    (
        "foo.wild.corp.example.",
        RecordType::A,
        Want::Data("192.0.2.57"),
        false,
    ),
    (
        "nothere.corp.example.",
        RecordType::A,
        Want::NxDomain,
        false,
    ),
    (
        "deep.sub.ads.example.",
        RecordType::A,
        Want::Data("192.0.2.82"),
        false,
    ),
    (
        "walled.garden.example.",
        RecordType::TXT,
        Want::Data("walled garden"),
        false,
    ),
    (
        "www.evil-ns.example.",
        RecordType::A,
        Want::Data("192.0.2.85"),
        false,
    ),
    (
        "www.badns.example.",
        RecordType::A,
        Want::Data("192.0.2.86"),
        false,
    ),
    (
        "txt.badns.example.",
        RecordType::TXT,
        Want::Data("served by evil ns name"),
        false,
    ),
    (
        "www.badip.example.",
        RecordType::A,
        Want::Data("192.0.2.88"),
        false,
    ),
    (
        "www.cdn.example.",
        RecordType::A,
        Want::Data("192.0.2.93"),
        false,
    ),
    (
        "a24.ipblock.example.",
        RecordType::A,
        Want::Data("198.51.100.10"),
        false,
    ),
    (
        "v6a.ipblock.example.",
        RecordType::AAAA,
        Want::Data("2001:db8:bad:2::1"),
        false,
    ),
    // NS name without glue (BIND does not send the out-of-zone address): resolved separately
    (
        "www.oob.corp.example.",
        RecordType::A,
        Want::Data("192.0.2.97"),
        false,
    ),
    // bad delegations: bounded work, SERVFAIL
    ("www.lame.example.", RecordType::A, Want::Fail, false),
    ("www.loop.example.", RecordType::A, Want::Fail, false),
    ("cloop1.corp.example.", RecordType::A, Want::Fail, false),
];

/// Through the forwarder: the same verdicts as when recursing.
const FORWARDED: &[(&str, RecordType, Want, bool)] = &[
    (
        "www.secure.test.",
        RecordType::A,
        Want::Data("192.0.2.10"),
        true,
    ),
    (
        "alias.secure.test.",
        RecordType::A,
        Want::Data("192.0.2.10"),
        true,
    ),
    ("nothere.secure.test.", RecordType::A, Want::NxDomain, true),
    ("www.secure.test.", RecordType::MX, Want::NoData, true),
    ("nx.test.", RecordType::A, Want::NxDomain, true),
    ("www.test.", RecordType::A, Want::Data("192.0.2.2"), true),
    (
        "www.insecure.test.",
        RecordType::A,
        Want::Data("192.0.2.40"),
        false,
    ),
    (
        "www.corp.example.",
        RecordType::A,
        Want::Data("192.0.2.51"),
        false,
    ),
    (
        "chain1.corp.example.",
        RecordType::A,
        Want::Data("192.0.2.90"),
        false,
    ),
    (
        "to-secure.corp.example.",
        RecordType::A,
        Want::Data("192.0.2.10"),
        false,
    ),
    (
        "nothere.corp.example.",
        RecordType::A,
        Want::NxDomain,
        false,
    ),
    ("www.bogus.test.", RecordType::A, Want::Bogus(9), false),
    ("www.bogus2.test.", RecordType::A, Want::Bogus(6), false),
    ("www.expired.test.", RecordType::A, Want::Bogus(7), false),
];

fn check(
    server: SocketAddr,
    name: &str,
    t: RecordType,
    want: Want,
    ad: bool,
    log: &dyn Fn() -> String,
) {
    let started = Instant::now();
    let (m, raw) = ask(server, name, t, true, false);
    let took = started.elapsed();
    let what = format!(
        "{name} {t}: {:?} ad={} {:?}",
        m.metadata.response_code,
        m.metadata.authentic_data,
        data(&m)
    );
    match want {
        Want::Data(d) => {
            assert_eq!(
                m.metadata.response_code,
                ResponseCode::NoError,
                "{what}\n{}",
                log()
            );
            assert!(data(&m).iter().any(|x| x.contains(d)), "{what} lacks {d}");
        }
        Want::NoData => {
            assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{what}");
            assert!(m.answers.iter().all(|r| r.record_type() != t), "{what}");
            assert!(
                m.authorities
                    .iter()
                    .any(|r| r.record_type() == RecordType::SOA),
                "{what}: SOA for negative caching"
            );
        }
        Want::NxDomain => {
            assert_eq!(
                m.metadata.response_code,
                ResponseCode::NXDomain,
                "{what}\n{}",
                log()
            );
        }
        Want::Bogus(code) => {
            assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{what}");
            assert_eq!(ede_code(&raw), Some(code), "{what}: EDE");
        }
        Want::Fail => {
            assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{what}");
            assert!(took < Duration::from_secs(4), "{what}: took {took:?}");
        }
    }
    assert_eq!(m.metadata.authentic_data, ad, "{what}: AD\n{}", log());
    if ad {
        assert!(has_rrsig(&m), "{what}: DO=1 gets the RRSIGs");
    }
}

/// BIND 9.18 recursing over the mini-internet, validating with the same
/// anchor and applying `policy_zone` as `ns.rpz`.
fn start_bind_recursor(mi: &MiniInternet, policy_zone: &Path) -> Proc {
    let d = mi.dir.join("run/bind-rec");
    std::fs::create_dir_all(&d).expect("bind dir");
    let conf = format!(
        r#"options {{
    directory "{d}";
    pid-file none;
    listen-on port 53 {{ {ip}; }};
    listen-on-v6 {{ none; }};
    query-source address {ip};
    recursion yes;
    allow-query {{ 127.0.0.0/8; }};
    allow-recursion {{ 127.0.0.0/8; }};
    dnssec-validation yes;
    qname-minimization relaxed;
    servfail-ttl 0;
    empty-zones-enable no;
    notify no;
    response-policy {{ zone "ns.rpz"; }};
}};
include "{mi}/trust/bind-trust-anchors.conf";
zone "." {{ type hint; file "{mi}/hints/root.hints"; }};
zone "ns.rpz" {{ type primary; file "{pz}"; }};
"#,
        d = d.display(),
        ip = BIND_REC,
        mi = mi.dir.display(),
        pz = policy_zone.display(),
    );
    let cf = d.join("named.conf");
    std::fs::write(&cf, conf).expect("named.conf");
    let p = Proc::spawn(
        "named",
        Command::new("named").arg("-4").arg("-g").arg("-c").arg(&cf),
        d.join("named.log"),
    );
    wait_dns(
        format!("{BIND_REC}:53").parse().expect("addr"),
        "test.",
        Duration::from_secs(20),
    );
    p
}

/// Where Sekisho and BIND 9.18 disagree on (rcode, AD, answers), and why
/// (also in docs/recursion.md).
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// Compare Sekisho and BIND on every case: rcode, AD and the answer data.
fn differential(sekisho: SocketAddr, bind: SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    for &(name, t, _, _) in CASES.iter().chain(&[
        ("www.badns.example.", RecordType::A, Want::NxDomain, false),
        ("www.badip.example.", RecordType::A, Want::NxDomain, false),
    ]) {
        let view = |server| {
            let (m, _) = ask(server, name, t, true, false);
            let mut d = data(&m);
            d.sort();
            format!(
                "{:?} ad={} {:?}",
                m.metadata.response_code, m.metadata.authentic_data, d
            )
        };
        let (a, b) = (view(sekisho), view(bind));
        let known = KNOWN_DIFFERENCES.iter().any(|(n, _)| *n == name);
        if a != b && !known {
            out.push(format!("{name} {t}: sekisho {a} / bind {b}"));
        }
        if a == b && known {
            out.push(format!(
                "{name} {t}: listed as a known difference but both say {a}"
            ));
        }
    }
    out
}

#[test]
fn recursion_and_validation_over_the_mini_internet() {
    let s = Scratch::new("recursion");
    let mi = start_mini_internet(&s);
    let a: SocketAddr = SK_A.parse().expect("addr");
    let b: SocketAddr = SK_B.parse().expect("addr");
    let c: SocketAddr = SK_C.parse().expect("addr");
    let sk_a = start_sekisho(&s.path, "a", &config(&s, &mi, SK_A, "a", ""), a);
    let sk_b = start_sekisho(
        &s.path,
        "b",
        &with_metrics(
            config(
                &s,
                &mi,
                SK_B,
                "b",
                "domain-insecure = [\"bogus.test\", \"bogus2.test\"]",
            ),
            METRICS_B,
        ),
        b,
    );
    s.file(
        "ns.rpz",
        "$TTL 300\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n@ NS localhost.\n\
         ns1.evil-ns.example.rpz-nsdname CNAME .\n\
         32.7.20.0.127.rpz-nsip CNAME .\n\
         www.secure.test CNAME .\n\
         www.bogus2.test CNAME .\n",
    );
    let rpz = format!(
        "[[response-policy.zone]]\nname = \"ns.rpz.\"\nfile = \"{}/ns.rpz\"\n",
        s.path.display()
    );
    let sk_c = start_sekisho(
        &s.path,
        "c",
        &format!("{}{rpz}", config(&s, &mi, SK_C, "c", "")),
        c,
    );
    let log_a = || sk_a.log_text();

    // Every case, cold, then again from the cache (same answer, same AD).
    for round in 0..2 {
        for &(name, t, want, ad) in CASES {
            check(a, name, t, want, ad, &log_a);
            let _ = round;
        }
    }

    // DO=0: no DNSSEC records, AD still set for a secure answer when AD was asked.
    let (m, _) = ask(a, "www.secure.test.", RecordType::A, false, false);
    assert!(m.metadata.authentic_data);
    assert!(!has_rrsig(&m), "no RRSIG without DO");
    let (m, _) = ask(a, "nothere.secure.test.", RecordType::A, false, false);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(
        !has_rrsig(&m)
            && m.authorities
                .iter()
                .all(|r| r.record_type() == RecordType::SOA)
    );

    // CD=1: the bogus data comes back, without AD.
    let (m, _) = ask(a, "www.bogus2.test.", RecordType::A, true, true);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(data(&m), vec!["192.0.2.31".to_string()]);
    assert!(!m.metadata.authentic_data);

    // TCP.
    let m = query_tcp(a, "www.secure.test.", RecordType::A);
    assert_eq!(data(&m), vec!["192.0.2.10".to_string()]);

    // A negative trust anchor set at run time (RFC 7646): the bogus zone,
    // failed and remembered above, resolves at once without AD, until the
    // anchor is removed.
    let sock_a = s.path.join("a.sock");
    let (code, out, err) = ctl(&sock_a, &["nta", "add", "bogus.test", "10m"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("bogus.test. added for 600 s"), "{out}");
    let (m, _) = ask(a, "www.bogus.test.", RecordType::A, true, false);
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NoError,
        "{}",
        log_a()
    );
    assert_eq!(data(&m), vec!["192.0.2.20".to_string()]);
    assert!(!m.metadata.authentic_data);
    let (m, _) = ask(a, "www.bogus2.test.", RecordType::A, true, false);
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::ServFail,
        "another bogus zone is still judged"
    );
    let (code, out, _) = ctl(&sock_a, &["nta", "list"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("bogus.test. expires in 5"), "{out}");
    let (code, out, err) = ctl(&sock_a, &["nta", "remove", "bogus.test"]);
    assert_eq!(code, 0, "{out}{err}");
    let (m, _) = ask(a, "www.bogus.test.", RecordType::A, true, false);
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let (code, _, err) = ctl(&sock_a, &["nta", "remove", "bogus.test"]);
    assert_ne!(code, 0, "nothing left to remove: {err}");
    let (code, out, _) = ctl(&sock_a, &["nta", "list"]);
    assert_eq!((code, out.trim()), (0, "no negative trust anchors"));

    // The bogus zones resolve once exempted (domain-insecure), without AD;
    // everything else is still validated.
    for (name, want) in [
        ("www.bogus.test.", "192.0.2.20"),
        ("www.bogus2.test.", "192.0.2.31"),
    ] {
        let (m, _) = ask(b, name, RecordType::A, true, false);
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::NoError,
            "{name}\n{}",
            sk_b.log_text()
        );
        assert_eq!(data(&m), vec![want.to_string()]);
        assert!(!m.metadata.authentic_data, "{name}: exempt, not secure");
    }
    let (m, _) = ask(b, "www.secure.test.", RecordType::A, true, false);
    assert!(m.metadata.authentic_data);
    let text = http_get(METRICS_B, "/metrics");
    assert!(
        validations(&text, "nta") >= 2.0,
        "exempted answers counted\n{text}"
    );
    assert!(validations(&text, "secure") >= 1.0, "{text}");
    assert_eq!(validations(&text, "bogus"), 0.0, "{text}");

    // RFC 8198 (aggressive-nsec, on by default): the NSEC records of one
    // validated NXDOMAIN under secure.test. (ns1 -> sip covers nx1 and nx2;
    // the apex's NSEC covers the wildcard) answer the second name without a
    // query, as securely as the first: NXDOMAIN, AD, the NSEC proof for DO.
    let aggressive = |text: &str| metric_sample(text, "sekisho_recursor_aggressive_answers_total ");
    let before = aggressive(&http_get(METRICS_B, "/metrics"));
    for name in ["nx1.secure.test.", "nx2.secure.test."] {
        let (m, _) = ask(b, name, RecordType::A, true, false);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
        assert!(m.metadata.authentic_data, "{name}: secure");
        assert!(
            m.authorities
                .iter()
                .any(|r| r.record_type() == RecordType::NSEC),
            "{name}: the NSEC proof for a DO client: {m:?}"
        );
    }
    let after = aggressive(&http_get(METRICS_B, "/metrics"));
    assert_eq!(after, before + 1.0, "nx2 synthesised from nx1's proof");

    // RPZ on the delegation path: NSDNAME (badns.example is served by
    // ns1.evil-ns.example) and NSIP (badip.example's server is 127.0.20.7).
    for name in ["www.badns.example.", "www.badip.example."] {
        let (m, _) = ask(c, name, RecordType::A, false, false);
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::NXDomain,
            "{name}\n{}",
            sk_c.log_text()
        );
    }
    let (m, _) = ask(c, "www.corp.example.", RecordType::A, false, false);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    // break-dnssec off (BIND's default): a signed answer asked with DO=1 is not
    // rewritten, the same name without DO is.
    let (m, _) = ask(c, "www.secure.test.", RecordType::A, true, false);
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NoError,
        "{}",
        sk_c.log_text()
    );
    assert!(m.metadata.authentic_data);
    let (m, _) = ask(c, "www.secure.test.", RecordType::A, false, false);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // A QNAME rule waits for the answer (qname-wait-recurse): a bogus
    // answer stays SERVFAIL, as from BIND.
    let (m, raw) = ask(c, "www.bogus2.test.", RecordType::A, false, false);
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(ede_code(&raw), Some(6));
    let log = sk_c.log_text();
    assert!(
        log.contains("rpz NSDNAME NXDOMAIN rewrite www.badns.example"),
        "{log}"
    );
    assert!(
        log.contains("rpz NSIP NXDOMAIN rewrite www.badip.example"),
        "{log}"
    );

    // Forwarded answers are validated too, under the default `auto` (with the
    // hierarchy's anchor file): the keys come through the (non-validating)
    // forwarder.
    let d: SocketAddr = SK_D.parse().expect("addr");
    let fwd = "[[forward-zone]]\nname = \".\"\nforward-addr = [\"127.0.20.9\"]\n";
    let auto =
        config(&s, &mi, SK_D, "d", "").replace("validation = \"yes\"", "validation = \"auto\"");
    assert!(auto.contains("validation = \"auto\""));
    let sk_d = start_sekisho(
        &s.path,
        "d",
        &with_metrics(format!("{auto}{fwd}"), METRICS_D),
        d,
    );
    let log_d = || sk_d.log_text();
    for &(name, t, want, ad) in FORWARDED {
        check(d, name, t, want, ad, &log_d);
    }
    let (m, _) = ask(d, "www.secure.test.", RecordType::A, false, false);
    assert!(
        m.metadata.authentic_data && !has_rrsig(&m),
        "DO=0: AD, no RRSIG\n{}",
        log_d()
    );
    // The verdicts are counted: secure and insecure answers and the bogus zones.
    let text = http_get(METRICS_D, "/metrics");
    for result in ["secure", "insecure", "bogus"] {
        assert!(
            validations(&text, result) >= 1.0,
            "{result} counted\n{text}"
        );
    }
    assert_eq!(validations(&text, "nta"), 0.0, "{text}");
    // A DO=0 client's cache miss costs one upstream query: it is asked with
    // DO=1, validated and stripped, not fetched twice (the zone's keys are
    // cached by now).
    let before = upstream_queries(&http_get(METRICS_D, "/metrics"));
    let (m, _) = ask(d, "www.secure.test.", RecordType::TXT, false, false);
    assert!(
        m.metadata.authentic_data && !has_rrsig(&m),
        "DO=0 NODATA/TXT: AD, no RRSIG"
    );
    let after = upstream_queries(&http_get(METRICS_D, "/metrics"));
    assert_eq!(after - before, 1.0, "one upstream query per DO=0 miss");
    let (m, _) = ask(d, "www.bogus2.test.", RecordType::A, true, true);
    assert_eq!(
        data(&m),
        vec!["192.0.2.31".to_string()],
        "CD=1 through the forwarder"
    );

    // Differential: BIND 9.18 recursing over the same hierarchy with the same policy zone.
    let bind = start_bind_recursor(&mi, &s.path.join("ns.rpz"));
    let bind_addr: SocketAddr = format!("{BIND_REC}:53").parse().expect("addr");
    let diffs = differential(c, bind_addr);
    assert!(
        diffs.is_empty(),
        "differences from BIND 9.18:\n{}\n--- named ---\n{}",
        diffs.join("\n"),
        bind.log_text()
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Bad input leaves a debug line saying why.
    let log = sk_a.log_text();
    assert!(log.contains("answer is bogus"), "bogus logged");
    assert!(log.contains("referral not closer"), "loop logged");
}
