//! The packet cache seen from a client: negative answers (RFC 2308) are
//! kept for min(SOA TTL, SOA MINIMUM) capped by `max-negative-ttl`, and an
//! upstream SERVFAIL for `servfail-ttl`. The upstream is a [`Responder`]
//! run by the test, which counts every query that reaches it; TTLs of 3 s
//! are used so that "kept" and "expired" are each one query apart.
//! Recursion's caches are checked against a responder acting as the root
//! server (port 53, as recursion asks). Each test owns 127.0.71.0/24.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

/// A sekisho config forwarding `neg.test.` to `upstream`, with `cache`
/// lines in `[cache]`.
fn config(s: &Scratch, tag: &str, listen: &str, upstream: &str, cache: &str) -> String {
    format!(
        r#"[server]
listen = ["{listen}"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{dir}"

[cache]
{cache}

[[forward-zone]]
name = "neg.test."
forward-addr = ["{upstream}"]

# The upstream is the test's own responder, with no DNSSEC data.
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

/// The responder behind every test: each name says what it gets.
fn responder(addr: &str) -> Responder {
    start_responder(addr, "neg.test.", |name, _| {
        let label = name.split('.').next().unwrap_or("");
        let canned = match label {
            // SOA TTL and MINIMUM both long.
            "nodata" => Canned::NoData {
                soa_ttl: 300,
                minimum: 300,
            },
            // The SOA record's TTL is the smaller.
            "soattl" => Canned::NoData {
                soa_ttl: 3,
                minimum: 300,
            },
            // The SOA MINIMUM field is the smaller.
            "soamin" => Canned::NoData {
                soa_ttl: 300,
                minimum: 3,
            },
            "nxmin" => Canned::NxDomain {
                soa_ttl: 300,
                minimum: 3,
            },
            "nxlong" => Canned::NxDomain {
                soa_ttl: 300,
                minimum: 300,
            },
            "broken" => Canned::ServFail,
            _ => Canned::A {
                addr: "192.0.2.71".parse().expect("ip"),
                ttl: 300,
            },
        };
        (canned, Duration::ZERO)
    })
}

/// The TTL of the SOA in AUTHORITY of a negative answer.
fn soa_ttl(m: &Message) -> u32 {
    m.authorities
        .iter()
        .find(|r| r.record_type() == RecordType::SOA)
        .map(|r| r.ttl)
        .unwrap_or_else(|| panic!("no SOA in AUTHORITY: {m:?}"))
}

/// Ask `name` and check it is a NODATA (or NXDOMAIN when `nx`) answer.
fn negative(listen: SocketAddr, name: &str, nx: bool) -> Message {
    let m = query(listen, name, RecordType::AAAA);
    let want = if nx {
        ResponseCode::NXDomain
    } else {
        ResponseCode::NoError
    };
    assert_eq!(m.metadata.response_code, want, "{name}");
    assert!(m.answers.is_empty(), "{name}: {m:?}");
    m
}

/// A little past the 3 s negative TTL the tests use.
const PAST_TTL: Duration = Duration::from_millis(3600);

#[test]
fn nodata_is_cached_for_the_smaller_of_the_soa_ttl_and_the_soa_minimum() {
    let s = Scratch::new("cache-neg");
    let up = responder("127.0.71.1:5353");
    let listen: SocketAddr = "127.0.71.2:5300".parse().expect("addr");
    let cfg = config(&s, "neg", "127.0.71.2:5300", "127.0.71.1@5353", "");
    let _sk = start_sekisho(&s.path, "neg", &cfg, listen);

    // A NODATA is kept: the repeats never reach the upstream.
    let first = negative(listen, "nodata.neg.test.", false);
    assert_eq!(soa_ttl(&first), 300);
    for _ in 0..3 {
        negative(listen, "nodata.neg.test.", false);
    }
    assert_eq!(up.count("nodata.neg.test."), 1, "NODATA is cached");

    // Negative TTL = min(SOA TTL, SOA MINIMUM) (RFC 2308 section 5), shown
    // as the SOA's TTL, whichever of the two is the smaller.
    for (name, nx) in [
        ("soattl.neg.test.", false),
        ("soamin.neg.test.", false),
        ("nxmin.neg.test.", true),
    ] {
        let first = negative(listen, name, nx);
        assert_eq!(soa_ttl(&first), 3, "{name}: negative TTL");
        let again = negative(listen, name, nx);
        assert!(soa_ttl(&again) <= 3, "{name}: {again:?}");
        assert_eq!(up.count(name), 1, "{name}: cached within its negative TTL");
    }
    std::thread::sleep(PAST_TTL);
    for (name, nx) in [
        ("soattl.neg.test.", false),
        ("soamin.neg.test.", false),
        ("nxmin.neg.test.", true),
    ] {
        negative(listen, name, nx);
        assert_eq!(up.count(name), 2, "{name}: fetched again after 3 s");
    }
    negative(listen, "nodata.neg.test.", false);
    assert_eq!(
        up.count("nodata.neg.test."),
        1,
        "a 300 s negative answer is still cached"
    );
    // The NODATA is for AAAA only: another type of the same name is asked
    // upstream (and the reply is checked to carry the TXT question).
    let txt = query(listen, "nodata.neg.test.", RecordType::TXT);
    assert_eq!(txt.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        up.count("nodata.neg.test."),
        2,
        "the type is part of the key"
    );
}

#[test]
fn max_negative_ttl_caps_negative_answers_only() {
    let s = Scratch::new("cache-maxneg");
    let up = responder("127.0.71.11:5353");
    let listen: SocketAddr = "127.0.71.12:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "maxneg",
        "127.0.71.12:5300",
        "127.0.71.11@5353",
        "max-negative-ttl = \"3s\"",
    );
    let _sk = start_sekisho(&s.path, "maxneg", &cfg, listen);

    for (name, nx) in [("nodata.neg.test.", false), ("nxlong.neg.test.", true)] {
        let first = negative(listen, name, nx);
        assert_eq!(
            soa_ttl(&first),
            3,
            "{name}: 300 s capped to max-negative-ttl"
        );
        negative(listen, name, nx);
        assert_eq!(up.count(name), 1, "{name}: cached");
    }
    let positive = query(listen, "www.neg.test.", RecordType::A);
    assert_eq!(
        positive.answers[0].ttl, 300,
        "the cap is for negative answers"
    );
    std::thread::sleep(PAST_TTL);
    for (name, nx) in [("nodata.neg.test.", false), ("nxlong.neg.test.", true)] {
        negative(listen, name, nx);
        assert_eq!(up.count(name), 2, "{name}: expired after max-negative-ttl");
    }
    query(listen, "www.neg.test.", RecordType::A);
    assert_eq!(
        up.count("www.neg.test."),
        1,
        "a positive answer outlives the cap"
    );
}

#[test]
fn an_upstream_servfail_is_cached_for_servfail_ttl_and_no_longer() {
    let s = Scratch::new("cache-servfail");
    let up = responder("127.0.71.21:5353");
    let listen: SocketAddr = "127.0.71.22:5300".parse().expect("addr");
    let cfg = config(
        &s,
        "servfail",
        "127.0.71.22:5300",
        "127.0.71.21@5353",
        "servfail-ttl = \"3s\"",
    );
    let _sk = start_sekisho(&s.path, "servfail", &cfg, listen);
    let servfail = |listen| {
        let m = query(listen, "broken.neg.test.", RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    };

    servfail(listen);
    assert_eq!(up.count("broken.neg.test."), 1);
    std::thread::sleep(Duration::from_millis(1500));
    // Past the 1 s default, within the configured 3 s.
    servfail(listen);
    assert_eq!(up.count("broken.neg.test."), 1, "the SERVFAIL is cached");
    std::thread::sleep(Duration::from_millis(2100));
    servfail(listen);
    assert_eq!(
        up.count("broken.neg.test."),
        2,
        "and asked again once servfail-ttl has passed"
    );

    // servfail-ttl = 0 caches nothing.
    let listen0: SocketAddr = "127.0.71.23:5300".parse().expect("addr");
    let up0 = responder("127.0.71.24:5353");
    let cfg0 = config(
        &s,
        "servfail0",
        "127.0.71.23:5300",
        "127.0.71.24@5353",
        "servfail-ttl = \"0s\"",
    );
    let _sk0 = start_sekisho(&s.path, "servfail0", &cfg0, listen0);
    servfail(listen0);
    servfail(listen0);
    assert_eq!(
        up0.count("broken.neg.test."),
        2,
        "servfail-ttl = 0: not cached"
    );
}

/// `sekisho_cache_bytes` from `sekishoctl stats`.
fn cache_bytes(sock: &Path) -> f64 {
    let (code, out, err) = ctl(sock, &["stats"]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .find_map(|l| l.strip_prefix("sekisho_cache_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sekisho_cache_bytes in {out}"))
}

#[test]
fn flushname_and_flushtree_also_empty_the_recursors_caches() {
    let s = Scratch::new("cache-flushrec");
    // The root server is the test's responder, on port 53 as recursion needs:
    // it answers A for every name under flush.test. and NODATA otherwise (so
    // the minimised probes for test. and flush.test. find no zone cut).
    let root = "127.0.71.31";
    let up = start_responder(
        &format!("{root}:53"),
        ".",
        a_under(".flush.test.", "192.0.2.31", 300),
    );
    let hints = root_hints(&s, root);
    let listen: SocketAddr = "127.0.71.32:5300".parse().expect("addr");
    let cfg = recursive_config(&s, "flushrec", "127.0.71.32:5300", &hints);
    let _sk = start_sekisho(&s.path, "flushrec", &cfg, listen);
    let sock = s.path.join("control-flushrec.sock");
    let ask = |name: &str| {
        let m = query(listen, name, RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert_eq!(m.answers.len(), 1, "{name}: {m:?}");
    };

    ask("www.flush.test.");
    let first = up.count("www.flush.test.");
    assert!(first >= 1, "resolved at the root server");
    ask("www.flush.test.");
    assert_eq!(up.count("www.flush.test."), first, "cached");
    assert!(cache_bytes(&sock) > 0.0);

    // The packet cache alone would still be refilled from the recursor's
    // step cache without a query: flushname must empty both.
    let (code, out, err) = ctl(&sock, &["flushname", "www.flush.test."]);
    assert_eq!(code, 0, "{out}{err}");
    ask("www.flush.test.");
    let second = up.count("www.flush.test.");
    assert!(second > first, "asked again after flushname");

    ask("a.x.flush.test.");
    let a = up.count("a.x.flush.test.");
    // A name outside the tree (NODATA from the root), cached in both too.
    let other = query(listen, "www.other.test.", RecordType::A);
    assert_eq!(other.metadata.response_code, ResponseCode::NoError);
    let o = up.count("www.other.test.");
    let (code, out, err) = ctl(&sock, &["flushtree", "flush.test."]);
    assert_eq!(code, 0, "{out}{err}");
    ask("a.x.flush.test.");
    ask("www.flush.test.");
    assert!(
        up.count("a.x.flush.test.") > a,
        "asked again after flushtree"
    );
    assert!(
        up.count("www.flush.test.") > second,
        "asked again after flushtree"
    );
    query(listen, "www.other.test.", RecordType::A);
    assert_eq!(
        up.count("www.other.test."),
        o,
        "outside the tree: still cached"
    );

    // `flush` empties the answers and what the recursor learnt about names;
    // only its per-server round-trip times stay.
    let before = cache_bytes(&sock);
    let (code, _, err) = ctl(&sock, &["flush"]);
    assert_eq!(code, 0, "{err}");
    let after = cache_bytes(&sock);
    assert!(after < before, "{after} bytes after flush, {before} before");
}

#[test]
fn a_recursion_failure_is_cached_for_servfail_ttl_with_its_ede() {
    let s = Scratch::new("cache-failrec");
    // The root server answers nothing under dead.test. (and NODATA for the rest).
    let root = "127.0.71.41";
    let up = start_responder(&format!("{root}:53"), ".", |name, _| {
        if name.ends_with("dead.test.") {
            (Canned::Silent, Duration::ZERO)
        } else {
            (
                Canned::NoData {
                    soa_ttl: 300,
                    minimum: 300,
                },
                Duration::ZERO,
            )
        }
    });
    let hints = root_hints(&s, root);
    let listen: SocketAddr = "127.0.71.42:5300".parse().expect("addr");
    let cfg = recursive_config(&s, "failrec", "127.0.71.42:5300", &hints)
        .replace("directory = ", "query-timeout = \"3s\"\ndirectory = ")
        + "\n[cache]\nservfail-ttl = \"5s\"\n";
    let _sk = start_sekisho(&s.path, "failrec", &cfg, listen);
    let ask = || {
        let q = make_query("www.dead.test.", RecordType::A, Some(1232));
        let raw = exchange_udp(
            None,
            listen,
            &q.to_vec().expect("encode"),
            Duration::from_secs(5),
        )
        .expect("an answer");
        let m = Message::from_vec(&raw).expect("decode");
        (m.metadata.response_code, ede_code(&raw))
    };
    assert_eq!(ask(), (ResponseCode::ServFail, Some(22)));
    let sent = up.total();
    assert!(sent >= 1);
    // Within servfail-ttl: the same failure and why, and nothing sent.
    let t = std::time::Instant::now();
    assert_eq!(ask(), (ResponseCode::ServFail, Some(22)));
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "answered from the cache"
    );
    assert_eq!(up.total(), sent, "no query to the authority");
}

/// A restart does not start cold: the answers are saved on stop
/// (`cache.save-file`) and read on start with the time since taken off
/// their TTLs; `sekishoctl dump-cache` and `load-cache` do the same at any
/// time; a damaged dump is ignored with one line, the cache starting empty.
/// 127.0.71.61 (daemon), 127.0.71.62 (upstream).
#[test]
fn a_restart_keeps_the_cache_and_a_damaged_dump_is_ignored() {
    let s = Scratch::new("cache-saved");
    let up = responder("127.0.71.62:5353");
    let listen: SocketAddr = "127.0.71.61:5300".parse().expect("addr");
    let cfg = config(&s, "saved", "127.0.71.61:5300", "127.0.71.62@5353", "");
    let sock = s.path.join("control-saved.sock");
    let a = |name: &str| {
        let m = query(listen, name, RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert_eq!(m.answers.len(), 1, "{name}: {m:?}");
        m.answers[0].ttl
    };
    let mut sk = start_sekisho(&s.path, "saved", &cfg, listen);
    let names = ["one.neg.test.", "two.neg.test.", "three.neg.test."];
    for n in names {
        a(n);
    }
    let asked = up.total();
    assert!(asked >= 3);
    sk.stop();
    assert!(sk.log_text().contains("cache saved"), "{}", sk.log_text());
    let dump = s.path.join("cache.dump");
    assert!(dump.exists());

    // Restarted: answered from the saved cache, the upstream not asked.
    std::thread::sleep(Duration::from_millis(1100));
    let mut sk = start_sekisho(&s.path, "saved", &cfg, listen);
    assert!(
        sk.log_text().contains("saved cache loaded"),
        "{}",
        sk.log_text()
    );
    for n in names {
        let ttl = a(n);
        assert!(
            (1..300).contains(&ttl),
            "{n}: TTL {ttl} counts down across the restart"
        );
    }
    assert_eq!(up.total(), asked, "answered from the saved cache");

    // dump-cache / flush / load-cache.
    let other = s.path.join("by-hand.dump");
    let (code, out, err) = ctl(&sock, &["dump-cache", other.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 answers written"), "{out}");
    let (code, _, err) = ctl(&sock, &["flush"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = ctl(&sock, &["load-cache", other.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 answers loaded"), "{out}");
    a("two.neg.test.");
    assert_eq!(up.total(), asked, "answered from the loaded dump");
    let (code, _, err) = ctl(&sock, &["load-cache", "/nonexistent/cache.dump"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/cache.dump"), "{err}");
    sk.stop();

    // A damaged dump: ignored, one line, the upstream asked again.
    let mut bytes = std::fs::read(&dump).expect("dump");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&dump, bytes).expect("damage");
    let sk = start_sekisho(&s.path, "saved", &cfg, listen);
    let log = sk.log_text();
    let ignored: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("saved cache ignored"))
        .collect();
    assert_eq!(ignored.len(), 1, "{log}");
    assert!(ignored[0].contains("checksum"), "{}", ignored[0]);
    a("one.neg.test.");
    assert!(up.total() > asked, "asked again after the damaged dump");
}
