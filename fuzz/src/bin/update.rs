//! Fuzz target `update`: a DNS UPDATE request (RFC 2136) into
//! `sekisho_xfr::update::parse_update`, then the answer the primary role would send
//! (`respond` for a parsed one, `error_response` for a refused one). These are the
//! pure steps of the primary's UPDATE handling; the rest (zone lookup, allow-update,
//! applying the changes) reads the primary's state.
//!
//! Input layout: bit 0 of octet 0 asks the harness to sign the rest with the fixed
//! key (hmac-sha256) before parsing, as an nsupdate holding that key would; the rest
//! is the message.
//!
//! Properties: nothing panics; a request is taken as signed exactly when the harness
//! signed it; every record of the prerequisite and update sections came from the
//! message; a parsed UPDATE is answered with its ID, opcode UPDATE, QR and the RCODE
//! given, signed so that the client verifies it when the request was signed; a
//! refused one is answered with the RCODE its error calls for, or dropped when it
//! is a response.

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use sekisho_fuzz::{fixed_key, NOW};
use sekisho_xfr::tsig::sign_request;
use sekisho_xfr::update::{error_response, parse_update, respond, UpdateError};
use sekisho_xfr::ResponseVerifier;

fn main() {
    afl::fuzz!(|data: &[u8]| check(data));
}

/// All properties for one input.
fn check(data: &[u8]) {
    let [flags, msg @ ..] = data else {
        return;
    };
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

    match parse_update(request, keys, NOW) {
        Ok(update) => {
            assert_eq!(
                update.key().is_some(),
                mac.is_some(),
                "the key must say whether the harness signed the request"
            );
            assert_eq!(update.id, u16::from_be_bytes([request[0], request[1]]));
            let counts = |at: usize| usize::from(u16::from_be_bytes([request[at], request[at + 1]]));
            assert_eq!(update.prerequisites.len(), counts(6));
            assert_eq!(update.updates.len(), counts(8));
            // A rich RCODE (a failed prerequisite) as well as NOERROR.
            for rcode in [ResponseCode::NoError, ResponseCode::YXRRSet] {
                let answer = respond(&update, rcode, NOW).expect("a parsed UPDATE gets an answer");
                let plain = match mac {
                    Some(mac) => {
                        let mut verifier = ResponseVerifier::new(key.clone(), mac.clone());
                        let plain = verifier
                            .verify(&answer, NOW)
                            .expect("the answer to a signed UPDATE verifies");
                        verifier.finish().expect("a signed single-message answer");
                        plain
                    }
                    None => answer,
                };
                let m = Message::from_vec(&plain).expect("our answer decodes");
                assert_eq!(m.id, update.id);
                assert_eq!(m.message_type, MessageType::Response);
                assert_eq!(m.op_code, OpCode::Update);
                assert_eq!(m.response_code, rcode);
                let [q] = m.queries.as_slice() else {
                    panic!("the answer echoes the zone section");
                };
                assert_eq!(q.name(), &update.zone);
                assert_eq!(q.query_type(), RecordType::SOA);
                assert_eq!(q.query_class(), DNSClass::IN);
            }
        }
        Err(err) => {
            assert!(!err.as_metrics_label().is_empty());
            let answer = error_response(request, &err, keys, NOW);
            match (err.rcode(), answer) {
                (None, answer) => {
                    assert!(matches!(err, UpdateError::IsResponse));
                    assert!(answer.is_none(), "a response is never answered");
                }
                (Some(rcode), Some(answer)) => {
                    assert_eq!(&answer[..2], &request[..2], "ID echoed");
                    assert!(answer[2] & 0x80 != 0, "QR set");
                    assert_eq!((answer[2] >> 3) & 0x0f, 5, "opcode UPDATE");
                    assert_eq!(answer[3] & 0x0f, rcode.low(), "RCODE of {err}");
                }
                (Some(_), None) => assert!(request.len() < 12, "{err} left unanswered"),
            }
        }
    }
}
