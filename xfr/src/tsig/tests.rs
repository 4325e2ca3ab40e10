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
    let timers = Timers {
        time_signed: now,
        fudge: DEFAULT_FUDGE,
    };
    let mut ctx = k.context();
    update_prior_mac(&mut ctx, prior);
    for u in unsigned {
        ctx.update(u);
    }
    ctx.update(msg);
    ctx.update(&timers.to_bytes());
    let mac = ctx.sign().as_ref().to_vec();
    let mut out = msg.to_vec();
    append_tsig_rr(
        &mut out,
        &RrFields {
            key_name: &k.wire_name(),
            algorithm: &k.algorithm.wire_name(),
            timers,
            mac: &mac,
            original_id: 0x4242,
            error: 0,
            other: &[],
        },
    )
    .expect("append");
    (out, mac)
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
fn a_request_outside_the_fudge_window_fails_with_badtime() {
    let k = key(TsigAlgorithm::HmacSha256);
    let (signed, _) = sign_request(&k, &request(), NOW).expect("sign");
    let later = NOW + u64::from(DEFAULT_FUDGE) + 1;
    assert!(matches!(
        verify_request(&signed, std::slice::from_ref(&k), later),
        Err(TsigError::BadTime { .. })
    ));
    // The edge of the window is still inside.
    assert!(verify_request(&signed, &[k], NOW + u64::from(DEFAULT_FUDGE)).is_ok());
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
    let (m1, mac1) =
        sign_message(&k, &response(0x10), Some(&req_mac.0), NOW, 0, &[]).expect("sign");
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
    let (m1, mac1) =
        sign_message(&k, &response(0x10), Some(&req_mac.0), NOW, 0, &[]).expect("sign");
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
    let (m1, _) = sign_message(&k, &response(0), Some(&req_mac.0), NOW, 0, &[]).expect("sign");
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
