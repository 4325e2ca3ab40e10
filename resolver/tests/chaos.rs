//! The CHAOS class as operators ask it, with real `dig` and `kdig`:
//! `version.bind`, `version.server`, `hostname.bind` and `id.server` are
//! answered locally (never forwarded: the only upstream configured here does
//! not exist), with the configured texts or REFUSED when hidden, and the reply's
//! question is the query's, so neither tool warns about a mismatch.
//! (The BIND 9.18 comparison of the same answers is in `rpz_differential.rs`.)
//!
//! Each test owns addresses in 127.0.47.0/24.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::*;

/// A Sekisho on `ip`:5300 forwarding everything to an address where nothing
/// listens, with these extra `[server]` lines and metrics on `ip`:9153.
fn config(s: &Scratch, ip: &str, server_extra: &str) -> String {
    format!(
        r#"[server]
listen = ["{ip}:5300"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.47.0/24"]
directory = "{d}"
{server_extra}

[[forward-zone]]
name = "."
forward-addr = ["127.0.47.99@5399"]

[control]
socket = "{d}/control.sock"

[metrics]
listen = "{ip}:9153"
"#,
        d = s.path.display()
    )
}

/// Runs `tool` (dig or kdig) with `args` against `ip`:5300 from `ip`'s own
/// address (inside allow-recursion, so a refusal is not the access list's);
/// returns stdout and stderr together, and fails the test when the tool is
/// missing or fails.
fn run(tool: &str, ip: &str, args: &[&str]) -> String {
    run_from(tool, ip, ip, args)
}

/// [`run`] from the source address `from`.
fn run_from(tool: &str, ip: &str, from: &str, args: &[&str]) -> String {
    let limits: &[&str] = if tool == "kdig" {
        &["+retry=0", "+timeout=3"]
    } else {
        &["+tries=1", "+time=3"]
    };
    let out = Command::new(tool)
        .arg(format!("@{ip}"))
        .args(["-p", "5300", "-b", from])
        .args(args)
        .args(limits)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {tool} ({e}): apt-get install dnsutils knot-dnsutils")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{tool} {args:?} failed:\n{text}");
    text
}

/// The tool took the reply as the answer to its query: dig reports ";; Question
/// section mismatch" and kdig "QNAME/QTYPE/QCLASS mismatch" (or similar) otherwise.
/// dig's ";; WARNING: recursion requested but not available" is expected: BIND's
/// CHAOS answers carry no RA either.
#[track_caller]
fn no_mismatch(text: &str) {
    assert!(
        !text.to_ascii_lowercase().contains("mismatch"),
        "the tool rejected the reply's question:\n{text}"
    );
}

#[test]
fn dig_and_kdig_read_the_version_and_the_identity_as_from_bind() {
    let s = Scratch::new("chaos-answers");
    let ip = "127.0.47.1";
    let listen: SocketAddr = format!("{ip}:5300").parse().expect("addr");
    let mut sk = start_sekisho(
        &s.path,
        "chaos",
        &config(&s, ip, "identity = \"chaos-test.example\""),
        listen,
    );
    let version = format!("\"sekisho {}\"", env!("CARGO_PKG_VERSION"));

    // dig: the answer, AA, no RA (BIND's CHAOS view does not recurse), TTL 0, class CH.
    let out = run("dig", ip, &["version.bind", "CH", "TXT"]);
    no_mismatch(&out);
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("flags: qr aa rd;"), "{out}");
    assert!(
        out.contains(";version.bind.\t\t\tCH\tTXT"),
        "question echoed:\n{out}"
    );
    assert!(
        out.contains(&format!("version.bind.\t\t0\tCH\tTXT\t{version}")),
        "{out}"
    );
    // The same texts for the RFC 4892 names, the identity for both of its names,
    // and the client's letter case kept.
    let out = run("dig", ip, &["VERSION.Server", "CH", "TXT", "+short"]);
    assert_eq!(out.trim(), version, "{out}");
    for name in ["hostname.bind", "id.server", "HostName.BIND"] {
        let out = run("dig", ip, &[name, "CH", "TXT"]);
        no_mismatch(&out);
        assert!(
            out.contains(&format!("{name}.\t")) && out.contains("TXT\t\"chaos-test.example\""),
            "{name}:\n{out}"
        );
    }
    // RD=0: the zone's NS in AUTHORITY, as BIND gives it.
    let out = run("dig", ip, &["+norec", "version.bind", "CH", "TXT"]);
    no_mismatch(&out);
    assert!(out.contains("flags: qr aa;"), "{out}");
    assert!(
        out.contains("version.bind.\t\t0\tCH\tNS\tversion.bind."),
        "{out}"
    );
    // Over TCP too.
    let out = run("dig", ip, &["+tcp", "id.server", "CH", "TXT", "+short"]);
    assert_eq!(out.trim(), "\"chaos-test.example\"", "{out}");

    // kdig checks the reply's question against its query as well.
    for (name, want) in [
        ("version.bind", version.as_str()),
        ("id.server", "\"chaos-test.example\""),
    ] {
        let out = run("kdig", ip, &[name, "CH", "TXT"]);
        no_mismatch(&out);
        assert!(out.contains("status: NOERROR"), "{out}");
        assert!(out.contains("Flags: qr aa rd;"), "{out}");
        assert!(out.contains(want), "{name}:\n{out}");
        let out = run("kdig", ip, &["+tcp", name, "CH", "TXT", "+short"]);
        assert_eq!(out.trim(), want, "{name} over TCP:\n{out}");
    }

    // Any other CHAOS query: REFUSED, the question still class CH.
    let out = run("dig", ip, &["authors.bind", "CH", "TXT"]);
    no_mismatch(&out);
    assert!(out.contains("status: REFUSED"), "{out}");
    assert!(out.contains(";authors.bind.\t\t\tCH\tTXT"), "{out}");
    let out = run("kdig", ip, &["www.example.jp", "CH", "A"]);
    no_mismatch(&out);
    assert!(out.contains("status: REFUSED"), "{out}");

    // Answered locally and counted so: 11 CH answers, 2 refusals, none from upstream
    // (there is none to ask).
    let metrics = http_get(&format!("{ip}:9153"), "/metrics");
    let local = |rcode: &str| {
        metric_sample(
            &metrics,
            &format!("sekisho_responses_total{{rcode=\"{rcode}\",source=\"local\"}}"),
        )
    };
    assert_eq!(local("NOERROR"), 11.0, "{metrics}");
    assert_eq!(local("REFUSED"), 2.0, "{metrics}");
    let upstream: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("sekisho_responses_total") && l.contains("source=\"upstream\""))
        .collect();
    assert!(
        !upstream.is_empty() && upstream.iter().all(|l| l.ends_with(" 0")),
        "nothing went upstream:\n{metrics}"
    );
    assert!(sk.is_running(), "{}", sk.log_text());
    assert_eq!(sk.stop(), Some(0));
}

#[test]
fn hidden_version_and_identity_are_refused_with_the_question_kept() {
    let s = Scratch::new("chaos-hidden");
    let ip = "127.0.47.11";
    let listen: SocketAddr = format!("{ip}:5300").parse().expect("addr");
    let mut sk = start_sekisho(
        &s.path,
        "chaos-hidden",
        &config(
            &s,
            ip,
            "version = \"must not show\"\nidentity = \"nor this\"\nhide-version = true\nhide-identity = true",
        ),
        listen,
    );
    // The client may recurse: REFUSED below is the hiding, not the access list
    // (which would add EDE 18).
    let out = run("dig", ip, &["www.example.jp", "A"]);
    assert!(!out.contains("status: REFUSED"), "{out}");
    for name in [
        "version.bind",
        "version.server",
        "hostname.bind",
        "id.server",
    ] {
        for tool in ["dig", "kdig"] {
            let out = run(tool, ip, &[name, "CH", "TXT"]);
            no_mismatch(&out);
            assert!(out.contains("status: REFUSED"), "{tool} {name}:\n{out}");
            assert!(!out.contains("EDE"), "not the access list:\n{out}");
            assert!(
                !out.contains("must not show") && !out.contains("nor this"),
                "{out}"
            );
            // The question is the query's: class CH (not rewritten to IN).
            assert!(
                out.contains(&format!("{name}.")) && out.contains("CH") && !out.contains("\tIN\t"),
                "{tool} {name}:\n{out}"
            );
        }
    }
    assert_eq!(sk.stop(), Some(0));
}

#[test]
fn clients_that_may_query_but_not_recurse_still_get_the_version() {
    // allow-query admits 127/8 and allow-recursion only 127.0.47.0/24, as in
    // BIND, whose CHAOS view follows allow-query: the version is answered, an IN
    // query is refused (RA clear, EDE 18 Prohibited, as BIND sends it).
    let s = Scratch::new("chaos-acl");
    let ip = "127.0.47.21";
    let listen: SocketAddr = format!("{ip}:5300").parse().expect("addr");
    let mut sk = start_sekisho(&s.path, "chaos-acl", &config(&s, ip, ""), listen);
    let outsider = "127.0.48.21";
    let out = run_from("dig", ip, outsider, &["version.bind", "CH", "TXT"]);
    assert!(
        out.contains("status: NOERROR") && out.contains("\"sekisho "),
        "{out}"
    );
    let out = run_from("dig", ip, outsider, &["www.example.jp", "A"]);
    assert!(out.contains("status: REFUSED"), "{out}");
    assert!(out.contains("flags: qr rd;"), "no RA:\n{out}");
    assert!(out.contains("EDE: 18 (Prohibited)"), "{out}");
    assert_eq!(sk.stop(), Some(0));
}

#[test]
fn a_reload_applies_new_chaos_texts_and_hiding() {
    let s = Scratch::new("chaos-reload");
    let ip = "127.0.47.31";
    let listen: SocketAddr = format!("{ip}:5300").parse().expect("addr");
    let mut sk = start_sekisho(
        &s.path,
        "chaos-reload",
        &config(&s, ip, "version = \"before\""),
        listen,
    );
    let out = run("dig", ip, &["version.bind", "CH", "TXT", "+short"]);
    assert_eq!(out.trim(), "\"before\"", "{out}");
    // The same file start_sekisho wrote, changed; SIGHUP re-reads it.
    std::fs::write(
        s.path.join("sekisho-chaos-reload.toml"),
        config(&s, ip, "version = \"after\"\nhide-identity = true"),
    )
    .expect("config");
    let _ = Command::new("kill")
        .args(["-HUP", &sk.child.id().to_string()])
        .status();
    let changed = eventually(Duration::from_secs(5), || {
        run("dig", ip, &["version.bind", "CH", "TXT", "+short"]).trim() == "\"after\""
    });
    assert!(
        changed,
        "the new version text after SIGHUP:\n{}",
        sk.log_text()
    );
    let out = run("dig", ip, &["id.server", "CH", "TXT"]);
    assert!(
        out.contains("status: REFUSED"),
        "hidden after the reload:\n{out}"
    );
    assert!(
        !sk.log_text().contains("take effect only after a restart"),
        "no restart asked for:\n{}",
        sk.log_text()
    );
    sk.stop();
}
