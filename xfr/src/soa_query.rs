//! The sans-I/O SOA query used before a transfer to learn the primary's serial
//! ([RFC 1035 section 4.3.5](https://www.rfc-editor.org/rfc/rfc1035#section-4.3.5):
//! "the secondary ... polls the primary ... for the SOA").
//!
//! ```text
//!  SoaQuery::start(zone, key, id, now) ─▶ (query, request bytes) ─UDP─▶ primary
//!  query.interpret(response bytes, now) ─▶ SoaOutcome::Answer(SoaAnswer)
//!                                        └▶ SoaOutcome::Truncated  (retry over TCP)
//! ```

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::error::XfrError;
use crate::serial::Serial;
use crate::tsig::{self, ResponseVerifier, TsigError, TsigKey};
use crate::wire;

/// The primary's SOA for a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoaAnswer {
    /// The SOA record as received (owner, TTL, class).
    pub record: Record,
    /// Its RDATA.
    pub soa: SOA,
    /// Its serial.
    pub serial: Serial,
}

/// What a response to an SOA query said.
// Returned once per query and never stored, so the size gap costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoaOutcome {
    /// The SOA.
    Answer(SoaAnswer),
    /// The response was truncated (TC): ask again over TCP.
    Truncated,
}

/// One outstanding SOA query. See the module docs.
#[derive(Debug)]
pub struct SoaQuery {
    /// The zone asked for.
    zone: Name,
    /// The query ID.
    id: u16,
    /// TSIG state when the query was signed.
    verifier: Option<ResponseVerifier>,
}

impl SoaQuery {
    /// Builds the query (signed with `key` if given) and the state to check its answer.
    pub fn start(
        zone: &Name,
        key: Option<&TsigKey>,
        id: u16,
        now: u64,
    ) -> Result<(SoaQuery, Vec<u8>), XfrError> {
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(zone.clone(), RecordType::SOA));
        let bytes = m.to_vec().map_err(XfrError::Encode)?;
        let (bytes, verifier) = match key {
            Some(key) => {
                let (signed, mac) = tsig::sign_request(key, &bytes, now)?;
                (signed, Some(ResponseVerifier::new(key.clone(), mac)))
            }
            None => (bytes, None),
        };
        let query = SoaQuery {
            zone: zone.clone(),
            id,
            verifier,
        };
        Ok((query, bytes))
    }

    /// The query ID, so a UDP transport can ignore stray datagrams cheaply.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Interprets a response; `now` is seconds since the Unix epoch.
    pub fn interpret(&mut self, msg: &[u8], now: u64) -> Result<SoaOutcome, XfrError> {
        let header = wire::read_header(msg)?;
        if header.id != self.id {
            return Err(XfrError::IdMismatch {
                expected: self.id,
                got: header.id,
            });
        }
        // A truncated UDP answer may lack its TSIG (RFC 8945 section 5.3.4 lets a
        // server drop it); nothing from it is used, so only TC is read.
        if msg.get(2).is_some_and(|flags| flags & 0x02 != 0) {
            return Ok(SoaOutcome::Truncated);
        }
        wire::layout(msg)?;
        let plain = match self.verifier.as_mut() {
            Some(v) => {
                let plain = v.verify(msg, now);
                match plain {
                    Ok(p) => p,
                    Err(TsigError::Unsigned) if msg.get(3).is_some_and(|b| b & 0x0F != 0) => {
                        let rcode = ResponseCode::from_low(msg[3] & 0x0F);
                        return Err(XfrError::Rcode { rcode });
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            None => msg.to_vec(),
        };
        let m = Message::from_vec(&plain).map_err(XfrError::Decode)?;
        if m.message_type != MessageType::Response || m.op_code != OpCode::Query {
            return Err(XfrError::NotAResponse);
        }
        if m.response_code != ResponseCode::NoError {
            return Err(XfrError::Rcode {
                rcode: m.response_code,
            });
        }
        match m.queries.as_slice() {
            [q] if q.name() == &self.zone
                && q.query_type() == RecordType::SOA
                && q.query_class() == DNSClass::IN => {}
            _ => return Err(XfrError::QuestionMismatch),
        }
        m.answers
            .into_iter()
            .find_map(|record| match &record.data {
                RData::SOA(soa) if record.name == self.zone => {
                    let soa = soa.clone();
                    Some(SoaAnswer {
                        serial: Serial(soa.serial),
                        soa,
                        record,
                    })
                }
                _ => None,
            })
            .map(SoaOutcome::Answer)
            .ok_or(XfrError::FirstRecordNotSoa)
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::rdata::A;

    use super::*;
    use crate::tsig::{ResponseSigner, TsigAlgorithm};

    const NOW: u64 = 1_764_000_000;

    fn zone() -> Name {
        Name::from_ascii("zone.example.").expect("name")
    }

    fn answer(id: u16, records: Vec<Record>) -> Vec<u8> {
        let mut m = Message::new(id, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(zone(), RecordType::SOA));
        m.add_answers(records);
        m.to_vec().expect("encode")
    }

    fn soa_record(serial: u32) -> Record {
        Record::from_rdata(
            zone(),
            60,
            RData::SOA(SOA::new(Name::root(), Name::root(), serial, 1, 2, 3, 4)),
        )
    }

    #[test]
    fn an_soa_answer_yields_the_serial() {
        let (mut q, _) = SoaQuery::start(&zone(), None, 7, NOW).expect("start");
        match q
            .interpret(&answer(7, vec![soa_record(2026112201)]), NOW)
            .expect("valid")
        {
            SoaOutcome::Answer(a) => assert_eq!(a.serial, Serial(2026112201)),
            SoaOutcome::Truncated => panic!("not truncated"),
        }
    }

    #[test]
    fn a_truncated_answer_asks_for_tcp() {
        let (mut q, _) = SoaQuery::start(&zone(), None, 7, NOW).expect("start");
        let mut msg = answer(7, vec![]);
        msg[2] |= 0x02;
        assert_eq!(
            q.interpret(&msg, NOW).expect("valid"),
            SoaOutcome::Truncated
        );
    }

    #[test]
    fn an_answer_without_an_soa_is_rejected() {
        let (mut q, _) = SoaQuery::start(&zone(), None, 7, NOW).expect("start");
        let a = Record::from_rdata(zone(), 60, RData::A(A::new(192, 0, 2, 1)));
        assert!(matches!(
            q.interpret(&answer(7, vec![a]), NOW),
            Err(XfrError::FirstRecordNotSoa)
        ));
    }

    #[test]
    fn an_answer_with_another_id_is_rejected() {
        let (mut q, _) = SoaQuery::start(&zone(), None, 7, NOW).expect("start");
        assert!(matches!(
            q.interpret(&answer(8, vec![soa_record(1)]), NOW),
            Err(XfrError::IdMismatch { .. })
        ));
    }

    #[test]
    fn a_signed_query_accepts_only_a_signed_answer() {
        let key = TsigKey::new(
            Name::from_ascii("k.").expect("name"),
            TsigAlgorithm::HmacSha256,
            vec![9; 32],
        );
        let (mut q, request) = SoaQuery::start(&zone(), Some(&key), 7, NOW).expect("start");
        let verified = tsig::verify_request(&request, std::slice::from_ref(&key), NOW)
            .expect("verifies")
            .expect("signed");
        let mut signer = ResponseSigner::new(key, verified.mac);
        let signed = signer
            .sign(&answer(7, vec![soa_record(5)]), NOW)
            .expect("sign");
        assert!(matches!(
            q.interpret(&signed, NOW),
            Ok(SoaOutcome::Answer(_))
        ));
        let (mut q2, _) = SoaQuery::start(&zone(), Some(&signer_key()), 7, NOW).expect("start");
        assert!(matches!(
            q2.interpret(&answer(7, vec![soa_record(5)]), NOW),
            Err(XfrError::Tsig(TsigError::Unsigned))
        ));
    }

    fn signer_key() -> TsigKey {
        TsigKey::new(
            Name::from_ascii("k.").expect("name"),
            TsigAlgorithm::HmacSha256,
            vec![9; 32],
        )
    }
}
