//! Unit tests for TSIG signing and verification, organised by RFC 8945 section.

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use super::*;

/// A test key for `alg`.
fn key(alg: TsigAlgorithm) -> TsigKey {
    TsigKey::new(
        Name::from_ascii("xfr-key.example.").expect("name"),
        alg,
        b"0123456789abcdef0123456789abcdef".to_vec(),
    )
}

/// An AXFR request for `example.` with ID 0x4242.
fn request() -> Vec<u8> {
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(
        Name::from_ascii("example.").expect("name"),
        RecordType::AXFR,
    ));
    m.to_vec().expect("encode")
}

/// A response body (unsigned) with ID 0x4242 and `n` as a distinguishing header bit pattern.
fn response(n: u8) -> Vec<u8> {
    let mut m = Message::new(0x4242, MessageType::Response, OpCode::Query);
    m.add_query(Query::query(
        Name::from_ascii("example.").expect("name"),
        RecordType::AXFR,
    ));
    let mut v = m.to_vec().expect("encode");
    // Make each message distinct so a verifier that mixes them up fails.
    v[3] |= n & 0x70;
    v
}

/// Signs a later message of a multi-message response the way a server does:
/// prior MAC, unsigned messages, this message, TSIG timers.
fn sign_subsequent(
    k: &TsigKey,
    prior: &[u8],
    unsigned: &[&[u8]],
    msg: &[u8],
    now: u64,
) -> (Vec<u8>, Vec<u8>) {
    sign_later_message(k, prior, &unsigned.concat(), msg, Timers::at(now)).expect("sign")
}

/// Signs `response(n)` as the first message of a response to the request with MAC
/// `req_mac`, at `now`; returns the signed bytes and MAC.
fn first_response(k: &TsigKey, req_mac: &RequestMac, n: u8, now: u64) -> (Vec<u8>, Vec<u8>) {
    sign_message(k, &response(n), Some(&req_mac.0), Timers::at(now), 0, &[]).expect("sign")
}

const NOW: u64 = 1_764_000_000;

// RFC 8945 section 4.2: the TSIG RR on the wire.

#[test]
fn a_signed_request_ends_with_a_tsig_rr_and_counts_it_in_arcount() {
    let k = key(TsigAlgorithm::HmacSha256);
    let (signed, mac) = sign_request(&k, &request(), NOW).expect("sign");
    assert_eq!(mac.0.len(), 32);
    assert_eq!(wire::read_header(&signed).expect("header").arcount, 1);
    let raw = wire::find_tsig(&signed)
        .expect("parse")
        .expect("tsig present");
    assert_eq!(raw.start, request().len());
    assert_eq!(raw.time_signed, NOW);
    assert_eq!(raw.fudge, DEFAULT_FUDGE);
    assert_eq!(raw.original_id, 0x4242);
    assert_eq!(raw.mac, mac.0);
    assert_eq!(raw.algorithm, b"\x0bhmac-sha256\x00");
    // Hickory decodes our TSIG RR as a well-formed record.
    Message::from_vec(&signed).expect("hickory decodes the signed request");
}

/// Found by the `notify` fuzz target: a message with bytes after its last record was
/// signed as it was, and a record read from those bytes could swallow the appended TSIG
/// RR, so the receiver found no signature on a message that had one.
#[test]
fn a_message_with_bytes_after_its_last_record_is_not_signed() {
    let k = key(TsigAlgorithm::HmacSha256);
    let mut msg = request();
    msg.extend_from_slice(&[0xc0, 0x0c]);
    let refused = |r: Result<Vec<u8>, TsigError>| {
        assert_eq!(
            r.map(|_| ()),
            Err(TsigError::Malformed(WireError::TrailingBytes { extra: 2 }))
        );
    };
    refused(sign_request(&k, &msg, NOW).map(|(signed, _)| signed));
    let mac = RequestMac(vec![7; 32]);
    refused(sign_response(&k, &msg, &mac, NOW));
    let mut signer = ResponseSigner::new(k.clone(), mac);
    refused(signer.sign(&msg, NOW));
    signer
        .sign(&response(0), NOW)
        .expect("a well-formed first message");
    refused(signer.sign(&msg, NOW));
}

#[test]
fn the_time_signed_field_holds_48_bits() {
    let k = key(TsigAlgorithm::HmacSha1);
    let t = (1u64 << 40) + 5;
    let (signed, _) = sign_request(&k, &request(), t).expect("sign");
    let raw = wire::find_tsig(&signed).expect("parse").expect("tsig");
    assert_eq!(raw.time_signed, t);
}

// RFC 8945 section 5.2: the server verifying a request.

#[test]
fn a_request_signed_with_each_algorithm_verifies() {
    for alg in TsigAlgorithm::ALL {
        let k = key(alg);
        let (signed, mac) = sign_request(&k, &request(), NOW).expect("sign");
        let v = verify_request(&signed, std::slice::from_ref(&k), NOW + 10)
            .expect("verifies")
            .expect("signed");
        assert_eq!(v.mac, mac);
        assert_eq!(v.message, request());
        assert_eq!(mac.0.len(), alg.output_len());
    }
}

#[test]
fn an_unsigned_request_verifies_as_none() {
    assert_eq!(
        verify_request(&request(), &[key(TsigAlgorithm::HmacSha256)], NOW),
        Ok(None)
    );
}

#[test]
fn a_request_with_a_flipped_bit_fails_with_badsig() {
    let k = key(TsigAlgorithm::HmacSha256);
    let (mut signed, _) = sign_request(&k, &request(), NOW).expect("sign");
    signed[2] ^= 0x01; // RD bit
    let err = verify_request(&signed, &[k], NOW).expect_err("tampered");
    assert_eq!(err, TsigError::BadSig);
    assert_eq!(err.tsig_rcode(), Some(TsigRcode::BadSig));
    assert_eq!(err.as_metrics_label(), "badsig");
}

#[test]
fn a_request_signed_with_another_secret_fails_with_badsig() {
    let k = key(TsigAlgorithm::HmacSha256);
    let mut other = k.clone();
    other.secret = b"not the same secret".to_vec();
    let (signed, _) = sign_request(&other, &request(), NOW).expect("sign");
    assert_eq!(verify_request(&signed, &[k], NOW), Err(TsigError::BadSig));
}

#[test]
fn a_request_signed_with_an_unknown_key_name_fails_with_badkey() {
    let k = key(TsigAlgorithm::HmacSha256);
    let mut other = k.clone();
    other.name = Name::from_ascii("someone-else.").expect("name");
    let (signed, _) = sign_request(&other, &request(), NOW).expect("sign");
    assert_eq!(verify_request(&signed, &[k], NOW), Err(TsigError::BadKey));
}

#[test]
fn a_request_signed_with_another_algorithm_fails_with_badkey() {
    let k = key(TsigAlgorithm::HmacSha256);
    let mut other = k.clone();
    other.algorithm = TsigAlgorithm::HmacSha512;
    let (signed, _) = sign_request(&other, &request(), NOW).expect("sign");
    assert_eq!(verify_request(&signed, &[k], NOW), Err(TsigError::BadKey));
}

#[test]
fn key_names_compare_case_insensitively() {
    let k = key(TsigAlgorithm::HmacSha256);
    let mut upper = k.clone();
    upper.name = Name::from_ascii("XFR-Key.Example.").expect("name");
    let (signed, _) = sign_request(&upper, &request(), NOW).expect("sign");
    assert!(verify_request(&signed, &[k], NOW)
        .expect("verifies")
        .is_some());
}

#[test]
fn a_truncated_mac_is_refused_with_badtrunc() {
    let k = key(TsigAlgorithm::HmacSha256);
    let (signed, _) = sign_request(&k, &request(), NOW).expect("sign");
    let raw = wire::find_tsig(&signed).expect("parse").expect("tsig");
    // Rebuild the RR with a 16-octet MAC.
    let mut short = request();
    append_tsig_rr(
        &mut short,
        &RrFields {
            key_name: &raw.key_name,
            algorithm: &raw.algorithm,
            timers: Timers {
                time_signed: NOW,
                fudge: DEFAULT_FUDGE,
            },
            mac: &raw.mac[..16],
            original_id: 0x4242,
            error: 0,
            other: &[],
        },
    )
    .expect("append");
    assert_eq!(
        verify_request(&short, &[k], NOW),
        Err(TsigError::BadTrunc { mac_len: 16 })
    );
}

#[test]
fn an_error_response_to_a_badkey_request_carries_the_code_and_no_mac() {
    let k = key(TsigAlgorithm::HmacSha256);
    let (signed, _) = sign_request(&k, &request(), NOW).expect("sign");
    let out = error_response(&signed, &response(0), &TsigError::BadKey, None, NOW)
        .expect("builds")
        .expect("request was signed");
    let raw = wire::find_tsig(&out).expect("parse").expect("tsig");
    assert_eq!(raw.error, 17);
    assert!(raw.mac.is_empty());
    // And our own verifier reports it as the peer's rejection.
    let mut v = ResponseVerifier::new(k, RequestMac(vec![0; 32]));
    assert_eq!(
        v.verify(&out, NOW),
        Err(TsigError::PeerRejected {
            rcode: TsigRcode::BadKey
        })
    );
}

// RFC 8945 section 5.3: the client verifying responses.

#[test]
fn a_single_signed_response_verifies_against_the_request_mac() {
    for alg in TsigAlgorithm::ALL {
        let k = key(alg);
        let (_, req_mac) = sign_request(&k, &request(), NOW).expect("sign");
        let signed = sign_response(&k, &response(0), &req_mac, NOW).expect("sign");
        let mut v = ResponseVerifier::new(k, req_mac);
        assert_eq!(v.verify(&signed, NOW).expect("verifies"), response(0));
        v.finish().expect("last message signed");
    }
}

#[test]
fn a_response_chained_to_another_request_fails_with_badsig() {
    let k = key(TsigAlgorithm::HmacSha256);
    let (_, req_mac) = sign_request(&k, &request(), NOW).expect("sign");
    let signed = sign_response(&k, &response(0), &RequestMac(vec![7; 32]), NOW).expect("sign");
    let mut v = ResponseVerifier::new(k, req_mac);
    assert_eq!(v.verify(&signed, NOW), Err(TsigError::BadSig));
}

#[test]
fn an_unsigned_first_response_is_rejected() {
    let k = key(TsigAlgorithm::HmacSha256);
    let mut v = ResponseVerifier::new(k, RequestMac(vec![0; 32]));
    assert_eq!(v.verify(&response(0), NOW), Err(TsigError::Unsigned));
}

#[test]
fn a_multi_message_response_with_unsigned_middles_verifies() {
    let k = key(TsigAlgorithm::HmacSha256);
    let (_, req_mac) = sign_request(&k, &request(), NOW).expect("sign");
    let (m1, mac1) = first_response(&k, &req_mac, 0x10, NOW);
    let m2 = response(0x20);
    let m3 = response(0x30);
    let (m4, mac4) = sign_subsequent(&k, &mac1, &[&m2, &m3], &response(0x40), NOW);
    let (m5, _) = sign_subsequent(&k, &mac4, &[], &response(0x50), NOW);

    let mut v = ResponseVerifier::new(k, req_mac);
    v.verify(&m1, NOW).expect("first");
    v.verify(&m2, NOW).expect("unsigned middle");
    assert_eq!(v.finish(), Err(TsigError::FinalMessageUnsigned));
    v.verify(&m3, NOW).expect("unsigned middle");
    v.verify(&m4, NOW).expect("signed, covers m2 and m3");
    v.verify(&m5, NOW).expect("signed");
    v.finish().expect("ended signed");
}

#[test]
fn a_dropped_unsigned_middle_message_breaks_the_chain() {
    let k = key(TsigAlgorithm::HmacSha256);
    let (_, req_mac) = sign_request(&k, &request(), NOW).expect("sign");
    let (m1, mac1) = first_response(&k, &req_mac, 0x10, NOW);
    let m2 = response(0x20);
    let (m3, _) = sign_subsequent(&k, &mac1, &[&m2], &response(0x30), NOW);
    let mut v = ResponseVerifier::new(k, req_mac);
    v.verify(&m1, NOW).expect("first");
    assert_eq!(v.verify(&m3, NOW), Err(TsigError::BadSig));
}

#[test]
fn a_hundred_unsigned_messages_in_a_row_are_too_many() {
    let k = key(TsigAlgorithm::HmacSha256);
    let (_, req_mac) = sign_request(&k, &request(), NOW).expect("sign");
    let (m1, _) = first_response(&k, &req_mac, 0, NOW);
    let mut v = ResponseVerifier::new(k, req_mac);
    v.verify(&m1, NOW).expect("first");
    for _ in 0..MAX_UNSIGNED_IN_A_ROW {
        v.verify(&response(0), NOW).expect("allowed");
    }
    assert_eq!(v.verify(&response(0), NOW), Err(TsigError::TooManyUnsigned));
}

#[test]
fn debug_output_never_shows_the_secret() {
    let k = key(TsigAlgorithm::HmacSha256);
    let shown = format!("{k:?}");
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
    assert!(shown.contains("redacted"));
}

#[test]
fn algorithm_names_parse_with_or_without_the_trailing_dot() {
    assert_eq!(
        "hmac-sha384".parse::<TsigAlgorithm>(),
        Ok(TsigAlgorithm::HmacSha384)
    );
    assert_eq!(
        "HMAC-SHA1.".parse::<TsigAlgorithm>(),
        Ok(TsigAlgorithm::HmacSha1)
    );
    assert!("hmac-md5".parse::<TsigAlgorithm>().is_err());
    assert_eq!(
        TsigAlgorithm::HmacSha512.to_name().to_ascii(),
        "hmac-sha512."
    );
}

#[test]
fn the_response_signer_and_verifier_agree_over_many_messages() {
    let k = key(TsigAlgorithm::HmacSha384);
    let (_, req_mac) = sign_request(&k, &request(), NOW).expect("sign");
    let mut signer = ResponseSigner::new(k.clone(), req_mac.clone());
    let mut verifier = ResponseVerifier::new(k, req_mac);
    for n in 0..5u8 {
        let signed = signer.sign(&response(n << 4), NOW).expect("sign");
        assert_eq!(
            verifier.verify(&signed, NOW + 1).expect("verifies"),
            response(n << 4)
        );
    }
    verifier.finish().expect("signed to the end");
}

// RFC 8945 section 5.2.3: the time check, on requests and on every signed message
// of a response. A message signed at T with fudge F is good while the clock reads
// T - F ..= T + F, and BADTIME one second outside either edge.

/// Fudges to try: none at all, odd ones below and above ours, ours, and the largest.
const FUDGES: [u16; 5] = [0, 17, DEFAULT_FUDGE, 600, u16::MAX];

/// The clocks at and around the window of a message signed at `t` with `fudge`,
/// each with whether the time check must accept it.
fn clocks_around(t: u64, fudge: u16) -> [(u64, bool); 5] {
    let f = u64::from(fudge);
    [
        (t - f - 1, false),
        (t - f, true),
        (t, true),
        (t + f, true),
        (t + f + 1, false),
    ]
}

/// Checks one verification result against the expectation for clock `now`.
fn assert_time_checked<T: std::fmt::Debug>(
    result: Result<T, TsigError>,
    accepted: bool,
    t: u64,
    fudge: u16,
    now: u64,
) {
    if accepted {
        assert!(
            result.is_ok(),
            "signed at {t} with fudge {fudge}, clock {now}: {result:?}"
        );
        return;
    }
    let err = result.expect_err("outside the fudge window");
    assert_eq!(
        err,
        TsigError::BadTime {
            time_signed: t,
            now,
            fudge
        },
        "signed at {t} with fudge {fudge}, clock {now}"
    );
    assert_eq!(err.tsig_rcode(), Some(TsigRcode::BadTime));
    assert_eq!(err.as_metrics_label(), "badtime");
}

/// The request signed at `t` with `fudge`, and its MAC.
fn request_signed_at(k: &TsigKey, t: u64, fudge: u16) -> (Vec<u8>, RequestMac) {
    let timers = Timers {
        time_signed: t,
        fudge,
    };
    let (signed, mac) = sign_message(k, &request(), None, timers, 0, &[]).expect("sign");
    (signed, RequestMac(mac))
}

#[test]
fn a_request_is_accepted_up_to_its_fudge_either_way_and_badtime_one_second_past() {
    let k = key(TsigAlgorithm::HmacSha256);
    for fudge in FUDGES {
        let (signed, _) = request_signed_at(&k, NOW, fudge);
        for (now, accepted) in clocks_around(NOW, fudge) {
            let result = verify_request(&signed, std::slice::from_ref(&k), now);
            assert_time_checked(result, accepted, NOW, fudge, now);
        }
    }
}

#[test]
fn a_request_from_a_client_whose_clock_runs_ahead_fails_with_badtime() {
    // Signed an hour in our future: the "too early" side, on its own.
    let k = key(TsigAlgorithm::HmacSha1);
    let (signed, _) = request_signed_at(&k, NOW + 3600, DEFAULT_FUDGE);
    assert_eq!(
        verify_request(&signed, &[k], NOW),
        Err(TsigError::BadTime {
            time_signed: NOW + 3600,
            now: NOW,
            fudge: DEFAULT_FUDGE
        })
    );
}

#[test]
fn a_forged_request_outside_the_window_is_badsig_not_badtime() {
    // The MAC is checked before the time: a BADTIME answer is signed with our key,
    // so a forged request must not earn one.
    let k = key(TsigAlgorithm::HmacSha256);
    let (mut signed, _) = request_signed_at(&k, NOW, DEFAULT_FUDGE);
    signed[2] ^= 0x01;
    let late = NOW + u64::from(DEFAULT_FUDGE) + 1;
    assert_eq!(verify_request(&signed, &[k], late), Err(TsigError::BadSig));
}

#[test]
fn the_badtime_answer_to_a_stale_request_carries_our_time_and_verifies_as_the_peers_badtime() {
    let k = key(TsigAlgorithm::HmacSha256);
    let (signed, req_mac) = request_signed_at(&k, NOW, DEFAULT_FUDGE);
    let now = NOW + u64::from(DEFAULT_FUDGE) + 1;
    let err = verify_request(&signed, std::slice::from_ref(&k), now).expect_err("stale");
    let answer = error_response(&signed, &response(0), &err, Some(&k), now)
        .expect("builds")
        .expect("request was signed");
    let raw = wire::find_tsig(&answer).expect("parse").expect("tsig");
    assert_eq!(raw.error, TsigRcode::BadTime.code());
    assert_eq!(raw.time_signed, now);
    assert_eq!(
        raw.other,
        now.to_be_bytes()[2..].to_vec(),
        "our 48-bit time"
    );
    assert_eq!(raw.mac.len(), 32, "BADTIME answers are signed");
    let mut v = ResponseVerifier::new(k, req_mac);
    assert_eq!(
        v.verify(&answer, NOW),
        Err(TsigError::PeerRejected {
            rcode: TsigRcode::BadTime
        })
    );
}

#[test]
fn a_single_response_is_accepted_up_to_its_fudge_either_way_and_badtime_one_second_past() {
    let k = key(TsigAlgorithm::HmacSha256);
    let (_, req_mac) = request_signed_at(&k, NOW, DEFAULT_FUDGE);
    for fudge in FUDGES {
        let timers = Timers {
            time_signed: NOW,
            fudge,
        };
        let (signed, _) =
            sign_message(&k, &response(0), Some(&req_mac.0), timers, 0, &[]).expect("sign");
        for (now, accepted) in clocks_around(NOW, fudge) {
            let mut v = ResponseVerifier::new(k.clone(), req_mac.clone());
            let result = v.verify(&signed, now);
            assert_time_checked(result, accepted, NOW, fudge, now);
            assert_eq!(v.finish().is_ok(), accepted, "clock {now}, fudge {fudge}");
        }
    }
}

/// A transfer whose first message is signed at `NOW` and whose third, after one
/// unsigned message, is signed at `t3` with `fudge`: the three messages.
fn transfer_with_third_signed_at(
    k: &TsigKey,
    req_mac: &RequestMac,
    t3: u64,
    fudge: u16,
) -> [Vec<u8>; 3] {
    let (m1, mac1) = first_response(k, req_mac, 0x10, NOW);
    let m2 = response(0x20);
    let timers = Timers {
        time_signed: t3,
        fudge,
    };
    let (m3, _) = sign_later_message(k, &mac1, &m2, &response(0x30), timers).expect("sign");
    [m1, m2, m3]
}

#[test]
fn a_later_message_of_a_transfer_is_time_checked_against_its_own_time_and_fudge() {
    // A long transfer: the first message is checked when it arrives; the third is
    // signed twenty minutes later and checked against the clock when it arrives.
    let k = key(TsigAlgorithm::HmacSha512);
    let (_, req_mac) = request_signed_at(&k, NOW, DEFAULT_FUDGE);
    let t3 = NOW + 1200;
    for fudge in FUDGES {
        let [m1, m2, m3] = transfer_with_third_signed_at(&k, &req_mac, t3, fudge);
        for (now, accepted) in clocks_around(t3, fudge) {
            let mut v = ResponseVerifier::new(k.clone(), req_mac.clone());
            v.verify(&m1, NOW).expect("first message in time");
            v.verify(&m2, NOW).expect("unsigned middle");
            let result = v.verify(&m3, now);
            assert_time_checked(result, accepted, t3, fudge, now);
            assert_eq!(v.finish().is_ok(), accepted, "clock {now}, fudge {fudge}");
        }
    }
}

#[test]
fn a_later_message_is_badtime_even_when_the_first_was_in_time() {
    // A replayed tail: every message carries the signing time of its own, so a
    // stale later message fails although the stream started well.
    let k = key(TsigAlgorithm::HmacSha256);
    let (_, req_mac) = request_signed_at(&k, NOW, DEFAULT_FUDGE);
    let [m1, m2, m3] = transfer_with_third_signed_at(&k, &req_mac, NOW, DEFAULT_FUDGE);
    let mut v = ResponseVerifier::new(k, req_mac);
    v.verify(&m1, NOW).expect("first");
    v.verify(&m2, NOW + 200)
        .expect("unsigned middle: no time to check");
    let now = NOW + 3600;
    assert_eq!(
        v.verify(&m3, now),
        Err(TsigError::BadTime {
            time_signed: NOW,
            now,
            fudge: DEFAULT_FUDGE
        })
    );
    assert_eq!(v.finish(), Err(TsigError::FinalMessageUnsigned));
}

#[test]
fn signer_and_verifier_agree_over_a_transfer_whose_clock_advances() {
    // Every message signed at its own second, each checked at its own arrival.
    let k = key(TsigAlgorithm::HmacSha256);
    let (_, req_mac) = request_signed_at(&k, NOW, DEFAULT_FUDGE);
    let mut signer = ResponseSigner::new(k.clone(), req_mac.clone());
    let signed: Vec<Vec<u8>> = (0..4u8)
        .map(|n| {
            let t = NOW + 1000 * u64::from(n);
            signer.sign(&response(n << 4), t).expect("sign")
        })
        .collect();
    let edge = u64::from(DEFAULT_FUDGE);
    // In time: each message at the far edge of its own window.
    let mut v = ResponseVerifier::new(k.clone(), req_mac.clone());
    for (n, m) in signed.iter().enumerate() {
        let t = NOW + 1000 * n as u64;
        let now = if n % 2 == 0 { t + edge } else { t - edge };
        v.verify(m, now).expect("inside the window");
    }
    v.finish().expect("signed to the end");
    // The last message a second late, then a second early.
    for now in [NOW + 3000 + edge + 1, NOW + 3000 - edge - 1] {
        let mut v = ResponseVerifier::new(k.clone(), req_mac.clone());
        for (n, m) in signed[..3].iter().enumerate() {
            v.verify(m, NOW + 1000 * n as u64).expect("in time");
        }
        assert_eq!(
            v.verify(&signed[3], now),
            Err(TsigError::BadTime {
                time_signed: NOW + 3000,
                now,
                fudge: DEFAULT_FUDGE
            })
        );
    }
}
