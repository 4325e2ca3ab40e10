//! The syslog destination of a `HitLog`: RFC 5424 datagrams to a Unix
//! datagram socket and to UDP, read back and parsed here.

mod common;
use common::wait_until;

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sekisho_hitlog::{Destination, HitLog, SyslogTarget};

/// A fresh directory for one test: temp dir, process id and test name.
fn test_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sekisho-hitlog-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create the test directory");
    d
}

/// The fields of an RFC 5424 message as this crate writes them.
#[derive(Debug)]
struct Parsed {
    pri: u16,
    version: String,
    timestamp: String,
    hostname: String,
    app_name: String,
    procid: String,
    msgid: String,
    structured_data: String,
    msg: String,
}

/// Splits `<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP
/// MSGID SP SD SP MSG`.
fn parse(datagram: &[u8]) -> Parsed {
    let text = std::str::from_utf8(datagram).expect("UTF-8 datagram");
    let rest = text.strip_prefix('<').expect("starts with <PRI>");
    let (pri, rest) = rest.split_once('>').expect("PRI closed by >");
    let mut f = rest.splitn(8, ' ');
    let mut next = || f.next().expect("a header field").to_owned();
    Parsed {
        pri: pri.parse().expect("numeric PRI"),
        version: next(),
        timestamp: next(),
        hostname: next(),
        app_name: next(),
        procid: next(),
        msgid: next(),
        structured_data: next(),
        msg: next(),
    }
}

/// Checks the header fields every datagram of these tests carries.
fn check_header(p: &Parsed, pri: u16, app: &str) {
    assert_eq!(p.pri, pri);
    assert_eq!(p.version, "1");
    // 2026-12-06T22:01:37.123Z
    let t = p.timestamp.as_bytes();
    assert_eq!(t.len(), 24, "{}", p.timestamp);
    assert_eq!(
        (t[4], t[7], t[10], t[13], t[16], t[19], t[23]),
        (b'-', b'-', b'T', b':', b':', b'.', b'Z')
    );
    assert!(p.timestamp[..4].parse::<u32>().expect("year") >= 2024);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let host = if host.is_empty() {
        "-".to_owned()
    } else {
        host
    };
    assert_eq!(p.hostname, host);
    assert_eq!(p.app_name, app);
    assert_eq!(p.procid, std::process::id().to_string());
    assert_eq!(p.msgid, "-");
    assert_eq!(p.structured_data, "-");
}

#[test]
fn unix_socket_gets_one_rfc5424_datagram_per_line() {
    let dir = test_dir("syslog-unix");
    let sock_path = dir.join("log.sock");
    let receiver = UnixDatagram::bind(&sock_path).expect("bind the receiver");
    receiver
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let log = HitLog::start(
        Destination::Syslog {
            target: SyslogTarget::Unix(sock_path.clone()),
            facility: 16,
            app_name: "sekisho-rpz".to_owned(),
        },
        16,
    );
    let line = r#"{"zone":"rpz.example","qname":"bad example"}"#;
    log.write(line.to_owned());
    log.write("second".to_owned());
    let mut buf = [0u8; 4096];
    let n = receiver.recv(&mut buf).expect("first datagram");
    let p = parse(&buf[..n]);
    check_header(&p, 16 * 8 + 6, "sekisho-rpz");
    assert_eq!(p.msg, line);
    let n = receiver.recv(&mut buf).expect("second datagram");
    assert_eq!(parse(&buf[..n]).msg, "second");
    log.shutdown(Duration::from_secs(5));
    let s = log.stats();
    assert_eq!((s.written, s.dropped, s.healthy), (2, 0, true));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn udp_receiver_gets_one_rfc5424_datagram_per_line() {
    // Port 0: the system picks a free port, so parallel runs cannot clash.
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind the receiver");
    receiver
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let addr = receiver.local_addr().expect("receiver address");
    let log = HitLog::start(
        Destination::Syslog {
            target: SyslogTarget::Udp(addr),
            facility: 3,
            app_name: "sekisho with spaces".to_owned(),
        },
        16,
    );
    log.write("client 10.0.0.0#0 (bad.example): rpz QNAME NXDOMAIN rewrite".to_owned());
    let mut buf = [0u8; 4096];
    let n = receiver.recv(&mut buf).expect("a datagram");
    let p = parse(&buf[..n]);
    // APP-NAME may hold no spaces (RFC 5424 §6: PRINTUSASCII).
    check_header(&p, 3 * 8 + 6, "sekishowithspaces");
    assert_eq!(
        p.msg,
        "client 10.0.0.0#0 (bad.example): rpz QNAME NXDOMAIN rewrite"
    );
    log.shutdown(Duration::from_secs(5));
    assert_eq!(log.stats().written, 1);
}

#[test]
fn a_missing_syslog_socket_drops_lines_until_it_appears() {
    let dir = test_dir("syslog-missing");
    let sock_path = dir.join("log.sock");
    let log = HitLog::start(
        Destination::Syslog {
            target: SyslogTarget::Unix(sock_path.clone()),
            facility: 16,
            app_name: "sekisho".to_owned(),
        },
        16,
    );
    log.write("lost".to_owned());
    assert!(wait_until(Duration::from_secs(5), || {
        let s = log.stats();
        !s.healthy && s.dropped == 1
    }));
    let receiver = UnixDatagram::bind(&sock_path).expect("bind the receiver");
    receiver
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("read timeout");
    // Retried at most once a second: keep writing until a line gets through.
    let mut buf = [0u8; 4096];
    let mut got = None;
    let mut i = 0;
    let resumed = wait_until(Duration::from_secs(10), || {
        log.write(format!("kept-{i}"));
        i += 1;
        if let Ok(n) = receiver.recv(&mut buf) {
            got = Some(parse(&buf[..n]).msg);
        }
        got.is_some()
    });
    assert!(resumed, "{:?}", log.stats());
    assert!(got.is_some_and(|m| m.starts_with("kept-")));
    assert!(wait_until(Duration::from_secs(5), || log.stats().healthy));
    log.shutdown(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn udp_to_a_closed_port_does_not_flap() {
    // A port that was just free: nobody listens there now.
    let addr = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port");
    let log = HitLog::start(
        Destination::Syslog {
            target: SyslogTarget::Udp(addr),
            facility: 16,
            app_name: "sekisho".to_owned(),
        },
        16,
    );
    // ICMP port unreachable must not turn the log unhealthy once a second.
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_millis(1500) {
        log.write(format!("line-{n}"));
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
        assert!(log.stats().healthy, "after {n} lines: {:?}", log.stats());
    }
    log.shutdown(Duration::from_secs(5));
    assert_eq!(log.stats().written, n);
}
