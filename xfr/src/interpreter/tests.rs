//! Unit tests for the transfer interpreter with crafted responses, grouped by RFC.

use std::net::Ipv4Addr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;
use crate::tsig::{ResponseSigner, TsigAlgorithm, TsigKey};

const ID: u16 = 0x5151;
const NOW: u64 = 1_764_000_000;

fn zone() -> Name {
    Name::from_ascii("rpz.example.").expect("name")
}

fn soa(serial: u32) -> Record {
    Record::from_rdata(
        zone(),
        300,
        RData::SOA(SOA::new(
            Name::from_ascii("ns.rpz.example.").expect("name"),
            Name::from_ascii("hostmaster.rpz.example.").expect("name"),
            serial,
            3600,
            600,
            86400,
            60,
        )),
    )
}

fn a(label: &str, last: u8) -> Record {
    let name = Name::from_ascii(format!("{label}.rpz.example.")).expect("name");
    Record::from_rdata(name, 60, RData::A(A(Ipv4Addr::new(192, 0, 2, last))))
}

fn txt(label: &str) -> Record {
    let name = Name::from_ascii(format!("{label}.rpz.example.")).expect("name");
    Record::from_rdata(name, 60, RData::TXT(TXT::new(vec![label.to_owned()])))
}

/// A response message with `answers`, the question only when `question` is set.
fn response(qtype: RecordType, question: bool, answers: Vec<Record>) -> Vec<u8> {
    response_with(ID, qtype, question, ResponseCode::NoError, answers)
}

fn response_with(
    id: u16,
    qtype: RecordType,
    question: bool,
    rcode: ResponseCode,
    answers: Vec<Record>,
) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Response, OpCode::Query);
    m.metadata.response_code = rcode;
    m.metadata.authoritative = true;
    if question {
        m.add_query(Query::query(zone(), qtype));
    }
    m.add_answers(answers);
    m.to_vec().expect("encode")
}

fn axfr() -> XfrInterpreter {
    XfrInterpreter::start(&zone(), Request::Axfr, None, Limits::default(), ID, NOW)
        .expect("start")
        .0
}

fn ixfr(serial: u32) -> XfrInterpreter {
    let request = Request::Ixfr {
        serial: Serial(serial),
        soa: None,
    };
    XfrInterpreter::start(&zone(), request, None, Limits::default(), ID, NOW)
        .expect("start")
        .0
}

fn done(p: Progress) -> Transfer {
    match p {
        Progress::Done(t) => t,
        Progress::NeedMore => panic!("transfer not complete"),
    }
}

// Requests.

#[test]
fn an_axfr_request_asks_one_question_and_nothing_else() {
    let (_, bytes) =
        XfrInterpreter::start(&zone(), Request::Axfr, None, Limits::default(), ID, NOW)
            .expect("start");
    let m = Message::from_vec(&bytes).expect("decode");
    assert_eq!(m.id, ID);
    assert_eq!(m.queries.len(), 1);
    assert_eq!(m.queries[0].query_type(), RecordType::AXFR);
    assert!(m.authorities.is_empty() && m.additionals.is_empty() && m.signature.is_none());
}

#[test]
fn an_ixfr_request_carries_our_serial_in_an_authority_soa() {
    let request = Request::Ixfr {
        serial: Serial(41),
        soa: None,
    };
    let (_, bytes) =
        XfrInterpreter::start(&zone(), request, None, Limits::default(), ID, NOW).expect("start");
    let m = Message::from_vec(&bytes).expect("decode");
    assert_eq!(m.queries[0].query_type(), RecordType::IXFR);
    assert_eq!(m.authorities.len(), 1);
    assert_eq!(m.authorities[0].name, zone());
    assert!(matches!(&m.authorities[0].data, RData::SOA(s) if s.serial == 41));
}

#[test]
fn a_request_with_a_key_is_signed() {
    let key = TsigKey::new(
        Name::from_ascii("k.").expect("name"),
        TsigAlgorithm::HmacSha256,
        vec![1; 32],
    );
    let (_, bytes) = XfrInterpreter::start(
        &zone(),
        Request::Axfr,
        Some(&key),
        Limits::default(),
        ID,
        NOW,
    )
    .expect("start");
    let tsig = wire::find_tsig(&bytes).expect("parse").expect("signed");
    assert_eq!(tsig.original_id, ID);
}

// RFC 5936 section 2.2: AXFR responses.

#[test]
fn an_axfr_in_one_message_yields_the_full_zone_with_the_soa_once() {
    let mut x = axfr();
    let msg = response(
        RecordType::AXFR,
        true,
        vec![soa(7), a("a", 1), txt("b"), soa(7)],
    );
    let t = done(x.feed(&msg, NOW).expect("valid"));
    assert_eq!(t.serial(), Serial(7));
    match t {
        Transfer::Full { soa: s, records } => {
            assert_eq!(s, soa(7));
            assert_eq!(records, vec![soa(7), a("a", 1), txt("b")]);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn an_axfr_over_several_messages_yields_the_full_zone() {
    let mut x = axfr();
    let m1 = response(RecordType::AXFR, true, vec![soa(7), a("a", 1)]);
    let m2 = response(RecordType::AXFR, false, vec![a("b", 2)]);
    let m3 = response(RecordType::AXFR, true, vec![a("c", 3), soa(7)]);
    assert_eq!(x.feed(&m1, NOW).expect("m1"), Progress::NeedMore);
    assert_eq!(x.feed(&m2, NOW).expect("m2"), Progress::NeedMore);
    match done(x.feed(&m3, NOW).expect("m3")) {
        Transfer::Full { records, .. } => assert_eq!(records.len(), 4),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn an_axfr_whose_first_record_is_not_the_soa_is_rejected() {
    let mut x = axfr();
    let msg = response(RecordType::AXFR, true, vec![a("a", 1), soa(7)]);
    assert!(matches!(
        x.feed(&msg, NOW),
        Err(XfrError::FirstRecordNotSoa)
    ));
}

#[test]
fn an_axfr_closing_with_another_serial_is_rejected() {
    let mut x = axfr();
    let msg = response(RecordType::AXFR, true, vec![soa(7), a("a", 1), soa(8)]);
    assert!(matches!(
        x.feed(&msg, NOW),
        Err(XfrError::EndSoaMismatch {
            first: Serial(7),
            last: Serial(8)
        })
    ));
}

#[test]
fn records_after_the_closing_soa_in_the_same_message_are_rejected() {
    let mut x = axfr();
    let msg = response(RecordType::AXFR, true, vec![soa(7), soa(7), a("a", 1)]);
    assert!(matches!(x.feed(&msg, NOW), Err(XfrError::TrailingRecords)));
}

#[test]
fn a_message_after_the_closing_soa_is_rejected() {
    let mut x = axfr();
    done(
        x.feed(&response(RecordType::AXFR, true, vec![soa(7), soa(7)]), NOW)
            .expect("valid"),
    );
    let extra = response(RecordType::AXFR, false, vec![a("a", 1)]);
    assert!(matches!(
        x.feed(&extra, NOW),
        Err(XfrError::TrailingRecords)
    ));
}

#[test]
fn trailing_bytes_after_the_last_record_are_rejected() {
    let mut x = axfr();
    let mut msg = response(RecordType::AXFR, true, vec![soa(7), soa(7)]);
    msg.extend_from_slice(&[0, 0, 0]);
    assert!(matches!(
        x.feed(&msg, NOW),
        Err(XfrError::Malformed(wire::WireError::TrailingBytes {
            extra: 3
        }))
    ));
}

#[test]
fn a_message_cut_short_is_rejected() {
    let mut x = axfr();
    let msg = response(RecordType::AXFR, true, vec![soa(7), a("a", 1), soa(7)]);
    assert!(matches!(
        x.feed(&msg[..msg.len() / 2], NOW),
        Err(XfrError::Malformed(_))
    ));
}

#[test]
fn a_response_with_another_id_is_rejected() {
    let mut x = axfr();
    let msg = response_with(
        ID + 1,
        RecordType::AXFR,
        true,
        ResponseCode::NoError,
        vec![soa(7), soa(7)],
    );
    assert!(matches!(
        x.feed(&msg, NOW),
        Err(XfrError::IdMismatch { .. })
    ));
}

#[test]
fn a_first_message_without_the_question_is_rejected() {
    let mut x = axfr();
    let msg = response(RecordType::AXFR, false, vec![soa(7), soa(7)]);
    assert!(matches!(x.feed(&msg, NOW), Err(XfrError::QuestionMismatch)));
}

#[test]
fn a_response_to_another_question_type_is_rejected() {
    let mut x = axfr();
    let msg = response(RecordType::IXFR, true, vec![soa(7), soa(7)]);
    assert!(matches!(x.feed(&msg, NOW), Err(XfrError::QuestionMismatch)));
}

#[test]
fn a_query_instead_of_a_response_is_rejected() {
    let mut x = axfr();
    let mut msg = response(RecordType::AXFR, true, vec![soa(7), soa(7)]);
    msg[2] &= 0x7F; // clear QR
    assert!(matches!(x.feed(&msg, NOW), Err(XfrError::NotAResponse)));
}

#[test]
fn a_refused_axfr_is_an_rcode_error() {
    let mut x = axfr();
    let msg = response_with(ID, RecordType::AXFR, true, ResponseCode::Refused, vec![]);
    let err = x.feed(&msg, NOW).expect_err("refused");
    assert!(matches!(
        err,
        XfrError::Rcode {
            rcode: ResponseCode::Refused
        }
    ));
    assert!(!err.suggests_axfr_fallback());
    assert_eq!(err.as_metrics_label(), "refused");
}

#[test]
fn a_notauth_axfr_is_an_rcode_error() {
    let mut x = axfr();
    let msg = response_with(ID, RecordType::AXFR, true, ResponseCode::NotAuth, vec![]);
    assert!(matches!(
        x.feed(&msg, NOW),
        Err(XfrError::Rcode {
            rcode: ResponseCode::NotAuth
        })
    ));
}

#[test]
fn a_record_outside_the_zone_is_rejected() {
    let mut x = axfr();
    let stray = Record::from_rdata(
        Name::from_ascii("elsewhere.example.").expect("name"),
        60,
        RData::A(A(Ipv4Addr::LOCALHOST)),
    );
    let msg = response(RecordType::AXFR, true, vec![soa(7), stray, soa(7)]);
    assert!(matches!(x.feed(&msg, NOW), Err(XfrError::OutOfZone { .. })));
}

// Limits.

#[test]
fn the_byte_limit_stops_a_transfer_before_it_completes() {
    let m1 = response(RecordType::AXFR, true, vec![soa(7), a("a", 1)]);
    let limits = Limits {
        max_bytes: m1.len() as u64 + 10,
        ..Limits::default()
    };
    let (mut x, _) =
        XfrInterpreter::start(&zone(), Request::Axfr, None, limits, ID, NOW).expect("start");
    x.feed(&m1, NOW).expect("first fits");
    let m2 = response(RecordType::AXFR, false, vec![a("b", 2), a("c", 3)]);
    assert!(matches!(
        x.check_incoming(m2.len()),
        Err(XfrError::Limit(LimitKind::Bytes))
    ));
    assert!(matches!(
        x.feed(&m2, NOW),
        Err(XfrError::Limit(LimitKind::Bytes))
    ));
}

#[test]
fn the_record_limit_stops_a_transfer() {
    let limits = Limits {
        max_records: 3,
        ..Limits::default()
    };
    let (mut x, _) =
        XfrInterpreter::start(&zone(), Request::Axfr, None, limits, ID, NOW).expect("start");
    let msg = response(
        RecordType::AXFR,
        true,
        vec![soa(7), a("a", 1), a("b", 2), soa(7)],
    );
    assert!(matches!(
        x.feed(&msg, NOW),
        Err(XfrError::Limit(LimitKind::Records))
    ));
}

// RFC 1995 section 4: IXFR responses.

#[test]
fn an_ixfr_answered_with_our_own_serial_is_up_to_date() {
    let mut x = ixfr(9);
    let t = done(
        x.feed(&response(RecordType::IXFR, true, vec![soa(9)]), NOW)
            .expect("valid"),
    );
    assert!(matches!(t, Transfer::UpToDate { .. }));
    assert_eq!(t.serial(), Serial(9));
}

#[test]
fn an_ixfr_answered_with_an_older_serial_is_up_to_date() {
    let mut x = ixfr(9);
    let t = done(
        x.feed(&response(RecordType::IXFR, true, vec![soa(8)]), NOW)
            .expect("valid"),
    );
    assert!(matches!(t, Transfer::UpToDate { .. }));
}

#[test]
fn a_newer_soa_alone_in_the_first_message_waits_for_the_rest() {
    let mut x = ixfr(9);
    assert_eq!(
        x.feed(&response(RecordType::IXFR, true, vec![soa(10)]), NOW)
            .expect("valid"),
        Progress::NeedMore
    );
    let rest = response(
        RecordType::IXFR,
        false,
        vec![soa(9), a("old", 1), soa(10), a("new", 2), soa(10)],
    );
    assert!(matches!(
        done(x.feed(&rest, NOW).expect("valid")),
        Transfer::Incremental { .. }
    ));
}

#[test]
fn an_ixfr_answered_axfr_style_yields_the_full_zone() {
    let mut x = ixfr(9);
    let msg = response(
        RecordType::IXFR,
        true,
        vec![soa(12), a("a", 1), txt("b"), soa(12)],
    );
    match done(x.feed(&msg, NOW).expect("valid")) {
        Transfer::Full { records, .. } => assert_eq!(records, vec![soa(12), a("a", 1), txt("b")]),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_condensed_ixfr_yields_one_delta() {
    let mut x = ixfr(9);
    let msg = response(
        RecordType::IXFR,
        true,
        vec![
            soa(12),
            soa(9),
            a("gone", 1),
            txt("gone"),
            soa(12),
            a("new", 2),
            soa(12),
        ],
    );
    match done(x.feed(&msg, NOW).expect("valid")) {
        Transfer::Incremental { soa: s, deltas } => {
            assert_eq!(s, soa(12));
            assert_eq!(
                deltas,
                vec![Delta {
                    from_serial: Serial(9),
                    to_serial: Serial(12),
                    removed: vec![a("gone", 1), txt("gone")],
                    added: vec![a("new", 2)],
                }]
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn an_incremental_ixfr_over_several_messages_yields_chained_deltas() {
    let mut x = ixfr(9);
    let m1 = response(
        RecordType::IXFR,
        true,
        vec![soa(11), soa(9), a("x", 1), soa(10)],
    );
    let m2 = response(RecordType::IXFR, false, vec![a("y", 2), soa(10)]);
    // The second delta removes nothing.
    let m3 = response(RecordType::IXFR, false, vec![soa(11), a("z", 3), soa(11)]);
    assert_eq!(x.feed(&m1, NOW).expect("m1"), Progress::NeedMore);
    assert_eq!(x.feed(&m2, NOW).expect("m2"), Progress::NeedMore);
    match done(x.feed(&m3, NOW).expect("m3")) {
        Transfer::Incremental { deltas, .. } => {
            assert_eq!(deltas.len(), 2);
            assert_eq!(
                (deltas[0].from_serial, deltas[0].to_serial),
                (Serial(9), Serial(10))
            );
            assert_eq!(deltas[0].removed, vec![a("x", 1)]);
            assert_eq!(deltas[0].added, vec![a("y", 2)]);
            assert_eq!(
                (deltas[1].from_serial, deltas[1].to_serial),
                (Serial(10), Serial(11))
            );
            assert!(deltas[1].removed.is_empty());
            assert_eq!(deltas[1].added, vec![a("z", 3)]);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn an_ixfr_delta_going_backwards_is_rejected() {
    let mut x = ixfr(9);
    let msg = response(
        RecordType::IXFR,
        true,
        vec![soa(12), soa(9), a("a", 1), soa(8), soa(12)],
    );
    assert!(matches!(
        x.feed(&msg, NOW),
        Err(XfrError::SerialWentBackwards {
            from: Serial(9),
            to: Serial(8)
        })
    ));
}

#[test]
fn an_ixfr_delta_not_starting_where_the_last_ended_is_rejected() {
    let mut x = ixfr(9);
    let msg = response(
        RecordType::IXFR,
        true,
        vec![soa(12), soa(9), soa(10), soa(11), soa(12), soa(12)],
    );
    assert!(matches!(
        x.feed(&msg, NOW),
        Err(XfrError::BadIxfrSequence { .. })
    ));
}

#[test]
fn an_ixfr_starting_from_a_serial_we_do_not_hold_is_rejected() {
    let mut x = ixfr(9);
    let msg = response(
        RecordType::IXFR,
        true,
        vec![soa(12), soa(5), soa(12), soa(12)],
    );
    assert!(matches!(
        x.feed(&msg, NOW),
        Err(XfrError::BadIxfrSequence {
            expected: Serial(9),
            found: Serial(5)
        })
    ));
}

#[test]
fn an_ixfr_that_stops_inside_a_delta_needs_more() {
    let mut x = ixfr(9);
    let msg = response(RecordType::IXFR, true, vec![soa(12), soa(9), a("a", 1)]);
    assert_eq!(x.feed(&msg, NOW).expect("valid so far"), Progress::NeedMore);
    assert!(!x.is_done());
}

#[test]
fn a_refused_ixfr_suggests_falling_back_to_axfr() {
    for rcode in [
        ResponseCode::Refused,
        ResponseCode::NotImp,
        ResponseCode::FormErr,
    ] {
        let mut x = ixfr(9);
        let msg = response_with(ID, RecordType::IXFR, true, rcode, vec![]);
        let err = x.feed(&msg, NOW).expect_err("rejected");
        assert!(err.suggests_axfr_fallback(), "{rcode:?}");
    }
}

#[test]
fn a_servfail_ixfr_does_not_suggest_falling_back() {
    let mut x = ixfr(9);
    let msg = response_with(ID, RecordType::IXFR, true, ResponseCode::ServFail, vec![]);
    assert!(!x
        .feed(&msg, NOW)
        .expect_err("servfail")
        .suggests_axfr_fallback());
}

// RFC 8945 section 5.3.1 through the interpreter.

fn key() -> TsigKey {
    TsigKey::new(
        Name::from_ascii("transfer-key.").expect("name"),
        TsigAlgorithm::HmacSha256,
        b"interpreter test secret".to_vec(),
    )
}

fn signed_axfr() -> (XfrInterpreter, ResponseSigner) {
    let k = key();
    let (x, request) =
        XfrInterpreter::start(&zone(), Request::Axfr, Some(&k), Limits::default(), ID, NOW)
            .expect("start");
    let verified = tsig::verify_request(&request, std::slice::from_ref(&k), NOW)
        .expect("verifies")
        .expect("signed");
    (x, ResponseSigner::new(k, verified.mac))
}

/// A signed two-message AXFR (SOA and "a", then "b" and SOA), both signed at `NOW`.
fn signed_two_message_axfr() -> (XfrInterpreter, [Vec<u8>; 2]) {
    let (x, mut signer) = signed_axfr();
    let m1 = signer
        .sign(
            &response(RecordType::AXFR, true, vec![soa(7), a("a", 1)]),
            NOW,
        )
        .expect("sign");
    let m2 = signer
        .sign(
            &response(RecordType::AXFR, false, vec![a("b", 2), soa(7)]),
            NOW,
        )
        .expect("sign");
    (x, [m1, m2])
}

#[test]
fn a_signed_multi_message_axfr_verifies_every_message() {
    let (mut x, [m1, m2]) = signed_two_message_axfr();
    assert_eq!(x.feed(&m1, NOW).expect("m1"), Progress::NeedMore);
    assert!(matches!(
        done(x.feed(&m2, NOW).expect("m2")),
        Transfer::Full { .. }
    ));
}

#[test]
fn a_signed_axfr_with_a_forged_middle_message_fails_with_badsig() {
    let (mut x, [m1, mut m2]) = signed_two_message_axfr();
    x.feed(&m1, NOW).expect("m1");
    // Change the A record's last octet inside the signed message.
    let pos = m2
        .windows(4)
        .position(|w| w == [192, 0, 2, 2])
        .expect("rdata present");
    m2[pos + 3] = 66;
    let err = x.feed(&m2, NOW).expect_err("forged");
    assert!(matches!(err, XfrError::Tsig(TsigError::BadSig)));
    assert_eq!(err.as_metrics_label(), "badsig");
}

#[test]
fn a_signed_axfr_ending_on_an_unsigned_message_is_rejected() {
    let (mut x, mut signer) = signed_axfr();
    let m1 = signer
        .sign(
            &response(RecordType::AXFR, true, vec![soa(7), a("a", 1)]),
            NOW,
        )
        .expect("sign");
    let m2 = response(RecordType::AXFR, false, vec![a("b", 2), soa(7)]);
    x.feed(&m1, NOW).expect("m1");
    assert!(matches!(
        x.feed(&m2, NOW),
        Err(XfrError::Tsig(TsigError::FinalMessageUnsigned))
    ));
}

#[test]
fn an_unsigned_refusal_of_a_signed_request_reports_the_rcode() {
    let (mut x, _) = signed_axfr();
    let msg = response_with(ID, RecordType::AXFR, true, ResponseCode::Refused, vec![]);
    assert!(matches!(
        x.feed(&msg, NOW),
        Err(XfrError::Rcode {
            rcode: ResponseCode::Refused
        })
    ));
}

#[test]
fn an_unsigned_answer_to_a_signed_request_is_rejected() {
    let (mut x, _) = signed_axfr();
    let msg = response(RecordType::AXFR, true, vec![soa(7), soa(7)]);
    assert!(matches!(
        x.feed(&msg, NOW),
        Err(XfrError::Tsig(TsigError::Unsigned))
    ));
}

/// The clocks at the edges of the default fudge around `NOW` and one second past
/// them, each with whether the time check must accept it.
fn clocks_at_the_fudge_edges() -> [(u64, bool); 4] {
    let edge = u64::from(tsig::DEFAULT_FUDGE);
    [
        (NOW - edge - 1, false),
        (NOW - edge, true),
        (NOW + edge, true),
        (NOW + edge + 1, false),
    ]
}

/// Asserts that `err` is BADTIME for a message signed at `NOW` read at `now`.
fn assert_badtime(err: &XfrError, now: u64) {
    let XfrError::Tsig(tsig_err) = err else {
        panic!("expected a TSIG error, got {err:?}");
    };
    assert_eq!(
        tsig_err,
        &TsigError::BadTime {
            time_signed: NOW,
            now,
            fudge: tsig::DEFAULT_FUDGE
        }
    );
    assert_eq!(err.as_metrics_label(), "badtime");
}

#[test]
fn a_signed_axfr_whose_first_message_is_outside_the_fudge_fails_with_badtime() {
    for (now, accepted) in clocks_at_the_fudge_edges() {
        let (mut x, [m1, m2]) = signed_two_message_axfr();
        match x.feed(&m1, now) {
            Ok(p) => {
                assert!(accepted, "clock {now} accepted");
                assert_eq!(p, Progress::NeedMore);
                assert!(matches!(
                    done(x.feed(&m2, NOW).expect("m2")),
                    Transfer::Full { .. }
                ));
            }
            Err(err) => {
                assert!(!accepted, "clock {now} refused: {err:?}");
                assert_badtime(&err, now);
            }
        }
    }
}

#[test]
fn a_signed_axfr_whose_last_message_is_outside_the_fudge_fails_with_badtime() {
    for (now, accepted) in clocks_at_the_fudge_edges() {
        let (mut x, [m1, m2]) = signed_two_message_axfr();
        assert_eq!(x.feed(&m1, NOW).expect("m1 in time"), Progress::NeedMore);
        match x.feed(&m2, now) {
            Ok(p) => {
                assert!(accepted, "clock {now} accepted");
                assert!(matches!(done(p), Transfer::Full { .. }));
            }
            Err(err) => {
                assert!(!accepted, "clock {now} refused: {err:?}");
                assert_badtime(&err, now);
            }
        }
    }
}
