//! `sekisho rpz build` end to end: the guideline's CSV → zone → loaded by a
//! running sekisho → the blocked name answers the warning address; bad input
//! reported by line; atomic output; serials; bounded memory on a large stream;
//! the SOA timers as a BIND 9.18 secondary of a Sekisho primary applies them;
//! help and usage errors.
//! Each test owns addresses in 127.0.42.0/24 (this file: .1 to .19).

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{RData, RecordType};

/// The repository's fixture folder.
fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/rpzbuild")
}

/// Runs `sekisho rpz build ARGS`.
fn build(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sekisho"))
        .args(["rpz", "build"])
        .args(args)
        .output()
        .expect("sekisho runs")
}

/// stderr as text.
fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The SOA serial of a zone file.
fn serial_of(path: &Path) -> u32 {
    sekisho_zonefile::read_file(path, sekisho_zonefile::ParseOptions::default())
        .expect("zone parses")
        .into_iter()
        .find_map(|r| match r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
        .expect("SOA")
}

#[test]
fn the_guideline_csv_becomes_a_zone_the_daemon_enforces() {
    let s = Scratch::new("rpzbuild-daemon");
    let zone = s.path.join("block.rpz");
    let csv = testdata().join("guideline-sample.csv");
    let out = build(&[
        "--zone",
        "block",
        "--csv",
        csv.to_str().expect("path"),
        "--host-column",
        "2",
        "--flag-column",
        "5",
        "--warn-a",
        "192.0.2.10",
        "--warn-aaaa",
        "2001:db8::10",
        "--wildcard",
        "-o",
        zone.to_str().expect("path"),
    ]);
    let stderr = err(&out);
    assert!(out.status.success(), "{stderr}");
    // Every bad line by number (see testdata/rpzbuild/README.md), then the summary.
    for expected in [
        "guideline-sample.csv:5: \"quoted,comma.example1.jp\": character ',' is not allowed",
        "guideline-sample.csv:7: \"https://www.example1.jp/path\": character ':' is not allowed",
        "guideline-sample.csv:9: no column 5 (the row has 3)",
        "11 rows read, 5 names written, 1 duplicates, 3 invalid, 2 not flagged",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    // The output parses with Sekisho's own zone reader: SOA, NS, 5 names × (A, AAAA) × 2.
    let records = sekisho_zonefile::read_file(&zone, sekisho_zonefile::ParseOptions::default())
        .expect("the built zone parses");
    assert_eq!(records.len(), 2 + 5 * 2 * 2);
    let owners: Vec<String> = records.iter().map(|r| r.name.to_ascii()).collect();
    for owner in [
        "blocked.example1.jp.block.",
        "*.bad.example1.jp.block.",
        "xn--r8jz45g.example1.jp.block.",
        "after.example1.jp.block.",
    ] {
        assert!(owners.iter().any(|o| o == owner), "{owner} in {owners:?}");
    }
    assert!(!owners.iter().any(|o| o.contains("notflagged")));
    assert!(!s.path.read_dir().expect("dir").any(|e| e
        .expect("entry")
        .file_name()
        .to_string_lossy()
        .contains(".tmp")));

    // A running sekisho loads it; no upstream is needed with qname-wait-recurse = false.
    let listen: SocketAddr = "127.0.42.1:5300".parse().expect("addr");
    let cfg = format!(
        r#"[server]
listen = ["{listen}"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{d}"
[dnssec]
validation = "no"
[[forward-zone]]
name = "."
forward-addr = ["127.0.42.9@5353"]
[response-policy]
qname-wait-recurse = false
[[response-policy.zone]]
name = "block"
file = "block.rpz"
[control]
socket = "{d}/control.sock"
[metrics]
listen = "none"
"#,
        d = s.path.display()
    );
    let _sk = start_sekisho(&s.path, "rpzbuild", &cfg, listen);
    let a = query(listen, "blocked.example1.jp.", RecordType::A);
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    assert!(
        a.answers
            .iter()
            .any(|r| matches!(&r.data, RData::A(x) if x.0.to_string() == "192.0.2.10")),
        "{a:?}"
    );
    let aaaa = query(listen, "www.bad.example1.jp.", RecordType::AAAA);
    assert!(
        aaaa.answers
            .iter()
            .any(|r| matches!(&r.data, RData::AAAA(x) if x.0.to_string() == "2001:db8::10")),
        "wildcard AAAA: {aaaa:?}"
    );
    let idn = query(listen, "xn--r8jz45g.example1.jp.", RecordType::A);
    assert!(!idn.answers.is_empty(), "IDN host blocked: {idn:?}");
    // The row whose flag is 0 is not a rule: sekishoctl test finds none, and the
    // query is not rewritten (it fails upstream instead, as nothing listens there).
    let sock = s.path.join("control.sock");
    let (code, text, _) = ctl(&sock, &["test", "notflagged.example1.jp"]);
    assert_eq!(code, 1, "no rule for the unflagged row: {text}");
    let (code, text, _) = ctl(&sock, &["test", "blocked.example1.jp"]);
    assert_eq!(code, 0, "{text}");
    // Not rewritten: resolved for real, which fails here (nothing listens upstream), so
    // the answer is SERVFAIL, never the warning page's address.
    let m = query_udp_from(
        None,
        listen,
        "notflagged.example1.jp.",
        RecordType::A,
        Some(1232),
        Duration::from_secs(8),
    )
    .expect("an answer for the unflagged name (SERVFAIL from the dead upstream)");
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{m:?}");
    assert!(
        !m.answers
            .iter()
            .any(|r| matches!(&r.data, RData::A(x) if x.0.to_string() == "192.0.2.10")),
        "{m:?}"
    );
}

#[test]
fn crlf_non_utf8_and_short_rows_are_reported_by_line_and_skipped() {
    let s = Scratch::new("rpzbuild-bad-input");
    let mut csv = Vec::new();
    csv.extend_from_slice(b"\xEF\xBB\xBFid,host,category,date,dns_block\r\n");
    csv.extend_from_slice(b"1,crlf.example1.jp,c,d,1\r\n");
    csv.extend_from_slice(b"2,\xff\xfe.example1.jp,c,d,1\r\n");
    csv.extend_from_slice(b"3,\x93\xfa\x96\x7b.example1.jp,c,d,1\r\n"); // Shift_JIS in the host
    csv.extend_from_slice(b"4,sjis-note.example1.jp,\x93\xfa\x96\x7b,d,1\r\n"); // Shift_JIS elsewhere: fine
    csv.extend_from_slice(b"5,short.example1.jp\r\n");
    csv.extend_from_slice(b"6,crlf.example1.jp,c,d,1\r\n");
    csv.extend_from_slice(b"7,last.example1.jp,c,d,1"); // no final line end
    let input = s.path.join("bad.csv");
    std::fs::write(&input, &csv).expect("write");
    let out = build(&[
        "--zone",
        "block.example.",
        "--csv",
        input.to_str().expect("path"),
        "--host-column=2",
        "--flag-column=5",
        "--action",
        "nxdomain",
        "-o",
        "-",
    ]);
    let stderr = err(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("bad.csv:3: not UTF-8; line skipped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.csv:4: not UTF-8; line skipped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.csv:6: no column 5 (the row has 2)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("8 rows read, 3 names written, 1 duplicates, 3 invalid, 1 not flagged"),
        "{stderr}"
    );
    // `-o -` writes the zone to stdout; no \r leaked into names.
    let zone = String::from_utf8(out.stdout).expect("utf-8 zone");
    let records = sekisho_zonefile::parse_str(&zone, sekisho_zonefile::ParseOptions::default())
        .expect("stdout zone parses");
    let names: Vec<String> = records.iter().skip(2).map(|r| r.name.to_string()).collect();
    assert_eq!(
        names,
        [
            "crlf.example1.jp.block.example.",
            "sjis-note.example1.jp.block.example.",
            "last.example1.jp.block.example.",
        ]
    );
    assert!(zone.contains("crlf.example1.jp.block.example.\t300\tIN\tCNAME\t.\n"));
}

#[test]
fn hosts_and_domain_lists_combine_with_the_csv_and_duplicates_drop_across_them() {
    let s = Scratch::new("rpzbuild-combine");
    let hosts = s.file(
        "hosts",
        "127.0.0.1 localhost\n::1 ip6-localhost\n0.0.0.0 ads.example1.jp blocked.example1.jp # dup of the CSV\n",
    );
    let domains = s.file(
        "domains.txt",
        "# list\ntrack.example1.jp\nADS.example1.jp.\n",
    );
    let zone = s.path.join("z.rpz");
    let out = build(&[
        "--zone",
        "block",
        "--csv",
        testdata()
            .join("guideline-sample.csv")
            .to_str()
            .expect("path"),
        "--host-column",
        "2",
        "--flag-column",
        "5",
        "--hosts",
        hosts.to_str().expect("path"),
        "--domains",
        domains.to_str().expect("path"),
        "--action",
        "drop",
        "-o",
        zone.to_str().expect("path"),
    ]);
    let stderr = err(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("7 names written, 3 duplicates"), "{stderr}");
    assert!(stderr.contains("2 local names ignored"), "{stderr}");
    let text = std::fs::read_to_string(&zone).expect("zone");
    assert!(text.contains("ads.example1.jp.block.\t300\tIN\tCNAME\trpz-drop.\n"));
    assert!(text.contains("track.example1.jp.block.\t300\tIN\tCNAME\trpz-drop.\n"));
}

#[test]
fn a_rebuild_bumps_the_serial_and_a_failed_build_keeps_the_previous_zone() {
    let s = Scratch::new("rpzbuild-serial");
    let list = s.file("list.txt", "a.example1.jp\n");
    let zone = s.path.join("z.rpz");
    let base = [
        "--zone",
        "block",
        "--domains",
        list.to_str().expect("p"),
        "-o",
        zone.to_str().expect("p"),
    ];
    // An explicit serial is written as given.
    let out = build(&[&base[..], &["--serial", "4000000000"]].concat());
    assert!(out.status.success(), "{}", err(&out));
    assert_eq!(serial_of(&zone), 4_000_000_000);
    // Without --serial: Unix time, unless the existing zone is already ahead → +1.
    let out = build(&base);
    assert!(out.status.success(), "{}", err(&out));
    assert_eq!(serial_of(&zone), 4_000_000_001);
    std::fs::remove_file(&zone).expect("rm");
    let out = build(&base);
    assert!(out.status.success(), "{}", err(&out));
    let first = serial_of(&zone);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as u32;
    assert!(first.abs_diff(now) < 60, "serial {first} ≈ Unix time {now}");
    let out = build(&base);
    assert!(out.status.success(), "{}", err(&out));
    assert!(
        serial_of(&zone) > first,
        "a re-run in the same second still increases"
    );

    // Failures leave the previous zone and no temporary file.
    let before = std::fs::read(&zone).expect("zone");
    let missing = s.path.join("missing.txt");
    let out = build(&[
        "--zone",
        "block",
        "--domains",
        missing.to_str().expect("p"),
        "-o",
        zone.to_str().expect("p"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", err(&out));
    assert!(err(&out).contains("cannot open"), "{}", err(&out));
    // Wrong flag column: every row unflagged → refuse rather than lift every block.
    let out = build(&[
        "--zone",
        "block",
        "--csv",
        testdata()
            .join("guideline-sample.csv")
            .to_str()
            .expect("path"),
        "--host-column",
        "2",
        "--flag-column",
        "4",
        "-o",
        zone.to_str().expect("p"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", err(&out));
    assert!(err(&out).contains("no names to write"), "{}", err(&out));
    assert_eq!(std::fs::read(&zone).expect("zone"), before);
    let leftovers: Vec<_> = s
        .path
        .read_dir()
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Usage errors exit 2.
    let out = build(&["--zone", "block", "--csv", "x", "-o", "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("--csv needs --host-column and --flag-column"));
}

/// A 10 GB list cannot be part of a test run; a stream larger than the process's
/// whole address-space limit shows the same thing: nothing is held but one record
/// and the dedupe set.
#[test]
fn a_stream_much_larger_than_the_memory_limit_converts_in_bounded_memory() {
    let s = Scratch::new("rpzbuild-stream");
    let zone = s.path.join("z.rpz");
    // 96 MiB of the same few names (the dedupe set stays small), then a 128 MiB
    // line with no line end: 224 MiB through a process limited to 160 MiB of
    // address space, binary mapping included.
    let script = format!(
        "ulimit -v 163840 && {{ yes 'dup.example1.jp
Other.Example1.JP.
# a comment' | head -c 100663296; head -c 134217728 /dev/zero | tr '\\0' x; }} | {} rpz build --zone block --domains - -o {}",
        env!("CARGO_BIN_EXE_sekisho"),
        zone.display()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .expect("bash");
    let stderr = err(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("2 names written"), "{stderr}");
    assert!(
        stderr.contains("longer than 65536 octets; skipped"),
        "{stderr}"
    );
    let mut summary = stderr.lines().filter(|l| l.contains("rows read"));
    let line = summary.next().expect("summary line");
    let rows: u64 = line
        .split(": ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("row count");
    assert!(rows > 3_000_000, "{line}");
    let _ = std::io::stderr().write_all(format!("stream: {line}\n").as_bytes());
}

#[test]
fn a_symlinked_output_keeps_its_link_and_a_fifo_is_written_in_place_not_replaced() {
    let s = Scratch::new("rpzbuild-special");
    let list = s.file("list.txt", "a.example1.jp\n");
    // A link to the real zone file: the link stays, its target gets the new zone.
    let real = s.file("real.rpz", "");
    let link = s.path.join("link.rpz");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let out = build(&[
        "--zone",
        "block",
        "--domains",
        list.to_str().expect("p"),
        "-o",
        link.to_str().expect("p"),
    ]);
    assert!(out.status.success(), "{}", err(&out));
    assert!(std::fs::symlink_metadata(&link)
        .expect("link")
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(&real)
        .expect("real")
        .contains("a.example1.jp.block."));
    // A FIFO (as /dev/stdout or /dev/null would be): written into, never renamed over.
    let fifo = s.path.join("zone.fifo");
    let st = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(st.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read fifo"))
    };
    let out = build(&[
        "--zone",
        "block",
        "--domains",
        list.to_str().expect("p"),
        "-o",
        fifo.to_str().expect("p"),
    ]);
    assert!(out.status.success(), "{}", err(&out));
    let text = reader.join().expect("reader");
    assert!(
        text.contains("a.example1.jp.block.\t300\tIN\tCNAME\t.\n"),
        "{text}"
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata(&fifo)
            .expect("fifo")
            .file_type()
            .is_fifo(),
        "still a FIFO"
    );
}

#[test]
fn help_goes_to_stdout_with_status_0_and_usage_errors_to_stderr_with_status_2() {
    let out = build(&["--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(err(&out).is_empty(), "help wrote to stderr: {}", err(&out));
    for expected in [
        "Usage: sekisho rpz build",
        "--zone <NAME>",
        "--expire <DURATION>",
        "[default: 30d]",
        "[default: root.localhost.]",
    ] {
        assert!(help.contains(expected), "{expected:?} missing in:\n{help}");
    }

    let s = Scratch::new("rpzbuild-usage");
    let list = s.file("list.txt", "a.example1.jp\n");
    let zone = s.path.join("z.rpz");
    let base = [
        "--zone",
        "block",
        "--domains",
        list.to_str().expect("p"),
        "-o",
        zone.to_str().expect("p"),
    ];
    for (extra, says) in [
        (&["--bogus"][..], "unexpected argument '--bogus'"),
        (&["--expire", "1.5d"][..], "'--expire <DURATION>'"),
        (&["--refresh", "0"][..], "'--refresh <DURATION>'"),
        (
            &["--refresh", "1h", "--retry", "2h"][..],
            "--retry (7200s = 2h) is longer than --refresh (3600s = 1h)",
        ),
        (
            &["--mbox", "hostmaster@example.jp"][..],
            "hostmaster.example.jp.",
        ),
    ] {
        let out = build(&[&base[..], extra].concat());
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", err(&out));
        assert!(err(&out).contains(says), "{extra:?}: {}", err(&out));
        assert!(out.stdout.is_empty(), "{extra:?} wrote to stdout");
        assert!(!zone.exists(), "{extra:?} wrote a zone");
    }
}

/// Seconds since the epoch of an RFC 1123 date as BIND prints it
/// (`Tue, 05 Jan 2027 11:41:23 GMT`).
fn rfc1123(text: &str) -> i64 {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts[..] else {
        panic!("not a BIND date: {text:?}");
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == month)
    .unwrap_or_else(|| panic!("month in {text:?}")) as i64
        + 1;
    let num = |t: &str| {
        t.parse::<i64>()
            .unwrap_or_else(|_| panic!("{t:?} in {text:?}"))
    };
    let (y, d) = (num(year), num(day));
    let hms: Vec<i64> = time.split(':').map(num).collect();
    // Days from 1970-01-01 (the civil-from-days inverse, proleptic Gregorian).
    let y = if month <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

#[test]
fn bind_dates_are_read_right() {
    assert_eq!(rfc1123("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    assert_eq!(rfc1123("Tue, 05 Jan 2027 11:41:23 GMT"), 1_799_149_283);
    assert_eq!(rfc1123("Tue, 29 Feb 2028 23:59:59 GMT"), 1_835_481_599);
}

/// BIND's `rndc zonestatus` of a zone, as `field: value` pairs.
struct ZoneStatus(Vec<(String, String)>);

impl ZoneStatus {
    /// A field's value.
    fn get(&self, field: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {field:?} in rndc zonestatus: {:?}", self.0))
    }

    /// A date field, as seconds since the epoch.
    fn time(&self, field: &str) -> i64 {
        rfc1123(self.get(field))
    }
}

/// BIND 9.18 as a secondary of `block` from `primary`, with an rndc control
/// channel on `ip`:5302 keyed by a key the test writes.
struct BindSecondary {
    proc: Proc,
    addr: SocketAddr,
    rndc_conf: PathBuf,
}

impl BindSecondary {
    fn start(scratch: &Path, ip: &str, primary: SocketAddr) -> BindSecondary {
        let named = Command::new("named").arg("-v").output();
        assert!(
            named.map(|o| o.status.success()).unwrap_or(false),
            "BIND 9.18 (`named`, `rndc`) is required: apt-get install bind9 bind9-utils"
        );
        add_loopback(ip);
        let dir = scratch.join(format!("bind-{ip}"));
        std::fs::create_dir_all(&dir).expect("bind dir");
        // rndc's key: HMAC-SHA256 with a fixed test secret (base64 of 32 octets).
        let key = "key \"rndc-key\" { algorithm hmac-sha256; secret \"cnBiYnVpbGQtdGVzdC1ybmRjLWtleS0zMi1vY3RldHM=\"; };\n";
        let conf = format!(
            r#"{key}options {{
  directory "{d}";
  listen-on port 5301 {{ {ip}; }};
  listen-on-v6 {{ none; }};
  pid-file "{d}/named.pid";
  session-keyfile "{d}/session.key";
  recursion no;
  notify no;
  transfer-source {ip};
  query-source address {ip};
}};
controls {{ inet {ip} port 5302 allow {{ 127.0.0.0/8; }} keys {{ "rndc-key"; }}; }};
zone "block" {{
  type secondary;
  file "{d}/block.db";
  primaries {{ {pip} port {pport}; }};
}};
"#,
            d = dir.display(),
            pip = primary.ip(),
            pport = primary.port(),
        );
        let cf = dir.join("named.conf");
        std::fs::write(&cf, conf).expect("named.conf");
        let rndc_conf = dir.join("rndc.conf");
        std::fs::write(
            &rndc_conf,
            format!(
                "{key}options {{ default-key \"rndc-key\"; default-server {ip}; default-port 5302; }};\n"
            ),
        )
        .expect("rndc.conf");
        let proc = Proc::spawn(
            "named",
            Command::new("named").arg("-g").arg("-c").arg(&cf),
            dir.join("named.log"),
        );
        let addr: SocketAddr = format!("{ip}:5301").parse().expect("addr");
        BindSecondary {
            proc,
            addr,
            rndc_conf,
        }
    }

    /// Runs `rndc ARGS` against this BIND; returns stdout (panics on failure).
    fn rndc(&self, args: &[&str]) -> String {
        let out = Command::new("rndc")
            .arg("-c")
            .arg(&self.rndc_conf)
            .args(args)
            .output()
            .expect("rndc runs (apt-get install bind9-utils)");
        assert!(
            out.status.success(),
            "rndc {args:?}: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.proc.log_text()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `rndc zonestatus block`.
    fn zonestatus(&self) -> ZoneStatus {
        ZoneStatus(
            self.rndc(&["zonestatus", "block"])
                .lines()
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect(),
        )
    }

    /// The SOA BIND serves for `block.`, once it has a copy.
    fn soa(&self) -> Option<SOA> {
        let m = query_udp_from(
            None,
            self.addr,
            "block.",
            RecordType::SOA,
            None,
            Duration::from_millis(300),
        )?;
        m.answers.iter().find_map(|r| match &r.data {
            RData::SOA(s) => Some(s.clone()),
            _ => None,
        })
    }

    /// Waits until BIND serves `serial`, asking it to refresh every 2 s.
    fn wait_serial(&self, serial: u32) {
        let mut asked = std::time::Instant::now();
        let ok = eventually(Duration::from_secs(30), || {
            if asked.elapsed() > Duration::from_secs(2) {
                let _ = self.rndc(&["refresh", "block"]);
                asked = std::time::Instant::now();
            }
            self.soa().map(|s| s.serial) == Some(serial)
        });
        assert!(
            ok,
            "BIND has no serial {serial} after 30 s:\n{}",
            self.proc.log_text()
        );
    }

    /// `dig +norec +noall +answer block. SOA` against this BIND: the answer's fields.
    fn dig_soa(&self) -> Vec<String> {
        let out = Command::new("dig")
            .args([
                &format!("@{}", self.addr.ip()),
                "-p",
                &self.addr.port().to_string(),
                "+norec",
                "+noall",
                "+answer",
                "block.",
                "SOA",
            ])
            .output()
            .expect("dig runs (apt-get install dnsutils)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text
            .lines()
            .find(|l| l.contains("SOA"))
            .unwrap_or_else(|| panic!("no SOA in dig's answer: {text}"));
        line.split_whitespace().map(str::to_owned).collect()
    }
}

/// Checks that BIND's timers for its copy follow `refresh` and `expire`: the copy
/// expires `expire` after it was loaded, and the next refresh comes within
/// `refresh` (BIND takes up to a quarter off as jitter).
fn assert_timers(bind: &BindSecondary, serial: u32, refresh: i64, expire: i64) {
    let st = bind.zonestatus();
    assert_eq!(st.get("type"), "secondary");
    assert_eq!(st.get("serial"), serial.to_string());
    let loaded = st.time("last loaded");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!(
        (loaded - now).abs() < 120,
        "last loaded {loaded}, now {now}"
    );
    let expires = st.time("expires");
    assert!(
        (expires - loaded - expire).abs() <= 2,
        "expires {} is not last loaded {} + {expire} s",
        st.get("expires"),
        st.get("last loaded")
    );
    assert!(
        expires - now > 7 * 86_400,
        "the copy expires in less than a week: {}",
        st.get("expires")
    );
    let next = st.time("next refresh") - loaded;
    assert!(
        (refresh / 2..=refresh + 2).contains(&next),
        "next refresh {} is {next} s after loading, not within the refresh of {refresh} s",
        st.get("next refresh")
    );
}

#[test]
fn a_bind_secondary_of_a_sekisho_primary_keeps_the_built_zone_for_its_soa_expire() {
    let s = Scratch::new("rpzbuild-bind");
    let list = s.file("list.txt", "blocked.example1.jp\nads.example1.jp\n");
    let dir = s.path.join("primary");
    std::fs::create_dir_all(&dir).expect("dir");
    let zone = dir.join("block.rpz");
    let base = [
        "--zone",
        "block",
        "--domains",
        list.to_str().expect("p"),
        "-o",
        zone.to_str().expect("p"),
    ];
    // The guideline's timers, written out (they are also the defaults: the
    // rebuild below changes them, so a flag that is ignored shows).
    let out = build(
        &[
            &base[..],
            &[
                "--expire",
                "30d",
                "--refresh",
                "1h",
                "--retry",
                "15m",
                "--minimum",
                "2h",
            ],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", err(&out));
    let first = serial_of(&zone);

    let listen: SocketAddr = "127.0.42.10:5300".parse().expect("addr");
    add_loopback("127.0.42.10");
    let cfg = format!(
        r#"[server]
listen = ["{listen}"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{d}"
[response-policy]
qname-wait-recurse = false
[[response-policy.zone]]
name = "block"
file = "block.rpz"
allow-transfer = ["127.0.42.11/32"]
[control]
socket = "{d}/control.sock"
[metrics]
listen = "none"
"#,
        d = dir.display()
    );
    let primary = start_sekisho(&dir, "primary", &cfg, listen);
    let bind = BindSecondary::start(&s.path, "127.0.42.11", listen);
    bind.wait_serial(first);

    // dig: the SOA as transferred, timers in seconds.
    let soa = bind.dig_soa();
    assert_eq!(
        soa[4..],
        [
            "localhost.",
            "root.localhost.",
            &first.to_string(),
            "3600",
            "900",
            "2592000",
            "7200"
        ],
        "{soa:?}"
    );
    assert_eq!(soa[1], "300", "record TTL: {soa:?}");
    // rndc: BIND keeps the copy 30 days without its primary, not one.
    assert_timers(&bind, first, 3600, 30 * 86_400);

    // Rebuild with other timers and names, reload the primary: BIND takes the new
    // SOA and sets its timers from it.
    let out = build(
        &[
            &base[..],
            &[
                "--refresh=2h",
                "--retry=20m",
                "--expire=6w",
                "--minimum=90m",
                "--ttl=60",
                "--ns=ns1.example.net",
                "--mbox=hostmaster.example.jp.",
            ],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", err(&out));
    let second = serial_of(&zone);
    assert!(second > first);
    let (code, text, e) = ctl(&dir.join("control.sock"), &["reload", "block"]);
    assert_eq!(code, 0, "reload: {text} {e}");
    bind.wait_serial(second);
    let soa = bind.dig_soa();
    assert_eq!(
        soa[4..],
        [
            "ns1.example.net.",
            "hostmaster.example.jp.",
            &second.to_string(),
            "7200",
            "1200",
            "3628800",
            "5400"
        ],
        "{soa:?}"
    );
    assert_eq!(soa[1], "60", "record TTL: {soa:?}");
    assert_timers(&bind, second, 7200, 6 * 7 * 86_400);
    assert!(
        primary.log_text().contains("kind=\"axfr\""),
        "the primary logged no transfer:\n{}",
        primary.log_text()
    );
}
