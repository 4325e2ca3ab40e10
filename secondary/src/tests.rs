//! Unit tests of the distribution pieces that need no primary: owner grouping,
//! control-verb lookups and the NOTIFY decisions.

use std::net::SocketAddr;
use std::path::Path;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;

fn record(owner: &str) -> Record {
    Record::from_rdata(
        Name::from_ascii(owner).expect("name"),
        60,
        RData::A(A::new(192, 0, 2, 1)),
    )
}

fn config(extra: &str) -> Config {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:5300\"]\ndirectory = \"/tmp\"\n\
         [[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\"\n\
         [[response-policy.zone]]\nname = \"rpz.test\"\nprimaries = [\"192.0.2.53\"]\n{extra}\n\
         [[response-policy.zone]]\nname = \"local.test\"\nfile = \"local.db\"\n"
    );
    Config::from_toml_str(&text, Path::new("/tmp/sekisho.toml")).expect("valid config")
}

fn distribution(extra: &str) -> Arc<Distribution> {
    let c = config(extra);
    let store = Arc::new(PolicyStore::new(
        &c.response_policy,
        &c.server.directory,
        None,
    ));
    let registry = prometheus::Registry::new();
    Distribution::new(&c, store, &registry).expect("distribution")
}

fn notify_packet(zone: &str) -> Vec<u8> {
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.add_query(Query::query(
        Name::from_ascii(zone).expect("name"),
        RecordType::SOA,
    ));
    m.to_vec().expect("encode")
}

fn rcode_of(answer: &[u8]) -> ResponseCode {
    Message::from_vec(answer)
        .expect("answer decodes")
        .metadata
        .response_code
}

#[test]
fn owners_split_by_another_owner_are_noticed() {
    let ok = [
        record("a.rpz.test."),
        record("a.rpz.test."),
        record("b.rpz.test."),
    ];
    assert!(owners_contiguous(&ok));
    let split = [
        record("a.rpz.test."),
        record("b.rpz.test."),
        record("A.rpz.test."),
    ];
    assert!(!owners_contiguous(&split));
}

#[test]
fn refresh_of_an_unknown_or_file_only_zone_says_why() {
    let d = distribution("");
    assert_eq!(
        d.request_check("nope.test", false),
        Err("no policy zone named nope.test".into())
    );
    let e = d.request_check("local.test.", true).expect_err("file zone");
    assert!(e.contains("has no primaries"), "{e}");
    assert_eq!(
        d.request_check("RPZ.test", false),
        Ok("refresh of rpz.test. queued".into())
    );
}

#[test]
fn a_notify_from_a_listed_primary_is_accepted() {
    let d = distribution("");
    let mut out = Vec::new();
    let from: SocketAddr = "192.0.2.53:4000".parse().expect("addr");
    assert!(d.handle_notify(&notify_packet("rpz.test."), from, &mut out));
    assert_eq!(rcode_of(&out), ResponseCode::NoError);
    assert_eq!(
        d.notify_total
            .with_label_values(&["rpz.test.", "accepted"])
            .get(),
        1
    );
}

#[test]
fn a_notify_from_a_stranger_is_refused_and_counted() {
    let d = distribution("");
    let mut out = Vec::new();
    let from: SocketAddr = "198.51.100.7:4000".parse().expect("addr");
    for _ in 0..3 {
        assert!(d.handle_notify(&notify_packet("rpz.test."), from, &mut out));
        assert_eq!(rcode_of(&out), ResponseCode::Refused);
    }
    assert_eq!(
        d.notify_total
            .with_label_values(&["rpz.test.", "refused"])
            .get(),
        3
    );
}

#[test]
fn an_unsigned_notify_for_a_keyed_zone_is_refused() {
    let d = distribution("key = \"k\"");
    let mut out = Vec::new();
    let from: SocketAddr = "192.0.2.53:4000".parse().expect("addr");
    assert!(d.handle_notify(&notify_packet("rpz.test."), from, &mut out));
    assert_eq!(rcode_of(&out), ResponseCode::Refused);
}

#[test]
fn a_notify_for_a_zone_we_do_not_transfer_is_notauth() {
    let d = distribution("");
    let mut out = Vec::new();
    let from: SocketAddr = "192.0.2.53:4000".parse().expect("addr");
    assert!(d.handle_notify(&notify_packet("local.test."), from, &mut out));
    assert_eq!(rcode_of(&out), ResponseCode::NotAuth);
}
