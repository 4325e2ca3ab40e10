//! Seed generator: writes starting inputs for every fuzz target, in each target's
//! input layout, under `OUT/<target>/`. `run.sh` calls it before fuzzing.
//!
//! Usage: `seeds OUT`. Zone files come from the repository's `testdata/`; DNS
//! messages are built here with hickory-proto or taken from the recorded BIND
//! transfer in `testdata/xfr/` (its TSIG stripped where a target signs itself).
//! Nothing here is signed with the fuzz targets' fixed key, so a target can tell a
//! message it signed from one it did not.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, MX, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use sekisho_fuzz::{push_frame, KEY_NAME, NOW, XFR_ID, XFR_ZONE};
use sekisho_xfr::tsig::{sign_request, verify_request};
use sekisho_xfr::{ResponseVerifier, TsigAlgorithm, TsigKey};

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: seeds OUT");
        return ExitCode::from(2);
    };
    match write_all(&out) {
        Ok(n) => {
            println!("wrote {n} seeds under {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("seeds: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Seeds of one target, named.
type Seeds = Vec<(String, Vec<u8>)>;

/// Writes every target's seeds; returns how many.
fn write_all(out: &Path) -> Result<usize, String> {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let recording = Recording::load(&testdata.join("xfr/bind918-axfr-hmac-sha256.txt"))?;
    let targets: [(&str, Seeds); 8] = [
        ("query", query_seeds()),
        ("zonefile", zonefile_seeds(&testdata)?),
        ("xfr", xfr_seeds(&recording)?),
        ("tsig", tsig_seeds(&recording)),
        ("notify", notify_seeds()),
        ("update", update_seeds()),
        ("http_head", http_seeds()),
        ("proxy", proxy_seeds()),
    ];
    let mut n = 0;
    for (target, seeds) in targets {
        let dir = out.join(target);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (name, bytes) in seeds {
            let path = dir.join(name);
            fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            n += 1;
        }
    }
    Ok(n)
}

/// PROXY v2 headers: IPv4 and IPv6 over UDP and TCP with a query behind,
/// LOCAL, with TLVs, truncated, and the text version 1.
fn proxy_seeds() -> Seeds {
    use sekisho_wire::proxy::{encode, encode_local, Transport};
    let at = |s: &str| s.parse::<std::net::SocketAddr>().expect("constant address");
    let query = raw_query(0x1234, [1, 0], "example.", 1, None);
    let mut v4 = encode(at("192.0.2.7:4000"), at("192.0.2.1:53"), Transport::Dgram);
    v4.extend_from_slice(&query);
    let v6 = encode(
        at("[2001:db8::7]:4000"),
        at("[2001:db8::1]:853"),
        Transport::Stream,
    );
    let mut tlvs = encode(at("192.0.2.7:1"), at("192.0.2.1:2"), Transport::Stream);
    let extra: &[u8] = b"\x02\x00\x09a.example\x04\x00\x00";
    tlvs[15] += extra.len() as u8;
    tlvs.extend_from_slice(extra);
    let truncated = v4[..20].to_vec();
    vec![
        ("v4-dgram-query".into(), v4),
        ("v6-stream".into(), v6),
        ("local".into(), encode_local()),
        ("tlvs".into(), tlvs),
        ("truncated".into(), truncated),
        (
            "text-v1".into(),
            b"PROXY TCP4 192.0.2.7 192.0.2.1 4000 53\r\n".to_vec(),
        ),
    ]
}

/// A name from constant text.
fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("constant name")
}

/// A query in wire form, built by hand so malformed variants are easy.
fn raw_query(
    id: u16,
    flags: [u8; 2],
    qname: &str,
    qtype: u16,
    edns: Option<(u16, u8, bool)>,
) -> Vec<u8> {
    let mut p = id.to_be_bytes().to_vec();
    p.extend_from_slice(&flags);
    p.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    for label in qname.split('.').filter(|l| !l.is_empty()) {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    if let Some((payload, version, dnssec_ok)) = edns {
        p.push(0);
        p.extend_from_slice(&41u16.to_be_bytes());
        p.extend_from_slice(&payload.to_be_bytes());
        p.extend_from_slice(&[0, version, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
    }
    p
}

/// Client datagrams: good queries and each kind of rejection.
fn query_seeds() -> Seeds {
    let mut seeds = vec![
        (
            "a".into(),
            raw_query(0x1001, [1, 0], "www.example.com", 1, None),
        ),
        (
            "aaaa-edns-do".into(),
            raw_query(
                0x1002,
                [1, 0x30],
                "www.example.jp",
                28,
                Some((4096, 0, true)),
            ),
        ),
        (
            "small-edns".into(),
            raw_query(0x1003, [1, 0], "a.b.c.d.e.f", 16, Some((100, 0, false))),
        ),
        (
            "badvers".into(),
            raw_query(0x1004, [1, 0], "example", 1, Some((1232, 1, false))),
        ),
        (
            "notify-opcode".into(),
            raw_query(0x1005, [0x20, 0], "example", 6, None),
        ),
        (
            "response".into(),
            raw_query(0x1006, [0x81, 0x80], "example", 1, None),
        ),
        (
            "opcode-status".into(),
            raw_query(0x1007, [0x10, 0], "example", 1, None),
        ),
        (
            "root-ns".into(),
            raw_query(0x1008, [1, 0], "", 2, Some((512, 0, false))),
        ),
        (
            "long-name".into(),
            raw_query(0x1009, [1, 0], &vec!["a".repeat(63); 3].join("."), 1, None),
        ),
    ];
    // An answer record with a compression pointer to the question.
    let mut with_answer = raw_query(0x100a, [1, 0], "www.example", 1, None);
    with_answer[7] = 1;
    with_answer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    seeds.push(("answer-section".into(), with_answer));
    // A compressed question, refused.
    let mut compressed = raw_query(0x100b, [1, 0], "", 1, None);
    compressed.splice(12..13, [0xc0, 12]);
    seeds.push(("compressed-question".into(), compressed));
    // Two questions, and trailing bytes.
    let mut two = raw_query(0x100c, [1, 0], "x", 1, None);
    two[5] = 2;
    two.extend_from_slice(&[1, b'y', 0, 0, 1, 0, 1]);
    seeds.push(("two-questions".into(), two));
    let mut trailing = raw_query(0x100d, [1, 0], "x", 1, None);
    trailing.extend_from_slice(b"junk");
    seeds.push(("trailing".into(), trailing));
    seeds
}

/// Zone files from `testdata/` plus a few entries the fixtures lack.
fn zonefile_seeds(testdata: &Path) -> Result<Seeds, String> {
    let mut seeds = Seeds::new();
    for dir in ["zones", "zones/include", "policy", "rpz-diff"] {
        let dir = testdata.join(dir);
        let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("zone" | "rpz")))
            .collect();
        files.sort();
        for path in files {
            let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let stem = path.file_name().and_then(|f| f.to_str()).unwrap_or("zone");
            seeds.push((format!("testdata-{stem}"), bytes));
        }
    }
    let extra: [(&str, &str); 6] = [
        ("svcb", "$ORIGIN example.\n$TTL 300\n_dns IN SVCB 1 dns.example. alpn=h2,h3 port=853 ipv4hint=192.0.2.1\nwww HTTPS 1 . alpn=\"h2\" ech=AEX+DQBB mandatory=alpn\n"),
        ("escapes", "$ORIGIN example.\n@ 60 TXT \"a\\\"b\" \"\\065\\066\" ( \"multi\"\n \"line\" ) ; comment\nw\\.x\\032y 1h30m IN A 192.0.2.7\n"),
        ("generic", "$ORIGIN example.\n@ 60 CLASS1 TYPE65280 \\# 3 abcdef\n@ 60 IN A \\# 4 c0000201\n* 60 CAA 0 issue \"ca.example\"\n"),
        ("soa-parens", "example. 3600 IN SOA ns.example. host\\.master.example. (\n 2024010101 ; serial\n 7200 3600 1209600 300 )\n"),
        ("generate", "$ORIGIN example.\n$TTL 60\n$GENERATE 1-20/3 h${1,3,x} A 10.0.0.$\n"),
        ("types", "$ORIGIN example.\n$TTL 60\n@ MX 10 mail\n@ SRV 0 5 5060 sip\n@ NAPTR 100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp\n@ SSHFP 1 1 dc3bcd\n@ TLSA 3 1 1 ab12\n@ DS 60485 5 1 2bb183af5f22588179a53b0a98631fad1a292118\n@ HINFO \"x86\" \"linux\"\n@ AAAA 2001:db8::1\n"),
    ];
    for (n, text) in extra {
        seeds.push((n.into(), text.as_bytes().to_vec()));
    }
    Ok(seeds)
}

/// A recorded exchange from `testdata/xfr/`.
struct Recording {
    /// The key the exchange was signed with.
    key: TsigKey,
    /// The clock when it was recorded.
    now: u64,
    /// The signed request.
    request: Vec<u8>,
    /// The signed response messages, in order.
    responses: Vec<Vec<u8>>,
}

impl Recording {
    /// Reads the format described in `testdata/xfr/README.md`.
    fn load(path: &Path) -> Result<Recording, String> {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let unhex = |s: &str| -> Result<Vec<u8>, String> {
            (0..s.len() / 2)
                .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|e| e.to_string()))
                .collect()
        };
        let (mut key, mut now, mut request, mut responses) = (None, 0, Vec::new(), Vec::new());
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["key", n, alg, secret] => {
                    let alg: TsigAlgorithm = alg.parse().map_err(|_| format!("algorithm {alg}"))?;
                    key = Some(TsigKey::new(name(n), alg, unhex(secret)?));
                }
                ["now", t] => now = t.parse().map_err(|_| format!("now {t}"))?,
                ["id", _] => {}
                ["request", h] => request = unhex(h)?,
                ["response", h] => responses.push(unhex(h)?),
                other => return Err(format!("{}: bad line {other:?}", path.display())),
            }
        }
        Ok(Recording {
            key: key.ok_or("no key line")?,
            now,
            request,
            responses,
        })
    }

    /// The response messages without their TSIG RRs, as the primary built them.
    fn unsigned_responses(&self) -> Result<Vec<Vec<u8>>, String> {
        let verified = verify_request(&self.request, std::slice::from_ref(&self.key), self.now)
            .map_err(|e| format!("recorded request: {e}"))?
            .ok_or("recorded request is not signed")?;
        let mut verifier = ResponseVerifier::new(self.key.clone(), verified.mac);
        self.responses
            .iter()
            .map(|r| {
                verifier
                    .verify(r, self.now)
                    .map_err(|e| format!("recorded response: {e}"))
            })
            .collect()
    }
}

/// SOA of the `xfr` target's zone with `serial`.
fn soa(serial: u32) -> Record {
    let zone = name(XFR_ZONE);
    Record::from_rdata(
        zone.clone(),
        3600,
        RData::SOA(SOA::new(
            name("ns.zone.xfr.test."),
            name("hostmaster.zone.xfr.test."),
            serial,
            3600,
            600,
            86400,
            300,
        )),
    )
}

/// An ordinary record `label` in the `xfr` target's zone.
fn rec(label: &str, n: u8) -> Record {
    let owner = name(&format!("{label}.{XFR_ZONE}"));
    match n % 3 {
        0 => Record::from_rdata(owner, 300, RData::A(A(Ipv4Addr::new(192, 0, 2, n)))),
        1 => Record::from_rdata(owner, 300, RData::TXT(TXT::new(vec![format!("v={n}")]))),
        _ => Record::from_rdata(
            owner,
            300,
            RData::MX(MX::new(10, name(&format!("mail.{XFR_ZONE}")))),
        ),
    }
}

/// A transfer response message.
fn xfr_message(qtype: RecordType, question: bool, answers: Vec<Record>) -> Vec<u8> {
    let mut m = Message::new(XFR_ID, MessageType::Response, OpCode::Query);
    m.metadata.response_code = ResponseCode::NoError;
    m.metadata.authoritative = true;
    if question {
        m.add_query(Query::query(name(XFR_ZONE), qtype));
    }
    m.add_answers(answers);
    m.to_vec().expect("encodable message")
}

/// An `xfr` input: mode octet, our serial, framed messages.
fn xfr_input(mode: u8, serial: u32, messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![mode];
    out.extend_from_slice(&serial.to_be_bytes());
    for m in messages {
        push_frame(&mut out, m);
    }
    out
}

/// Transfers of every shape, unsigned and (mode bit 1) signed by the harness.
fn xfr_seeds(recording: &Recording) -> Result<Seeds, String> {
    use RecordType::{AXFR, IXFR};
    let axfr_one = vec![xfr_message(
        AXFR,
        true,
        vec![soa(10), rec("www", 0), rec("txt", 1), rec("mx", 2), soa(10)],
    )];
    let axfr_three = vec![
        xfr_message(AXFR, true, vec![soa(10), rec("a", 0), rec("b", 1)]),
        xfr_message(AXFR, false, vec![rec("c", 2), rec("d", 3)]),
        xfr_message(AXFR, false, vec![rec("e", 4), soa(10)]),
    ];
    let ixfr_delta = vec![xfr_message(
        IXFR,
        true,
        vec![
            soa(10),
            soa(5),
            rec("old", 0),
            soa(7),
            rec("new", 1),
            soa(7),
            rec("gone", 2),
            soa(10),
            rec("added", 3),
            soa(10),
        ],
    )];
    let ixfr_split = vec![
        xfr_message(IXFR, true, vec![soa(10)]),
        xfr_message(
            IXFR,
            false,
            vec![soa(5), rec("x", 0), soa(10), rec("y", 1), soa(10)],
        ),
    ];
    let up_to_date = vec![xfr_message(IXFR, true, vec![soa(5)])];
    let ixfr_full = vec![xfr_message(IXFR, true, vec![soa(10), rec("a", 0), soa(10)])];
    let refused = {
        let mut m = Message::new(XFR_ID, MessageType::Response, OpCode::Query);
        m.metadata.response_code = ResponseCode::Refused;
        m.add_query(Query::query(name(XFR_ZONE), RecordType::IXFR));
        vec![m.to_vec().map_err(|e| e.to_string())?]
    };
    let recorded = recording.unsigned_responses()?;
    let mut seeds = Seeds::new();
    for (mode_bit, tag) in [(0u8, "plain"), (2u8, "signed")] {
        seeds.push((format!("axfr-one-{tag}"), xfr_input(mode_bit, 0, &axfr_one)));
        seeds.push((
            format!("axfr-three-{tag}"),
            xfr_input(mode_bit, 0, &axfr_three),
        ));
        seeds.push((
            format!("ixfr-delta-{tag}"),
            xfr_input(mode_bit | 1, 5, &ixfr_delta),
        ));
        seeds.push((
            format!("ixfr-split-{tag}"),
            xfr_input(mode_bit | 1, 5, &ixfr_split),
        ));
        seeds.push((
            format!("ixfr-uptodate-{tag}"),
            xfr_input(mode_bit | 1, 5, &up_to_date),
        ));
        seeds.push((
            format!("ixfr-full-{tag}"),
            xfr_input(mode_bit | 1, 5, &ixfr_full),
        ));
        seeds.push((
            format!("ixfr-refused-{tag}"),
            xfr_input(mode_bit | 1, 5, &refused),
        ));
        seeds.push((
            format!("bind-axfr-{tag}"),
            xfr_input(mode_bit, 0, &recorded),
        ));
    }
    // The recording as it travelled (signed with its own key): refused here.
    seeds.push((
        "bind-axfr-as-recorded".into(),
        xfr_input(0, 0, &recording.responses),
    ));
    Ok(seeds)
}

/// Signed and unsigned messages for `tsig`: none verifies with the fixed key.
fn tsig_seeds(recording: &Recording) -> Seeds {
    let mut seeds = Seeds::new();
    let with = |selector: u8, msg: &[u8]| {
        let mut v = vec![selector];
        v.extend_from_slice(msg);
        v
    };
    // hmac-sha256 (selector 1) under the recorded key's name: the MAC check runs.
    seeds.push(("bind-request".into(), with(1, &recording.request)));
    if let Some(first) = recording.responses.first() {
        seeds.push(("bind-response-0".into(), with(1, first)));
    }
    let query = raw_query(0x2001, [0, 0], XFR_ZONE, 252, None);
    seeds.push(("unsigned-axfr-query".into(), with(1, &query)));
    // Signed by a key with the fixed key's name but another secret, each algorithm.
    for (i, alg) in TsigAlgorithm::ALL.into_iter().enumerate() {
        let other = TsigKey::new(name(KEY_NAME), alg, b"another secret".to_vec());
        if let Ok((signed, _)) = sign_request(&other, &query, NOW) {
            seeds.push((format!("other-secret-{alg}"), with(i as u8, &signed)));
        }
    }
    // Inputs whose well-formed message has several records (see well_formed_message).
    seeds.push(("records".into(), b"\x01\x12\x34\x84\x00\x03www\x00\x01\x00\x01\x00\x00\x0e\x10\x04\xc0\x00\x02\x01\x00\x00\x10\x00\x01\x00\x00\x00\x3c\x03abc".to_vec()));
    seeds.push((
        "chain-of-four".into(),
        b"\xc1\xab\xcd\x00\x00\x04host\x00\xfa\x00\xff\x00\x00\x00\x00\x00".to_vec(),
    ));
    seeds
}

/// A NOTIFY for `zone` with an SOA serial hint.
fn notify_message(id: u16, zone: &str, qtype: RecordType, serial: Option<u32>) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.add_query(Query::query(name(zone), qtype));
    if let Some(serial) = serial {
        let soa = SOA::new(name("ns.example."), name("h.example."), serial, 1, 1, 1, 1);
        m.add_answer(Record::from_rdata(name(zone), 60, RData::SOA(soa)));
    }
    m.to_vec().expect("encodable NOTIFY")
}

/// DNS UPDATE requests as nsupdate sends them: for the harness to sign (octet 0
/// bit 0) or as they are.
fn update_seeds() -> Seeds {
    let mut m = Message::new(0x4001, MessageType::Query, OpCode::Update);
    m.add_query(Query::query(name("block."), RecordType::SOA));
    // Prerequisite "name is not in use" (class NONE, type ANY, empty RDATA).
    let mut prereq = Record::update0(name("new.example.block."), 0, RecordType::ANY);
    prereq.dns_class = DNSClass::NONE;
    m.add_answer(prereq);
    let add = Record::from_rdata(
        name("new.example.block."),
        60,
        RData::CNAME(CNAME(name("."))),
    );
    let mut delete_rrset = Record::update0(name("old.example.block."), 0, RecordType::CNAME);
    delete_rrset.dns_class = DNSClass::ANY;
    let mut delete_rr = Record::from_rdata(
        name("gone.example.block."),
        0,
        RData::CNAME(CNAME(name("."))),
    );
    delete_rr.dns_class = DNSClass::NONE;
    m.add_authority(add);
    m.add_authority(delete_rrset);
    m.add_authority(delete_rr);
    let msg = m.to_vec().expect("encodable UPDATE");
    let with = |flags: u8, msg: &[u8]| {
        let mut v = vec![flags];
        v.extend_from_slice(msg);
        v
    };
    let mut response = msg.clone();
    response[2] |= 0x80;
    vec![
        ("nsupdate".to_string(), with(0, &msg)),
        ("nsupdate-sign".into(), with(1, &msg)),
        ("response".into(), with(0, &response)),
    ]
}

/// NOTIFY requests: for the harness to sign (octet 0 bit 0) or as they are.
fn notify_seeds() -> Seeds {
    let plain = notify_message(0x3001, "rpz.example.", RecordType::SOA, Some(2024));
    let bare = notify_message(0x3002, "zone.xfr.test.", RecordType::SOA, None);
    let bad_type = notify_message(0x3003, "rpz.example.", RecordType::A, None);
    let with = |flags: u8, msg: &[u8]| {
        let mut v = vec![flags];
        v.extend_from_slice(msg);
        v
    };
    let mut seeds = vec![
        ("plain".to_string(), with(0, &plain)),
        ("plain-sign".into(), with(1, &plain)),
        ("bare-sign".into(), with(1, &bare)),
        ("bad-type".into(), with(0, &bad_type)),
    ];
    let other = TsigKey::new(
        name(KEY_NAME),
        TsigAlgorithm::HmacSha256,
        b"another secret".to_vec(),
    );
    if let Ok((signed, _)) = sign_request(&other, &plain, NOW) {
        seeds.push(("other-secret".into(), with(0, &signed)));
    }
    let mut response = plain.clone();
    response[2] |= 0x80;
    seeds.push(("response".into(), with(0, &response)));
    let mut query_opcode = plain;
    query_opcode[2] &= 0x87;
    seeds.push(("query-opcode".into(), with(0, &query_opcode)));
    seeds
}

/// What browsers and others send to the warning page.
fn http_seeds() -> Seeds {
    let texts: [(&str, &[u8]); 8] = [
        ("get", b"GET / HTTP/1.1\r\nHost: blocked.example\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n"),
        ("head-port", b"HEAD /x?y=1 HTTP/1.0\r\nhost:  blocked.example:8080 \r\n\r\n"),
        ("post-v6", b"POST /form HTTP/1.1\r\nHost: [2001:db8::1]:80\r\nContent-Length: 3\r\n\r\nabc"),
        ("bare-lf", b"GET / HTTP/1.1\nHost: a.example\n\n"),
        ("no-host", b"OPTIONS * HTTP/1.1\r\n\r\n"),
        ("http2", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ("tls", b"\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03"),
        ("bad-host", b"GET / HTTP/1.1\r\nHost: <script>\r\n\r\n"),
    ];
    texts
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_vec()))
        .collect()
}
