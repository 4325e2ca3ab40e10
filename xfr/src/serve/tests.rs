//! Round trips through this crate's own client: what `MessageWriter` sends, the
//! `XfrInterpreter` (with its TSIG verifier) must accept and rebuild exactly.
#![allow(clippy::unwrap_used)] // Test fixtures: a failing unwrap is a failing test.

use std::str::FromStr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{CNAME, SOA};
use hickory_proto::rr::{Name, RData, Record};

use super::*;
use crate::interpreter::{Limits, Progress, Request, Transfer, XfrInterpreter};
use crate::tsig::TsigAlgorithm;

/// A fixed clock.
const NOW: u64 = 1_700_000_000;

/// The test key.
fn key() -> TsigKey {
    TsigKey::new(
        Name::from_ascii("block-tsig-key.").unwrap(),
        TsigAlgorithm::HmacSha256,
        b"0123456789abcdef0123456789abcdef".to_vec(),
    )
}

/// The zone apex.
fn zone() -> Name {
    Name::from_ascii("block.").unwrap()
}

/// The SOA with `serial`.
fn soa(serial: u32) -> Record {
    let rdata = SOA::new(
        Name::from_ascii("ns.block.").unwrap(),
        Name::from_ascii("hostmaster.block.").unwrap(),
        serial,
        60,
        60,
        3600,
        60,
    );
    Record::from_rdata(zone(), 300, RData::SOA(rdata))
}

/// `n` NXDOMAIN rules.
fn rules(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let owner = Name::from_str(&format!("bad{i}.example.block.")).unwrap();
            Record::from_rdata(owner, 60, RData::CNAME(CNAME(Name::root())))
        })
        .collect()
}

/// Serves `records` (SOA, records, SOA) to the request `bytes` and feeds every
/// message to `interp`; returns the result and the number of messages.
fn serve_axfr(
    bytes: &[u8],
    keys: &[TsigKey],
    records: &[Record],
    interp: &mut XfrInterpreter,
) -> (Transfer, usize) {
    let req = parse_request(bytes, keys, NOW).expect("request parses");
    assert_eq!(req.kind, XfrKind::Axfr);
    let mut w = MessageWriter::with_limit(&req, 2048);
    let mut msgs = Vec::new();
    let all = std::iter::once(soa(7))
        .chain(records.iter().cloned())
        .chain(std::iter::once(soa(7)));
    for r in all {
        if let Some(m) = w.push(&encode_record(&r).unwrap(), NOW).unwrap() {
            msgs.push(m);
        }
    }
    msgs.push(w.finish(NOW).unwrap());
    let n = msgs.len();
    for (i, m) in msgs.iter().enumerate() {
        match interp.feed(m, NOW).expect("message accepted") {
            Progress::NeedMore => assert!(i + 1 < n, "the last message ends the transfer"),
            Progress::Done(t) => {
                assert_eq!(i + 1, n);
                return (t, n);
            }
        }
    }
    panic!("transfer never finished")
}

#[test]
fn a_signed_axfr_split_over_many_messages_verifies_and_rebuilds_the_zone() {
    let k = key();
    let (mut interp, bytes) = XfrInterpreter::start(
        &zone(),
        Request::Axfr,
        Some(&k),
        Limits::default(),
        4242,
        NOW,
    )
    .unwrap();
    let records = rules(500);
    let (t, n) = serve_axfr(&bytes, &[k], &records, &mut interp);
    assert!(
        n > 5,
        "500 records in 2 KiB messages take several messages, got {n}"
    );
    let Transfer::Full { records: got, .. } = t else {
        panic!("expected a full transfer")
    };
    assert_eq!(got.len(), records.len() + 1, "SOA once plus every record");
    assert_eq!(&got[1..], &records[..]);
}

#[test]
fn an_unsigned_axfr_is_answered_unsigned() {
    let (mut interp, bytes) =
        XfrInterpreter::start(&zone(), Request::Axfr, None, Limits::default(), 7, NOW).unwrap();
    let (t, _) = serve_axfr(&bytes, &[key()], &rules(3), &mut interp);
    assert!(matches!(t, Transfer::Full { .. }));
}

#[test]
fn an_ixfr_request_yields_the_clients_serial() {
    let req = Request::Ixfr {
        serial: Serial(41),
        soa: None,
    };
    let (_, bytes) =
        XfrInterpreter::start(&zone(), req, Some(&key()), Limits::default(), 1, NOW).unwrap();
    let parsed = parse_request(&bytes, &[key()], NOW).unwrap();
    assert_eq!(parsed.kind, XfrKind::Ixfr { serial: Serial(41) });
    assert_eq!(parsed.zone, zone());
    assert!(parsed.key().is_some());
}

#[test]
fn a_request_signed_with_an_unknown_key_gets_notauth_badkey() {
    let other = TsigKey::new(
        Name::from_ascii("other.").unwrap(),
        TsigAlgorithm::HmacSha256,
        vec![1; 32],
    );
    let (_, bytes) = XfrInterpreter::start(
        &zone(),
        Request::Axfr,
        Some(&other),
        Limits::default(),
        9,
        NOW,
    )
    .unwrap();
    let err = parse_request(&bytes, &[key()], NOW).unwrap_err();
    assert_eq!(err, ServeError::Tsig(TsigError::BadKey));
    let answer = error_response(&bytes, &err, &[key()], NOW).expect("answered");
    assert_eq!(answer[3] & 0x0f, ResponseCode::NotAuth.low());
    let raw = wire::find_tsig(&answer)
        .unwrap()
        .expect("a TSIG RR carries the error");
    assert_eq!(raw.error, 17, "BADKEY");
}

#[test]
fn a_request_signed_with_a_wrong_secret_gets_badsig() {
    let wrong = TsigKey::new(key().name, TsigAlgorithm::HmacSha256, vec![2; 32]);
    let (_, bytes) = XfrInterpreter::start(
        &zone(),
        Request::Axfr,
        Some(&wrong),
        Limits::default(),
        9,
        NOW,
    )
    .unwrap();
    let err = parse_request(&bytes, &[key()], NOW).unwrap_err();
    assert_eq!(err, ServeError::Tsig(TsigError::BadSig));
    let answer = error_response(&bytes, &err, &[key()], NOW).expect("answered");
    assert_eq!(
        wire::find_tsig(&answer).unwrap().unwrap().error,
        16,
        "BADSIG"
    );
}

#[test]
fn a_refusal_to_a_signed_request_is_signed_and_verifies() {
    let k = key();
    let (mut interp, bytes) =
        XfrInterpreter::start(&zone(), Request::Axfr, Some(&k), Limits::default(), 3, NOW).unwrap();
    let req = parse_request(&bytes, &[k], NOW).unwrap();
    let answer = refusal(&req, ResponseCode::Refused, NOW).unwrap();
    assert_eq!(answer[3] & 0x0f, ResponseCode::Refused.low());
    // The client sees the rcode, not a TSIG failure.
    let err = interp.feed(&answer, NOW).unwrap_err();
    assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
}

#[test]
fn responses_and_non_transfer_questions_are_rejected() {
    let (_, mut bytes) =
        XfrInterpreter::start(&zone(), Request::Axfr, None, Limits::default(), 3, NOW).unwrap();
    let mut response = bytes.clone();
    response[2] |= 0x80;
    assert_eq!(
        parse_request(&response, &[], NOW).unwrap_err(),
        ServeError::IsResponse
    );
    assert_eq!(
        error_response(&response, &ServeError::IsResponse, &[], NOW),
        None
    );
    // QTYPE A instead of AXFR.
    let qtype = bytes.len() - 4;
    bytes[qtype..qtype + 2].copy_from_slice(&1u16.to_be_bytes());
    assert_eq!(
        parse_request(&bytes, &[], NOW).unwrap_err(),
        ServeError::BadQuestion
    );
    // QTYPE SOA: the pre-transfer serial check.
    bytes[qtype..qtype + 2].copy_from_slice(&6u16.to_be_bytes());
    assert_eq!(parse_request(&bytes, &[], NOW).unwrap().kind, XfrKind::Soa);
}

#[test]
fn an_oversized_record_gets_a_message_of_its_own() {
    let (_, bytes) =
        XfrInterpreter::start(&zone(), Request::Axfr, None, Limits::default(), 3, NOW).unwrap();
    let req = parse_request(&bytes, &[], NOW).unwrap();
    let mut w = MessageWriter::with_limit(&req, 512);
    let big = vec![0u8; 700];
    assert!(
        w.push(&big, NOW).unwrap().is_none(),
        "the first record always fits"
    );
    let first = w
        .push(&big, NOW)
        .unwrap()
        .expect("the second starts a new message");
    assert_eq!(u16::from_be_bytes([first[6], first[7]]), 1);
    assert_eq!(
        u16::from_be_bytes([first[4], first[5]]),
        1,
        "question in the first message"
    );
    let last = w.finish(NOW).unwrap();
    assert_eq!(
        u16::from_be_bytes([last[4], last[5]]),
        0,
        "no question after the first"
    );
}

#[test]
fn a_truncated_answer_to_a_signed_axfr_over_udp_verifies_with_tc_set() {
    let k = key();
    let (_, bytes) =
        XfrInterpreter::start(&zone(), Request::Axfr, Some(&k), Limits::default(), 5, NOW).unwrap();
    let req = parse_request(&bytes, std::slice::from_ref(&k), NOW).unwrap();
    let answer = truncated(&req, NOW).unwrap();
    assert_eq!(answer[2] & 0x02, 0x02, "TC");
    let (_, req_mac) = req.signed.clone().unwrap();
    let mut v = crate::tsig::ResponseVerifier::new(k, req_mac);
    v.verify(&answer, NOW).expect("the MAC covers the TC bit");
}
