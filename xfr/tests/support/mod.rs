//! A real BIND 9.18 `named` as a TSIG-signed primary, started per test on
//! 127.0.41.1 (an address reserved for the xfr tests) and killed by a Drop guard.
//!
//! BIND only listens on
//! addresses that exist on an interface, so the address is added to `lo` first
//! (tests run as root; "File exists" is fine). If `named` is missing the tests
//! fail with a clear message: CI installs bind9, and a silent skip would hide it.

#![allow(dead_code, unreachable_pub)]

use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use hickory_proto::rr::rdata::{A, CNAME, MX, SOA};
use hickory_proto::rr::{Name, RData, Record};
use sekisho_xfr::{query_soa, Serial, TsigAlgorithm, TsigKey};

/// The loopback address of the xfr interop tests.
pub const ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 41, 1);

/// Where named lives on Debian.
const NAMED: &str = "/usr/sbin/named";

/// The zone every test transfers.
pub fn zone() -> Name {
    Name::from_ascii("zone.xfr.test.").expect("zone name")
}

/// The first serial of the test zone.
pub const SERIAL: u32 = 2026112201;

/// The key name BIND knows for `alg`.
pub fn key_name(alg: TsigAlgorithm) -> Name {
    Name::from_ascii(format!("k-{}.", alg.as_str())).expect("key name")
}

/// Standard base64 (RFC 4648 section 4), for BIND's `secret` statement.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The zone's records for version `version` (0 = initial, 1 = edited), SOA first.
///
/// Version 1 drops `host1`..`host3` and the `alias7` CNAME and adds `new1`, `new2`.
pub fn zone_records(version: u32) -> Vec<Record> {
    let z = zone();
    let n = |s: &str| Name::from_ascii(format!("{s}.zone.xfr.test.")).expect("name");
    let mut out = vec![
        Record::from_rdata(
            z.clone(),
            3600,
            RData::SOA(SOA::new(
                n("ns"),
                n("hostmaster"),
                SERIAL + version,
                3600,
                600,
                86400,
                300,
            )),
        ),
        Record::from_rdata(
            z.clone(),
            3600,
            RData::NS(hickory_proto::rr::rdata::NS(n("ns"))),
        ),
        Record::from_rdata(n("ns"), 3600, RData::A(A::new(192, 0, 2, 53))),
        Record::from_rdata(z.clone(), 3600, RData::MX(MX::new(10, n("mail")))),
        Record::from_rdata(n("mail"), 3600, RData::A(A::new(192, 0, 2, 25))),
    ];
    for i in 1..=300u32 {
        if version >= 1 && i <= 3 {
            continue;
        }
        let ip = A::new(10, 0, (i / 250) as u8, (i % 250) as u8 + 1);
        out.push(Record::from_rdata(
            n(&format!("host{i}")),
            300,
            RData::A(ip),
        ));
    }
    for i in 1..=20u32 {
        if version >= 1 && i == 7 {
            continue;
        }
        out.push(Record::from_rdata(
            n(&format!("alias{i}")),
            300,
            RData::CNAME(CNAME(n(&format!("host{i}")))),
        ));
    }
    if version >= 1 {
        out.push(Record::from_rdata(
            n("new1"),
            300,
            RData::A(A::new(198, 51, 100, 1)),
        ));
        out.push(Record::from_rdata(
            n("new2"),
            300,
            RData::A(A::new(198, 51, 100, 2)),
        ));
    }
    out
}

/// Master-file text for `records`, absolute names.
pub fn zone_text(records: &[Record]) -> String {
    let mut s = String::new();
    for r in records {
        let _ = writeln!(s, "{} {} IN {} {}", r.name, r.ttl, r.record_type(), r.data);
    }
    s
}

/// Records as sortable strings, TTL and case normalised, for set comparison.
pub fn canonical(records: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| format!("{} {} {}", r.name.to_lowercase(), r.record_type(), r.data))
        .collect();
    v.sort();
    v
}

/// Adds the test address to `lo`; an existing address is fine.
pub fn ensure_address() {
    let out = Command::new("ip")
        .args(["addr", "add", &format!("{ADDR}/32"), "dev", "lo"])
        .output()
        .expect("running `ip addr add` (iproute2 is needed for the BIND interop tests)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        // iproute2 says "File exists" or "Address already assigned" depending on version.
        out.status.success()
            || stderr.contains("File exists")
            || stderr.contains("already assigned"),
        "could not add {ADDR} to lo: {stderr}"
    );
}

/// A random secret for each algorithm, as `(key, base64 secret)`.
pub fn keys() -> Vec<TsigKey> {
    TsigAlgorithm::ALL
        .into_iter()
        .map(|alg| {
            let secret: Vec<u8> = (0..alg.output_len())
                .map(|_| rand::random::<u8>())
                .collect();
            TsigKey::new(key_name(alg), alg, secret)
        })
        .collect()
}

/// A running `named`; killed and reaped on drop, even when the test panics.
pub struct Named {
    /// The process.
    child: Child,
    /// Its working directory (config, zone, journal, log).
    pub dir: PathBuf,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The keys it accepts for transfers.
    pub keys: Vec<TsigKey>,
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Named {
    /// Starts named on `port` serving version 0 of the zone, transfers allowed
    /// only with one of [`Named::keys`], and waits until it answers.
    pub async fn start(port: u16) -> Named {
        Named::start_with(port, None).await
    }

    /// As [`Named::start`]; with `notify_port`, named also sends NOTIFY for the
    /// zone to that port on [`ADDR`], signed with the hmac-sha256 key.
    pub async fn start_with(port: u16, notify_port: Option<u16>) -> Named {
        assert!(
            Path::new(NAMED).exists(),
            "BIND's named is not installed at {NAMED}: install the bind9 package (CI does); \
             these interop tests must not be skipped silently"
        );
        ensure_address();
        let dir =
            std::env::temp_dir().join(format!("sekisho-xfr-named-{port}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        let keys = keys();
        let d = dir.display();
        // transfer-message-size 2048 (default 20480) makes a few hundred records
        // span many messages, so BIND's per-message TSIG chain (RFC 8945 section
        // 5.3.1) is what the client verifies, not just a single signed message.
        let mut conf = format!(
            "options {{ directory \"{d}\"; listen-on port {port} {{ {ADDR}; }}; listen-on-v6 {{ none; }};\n\
             pid-file \"{d}/named.pid\"; session-keyfile \"{d}/session.key\"; recursion no;\n\
             notify no; dnssec-validation no;\n\
             transfer-message-size 2048; }};\ncontrols {{ }};\n"
        );
        for k in &keys {
            let _ = writeln!(
                conf,
                "key \"{}\" {{ algorithm {}; secret \"{}\"; }};",
                k.name.to_ascii().trim_end_matches('.'),
                k.algorithm.as_str(),
                base64(&k.secret)
            );
        }
        let notify = match notify_port {
            Some(np) => {
                // NOTIFY leaves from notify-source (else 127.0.0.1); the server
                // statement makes named sign what it sends to that address.
                let _ = writeln!(
                    conf,
                    "server {ADDR} {{ keys {{ \"{}\"; }}; }};",
                    key_name(TsigAlgorithm::HmacSha256)
                        .to_ascii()
                        .trim_end_matches('.')
                );
                format!(
                    "notify explicit; notify-source {ADDR}; also-notify {{ {ADDR} port {np}; }};"
                )
            }
            None => String::new(),
        };
        let allow: String = keys
            .iter()
            .map(|k| format!("key \"{}\"; ", k.name.to_ascii().trim_end_matches('.')))
            .collect();
        let _ = writeln!(
            conf,
            "zone \"zone.xfr.test\" {{ type primary; file \"{d}/zone.db\"; ixfr-from-differences yes;\n\
             allow-transfer {{ {allow}}}; {notify} }};"
        );
        fs::write(dir.join("named.conf"), conf).expect("write named.conf");
        fs::write(dir.join("zone.db"), zone_text(&zone_records(0))).expect("write zone");
        let log = fs::File::create(dir.join("named.log")).expect("log file");
        let child = Command::new(NAMED)
            .arg("-g")
            .arg("-c")
            .arg(dir.join("named.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn named");
        let named = Named {
            child,
            dir,
            addr: SocketAddr::new(IpAddr::V4(ADDR), port),
            keys,
        };
        named.wait_for_serial(Serial(SERIAL)).await;
        named
    }

    /// The key for `alg`.
    pub fn key(&self, alg: TsigAlgorithm) -> TsigKey {
        self.keys
            .iter()
            .find(|k| k.algorithm == alg)
            .cloned()
            .expect("a key per algorithm")
    }

    /// named's log so far, for assertion messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("named.log")).unwrap_or_default()
    }

    /// Polls the SOA (signed, to exercise that path too) until it shows `serial`.
    pub async fn wait_for_serial(&self, serial: Serial) {
        let key = self.key(TsigAlgorithm::HmacSha256);
        let start = Instant::now();
        loop {
            match query_soa(self.addr, &zone(), Some(&key), Duration::from_millis(500)).await {
                Ok(answer) if answer.serial == serial => return,
                _ if start.elapsed() > Duration::from_secs(20) => {
                    panic!(
                        "named did not serve serial {serial} within 20s; log:\n{}",
                        self.log()
                    )
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Rewrites the zone file with version `version` and sends SIGHUP.
    pub fn edit_and_reload(&self, version: u32) {
        let path = self.dir.join("zone.db");
        fs::write(&path, zone_text(&zone_records(version))).expect("rewrite zone");
        // named reloads only files whose mtime moved; a rewrite within the same
        // second as the first load could look unchanged, so move it forward.
        let f = fs::File::options()
            .write(true)
            .open(&path)
            .expect("open zone");
        f.set_modified(SystemTime::now() + Duration::from_secs(5))
            .expect("set mtime");
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill -HUP");
        assert!(status.success(), "kill -HUP failed");
    }
}
