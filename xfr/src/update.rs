//! DNS UPDATE ([RFC 2136](https://www.rfc-editor.org/rfc/rfc2136)) requests, sans-I/O:
//! parse and verify one, build its answer. The primary role decides who may update
//! which zone and applies the changes.
//!
//! ```text
//!  bytes ─▶ parse_update(bytes, keys, now)
//!             1. header: a response?          ─▶ UpdateError::IsResponse (drop)
//!             2. opcode not UPDATE            ─▶ NOTIMP
//!             3. TSIG present: verify         ─▶ NOTAUTH + BADKEY/BADSIG/BADTIME
//!             4. zone section: one, SOA, IN   ─▶ FORMERR
//!           ─▶ UpdateRequest { zone, prerequisites, updates, signed-by }
//!  respond(&request, rcode, now)              ─▶ the answer (signed if the request was)
//!  error_response(bytes, &err, keys, now)     ─▶ the answer for a failure, if one is due
//! ```
//!
//! RFC 2136 section 2 renames the sections of an UPDATE: zone (question),
//! prerequisite (answer), update (authority), additional data. Records with an
//! empty RDATA (classes ANY and NONE) come back from hickory as `RData::Update0`.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use thiserror::Error;

use crate::serve::{failure_answer, raw_question};
use crate::tsig::{self, RequestMac, TsigError, TsigKey};
use crate::wire::{self, WireError, HEADER_LEN};

/// The UPDATE opcode (RFC 2136 section 1).
pub const OPCODE_UPDATE: u8 = 5;

/// A parsed, and if signed verified, UPDATE request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRequest {
    /// The request ID, echoed in the answer.
    pub id: u16,
    /// The zone to update (ZNAME).
    pub zone: Name,
    /// The prerequisite section.
    pub prerequisites: Vec<Record>,
    /// The update section.
    pub updates: Vec<Record>,
    /// The key that signed the request, with its MAC, when it was signed.
    pub signed: Option<(TsigKey, RequestMac)>,
    /// The zone section as received (echoed in the answer).
    question: Vec<u8>,
}

impl UpdateRequest {
    /// The key that signed the request, if any.
    pub fn key(&self) -> Option<&TsigKey> {
        self.signed.as_ref().map(|(k, _)| k)
    }
}

/// Why an UPDATE was not accepted, with the answer each case calls for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The message is a response (QR set): never answer it.
    #[error("message is a response")]
    IsResponse,
    /// The opcode is not UPDATE.
    #[error("opcode is not UPDATE")]
    NotUpdate,
    /// The message is structurally broken.
    #[error("malformed UPDATE: {0}")]
    Malformed(WireError),
    /// hickory could not decode the message.
    #[error("undecodable UPDATE")]
    Undecodable,
    /// The zone section is not one `zone SOA IN` (RFC 2136 section 3.1.1).
    #[error("UPDATE zone section is not one SOA question of class IN")]
    BadZone,
    /// The TSIG did not verify.
    #[error("UPDATE TSIG: {0}")]
    Tsig(TsigError),
}

impl UpdateError {
    /// The RCODE to answer with; `None` means drop silently.
    pub fn rcode(&self) -> Option<ResponseCode> {
        match self {
            UpdateError::IsResponse => None,
            UpdateError::NotUpdate => Some(ResponseCode::NotImp),
            UpdateError::Malformed(_) | UpdateError::Undecodable | UpdateError::BadZone => {
                Some(ResponseCode::FormErr)
            }
            UpdateError::Tsig(_) => Some(ResponseCode::NotAuth),
        }
    }

    /// A bounded label for metrics.
    pub fn as_metrics_label(&self) -> &'static str {
        match self {
            UpdateError::IsResponse => "is_response",
            UpdateError::NotUpdate => "not_update",
            UpdateError::Malformed(_) => "malformed",
            UpdateError::Undecodable => "undecodable",
            UpdateError::BadZone => "bad_zone",
            UpdateError::Tsig(e) => e.as_metrics_label(),
        }
    }
}

/// Parses and verifies an UPDATE in the order of style practice 5. A valid TSIG
/// must come from one of `keys`; an unsigned request comes back with `signed: None`
/// and the caller's access list decides.
pub fn parse_update(msg: &[u8], keys: &[TsigKey], now: u64) -> Result<UpdateRequest, UpdateError> {
    let header = wire::read_header(msg).map_err(UpdateError::Malformed)?;
    let flags = msg.get(2).copied().unwrap_or(0);
    if flags & 0x80 != 0 {
        return Err(UpdateError::IsResponse);
    }
    if (flags >> 3) & 0x0F != OPCODE_UPDATE {
        return Err(UpdateError::NotUpdate);
    }
    if header.qdcount != 1 {
        return Err(UpdateError::BadZone);
    }
    let (plain, signed) = match tsig::verify_request(msg, keys, now) {
        Ok(Some(v)) => (v.message, Some((v.key, v.mac))),
        Ok(None) => (msg.to_vec(), None),
        Err(TsigError::Malformed(e)) => return Err(UpdateError::Malformed(e)),
        Err(e) => return Err(UpdateError::Tsig(e)),
    };
    let question = raw_question(&plain).map_err(|_| UpdateError::BadZone)?;
    let m = Message::from_vec(&plain).map_err(|_| UpdateError::Undecodable)?;
    let [q] = m.queries.as_slice() else {
        return Err(UpdateError::BadZone);
    };
    if q.query_type() != RecordType::SOA || q.query_class() != DNSClass::IN {
        return Err(UpdateError::BadZone);
    }
    Ok(UpdateRequest {
        id: header.id,
        zone: q.name().clone(),
        prerequisites: m.answers,
        updates: m.authorities,
        signed,
        question,
    })
}

/// The 12-octet header of an UPDATE answer: QR, opcode UPDATE, `rcode`.
fn header(id: u16, rcode: u8, zocount: u16) -> [u8; HEADER_LEN] {
    let id = id.to_be_bytes();
    let zo = zocount.to_be_bytes();
    [
        id[0],
        id[1],
        0x80 | (OPCODE_UPDATE << 3),
        rcode & 0x0f,
        zo[0],
        zo[1],
        0,
        0,
        0,
        0,
        0,
        0,
    ]
}

/// The answer to an UPDATE that was processed: `rcode` (NOERROR, REFUSED, NOTAUTH,
/// NOTZONE, a prerequisite's YXDOMAIN...), the zone section echoed (RFC 2136
/// section 3.8), signed with the request's key if it was signed.
pub fn respond(
    request: &UpdateRequest,
    rcode: ResponseCode,
    now: u64,
) -> Result<Vec<u8>, TsigError> {
    let mut msg = Vec::with_capacity(HEADER_LEN + request.question.len());
    msg.extend_from_slice(&header(request.id, rcode.low(), 1));
    msg.extend_from_slice(&request.question);
    match &request.signed {
        Some((key, mac)) => tsig::sign_response(key, &msg, mac, now),
        None => Ok(msg),
    }
}

/// The answer to an UPDATE that failed with `err`, or `None` when it must be dropped.
/// TSIG failures get NOTAUTH with the TSIG error code (RFC 8945 section 5.2);
/// BADTIME is signed with the matching key from `keys`.
pub fn error_response(
    request: &[u8],
    err: &UpdateError,
    keys: &[TsigKey],
    now: u64,
) -> Option<Vec<u8>> {
    let tsig_error = match err {
        UpdateError::Tsig(e) => Some(e),
        _ => None,
    };
    failure_answer(
        request,
        0x80 | (OPCODE_UPDATE << 3),
        err.rcode()?,
        tsig_error,
        keys,
        now,
    )
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::RData;

    use super::*;
    use crate::tsig::{sign_request, ResponseVerifier, TsigAlgorithm};

    fn key(secret: &[u8]) -> TsigKey {
        TsigKey::new(
            Name::from_ascii("upd-key.").expect("name"),
            TsigAlgorithm::HmacSha256,
            secret.to_vec(),
        )
    }

    /// An UPDATE of `block.` adding one A record and deleting an RRset.
    fn update_message() -> Vec<u8> {
        let mut m = Message::new(0x4242, MessageType::Query, OpCode::Update);
        m.add_query(Query::query(
            Name::from_ascii("block.").expect("name"),
            RecordType::SOA,
        ));
        let add = Record::from_rdata(
            Name::from_ascii("bad.example.block.").expect("name"),
            60,
            RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
        );
        let mut del = Record::update0(
            Name::from_ascii("old.example.block.").expect("name"),
            0,
            RecordType::CNAME,
        );
        del.dns_class = DNSClass::ANY;
        m.authorities = vec![add, del];
        m.to_vec().expect("encode")
    }

    #[test]
    fn a_signed_update_is_verified_and_its_sections_read() {
        let k = key(b"0123456789abcdef0123456789abcdef");
        let (signed, mac) = sign_request(&k, &update_message(), 1_000_000).expect("sign");
        let req = parse_update(&signed, std::slice::from_ref(&k), 1_000_010).expect("valid");
        assert_eq!(req.zone, Name::from_ascii("block.").expect("name"));
        assert_eq!(req.updates.len(), 2);
        assert_eq!(req.updates[1].dns_class, DNSClass::ANY);
        assert!(matches!(
            req.updates[1].data,
            RData::Update0(RecordType::CNAME)
        ));
        let answer = respond(&req, ResponseCode::NoError, 1_000_011).expect("answer");
        let mut v = ResponseVerifier::new(k.clone(), mac);
        v.verify(&answer, 1_000_012)
            .expect("the answer is signed with the request's key");
        assert_eq!((answer[2] >> 3) & 0x0f, OPCODE_UPDATE);
        assert_eq!(answer[2] & 0x80, 0x80);
    }

    #[test]
    fn a_wrong_key_is_notauth_with_badsig_and_an_unknown_one_badkey() {
        let right = key(b"0123456789abcdef0123456789abcdef");
        let wrong = key(b"fedcba9876543210fedcba9876543210");
        let (signed, _) = sign_request(&wrong, &update_message(), 1_000_000).expect("sign");
        let err =
            parse_update(&signed, std::slice::from_ref(&right), 1_000_000).expect_err("bad sig");
        assert_eq!(err, UpdateError::Tsig(TsigError::BadSig));
        assert_eq!(err.rcode(), Some(ResponseCode::NotAuth));
        let answer = error_response(&signed, &err, std::slice::from_ref(&right), 1_000_000)
            .expect("answered");
        assert_eq!(answer[3] & 0x0f, ResponseCode::NotAuth.low());
        let err = parse_update(&signed, &[], 1_000_000).expect_err("unknown key");
        assert_eq!(err, UpdateError::Tsig(TsigError::BadKey));
    }

    #[test]
    fn responses_are_dropped_and_a_zone_section_of_another_type_is_formerr() {
        let mut msg = update_message();
        msg[2] |= 0x80;
        assert_eq!(parse_update(&msg, &[], 0), Err(UpdateError::IsResponse));
        let mut m = Message::new(1, MessageType::Query, OpCode::Update);
        m.add_query(Query::query(
            Name::from_ascii("block.").expect("name"),
            RecordType::A,
        ));
        let msg = m.to_vec().expect("encode");
        let err = parse_update(&msg, &[], 0).expect_err("bad zone");
        assert_eq!(err.rcode(), Some(ResponseCode::FormErr));
        let answer = error_response(&msg, &err, &[], 0).expect("answered");
        assert_eq!(answer[3] & 0x0f, ResponseCode::FormErr.low());
    }
}
