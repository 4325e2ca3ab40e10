//! Staged decoding of client queries straight from the datagram, and the few
//! raw-wire edits the hot path needs.
//!
//! The listener hands every packet to [`parse_query`] before anything else.
//! It follows the order of style.md practice 5 (and hickory's server):
//!
//! ```text
//!  header ──▶ QR=1? drop ──▶ opcode? NOTIMP ──▶ question? FORMERR ──▶ EDNS? FORMERR/BADVERS
//! ```
//!
//! Only the header, the single question and an optional OPT record are read;
//! the packet cache then answers from stored wire bytes, so a cache hit never
//! builds a hickory `Message` (the allocation-heavy path, measured in
//! hickory's own issue tracker). Everything here is bounds-checked: a crafted
//! datagram yields a [`WireError`], never a panic.
//!
//! [`proxy`] reads the PROXY protocol v2 header a load balancer puts in front
//! of a datagram or connection, before any of this.

use std::fmt;

pub mod proxy;

/// Length of the fixed DNS header (RFC 1035 section 4.1.1).
pub const HEADER_LEN: usize = 12;
/// Longest name in wire form (RFC 1035 section 2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// RR type of the EDNS(0) OPT pseudo-record (RFC 6891).
pub const TYPE_OPT: u16 = 41;
/// RR type SOA.
pub const TYPE_SOA: u16 = 6;

/// DNS classes the query router tells apart (RFC 1035 section 3.2.4; NONE and
/// ANY are meta-classes, RFC 2136 section 2.4 and RFC 1035 section 3.2.5).
pub mod class {
    /// The Internet.
    pub const IN: u16 = 1;
    /// CHAOS: `version.bind` and friends.
    pub const CH: u16 = 3;
    /// Hesiod.
    pub const HS: u16 = 4;
    /// NONE (meta-class, UPDATE only).
    pub const NONE: u16 = 254;
    /// ANY (meta-class, QCLASS only).
    pub const ANY: u16 = 255;
}

/// DNS opcodes the resolver understands.
pub const OPCODE_QUERY: u8 = 0;
/// NOTIFY (RFC 1996); handled by the zone-transfer side.
pub const OPCODE_NOTIFY: u8 = 4;
/// UPDATE (RFC 2136); handled by the primary role, NOTIMP without one. Its zone
/// section has the layout of a question, so the staged decoding reads it as one.
pub const OPCODE_UPDATE: u8 = 5;

/// Response codes used on the raw path (RFC 1035, RFC 6895).
pub mod rcode {
    /// No error.
    pub const NOERROR: u8 = 0;
    /// Format error: the query could not be interpreted.
    pub const FORMERR: u8 = 1;
    /// Server failure.
    pub const SERVFAIL: u8 = 2;
    /// Name does not exist.
    pub const NXDOMAIN: u8 = 3;
    /// Not implemented (unknown opcode).
    pub const NOTIMP: u8 = 4;
    /// Refused by policy (ACL).
    pub const REFUSED: u8 = 5;
}

/// Why a packet could not be taken as a query.
///
/// Exhaustive on purpose: every caller maps each case to a wire outcome, and a
/// new case must be mapped everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than a header: nothing to answer (no ID to echo).
    TooShort,
    /// QR=1: a response sent to us. Dropped, never answered (reflection).
    IsResponse,
    /// An opcode we do not implement: answer NOTIMP.
    NotImplemented {
        /// The opcode found in the header.
        opcode: u8,
    },
    /// The question or EDNS is malformed: answer FORMERR.
    Malformed(Malformed),
    /// EDNS version above 0: answer BADVERS (RFC 6891 section 6.1.3).
    BadVersion,
}

/// The precise malformation, for logs and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// QDCOUNT is not 1.
    QuestionCount,
    /// The question name runs past the packet or past 255 octets.
    BadName,
    /// A compression pointer or reserved label type in the question.
    CompressedQuestion,
    /// The question ends before QTYPE/QCLASS.
    TruncatedQuestion,
    /// A record after the question cannot be walked.
    BadRecord,
    /// More than one OPT record, or an OPT not owned by the root.
    BadOpt,
    /// Bytes left over after the last counted record.
    TrailingData,
}

impl Malformed {
    /// A bounded label for metrics.
    pub fn as_label(&self) -> &'static str {
        match self {
            Malformed::QuestionCount => "question_count",
            Malformed::BadName => "bad_name",
            Malformed::CompressedQuestion => "compressed_question",
            Malformed::TruncatedQuestion => "truncated_question",
            Malformed::BadRecord => "bad_record",
            Malformed::BadOpt => "bad_opt",
            Malformed::TrailingData => "trailing_data",
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::TooShort => f.write_str("packet shorter than a DNS header"),
            WireError::IsResponse => f.write_str("packet is a response"),
            WireError::NotImplemented { opcode } => write!(f, "opcode {opcode} not implemented"),
            WireError::Malformed(m) => write!(f, "malformed query: {}", m.as_label()),
            WireError::BadVersion => f.write_str("unsupported EDNS version"),
        }
    }
}

impl std::error::Error for WireError {}

/// EDNS(0) parameters of a query's OPT record (RFC 6891).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// Requestor's UDP payload size (values under 512 are treated as 512).
    pub payload: u16,
    /// DNSSEC OK bit (RFC 3225).
    pub dnssec_ok: bool,
}

/// A query as read from the wire; borrows the packet.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// The whole packet.
    pub packet: &'a [u8],
    /// Message ID to echo.
    pub id: u16,
    /// Opcode from the header.
    pub opcode: u8,
    /// Recursion desired.
    pub rd: bool,
    /// Checking disabled (RFC 4035 section 3.2.2).
    pub cd: bool,
    /// Authentic data: the client understands AD (RFC 6840 section 5.7).
    pub ad: bool,
    /// End of the question name (offset of QTYPE).
    pub qname_end: usize,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// EDNS(0), when the query carried an OPT record.
    pub edns: Option<Edns>,
}

impl<'a> Query<'a> {
    /// The question name in wire form, in the client's letter case.
    pub fn qname_wire(&self) -> &'a [u8] {
        &self.packet[HEADER_LEN..self.qname_end]
    }

    /// The question section (name, type, class) in wire form.
    pub fn question_wire(&self) -> &'a [u8] {
        &self.packet[HEADER_LEN..self.qname_end + 4]
    }

    /// DNSSEC OK from EDNS (false without EDNS).
    pub fn dnssec_ok(&self) -> bool {
        self.edns.is_some_and(|e| e.dnssec_ok)
    }

    /// Largest response the client accepts over UDP, bounded by our own
    /// advertised buffer (RFC 6891 section 6.2.5; 512 octets without EDNS).
    pub fn udp_limit(&self, our_buffer: u16) -> usize {
        match self.edns {
            Some(e) => usize::from(e.payload.clamp(512, our_buffer.max(512))),
            None => 512,
        }
    }
}

/// Read a header, a single question and an optional OPT record.
///
/// Records in the answer and authority sections are walked (so counts are
/// checked) but otherwise ignored, as RFC 1035 expects of a query.
pub fn parse_query(packet: &[u8]) -> Result<Query<'_>, WireError> {
    if packet.len() < HEADER_LEN {
        return Err(WireError::TooShort);
    }
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let flags_hi = packet[2];
    let flags_lo = packet[3];
    if flags_hi & 0x80 != 0 {
        return Err(WireError::IsResponse);
    }
    let opcode = (flags_hi >> 3) & 0x0f;
    if opcode != OPCODE_QUERY && opcode != OPCODE_NOTIFY && opcode != OPCODE_UPDATE {
        return Err(WireError::NotImplemented { opcode });
    }
    let qdcount = read_u16(packet, 4);
    let ancount = read_u16(packet, 6);
    let nscount = read_u16(packet, 8);
    let arcount = read_u16(packet, 10);
    if qdcount != 1 {
        return Err(WireError::Malformed(Malformed::QuestionCount));
    }
    let qname_end = question_name_end(packet, HEADER_LEN)?;
    if qname_end + 4 > packet.len() {
        return Err(WireError::Malformed(Malformed::TruncatedQuestion));
    }
    let qtype = read_u16(packet, qname_end);
    let qclass = read_u16(packet, qname_end + 2);
    let mut pos = qname_end + 4;
    for _ in 0..(u32::from(ancount) + u32::from(nscount)) {
        pos = skip_record(packet, pos)
            .ok_or(WireError::Malformed(Malformed::BadRecord))?
            .end;
    }
    let mut edns = None;
    for _ in 0..arcount {
        let rr = skip_record(packet, pos).ok_or(WireError::Malformed(Malformed::BadRecord))?;
        if rr.rtype == TYPE_OPT {
            // RFC 6891 section 6.1.1: one OPT, owned by the root.
            if edns.is_some() || rr.name_start + 1 != rr.name_end || packet[rr.name_start] != 0 {
                return Err(WireError::Malformed(Malformed::BadOpt));
            }
            let ttl = rr.ttl_offset;
            let version = packet[ttl + 1];
            if version != 0 {
                return Err(WireError::BadVersion);
            }
            edns = Some(Edns {
                payload: rr.class,
                dnssec_ok: packet[ttl + 2] & 0x80 != 0,
            });
        }
        pos = rr.end;
    }
    if pos != packet.len() {
        return Err(WireError::Malformed(Malformed::TrailingData));
    }
    Ok(Query {
        packet,
        id,
        opcode,
        rd: flags_hi & 0x01 != 0,
        cd: flags_lo & 0x10 != 0,
        ad: flags_lo & 0x20 != 0,
        qname_end,
        qtype,
        qclass,
        edns,
    })
}

/// Where a record sits in a message, as found by [`skip_record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSpan {
    /// Offset of the owner name.
    pub name_start: usize,
    /// Offset just past the owner name (of TYPE).
    pub name_end: usize,
    /// RR type.
    pub rtype: u16,
    /// RR class (the UDP payload size for OPT).
    pub class: u16,
    /// Offset of the 32-bit TTL field.
    pub ttl_offset: usize,
    /// Offset of RDATA.
    pub rdata_start: usize,
    /// Offset just past the record.
    pub end: usize,
}

/// Why a name or a record could not be walked, and where the walk stopped.
///
/// [`skip_name`] and [`skip_record`] drop the reason; [`walk_name`] and
/// [`walk_record`] keep it for callers that report it (the zone-transfer side,
/// which names the offset in its errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkError {
    /// The packet ended inside a field.
    Truncated {
        /// Where more data was needed: the missing length octet of a label, the
        /// start of an incomplete pointer, the RDLENGTH field of a record whose fixed
        /// fields are cut short, or the end of a packet that RDATA runs past.
        offset: usize,
    },
    /// A name is over 255 octets or uses a reserved label type.
    BadName {
        /// The start of the over-long name, or the reserved label.
        offset: usize,
    },
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::Truncated { offset } => write!(f, "message truncated at offset {offset}"),
            WalkError::BadName { offset } => write!(f, "malformed domain name at offset {offset}"),
        }
    }
}

impl std::error::Error for WalkError {}

/// Walk one resource record starting at `pos`; `None` if it runs past the
/// packet. Owner names may be compressed. [`walk_record`] says why.
pub fn skip_record(packet: &[u8], pos: usize) -> Option<RecordSpan> {
    walk_record(packet, pos).ok()
}

/// Walk one resource record starting at `pos`, saying where it runs past the
/// packet. Owner names may be compressed.
pub fn walk_record(packet: &[u8], pos: usize) -> Result<RecordSpan, WalkError> {
    let name_end = walk_name(packet, pos)?;
    let rdata_start = name_end + 10;
    // TYPE, CLASS, TTL, RDLENGTH; RDLENGTH is the field that finds the end.
    let fixed = packet
        .get(name_end..rdata_start)
        .ok_or(WalkError::Truncated {
            offset: name_end + 8,
        })?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let past_end = WalkError::Truncated {
        offset: packet.len(),
    };
    let end = rdata_start.checked_add(rdlen).ok_or(past_end)?;
    if end > packet.len() {
        return Err(past_end);
    }
    Ok(RecordSpan {
        name_start: pos,
        name_end,
        rtype,
        class,
        ttl_offset: name_end + 4,
        rdata_start,
        end,
    })
}

/// Skip a possibly compressed name; returns the offset after it. Does not
/// follow pointers (it only needs the name's extent at this position).
/// [`walk_name`] says why a name cannot be skipped.
pub fn skip_name(packet: &[u8], pos: usize) -> Option<usize> {
    walk_name(packet, pos).ok()
}

/// Skip a possibly compressed name; returns the offset after it, or where and
/// why the name is broken. A pointer ends the name in place and is not followed.
pub fn walk_name(packet: &[u8], mut pos: usize) -> Result<usize, WalkError> {
    let start = pos;
    loop {
        let len = *packet
            .get(pos)
            .ok_or(WalkError::Truncated { offset: pos })?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(pos + 1),
            0x00 => {
                pos += 1 + usize::from(len);
                if pos - start > MAX_NAME_LEN {
                    return Err(WalkError::BadName { offset: start });
                }
            }
            0xc0 => {
                // Two-octet pointer; it must be complete.
                if pos + 2 > packet.len() {
                    return Err(WalkError::Truncated { offset: pos });
                }
                return Ok(pos + 2);
            }
            // 0x40 and 0x80 are reserved/obsolete label types (RFC 6891 section 5).
            _ => return Err(WalkError::BadName { offset: pos }),
        }
    }
}

/// The end of an uncompressed question name at `pos`, checking the 255
/// octet limit. Compression in the question of a query is refused.
fn question_name_end(packet: &[u8], mut pos: usize) -> Result<usize, WireError> {
    let start = pos;
    loop {
        let len = *packet
            .get(pos)
            .ok_or(WireError::Malformed(Malformed::BadName))?;
        if len & 0xc0 != 0 {
            return Err(WireError::Malformed(Malformed::CompressedQuestion));
        }
        pos += 1 + usize::from(len);
        if pos - start > MAX_NAME_LEN || pos > packet.len() {
            return Err(WireError::Malformed(Malformed::BadName));
        }
        if len == 0 {
            return Ok(pos);
        }
    }
}

/// Big-endian u16 at `pos`; callers have checked the bounds.
fn read_u16(packet: &[u8], pos: usize) -> u16 {
    u16::from_be_bytes([packet[pos], packet[pos + 1]])
}

/// Write the lower-cased wire name into `out` (ASCII case only, RFC 4343).
pub fn lowercase_name_into(name: &[u8], out: &mut Vec<u8>) {
    out.extend(name.iter().map(u8::to_ascii_lowercase));
}

/// Build a header-and-question answer with `rcode` for `packet`, echoing
/// the ID, opcode, RD and CD, with an OPT when the query had one.
///
/// Used for FORMERR, REFUSED, NOTIMP and SERVFAIL without touching hickory.
/// For a query whose question could not be read, the question is omitted
/// (QDCOUNT 0), as BIND and Unbound do.
pub fn error_response(
    packet: &[u8],
    query: Option<&Query<'_>>,
    rcode: u8,
    our_buffer: u16,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let (id_hi, id_lo, flags_hi, flags_lo) = match packet {
        [a, b, c, d, ..] => (*a, *b, *c, *d),
        _ => (0, 0, 0, 0),
    };
    out.extend_from_slice(&[id_hi, id_lo]);
    // QR=1, opcode and RD copied; RA=1; CD copied.
    out.push(0x80 | (flags_hi & 0x79));
    out.push(0x80 | (flags_lo & 0x10) | (rcode & 0x0f));
    match query {
        Some(q) => {
            out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(q.edns.is_some())]);
            out.extend_from_slice(q.question_wire());
            if let Some(e) = q.edns {
                push_opt(&mut out, our_buffer, e.dnssec_ok, 0);
            }
        }
        None => out.extend_from_slice(&[0; 8]),
    }
    out
}

/// BADVERS (extended rcode 16) answer to an EDNS version we do not speak.
pub fn badvers_response(packet: &[u8], our_buffer: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(&packet[..2]);
    out.push(0x80 | (packet[2] & 0x79));
    out.push(0x80);
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    // Extended RCODE 16 = upper 8 bits 1, lower 4 bits 0 in the header.
    push_opt(&mut out, our_buffer, false, 1);
    out
}

/// Append an OPT pseudo-record (root owner, no options).
pub fn push_opt(out: &mut Vec<u8>, payload: u16, dnssec_ok: bool, ext_rcode: u8) {
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&payload.to_be_bytes());
    out.push(ext_rcode);
    out.push(0);
    out.push(if dnssec_ok { 0x80 } else { 0 });
    out.push(0);
    out.extend_from_slice(&[0, 0]);
}

/// Turn a full response into the TC=1 form for a client whose UDP limit it
/// exceeds: header and question only (plus OPT when asked), so the client
/// retries over TCP (RFC 7766 section 5).
pub fn truncated_response(response: &[u8], query: &Query<'_>, our_buffer: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + query.question_wire().len() + 11);
    out.extend_from_slice(&response[..4]);
    out[2] |= 0x02;
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(query.edns.is_some())]);
    out.extend_from_slice(query.question_wire());
    if let Some(e) = query.edns {
        push_opt(&mut out, our_buffer, e.dnssec_ok, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` (dotted, no trailing dot) of type `qtype`.
    pub(crate) fn make_query(
        id: u16,
        name: &str,
        qtype: u16,
        edns: Option<(u16, bool)>,
    ) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
        for label in name.split('.').filter(|l| !l.is_empty()) {
            p.push(label.len() as u8);
            p.extend_from_slice(label.as_bytes());
        }
        p.push(0);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&1u16.to_be_bytes());
        if let Some((size, d)) = edns {
            push_opt(&mut p, size, d, 0);
        }
        p
    }

    #[test]
    fn a_plain_query_is_read_with_its_question_and_edns() {
        let p = make_query(0x1234, "WwW.Example.JP", 1, Some((4096, true)));
        let q = parse_query(&p).expect("valid query");
        assert_eq!(q.id, 0x1234);
        assert!(q.rd);
        assert!(!q.cd);
        assert_eq!(q.qtype, 1);
        assert_eq!(q.qclass, 1);
        assert_eq!(q.qname_wire(), b"\x03WwW\x07Example\x02JP\x00");
        assert_eq!(
            q.edns,
            Some(Edns {
                payload: 4096,
                dnssec_ok: true
            })
        );
        assert_eq!(q.udp_limit(1232), 1232);
    }

    #[test]
    fn the_udp_limit_is_512_without_edns_and_never_below_512() {
        let p = make_query(1, "a.jp", 1, None);
        assert_eq!(parse_query(&p).expect("valid").udp_limit(1232), 512);
        let p = make_query(1, "a.jp", 1, Some((100, false)));
        assert_eq!(parse_query(&p).expect("valid").udp_limit(1232), 512);
    }

    #[test]
    fn responses_are_recognised_so_they_can_be_dropped() {
        let mut p = make_query(1, "a.jp", 1, None);
        p[2] |= 0x80;
        assert_eq!(
            parse_query(&p).expect_err("an error"),
            WireError::IsResponse
        );
    }

    #[test]
    fn unknown_opcodes_are_not_implemented() {
        let mut p = make_query(1, "a.jp", 1, None);
        p[2] |= 2 << 3; // STATUS
        assert_eq!(
            parse_query(&p).expect_err("an error"),
            WireError::NotImplemented { opcode: 2 }
        );
    }

    #[test]
    fn short_packets_and_bad_counts_are_refused_with_a_reason() {
        assert_eq!(
            parse_query(&[0; 5]).expect_err("an error"),
            WireError::TooShort
        );
        let mut p = make_query(1, "a.jp", 1, None);
        p[5] = 2;
        assert_eq!(
            parse_query(&p).expect_err("an error"),
            WireError::Malformed(Malformed::QuestionCount)
        );
        let mut p = make_query(1, "a.jp", 1, None);
        p[11] = 1; // ARCOUNT 1 with no record
        assert_eq!(
            parse_query(&p).expect_err("an error"),
            WireError::Malformed(Malformed::BadRecord)
        );
        let mut p = make_query(1, "a.jp", 1, None);
        p.push(0);
        assert_eq!(
            parse_query(&p).expect_err("an error"),
            WireError::Malformed(Malformed::TrailingData)
        );
    }

    #[test]
    fn names_that_overrun_or_use_pointers_in_the_question_are_malformed() {
        let mut p = make_query(1, "a.jp", 1, None);
        p.truncate(14);
        assert_eq!(
            parse_query(&p).expect_err("an error"),
            WireError::Malformed(Malformed::BadName)
        );
        let mut p = make_query(1, "", 1, None);
        p[12] = 0xc0;
        p.insert(13, 12);
        assert_eq!(
            parse_query(&p).expect_err("an error"),
            WireError::Malformed(Malformed::CompressedQuestion)
        );
        let long = vec!["a".repeat(63); 5].join(".");
        let p = make_query(1, &long, 1, None);
        assert_eq!(
            parse_query(&p).expect_err("an error"),
            WireError::Malformed(Malformed::BadName)
        );
    }

    #[test]
    fn an_edns_version_above_zero_gets_badvers() {
        let mut p = make_query(1, "a.jp", 1, Some((1232, false)));
        let opt_ttl = p.len() - 6;
        p[opt_ttl + 1] = 1;
        assert_eq!(
            parse_query(&p).expect_err("an error"),
            WireError::BadVersion
        );
        let r = badvers_response(&p, 1232);
        assert_eq!(&r[..2], &p[..2]);
        assert_eq!(r[r.len() - 6], 1, "extended rcode upper bits carry BADVERS");
    }

    #[test]
    fn error_responses_echo_id_question_and_edns() {
        let p = make_query(0xbeef, "x.jp", 28, Some((1232, true)));
        let q = parse_query(&p).expect("valid");
        let r = error_response(&p, Some(&q), rcode::REFUSED, 1232);
        assert_eq!(&r[..2], &[0xbe, 0xef]);
        assert_eq!(r[2] & 0x80, 0x80, "QR set");
        assert_eq!(r[3] & 0x0f, rcode::REFUSED);
        assert_eq!(&r[12..12 + q.question_wire().len()], q.question_wire());
        let back = parse_query_lenient_for_test(&r);
        assert_eq!(back, (1, 0, 0, 1));
    }

    #[test]
    fn truncated_responses_carry_tc_and_only_the_question() {
        let p = make_query(7, "big.jp", 16, None);
        let q = parse_query(&p).expect("valid");
        let mut full = error_response(&p, Some(&q), rcode::NOERROR, 1232);
        full.extend_from_slice(&[0; 600]);
        let t = truncated_response(&full, &q, 1232);
        assert_eq!(t[2] & 0x02, 0x02);
        assert_eq!(t.len(), HEADER_LEN + q.question_wire().len());
    }

    /// `a.example. A` with one answer whose owner is a pointer to the question name.
    fn answer() -> Vec<u8> {
        let mut m = make_query(0x1234, "a.example", 1, None);
        m[7] = 1; // ANCOUNT
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        m
    }

    #[test]
    fn names_and_records_are_walked_to_their_ends() {
        let m = answer();
        assert_eq!(walk_name(&m, 12), Ok(23));
        assert_eq!(skip_name(&m, 27), Some(29), "a pointer ends the name");
        let rr = walk_record(&m, 27).expect("the answer");
        let span = RecordSpan {
            name_start: 27,
            name_end: 29,
            rtype: 1,
            class: 1,
            ttl_offset: 33,
            rdata_start: 39,
            end: 43,
        };
        assert_eq!(rr, span);
        assert_eq!(skip_record(&m, 27), Some(span));
    }

    #[test]
    fn a_broken_name_or_record_says_where_and_why() {
        let m = answer();
        let mut reserved = m.clone();
        reserved[14] = 0x47; // the second label has a reserved type
        let mut long = vec![0u8; 3]; // five 63-octet labels from offset 3
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        let truncated = |offset| Err(WalkError::Truncated { offset });
        let bad_name = |offset| Err(WalkError::BadName { offset });
        let names: [(&[u8], usize, Result<usize, WalkError>); 4] = [
            (&m[..20], 12, truncated(22)), // cut inside "example"
            (&m[..28], 27, truncated(27)), // half a pointer
            (&reserved, 12, bad_name(14)), // at the reserved label
            (&long, 3, bad_name(3)),       // over 255 octets: at the name's start
        ];
        for (packet, pos, expected) in names {
            assert_eq!(walk_name(packet, pos), expected, "name at {pos}");
            assert_eq!(skip_name(packet, pos), None);
        }
        // A record cut in TYPE..RDLENGTH is reported at RDLENGTH; one cut in its
        // RDATA at the end of the packet.
        for (len, offset) in [(35, 37), (41, 41)] {
            assert_eq!(
                walk_record(&m[..len], 27),
                Err(WalkError::Truncated { offset }),
                "cut at {len}"
            );
            assert_eq!(skip_record(&m[..len], 27), None);
        }
        assert_eq!(
            WalkError::Truncated { offset: 41 }.to_string(),
            "message truncated at offset 41"
        );
    }

    /// Section counts of a message.
    fn parse_query_lenient_for_test(r: &[u8]) -> (u16, u16, u16, u16) {
        (
            read_u16(r, 4),
            read_u16(r, 6),
            read_u16(r, 8),
            read_u16(r, 10),
        )
    }
}
