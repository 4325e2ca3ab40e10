//! Parser behaviour end to end: zone text in, records (shown through the writer) or
//! positioned errors out. One test per rule, named for the rule.

use std::str::FromStr;

use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::{parse_str, Error, ErrorKind, Expected, ParseOptions, Writer, ZoneReader};

/// Options with origin `example.`.
fn options() -> ParseOptions {
    ParseOptions::with_origin(name("example."))
}

/// A name from text.
fn name(text: &str) -> Name {
    Name::from_str(text).expect("valid name")
}

/// Parses `text` (origin `example.`), panicking on error.
fn parse(text: &str) -> Vec<Record> {
    parse_str(text, options()).unwrap_or_else(|err| panic!("{err}"))
}

/// Parses `text` and writes the records back: the canonical text of what was read.
fn canon(text: &str) -> String {
    let mut writer = Writer::new(Vec::new());
    for record in parse(text) {
        writer.write(&record).expect("writes");
    }
    String::from_utf8(writer.into_inner()).expect("utf-8")
}

/// Parses `text` expecting an error.
fn parse_err(text: &str) -> Error {
    match parse_str(text, options()) {
        Ok(records) => panic!("expected an error, got {records:?}"),
        Err(err) => err,
    }
}

/// All items of a lenient read of `text`.
fn lenient(text: &str, options: ParseOptions) -> Vec<Result<Record, Error>> {
    ZoneReader::new(text.as_bytes(), options).collect()
}

// ---- directives -------------------------------------------------------------------------

#[test]
fn origin_directive_completes_relative_names() {
    assert_eq!(
        canon("$ORIGIN other.\n$TTL 1\nwww A 192.0.2.1\n"),
        "www.other.\t1\tIN\tA\t192.0.2.1\n"
    );
}

#[test]
fn a_relative_origin_is_relative_to_the_previous_origin() {
    assert_eq!(
        canon("$ORIGIN sub\n$TTL 1\nwww A 192.0.2.1\n"),
        "www.sub.example.\t1\tIN\tA\t192.0.2.1\n"
    );
}

#[test]
fn relative_names_without_any_origin_are_an_error() {
    let err =
        parse_str("$TTL 1\nwww A 192.0.2.1\n", ParseOptions::default()).expect_err("no origin");
    assert_eq!(
        err.to_string(),
        "<input>:2:1: invalid domain name \"www\": relative name and no $ORIGIN to complete it"
    );
}

#[test]
fn at_sign_stands_for_the_origin() {
    assert_eq!(
        canon("$TTL 1\n@ NS ns\n"),
        "example.\t1\tIN\tNS\tns.example.\n"
    );
}

#[test]
fn ttl_directive_applies_to_records_without_ttl() {
    let records = parse("$TTL 1h30m\na A 192.0.2.1\nb 60 A 192.0.2.2\nc A 192.0.2.3\n");
    let ttls: Vec<u32> = records.iter().map(|r| r.ttl).collect();
    assert_eq!(ttls, [5400, 60, 5400]);
}

#[test]
fn without_ttl_directive_the_previous_ttl_is_inherited() {
    let records = parse("a 120 A 192.0.2.1\nb A 192.0.2.2\n");
    assert_eq!(records[1].ttl, 120);
}

#[test]
fn an_soa_without_any_ttl_takes_its_minimum_field() {
    let records = parse("@ SOA ns host 1 2 3 4 3600\nwww A 192.0.2.1\n");
    assert_eq!(records[0].ttl, 3600);
    assert_eq!(records[1].ttl, 3600);
}

#[test]
fn a_record_without_any_ttl_source_is_an_error_at_its_type() {
    let err = parse_err("www A 192.0.2.1\n");
    assert_eq!(
        err.to_string(),
        "<input>:1:5: no TTL: the record has none, there is no $TTL and no earlier record"
    );
}

#[test]
fn the_default_ttl_option_acts_as_an_initial_ttl_directive() {
    let records = parse_str("www A 192.0.2.1\n", options().default_ttl(77)).expect("parses");
    assert_eq!(records[0].ttl, 77);
}

#[test]
fn ttl_units_are_accepted_in_records() {
    let records = parse("a 1w2d A 192.0.2.1\n");
    assert_eq!(records[0].ttl, 7 * 86_400 + 2 * 86_400);
}

#[test]
fn directives_are_case_insensitive() {
    assert_eq!(
        canon("$origin o.\n$ttl 5\na a 192.0.2.1\n"),
        "a.o.\t5\tIN\tA\t192.0.2.1\n"
    );
}

#[test]
fn unknown_directives_are_reported_where_they_are() {
    let err = parse_err("$TTL 1\n  \n$FOO bar\n");
    assert_eq!(err.to_string(), "<input>:3:1: unknown directive \"$FOO\"");
}

#[test]
fn include_is_refused_for_in_memory_input_and_is_fatal() {
    let items = lenient(
        "$TTL 1\na A 192.0.2.1\n$INCLUDE other.zone\nb A 192.0.2.2\n",
        options(),
    );
    assert_eq!(items.len(), 2);
    let err = items[1].as_ref().expect_err("include refused");
    assert!(matches!(err.kind(), ErrorKind::IncludeNotAllowed));
    assert!(err.is_fatal());
    assert_eq!(err.position().line, 3);
    assert_eq!(err.position().column, 10);
}

#[test]
fn generate_expands_a_range_with_modifiers() {
    let text = "$TTL 60\n$GENERATE 1-3 host-$ A 192.0.2.${10}\n";
    assert_eq!(
        canon(text),
        "host-1.example.\t60\tIN\tA\t192.0.2.11\n\
         host-2.example.\t60\tIN\tA\t192.0.2.12\n\
         host-3.example.\t60\tIN\tA\t192.0.2.13\n"
    );
}

#[test]
fn generate_honours_step_ttl_class_and_escaped_dollars() {
    let text = "$GENERATE 0-4/2 $$x${0,2,x} 30 IN CNAME t$.target.\n";
    assert_eq!(
        canon(text),
        "\\$x00.example.\t30\tIN\tCNAME\tt0.target.\n\
         \\$x02.example.\t30\tIN\tCNAME\tt2.target.\n\
         \\$x04.example.\t30\tIN\tCNAME\tt4.target.\n"
    );
}

#[test]
fn generate_nibble_mode_builds_reverse_names() {
    let text = "$ORIGIN 8.b.d.0.1.0.0.2.ip6.arpa.\n$GENERATE 10-11 ${0,2,n} 60 PTR h$.example.\n";
    let records = parse(text);
    assert_eq!(records[0].name, name("a.0.8.b.d.0.1.0.0.2.ip6.arpa."));
    assert_eq!(records[1].name, name("b.0.8.b.d.0.1.0.0.2.ip6.arpa."));
}

#[test]
fn generate_with_a_reversed_range_is_an_error() {
    let err = parse_err("$GENERATE 5-1 a$ 1 A 192.0.2.$\n");
    assert!(matches!(
        err.kind(),
        ErrorKind::BadGenerateRange {
            start: 5,
            stop: 1,
            step: 1
        }
    ));
    assert_eq!(err.position().column, 11);
}

#[test]
fn generate_with_a_bad_modifier_is_reported_at_the_template() {
    let err = parse_err("$GENERATE 1-2 a${1,2,q} 1 A 192.0.2.$\n");
    assert!(matches!(
        err.kind(),
        ErrorKind::Expected {
            expected: Expected::GenerateTemplate,
            ..
        }
    ));
    assert_eq!(err.position().column, 15);
}

#[test]
fn generated_records_count_against_the_record_limit() {
    let items = lenient(
        "$GENERATE 1-100 a$ 1 A 192.0.2.1\n",
        options().max_records(Some(10)),
    );
    assert_eq!(items.iter().filter(|i| i.is_ok()).count(), 10);
    let last = items.last().expect("items").as_ref().expect_err("limit");
    assert!(matches!(
        last.kind(),
        ErrorKind::TooManyRecords { limit: 10 }
    ));
}

// ---- owners, classes, layout ------------------------------------------------------------

#[test]
fn a_line_starting_with_a_blank_inherits_the_owner() {
    let records = parse("$TTL 1\nwww A 192.0.2.1\n  AAAA 2001:db8::1\n\tTXT hi\n");
    assert!(records.iter().all(|r| r.name == name("www.example.")));
}

#[test]
fn a_blank_owner_with_no_previous_record_is_an_error() {
    let err = parse_err("$TTL 1\n   A 192.0.2.1\n");
    assert_eq!(
        err.to_string(),
        "<input>:2:4: no owner name: the line starts with a blank and no record precedes it"
    );
}

#[test]
fn ttl_and_class_may_come_in_either_order() {
    let a = parse("a 60 IN A 192.0.2.1\n");
    let b = parse("a IN 60 A 192.0.2.1\n");
    assert_eq!((a[0].ttl, a[0].dns_class), (b[0].ttl, b[0].dns_class));
}

#[test]
fn the_class_is_inherited_and_generic_classes_parse() {
    let records = parse("$TTL 1\na CH TXT x\nb TXT y\nc CLASS4000 TYPE65280 \\# 0\n");
    assert_eq!(records[0].dns_class, DNSClass::CH);
    assert_eq!(records[1].dns_class, DNSClass::CH);
    assert_eq!(records[2].dns_class, DNSClass::Unknown(4000));
}

#[test]
fn two_ttls_in_one_record_are_an_error() {
    let err = parse_err("a 60 60 A 192.0.2.1\n");
    assert_eq!(err.position().column, 6);
}

#[test]
fn parentheses_let_a_record_span_lines_with_comments() {
    let text = "$TTL 1\n@ SOA ns host ( ; primary and contact\n  2024010101 ; serial\n  1h 15m 1w\n  5m )\n";
    assert_eq!(
        canon(text),
        "example.\t1\tIN\tSOA\tns.example. host.example. 2024010101 3600 900 604800 300\n"
    );
}

#[test]
fn crlf_line_endings_and_a_missing_final_newline_are_accepted() {
    assert_eq!(
        canon("$TTL 1\r\na A 192.0.2.1\r\nb A 192.0.2.2")
            .lines()
            .count(),
        2
    );
}

#[test]
fn comments_and_blank_lines_are_ignored() {
    assert_eq!(
        parse("; header\n\n$TTL 1 ; default\n\n  ; indented comment\na A 192.0.2.1 ; web\n").len(),
        1
    );
}

// ---- escapes and strings ----------------------------------------------------------------

#[test]
fn names_decode_backslash_escapes() {
    let records = parse("$TTL 1\na\\.b\\032c A 192.0.2.1\n\\065 A 192.0.2.1\n");
    assert_eq!(records[0].name.iter().next(), Some(&b"a.b c"[..]));
    assert_eq!(records[1].name.iter().next(), Some(&b"A"[..]));
}

#[test]
fn quoted_strings_keep_blanks_and_decode_escapes() {
    assert_eq!(
        canon("$TTL 1\nt TXT \"a b;c\" \"q\\\"\\092\" plain\n"),
        "t.example.\t1\tIN\tTXT\t\"a b;c\" \"q\\\"\\\\\" \"plain\"\n"
    );
}

#[test]
fn non_printable_bytes_in_strings_round_trip_as_decimal_escapes() {
    assert_eq!(
        canon("$TTL 1\nt TXT \"\\000\\255\"\n"),
        "t.example.\t1\tIN\tTXT\t\"\\000\\255\"\n"
    );
}

#[test]
fn an_unterminated_quote_is_reported_at_the_quote_and_skipped() {
    let items = lenient("$TTL 1\na TXT \"abc\nb A 192.0.2.1\n", options());
    let err = items[0].as_ref().expect_err("unterminated");
    assert_eq!(
        err.to_string(),
        "<input>:2:7: quoted string not closed before the end of the line"
    );
    assert!(items[1].is_ok());
}

#[test]
fn a_bad_escape_in_a_name_is_an_error() {
    let err = parse_err("$TTL 1\na\\300 A 192.0.2.1\n");
    assert!(matches!(err.kind(), ErrorKind::BadName { .. }));
}

#[test]
fn a_string_over_255_bytes_is_an_error() {
    let err = parse_err(&format!("$TTL 1\nt TXT {}\n", "x".repeat(256)));
    assert!(matches!(
        err.kind(),
        ErrorKind::Expected {
            expected: Expected::CharString,
            ..
        }
    ));
    assert_eq!(err.position().column, 7);
}

// ---- RFC 3597 ---------------------------------------------------------------------------

#[test]
fn unknown_types_parse_in_generic_form() {
    assert_eq!(
        canon("$TTL 1\nx TYPE65280 \\# 3 ABcd ef\n"),
        "x.example.\t1\tIN\tTYPE65280\t\\# 3 ABCDEF\n"
    );
}

#[test]
fn known_types_in_generic_form_equal_their_text_form() {
    let generic = parse("$TTL 1\nx A \\# 4 C0000201\nx MX \\# 7 000A 01 61 01 62 00\n");
    let text = parse("$TTL 1\nx A 192.0.2.1\nx MX 10 a.b.\n");
    assert_eq!(generic, text);
}

#[test]
fn a_generic_length_mismatch_is_an_error() {
    let err = parse_err("$TTL 1\nx TYPE65280 \\# 4 00\n");
    assert!(matches!(
        err.kind(),
        ErrorKind::GenericLengthMismatch {
            declared: 4,
            actual: 1
        }
    ));
}

#[test]
fn types_without_a_text_form_require_the_generic_form() {
    let err = parse_err("$TTL 1\nx TYPE65280 hello\n");
    assert!(matches!(
        err.kind(),
        ErrorKind::Expected {
            expected: Expected::GenericRdata,
            ..
        }
    ));
}

#[test]
fn meta_types_are_refused() {
    for meta in ["TSIG", "AXFR", "ANY", "TYPE41"] {
        let err = parse_err(&format!("$TTL 1\nx {meta} \\# 0\n"));
        assert!(
            matches!(err.kind(), ErrorKind::UnsupportedType { .. }),
            "{meta}: {err}"
        );
    }
}

// ---- record types -----------------------------------------------------------------------

/// Parses each `(input, canonical)` pair, checks the writer's text, and checks that the
/// text parses back to the same record.
fn check_types(cases: &[(&str, &str)]) {
    for (input, expected) in cases {
        let text = format!("$TTL 300\n{input}\n");
        let got = canon(&text);
        assert_eq!(&got, expected, "for {input}");
        let again = parse(&got);
        assert_eq!(again, parse(&text), "round trip of {input}");
        assert_eq!(again[0].ttl, 300);
    }
}

#[test]
fn common_types_parse_and_write_back() {
    check_types(&[
        (
            "@ SOA ns.example. h.example. 1 2 3 4 5",
            "example.\t300\tIN\tSOA\tns.example. h.example. 1 2 3 4 5\n",
        ),
        ("@ NS ns", "example.\t300\tIN\tNS\tns.example.\n"),
        ("a A 192.0.2.1", "a.example.\t300\tIN\tA\t192.0.2.1\n"),
        (
            "a AAAA 2001:db8::1",
            "a.example.\t300\tIN\tAAAA\t2001:db8::1\n",
        ),
        ("c CNAME a", "c.example.\t300\tIN\tCNAME\ta.example.\n"),
        ("d DNAME target.", "d.example.\t300\tIN\tDNAME\ttarget.\n"),
        ("1 PTR host.", "1.example.\t300\tIN\tPTR\thost.\n"),
        ("@ MX 10 mail", "example.\t300\tIN\tMX\t10 mail.example.\n"),
        (
            "t TXT \"v=spf1 -all\"",
            "t.example.\t300\tIN\tTXT\t\"v=spf1 -all\"\n",
        ),
        (
            "_sip._tcp SRV 0 5 5060 sip",
            "_sip._tcp.example.\t300\tIN\tSRV\t0 5 5060 sip.example.\n",
        ),
        (
            "h HINFO PC Linux",
            "h.example.\t300\tIN\tHINFO\t\"PC\" \"Linux\"\n",
        ),
        (
            "n NAPTR 100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp",
            "n.example.\t300\tIN\tNAPTR\t100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.\n",
        ),
    ]);
}

#[test]
fn security_types_parse_and_write_back() {
    check_types(&[
        (
            "@ CAA 0 issue \"ca.example.net\"",
            "example.\t300\tIN\tCAA\t0 issue \"ca.example.net\"\n",
        ),
        (
            "s SSHFP 4 2 ab12CD34",
            "s.example.\t300\tIN\tSSHFP\t4 2 AB12CD34\n",
        ),
        (
            "_443._tcp TLSA 3 1 1 0123 4567",
            "_443._tcp.example.\t300\tIN\tTLSA\t3 1 1 01234567\n",
        ),
        (
            "@ OPENPGPKEY AQID BA==",
            "example.\t300\tIN\tOPENPGPKEY\tAQIDBA==\n",
        ),
    ]);
}

#[test]
fn dnssec_types_parse_and_write_back() {
    check_types(&[
        ("@ DS 12345 13 2 ABCDEF01 23456789", "example.\t300\tIN\tDS\t12345 13 2 ABCDEF0123456789\n"),
        ("@ DNSKEY 257 3 13 AQID BAUG", "example.\t300\tIN\tDNSKEY\t257 3 13 AQIDBAUG\n"),
        (
            "@ RRSIG A 13 2 300 20240301000000 20240201000000 12345 example. AQID",
            "example.\t300\tIN\tRRSIG\tA 13 2 300 20240301000000 20240201000000 12345 example. AQID\n",
        ),
        ("@ NSEC a.example. A NS SOA RRSIG NSEC DNSKEY TYPE1234", "example.\t300\tIN\tNSEC\ta.example. A NS SOA RRSIG NSEC DNSKEY TYPE1234\n"),
        (
            "@ NSEC3 1 0 10 AABB 2t7b4g4vsa5smi47k61mv5bv1a22bojr A RRSIG",
            "example.\t300\tIN\tNSEC3\t1 0 10 AABB 2t7b4g4vsa5smi47k61mv5bv1a22bojr A RRSIG\n",
        ),
        ("@ NSEC3PARAM 1 0 0 -", "example.\t300\tIN\tNSEC3PARAM\t1 0 0 -\n"),
    ]);
}

#[test]
fn service_binding_types_parse_and_write_back() {
    check_types(&[
        ("@ HTTPS 0 svc.example.", "example.\t300\tIN\tHTTPS\t0 svc.example.\n"),
        (
            "@ HTTPS 1 . alpn=h2,h3 port=8443 ipv4hint=192.0.2.1,192.0.2.2",
            "example.\t300\tIN\tHTTPS\t1 . alpn=h2,h3 port=8443 ipv4hint=192.0.2.1,192.0.2.2\n",
        ),
        (
            "_dns SVCB 1 dns ipv6hint=2001:db8::1 alpn=\"dot\" mandatory=alpn",
            "_dns.example.\t300\tIN\tSVCB\t1 dns.example. mandatory=alpn alpn=dot ipv6hint=2001:db8::1\n",
        ),
    ]);
}

/// Found by the `zonefile` fuzz target: an ALPN id holding a parenthesis was written bare
/// (`alpn=(2`), which the parser reads as the start of a multi-line entry.
#[test]
fn alpn_ids_with_parentheses_are_written_so_they_parse_back() {
    for id in ["(2", "h)", "a(b)c"] {
        let text = format!("$TTL 300\n@ HTTPS 1 . alpn=\"{id}\"\n");
        let written = canon(&text);
        assert_eq!(parse(&written), parse(&text), "{id}: {written}");
    }
}

#[test]
fn record_types_are_case_insensitive() {
    assert_eq!(
        parse("$TTL 1\na cname b\n")[0].record_type(),
        RecordType::CNAME
    );
    assert_eq!(
        parse("$TTL 1\na Nsec3Param 1 0 0 -\n")[0].record_type(),
        RecordType::NSEC3PARAM
    );
}

#[test]
fn rpz_actions_parse_as_cnames() {
    let records = parse(
        "$TTL 1\nbad CNAME .\nnodata CNAME *.\npass CNAME rpz-passthru.\n*.wild CNAME rpz-drop.\n",
    );
    assert_eq!(
        records[0].data,
        RData::CNAME(hickory_proto::rr::rdata::CNAME(Name::root()))
    );
    assert_eq!(
        records[1].data,
        RData::CNAME(hickory_proto::rr::rdata::CNAME(name("*.")))
    );
    assert!(records[3].name.is_wildcard());
}

// ---- errors and their positions ---------------------------------------------------------

#[test]
fn a_bad_ipv4_address_is_reported_with_line_and_column() {
    let err = parse_err("$TTL 1\nwww  300 IN A 1.2.3\n");
    assert_eq!(
        err.to_string(),
        "<input>:2:15: expected an IPv4 address, found \"1.2.3\""
    );
}

#[test]
fn missing_rdata_is_reported_after_the_last_token() {
    let err = parse_err("$TTL 1\nmx MX 10\n");
    assert_eq!(
        err.to_string(),
        "<input>:2:9: expected a domain name, found end of record"
    );
}

#[test]
fn trailing_data_is_an_error() {
    let err = parse_err("$TTL 1\na A 192.0.2.1 junk\n");
    assert_eq!(
        err.to_string(),
        "<input>:2:15: expected the end of the record, found \"junk\""
    );
}

#[test]
fn an_unknown_type_word_is_an_error() {
    let err = parse_err("$TTL 1\na BOGUS 1\n");
    assert_eq!(
        err.to_string(),
        "<input>:2:3: expected a TTL, class or record type, found \"BOGUS\""
    );
}

#[test]
fn a_bad_ttl_is_an_error() {
    let err = parse_err("a 1x A 192.0.2.1\n");
    assert!(matches!(
        err.kind(),
        ErrorKind::Expected {
            expected: Expected::Ttl,
            ..
        }
    ));
    assert_eq!(err.position().column, 3);
}

#[test]
fn numbers_out_of_range_are_errors() {
    let err = parse_err("$TTL 1\n@ MX 65536 mail\n");
    assert!(matches!(
        err.kind(),
        ErrorKind::Expected {
            expected: Expected::U16,
            ..
        }
    ));
    assert_eq!(err.position().column, 6);
}

#[test]
fn a_label_over_63_bytes_is_an_error() {
    let err = parse_err(&format!("$TTL 1\n{} A 192.0.2.1\n", "a".repeat(64)));
    assert!(matches!(
        err.kind(),
        ErrorKind::BadName {
            reason: crate::NameError::LabelTooLong,
            ..
        }
    ));
}

#[test]
fn bad_base64_is_reported_at_its_first_token() {
    let err = parse_err("$TTL 1\n@ DNSKEY 257 3 13 AQ!D\n");
    assert!(matches!(
        err.kind(),
        ErrorKind::Expected {
            expected: Expected::Base64,
            ..
        }
    ));
    assert_eq!(err.position().column, 19);
}

#[test]
fn a_stray_closing_parenthesis_is_an_error_and_the_rest_loads() {
    let items = lenient("$TTL 1\na A 192.0.2.1 )\nb A 192.0.2.2\n", options());
    assert_eq!(
        items[0].as_ref().expect_err("unbalanced").position().column,
        15
    );
    assert!(items[1].is_ok());
}

#[test]
fn an_unclosed_parenthesis_at_the_end_is_fatal() {
    let err = parse_err("$TTL 1\n@ SOA ns host ( 1 2 3\n 4 5\n");
    assert_eq!(
        err.to_string(),
        "<input>:2:15: parenthesis opened here is never closed"
    );
    assert!(err.is_fatal());
}

#[test]
fn lenient_reading_skips_bad_records_and_loads_the_rest() {
    let text = "$TTL 1\na A 192.0.2.1\nb A nope\nc CNAME .\nd MX x y\ne AAAA ::1\n";
    let items = lenient(text, options());
    let ok: Vec<String> = items.iter().flatten().map(|r| r.name.to_string()).collect();
    assert_eq!(ok, ["a.example.", "c.example.", "e.example."]);
    let lines: Vec<u64> = items
        .iter()
        .filter_map(|i| i.as_ref().err())
        .map(|e| e.position().line)
        .collect();
    assert_eq!(lines, [3, 5]);
}

#[test]
fn the_reader_tells_where_the_last_record_came_from() {
    let mut reader = ZoneReader::new(&b"$TTL 1\n\na A 192.0.2.1\n"[..], options());
    assert!(reader.next().is_some());
    assert_eq!(reader.position().line, 3);
    assert_eq!(reader.records_read(), 1);
}

// ---- limits -----------------------------------------------------------------------------

#[test]
fn a_line_over_the_limit_is_fatal() {
    let text = format!("$TTL 1\nt TXT {}\nb A 192.0.2.1\n", "x".repeat(200));
    let items = lenient(&text, options().max_line_len(100));
    assert_eq!(items.len(), 1);
    let err = items[0].as_ref().expect_err("too long");
    assert!(matches!(err.kind(), ErrorKind::LineTooLong { limit: 100 }));
    assert_eq!(err.position().line, 2);
}

#[test]
fn an_entry_over_the_limit_is_fatal() {
    let text = "$TTL 1\nt TXT ( a\n b\n c\n d\n e )\n";
    let items = lenient(text, options().max_entry_len(16));
    assert!(matches!(
        items
            .last()
            .expect("items")
            .as_ref()
            .expect_err("too long")
            .kind(),
        ErrorKind::EntryTooLong { .. }
    ));
}

#[test]
fn input_over_the_byte_limit_is_refused() {
    let text = "$TTL 1\na A 192.0.2.1\nb A 192.0.2.2\nc A 192.0.2.3\n";
    let items = lenient(text, options().max_bytes(Some(30)));
    let err = items.last().expect("items").as_ref().expect_err("too big");
    assert_eq!(err.to_string(), "<input>:3:0: input larger than 30 bytes");
    assert_eq!(items.iter().filter(|i| i.is_ok()).count(), 1);
}

#[test]
fn records_over_the_limit_are_refused() {
    let items = lenient(
        "$TTL 1\na A 192.0.2.1\nb A 192.0.2.2\n",
        options().max_records(Some(1)),
    );
    assert_eq!(items.len(), 2);
    assert!(items[1].as_ref().expect_err("limit").is_fatal());
}

#[test]
fn a_long_line_split_across_buffer_refills_is_read_whole() {
    let txt = "y".repeat(200);
    let text = format!("$TTL 1\nt TXT {txt}\n");
    let reader = std::io::BufReader::with_capacity(16, text.as_bytes());
    let records: Vec<Record> = ZoneReader::new(reader, options())
        .collect::<Result<_, _>>()
        .expect("parses");
    assert_eq!(records.len(), 1);
}

#[test]
fn readers_and_errors_can_move_to_a_loader_thread() {
    fn assert_send<T: Send>() {}
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send::<ZoneReader<'static>>();
    assert_send_sync::<Error>();
}
