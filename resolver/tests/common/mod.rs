//! Test harness: real peers (NSD, Unbound, BIND) and the real `sekisho`
//! binary, each started on its own loopback address by the test itself and
//! killed when its guard drops, even when the test fails.
//!
//! Every test picks addresses of its own in 127.0.0.0/8 so tests can run in
//! parallel. A peer that is not installed fails the test with a message
//! saying which Debian package to install: CI installs them (.ci/run).

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

/// A scratch directory for one test, removed on success.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(test: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("sekisho-test-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create scratch dir");
        Scratch { path }
    }

    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        self.file_bytes(name, content.as_bytes())
    }

    pub fn file_bytes(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, content).expect("write scratch file");
        p
    }
}

impl Drop for Scratch {
    /// Declared first in a test, the scratch directory is dropped last,
    /// after the peers that wrote into it; it is kept when the test failed,
    /// for its logs.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A child process killed on drop.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Start `cmd` with stdout+stderr to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("clone log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({e}); install it: apt-get install bind9 unbound nsd dnsutils"));
        Proc {
            name: name.into(),
            child,
            log,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then wait up to 5 s, then SIGKILL. Returns the exit status code if any.
    pub fn stop(&mut self) -> Option<i32> {
        let pid = self.child.id();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().ok().and_then(|s| s.code())
    }

    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Add `ip/32` to lo (BIND binds only configured addresses). Needs root;
/// an address already present is fine.
pub fn add_loopback(ip: &str) {
    let _ = Command::new("ip")
        .args(["addr", "add", &format!("{ip}/32"), "dev", "lo"])
        .stderr(Stdio::null())
        .status();
}

/// Wait until something answers DNS over UDP at `addr`.
pub fn wait_dns(addr: SocketAddr, name: &str, limit: Duration) {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if query_udp_from(
            None,
            addr,
            name,
            RecordType::SOA,
            None,
            Duration::from_millis(200),
        )
        .is_some()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing answers DNS on {addr} after {limit:?}");
}

/// Wait until a TCP port accepts.
pub fn wait_tcp(addr: SocketAddr, limit: Duration) {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing accepts TCP on {addr} after {limit:?}");
}

/// Build a query message.
pub fn make_query(name: &str, rtype: RecordType, edns: Option<u16>) -> Message {
    let mut m = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), rtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m
}

/// A random message ID, so that an answer to another query (or a server
/// that does not echo the ID) is caught by [`check_reply`].
pub fn rand_id() -> u16 {
    rand::random()
}

/// Panics unless `reply` answers `query`: the same ID, QR set, and the same
/// single question (the name compared without regard to case, as a server
/// may restore the client's 0x20 case or not; type and class exactly).
pub fn check_reply(query: &Message, reply: &Message) {
    assert_eq!(
        reply.metadata.id, query.metadata.id,
        "reply ID {} does not match query ID {} (question {:?})",
        reply.metadata.id, query.metadata.id, query.queries
    );
    assert_eq!(
        reply.metadata.message_type,
        MessageType::Response,
        "reply to ID {} has QR=0",
        query.metadata.id
    );
    let same = reply.queries.len() == query.queries.len()
        && reply.queries.iter().zip(&query.queries).all(|(r, q)| {
            r.name().to_lowercase() == q.name().to_lowercase()
                && r.query_type() == q.query_type()
                && r.query_class() == q.query_class()
        });
    assert!(
        same,
        "reply question {:?} does not match query question {:?}",
        reply.queries, query.queries
    );
}

/// Send one UDP query (from `src` if given) and parse the answer.
pub fn query_udp_from(
    src: Option<IpAddr>,
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    edns: Option<u16>,
    timeout: Duration,
) -> Option<Message> {
    let m = make_query(name, rtype, edns);
    let bytes = m.to_vec().ok()?;
    let reply =
        exchange_udp(src, server, &bytes, timeout).and_then(|r| Message::from_vec(&r).ok())?;
    check_reply(&m, &reply);
    Some(reply)
}

/// Send raw bytes over UDP and return the raw answer.
pub fn exchange_udp(
    src: Option<IpAddr>,
    server: SocketAddr,
    bytes: &[u8],
    timeout: Duration,
) -> Option<Vec<u8>> {
    let bind: SocketAddr = match (src, server.ip()) {
        (Some(ip), _) => SocketAddr::new(ip, 0),
        (None, IpAddr::V4(_)) => "127.0.0.1:0".parse().ok()?,
        (None, IpAddr::V6(_)) => "[::1]:0".parse().ok()?,
    };
    let sock = UdpSocket::bind(bind).ok()?;
    sock.set_read_timeout(Some(timeout)).ok()?;
    // Connected: only datagrams from `server` are received.
    sock.connect(server).ok()?;
    sock.send(bytes).ok()?;
    let mut buf = vec![0u8; 65535];
    let n = sock.recv(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// A UDP query expected to be answered.
pub fn query(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    query_udp_from(
        None,
        server,
        name,
        rtype,
        Some(1232),
        Duration::from_secs(5),
    )
    .unwrap_or_else(|| panic!("no answer from {server} for {name} {rtype}"))
}

/// One query over TCP.
pub fn query_tcp(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let m = make_query(name, rtype, Some(1232));
    let mut s = TcpStream::connect_timeout(&server, Duration::from_secs(2)).expect("tcp connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write_frame(&mut s, &m.to_vec().expect("encode"));
    let reply = Message::from_vec(&read_frame(&mut s).expect("tcp answer")).expect("decode");
    check_reply(&m, &reply);
    reply
}

pub fn write_frame(s: &mut TcpStream, bytes: &[u8]) {
    let mut f = (bytes.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(bytes);
    s.write_all(&f).expect("tcp write");
}

pub fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// NSD serving `zones` (name, file) on ip@port.
pub fn start_nsd(dir: &Path, ip: &str, port: u16, zones: &[(&str, &Path)]) -> Proc {
    let d = dir.join(format!("nsd-{ip}"));
    std::fs::create_dir_all(&d).expect("nsd dir");
    let mut conf = format!(
        "server:\n  ip-address: {ip}@{port}\n  server-count: 1\n  username: \"\"\n  chroot: \"\"\n  database: \"\"\n  zonesdir: \"{d}\"\n  zonelistfile: \"{d}/zone.list\"\n  xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  verbosity: 1\n  tcp-count: 64\nremote-control:\n  control-enable: no\n",
        d = d.display()
    );
    for (name, file) in zones {
        conf.push_str(&format!(
            "zone:\n  name: \"{name}\"\n  zonefile: \"{}\"\n",
            file.display()
        ));
    }
    let cf = d.join("nsd.conf");
    std::fs::write(&cf, conf).expect("nsd.conf");
    let p = Proc::spawn(
        "nsd",
        Command::new("nsd").arg("-d").arg("-c").arg(&cf),
        d.join("nsd.log"),
    );
    wait_dns(
        format!("{ip}:{port}").parse().expect("addr"),
        zones[0].0,
        Duration::from_secs(10),
    );
    p
}

/// TLS material made by openssl for a test: CA and a server cert for `name` and `ip`.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn make_certs(dir: &Path, name: &str, ip: &str) -> Certs {
    let run = |args: &[&str]| {
        let st = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl installed");
        assert!(st.success(), "openssl {args:?} failed");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "3650",
        "-subj",
        "/CN=Sekisho Test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "dot.key",
        "-out",
        "dot.csr",
        "-subj",
        &format!("/CN={name}"),
    ]);
    std::fs::write(dir.join("ext.cnf"), format!("subjectAltName=DNS:{name},IP:{ip}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")).expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "dot.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "dot.pem",
        "-days",
        "3650",
        "-extfile",
        "ext.cnf",
    ]);
    Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("dot.pem"),
        key: dir.join("dot.key"),
    }
}

/// What an Unbound started by a test listens with on its address and port.
#[derive(Clone, Copy)]
pub enum UnboundListener<'a> {
    /// Plain DNS over UDP and TCP.
    Plain,
    /// DNS over TLS (`tls-port`).
    Tls(&'a Certs),
    /// DNS over HTTPS (`https-port`, HTTP/2 at `/dns-query`), with a control
    /// socket so the test can read `num.query.https` ([`unbound_stat`]).
    Https(&'a Certs),
}

/// Unbound on ip@port (plain) or with a DoT listener, resolving `stub_zone`
/// from `stub_addr`, logging every query it receives.
pub fn start_unbound(
    dir: &Path,
    ip: &str,
    port: u16,
    tls: Option<&Certs>,
    stub_zone: &str,
    stub_addr: &str,
) -> Proc {
    let listener = match tls {
        Some(c) => UnboundListener::Tls(c),
        None => UnboundListener::Plain,
    };
    start_unbound_on(dir, ip, port, listener, stub_zone, stub_addr)
}

/// Unbound on ip@port with `listener`, resolving `stub_zone` from
/// `stub_addr`, logging every query it receives.
pub fn start_unbound_on(
    dir: &Path,
    ip: &str,
    port: u16,
    listener: UnboundListener<'_>,
    stub_zone: &str,
    stub_addr: &str,
) -> Proc {
    let d = dir.join(format!("unbound-{ip}"));
    std::fs::create_dir_all(&d).expect("unbound dir");
    let keys = |c: &Certs| {
        format!(
            "  tls-service-key: \"{}\"\n  tls-service-pem: \"{}\"\n",
            c.key.display(),
            c.cert.display()
        )
    };
    let (tls_lines, control) = match listener {
        UnboundListener::Plain => (String::new(), String::new()),
        UnboundListener::Tls(c) => (format!("  tls-port: {port}\n{}", keys(c)), String::new()),
        UnboundListener::Https(c) => (
            format!(
                "  https-port: {port}\n  http-endpoint: \"/dns-query\"\n  extended-statistics: yes\n{}",
                keys(c)
            ),
            format!(
                "remote-control:\n  control-enable: yes\n  control-interface: \"{}/ctl.sock\"\n  control-use-cert: no\n",
                d.display()
            ),
        ),
    };
    let conf = format!(
        "server:\n  interface: {ip}@{port}\n{tls_lines}  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  use-syslog: no\n  logfile: \"\"\n  verbosity: 1\n  log-queries: yes\n  num-threads: 1\n  so-reuseport: no\n  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n  do-not-query-localhost: no\n  module-config: \"iterator\"\n  incoming-num-tcp: 64\n  msg-cache-size: 4m\n  rrset-cache-size: 4m\nstub-zone:\n  name: \"{stub_zone}\"\n  stub-addr: {stub_addr}\n{control}",
        d = d.display()
    );
    let p = spawn_unbound(&d, &conf);
    let addr: SocketAddr = format!("{ip}:{port}").parse().expect("addr");
    match listener {
        UnboundListener::Plain => wait_dns(addr, stub_zone, Duration::from_secs(10)),
        UnboundListener::Tls(_) | UnboundListener::Https(_) => {
            wait_tcp(addr, Duration::from_secs(10))
        }
    }
    p
}

/// One counter of `unbound-control stats_noreset` of the Unbound started
/// by [`start_unbound_on`] with a DoH listener on `ip` (0 when absent).
/// Unbound in the foreground with `conf` (written to `dir/unbound.conf`),
/// logging to `dir/unbound.log`. The caller waits for it to be ready.
pub fn spawn_unbound(dir: &Path, conf: &str) -> Proc {
    let cf = dir.join("unbound.conf");
    std::fs::write(&cf, conf).expect("unbound.conf");
    Proc::spawn(
        "unbound",
        Command::new("unbound").arg("-d").arg("-c").arg(&cf),
        dir.join("unbound.log"),
    )
}

pub fn unbound_stat(dir: &Path, ip: &str, key: &str) -> u64 {
    let cf = dir.join(format!("unbound-{ip}")).join("unbound.conf");
    let out = Command::new("unbound-control")
        .arg("-c")
        .arg(&cf)
        .arg("stats_noreset")
        .output()
        .expect("unbound-control runs (apt-get install unbound)");
    assert!(out.status.success(), "unbound-control: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Count query-log lines of an Unbound mentioning `name` (case-insensitive).
pub fn unbound_queries_for(p: &Proc, name: &str) -> usize {
    let needle = name.trim_end_matches('.').to_ascii_lowercase();
    p.log_text()
        .lines()
        .filter(|l| {
            l.contains(" info: ") && l.to_ascii_lowercase().contains(&format!(" {needle}. "))
        })
        .count()
}

/// The sekisho binary under test with a config written to the scratch dir.
pub fn start_sekisho(dir: &Path, tag: &str, config: &str, listen: SocketAddr) -> Proc {
    let cf = dir.join(format!("sekisho-{tag}.toml"));
    std::fs::write(&cf, config).expect("config");
    let p = Proc::spawn(
        "sekisho",
        Command::new(env!("CARGO_BIN_EXE_sekisho"))
            .arg("--config")
            .arg(&cf)
            .env("RUST_LOG", "info,sekisho=debug"),
        dir.join(format!("sekisho-{tag}.log")),
    );
    wait_tcp(listen, Duration::from_secs(10));
    p
}

/// Run sekishoctl against `socket`; returns (exit code, stdout, stderr).
/// A binary of another workspace package, built beside this test's own
/// (`target/<profile>/NAME`): `sekishoctl` lives in `sekisho-ctl`, which the
/// workspace build and test runs build with it.
pub fn sibling_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(name))
        .expect("target directory");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p sekisho-ctl` (the workspace test run does)",
        path.display()
    );
    path
}

pub fn ctl(socket: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(sibling_binary("sekishoctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .expect("sekishoctl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The test zone served by the authoritative peer.
pub fn example_zone(origin: &str) -> String {
    let big: String = (0..40)
        .map(|i| format!("big 300 IN TXT \"{:0>60}\"\n", i))
        .collect();
    format!(
        "$ORIGIN {origin}\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 60\n@ IN NS ns1\nns1 IN A 127.0.0.1\nwww IN A 192.0.2.1\nwww IN AAAA 2001:db8::1\nbad IN A 198.51.100.66\nshort 3 IN A 192.0.2.3\nalias IN CNAME www\nprobe IN A 192.0.2.99\n{big}"
    )
}

/// Poll `f` every 50 ms until it is true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// NSD serving `example1.jp.` (see [`example_zone`]) on `nsd_ip`:5353 and a
/// plain Unbound on `unbound_ip`:5353 resolving it: the upstream chain most
/// forwarding tests sit behind. Returns (nsd, unbound).
pub fn start_example_upstream(s: &Scratch, nsd_ip: &str, unbound_ip: &str) -> (Proc, Proc) {
    let zone = s.file("example1.jp.zone", &example_zone("example1.jp."));
    let nsd = start_nsd(&s.path, nsd_ip, 5353, &[("example1.jp.", &zone)]);
    let up = start_unbound(
        &s.path,
        unbound_ip,
        5353,
        None,
        "example1.jp.",
        &format!("{nsd_ip}@5353"),
    );
    (nsd, up)
}

/// A bare HTTP GET; returns the whole response (head and body).
/// The value of the first sample line of a metrics scrape that starts with
/// `prefix` (name and labels); panics when there is none.
pub fn metric_sample(body: &str, prefix: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in\n{body}"))
}

pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::Read;
    let mut c = TcpStream::connect(addr).expect("connect metrics");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // One request, then the server closes: reading to the end is the whole answer.
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut s = String::new();
    let _ = c.read_to_string(&mut s);
    s
}

/// The value of the sample of metric `name` whose labels include every
/// `key="value"` fragment of `labels` (label order does not matter);
/// `None` when no such series is exported.
pub fn metric_value(body: &str, name: &str, labels: &[&str]) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                && labels.iter().all(|frag| l.contains(frag))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// `sekisho_limit_drops_total{limit="LIMIT"}` scraped from the metrics
/// endpoint at `metrics` (0 when not exported).
pub fn limit_drops(metrics: &str, limit: &str) -> f64 {
    let body = http_get(metrics, "/metrics");
    metric_value(
        &body,
        "sekisho_limit_drops_total",
        &[&format!("limit=\"{limit}\"")],
    )
    .unwrap_or(0.0)
}

/// What [`Responder`] answers for one question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canned {
    /// NOERROR with one A record.
    A { addr: std::net::Ipv4Addr, ttl: u32 },
    /// NOERROR, no answer, the zone's SOA in AUTHORITY (RFC 2308 NODATA).
    NoData { soa_ttl: u32, minimum: u32 },
    /// NXDOMAIN, the zone's SOA in AUTHORITY.
    NxDomain { soa_ttl: u32, minimum: u32 },
    /// SERVFAIL, nothing else.
    ServFail,
    /// No answer at all.
    Silent,
    /// A referral: `zone` is delegated to the server `ns` at `addr` (NS in
    /// AUTHORITY, its A as glue), not authoritative.
    Referral {
        zone: &'static str,
        ns: &'static str,
        addr: std::net::Ipv4Addr,
    },
}

/// A tiny authoritative UDP server for one zone, run on a thread of the
/// test: it answers each question as its rule says, after the delay the
/// rule gives, and records every query it receives. Lets a test count what
/// reached the upstream, hold answers back, and see how many queries were
/// outstanding at once. Stops when dropped.
pub struct Responder {
    pub addr: SocketAddr,
    /// (lower-case name with the final dot, type) of every query received.
    log: std::sync::Arc<std::sync::Mutex<Vec<(String, RecordType)>>>,
    /// Most queries received and not yet answered at one time.
    max_pending: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Start a [`Responder`] on `addr` (UDP) for `zone`; `rule` maps a
/// lower-case query name (with the final dot) and type to the answer and
/// the delay before it is sent.
pub fn start_responder(
    addr: &str,
    zone: &str,
    rule: impl Fn(&str, RecordType) -> (Canned, Duration) + Send + 'static,
) -> Responder {
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::{RData, Record};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    let addr: SocketAddr = addr.parse().expect("responder address");
    let sock = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind responder {addr}: {e}"));
    sock.set_read_timeout(Some(Duration::from_millis(2)))
        .expect("timeout");
    let zone = Name::from_ascii(zone).expect("zone name");
    let log = Arc::new(Mutex::new(Vec::new()));
    let max_pending = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (l, m, st) = (log.clone(), max_pending.clone(), stop.clone());
    let thread = std::thread::spawn(move || {
        let soa = |ttl: u32, minimum: u32| {
            let s = SOA::new(
                Name::from_ascii("ns1")
                    .expect("n")
                    .append_domain(&zone)
                    .expect("n"),
                Name::from_ascii("hostmaster")
                    .expect("n")
                    .append_domain(&zone)
                    .expect("n"),
                1,
                3600,
                600,
                86400,
                minimum,
            );
            Record::from_rdata(zone.clone(), ttl, RData::SOA(s))
        };
        let mut pending: Vec<(Instant, Vec<u8>, SocketAddr)> = Vec::new();
        let mut buf = vec![0u8; 65535];
        while !st.load(Ordering::SeqCst) {
            if let Ok((n, peer)) = sock.recv_from(&mut buf) {
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let Some(question) = q.queries.first().cloned() else {
                    continue;
                };
                let qname = question.name().to_lowercase().to_ascii();
                let qtype = question.query_type();
                l.lock().expect("log").push((qname.clone(), qtype));
                let (canned, delay) = rule(&qname, qtype);
                let mut r = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
                r.metadata.recursion_desired = q.metadata.recursion_desired;
                r.metadata.recursion_available = true;
                r.metadata.authoritative = true;
                r.add_query(question.clone());
                match canned {
                    Canned::A { addr, ttl } => {
                        r.add_answer(Record::from_rdata(
                            question.name().clone(),
                            ttl,
                            RData::A(A(addr)),
                        ));
                    }
                    Canned::NoData { soa_ttl, minimum } => {
                        r.add_authorities([soa(soa_ttl, minimum)]);
                    }
                    Canned::NxDomain { soa_ttl, minimum } => {
                        r.metadata.response_code = ResponseCode::NXDomain;
                        r.add_authorities([soa(soa_ttl, minimum)]);
                    }
                    Canned::ServFail => {
                        r.metadata.authoritative = false;
                        r.metadata.response_code = ResponseCode::ServFail;
                    }
                    Canned::Silent => continue,
                    Canned::Referral { zone, ns, addr } => {
                        use hickory_proto::rr::rdata::NS;
                        r.metadata.authoritative = false;
                        let ns = Name::from_ascii(ns).expect("ns name");
                        r.add_authorities([Record::from_rdata(
                            Name::from_ascii(zone).expect("zone name"),
                            300,
                            RData::NS(NS(ns.clone())),
                        )]);
                        r.add_additionals([Record::from_rdata(ns, 300, RData::A(A(addr)))]);
                    }
                }
                pending.push((Instant::now() + delay, r.to_vec().expect("encode"), peer));
                m.fetch_max(pending.len(), Ordering::SeqCst);
            }
            let now = Instant::now();
            pending.retain(|(due, bytes, peer)| {
                if *due <= now {
                    let _ = sock.send_to(bytes, *peer);
                    false
                } else {
                    true
                }
            });
        }
    });
    Responder {
        addr,
        log,
        max_pending,
        stop,
        thread: Some(thread),
    }
}

impl Responder {
    /// Queries received for `name` (any type; case-insensitive, final dot optional).
    pub fn count(&self, name: &str) -> usize {
        let want = format!("{}.", name.trim_end_matches('.').to_ascii_lowercase());
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|(n, _)| *n == want)
            .count()
    }

    /// Queries received in all.
    pub fn total(&self) -> usize {
        self.log.lock().expect("log").len()
    }

    /// The most queries that were received and not yet answered at one time.
    pub fn max_pending(&self) -> usize {
        self.max_pending.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The INFO-CODE of the first EDE option in the OPT record of `raw`.
pub fn ede_code(raw: &[u8]) -> Option<u16> {
    fn skip_name(p: &[u8], mut i: usize) -> Option<usize> {
        loop {
            let l = *p.get(i)?;
            if l & 0xc0 == 0xc0 {
                return Some(i + 2);
            }
            i += 1 + usize::from(l);
            if l == 0 {
                return Some(i);
            }
        }
    }
    let count = |i: usize| usize::from(u16::from_be_bytes([raw[i], raw[i + 1]]));
    let (qd, rest) = (count(4), count(6) + count(8) + count(10));
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(raw, i)? + 4;
    }
    for _ in 0..rest {
        i = skip_name(raw, i)?;
        let t = u16::from_be_bytes([raw[i], raw[i + 1]]);
        let rdlen = count(i + 8);
        let rdata = raw.get(i + 10..i + 10 + rdlen)?;
        i += 10 + rdlen;
        if t == 41 {
            let mut j = 0;
            while j + 4 <= rdata.len() {
                let code = u16::from_be_bytes([rdata[j], rdata[j + 1]]);
                let len = usize::from(u16::from_be_bytes([rdata[j + 2], rdata[j + 3]]));
                if code == 15 && len >= 2 {
                    return Some(u16::from_be_bytes([rdata[j + 4], rdata[j + 5]]));
                }
                j += 4 + len;
            }
        }
    }
    None
}

/// Root hints naming one root server, `a.root.test.` at `root` (a test's
/// responder on port 53), written to the scratch directory.
pub fn root_hints(s: &Scratch, root: &str) -> PathBuf {
    s.file(
        "root.hints",
        &format!(". 3600 IN NS a.root.test.\na.root.test. 3600 IN A {root}\n"),
    )
}

/// A responder rule: A `addr` (TTL `ttl`) for every name ending in `suffix`,
/// NODATA for the rest (so the minimised probes above find no zone cut).
pub fn a_under(
    suffix: &'static str,
    addr: &'static str,
    ttl: u32,
) -> impl Fn(&str, RecordType) -> (Canned, Duration) + Send + 'static {
    move |name, qtype| {
        let canned = if qtype == RecordType::A && name.ends_with(suffix) {
            Canned::A {
                addr: addr.parse().expect("ip"),
                ttl,
            }
        } else {
            Canned::NoData {
                soa_ttl: 300,
                minimum: 300,
            }
        };
        (canned, Duration::ZERO)
    }
}

/// A sekisho that resolves from the root (no forward zone) with `root_hints`,
/// DNSSEC validation off.
pub fn recursive_config(s: &Scratch, tag: &str, listen: &str, root_hints: &Path) -> String {
    format!(
        r#"[server]
listen = ["{listen}"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{dir}"
root-hints = "{hints}"

[dnssec]
validation = "no"

[control]
socket = "{dir}/control-{tag}.sock"

[metrics]
listen = "none"
"#,
        dir = s.path.display(),
        hints = root_hints.display()
    )
}
