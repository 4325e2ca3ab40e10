//! Parser behaviour end to end: text in, records or positioned errors out.

use std::str::FromStr;

use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::{parse_str, ErrorKind, Expected, ParseOptions, ZoneReader};

/// Parses `text` with origin `example.` and no default TTL.
fn parse(text: &str) -> Vec<Record> {
    let options = ParseOptions::with_origin(name("example."));
    match parse_str(text, options) {
        Ok(records) => records,
        Err(err) => panic!("{err}"),
    }
}

/// Parses `text` expecting an error; returns its display form.
fn parse_err(text: &str) -> crate::Error {
    let options = ParseOptions::with_origin(name("example."));
    match parse_str(text, options) {
        Ok(records) => panic!("expected an error, got {records:?}"),
        Err(err) => err,
    }
}

/// A name from text.
fn name(text: &str) -> Name {
    Name::from_str(text).expect("valid name")
}

#[test]
fn smoke_rpz_lines_parse() {
    let records = parse("$TTL 300\nbad123.example45.test CNAME .\nx.test 300 A 192.0.2.10\n");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].name, name("bad123.example45.test.example."));
    assert_eq!(
        records[0].data,
        RData::CNAME(hickory_proto::rr::rdata::CNAME(Name::root()))
    );
    assert_eq!(records[1].ttl, 300);
    assert_eq!(records[1].record_type(), RecordType::A);
    assert_eq!(records[1].dns_class, DNSClass::IN);
}

#[test]
fn smoke_reader_is_lenient() {
    let text = "$TTL 1\na A 1.2.3\nb A 1.2.3.4\n";
    let items: Vec<_> =
        ZoneReader::new(text.as_bytes(), ParseOptions::with_origin(name("example."))).collect();
    assert_eq!(items.len(), 2);
    let err = items[0].as_ref().expect_err("bad address");
    assert_eq!(
        err.to_string(),
        "<input>:2:5: expected an IPv4 address, found \"1.2.3\""
    );
    assert!(matches!(
        err.kind(),
        ErrorKind::Expected {
            expected: Expected::Ipv4,
            ..
        }
    ));
    assert!(items[1].is_ok());
}
