//! The error of a zone transfer or SOA query, with a bounded metrics label for each
//! variant (style practice 4).

use std::io;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::DecodeError;
use hickory_proto::ProtoError;
use thiserror::Error;

use crate::serial::Serial;
use crate::tsig::TsigError;
use crate::wire::WireError;

/// Which configured bound a transfer crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKind {
    /// [`crate::Limits::max_bytes`].
    Bytes,
    /// [`crate::Limits::max_records`].
    Records,
    /// [`crate::Limits::max_duration`].
    Duration,
    /// [`crate::Limits::idle_timeout`]: no message within the idle time.
    Idle,
}

/// Why a zone transfer or SOA query failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum XfrError {
    /// A message is structurally broken (bad lengths, bad names, trailing bytes).
    #[error("malformed message: {0}")]
    Malformed(#[from] WireError),
    /// hickory could not decode a message that passed the structural checks.
    #[error("undecodable message: {0}")]
    Decode(#[source] DecodeError),
    /// hickory could not encode our request (a name too long for the wire, say).
    #[error("could not encode the request: {0}")]
    Encode(#[source] ProtoError),
    /// TSIG verification failed, locally or at the primary.
    #[error("TSIG: {0}")]
    Tsig(#[from] TsigError),
    /// The response ID does not match the request's.
    #[error("response ID {got} does not match request ID {expected}")]
    IdMismatch {
        /// Our request ID.
        expected: u16,
        /// The ID received.
        got: u16,
    },
    /// The message is not a response to a standard query (QR clear or another opcode).
    #[error("not a response to our query")]
    NotAResponse,
    /// The question section does not repeat our question.
    #[error("question section does not match the request")]
    QuestionMismatch,
    /// The TC bit was set; a transfer response cannot be truncated.
    #[error("response has the TC bit set")]
    TruncatedResponse,
    /// The primary answered with an error RCODE.
    #[error("primary answered {rcode}")]
    Rcode {
        /// The RCODE received.
        rcode: ResponseCode,
    },
    /// An IXFR request was answered NOTIMP, FORMERR or REFUSED: the primary does
    /// not do IXFR for us, and the caller should fall back to AXFR
    /// ([RFC 1995 section 2](https://www.rfc-editor.org/rfc/rfc1995#section-2)).
    #[error("IXFR not available ({rcode}); fall back to AXFR")]
    IxfrUnavailable {
        /// The RCODE received.
        rcode: ResponseCode,
    },
    /// The first answer record is not the zone's SOA
    /// ([RFC 5936 section 2.2](https://www.rfc-editor.org/rfc/rfc5936#section-2.2)).
    #[error("first record of the transfer is not the SOA of the zone")]
    FirstRecordNotSoa,
    /// A record lies outside the zone being transferred, or has another class.
    #[error("record {name} is outside the transferred zone")]
    OutOfZone {
        /// Owner of the offending record.
        name: Name,
    },
    /// An IXFR delta goes from a serial to one that is not newer.
    #[error("IXFR delta goes backwards from {from} to {to}")]
    SerialWentBackwards {
        /// The delta's start serial.
        from: Serial,
        /// The delta's end serial.
        to: Serial,
    },
    /// The SOA sequence of an IXFR response does not chain as RFC 1995 section 4 requires.
    #[error("IXFR SOA sequence broken: expected serial {expected}, found {found}")]
    BadIxfrSequence {
        /// The serial the sequence called for.
        expected: Serial,
        /// The serial found.
        found: Serial,
    },
    /// The closing SOA of an AXFR has another serial than the opening one.
    #[error("closing SOA serial {last} differs from opening serial {first}")]
    EndSoaMismatch {
        /// Serial of the first SOA.
        first: Serial,
        /// Serial of the closing SOA.
        last: Serial,
    },
    /// Records arrived after the transfer's final SOA.
    #[error("records after the end of the transfer")]
    TrailingRecords,
    /// The connection ended before the transfer's final SOA.
    #[error("transfer ended before its final SOA")]
    Incomplete,
    /// A configured bound was crossed.
    #[error("transfer exceeded its {0:?} limit")]
    Limit(LimitKind),
    /// A socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// No answer to an SOA query within the timeout.
    #[error("timed out")]
    Timeout,
}

impl XfrError {
    /// True if the caller should retry with AXFR after this IXFR failure.
    pub fn suggests_axfr_fallback(&self) -> bool {
        matches!(self, XfrError::IxfrUnavailable { .. })
    }

    /// A bounded label for metrics.
    pub fn as_metrics_label(&self) -> &'static str {
        match self {
            XfrError::Malformed(_) => "malformed",
            XfrError::Decode(_) => "undecodable",
            XfrError::Encode(_) => "encode",
            XfrError::Tsig(e) => e.as_metrics_label(),
            XfrError::IdMismatch { .. } => "id_mismatch",
            XfrError::NotAResponse => "not_a_response",
            XfrError::QuestionMismatch => "question_mismatch",
            XfrError::TruncatedResponse => "truncated_response",
            XfrError::Rcode { rcode } => match rcode {
                ResponseCode::Refused => "refused",
                ResponseCode::NotAuth => "notauth",
                ResponseCode::ServFail => "servfail",
                ResponseCode::NotImp => "notimp",
                ResponseCode::FormErr => "formerr",
                _ => "rcode_other",
            },
            XfrError::IxfrUnavailable { .. } => "ixfr_unavailable",
            XfrError::FirstRecordNotSoa => "first_not_soa",
            XfrError::OutOfZone { .. } => "out_of_zone",
            XfrError::SerialWentBackwards { .. } => "serial_backwards",
            XfrError::BadIxfrSequence { .. } => "bad_ixfr_sequence",
            XfrError::EndSoaMismatch { .. } => "end_soa_mismatch",
            XfrError::TrailingRecords => "trailing_records",
            XfrError::Incomplete => "incomplete",
            XfrError::Limit(LimitKind::Bytes) => "limit_bytes",
            XfrError::Limit(LimitKind::Records) => "limit_records",
            XfrError::Limit(LimitKind::Duration) => "limit_duration",
            XfrError::Limit(LimitKind::Idle) => "limit_idle",
            XfrError::Io(_) => "io",
            XfrError::Timeout => "timeout",
        }
    }
}
