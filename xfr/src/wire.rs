//! Raw-bytes helpers for the parts of a DNS message that must be seen exactly as they
//! travelled: the header counts, the record boundaries, and the TSIG RR at the end of
//! the additional section.
//!
//! ```text
//!  0      12                                         tsig_start          len
//!  +------+-------------------------------------------+-------------------+
//!  |header| question | answer | authority | additional...  | TSIG RR     |
//!  +------+-------------------------------------------+-------------------+
//!          \_______ covered by the MAC (ID = original ID, ARCOUNT - 1) __/
//! ```
//!
//! [RFC 8945 section 4.3.1](https://www.rfc-editor.org/rfc/rfc8945#section-4.3.1):
//! "the DNS message ... is the message as it appeared on the wire, without the TSIG RR
//! and with the ARCOUNT decremented and the ID set to the Original ID". A re-encoded
//! message may compress names differently, so everything here works on the received
//! bytes and never on a decoded-then-encoded copy.
//!
//! Every function is bounds-checked and returns [`WireError`] rather than panicking
//! (style practice 5): these run on bytes from the network. Names and records are
//! walked by `sekisho-wire` (`walk_name`, `walk_record`), the code the resolver's
//! query path uses too; its reasons and offsets become this crate's [`WireError`].

use sekisho_wire::{walk_name, walk_record, WalkError, MAX_NAME_LEN};
use thiserror::Error;

/// Length of the fixed DNS header.
pub(crate) use sekisho_wire::HEADER_LEN;

/// RR type code of TSIG ([RFC 8945 section 4.2](https://www.rfc-editor.org/rfc/rfc8945#section-4.2)).
pub(crate) const TYPE_TSIG: u16 = 250;

/// CLASS ANY, the class every TSIG RR carries.
pub(crate) const CLASS_ANY: u16 = 255;

/// Upper bound on compression pointers followed while reading one name; a loop of
/// pointers would otherwise never end.
const MAX_POINTER_HOPS: usize = 64;

/// A structural defect found while walking raw message bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WireError {
    /// The message ended in the middle of a field.
    #[error("message truncated at offset {offset}")]
    Truncated {
        /// Byte offset where more data was needed.
        offset: usize,
    },
    /// A domain name was malformed (bad label type, too long, pointer loop).
    #[error("malformed domain name at offset {offset}")]
    BadName {
        /// Byte offset of the offending name or label.
        offset: usize,
    },
    /// Bytes remain after the last record the header announces.
    #[error("{extra} trailing bytes after the last record")]
    TrailingBytes {
        /// How many bytes are left over.
        extra: usize,
    },
    /// A TSIG RR is malformed (wrong class or TTL, bad RDATA lengths).
    #[error("malformed TSIG record")]
    BadTsig,
}

/// Names and records are walked by `sekisho-wire`; its reasons map one to one.
impl From<WalkError> for WireError {
    fn from(err: WalkError) -> Self {
        match err {
            WalkError::Truncated { offset } => WireError::Truncated { offset },
            WalkError::BadName { offset } => WireError::BadName { offset },
        }
    }
}

/// The section counts and ID of a DNS header, read straight from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawHeader {
    /// Message ID.
    pub(crate) id: u16,
    /// QDCOUNT.
    pub(crate) qdcount: u16,
    /// ANCOUNT.
    pub(crate) ancount: u16,
    /// NSCOUNT.
    pub(crate) nscount: u16,
    /// ARCOUNT.
    pub(crate) arcount: u16,
}

/// Reads a big-endian u16 at `pos`.
pub(crate) fn read_u16(msg: &[u8], pos: usize) -> Result<u16, WireError> {
    match msg.get(pos..pos + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err(WireError::Truncated { offset: pos }),
    }
}

/// Reads a big-endian u32 at `pos`.
fn read_u32(msg: &[u8], pos: usize) -> Result<u32, WireError> {
    match msg.get(pos..pos + 4) {
        Some(b) => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(WireError::Truncated { offset: pos }),
    }
}

/// Reads the header fields this crate needs.
pub(crate) fn read_header(msg: &[u8]) -> Result<RawHeader, WireError> {
    if msg.len() < HEADER_LEN {
        return Err(WireError::Truncated { offset: msg.len() });
    }
    Ok(RawHeader {
        id: read_u16(msg, 0)?,
        qdcount: read_u16(msg, 4)?,
        ancount: read_u16(msg, 6)?,
        nscount: read_u16(msg, 8)?,
        arcount: read_u16(msg, 10)?,
    })
}

/// Reads the name at `pos`, following compression pointers, and returns it in
/// canonical form (uncompressed, ASCII lower-cased, RFC 4034 section 6.2) together
/// with the offset just past the name as it is stored at `pos`.
pub(crate) fn read_name_canonical(msg: &[u8], pos: usize) -> Result<(Vec<u8>, usize), WireError> {
    let mut out = Vec::with_capacity(32);
    let mut cursor = pos;
    let mut end_of_stored = None;
    let mut hops = 0;
    loop {
        let len = *msg
            .get(cursor)
            .ok_or(WireError::Truncated { offset: cursor })?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                out.push(0);
                let end = end_of_stored.unwrap_or(cursor + 1);
                return Ok((out, end));
            }
            0x00 => {
                let label = msg
                    .get(cursor + 1..cursor + 1 + usize::from(len))
                    .ok_or(WireError::Truncated { offset: cursor })?;
                out.push(len);
                out.extend(label.iter().map(u8::to_ascii_lowercase));
                if out.len() + 1 > MAX_NAME_LEN {
                    return Err(WireError::BadName { offset: pos });
                }
                cursor += 1 + usize::from(len);
            }
            0xC0 => {
                let ptr = usize::from(read_u16(msg, cursor)? & 0x3FFF);
                if end_of_stored.is_none() {
                    end_of_stored = Some(cursor + 2);
                }
                hops += 1;
                if hops > MAX_POINTER_HOPS {
                    return Err(WireError::BadName { offset: pos });
                }
                cursor = ptr;
            }
            _ => return Err(WireError::BadName { offset: cursor }),
        }
    }
}

/// Where the records of a message lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The header as read.
    pub(crate) header: RawHeader,
    /// Offset of the last record of the message (the last of the additional section
    /// when there is one), if the message has any record.
    pub(crate) last_record: Option<usize>,
}

/// Walks the whole message, checking that every record the header announces is
/// present and that nothing follows the last one.
pub(crate) fn layout(msg: &[u8]) -> Result<Layout, WireError> {
    let header = read_header(msg)?;
    let mut pos = HEADER_LEN;
    for _ in 0..header.qdcount {
        pos = walk_name(msg, pos)? + 4;
        if pos > msg.len() {
            return Err(WireError::Truncated { offset: msg.len() });
        }
    }
    let total = u32::from(header.ancount) + u32::from(header.nscount) + u32::from(header.arcount);
    let mut last_record = None;
    for _ in 0..total {
        last_record = Some(pos);
        pos = walk_record(msg, pos)?.end;
    }
    if pos != msg.len() {
        return Err(WireError::TrailingBytes {
            extra: msg.len() - pos,
        });
    }
    Ok(Layout {
        header,
        last_record,
    })
}

/// A TSIG RR as found at the end of a message, with its fields decoded.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RawTsig {
    /// Offset where the TSIG RR starts; the message without it is `msg[..start]`.
    pub(crate) start: usize,
    /// Key name in canonical wire form.
    pub(crate) key_name: Vec<u8>,
    /// Algorithm name in canonical wire form.
    pub(crate) algorithm: Vec<u8>,
    /// Time Signed, seconds since the epoch (48 bits).
    pub(crate) time_signed: u64,
    /// Fudge, seconds.
    pub(crate) fudge: u16,
    /// The MAC.
    pub(crate) mac: Vec<u8>,
    /// Original ID.
    pub(crate) original_id: u16,
    /// Extended RCODE covering TSIG processing.
    pub(crate) error: u16,
    /// Other Data (server time on BADTIME).
    pub(crate) other: Vec<u8>,
}

impl std::fmt::Debug for RawTsig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawTsig")
            .field("start", &self.start)
            .field("time_signed", &self.time_signed)
            .field("fudge", &self.fudge)
            .field("mac_len", &self.mac.len())
            .field("original_id", &self.original_id)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// Finds the TSIG RR of a message, which RFC 8945 section 5.1 requires to be the
/// last record of the additional section, and decodes it.
///
/// Returns `Ok(None)` for a message whose last additional record is not a TSIG.
/// Also checks the whole message layout, so a `Some` means the message is
/// structurally complete.
pub(crate) fn find_tsig(msg: &[u8]) -> Result<Option<RawTsig>, WireError> {
    let layout = layout(msg)?;
    if layout.header.arcount == 0 {
        return Ok(None);
    }
    let Some(start) = layout.last_record else {
        return Ok(None);
    };
    let (key_name, after_name) = read_name_canonical(msg, start)?;
    if read_u16(msg, after_name)? != TYPE_TSIG {
        return Ok(None);
    }
    // "CLASS: This MUST be ANY. TTL: This MUST be 0." (RFC 8945 section 4.2)
    if read_u16(msg, after_name + 2)? != CLASS_ANY || read_u32(msg, after_name + 4)? != 0 {
        return Err(WireError::BadTsig);
    }
    let rdlen = usize::from(read_u16(msg, after_name + 8)?);
    let rdata_start = after_name + 10;
    let rdata_end = rdata_start + rdlen;
    let rdata = msg.get(..rdata_end).ok_or(WireError::BadTsig)?;

    // The algorithm name is never compressed (RFC 8945 section 4.2 and RFC 3597
    // section 4), so reading it against the RDATA-bounded slice rejects pointers that
    // leave the RDATA.
    let (algorithm, mut p) =
        read_name_canonical(rdata, rdata_start).map_err(|_| WireError::BadTsig)?;
    let time_hi = u64::from(read_u16(rdata, p).map_err(|_| WireError::BadTsig)?);
    let time_lo = u64::from(read_u32(rdata, p + 2).map_err(|_| WireError::BadTsig)?);
    let time_signed = (time_hi << 32) | time_lo;
    let fudge = read_u16(rdata, p + 6).map_err(|_| WireError::BadTsig)?;
    let mac_len = usize::from(read_u16(rdata, p + 8).map_err(|_| WireError::BadTsig)?);
    p += 10;
    let mac = rdata
        .get(p..p + mac_len)
        .ok_or(WireError::BadTsig)?
        .to_vec();
    p += mac_len;
    let original_id = read_u16(rdata, p).map_err(|_| WireError::BadTsig)?;
    let error = read_u16(rdata, p + 2).map_err(|_| WireError::BadTsig)?;
    let other_len = usize::from(read_u16(rdata, p + 4).map_err(|_| WireError::BadTsig)?);
    p += 6;
    let other = rdata
        .get(p..p + other_len)
        .ok_or(WireError::BadTsig)?
        .to_vec();
    p += other_len;
    if p != rdata_end {
        return Err(WireError::BadTsig);
    }
    Ok(Some(RawTsig {
        start,
        key_name,
        algorithm,
        time_signed,
        fudge,
        mac,
        original_id,
        error,
        other,
    }))
}

/// Returns `msg[..tsig_start]` with ARCOUNT decremented and the ID replaced by
/// `original_id`: the message as the signer saw it before adding the TSIG RR.
pub(crate) fn strip_tsig(msg: &[u8], tsig: &RawTsig) -> Result<Vec<u8>, WireError> {
    let mut out = msg
        .get(..tsig.start)
        .ok_or(WireError::Truncated { offset: tsig.start })?
        .to_vec();
    let arcount = read_u16(&out, 10)?;
    let arcount = arcount.checked_sub(1).ok_or(WireError::BadTsig)?;
    out[0..2].copy_from_slice(&tsig.original_id.to_be_bytes());
    out[10..12].copy_from_slice(&arcount.to_be_bytes());
    Ok(out)
}

/// Appends `name` to `out` in canonical wire form (uncompressed, lower case).
pub(crate) fn push_canonical_name(out: &mut Vec<u8>, name: &hickory_proto::rr::Name) {
    for label in name.iter() {
        // Labels from a valid `Name` are at most 63 octets, so the cast is lossless.
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `a.example. A` with one answer whose owner is a pointer.
    fn sample() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x00, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(b"\x01a\x07example\x00\x00\x01\x00\x01");
        m.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        m
    }

    #[test]
    fn layout_accepts_a_complete_message() {
        let l = layout(&sample()).expect("valid");
        assert_eq!(l.header.ancount, 1);
        assert_eq!(l.last_record, Some(27));
    }

    #[test]
    fn layout_rejects_trailing_bytes() {
        let mut m = sample();
        m.push(0);
        assert_eq!(layout(&m), Err(WireError::TrailingBytes { extra: 1 }));
    }

    #[test]
    fn layout_rejects_a_message_cut_inside_a_record() {
        let m = sample();
        assert!(matches!(
            layout(&m[..m.len() - 2]),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn canonical_name_reading_follows_pointers_and_lowercases() {
        let mut m = sample();
        m[13] = b'A';
        let (name, end) = read_name_canonical(&m, 27).expect("valid");
        assert_eq!(name, b"\x01a\x07example\x00");
        assert_eq!(end, 29);
    }

    #[test]
    fn pointer_loops_are_rejected() {
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[0xC0, 12]);
        assert!(matches!(
            read_name_canonical(&m, 12),
            Err(WireError::BadName { .. })
        ));
    }

    #[test]
    fn a_message_without_additional_records_has_no_tsig() {
        assert_eq!(find_tsig(&sample()), Ok(None));
    }
}
