//! The server side of AXFR ([RFC 5936](https://www.rfc-editor.org/rfc/rfc5936)) and IXFR
//! ([RFC 1995](https://www.rfc-editor.org/rfc/rfc1995)), sans-I/O: parse and verify a
//! transfer request, then cut a stream of pre-encoded records into signed messages.
//!
//! ```text
//!  request bytes ─▶ parse_request(bytes, keys, now)
//!                    1. header: a response?           ─▶ ServeError::IsResponse (drop)
//!                    2. TSIG present: verify          ─▶ NOTAUTH + BADKEY/BADSIG/BADTIME
//!                    3. question: one, IN, AXFR/IXFR/SOA ─▶ FORMERR
//!                    4. IXFR: one SOA in AUTHORITY    ─▶ FORMERR
//!                 ─▶ XfrRequest { zone, kind, signed-by }
//!  (caller: ACL, which zone, which records)
//!  MessageWriter::new(&request) ─ push(rr) ─▶ Some(message) when one is full
//!                               ─ finish() ─▶ the last message
//!  every message carries the question only in the first, AA set, and a TSIG chained
//!  to the previous one when the request was signed
//! ```
//!
//! RFC 8945 section 5.3.1 lets a server leave up to 99 messages in a row unsigned;
//! this writer signs every one, which every client accepts and costs one HMAC per
//! ~16 KB. Records are passed in as uncompressed wire bytes ([`encode_record`]): a
//! zone is encoded once per version, not once per transfer.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use thiserror::Error;

use crate::serial::Serial;
use crate::tsig::{self, ResponseSigner, TsigError, TsigKey};
use crate::wire::{self, WireError, HEADER_LEN};

/// The message size the writer aims for: BIND's secondaries read 64 KiB frames, but
/// smaller messages get the first bytes out sooner and keep memory per transfer low.
pub const TARGET_MESSAGE_LEN: usize = 16 * 1024;

/// Room kept for the TSIG RR (key name, algorithm name, a 64-octet MAC and fixed fields).
const TSIG_RESERVE: usize = 600;

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XfrKind {
    /// The whole zone.
    Axfr,
    /// The changes since `serial` (the SOA the client sent in AUTHORITY).
    Ixfr {
        /// The client's serial.
        serial: Serial,
    },
    /// An SOA query at the apex: secondaries ask it before they transfer, and get the
    /// same access checks and signing as a transfer.
    Soa,
}

/// A parsed, and if signed verified, transfer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XfrRequest {
    /// The request ID, echoed in every message.
    pub id: u16,
    /// The zone asked for, as the client spelled it.
    pub zone: Name,
    /// AXFR or IXFR.
    pub kind: XfrKind,
    /// The key that signed the request, with its MAC, when it was signed.
    pub signed: Option<(TsigKey, tsig::RequestMac)>,
    /// The question section as received (echoed in the first message).
    question: Vec<u8>,
}

impl XfrRequest {
    /// The key that signed the request, if any.
    pub fn key(&self) -> Option<&TsigKey> {
        self.signed.as_ref().map(|(k, _)| k)
    }

    /// A signer for the answer, when the request was signed.
    fn signer(&self) -> Option<ResponseSigner> {
        self.signed
            .as_ref()
            .map(|(k, mac)| ResponseSigner::new(k.clone(), mac.clone()))
    }
}

/// Why a transfer request was not accepted, with the answer each case calls for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The message is a response (QR set): never answer it.
    #[error("message is a response")]
    IsResponse,
    /// The message is structurally broken.
    #[error("malformed transfer request: {0}")]
    Malformed(WireError),
    /// hickory could not decode the message.
    #[error("undecodable transfer request")]
    Undecodable,
    /// The question is not one `zone IN AXFR|IXFR|SOA`.
    #[error("transfer request question is not one IN AXFR, IXFR or SOA question")]
    BadQuestion,
    /// An IXFR without exactly one SOA for the zone in AUTHORITY (RFC 1995 section 3).
    #[error("IXFR request without the client's SOA in the authority section")]
    MissingSoa,
    /// The TSIG did not verify.
    #[error("transfer request TSIG: {0}")]
    Tsig(TsigError),
}

impl ServeError {
    /// The RCODE to answer with; `None` means drop silently.
    pub fn rcode(&self) -> Option<ResponseCode> {
        match self {
            ServeError::IsResponse => None,
            ServeError::Malformed(_)
            | ServeError::Undecodable
            | ServeError::BadQuestion
            | ServeError::MissingSoa => Some(ResponseCode::FormErr),
            ServeError::Tsig(_) => Some(ResponseCode::NotAuth),
        }
    }

    /// A bounded label for metrics.
    pub fn as_metrics_label(&self) -> &'static str {
        match self {
            ServeError::IsResponse => "is_response",
            ServeError::Malformed(_) => "malformed",
            ServeError::Undecodable => "undecodable",
            ServeError::BadQuestion => "bad_question",
            ServeError::MissingSoa => "missing_soa",
            ServeError::Tsig(e) => e.as_metrics_label(),
        }
    }
}

/// The question section of `msg` (one question), as raw bytes; the name must not be
/// compressed (it is the first name of the message, so nothing precedes it to point at).
pub(crate) fn raw_question(msg: &[u8]) -> Result<Vec<u8>, ServeError> {
    let mut end = HEADER_LEN;
    loop {
        let len = *msg
            .get(end)
            .ok_or(ServeError::Malformed(WireError::Truncated { offset: end }))?;
        if len == 0 {
            end += 1;
            break;
        }
        if len & 0xC0 != 0 || end - HEADER_LEN > 255 {
            // A pointer or an extended label type: not a plain first name.
            return Err(ServeError::BadQuestion);
        }
        end += 1 + usize::from(len);
    }
    match msg.get(HEADER_LEN..end + 4) {
        Some(q) => Ok(q.to_vec()),
        None => Err(ServeError::Malformed(WireError::Truncated { offset: end })),
    }
}

/// Parses and verifies a transfer request in the order of style practice 5.
///
/// A valid TSIG must come from one of `keys`; an unsigned request comes back with
/// `signed: None` and the caller's ACL decides. The zone is not checked here.
pub fn parse_request(msg: &[u8], keys: &[TsigKey], now: u64) -> Result<XfrRequest, ServeError> {
    let header = wire::read_header(msg).map_err(ServeError::Malformed)?;
    if msg.get(2).copied().unwrap_or(0) & 0x80 != 0 {
        return Err(ServeError::IsResponse);
    }
    if header.qdcount != 1 {
        return Err(ServeError::BadQuestion);
    }
    let (plain, signed) = match tsig::verify_request(msg, keys, now) {
        Ok(Some(v)) => (v.message, Some((v.key, v.mac))),
        Ok(None) => (msg.to_vec(), None),
        Err(TsigError::Malformed(e)) => return Err(ServeError::Malformed(e)),
        Err(e) => return Err(ServeError::Tsig(e)),
    };
    let question = raw_question(&plain)?;
    let m = Message::from_vec(&plain).map_err(|_| ServeError::Undecodable)?;
    let [q] = m.queries.as_slice() else {
        return Err(ServeError::BadQuestion);
    };
    if q.query_class() != DNSClass::IN {
        return Err(ServeError::BadQuestion);
    }
    let zone = q.name().clone();
    let kind = match q.query_type() {
        RecordType::AXFR => XfrKind::Axfr,
        RecordType::IXFR => {
            let serials: Vec<u32> = m
                .authorities
                .iter()
                .filter_map(|r| match &r.data {
                    RData::SOA(soa) if r.name == zone => Some(soa.serial),
                    _ => None,
                })
                .collect();
            let [serial] = serials.as_slice() else {
                return Err(ServeError::MissingSoa);
            };
            XfrKind::Ixfr {
                serial: Serial(*serial),
            }
        }
        RecordType::SOA => XfrKind::Soa,
        _ => return Err(ServeError::BadQuestion),
    };
    Ok(XfrRequest {
        id: header.id,
        zone,
        kind,
        signed,
        question,
    })
}

/// One record in uncompressed wire form (owner, type, class, TTL, RDLENGTH, RDATA), the
/// unit [`MessageWriter::push`] takes. Names keep their case and are never compressed,
/// so the bytes can be placed anywhere in any message.
pub fn encode_record(record: &Record) -> Result<Vec<u8>, hickory_proto::ProtoError> {
    let mut buf = Vec::with_capacity(64);
    let mut enc = BinEncoder::new(&mut buf);
    enc.set_name_encoding(NameEncoding::Uncompressed);
    record.emit(&mut enc)?;
    Ok(buf)
}

/// The 12-octet header of a transfer answer: QR, AA, opcode QUERY, `rcode`.
fn header(id: u16, rcode: u8, qdcount: u16, ancount: u16) -> [u8; HEADER_LEN] {
    let id = id.to_be_bytes();
    let qd = qdcount.to_be_bytes();
    let an = ancount.to_be_bytes();
    // 0x84: QR=1, opcode 0, AA=1.
    [
        id[0],
        id[1],
        0x84,
        rcode & 0x0f,
        qd[0],
        qd[1],
        an[0],
        an[1],
        0,
        0,
        0,
        0,
    ]
}

/// Cuts a stream of records into answer messages and signs each one.
#[derive(Debug)]
pub struct MessageWriter {
    /// ID of every message.
    id: u16,
    /// Question echoed in the first message.
    question: Vec<u8>,
    /// Signs each message when the request was signed.
    signer: Option<ResponseSigner>,
    /// Records of the message being filled, concatenated.
    body: Vec<u8>,
    /// How many records `body` holds.
    count: u16,
    /// True until the first message has gone out.
    first: bool,
    /// Largest message before the TSIG RR.
    limit: usize,
}

impl MessageWriter {
    /// A writer for the answer to `request`, aiming at [`TARGET_MESSAGE_LEN`].
    pub fn new(request: &XfrRequest) -> MessageWriter {
        MessageWriter::with_limit(request, TARGET_MESSAGE_LEN)
    }

    /// A writer aiming at `limit` octets per message (a record bigger than that gets
    /// a message of its own).
    pub fn with_limit(request: &XfrRequest, limit: usize) -> MessageWriter {
        MessageWriter {
            id: request.id,
            question: request.question.clone(),
            signer: request.signer(),
            body: Vec::with_capacity(limit.min(65535)),
            count: 0,
            first: true,
            limit: limit.clamp(512, 65535 - TSIG_RESERVE),
        }
    }

    /// Adds one record (from [`encode_record`]); returns a finished message when the
    /// current one was full. `now` is seconds since the Unix epoch, for the TSIG.
    pub fn push(&mut self, rr: &[u8], now: u64) -> Result<Option<Vec<u8>>, TsigError> {
        let head = HEADER_LEN + if self.first { self.question.len() } else { 0 };
        let full = self.count > 0
            && (head + self.body.len() + rr.len() > self.limit || self.count == u16::MAX);
        let out = if full { Some(self.cut(now)?) } else { None };
        self.body.extend_from_slice(rr);
        self.count += 1;
        Ok(out)
    }

    /// The last message (possibly the only one).
    pub fn finish(mut self, now: u64) -> Result<Vec<u8>, TsigError> {
        self.cut(now)
    }

    /// Closes the current message and signs it.
    fn cut(&mut self, now: u64) -> Result<Vec<u8>, TsigError> {
        let qd = u16::from(self.first);
        let mut msg = Vec::with_capacity(HEADER_LEN + self.body.len() + TSIG_RESERVE);
        msg.extend_from_slice(&header(self.id, 0, qd, self.count));
        if self.first {
            msg.extend_from_slice(&self.question);
        }
        msg.extend_from_slice(&self.body);
        self.body.clear();
        self.count = 0;
        self.first = false;
        match &mut self.signer {
            Some(s) => s.sign(&msg, now),
            None => Ok(msg),
        }
    }
}

/// A one-message answer with no records and `rcode` (REFUSED, NOTAUTH for a zone we do
/// not serve, SERVFAIL), signed when the request was.
pub fn refusal(request: &XfrRequest, rcode: ResponseCode, now: u64) -> Result<Vec<u8>, TsigError> {
    empty_answer(request, rcode, false, now)
}

/// An empty NOERROR answer with TC set, signed when the request was: the answer to an
/// AXFR over UDP, which RFC 5936 section 4.2 does not define ("use TCP").
pub fn truncated(request: &XfrRequest, now: u64) -> Result<Vec<u8>, TsigError> {
    empty_answer(request, ResponseCode::NoError, true, now)
}

/// A one-message answer without records; TC is set before signing, so the MAC covers it.
fn empty_answer(
    request: &XfrRequest,
    rcode: ResponseCode,
    tc: bool,
    now: u64,
) -> Result<Vec<u8>, TsigError> {
    let mut msg = Vec::with_capacity(HEADER_LEN + request.question.len());
    msg.extend_from_slice(&header(request.id, rcode.low(), 1, 0));
    if tc {
        msg[2] |= 0x02;
    }
    msg.extend_from_slice(&request.question);
    match request.signer() {
        Some(mut s) => s.sign(&msg, now),
        None => Ok(msg),
    }
}

/// The answer to a request that failed with `err`, or `None` when it must be dropped.
/// TSIG failures get NOTAUTH with the TSIG error code (RFC 8945 section 5.2); BADTIME is
/// signed with the matching key from `keys`.
pub fn error_response(
    request: &[u8],
    err: &ServeError,
    keys: &[TsigKey],
    now: u64,
) -> Option<Vec<u8>> {
    let tsig_error = match err {
        ServeError::Tsig(e) => Some(e),
        _ => None,
    };
    // 0x84: QR=1, opcode QUERY, AA=1, as every transfer answer.
    failure_answer(request, 0x84, err.rcode()?, tsig_error, keys, now)
}

/// An answer without records to a request that failed: the request's ID, `flags`
/// as the third header octet, `rcode`, its question (zone) section echoed when it
/// has a plain one, and for a TSIG failure the TSIG RR RFC 8945 section 5.2 asks for.
pub(crate) fn failure_answer(
    request: &[u8],
    flags: u8,
    rcode: ResponseCode,
    tsig_error: Option<&TsigError>,
    keys: &[TsigKey],
    now: u64,
) -> Option<Vec<u8>> {
    let id = wire::read_header(request).ok()?.id.to_be_bytes();
    let question = raw_question(request).ok();
    let mut msg = Vec::with_capacity(HEADER_LEN + 300);
    let qd = u8::from(question.is_some());
    msg.extend_from_slice(&[
        id[0],
        id[1],
        flags,
        rcode.low() & 0x0f,
        0,
        qd,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    if let Some(q) = &question {
        msg.extend_from_slice(q);
    }
    match tsig_error {
        Some(e) => tsig::error_answer(request, &msg, e, keys, now),
        None => Some(msg),
    }
}

#[cfg(test)]
mod tests;
