//! Fuzz target `notify`: a NOTIFY request (RFC 1996) into
//! `sekisho_xfr::notify::parse_notify`, then the answer the resolver would send
//! (`respond` for an accepted one, `error_response` for a refused one). These are the
//! pure steps of the resolver's NOTIFY handling; the rest of it (zone lookup, ACL)
//! reads the resolver's state.
//!
//! Input layout: bit 0 of octet 0 asks the harness to sign the rest with the fixed
//! key (hmac-sha256) before parsing, as a notifier holding that key would; the rest
//! is the message.
//!
//! Properties: nothing panics; a request is taken as signed exactly when the harness
//! signed it; an accepted NOTIFY is answered NOERROR with its ID, opcode and question,
//! signed so that the notifier verifies it when the request was signed; a refused
//! one is answered with the RCODE its error calls for, or dropped when it is a
//! response.

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use sekisho_fuzz::{fixed_key, NOW};
use sekisho_xfr::notify::{error_response, parse_notify, respond};
use sekisho_xfr::tsig::sign_request;
use sekisho_xfr::{NotifyError, ResponseVerifier};

fn main() {
    afl::fuzz!(|data: &[u8]| check(data));
}

/// All properties for one input.
fn check(data: &[u8]) {
    let [flags, msg @ ..] = data else {
        return;
    };
    // hmac-sha256, the algorithm of the recorded key name.
    let key = fixed_key(1);
    let keys = std::slice::from_ref(&key);
    let signed = if flags & 1 != 0 {
        sign_request(&key, msg, NOW).ok()
    } else {
        None
    };
    let (request, mac) = match &signed {
        Some((bytes, mac)) => (&bytes[..], Some(mac)),
        None => (msg, None),
    };

    match parse_notify(request, keys, NOW) {
        Ok(notify) => {
            assert_eq!(
                notify.signed_by.is_some(),
                mac.is_some(),
                "signed_by must say whether the harness signed the request"
            );
            assert_eq!(notify.id, u16::from_be_bytes([request[0], request[1]]));
            let answer = respond(&notify, NOW).expect("an accepted NOTIFY gets an answer");
            let plain = match mac {
                Some(mac) => {
                    let mut verifier = ResponseVerifier::new(key.clone(), mac.clone());
                    let plain = verifier
                        .verify(&answer, NOW)
                        .expect("the answer to a signed NOTIFY verifies");
                    verifier.finish().expect("a signed single-message answer");
                    plain
                }
                None => answer,
            };
            let m = Message::from_vec(&plain).expect("our answer decodes");
            assert_eq!(m.id, notify.id);
            assert_eq!(m.message_type, MessageType::Response);
            assert_eq!(m.op_code, OpCode::Notify);
            assert_eq!(m.response_code, ResponseCode::NoError);
            let [q] = m.queries.as_slice() else {
                panic!("the answer echoes one question");
            };
            assert_eq!(q.name(), &notify.zone);
            assert_eq!(q.query_type(), RecordType::SOA);
            assert_eq!(q.query_class(), DNSClass::IN);
        }
        Err(err) => {
            assert!(!err.as_metrics_label().is_empty());
            let answer = error_response(request, &err, keys, NOW);
            match (err.rcode(), answer) {
                (None, answer) => {
                    assert!(matches!(err, NotifyError::IsResponse));
                    assert!(answer.is_none(), "a response is never answered");
                }
                (Some(rcode), Some(answer)) => {
                    assert_eq!(&answer[..2], &request[..2], "ID echoed");
                    assert!(answer[2] & 0x80 != 0, "QR set");
                    assert_eq!((answer[2] >> 3) & 0x0f, 4, "opcode NOTIFY");
                    assert_eq!(answer[3] & 0x0f, rcode.low(), "RCODE of {err}");
                }
                // No header to answer to.
                (Some(_), None) => assert!(request.len() < 12, "{err} left unanswered"),
            }
        }
    }
}
