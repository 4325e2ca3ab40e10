//! Binary upgrade by socket hand-over, against the real binary: a second
//! `sekisho --take-over` (or `sekishoctl upgrade`) takes the running
//! daemon's sockets and saved cache while a client keeps asking, and not one
//! query goes unanswered; a take-over that fails leaves the old process
//! serving, with one log line saying why. The upstream is the test's own
//! [`Responder`], which counts what reaches it. Each test owns addresses in
//! 127.0.220.0/24.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

/// Forwarding `up.test.` to `upstream`, two UDP workers, the metrics
/// endpoint on `listen`'s address, the cache saved in the scratch directory.
fn config(s: &Scratch, listen: &str, upstream: &str, extra_listen: &str) -> String {
    let ip = listen.split(':').next().expect("ip");
    format!(
        r#"[server]
listen = ["{listen}"{extra_listen}]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{dir}"
udp-workers = 2

[[forward-zone]]
name = "up.test."
forward-addr = ["{upstream}"]

[dnssec]
validation = "no"

[control]
socket = "{dir}/control.sock"

[metrics]
listen = "{ip}:9153"
"#,
        dir = s.path.display()
    )
}

/// A responder for `up.test.`: every name has an A record for 10 minutes.
fn upstream(addr: &str) -> Responder {
    start_responder(addr, "up.test.", |_, _| {
        (
            Canned::A {
                addr: Ipv4Addr::new(192, 0, 2, 7),
                ttl: 600,
            },
            Duration::ZERO,
        )
    })
}

/// `sekisho --config FILE --take-over`, logging to `log`.
fn take_over(config: &Path, log: &Path) -> Proc {
    Proc::spawn(
        "sekisho --take-over",
        Command::new(env!("CARGO_BIN_EXE_sekisho"))
            .arg("--config")
            .arg(config)
            .arg("--take-over")
            .env("RUST_LOG", "info"),
        log.to_path_buf(),
    )
}

/// The pid `sekishoctl status` reports.
fn status_pid(socket: &Path) -> Option<u64> {
    let (code, out, _) = ctl(socket, &["--json", "status"]);
    if code != 0 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&out).ok()?;
    v["pid"].as_u64()
}

/// Waits up to `limit` for `p` to exit; its exit code.
fn exit_code(p: &mut Proc, limit: Duration) -> Option<i32> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if let Ok(Some(st)) = p.child.try_wait() {
            return st.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A daemon forwarding to a [`Responder`], each on its own address; the
/// scratch directory goes last, after the processes that write into it.
struct Old {
    /// The daemon.
    sk: Proc,
    /// Its upstream.
    up: Responder,
    /// Where it answers.
    listen: SocketAddr,
    /// Its control socket.
    sock: std::path::PathBuf,
    /// Its configuration, as written.
    config: String,
    /// Its directory.
    s: Scratch,
}

/// Starts a daemon on `ip`:5300 (tagged `tag`) with its upstream on `up_ip`:5300.
fn start_old(tag: &str, ip: &str, up_ip: &str) -> Old {
    let s = Scratch::new(&format!("upgrade-{tag}"));
    for a in [ip, up_ip] {
        add_loopback(a);
    }
    let up = upstream(&format!("{up_ip}:5300"));
    let listen: SocketAddr = format!("{ip}:5300").parse().expect("addr");
    let config = config(&s, &listen.to_string(), &format!("{up_ip}@5300"), "");
    let sk = start_sekisho(&s.path, tag, &config, listen);
    Old {
        sk,
        up,
        listen,
        sock: s.path.join("control.sock"),
        config,
        s,
    }
}

/// `p` logs `line` once, and only once, within 5 s.
fn logged_once(p: &Proc, line: &str) {
    assert!(
        eventually(Duration::from_secs(5), || p.log_text().contains(line)),
        "{}",
        p.log_text()
    );
    assert_eq!(p.log_text().matches(line).count(), 1, "{}", p.log_text());
}

/// What a client saw: queries sent, and those that got no answer in 2 s.
#[derive(Debug, Default)]
struct Tally {
    sent: usize,
    lost: Vec<String>,
}

/// Asks `server` one query a millisecond until `stop`: mostly the warm
/// names (cache hits), every 20th a new name (a miss, resolved upstream).
/// Each query waits for its answer; one that gets none within 2 s is lost.
fn query_loop(server: SocketAddr, warm: usize, stop: Arc<AtomicBool>) -> Tally {
    // A port of its own: the kernel spreads clients over the workers' sockets by address and port.
    let sock = UdpSocket::bind("127.0.220.100:0").expect("client socket");
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut tally = Tally::default();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let n = tally.sent;
        let name = if n % 20 == 19 {
            format!("miss{n}.up.test.")
        } else {
            format!("w{}.up.test.", n % warm)
        };
        let q = make_query(&name, RecordType::A, None);
        sock.send_to(&q.to_vec().expect("encode"), server)
            .expect("send");
        tally.sent += 1;
        let answered = loop {
            match sock.recv_from(&mut buf) {
                Ok((len, _)) => match Message::from_vec(&buf[..len]) {
                    Ok(r) if r.metadata.id == q.metadata.id => break r.answers.len() == 1,
                    // A late answer to an earlier query: keep waiting for this one.
                    _ => continue,
                },
                Err(_) => break false,
            }
        };
        if !answered {
            tally.lost.push(name);
        }
        // At most one query a millisecond.
        let due = start + Duration::from_millis(tally.sent as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    tally
}

#[test]
fn a_take_over_under_load_loses_no_query_and_keeps_the_cache() {
    let s = Scratch::new("upgrade-load");
    for ip in ["127.0.220.1", "127.0.220.2", "127.0.220.100"] {
        add_loopback(ip);
    }
    let up = upstream("127.0.220.2:5300");
    let listen: SocketAddr = "127.0.220.1:5300".parse().expect("addr");
    let cf = s.path.join("sekisho-old.toml");
    let mut old = start_sekisho(
        &s.path,
        "old",
        &config(&s, "127.0.220.1:5300", "127.0.220.2@5300", ""),
        listen,
    );
    let sock = s.path.join("control.sock");
    let old_pid = u64::from(old.child.id());
    assert_eq!(status_pid(&sock), Some(old_pid));
    let warm = 50;
    for i in 0..warm {
        let r = query(listen, &format!("w{i}.up.test."), RecordType::A);
        assert_eq!(r.answers.len(), 1);
    }
    assert_eq!(up.count("w0.up.test."), 1);

    // Four clients, so that every worker's socket has queries queued.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || query_loop(listen, warm, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut new = take_over(&cf, &s.path.join("sekisho-new.log"));
    let old_code = exit_code(&mut old, Duration::from_secs(30));
    // Queries go on against the new process alone for a while.
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::SeqCst);
    let mut tally = Tally::default();
    for c in clients {
        let t = c.join().expect("client");
        tally.sent += t.sent;
        tally.lost.extend(t.lost);
    }
    assert_eq!(
        old_code,
        Some(0),
        "old process:\n{}\nnew process:\n{}",
        old.log_text(),
        new.log_text()
    );
    assert!(tally.sent > 2000, "{tally:?}");
    assert!(
        tally.lost.is_empty(),
        "{} of {} queries lost: {:?}\nold:\n{}\nnew:\n{}",
        tally.lost.len(),
        tally.sent,
        tally.lost,
        old.log_text(),
        new.log_text()
    );
    assert!(new.is_running(), "{}", new.log_text());
    let old_log = old.log_text();
    assert!(
        old_log.contains("socket hand-over done: the new process serves; stopping"),
        "{old_log}"
    );
    assert_eq!(
        old_log.matches("cache saved").count(),
        1,
        "the old process saves its cache once, for the new one: {old_log}"
    );
    assert!(
        new.log_text().contains("saved cache loaded"),
        "{}",
        new.log_text()
    );
    // The control socket is the new process's now, at the same path.
    assert_eq!(status_pid(&sock), Some(u64::from(new.child.id())));
    // A name cached by the old process is answered from the cache it handed over.
    let asked = up.count("w0.up.test.");
    let r = query(listen, "w0.up.test.", RecordType::A);
    assert_eq!(r.answers.len(), 1);
    assert_eq!(up.count("w0.up.test."), asked, "answered from the cache");
    assert_eq!(asked, 1, "never asked again, not even during the take-over");
    // So is the metrics endpoint, on the handed-over listener.
    assert!(http_get("127.0.220.1:9153", "/metrics").starts_with("HTTP/1.1 200"));
    assert_eq!(new.stop(), Some(0), "{}", new.log_text());
}

#[test]
fn a_take_over_that_fails_leaves_the_old_process_serving() {
    let Old {
        sk: mut old,
        up,
        listen,
        sock,
        config: good,
        s,
    } = start_old("fail", "127.0.220.11", "127.0.220.12");
    let old_pid = u64::from(old.child.id());
    assert_eq!(
        query(listen, "kept.up.test.", RecordType::A).answers.len(),
        1
    );

    // A new process that takes the sockets, then cannot bind an address of
    // its own (TEST-NET-1 is on no interface) and exits before serving.
    let bad = s.file(
        "sekisho-unbindable.toml",
        &config(
            &s,
            "127.0.220.11:5300",
            "127.0.220.12@5300",
            r#", "192.0.2.1:5300""#,
        ),
    );
    let mut new = take_over(&bad, &s.path.join("sekisho-unbindable.log"));
    assert_eq!(
        exit_code(&mut new, Duration::from_secs(30)),
        Some(3),
        "{}",
        new.log_text()
    );
    logged_once(
        &old,
        "socket hand-over failed; this process goes on serving",
    );
    assert!(old.is_running());
    assert_eq!(status_pid(&sock), Some(old_pid));
    assert_eq!(
        query(listen, "kept.up.test.", RecordType::A).answers.len(),
        1
    );
    assert_eq!(up.count("kept.up.test."), 1, "the cache is the same");

    // `sekishoctl upgrade` with a configuration that no longer loads: the
    // new binary exits at once, the old one says so once and goes on.
    let cf = s.path.join("sekisho-fail.toml");
    std::fs::write(&cf, good.replace("[server]\n", "[server]\nbogus-key = 1\n")).expect("write");
    let (code, _, err) = ctl(&sock, &["upgrade"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("upgrade failed"), "{err}");
    logged_once(
        &old,
        "upgrade failed: the new process exited before taking over",
    );
    assert!(old.is_running());
    assert_eq!(
        query(listen, "kept.up.test.", RecordType::A).answers.len(),
        1
    );

    // Put right, the same verb upgrades: the old process exits 0 and the
    // one it started answers on the control socket and from the cache.
    std::fs::write(&cf, &good).expect("write");
    let (code, out, err) = ctl(&sock, &["upgrade"]);
    assert_eq!(code, 0, "{out}{err}\n{}", old.log_text());
    assert!(out.contains("serves now"), "{out}");
    assert_eq!(
        exit_code(&mut old, Duration::from_secs(30)),
        Some(0),
        "{}",
        old.log_text()
    );
    let new_pid = status_pid(&sock).expect("the new process answers");
    assert_ne!(new_pid, old_pid);
    assert_eq!(
        query(listen, "kept.up.test.", RecordType::A).answers.len(),
        1
    );
    assert_eq!(up.count("kept.up.test."), 1, "the cache came along");
    // The new process is not this test's child: stopped through its control socket.
    let (code, _, _) = ctl(&sock, &["stop"]);
    assert_eq!(code, 0);
    assert!(eventually(Duration::from_secs(10), || !Path::new(
        &format!("/proc/{new_pid}")
    )
    .exists()
        || std::fs::read_to_string(format!("/proc/{new_pid}/stat"))
            .is_ok_and(|st| st.contains(") Z "))));
}

#[test]
fn a_second_take_over_while_one_is_under_way_is_refused_with_its_reason() {
    use std::io::{BufRead, BufReader, Write};
    let Old {
        sk: mut old,
        up: _up,
        listen,
        sock,
        s,
        ..
    } = start_old("busy", "127.0.220.41", "127.0.220.42");
    // A first taker that asks, reads the announcement and then says nothing.
    let mut first = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    first
        .write_all(b"{\"verb\":\"take-over\",\"pid\":1}\n")
        .expect("ask");
    let mut line = String::new();
    BufReader::new(&first)
        .read_line(&mut line)
        .expect("announcement");
    assert!(line.contains("\"hand-over\""), "{line}");
    assert!(line.contains("\"control\""), "{line}");

    let cf = s.path.join("sekisho-busy.toml");
    let mut second = take_over(&cf, &s.path.join("sekisho-second.log"));
    assert_eq!(exit_code(&mut second, Duration::from_secs(30)), Some(3));
    assert!(
        second
            .log_text()
            .contains("the running daemon refused: a socket hand-over is already under way"),
        "{}",
        second.log_text()
    );
    // The first taker goes away before serving: one line, and nothing else changes.
    drop(first);
    logged_once(
        &old,
        "socket hand-over failed; this process goes on serving",
    );
    assert!(old.is_running());
    assert_eq!(status_pid(&sock), Some(u64::from(old.child.id())));
    assert_eq!(
        query(listen, "after.up.test.", RecordType::A).answers.len(),
        1
    );
}
