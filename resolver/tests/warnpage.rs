//! The warning page server (`sekisho warn-page`) seen by real clients: curl
//! over IPv4 and IPv6 for any Host and path, redirect mode, the operator's
//! page, metrics, the access log's privacy default, and headless Chromium
//! landing on the page with a screenshot kept under `test-artifacts/`.
//! Each test owns addresses in 127.0.42.0/24 (this file: .20 to .39) and
//! ports picked by the kernel on `[::1]`.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A running `sekisho warn-page` and the addresses it bound.
struct WarnPage {
    proc: Proc,
    /// Page listeners, in `--listen` order.
    addrs: Vec<SocketAddr>,
    /// The metrics listener, if asked for.
    metrics: Option<SocketAddr>,
}

/// Starts `sekisho warn-page ARGS`; the listen addresses come from its log.
fn start(s: &Scratch, tag: &str, args: &[&str]) -> WarnPage {
    let listens = args.iter().filter(|a| **a == "--listen").count();
    let want_metrics = args.contains(&"--metrics");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sekisho"));
    cmd.arg("warn-page").args(args).env("RUST_LOG", "info");
    let proc = Proc::spawn(tag, &mut cmd, s.path.join(format!("{tag}.log")));
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let log = proc.log_text();
        let found = |needle: &str| -> Vec<SocketAddr> {
            log.lines()
                .filter(|l| l.contains(needle))
                .filter_map(|l| l.split("addr=").nth(1))
                .filter_map(|a| a.split_whitespace().next()?.parse().ok())
                .collect()
        };
        let addrs = found("warning page listening");
        let metrics = found("warning page metrics listening").first().copied();
        if addrs.len() == listens && (!want_metrics || metrics.is_some()) {
            return WarnPage {
                proc,
                addrs,
                metrics,
            };
        }
        assert!(Instant::now() < until, "warn-page did not start:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs curl with `args`; fails clearly when curl is missing.
fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-s", "-S", "--max-time", "10", "--noproxy", "*"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl ({e}); install it: apt-get install -y curl"))
}

/// stdout as text.
fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `http://ADDR` with IPv6 brackets.
fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

#[test]
fn curl_gets_the_page_for_any_host_and_path_over_ipv4_and_ipv6() {
    let s = Scratch::new("warnpage-curl");
    let w = start(
        &s,
        "warnpage-curl",
        &[
            "--listen",
            "127.0.42.20:0",
            "--listen",
            "[::1]:0",
            "--metrics",
            "127.0.42.20:0",
        ],
    );
    for addr in &w.addrs {
        for (host, path) in [
            ("blocked.example1.jp", "/"),
            ("www.Other.example", "/deep/path/index.php?q=1&r=2#frag"),
            ("xn--r8jz45g.jp:8080", "/%E4%BE%8B"),
        ] {
            let o = curl(&[
                "-i",
                "-g",
                "-H",
                &format!("Host: {host}"),
                &url(*addr, path),
            ]);
            let text = out(&o);
            assert!(
                o.status.success(),
                "{addr} {host}{path}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{text}");
            assert!(
                text.contains("このサイトへのアクセスは制限されています"),
                "{text}"
            );
            assert!(text.contains("Access to this site is blocked"), "{text}");
            let shown = host.split(':').next().unwrap_or(host);
            assert!(
                text.contains(&format!("<p class=\"host\">{shown}</p>")),
                "{text}"
            );
        }
        // A name mapped to the server as DNS would: the browser's own Host header.
        let o = curl(&[
            "-i",
            "-g",
            "--resolve",
            &format!("blocked.example1.jp:{}:{}", addr.port(), addr.ip()),
            &format!("http://blocked.example1.jp:{}/some/path", addr.port()),
        ]);
        assert!(
            out(&o).contains("<p class=\"host\">blocked.example1.jp</p>"),
            "{}",
            out(&o)
        );
        // HEAD: the head only; a POSTed form: the page too.
        let o = curl(&["-I", "-g", &url(*addr, "/x")]);
        assert!(
            out(&o).starts_with("HTTP/1.1 403 Forbidden\r\n"),
            "{}",
            out(&o)
        );
        assert!(!out(&o).contains("<html"), "{}", out(&o));
        let o = curl(&["-i", "-g", "-d", "user=a&pass=b", &url(*addr, "/login")]);
        assert!(
            out(&o).contains("Access to this site is blocked"),
            "{}",
            out(&o)
        );
    }
    // Garbage is a bad request, not a crash.
    let o = curl(&["-i", "-X", "BAD METHOD", &url(w.addrs[0], "/")]);
    assert!(
        out(&o).starts_with("HTTP/1.1 400 Bad Request"),
        "{}",
        out(&o)
    );

    // Counters by result only: never a Host or a client.
    let metrics = w.metrics.expect("metrics address");
    let text = http_get(&metrics.to_string(), "/metrics");
    assert!(
        text.contains("sekisho_warnpage_requests_total{result=\"page\"} 12"),
        "{text}"
    );
    assert!(
        text.contains("sekisho_warnpage_requests_total{result=\"bad_request\"} 1"),
        "{text}"
    );
    assert!(!text.contains("example1"), "{text}");
    // The access log has no client addresses by default.
    let log = w.proc.log_text();
    let requests: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("warning page request"))
        .collect();
    assert_eq!(requests.len(), 13, "{log}");
    for line in requests {
        assert!(line.contains("client=-"), "{line}");
        // (The Host may be the server's own address; the client's is never there.)
        assert!(
            !line.contains("127.0.0.1") && !line.contains("client=[") && !line.contains("client=:"),
            "{line}"
        );
    }
}

#[test]
fn redirect_mode_sends_307_for_get_and_303_for_a_form_on_both_families() {
    let s = Scratch::new("warnpage-redirect");
    let w = start(
        &s,
        "warnpage-redirect",
        &[
            "--listen",
            "127.0.42.21:0",
            "--listen",
            "[::1]:0",
            "--redirect",
            "https://warning.example.net/blocked.html",
            "--log-client-ip",
            "masked",
        ],
    );
    for addr in &w.addrs {
        let o = curl(&[
            "-i",
            "-g",
            "-H",
            "Host: any.example",
            &url(*addr, "/any/path"),
        ]);
        let text = out(&o);
        assert!(
            text.starts_with("HTTP/1.1 307 Temporary Redirect\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nLocation: https://warning.example.net/blocked.html\r\n"),
            "{text}"
        );
        let o = curl(&["-i", "-g", "-d", "x=1", &url(*addr, "/form")]);
        assert!(
            out(&o).starts_with("HTTP/1.1 303 See Other\r\n"),
            "{}",
            out(&o)
        );
    }
    let log = w.proc.log_text();
    // curl's source address towards 127.0.42.21 is 127.0.0.1.
    assert!(
        log.contains("client=127.0.0.0/24"),
        "masked IPv4 client: {log}"
    );
    assert!(log.contains("client=::/56"), "masked IPv6 client: {log}");
    assert!(
        !log.contains("127.0.0.1") && !log.contains("client=::1"),
        "{log}"
    );
}

#[test]
fn the_operators_page_is_served_as_is() {
    let s = Scratch::new("warnpage-file");
    let page = "<!DOCTYPE html><html><body><h1>ISP notice: blocked</h1></body></html>\n";
    let file = s.file("page.html", page);
    let w = start(
        &s,
        "warnpage-file",
        &[
            "--listen",
            "127.0.42.22:0",
            "--page",
            file.to_str().expect("path"),
        ],
    );
    let o = curl(&["-H", "Host: whatever.example", &url(w.addrs[0], "/a/b/c")]);
    assert_eq!(out(&o), page);
    // Usage errors exit 2 and name the problem.
    let o = Command::new(env!("CARGO_BIN_EXE_sekisho"))
        .args([
            "warn-page",
            "--listen",
            "127.0.42.22:0",
            "--redirect",
            "javascript:alert(1)",
        ])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--redirect"));
}

/// The artifact folder at the repository root (git-ignored).
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts");
    std::fs::create_dir_all(&dir).expect("test-artifacts dir");
    dir
}

/// Runs headless Chromium with `extra` arguments on `target`, mapping the
/// blocked name to `server`, with a 60 s limit.
fn chromium(profile: &Path, server: SocketAddr, extra: &[String], target: &str) -> Output {
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--host-resolver-rules=MAP blocked.example1.jp {server}"))
        .args(extra)
        .arg(target)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start chromium ({e}): this test needs Debian's chromium; install it: apt-get install -y chromium")
        });
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(r) => r.expect("chromium output"),
        Err(_) => {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            panic!("chromium did not finish within 60 s");
        }
    }
}

#[test]
fn headless_chromium_lands_on_the_warning_page_and_a_screenshot_is_kept() {
    let s = Scratch::new("warnpage-chromium");
    let w = start(&s, "warnpage-chromium", &["--listen", "127.0.42.23:0"]);
    let server = w.addrs[0];
    let target = "http://blocked.example1.jp/some/path?id=42";

    // The DOM Chromium built from what it received.
    let dom = chromium(
        &s.path.join("profile-dom"),
        server,
        &["--dump-dom".into()],
        target,
    );
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(
        html.contains("このサイトへのアクセスは制限されています")
            && html.contains("Access to this site is blocked")
            && html.contains("blocked.example1.jp"),
        "chromium's DOM is not the warning page:\n{html}\nstderr:\n{}",
        String::from_utf8_lossy(&dom.stderr)
    );

    // And what a user sees.
    let shot = artifacts().join("warnpage-chromium.png");
    let _ = std::fs::remove_file(&shot);
    let o = chromium(
        &s.path.join("profile-shot"),
        server,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1024,768".into(),
        ],
        target,
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {} ({e}); chromium said:\n{}",
            shot.display(),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank 1024x768 PNG compresses to a few KiB; text and the coloured bar do not.
    assert!(
        png.len() > 15_000,
        "screenshot suspiciously small: {} octets",
        png.len()
    );
    // Chromium tries https:// first (HTTPS-Upgrades) on the same mapped
    // address; the server closes on the ClientHello and Chromium falls back.
    let log = w.proc.log_text();
    assert!(
        log.lines().any(|l| l.contains("warning page request")
            && l.contains("host=blocked.example1.jp")
            && l.contains("result=page")),
        "the server saw chromium's request for the blocked name:\n{log}"
    );
}
