//! Sans-I/O helpers for incoming NOTIFY ([RFC 1996](https://www.rfc-editor.org/rfc/rfc1996)):
//! parse and verify a request, build the answer. The resolver's listener owns the
//! socket and the policy (which primaries may notify, whether TSIG is required).
//!
//! ```text
//!  bytes ─▶ parse_notify(bytes, keys, now)
//!             1. header: a response? ─▶ NotifyError::IsResponse (drop, never answer)
//!             2. opcode not NOTIFY    ─▶ NOTIMP
//!             3. TSIG present: verify ─▶ NOTAUTH + BADKEY/BADSIG/BADTIME
//!             4. question: one, SOA   ─▶ FORMERR
//!           ─▶ Notify { zone, serial hint, signed-by }
//!  respond(&notify, now)             ─▶ NOERROR answer (signed if the request was)
//!  error_response(bytes, &err, keys) ─▶ the answer for a failure, if one is due
//! ```
//!
//! RFC 1996 section 3.7: "The serial field of the SOA in the answer section MAY be
//! used as a hint"; a NOTIFY only says "check now", so the serial is advisory.

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use thiserror::Error;

use crate::serial::Serial;
use crate::tsig::{self, RequestMac, TsigError, TsigKey};
use crate::wire::{self, WireError};

/// A parsed, and if signed verified, NOTIFY request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// The request ID, echoed in the answer.
    pub id: u16,
    /// The zone that changed.
    pub zone: Name,
    /// The serial hint from the answer section, if the primary sent one.
    pub serial: Option<Serial>,
    /// The key that signed the request, if it was signed.
    pub signed_by: Option<TsigKey>,
    /// The request MAC, to sign the answer.
    mac: Option<RequestMac>,
}

/// Why a NOTIFY was not accepted, with the answer each case calls for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The message is a response (QR set). Never answer it: that would let a
    /// spoofed source bounce traffic off us.
    #[error("message is a response")]
    IsResponse,
    /// The opcode is not NOTIFY.
    #[error("opcode is not NOTIFY")]
    NotNotify,
    /// The message is structurally broken or undecodable.
    #[error("malformed NOTIFY: {0}")]
    Malformed(WireError),
    /// The message passed the structural checks but hickory could not decode it.
    #[error("undecodable NOTIFY")]
    Undecodable,
    /// The answer could not be encoded.
    #[error("could not encode the NOTIFY answer")]
    Encode,
    /// The question is not exactly one `zone SOA IN` (RFC 1996 section 3.7).
    #[error("NOTIFY question is not one SOA question")]
    BadQuestion,
    /// The TSIG did not verify.
    #[error("NOTIFY TSIG: {0}")]
    Tsig(TsigError),
}

impl NotifyError {
    /// The RCODE to answer with; `None` means drop silently.
    pub fn rcode(&self) -> Option<ResponseCode> {
        match self {
            NotifyError::IsResponse => None,
            NotifyError::NotNotify => Some(ResponseCode::NotImp),
            NotifyError::Malformed(_) | NotifyError::Undecodable | NotifyError::BadQuestion => {
                Some(ResponseCode::FormErr)
            }
            NotifyError::Encode => Some(ResponseCode::ServFail),
            NotifyError::Tsig(_) => Some(ResponseCode::NotAuth),
        }
    }

    /// A bounded label for metrics.
    pub fn as_metrics_label(&self) -> &'static str {
        match self {
            NotifyError::IsResponse => "is_response",
            NotifyError::NotNotify => "not_notify",
            NotifyError::Malformed(_) => "malformed",
            NotifyError::Undecodable => "undecodable",
            NotifyError::Encode => "encode",
            NotifyError::BadQuestion => "bad_question",
            NotifyError::Tsig(e) => e.as_metrics_label(),
        }
    }
}

/// Parses and verifies an incoming NOTIFY in the order of style practice 5.
///
/// A valid TSIG must come from one of `keys`; an unsigned request is returned with
/// `signed_by: None`, and the caller's policy decides whether that is acceptable.
pub fn parse_notify(msg: &[u8], keys: &[TsigKey], now: u64) -> Result<Notify, NotifyError> {
    let header = wire::read_header(msg).map_err(NotifyError::Malformed)?;
    let flags = msg.get(2).copied().unwrap_or(0);
    if flags & 0x80 != 0 {
        return Err(NotifyError::IsResponse);
    }
    // OPCODE is bits 3-6 of the third octet; NOTIFY is 4.
    if (flags >> 3) & 0x0F != 4 {
        return Err(NotifyError::NotNotify);
    }
    let (plain, signed_by, mac) = match tsig::verify_request(msg, keys, now) {
        Ok(Some(v)) => (v.message, Some(v.key), Some(v.mac)),
        Ok(None) => (msg.to_vec(), None, None),
        Err(TsigError::Malformed(e)) => return Err(NotifyError::Malformed(e)),
        Err(e) => return Err(NotifyError::Tsig(e)),
    };
    let m = Message::from_vec(&plain).map_err(|_| NotifyError::Undecodable)?;
    let [q] = m.queries.as_slice() else {
        return Err(NotifyError::BadQuestion);
    };
    if q.query_type() != RecordType::SOA || q.query_class() != DNSClass::IN {
        return Err(NotifyError::BadQuestion);
    }
    let zone = q.name().clone();
    let serial = m.answers.iter().find_map(|r| match &r.data {
        RData::SOA(soa) if r.name == zone => Some(Serial(soa.serial)),
        _ => None,
    });
    Ok(Notify {
        id: header.id,
        zone,
        serial,
        signed_by,
        mac,
    })
}

/// The answer to an accepted NOTIFY: NOERROR, AA, the question echoed
/// (RFC 1996 section 4.7), signed with the request's key if it was signed.
pub fn respond(notify: &Notify, now: u64) -> Result<Vec<u8>, NotifyError> {
    let msg = response_header(notify.id, ResponseCode::NoError, Some(&notify.zone))?;
    match (&notify.signed_by, &notify.mac) {
        (Some(key), Some(mac)) => {
            tsig::sign_response(key, &msg, mac, now).map_err(NotifyError::Tsig)
        }
        _ => Ok(msg),
    }
}

/// The answer to a NOTIFY that failed with `err`, or `None` when it must be dropped.
///
/// TSIG failures get NOTAUTH with the TSIG error code in a TSIG RR
/// (RFC 8945 section 5.2); BADTIME is signed with the request's key from `keys`.
pub fn error_response(
    request: &[u8],
    err: &NotifyError,
    keys: &[TsigKey],
    now: u64,
) -> Option<Vec<u8>> {
    let rcode = err.rcode()?;
    let header = wire::read_header(request).ok()?;
    let zone = Message::from_vec(request)
        .ok()
        .and_then(|m| m.queries.first().map(|q| q.name().clone()));
    let msg = response_header(header.id, rcode, zone.as_ref()).ok()?;
    match err {
        NotifyError::Tsig(e) => tsig::error_answer(request, &msg, e, keys, now),
        _ => Some(msg),
    }
}

/// An unsigned NOTIFY response header with the question for `zone`.
fn response_header(
    id: u16,
    rcode: ResponseCode,
    zone: Option<&Name>,
) -> Result<Vec<u8>, NotifyError> {
    let mut m = Message::new(id, MessageType::Response, OpCode::Notify);
    m.metadata.response_code = rcode;
    m.metadata.authoritative = rcode == ResponseCode::NoError;
    if let Some(zone) = zone {
        m.add_query(Query::query(zone.clone(), RecordType::SOA));
    }
    m.to_vec().map_err(|_| NotifyError::Encode)
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::rdata::SOA;
    use hickory_proto::rr::Record;

    use super::*;
    use crate::tsig::{ResponseVerifier, TsigAlgorithm, TsigRcode};

    const NOW: u64 = 1_764_000_000;

    fn zone() -> Name {
        Name::from_ascii("rpz.example.").expect("name")
    }

    fn key() -> TsigKey {
        TsigKey::new(
            Name::from_ascii("notify-key.").expect("name"),
            TsigAlgorithm::HmacSha256,
            vec![3; 32],
        )
    }

    fn notify(serial: Option<u32>) -> Vec<u8> {
        let mut m = Message::new(0x0777, MessageType::Query, OpCode::Notify);
        m.metadata.authoritative = true;
        m.add_query(Query::query(zone(), RecordType::SOA));
        if let Some(s) = serial {
            let soa = SOA::new(Name::root(), Name::root(), s, 1, 1, 1, 1);
            m.add_answer(Record::from_rdata(zone(), 60, RData::SOA(soa)));
        }
        m.to_vec().expect("encode")
    }

    #[test]
    fn an_unsigned_notify_with_a_serial_is_parsed() {
        let n = parse_notify(&notify(Some(42)), &[], NOW).expect("valid");
        assert_eq!(n.zone, zone());
        assert_eq!(n.serial, Some(Serial(42)));
        assert!(n.signed_by.is_none());
    }

    #[test]
    fn a_notify_without_a_serial_has_no_hint() {
        assert_eq!(
            parse_notify(&notify(None), &[], NOW).expect("valid").serial,
            None
        );
    }

    #[test]
    fn a_response_is_dropped_without_an_answer() {
        let mut msg = notify(None);
        msg[2] |= 0x80;
        let err = parse_notify(&msg, &[], NOW).expect_err("response");
        assert_eq!(err, NotifyError::IsResponse);
        assert_eq!(error_response(&msg, &err, &[], NOW), None);
    }

    #[test]
    fn a_standard_query_is_not_a_notify() {
        let mut m = Message::new(1, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(zone(), RecordType::SOA));
        let err = parse_notify(&m.to_vec().expect("encode"), &[], NOW).expect_err("query");
        assert_eq!(err.rcode(), Some(ResponseCode::NotImp));
    }

    #[test]
    fn a_notify_for_another_type_is_formerr() {
        let mut m = Message::new(1, MessageType::Query, OpCode::Notify);
        m.add_query(Query::query(zone(), RecordType::A));
        let err = parse_notify(&m.to_vec().expect("encode"), &[], NOW).expect_err("bad question");
        assert_eq!(err, NotifyError::BadQuestion);
        assert_eq!(err.rcode(), Some(ResponseCode::FormErr));
    }

    #[test]
    fn the_answer_echoes_id_and_question_with_aa() {
        let n = parse_notify(&notify(Some(1)), &[], NOW).expect("valid");
        let m = Message::from_vec(&respond(&n, NOW).expect("answer")).expect("decode");
        assert_eq!(m.id, 0x0777);
        assert_eq!(m.message_type, MessageType::Response);
        assert_eq!(m.op_code, OpCode::Notify);
        assert!(m.authoritative);
        assert_eq!(m.queries[0].name(), &zone());
    }

    #[test]
    fn a_signed_notify_is_verified_and_answered_signed() {
        let k = key();
        let (signed, mac) = tsig::sign_request(&k, &notify(Some(5)), NOW).expect("sign");
        let n = parse_notify(&signed, std::slice::from_ref(&k), NOW).expect("verifies");
        assert_eq!(n.signed_by.as_ref().map(|k| &k.name), Some(&k.name));
        let answer = respond(&n, NOW).expect("answer");
        let mut v = ResponseVerifier::new(k, mac);
        v.verify(&answer, NOW)
            .expect("answer signed with the request MAC");
    }

    #[test]
    fn a_notify_signed_with_an_unknown_key_gets_notauth_badkey() {
        let (signed, _) = tsig::sign_request(&key(), &notify(None), NOW).expect("sign");
        let err = parse_notify(&signed, &[], NOW).expect_err("unknown key");
        assert_eq!(err, NotifyError::Tsig(TsigError::BadKey));
        let answer = error_response(&signed, &err, &[], NOW).expect("answered");
        let raw = wire::find_tsig(&answer).expect("parse").expect("tsig");
        assert_eq!(raw.error, TsigRcode::BadKey.code());
        assert_eq!(answer[3] & 0x0F, 9, "NOTAUTH");
    }

    #[test]
    fn a_notify_with_a_bad_mac_gets_notauth_badsig() {
        let k = key();
        let (mut signed, _) = tsig::sign_request(&k, &notify(Some(5)), NOW).expect("sign");
        // Upper-case one letter of the QNAME: the same name to DNS, but not the
        // bytes the MAC covers.
        let pos = signed.windows(3).position(|w| w == b"rpz").expect("qname");
        signed[pos] = b'R';
        let err = parse_notify(&signed, std::slice::from_ref(&k), NOW).expect_err("tampered");
        assert_eq!(err, NotifyError::Tsig(TsigError::BadSig));
    }

    #[test]
    fn a_stale_signed_notify_gets_a_signed_badtime_answer() {
        let k = key();
        let (signed, mac) = tsig::sign_request(&k, &notify(None), NOW).expect("sign");
        let later = NOW + 3600;
        let err = parse_notify(&signed, std::slice::from_ref(&k), later).expect_err("stale");
        assert!(matches!(err, NotifyError::Tsig(TsigError::BadTime { .. })));
        let answer =
            error_response(&signed, &err, std::slice::from_ref(&k), later).expect("answered");
        let raw = wire::find_tsig(&answer).expect("parse").expect("tsig");
        assert_eq!(raw.error, TsigRcode::BadTime.code());
        assert_eq!(raw.other.len(), 6);
        assert_eq!(raw.mac.len(), 32, "BADTIME answers are signed");
        // A verifier sees the peer's BADTIME.
        let mut v = ResponseVerifier::new(k, mac);
        assert_eq!(
            v.verify(&answer, later),
            Err(TsigError::PeerRejected {
                rcode: TsigRcode::BadTime
            })
        );
    }
}
