//! RDATA in both directions: presentation text ⇄ wire bytes, one schema per record type.
//!
//! ```text
//!   tokens ──encode()──▶ wire RDATA ──RData::read (hickory)──▶ RData
//!   RData ──emit (hickory)──▶ wire RDATA ──render()──▶ text
//! ```
//!
//! Each type is described once, as a list of [`Field`]s (e.g. MX is `[U16, Name]`), and that
//! list drives both the parser and the writer, so they cannot drift apart. Going through wire
//! format lets hickory build whatever struct it uses for the type, with whatever features the
//! workspace enables: a DS read here is the same value a DS off the wire is. Types without a
//! schema still parse in the RFC 3597 generic form `\# len hex`
//! ([RFC 3597 section 5](https://www.rfc-editor.org/rfc/rfc3597#section-5)), and the writer
//! falls back to that form for anything it cannot render.
//!
//! Type references: RFC 1035 §3.3 (SOA, NS, CNAME, PTR, MX, TXT, HINFO), RFC 3596 (AAAA),
//! RFC 6672 (DNAME), RFC 2782 (SRV), RFC 3403 (NAPTR), RFC 8659 (CAA), RFC 4255 (SSHFP),
//! RFC 6698 (TLSA), RFC 9460 (SVCB, HTTPS), RFC 4034 (DS, DNSKEY, RRSIG, NSEC),
//! RFC 5155 (NSEC3, NSEC3PARAM), RFC 7929 (OPENPGPKEY), RFC 8976 (ZONEMD).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use data_encoding::{BASE32_DNSSEC, BASE64, HEXLOWER_PERMISSIVE, HEXUPPER};
use hickory_proto::rr::{RData, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};

use crate::error::{ErrorKind, Expected, Found, Located};
use crate::scanner::{Scanner, Token};
use crate::text::{self, CharStringError};

/// One field of an RDATA schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// Four bytes, dotted quad.
    Ipv4,
    /// Sixteen bytes, RFC 4291 text.
    Ipv6,
    /// An uncompressed domain name.
    Name,
    /// One byte, decimal.
    U8,
    /// Two bytes, decimal.
    U16,
    /// Four bytes, decimal.
    U32,
    /// Four bytes, TTL syntax (units allowed).
    Ttl,
    /// Four bytes, RRSIG time.
    Time,
    /// Two bytes, a record type mnemonic.
    Type,
    /// One character string.
    CharString,
    /// One or more character strings to the end.
    CharStrings,
    /// Hex to the end (tokens joined).
    HexRest,
    /// Base64 to the end (tokens joined).
    Base64Rest,
    /// An NSEC type bitmap to the end (RFC 4034 section 4.1.2).
    TypeBitmap,
    /// Length-prefixed hex or `-` (RFC 5155 section 3.3).
    Salt,
    /// Length-prefixed base32hex (RFC 5155 section 3.3).
    Base32Hash,
    /// Length-prefixed CAA tag.
    CaaTag,
    /// One string to the end, without length prefix (CAA value).
    CaaValue,
    /// SvcParams to the end (RFC 9460 section 2.1).
    SvcParams,
}

use Field::*;

/// The schema of `rtype`, or `None` when only the generic form is supported.
pub(crate) fn schema(rtype: RecordType) -> Option<&'static [Field]> {
    Some(match u16::from(rtype) {
        1 => &[Ipv4],
        28 => &[Ipv6],
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => &[Name],
        6 => &[Name, Name, U32, Ttl, Ttl, Ttl, Ttl],
        // HINFO
        13 => &[CharString, CharString],
        // MINFO, RP
        14 | 17 => &[Name, Name],
        // MX, AFSDB, RT, KX
        15 | 18 | 21 | 36 => &[U16, Name],
        // TXT, SPF
        16 | 99 => &[CharStrings],
        33 => &[U16, U16, U16, Name],
        35 => &[U16, U16, CharString, CharString, CharString, Name],
        // SSHFP
        44 => &[U8, U8, HexRest],
        // TLSA, SMIMEA
        52 | 53 => &[U8, U8, U8, HexRest],
        // DS, CDS, DLV
        43 | 59 | 32769 => &[U16, U8, U8, HexRest],
        // DNSKEY, CDNSKEY, KEY
        48 | 60 | 25 => &[U16, U8, U8, Base64Rest],
        // RRSIG, SIG
        46 | 24 => &[Type, U8, U8, Ttl, Time, Time, U16, Name, Base64Rest],
        47 => &[Name, TypeBitmap],
        50 => &[U8, U8, U16, Salt, Base32Hash, TypeBitmap],
        51 => &[U8, U8, U16, Salt],
        61 => &[Base64Rest],
        // CSYNC
        62 => &[U32, U16, TypeBitmap],
        // ZONEMD
        63 => &[U32, U8, U8, HexRest],
        // SVCB, HTTPS
        64 | 65 => &[U16, Name, SvcParams],
        257 => &[U8, CaaTag, CaaValue],
        _ => return None,
    })
}

/// Whether `rtype` may appear in a zone file at all (meta-types and pseudo-records may not).
pub(crate) fn allowed_in_zone(rtype: RecordType) -> bool {
    // 0 is reserved; OPT (41), TKEY (249), TSIG (250), IXFR, AXFR, MAILB, MAILA, ANY (251-255)
    // exist only in messages.
    !matches!(u16::from(rtype), 0 | 41 | 249..=255)
}

/// Reads tokens of one entry in order and reports errors at their positions.
pub(crate) struct Cursor<'a> {
    /// The scanner holding the entry's text.
    scanner: &'a Scanner,
    /// The tokens left to read.
    tokens: &'a [Token],
    /// Index of the next token.
    next: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor over `tokens` (a tail of `scanner`'s tokens).
    pub(crate) fn new(scanner: &'a Scanner, tokens: &'a [Token]) -> Self {
        Self {
            scanner,
            tokens,
            next: 0,
        }
    }

    /// Whether all tokens are read.
    pub(crate) fn is_empty(&self) -> bool {
        self.next >= self.tokens.len()
    }

    /// The next token without taking it.
    pub(crate) fn peek(&self) -> Option<(Token, &'a [u8])> {
        let token = *self.tokens.get(self.next)?;
        Some((token, self.scanner.text(&token)))
    }

    /// Takes the next token, or reports that `expected` is missing.
    pub(crate) fn take(&mut self, expected: Expected) -> Result<(Token, &'a [u8]), Located> {
        match self.peek() {
            Some(found) => {
                self.next += 1;
                Ok(found)
            }
            None => Err(self.missing(expected)),
        }
    }

    /// An error saying `expected` is missing at the end of the entry.
    pub(crate) fn missing(&self, expected: Expected) -> Located {
        let (line, column) = match self.tokens.last().or_else(|| self.scanner.tokens().last()) {
            Some(last) => {
                let len = last.end - last.start + if last.quoted { 2 } else { 0 };
                (last.line, last.column + len)
            }
            None => (0, 0),
        };
        Located {
            line,
            column,
            kind: ErrorKind::Expected {
                expected,
                found: Found::EndOfEntry,
            },
        }
    }

    /// Fails unless all tokens are read.
    pub(crate) fn finish(&self) -> Result<(), Located> {
        match self.peek() {
            None => Ok(()),
            Some((token, text)) => Err(unexpected(&token, text, Expected::EndOfEntry)),
        }
    }
}

/// An error saying `token` is not `expected`.
pub(crate) fn unexpected(token: &Token, text: &[u8], expected: Expected) -> Located {
    Located {
        line: token.line,
        column: token.column,
        kind: ErrorKind::Expected {
            expected,
            found: Found::token(text),
        },
    }
}

/// Context for encoding: the origin in wire form, for relative names.
pub(crate) struct EncodeContext<'a> {
    /// The current origin in wire form, if any.
    pub(crate) origin_wire: Option<&'a [u8]>,
}

/// Appends the wire form of the name in `token` to `out`.
pub(crate) fn encode_name(
    token: &Token,
    text: &[u8],
    ctx: &EncodeContext<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Located> {
    text::name_to_wire(text, ctx.origin_wire, out).map_err(|reason| Located {
        line: token.line,
        column: token.column,
        kind: ErrorKind::BadName {
            found: Found::token(text),
            reason,
        },
    })
}

/// Appends the wire RDATA of `rtype`, read from `cursor` by `fields`, to `out`.
pub(crate) fn encode(
    fields: &[Field],
    cursor: &mut Cursor<'_>,
    ctx: &EncodeContext<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Located> {
    for &field in fields {
        encode_field(field, cursor, ctx, out)?;
    }
    cursor.finish()
}

/// Parses an unsigned integer token of at most `max`, or reports `expected`.
fn uint(cursor: &mut Cursor<'_>, max: u64, expected: Expected) -> Result<u64, Located> {
    let (token, text) = cursor.take(expected)?;
    text::parse_uint(text, max).ok_or_else(|| unexpected(&token, text, expected))
}

/// Appends the wire form of one field read from `cursor`.
fn encode_field(
    field: Field,
    cursor: &mut Cursor<'_>,
    ctx: &EncodeContext<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Located> {
    match field {
        Ipv4 => {
            let (token, text) = cursor.take(Expected::Ipv4)?;
            let addr = parse_ipv4(text).ok_or_else(|| unexpected(&token, text, Expected::Ipv4))?;
            out.extend_from_slice(&addr.octets());
        }
        Ipv6 => {
            let (token, text) = cursor.take(Expected::Ipv6)?;
            let addr = parse_ipv6(text).ok_or_else(|| unexpected(&token, text, Expected::Ipv6))?;
            out.extend_from_slice(&addr.octets());
        }
        Name => {
            let (token, text) = cursor.take(Expected::Name)?;
            encode_name(&token, text, ctx, out)?;
        }
        U8 => out.push(uint(cursor, u8::MAX.into(), Expected::U8)? as u8),
        U16 => out.extend_from_slice(
            &(uint(cursor, u16::MAX.into(), Expected::U16)? as u16).to_be_bytes(),
        ),
        U32 => out.extend_from_slice(
            &(uint(cursor, u32::MAX.into(), Expected::U32)? as u32).to_be_bytes(),
        ),
        Ttl => {
            let (token, text) = cursor.take(Expected::Ttl)?;
            let ttl =
                text::parse_ttl(text).ok_or_else(|| unexpected(&token, text, Expected::Ttl))?;
            out.extend_from_slice(&ttl.to_be_bytes());
        }
        Time => {
            let (token, text) = cursor.take(Expected::Time)?;
            let time =
                text::parse_time(text).ok_or_else(|| unexpected(&token, text, Expected::Time))?;
            out.extend_from_slice(&time.to_be_bytes());
        }
        Type => {
            let (token, text) = cursor.take(Expected::Type)?;
            let rtype =
                text::parse_type(text).ok_or_else(|| unexpected(&token, text, Expected::Type))?;
            out.extend_from_slice(&u16::from(rtype).to_be_bytes());
        }
        CharString => encode_char_string(cursor, out)?,
        CharStrings => {
            encode_char_string(cursor, out)?;
            while !cursor.is_empty() {
                encode_char_string(cursor, out)?;
            }
        }
        HexRest => {
            let (token, _) = cursor.peek().ok_or_else(|| cursor.missing(Expected::Hex))?;
            let joined = join_rest(cursor);
            decode_into(&HEXLOWER_PERMISSIVE, &joined, out)
                .ok_or_else(|| unexpected(&token, &joined, Expected::Hex))?;
        }
        Base64Rest => {
            let (token, _) = cursor
                .peek()
                .ok_or_else(|| cursor.missing(Expected::Base64))?;
            let joined = join_rest(cursor);
            decode_into(&BASE64, &joined, out)
                .ok_or_else(|| unexpected(&token, &joined, Expected::Base64))?;
        }
        TypeBitmap => encode_type_bitmap(cursor, out)?,
        Salt => {
            let (token, text) = cursor.take(Expected::Salt)?;
            let len_at = out.len();
            out.push(0);
            if text != b"-" {
                decode_into(&HEXLOWER_PERMISSIVE, text, out)
                    .filter(|_| out.len() - len_at - 1 <= 255)
                    .ok_or_else(|| unexpected(&token, text, Expected::Salt))?;
            }
            out[len_at] = (out.len() - len_at - 1) as u8;
        }
        Base32Hash => {
            let (token, text) = cursor.take(Expected::Base32Hex)?;
            let len_at = out.len();
            out.push(0);
            decode_into(&BASE32_DNSSEC, text, out)
                .filter(|_| (1..=255).contains(&(out.len() - len_at - 1)))
                .ok_or_else(|| unexpected(&token, text, Expected::Base32Hex))?;
            out[len_at] = (out.len() - len_at - 1) as u8;
        }
        CaaTag => {
            let (token, text) = cursor.take(Expected::CaaTag)?;
            let valid = !text.is_empty()
                && text.len() <= 255
                && !token.quoted
                && text.iter().all(u8::is_ascii_alphanumeric);
            if !valid {
                return Err(unexpected(&token, text, Expected::CaaTag));
            }
            out.push(text.len() as u8);
            out.extend_from_slice(text);
        }
        CaaValue => {
            let (token, text) = cursor.take(Expected::CharString)?;
            text::unescape_into(text, out).map_err(|_| Located {
                line: token.line,
                column: token.column,
                kind: ErrorKind::BadEscape {
                    found: Found::token(text),
                },
            })?;
        }
        SvcParams => crate::svcb::encode_params(cursor, out)?,
    }
    Ok(())
}

/// Parses a dotted-quad IPv4 address.
pub(crate) fn parse_ipv4(text: &[u8]) -> Option<Ipv4Addr> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Parses an IPv6 address.
pub(crate) fn parse_ipv6(text: &[u8]) -> Option<Ipv6Addr> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Appends one character string read from `cursor`.
fn encode_char_string(cursor: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<(), Located> {
    let (token, text) = cursor.take(Expected::CharString)?;
    text::char_string_to_wire(text, out).map_err(|err| Located {
        line: token.line,
        column: token.column,
        kind: match err {
            CharStringError::BadEscape => ErrorKind::BadEscape {
                found: Found::token(text),
            },
            CharStringError::TooLong => ErrorKind::Expected {
                expected: Expected::CharString,
                found: Found::token(text),
            },
        },
    })
}

/// Joins the remaining tokens (blanks dropped), as base64 and hex may be split anywhere.
fn join_rest(cursor: &mut Cursor<'_>) -> Vec<u8> {
    let mut joined = Vec::new();
    while let Some((_, text)) = cursor.peek() {
        joined.extend_from_slice(text);
        cursor.next += 1;
    }
    joined
}

/// Decodes `input` with `encoding` and appends the bytes to `out`; `None` if invalid.
fn decode_into(encoding: &data_encoding::Encoding, input: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let len = encoding.decode_len(input.len()).ok()?;
    let start = out.len();
    out.resize(start + len, 0);
    match encoding.decode_mut(input, &mut out[start..]) {
        Ok(written) => {
            out.truncate(start + written);
            Some(())
        }
        Err(_) => {
            out.truncate(start);
            None
        }
    }
}

/// Appends an NSEC-style type bitmap of the remaining type tokens (RFC 4034 section 4.1.2).
fn encode_type_bitmap(cursor: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<(), Located> {
    let mut types: Vec<u16> = Vec::new();
    while let Some((token, text)) = cursor.peek() {
        let rtype =
            text::parse_type(text).ok_or_else(|| unexpected(&token, text, Expected::Type))?;
        types.push(rtype.into());
        cursor.next += 1;
    }
    types.sort_unstable();
    types.dedup();
    let mut i = 0;
    while i < types.len() {
        let window = (types[i] >> 8) as u8;
        let mut bits = [0u8; 32];
        let mut used = 0;
        while i < types.len() && (types[i] >> 8) as u8 == window {
            let low = (types[i] & 0xff) as usize;
            bits[low / 8] |= 0x80 >> (low % 8);
            used = low / 8 + 1;
            i += 1;
        }
        out.push(window);
        out.push(used as u8);
        out.extend_from_slice(&bits[..used]);
    }
    Ok(())
}

/// Turns wire RDATA into hickory's [`RData`] for `rtype`.
pub(crate) fn decode(rtype: RecordType, wire: &[u8]) -> Result<RData, ErrorKind> {
    let len = u16::try_from(wire.len()).map_err(|_| ErrorKind::RdataTooLong)?;
    let mut decoder = BinDecoder::new(wire);
    RData::read(&mut decoder, rtype, Restrict::new(len))
        .map_err(|source| ErrorKind::InvalidRdata { rtype, source })
}

/// Appends the presentation form of wire RDATA per `fields` to `out`; `None` when the data
/// does not fit the schema (the writer then uses the generic form).
pub(crate) fn render(fields: &[Field], wire: &[u8], out: &mut String) -> Option<()> {
    let mut at = 0;
    for (n, &field) in fields.iter().enumerate() {
        if n > 0 {
            out.push(' ');
        }
        render_field(field, wire, &mut at, out)?;
    }
    (at == wire.len()).then_some(())
}

/// Takes `n` bytes at `*at`.
fn take<'w>(wire: &'w [u8], at: &mut usize, n: usize) -> Option<&'w [u8]> {
    let bytes = wire.get(*at..at.checked_add(n)?)?;
    *at += n;
    Some(bytes)
}

/// Takes a big-endian u16 at `*at`.
fn take_u16(wire: &[u8], at: &mut usize) -> Option<u16> {
    take(wire, at, 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

/// Takes a big-endian u32 at `*at`.
fn take_u32(wire: &[u8], at: &mut usize) -> Option<u32> {
    take(wire, at, 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Takes a length-prefixed byte string at `*at`.
fn take_prefixed<'w>(wire: &'w [u8], at: &mut usize) -> Option<&'w [u8]> {
    let len = *take(wire, at, 1)?.first()? as usize;
    take(wire, at, len)
}

/// Appends one field's presentation form.
fn render_field(field: Field, wire: &[u8], at: &mut usize, out: &mut String) -> Option<()> {
    match field {
        Ipv4 => {
            let b = take(wire, at, 4)?;
            let _ = write!(out, "{}", Ipv4Addr::new(b[0], b[1], b[2], b[3]));
        }
        Ipv6 => {
            let b: [u8; 16] = take(wire, at, 16)?.try_into().ok()?;
            let _ = write!(out, "{}", Ipv6Addr::from(b));
        }
        Name => text::wire_name_to_text(wire, at, out)?,
        U8 => {
            let _ = write!(out, "{}", take(wire, at, 1)?[0]);
        }
        U16 => {
            let _ = write!(out, "{}", take_u16(wire, at)?);
        }
        U32 | Ttl => {
            let _ = write!(out, "{}", take_u32(wire, at)?);
        }
        Time => text::time_to_text(take_u32(wire, at)?, out),
        Type => text::type_to_text(RecordType::from(take_u16(wire, at)?), out),
        CharString => text::quoted_to_text(take_prefixed(wire, at)?, out),
        CharStrings => {
            text::quoted_to_text(take_prefixed(wire, at)?, out);
            while *at < wire.len() {
                out.push(' ');
                text::quoted_to_text(take_prefixed(wire, at)?, out);
            }
        }
        HexRest | Base64Rest => {
            let rest = take(wire, at, wire.len() - *at)?;
            if rest.is_empty() {
                return None;
            }
            let encoding = if field == HexRest { &HEXUPPER } else { &BASE64 };
            encoding.encode_append(rest, out);
        }
        TypeBitmap => render_type_bitmap(take(wire, at, wire.len() - *at)?, out)?,
        Salt => {
            let salt = take_prefixed(wire, at)?;
            if salt.is_empty() {
                out.push('-');
            } else {
                HEXUPPER.encode_append(salt, out);
            }
        }
        Base32Hash => {
            let hash = take_prefixed(wire, at)?;
            if hash.is_empty() {
                return None;
            }
            BASE32_DNSSEC.encode_append(hash, out);
        }
        CaaTag => {
            let tag = take_prefixed(wire, at)?;
            if tag.is_empty() || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return None;
            }
            out.push_str(std::str::from_utf8(tag).ok()?);
        }
        CaaValue => text::quoted_to_text(take(wire, at, wire.len() - *at)?, out),
        SvcParams => crate::svcb::render_params(take(wire, at, wire.len() - *at)?, out)?,
    }
    Some(())
}

/// Appends the types of an NSEC-style bitmap, each preceded by a blank.
///
/// The leading blank matters: an empty bitmap renders as nothing, and the field before it
/// already ended, so the writer's own separator would leave a trailing blank otherwise.
fn render_type_bitmap(bitmap: &[u8], out: &mut String) -> Option<()> {
    // `render` put a blank before this field; take it back, each type brings its own.
    if out.ends_with(' ') {
        out.pop();
    }
    let mut at = 0;
    let mut last_window: Option<u8> = None;
    while at < bitmap.len() {
        let window = *take(bitmap, &mut at, 1)?.first()?;
        if last_window.is_some_and(|last| last >= window) {
            return None;
        }
        last_window = Some(window);
        let bits = take_prefixed(bitmap, &mut at)?;
        if bits.is_empty() || bits.len() > 32 {
            return None;
        }
        for (i, byte) in bits.iter().enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    let code = u16::from(window) << 8 | (i * 8 + bit) as u16;
                    out.push(' ');
                    text::type_to_text(RecordType::from(code), out);
                }
            }
        }
    }
    Some(())
}

/// Appends the RFC 3597 generic form `\# len hex` of `wire`.
pub(crate) fn render_generic(wire: &[u8], out: &mut String) {
    let _ = write!(out, "\\# {}", wire.len());
    if !wire.is_empty() {
        out.push(' ');
        HEXUPPER.encode_append(wire, out);
    }
}

/// Reads the RFC 3597 generic form after its `\#` token: length, then hex to the end.
pub(crate) fn encode_generic(cursor: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<(), Located> {
    let (len_token, len_text) = cursor.take(Expected::GenericLength)?;
    let declared = text::parse_uint(len_text, u16::MAX.into())
        .ok_or_else(|| unexpected(&len_token, len_text, Expected::GenericLength))?
        as u16;
    let start = out.len();
    if let Some((token, _)) = cursor.peek() {
        let joined = join_rest(cursor);
        decode_into(&HEXLOWER_PERMISSIVE, &joined, out)
            .ok_or_else(|| unexpected(&token, &joined, Expected::Hex))?;
    }
    let actual = out.len() - start;
    if actual != usize::from(declared) {
        return Err(Located {
            line: len_token.line,
            column: len_token.column,
            kind: ErrorKind::GenericLengthMismatch { declared, actual },
        });
    }
    Ok(())
}
