//! End-to-end: frames from [`Dnstap`] reach the real `fstrm_capture`
//! (Debian fstrm-bin) over a Unix socket and over TCP, and read back with
//! `dnstap-read -y` (BIND) and `dnstap-ldns -y`. A missing tool fails the
//! test: these are the readers operators use, so they are the oracle.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use sekisho_dnstap::{
    Action, Config, Destination, Dnstap, Event, Kind, PolicyHit, Stats, Transport, Trigger,
};

/// A fresh directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sekisho-dnstap-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A running `fstrm_capture`, stopped with SIGTERM.
struct Capture {
    /// The process.
    child: Child,
    /// Its output file.
    file: PathBuf,
}

impl Capture {
    /// Starts `fstrm_capture` writing to `file`, listening where `args` say.
    fn start(args: &[&str], file: &Path) -> Capture {
        let child = Command::new("fstrm_capture")
            .args(["-t", "protobuf:dnstap.Dnstap"])
            .args(args)
            .arg("-w")
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("fstrm_capture must be installed (Debian package fstrm-bin)");
        Capture {
            child,
            file: file.to_path_buf(),
        }
    }

    /// Starts it on a Unix socket and waits for the socket to appear.
    fn unix(sock: &Path, file: &Path) -> Capture {
        let _ = std::fs::remove_file(sock);
        let sock_arg = sock.to_str().expect("temp path is UTF-8");
        let capture = Capture::start(&["-u", sock_arg], file);
        wait_for("fstrm_capture socket", Duration::from_secs(10), || {
            sock.exists()
        });
        capture
    }

    /// SIGTERM, then waits (bounded) for the process to write its file and
    /// exit.
    fn stop(mut self) -> PathBuf {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM fstrm_capture");
        let start = Instant::now();
        loop {
            if self.child.try_wait().expect("try_wait").is_some() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "fstrm_capture did not exit on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.file.clone()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // After stop() the process is reaped and this fails harmlessly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` every 20 ms until it holds, failing after `limit`.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP port on loopback from this test's own range that is free now.
fn free_port(range_start: u16) -> u16 {
    let base = range_start + (std::process::id() % 50) as u16 * 20;
    (base..base + 20)
        .find(|&p| TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok())
        .expect("a free loopback port in the test's range")
}

/// A DNS query (RFC 1035 section 4.1) for `name` type A class IN, built by
/// hand: header with RD, one question.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00]); // RD
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD=1
    m.extend_from_slice(&wire(name));
    m.extend_from_slice(&[0, 1, 0, 1]); // A IN
    m
}

/// The NXDOMAIN answer to [`query`]: same ID and question, QR RD RA, RCODE 3.
fn nxdomain(id: u16, name: &str) -> Vec<u8> {
    let mut m = query(id, name);
    m[2] = 0x81; // QR, RD
    m[3] = 0x83; // RA, NXDOMAIN
    m
}

/// A name in wire format.
fn wire(name: &str) -> Vec<u8> {
    let mut w = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        w.push(label.len() as u8);
        w.extend_from_slice(label.as_bytes());
    }
    w.push(0);
    w
}

/// Runs `dnstap-read -y` on `file` (BIND's reader).
fn dnstap_read(file: &Path) -> String {
    run_reader(
        Command::new("dnstap-read").arg("-y").arg(file),
        "dnstap-read (bind9-utils)",
    )
}

/// Runs `dnstap-ldns -r file -y`.
fn dnstap_ldns(file: &Path) -> String {
    run_reader(
        Command::new("dnstap-ldns").arg("-y").arg("-r").arg(file),
        "dnstap-ldns",
    )
}

/// Runs a reader and returns its stdout; a missing tool or a failure fails
/// the test.
fn run_reader(cmd: &mut Command, tool: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{tool} must be installed: {e}"));
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A config for `destination` with every kind wanted.
fn config(destination: Destination) -> Config {
    Config {
        destination,
        identity: b"sekisho-test".to_vec(),
        version: b"sekisho 0.1.0".to_vec(),
        kinds: Kind::ALL.to_vec(),
        queue: 1024,
    }
}

/// Client query from 192.0.2.10 to our 127.0.0.1 listener.
fn client_query<'a>(transport: Transport, message: &'a [u8]) -> Event<'a> {
    Event {
        kind: Kind::ClientQuery,
        transport,
        query_address: Some(SocketAddr::from((Ipv4Addr::new(192, 0, 2, 10), 40000))),
        response_address: SocketAddr::from((Ipv4Addr::LOCALHOST, 53)),
        query_time: Some(SystemTime::now()),
        response_time: None,
        query_zone: None,
        message,
        policy: None,
        extra: None,
    }
}

/// Number of occurrences of `needle` in `hay`.
fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn unix_socket_frames_reach_fstrm_capture_and_read_back() {
    let dir = temp_dir("unix");
    let sock = dir.join("dnstap.sock");
    let capture = Capture::unix(&sock, &dir.join("out.fstrm"));
    let tap = Dnstap::start(config(Destination::Unix(sock))).expect("start");
    wait_for("connection", Duration::from_secs(10), || {
        tap.stats().connected
    });

    let q = query(0x1234, "www.example.com");
    tap.send(&client_query(Transport::Udp, &q));

    let blocked_q = query(0x4321, "bad.example.net");
    let blocked_r = nxdomain(0x4321, "bad.example.net");
    let rule = wire("bad.example.net.rpz.local");
    let value = wire("bad.example.net");
    tap.send(&Event {
        kind: Kind::ClientResponse,
        transport: Transport::Udp,
        // The client is known only by a pseudonym: no address.
        query_address: None,
        response_address: SocketAddr::from((Ipv4Addr::LOCALHOST, 53)),
        query_time: Some(SystemTime::now()),
        response_time: Some(SystemTime::now()),
        query_zone: None,
        message: &blocked_r,
        policy: Some(PolicyHit {
            zone: "rpz.local",
            rule: &rule,
            trigger: Trigger::Qname,
            action: Action::Nxdomain,
            value: &value,
        }),
        extra: Some(b"client=k:3fa2"),
    });

    let zone = wire("example.net");
    tap.send(&Event {
        kind: Kind::ResolverQuery,
        transport: Transport::Udp,
        query_address: Some(SocketAddr::from((Ipv4Addr::new(192, 0, 2, 53), 33333))),
        response_address: SocketAddr::from((Ipv4Addr::new(198, 51, 100, 7), 53)),
        query_time: Some(SystemTime::now()),
        response_time: None,
        query_zone: Some(&zone),
        message: &blocked_q,
        policy: None,
        extra: None,
    });

    tap.shutdown(Duration::from_secs(5));
    let stats = tap.stats();
    assert_eq!(
        stats,
        Stats {
            sent: 3,
            dropped: 0,
            connected: false
        }
    );
    let file = capture.stop();

    let yaml = dnstap_read(&file);
    assert_eq!(count(&yaml, "type: MESSAGE"), 3, "three frames:\n{yaml}");
    assert!(yaml.contains("identity: sekisho-test"), "{yaml}");
    assert!(yaml.contains("type: CLIENT_QUERY"), "{yaml}");
    assert!(yaml.contains("type: CLIENT_RESPONSE"), "{yaml}");
    assert!(yaml.contains("type: RESOLVER_QUERY"), "{yaml}");
    assert!(yaml.contains("query_address: \"192.0.2.10\""), "{yaml}");
    assert!(yaml.contains("query_port: 40000"), "{yaml}");
    assert!(
        yaml.contains("response_address: \"198.51.100.7\""),
        "{yaml}"
    );
    assert!(yaml.contains("www.example.com"), "{yaml}");
    assert!(yaml.contains("bad.example.net"), "{yaml}");
    assert!(yaml.contains("NXDOMAIN"), "{yaml}");
    assert!(
        yaml.contains("id: 4660") || yaml.contains("id:  4660"),
        "{yaml}"
    );

    let ldns = dnstap_ldns(&file);
    assert_eq!(count(&ldns, "type: MESSAGE"), 3, "three frames:\n{ldns}");
    assert!(ldns.contains("type: CLIENT_QUERY"), "{ldns}");
    assert!(ldns.contains("type: CLIENT_RESPONSE"), "{ldns}");
    assert!(ldns.contains("query_address: \"192.0.2.10\""), "{ldns}");
    assert!(ldns.contains("www.example.com."), "{ldns}");
    assert!(ldns.contains("query_zone: \"example.net.\""), "{ldns}");

    // Neither reader prints Dnstap.extra or Message.policy (dnstap-ldns
    // 0.2.1 and BIND 9.18 know only identity, version and message), so the
    // raw frames are checked with fstrm_dump, which prints payload bytes
    // with printable runs as text.
    let dump = run_reader(
        Command::new("fstrm_dump").arg(&file),
        "fstrm_dump (fstrm-bin)",
    );
    // One line per data frame on stdout (the headers go to stderr).
    assert_eq!(dump.lines().count(), 3, "{dump}");
    let extra = "rpz zone=rpz.local rule=bad.example.net.rpz.local. trigger=QNAME \
                 action=NXDOMAIN value=bad.example.net. client=k:3fa2";
    // Field 3 (key 0x1a), length 117 ('u'), then the text.
    assert_eq!(extra.len(), 117);
    assert!(
        dump.contains(&format!("\\x1au{extra}")),
        "extra in the frame:\n{dump}"
    );
    // Message field 15 (key 0x7a 'z'), then Policy.type = "RPZ" (0a 03 RPZ)
    // and Policy.rule (key 0x12, 27 bytes) = the rule owner in wire format.
    assert!(
        dump.contains("\\x0a\\x03RPZ\\x12\\x1b\\x03bad\\x07example\\x03net\\x03rpz\\x05local\\x00"),
        "policy in the frame:\n{dump}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tcp_frames_reach_fstrm_capture_and_read_back() {
    let dir = temp_dir("tcp");
    let port = free_port(41000);
    let port_arg = port.to_string();
    let capture = Capture::start(
        &["-a", "127.0.0.1", "-p", &port_arg],
        &dir.join("out.fstrm"),
    );
    // fstrm_capture listens shortly after it starts; the writer's backoff
    // retries (1 s, 2 s ...) until it does.
    let tap = Dnstap::start(config(Destination::Tcp(SocketAddr::from((
        Ipv4Addr::LOCALHOST,
        port,
    )))))
    .expect("start");
    wait_for("connection", Duration::from_secs(10), || {
        tap.stats().connected
    });

    let q = query(0x0b0b, "tcp.example.org");
    tap.send(&client_query(Transport::Tcp, &q));
    tap.shutdown(Duration::from_secs(5));
    assert_eq!(tap.stats().sent, 1);
    assert_eq!(tap.stats().dropped, 0);
    let file = capture.stop();

    let yaml = dnstap_read(&file);
    assert_eq!(count(&yaml, "type: MESSAGE"), 1, "{yaml}");
    assert!(yaml.contains("type: CLIENT_QUERY"), "{yaml}");
    assert!(yaml.contains("socket_protocol: TCP"), "{yaml}");
    assert!(yaml.contains("tcp.example.org"), "{yaml}");
    let ldns = dnstap_ldns(&file);
    assert!(ldns.contains("tcp.example.org."), "{ldns}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn frames_are_dropped_while_no_collector_listens_and_output_resumes_by_itself() {
    let dir = temp_dir("absent");
    let sock = dir.join("dnstap.sock");
    let tap = Dnstap::start(config(Destination::Unix(sock.clone()))).expect("start");

    let lost = query(0x0001, "lost.example");
    for _ in 0..20 {
        tap.send(&client_query(Transport::Udp, &lost));
    }
    // The writer takes them off the queue while it waits to retry, and
    // counts each as dropped.
    wait_for("20 drops", Duration::from_secs(5), || {
        tap.stats().dropped == 20
    });
    assert_eq!(tap.stats().sent, 0);
    assert!(!tap.stats().connected);

    let capture = Capture::unix(&sock, &dir.join("out.fstrm"));
    wait_for("reconnection", Duration::from_secs(10), || {
        tap.stats().connected
    });
    let kept = query(0x0002, "kept.example");
    for _ in 0..5 {
        tap.send(&client_query(Transport::Udp, &kept));
    }
    tap.shutdown(Duration::from_secs(5));
    assert_eq!(
        tap.stats(),
        Stats {
            sent: 5,
            dropped: 20,
            connected: false
        }
    );
    let file = capture.stop();
    let yaml = dnstap_read(&file);
    assert_eq!(
        count(&yaml, "kept.example"),
        5 * 2,
        "question in data and text:\n{yaml}"
    );
    assert!(!yaml.contains("lost.example"), "{yaml}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_restarted_collector_gets_output_again() {
    let dir = temp_dir("restart");
    let sock = dir.join("dnstap.sock");
    let first = Capture::unix(&sock, &dir.join("first.fstrm"));
    let tap = Dnstap::start(config(Destination::Unix(sock.clone()))).expect("start");
    wait_for("connection", Duration::from_secs(10), || {
        tap.stats().connected
    });
    let one = query(0x0101, "one.example");
    tap.send(&client_query(Transport::Udp, &one));
    wait_for("first frame sent", Duration::from_secs(5), || {
        tap.stats().sent == 1
    });

    let first_file = first.stop();
    // The writer notices the closed connection while idle.
    wait_for("loss noticed", Duration::from_secs(5), || {
        !tap.stats().connected
    });

    let second = Capture::unix(&sock, &dir.join("second.fstrm"));
    wait_for("reconnection", Duration::from_secs(10), || {
        tap.stats().connected
    });
    let two = query(0x0202, "two.example");
    tap.send(&client_query(Transport::Udp, &two));
    tap.shutdown(Duration::from_secs(5));
    assert_eq!(tap.stats().sent, 2);
    let second_file = second.stop();

    let yaml = dnstap_read(&first_file);
    assert!(yaml.contains("one.example"), "{yaml}");
    let yaml = dnstap_read(&second_file);
    assert_eq!(count(&yaml, "type: MESSAGE"), 1, "{yaml}");
    assert!(yaml.contains("two.example"), "{yaml}");
    let _ = std::fs::remove_dir_all(dir);
}
