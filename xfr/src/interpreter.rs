//! The sans-I/O AXFR/IXFR client: builds the request and interprets the response
//! messages one at a time.
//!
//! ```text
//!  XfrInterpreter::start(zone, request, key, limits, id, now) ─▶ (interpreter, request bytes)
//!        │
//!        │ feed(message bytes, now)   per message: size bound, TSIG verify,
//!        ▼                            ID / QR / opcode / question / RCODE checks
//!  Progress::NeedMore ... Progress::Done(Transfer)
//! ```
//!
//! Record sequences ([RFC 5936 section 2.2](https://www.rfc-editor.org/rfc/rfc5936#section-2.2),
//! [RFC 1995 section 4](https://www.rfc-editor.org/rfc/rfc1995#section-4)):
//!
//! ```text
//!  AXFR:                 SOA(n)  rr ... rr  SOA(n)
//!  IXFR, up to date:     SOA(n)                          (n not newer than ours)
//!  IXFR, AXFR-style:     SOA(n)  rr ... rr  SOA(n)       (second record not an SOA)
//!  IXFR, incremental:    SOA(n)  SOA(ours) -rr.. SOA(a) +rr..  SOA(a) -rr.. SOA(n) +rr..  SOA(n)
//!                                \______ delta ours→a ______/  \______ delta a→n ____/
//!  A condensed IXFR (RFC 1995 section 5) is the same with a single delta ours→n.
//! ```
//!
//! Unlike a bare response interpreter, this one also does ID and question matching
//! and TSIG verification, because every message of a transfer needs them and a
//! caller that forgot one would accept spoofed data.

use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::error::{LimitKind, XfrError};
use crate::serial::Serial;
use crate::tsig::{self, ResponseVerifier, TsigError, TsigKey};
use crate::wire;

/// Default for [`Limits::max_bytes`]: 512 MiB, several times a million-rule RPZ zone.
pub const DEFAULT_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// Default for [`Limits::max_records`].
pub const DEFAULT_MAX_RECORDS: usize = 20_000_000;
/// Default for [`Limits::max_duration`].
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(2 * 3600);
/// Default for [`Limits::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Bounds on one transfer, so a broken or hostile primary cannot exhaust memory or
/// hold a task forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most response bytes accepted, summed over all messages (framing excluded).
    pub max_bytes: u64,
    /// Most answer records accepted, summed over all messages.
    pub max_records: usize,
    /// Longest a whole transfer may take, connection included (transport only).
    pub max_duration: Duration,
    /// Longest wait for connecting or for the next message (transport only).
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: DEFAULT_MAX_BYTES,
            max_records: DEFAULT_MAX_RECORDS,
            max_duration: DEFAULT_MAX_DURATION,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// What to ask the primary for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The whole zone ([RFC 5936](https://www.rfc-editor.org/rfc/rfc5936)).
    Axfr,
    /// The changes since `serial` ([RFC 1995](https://www.rfc-editor.org/rfc/rfc1995)).
    Ixfr {
        /// The serial of the copy we hold.
        serial: Serial,
        /// The SOA RDATA of the copy we hold, sent in the authority section; its
        /// `serial` field is replaced by `serial`. With `None` a placeholder SOA
        /// (root names, zero timers) carries the serial, which is all a primary reads.
        soa: Option<SOA>,
    },
}

impl Request {
    /// The query type on the wire.
    fn record_type(&self) -> RecordType {
        match self {
            Request::Axfr => RecordType::AXFR,
            Request::Ixfr { .. } => RecordType::IXFR,
        }
    }
}

/// One IXFR change set: the records to remove from version `from_serial` and add
/// to reach `to_serial`. The SOA records bracketing the change set are not listed;
/// the new SOA is [`Transfer::Incremental::soa`] (or the next delta's start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// Serial of the version this delta applies to.
    pub from_serial: Serial,
    /// Serial of the version it produces.
    pub to_serial: Serial,
    /// Records to delete.
    pub removed: Vec<Record>,
    /// Records to add.
    pub added: Vec<Record>,
}

/// The result of a completed transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    /// IXFR answered with our serial or an older one: nothing to do.
    UpToDate {
        /// The primary's SOA record.
        soa: Record,
    },
    /// The whole zone (AXFR, or IXFR answered AXFR-style). `records` starts with
    /// the SOA, which appears once.
    Full {
        /// The zone's SOA record.
        soa: Record,
        /// Every record of the zone, SOA first.
        records: Vec<Record>,
    },
    /// IXFR changes, oldest first.
    Incremental {
        /// The SOA record of the new version.
        soa: Record,
        /// The change sets, chained from our serial to the new one.
        deltas: Vec<Delta>,
    },
}

impl Transfer {
    /// The serial of the zone version this result describes.
    pub fn serial(&self) -> Serial {
        let soa = match self {
            Transfer::UpToDate { soa }
            | Transfer::Full { soa, .. }
            | Transfer::Incremental { soa, .. } => soa,
        };
        soa_serial(soa).unwrap_or(Serial(0))
    }
}

/// What [`XfrInterpreter::feed`] concluded.
// Returned once per message and never stored in bulk, so the size gap between the
// variants (the SOA records inline) costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The transfer continues in further messages.
    NeedMore,
    /// The transfer is complete.
    Done(Transfer),
}

/// Where in the record sequence the interpreter stands.
#[derive(Debug)]
enum Phase {
    /// No answer record seen yet.
    Start,
    /// Only the opening SOA (serial `n`) seen; the next record decides the form.
    AfterFirstSoa,
    /// Collecting an AXFR (or AXFR-style IXFR) body.
    Full {
        /// Records so far, opening SOA first.
        records: Vec<Record>,
    },
    /// Inside an IXFR delta, collecting removals.
    Removing(Delta),
    /// Inside an IXFR delta, collecting additions.
    Adding(Delta),
    /// The final SOA was seen.
    Done,
}

/// The sans-I/O transfer client. See the module docs.
#[derive(Debug)]
pub struct XfrInterpreter {
    /// The zone being transferred.
    zone: Name,
    /// What was asked.
    request: Request,
    /// The request ID responses must carry.
    id: u16,
    /// Bounds.
    limits: Limits,
    /// TSIG state when the request was signed.
    verifier: Option<ResponseVerifier>,
    /// Bytes received so far.
    bytes: u64,
    /// Answer records received so far.
    records: usize,
    /// Messages received so far.
    messages: u64,
    /// The opening SOA record, once seen.
    first_soa: Option<Record>,
    /// Deltas completed so far.
    deltas: Vec<Delta>,
    /// Position in the record sequence.
    phase: Phase,
    /// The result, kept until taken.
    result: Option<Transfer>,
}

impl XfrInterpreter {
    /// Builds the request for `zone` (signed with `key` if given; `now` in seconds
    /// since the Unix epoch) and the interpreter for its response.
    pub fn start(
        zone: &Name,
        request: Request,
        key: Option<&TsigKey>,
        limits: Limits,
        id: u16,
        now: u64,
    ) -> Result<(XfrInterpreter, Vec<u8>), XfrError> {
        let bytes = build_query(zone, &request, id)?;
        let (bytes, verifier) = match key {
            Some(key) => {
                let (signed, mac) = tsig::sign_request(key, &bytes, now)?;
                (signed, Some(ResponseVerifier::new(key.clone(), mac)))
            }
            None => (bytes, None),
        };
        let interpreter = XfrInterpreter {
            zone: zone.clone(),
            request,
            id,
            limits,
            verifier,
            bytes: 0,
            records: 0,
            messages: 0,
            first_soa: None,
            deltas: Vec::new(),
            phase: Phase::Start,
            result: None,
        };
        Ok((interpreter, bytes))
    }

    /// Checks, before reading it, whether a message of `len` bytes would cross
    /// [`Limits::max_bytes`], so the transport need not buffer it first.
    pub fn check_incoming(&self, len: usize) -> Result<(), XfrError> {
        if self.bytes.saturating_add(len as u64) > self.limits.max_bytes {
            return Err(XfrError::Limit(LimitKind::Bytes));
        }
        Ok(())
    }

    /// True once the final SOA has been seen.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// Feeds one response message; `now` is seconds since the Unix epoch (for TSIG).
    pub fn feed(&mut self, msg: &[u8], now: u64) -> Result<Progress, XfrError> {
        self.check_incoming(msg.len())?;
        self.bytes += msg.len() as u64;
        if self.is_done() {
            return Err(XfrError::TrailingRecords);
        }
        let first_message = self.messages == 0;
        self.messages += 1;

        // Structure first: every record present, nothing after the last.
        wire::layout(msg)?;
        let plain = self.verify_tsig(msg, now)?;
        let message = Message::from_vec(&plain).map_err(XfrError::Decode)?;
        self.check_header(&message, first_message)?;

        self.records = self.records.saturating_add(message.answers.len());
        if self.records > self.limits.max_records {
            return Err(XfrError::Limit(LimitKind::Records));
        }
        let mut answers = message.answers.into_iter();
        for record in answers.by_ref() {
            self.record(record)?;
            if self.is_done() {
                break;
            }
        }
        if answers.next().is_some() {
            return Err(XfrError::TrailingRecords);
        }
        self.end_of_message()?;

        if self.is_done() {
            if let Some(v) = &self.verifier {
                v.finish()?;
            }
            if let Some(result) = self.result.take() {
                return Ok(Progress::Done(result));
            }
        }
        Ok(Progress::NeedMore)
    }

    /// Verifies TSIG when a key is in use and returns the message to decode.
    fn verify_tsig(&mut self, msg: &[u8], now: u64) -> Result<Vec<u8>, XfrError> {
        let Some(verifier) = self.verifier.as_mut() else {
            return Ok(msg.to_vec());
        };
        match verifier.verify(msg, now) {
            Ok(plain) => Ok(plain),
            // An unsigned error answer (REFUSED from an ACL, say) says more than
            // "unsigned"; nothing from it is used, so report its RCODE.
            Err(TsigError::Unsigned) => match response_code(msg) {
                Some(rcode) if rcode != ResponseCode::NoError => Err(self.rcode_error(rcode)),
                _ => Err(TsigError::Unsigned.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// The error for a non-NOERROR answer.
    fn rcode_error(&self, rcode: ResponseCode) -> XfrError {
        let ixfr_unavailable = matches!(
            rcode,
            ResponseCode::NotImp | ResponseCode::FormErr | ResponseCode::Refused
        );
        if matches!(self.request, Request::Ixfr { .. }) && ixfr_unavailable {
            XfrError::IxfrUnavailable { rcode }
        } else {
            XfrError::Rcode { rcode }
        }
    }

    /// Per-message header and question checks.
    fn check_header(&self, message: &Message, first_message: bool) -> Result<(), XfrError> {
        if message.id != self.id {
            return Err(XfrError::IdMismatch {
                expected: self.id,
                got: message.id,
            });
        }
        if message.message_type != MessageType::Response || message.op_code != OpCode::Query {
            return Err(XfrError::NotAResponse);
        }
        if message.response_code != ResponseCode::NoError {
            return Err(self.rcode_error(message.response_code));
        }
        if message.truncation {
            return Err(XfrError::TruncatedResponse);
        }
        // RFC 5936 section 2.2.1: the first message repeats the question; later
        // ones repeat it or leave the section empty.
        match message.queries.as_slice() {
            [] if !first_message => Ok(()),
            [q] if q.name() == &self.zone
                && q.query_type() == self.request.record_type()
                && q.query_class() == DNSClass::IN =>
            {
                Ok(())
            }
            _ => Err(XfrError::QuestionMismatch),
        }
    }

    /// Our serial, for IXFR.
    fn our_serial(&self) -> Option<Serial> {
        match &self.request {
            Request::Ixfr { serial, .. } => Some(*serial),
            Request::Axfr => None,
        }
    }

    /// The serial of the opening SOA.
    fn final_serial(&self) -> Serial {
        self.first_soa
            .as_ref()
            .and_then(soa_serial)
            .unwrap_or(Serial(0))
    }

    /// Advances the state machine by one answer record.
    fn record(&mut self, record: Record) -> Result<(), XfrError> {
        if record.dns_class != DNSClass::IN || !self.zone.zone_of(&record.name) {
            return Err(XfrError::OutOfZone { name: record.name });
        }
        let serial = soa_serial(&record);
        if serial.is_some() && record.name != self.zone {
            return Err(XfrError::OutOfZone { name: record.name });
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        self.phase = match (phase, serial) {
            (Phase::Start, Some(_)) => {
                self.first_soa = Some(record);
                match self.request {
                    Request::Axfr => Phase::Full {
                        records: self.first_soa.iter().cloned().collect(),
                    },
                    Request::Ixfr { .. } => Phase::AfterFirstSoa,
                }
            }
            (Phase::Start, None) => return Err(XfrError::FirstRecordNotSoa),
            (Phase::AfterFirstSoa, Some(s)) => {
                let ours = self.our_serial().unwrap_or(Serial(0));
                let fin = self.final_serial();
                if s == ours && s != fin {
                    // Incremental: the first delta starts at our serial.
                    Phase::Removing(Delta {
                        from_serial: s,
                        to_serial: s,
                        removed: Vec::new(),
                        added: Vec::new(),
                    })
                } else if s == fin {
                    // AXFR-style answer of a zone holding only its SOA.
                    self.finish_full(Vec::new())
                } else {
                    return Err(XfrError::BadIxfrSequence {
                        expected: ours,
                        found: s,
                    });
                }
            }
            (Phase::AfterFirstSoa, None) => {
                // RFC 1995 section 4: a full zone in AXFR form; the SOA is in first_soa.
                let mut records: Vec<Record> = self.first_soa.iter().cloned().collect();
                records.push(record);
                Phase::Full { records }
            }
            (Phase::Full { mut records }, None) => {
                records.push(record);
                Phase::Full { records }
            }
            (Phase::Full { records }, Some(s)) => {
                let first = self.final_serial();
                if s != first {
                    return Err(XfrError::EndSoaMismatch { first, last: s });
                }
                self.finish_full(records)
            }
            (Phase::Removing(mut delta), None) => {
                delta.removed.push(record);
                Phase::Removing(delta)
            }
            (Phase::Removing(mut delta), Some(s)) => {
                if !s.is_newer_than(delta.from_serial) {
                    return Err(XfrError::SerialWentBackwards {
                        from: delta.from_serial,
                        to: s,
                    });
                }
                let fin = self.final_serial();
                if s.is_newer_than(fin) {
                    // A delta may not lead past the version the primary announced.
                    return Err(XfrError::BadIxfrSequence {
                        expected: fin,
                        found: s,
                    });
                }
                delta.to_serial = s;
                Phase::Adding(delta)
            }
            (Phase::Adding(mut delta), None) => {
                delta.added.push(record);
                Phase::Adding(delta)
            }
            (Phase::Adding(delta), Some(s)) => {
                let to = delta.to_serial;
                self.deltas.push(delta);
                if s != to {
                    return Err(XfrError::BadIxfrSequence {
                        expected: to,
                        found: s,
                    });
                }
                if s == self.final_serial() {
                    self.finish_incremental()
                } else {
                    Phase::Removing(Delta {
                        from_serial: s,
                        to_serial: s,
                        removed: Vec::new(),
                        added: Vec::new(),
                    })
                }
            }
            (Phase::Done, _) => return Err(XfrError::TrailingRecords),
        };
        Ok(())
    }

    /// Called after the last record of each message.
    fn end_of_message(&mut self) -> Result<(), XfrError> {
        if let (Phase::AfterFirstSoa, Some(ours)) = (&self.phase, self.our_serial()) {
            // RFC 1995 section 4: "If the [client's] SOA serial ... is equal or newer
            // than the server's, a single SOA is returned". A newer serial alone in a
            // message just means the rest follows in the next one.
            if !self.final_serial().is_newer_than(ours) {
                if let Some(soa) = self.first_soa.clone() {
                    self.result = Some(Transfer::UpToDate { soa });
                    self.phase = Phase::Done;
                }
            }
        }
        Ok(())
    }

    /// Completes a full transfer.
    fn finish_full(&mut self, mut records: Vec<Record>) -> Phase {
        if records.is_empty() {
            records.extend(self.first_soa.iter().cloned());
        }
        if let Some(soa) = self.first_soa.clone() {
            self.result = Some(Transfer::Full { soa, records });
        }
        Phase::Done
    }

    /// Completes an incremental transfer.
    fn finish_incremental(&mut self) -> Phase {
        if let Some(soa) = self.first_soa.clone() {
            self.result = Some(Transfer::Incremental {
                soa,
                deltas: std::mem::take(&mut self.deltas),
            });
        }
        Phase::Done
    }
}

/// The serial of an SOA record, `None` for other types.
fn soa_serial(record: &Record) -> Option<Serial> {
    match &record.data {
        RData::SOA(soa) => Some(Serial(soa.serial)),
        _ => None,
    }
}

/// The RCODE of raw message bytes (header only; extended RCODEs not considered).
fn response_code(msg: &[u8]) -> Option<ResponseCode> {
    let low = *msg.get(3)? & 0x0F;
    Some(ResponseCode::from_low(low))
}

/// Encodes the AXFR or IXFR query for `zone`.
pub(crate) fn build_query(zone: &Name, request: &Request, id: u16) -> Result<Vec<u8>, XfrError> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(zone.clone(), request.record_type()));
    if let Request::Ixfr { serial, soa } = request {
        // RFC 1995 section 3: "The authority section ... contains the SOA record
        // of client's version of the zone."
        let mut soa = soa
            .clone()
            .unwrap_or_else(|| SOA::new(Name::root(), Name::root(), 0, 0, 0, 0, 0));
        soa.serial = serial.get();
        m.add_authority(Record::from_rdata(zone.clone(), 0, RData::SOA(soa)));
    }
    m.to_vec().map_err(XfrError::Encode)
}

#[cfg(test)]
mod tests;
