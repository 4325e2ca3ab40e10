//! `sekisho rpz build` end to end: the guideline's CSV → zone → loaded by a
//! running sekisho → the blocked name answers the warning address; bad input
//! reported by line; atomic output; serials; bounded memory on a large stream.
//! Each test owns addresses in 127.0.42.0/24 (this file: .1 to .9).

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use hickory_proto::op::ResponseCode;
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
    if let Some(m) = query_udp_from(
        None,
        listen,
        "notflagged.example1.jp.",
        RecordType::A,
        Some(1232),
        Duration::from_secs(6),
    ) {
        assert!(
            !m.answers
                .iter()
                .any(|r| matches!(&r.data, RData::A(x) if x.0.to_string() == "192.0.2.10")),
            "{m:?}"
        );
    }
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
