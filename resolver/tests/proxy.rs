//! Sekisho behind a real dnsdist that speaks the PROXY protocol v2
//! (`useProxyProtocol=true`) to two instances, each with
//! `proxy-protocol-from` naming dnsdist: the client address in the header is
//! the client for policy (a client-IP trigger) and the access lists, over
//! UDP and TCP; a PROXY header from any other sender is dropped and counted.
//! Each test owns 127.0.180.0/24 and 127.0.181.0/24.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::rr::RecordType;
use sekisho_wire::proxy::{encode, Transport};

/// dnsdist's listen address and its source address towards the instances.
const DNSDIST: &str = "127.0.180.1";
/// The two Sekisho instances.
const INSTANCES: [&str; 2] = ["127.0.180.2", "127.0.180.3"];
/// The client the policy zone's client-IP trigger names.
const LISTED: &str = "127.0.180.77";
/// A client no rule names.
const OTHER: &str = "127.0.180.78";
/// A client outside `allow-query`.
const OUTSIDER: &str = "127.0.181.5";
/// A sender not in `proxy-protocol-from` that writes PROXY headers anyway.
const STRANGER: &str = "127.0.180.99";
/// The port every server listens on.
const PORT: u16 = 5300;

/// The policy zone: local data for `probe.example.` and the health-check
/// name, and NXDOMAIN for everything `LISTED` asks.
const ZONE: &str =
    "$TTL 300\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n@ NS localhost.\n\
probe.example A 192.0.2.1\ncheck.example A 192.0.2.53\n32.77.180.0.127.rpz-client-ip CNAME .\n";

/// The Sekisho configuration of instance `ip`.
fn sekisho_config(s: &Scratch, ip: &str) -> String {
    format!(
        r#"[server]
listen = ["{ip}:{PORT}"]
allow-query = ["127.0.180.0/24"]
allow-recursion = ["127.0.180.0/24"]
directory = "{d}"
proxy-protocol-from = ["{DNSDIST}/32"]
[dnssec]
validation = "no"
[[response-policy.zone]]
name = "block."
file = "block.rpz"
[control]
socket = "{d}/control-{ip}.sock"
[metrics]
listen = "{ip}:9153"
"#,
        d = s.path.display(),
    )
}

/// The dnsdist configuration: both instances with the PROXY protocol, from
/// dnsdist's own address, health-checked with a name the policy zone answers.
fn dnsdist_config() -> String {
    let mut c = format!(
        "setSecurityPollSuffix(\"\")\nsetLocal(\"{DNSDIST}:{PORT}\")\nsetServerPolicy(roundrobin)\n"
    );
    for (i, ip) in INSTANCES.iter().enumerate() {
        c.push_str(&format!(
            "newServer({{address=\"{ip}:{PORT}\", name=\"sekisho{i}\", source=\"{DNSDIST}\", useProxyProtocol=true, checkName=\"check.example.\"}})\n"
        ));
    }
    c
}

/// `dig` through dnsdist from `client`; its whole output.
fn dig(client: &str, name: &str, tcp: bool) -> String {
    let mut cmd = Command::new("dig");
    cmd.args(["-b", client, "@127.0.180.1", "-p", "5300", name, "A"])
        .args(["+time=3", "+tries=1"]);
    if tcp {
        cmd.arg("+tcp");
    }
    let out = cmd
        .output()
        .expect("dig runs (apt-get install bind9-dnsutils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The instances' `sekisho_queries_total` for `proto`, summed over the series.
fn queries(metrics: &str, proto: &str) -> f64 {
    http_get(metrics, "/metrics")
        .lines()
        .filter(|l| {
            l.starts_with("sekisho_queries_total{") && l.contains(&format!("proto=\"{proto}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A TCP connection to `to` from the address `from`.
fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.bind(&SocketAddr::new(from.parse().expect("ip"), 0).into())
        .expect("bind");
    sock.connect_timeout(&to.into(), Duration::from_secs(2))
        .expect("connect");
    sock.into()
}

/// A query for `probe.example.` behind a PROXY header naming `LISTED`.
fn proxied_query(transport: Transport, to: SocketAddr) -> Vec<u8> {
    let mut bytes = encode(
        SocketAddr::new(LISTED.parse().expect("ip"), 4242),
        to,
        transport,
    );
    let q = make_query("probe.example.", RecordType::A, Some(1232))
        .to_vec()
        .expect("encode");
    if transport == Transport::Stream {
        bytes.extend_from_slice(&(q.len() as u16).to_be_bytes());
    }
    bytes.extend_from_slice(&q);
    bytes
}

#[test]
fn client_ip_policy_applies_through_dnsdist_and_strangers_headers_are_dropped() {
    let s = Scratch::new("proxy-dnsdist");
    s.file("block.rpz", ZONE);
    let instances: Vec<Proc> = INSTANCES
        .iter()
        .map(|ip| {
            let listen: SocketAddr = format!("{ip}:{PORT}").parse().expect("addr");
            start_sekisho(&s.path, ip, &sekisho_config(&s, ip), listen)
        })
        .collect();
    let conf = s.file("dnsdist.conf", &dnsdist_config());
    let check = Command::new("dnsdist")
        .args(["--check-config", "-C"])
        .arg(&conf)
        .output()
        .expect("dnsdist runs (apt-get install dnsdist)");
    assert!(
        check.status.success(),
        "dnsdist refuses the configuration: {}",
        String::from_utf8_lossy(&check.stdout)
    );
    let dnsdist = Proc::spawn(
        "dnsdist",
        Command::new("dnsdist")
            .args(["--supervised", "--disable-syslog", "-C"])
            .arg(&conf),
        s.path.join("dnsdist.log"),
    );
    // Up once dnsdist answers (its health checks, LOCAL headers, have marked the instances up).
    assert!(
        eventually(Duration::from_secs(15), || dig(
            OTHER,
            "probe.example.",
            false
        )
        .contains("192.0.2.1")),
        "dnsdist never answered through the instances:\n{}\n{}",
        dnsdist.log_text(),
        instances[0].log_text()
    );

    // Over UDP and TCP, several times (round robin: both instances answer),
    // the listed client gets the client-IP rule's NXDOMAIN and another client
    // the local data; dnsdist's own address is in neither rule.
    for tcp in [false, true] {
        for _ in 0..4 {
            let listed = dig(LISTED, "probe.example.", tcp);
            assert!(
                listed.contains("status: NXDOMAIN"),
                "tcp={tcp}: the client-IP rule applies to {LISTED}:\n{listed}"
            );
            let other = dig(OTHER, "probe.example.", tcp);
            assert!(
                other.contains("status: NOERROR") && other.contains("192.0.2.1"),
                "tcp={tcp}: {OTHER} gets the local data:\n{other}"
            );
            // allow-query sees the carried client, not dnsdist's (allowed) address.
            let outsider = dig(OUTSIDER, "probe.example.", tcp);
            assert!(
                outsider.contains("status: REFUSED"),
                "tcp={tcp}: {OUTSIDER} is outside allow-query:\n{outsider}"
            );
        }
    }
    for ip in INSTANCES {
        let metrics = format!("{ip}:9153");
        assert!(queries(&metrics, "udp") > 0.0, "{ip} answered over UDP");
        assert!(queries(&metrics, "tcp") > 0.0, "{ip} answered over TCP");
        assert_eq!(
            limit_drops(&metrics, "proxy-protocol"),
            0.0,
            "dnsdist's headers are all taken"
        );
    }
    let log = instances[0].log_text() + &instances[1].log_text();
    assert!(
        log.contains(
            "CLIENT-IP NXDOMAIN rewrite probe.example/A/IN via 32.77.180.0.127.rpz-client-ip.block"
        ),
        "the policy log names the rule:\n{log}"
    );

    // A PROXY header straight from a sender not in proxy-protocol-from: the
    // datagram is dropped (it would have claimed to be LISTED), counted, and
    // the sender logged once, however many it sends.
    let target: SocketAddr = format!("{}:{PORT}", INSTANCES[0]).parse().expect("addr");
    let metrics = format!("{}:9153", INSTANCES[0]);
    let sock = UdpSocket::bind((STRANGER, 0)).expect("bind stranger");
    sock.set_read_timeout(Some(Duration::from_millis(700)))
        .expect("timeout");
    for _ in 0..3 {
        sock.send_to(&proxied_query(Transport::Dgram, target), target)
            .expect("send");
    }
    let mut buf = [0u8; 512];
    assert!(
        sock.recv_from(&mut buf).is_err(),
        "no answer to a stranger's header"
    );
    assert!(
        eventually(Duration::from_secs(2), || limit_drops(
            &metrics,
            "proxy-protocol"
        ) >= 3.0),
        "counted as proxy-protocol"
    );
    let engaged = instances[0]
        .log_text()
        .matches("limit engaged: PROXY header from an address not in proxy-protocol-from")
        .count();
    assert_eq!(engaged, 1, "logged once:\n{}", instances[0].log_text());
    // The same sender's plain DNS is served as always (it is in allow-query).
    let plain = query_udp_from(
        Some(STRANGER.parse::<IpAddr>().expect("ip")),
        target,
        "probe.example.",
        RecordType::A,
        Some(1232),
        Duration::from_secs(3),
    );
    assert!(plain.is_some(), "plain DNS from the stranger is answered");

    // Over TCP: a connection from the stranger that opens with a header is
    // closed at once, unanswered, and counted.
    let before = limit_drops(&metrics, "proxy-protocol");
    let mut c = connect_from(STRANGER, target);
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let started = Instant::now();
    c.write_all(&proxied_query(Transport::Stream, target))
        .expect("write");
    let mut answer = Vec::new();
    let _ = c.read_to_end(&mut answer);
    assert!(
        answer.is_empty(),
        "no answer to a stranger's header over TCP"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed at once, not after the idle timeout"
    );
    assert!(
        eventually(Duration::from_secs(2), || limit_drops(
            &metrics,
            "proxy-protocol"
        ) > before),
        "the connection is counted as proxy-protocol"
    );
    // Plain DNS over TCP from the same stranger is served as always.
    let mut c = connect_from(STRANGER, target);
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let q = make_query("probe.example.", RecordType::A, None);
    write_frame(&mut c, &q.to_vec().expect("encode"));
    assert!(
        read_frame(&mut c).is_some(),
        "plain TCP from the stranger is answered"
    );
    drop(dnsdist);
}

/// The load balancer of the direct test: the test itself, writing the headers.
const BALANCER: &str = "127.0.182.1";
/// The instance of the direct test.
const DIRECT: &str = "127.0.182.2";
/// The name the test certificate is made for.
const CERT_NAME: &str = "dot.test.invalid";

/// A rustls DoT client over `tcp` (on which a PROXY header may have gone
/// first), trusting `ca`; the handshake is done on return (`None`: it failed).
fn tls_over(
    tcp: TcpStream,
    ca: &std::path::Path,
) -> Option<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).expect("ca file") {
        roots.add(c.expect("ca pem")).expect("ca cert");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"dot".to_vec()];
    let name = ServerName::try_from(CERT_NAME).expect("server name");
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("client");
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).ok()?;
    }
    Some(stream)
}

/// One framed query for `probe.example.` on `stream`; the answer's RCODE and
/// first A record, or `None` when the connection gives no answer.
fn ask(
    stream: &mut (impl Read + Write),
) -> Option<(hickory_proto::op::ResponseCode, Option<String>)> {
    let q = make_query("probe.example.", RecordType::A, Some(1232));
    let bytes = q.to_vec().expect("encode");
    let mut frame = (bytes.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&bytes);
    stream.write_all(&frame).ok()?;
    stream.flush().ok()?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).ok()?;
    let m = hickory_proto::op::Message::from_vec(&buf).ok()?;
    check_reply(&q, &m);
    let a = m.answers.iter().find_map(|r| match &r.data {
        hickory_proto::rr::RData::A(a) => Some(a.0.to_string()),
        _ => None,
    });
    Some((m.metadata.response_code, a))
}

/// A connection from the load balancer to `to` that has sent a PROXY header naming `client`.
fn balanced(to: SocketAddr, client: &str) -> TcpStream {
    let mut c = connect_from(BALANCER, to);
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let header = encode(
        SocketAddr::new(client.parse().expect("ip"), 5555),
        to,
        Transport::Stream,
    );
    c.write_all(&header).expect("header");
    c
}

#[test]
fn a_load_balancers_tcp_and_dot_connections_are_served_for_the_client_their_header_names() {
    use hickory_proto::op::ResponseCode;
    let s = Scratch::new("proxy-direct");
    s.file("block.rpz", ZONE);
    let certs = make_certs(&s.path, CERT_NAME, DIRECT);
    let plain: SocketAddr = format!("{DIRECT}:{PORT}").parse().expect("addr");
    let tls: SocketAddr = format!("{DIRECT}:8853").parse().expect("addr");
    let metrics = format!("{DIRECT}:9153");
    let cfg = format!(
        r#"[server]
listen = ["{plain}"]
listen-tls = ["{tls}"]
tls-cert-file = "{cert}"
tls-key-file = "{key}"
allow-query = ["127.0.180.0/24", "127.0.182.0/24"]
allow-recursion = ["127.0.180.0/24", "127.0.182.0/24"]
directory = "{d}"
proxy-protocol-from = ["{BALANCER}"]
tcp-clients-per-ip = 1
[dnssec]
validation = "no"
[[response-policy.zone]]
name = "block."
file = "block.rpz"
[control]
socket = "{d}/control.sock"
[metrics]
listen = "{metrics}"
"#,
        cert = certs.cert.display(),
        key = certs.key.display(),
        d = s.path.display(),
    );
    let sk = start_sekisho(&s.path, "direct", &cfg, plain);

    // TCP: the client-IP rule follows the header's client, connection by connection.
    let mut listed = balanced(plain, LISTED);
    assert_eq!(
        ask(&mut listed),
        Some((ResponseCode::NXDomain, None)),
        "{}",
        sk.log_text()
    );
    let mut other = balanced(plain, OTHER);
    assert_eq!(
        ask(&mut other),
        Some((ResponseCode::NoError, Some("192.0.2.1".into())))
    );
    // tcp-clients-per-ip = 1 counts the header's clients, not the load
    // balancer: two connections from it are open, and a second one for
    // LISTED is closed.
    let before = limit_drops(&metrics, "tcp-clients-per-ip");
    let mut again = balanced(plain, LISTED);
    assert_eq!(ask(&mut again), None, "LISTED is at its cap");
    assert!(limit_drops(&metrics, "tcp-clients-per-ip") > before);
    // Later queries on the open connections keep their client.
    assert_eq!(ask(&mut listed), Some((ResponseCode::NXDomain, None)));
    drop((listed, other, again));

    // DoT: the header before the TLS handshake, as dnsdist sends it. (Retried
    // while the closed connections above still hold the clients' one place.)
    let over_tls = |client: &str| {
        let mut dot = tls_over(balanced(tls, client), &certs.ca)?;
        ask(&mut dot)
    };
    assert!(
        eventually(Duration::from_secs(3), || over_tls(LISTED)
            == Some((ResponseCode::NXDomain, None))),
        "DoT for the listed client gets the rule's NXDOMAIN"
    );
    assert!(
        eventually(Duration::from_secs(3), || over_tls(OTHER)
            == Some((ResponseCode::NoError, Some("192.0.2.1".into())))),
        "DoT for another client gets the local data"
    );
    // A health check's LOCAL header: the load balancer itself is the client.
    let mut local = connect_from(BALANCER, plain);
    local
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    local
        .write_all(&sekisho_wire::proxy::encode_local())
        .expect("header");
    assert_eq!(
        ask(&mut local),
        Some((ResponseCode::NoError, Some("192.0.2.1".into())))
    );
    drop(local);

    // From the load balancer, no header: the connection is closed and the
    // datagram dropped, both counted.
    assert_eq!(limit_drops(&metrics, "proxy-protocol"), 0.0);
    let mut bare = connect_from(BALANCER, plain);
    bare.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    assert_eq!(ask(&mut bare), None, "no answer without a header");
    let udp = query_udp_from(
        Some(BALANCER.parse().expect("ip")),
        plain,
        "probe.example.",
        RecordType::A,
        None,
        Duration::from_millis(700),
    );
    assert!(
        udp.is_none(),
        "no answer to a bare datagram from the load balancer"
    );
    assert!(
        eventually(Duration::from_secs(2), || limit_drops(
            &metrics,
            "proxy-protocol"
        ) >= 2.0),
        "both counted"
    );
    // Over UDP with a header, the carried client again.
    let sock = UdpSocket::bind((BALANCER, 0)).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    sock.send_to(&proxied_query(Transport::Dgram, plain), plain)
        .expect("send");
    let mut buf = [0u8; 1232];
    let (n, from) = sock
        .recv_from(&mut buf)
        .expect("answer to the load balancer");
    assert_eq!(from, plain);
    let m = hickory_proto::op::Message::from_vec(&buf[..n]).expect("decode");
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
}
