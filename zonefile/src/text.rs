//! Presentation-format primitives: names, numbers, TTLs, character strings, times, types.
//!
//! Each parser works on the raw bytes of one token (escapes still in place) and writes wire
//! format into a caller's buffer, so nothing here allocates per token. The matching
//! formatters, used by the writer, turn wire format back into text the parsers accept.
//!
//! - Names: [RFC 1035 section 5.1](https://www.rfc-editor.org/rfc/rfc1035#section-5.1)
//!   (`@`, relative names, `\X` and `\DDD`), limits from section 2.3.4.
//! - TTL units (`1h30m`, `1w`): BIND's extension, accepted by every major server.
//! - Times: [RFC 4034 section 3.2](https://www.rfc-editor.org/rfc/rfc4034#section-3.2).

use std::fmt::Write as _;
use std::str::FromStr;

use hickory_proto::rr::{DNSClass, Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::error::NameError;
use crate::words::{equal_to, first_flagged, word_at};

/// Longest name in wire form (RFC 1035 section 2.3.4).
const MAX_NAME_LEN: usize = 255;

/// Longest label (RFC 1035 section 2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// Decodes the escape starting at `text[i]` (a backslash), returning the byte and the index
/// after the escape.
///
/// RFC 1035 section 5.1: "`\X` where X is any character other than a digit (0-9), is used to
/// quote that character so that its special meaning does not apply"; "`\DDD` where each D is
/// a digit is the octet corresponding to the decimal number described by DDD".
fn unescape(text: &[u8], i: usize) -> Option<(u8, usize)> {
    let next = *text.get(i + 1)?;
    if next.is_ascii_digit() {
        let digits = text.get(i + 1..i + 4)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let value = digits
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        let byte = u8::try_from(value).ok()?;
        Some((byte, i + 4))
    } else {
        Some((next, i + 2))
    }
}

/// Appends the wire form of the name written as `text` to `out`.
///
/// `@` stands for the origin; a name not ending in an unescaped dot is relative and gets the
/// origin (`origin_wire`, itself in wire form) appended.
pub(crate) fn name_to_wire(
    text: &[u8],
    origin_wire: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<(), NameError> {
    if text == b"@" {
        out.extend_from_slice(origin_wire.ok_or(NameError::NoOrigin)?);
        return Ok(());
    }
    if text == b"." {
        out.push(0);
        return Ok(());
    }
    if text.is_empty() {
        return Err(NameError::EmptyLabel);
    }
    if memchr::memchr(b'\\', text).is_none() {
        return plain_name_to_wire(text, origin_wire, out);
    }
    escaped_name_to_wire(text, origin_wire, out)
}

/// [`name_to_wire`] of a name written without escapes (nearly every name of a big zone):
/// the text is copied once behind a placeholder octet, and each label's length octet then
/// takes the place of the dot before it (or of the placeholder), as wire form is the text
/// shifted by one. This was about a third of the instructions of the label-by-label copy.
/// Errors are those of [`escaped_name_to_wire`], found in the same order.
fn plain_name_to_wire(
    text: &[u8],
    origin_wire: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<(), NameError> {
    let start = out.len();
    out.push(0);
    out.extend_from_slice(text);
    let end = out.len();
    let mut label_at = start;
    loop {
        // No escapes: the first dot or the end.
        let dot = dot_or_escape(out, label_at + 1);
        let len = dot - label_at - 1;
        if len > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong);
        }
        if dot == end {
            // The last label of a relative name.
            out[label_at] = len as u8;
            out.extend_from_slice(origin_wire.ok_or(NameError::NoOrigin)?);
            break;
        }
        if len == 0 {
            return Err(NameError::EmptyLabel);
        }
        out[label_at] = len as u8;
        if dot + 1 == end {
            // A trailing dot: the name is absolute and the dot becomes the root label.
            out[dot] = 0;
            break;
        }
        label_at = dot;
    }
    if out.len() - start > MAX_NAME_LEN {
        return Err(NameError::NameTooLong);
    }
    Ok(())
}

/// [`name_to_wire`] label by label, decoding escapes (`text` not `@`, `.` or empty).
fn escaped_name_to_wire(
    text: &[u8],
    origin_wire: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<(), NameError> {
    let start = out.len();
    let mut label_at = out.len();
    out.push(0);
    let mut i = 0;
    let mut absolute = false;
    while i < text.len() {
        // Copy the run of plain bytes up to the next dot or backslash in one go.
        let run = dot_or_escape(text, i) - i;
        if out.len() - label_at - 1 + run > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong);
        }
        out.extend_from_slice(&text[i..i + run]);
        i += run;
        match text.get(i) {
            None => break,
            Some(b'.') => {
                let len = out.len() - label_at - 1;
                if len == 0 {
                    return Err(NameError::EmptyLabel);
                }
                out[label_at] = len as u8;
                i += 1;
                if i == text.len() {
                    absolute = true;
                    break;
                }
                label_at = out.len();
                out.push(0);
            }
            Some(_) => {
                let (byte, next) = unescape(text, i).ok_or(NameError::BadEscape)?;
                if out.len() - label_at > MAX_LABEL_LEN {
                    return Err(NameError::LabelTooLong);
                }
                out.push(byte);
                i = next;
            }
        }
    }
    if !absolute {
        let len = out.len() - label_at - 1;
        out[label_at] = len as u8;
        out.extend_from_slice(origin_wire.ok_or(NameError::NoOrigin)?);
    } else {
        out.push(0);
    }
    if out.len() - start > MAX_NAME_LEN {
        return Err(NameError::NameTooLong);
    }
    Ok(())
}

/// The offset of the first `.` or `\\` in `text` at or after `from` (`text.len()` if none),
/// eight bytes at a time where `text` has them (a byte loop was a sixth of parsing a big
/// policy zone).
#[inline]
fn dot_or_escape(text: &[u8], from: usize) -> usize {
    let mut i = from;
    while i + 8 <= text.len() {
        let w = word_at(text, i);
        let hit = equal_to(w, b'.') | equal_to(w, b'\\');
        if hit != 0 {
            return i + first_flagged(hit);
        }
        i += 8;
    }
    text[i..]
        .iter()
        .position(|&b| b == b'.' || b == b'\\')
        .map_or(text.len(), |k| i + k)
}

/// Builds a hickory [`Name`] from a wire-form name made by [`name_to_wire`] (all of `wire`:
/// bytes after the root label are refused too).
///
/// hickory's wire decoder fills one `Name` in place, which is several times faster than
/// appending labels one by one (each append moves the whole `Name`).
pub(crate) fn name_from_wire(wire: &[u8]) -> Result<Name, NameError> {
    let mut decoder = BinDecoder::new(wire);
    let name = Name::read(&mut decoder).map_err(|_| NameError::NameTooLong)?;
    if decoder.index() != wire.len() {
        return Err(NameError::NameTooLong);
    }
    Ok(name)
}

/// Appends the wire form of `name` (uncompressed, case kept) to `out`.
pub(crate) fn name_into_wire(name: &Name, out: &mut Vec<u8>) {
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
}

/// Whether `byte` must be escaped inside a name label in presentation format.
fn needs_escape_in_name(byte: u8) -> bool {
    matches!(byte, b'.' | b'\\' | b'"' | b';' | b'(' | b')' | b'@' | b'$')
}

/// Appends `label` to `out` in presentation format, escaping what the parser would misread.
fn push_label(out: &mut String, label: &[u8]) {
    for &byte in label {
        if needs_escape_in_name(byte) {
            out.push('\\');
            out.push(byte as char);
        } else if byte.is_ascii_graphic() {
            out.push(byte as char);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\{byte:03}");
        }
    }
}

/// Appends the absolute presentation form of the wire-form name at `wire[*at..]` to `out`
/// and moves `at` past it. Returns `None` on malformed or compressed wire data.
pub(crate) fn wire_name_to_text(wire: &[u8], at: &mut usize, out: &mut String) -> Option<()> {
    let mut i = *at;
    let mut any = false;
    loop {
        let len = *wire.get(i)? as usize;
        if len == 0 {
            break;
        }
        if len > MAX_LABEL_LEN {
            return None;
        }
        push_label(out, wire.get(i + 1..i + 1 + len)?);
        out.push('.');
        any = true;
        i += 1 + len;
    }
    if !any {
        out.push('.');
    }
    *at = i + 1;
    Some(())
}

/// Appends the absolute presentation form of `name` to `out`.
pub(crate) fn name_to_text(name: &Name, out: &mut String) {
    if name.is_root() {
        out.push('.');
        return;
    }
    for label in name.iter() {
        push_label(out, label);
        out.push('.');
    }
}

/// Parses a decimal unsigned integer of at most `max`.
pub(crate) fn parse_uint(text: &[u8], max: u64) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in text {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    (value <= max).then_some(value)
}

/// Parses a TTL: plain seconds, or numbers with units `w d h m s` in any case (`1h30m`).
pub(crate) fn parse_ttl(text: &[u8]) -> Option<u32> {
    if text.is_empty() || !text[0].is_ascii_digit() {
        return None;
    }
    if let Some(value) = parse_uint(text, u64::from(u32::MAX)) {
        return u32::try_from(value).ok();
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for &byte in text {
        if byte.is_ascii_digit() {
            let n = number
                .unwrap_or(0)
                .checked_mul(10)?
                .checked_add(u64::from(byte - b'0'))?;
            number = Some(n);
            continue;
        }
        let unit: u64 = match byte.to_ascii_lowercase() {
            b'w' => 604_800,
            b'd' => 86_400,
            b'h' => 3_600,
            b'm' => 60,
            b's' => 1,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    // A trailing bare number counts as seconds, as BIND reads `1h30`.
    total = total.checked_add(number.unwrap_or(0))?;
    u32::try_from(total).ok()
}

/// Appends a character string (escapes decoded) to `out` with its length byte
/// (RFC 1035 section 3.3). Fails on a bad escape or more than 255 bytes.
pub(crate) fn char_string_to_wire(text: &[u8], out: &mut Vec<u8>) -> Result<(), CharStringError> {
    let len_at = out.len();
    out.push(0);
    unescape_into(text, out)?;
    let len = out.len() - len_at - 1;
    if len > 255 {
        return Err(CharStringError::TooLong);
    }
    out[len_at] = len as u8;
    Ok(())
}

/// Appends `text` with escapes decoded to `out`.
pub(crate) fn unescape_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), CharStringError> {
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\\' {
            let (byte, next) = unescape(text, i).ok_or(CharStringError::BadEscape)?;
            out.push(byte);
            i = next;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    Ok(())
}

/// Why a character string could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CharStringError {
    /// A backslash not followed by a character or three digits up to 255.
    BadEscape,
    /// More than 255 bytes.
    TooLong,
}

/// Appends `bytes` to `out` as a quoted string, escaping `"`, `\` and non-printable bytes.
pub(crate) fn quoted_to_text(bytes: &[u8], out: &mut String) {
    out.push('"');
    for &byte in bytes {
        match byte {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(byte as char);
            }
            b' ' => out.push(' '),
            _ if byte.is_ascii_graphic() => out.push(byte as char),
            _ => {
                let _ = write!(out, "\\{byte:03}");
            }
        }
    }
    out.push('"');
}

/// Parses a record type: a mnemonic in any case, or `TYPEnnn` (RFC 3597 section 5).
pub(crate) fn parse_type(text: &[u8]) -> Option<RecordType> {
    // Fast path for the types that fill RPZ and ordinary zones.
    match text {
        b"A" | b"a" => return Some(RecordType::A),
        b"CNAME" | b"cname" => return Some(RecordType::CNAME),
        b"AAAA" | b"aaaa" => return Some(RecordType::AAAA),
        b"NS" | b"ns" => return Some(RecordType::NS),
        b"TXT" | b"txt" => return Some(RecordType::TXT),
        b"PTR" | b"ptr" => return Some(RecordType::PTR),
        b"MX" | b"mx" => return Some(RecordType::MX),
        _ => {}
    }
    if text.len() > 16 || !text.first()?.is_ascii_alphabetic() {
        return None;
    }
    let mut upper = [0u8; 16];
    let upper = &mut upper[..text.len()];
    upper.copy_from_slice(text);
    upper.make_ascii_uppercase();
    if let Some(code) = upper.strip_prefix(b"TYPE") {
        if !code.is_empty() {
            return parse_uint(code, u64::from(u16::MAX)).map(|c| RecordType::from(c as u16));
        }
    }
    let text = std::str::from_utf8(upper).ok()?;
    let rtype = RecordType::from_str(text).ok()?;
    // hickory parses names it cannot otherwise represent into `Unknown`; keep only real ones.
    (!matches!(rtype, RecordType::Unknown(_))).then_some(rtype)
}

/// The presentation form of `rtype`: its mnemonic when this parser reads it back, else
/// `TYPEnnn`.
pub(crate) fn type_to_text(rtype: RecordType, out: &mut String) {
    let start = out.len();
    let _ = write!(out, "{rtype}");
    if parse_type(&out.as_bytes()[start..]) != Some(rtype) {
        out.truncate(start);
        let _ = write!(out, "TYPE{}", u16::from(rtype));
    }
}

/// Parses a class: `IN`, `CH`, `HS`, `CS` in any case, or `CLASSnnn` (RFC 3597 section 5).
pub(crate) fn parse_class(text: &[u8]) -> Option<DNSClass> {
    match text {
        b"IN" | b"in" => return Some(DNSClass::IN),
        _ if text.len() < 2 || text.len() > 10 => return None,
        _ => {}
    }
    let mut upper = [0u8; 10];
    let upper = &mut upper[..text.len()];
    upper.copy_from_slice(text);
    upper.make_ascii_uppercase();
    match &*upper {
        b"IN" => Some(DNSClass::IN),
        b"CH" | b"CHAOS" => Some(DNSClass::CH),
        b"HS" | b"HESIOD" => Some(DNSClass::HS),
        b"CS" => Some(DNSClass::from(2)),
        _ => {
            let code = upper.strip_prefix(b"CLASS")?;
            parse_uint(code, u64::from(u16::MAX)).map(|c| DNSClass::from(c as u16))
        }
    }
}

/// The presentation form of `class`: `IN`, `CH`, `HS`, else `CLASSnnn`.
pub(crate) fn class_to_text(class: DNSClass, out: &mut String) {
    match class {
        DNSClass::IN => out.push_str("IN"),
        DNSClass::CH => out.push_str("CH"),
        DNSClass::HS => out.push_str("HS"),
        other => {
            let _ = write!(out, "CLASS{}", u16::from(other));
        }
    }
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of `days` since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Parses an RRSIG time: `YYYYMMDDHHmmSS` (UTC), or seconds as a plain integer.
///
/// RFC 4034 section 3.2: the wire value is seconds since 1970 modulo 2^32.
pub(crate) fn parse_time(text: &[u8]) -> Option<u32> {
    if text.len() != 14 {
        return parse_uint(text, u64::from(u32::MAX)).map(|v| v as u32);
    }
    let field = |range: std::ops::Range<usize>| parse_uint(&text[range], 9999).map(|v| v as i64);
    let (year, month, day) = (field(0..4)?, field(4..6)?, field(6..8)?);
    let (hour, minute, second) = (field(8..10)?, field(10..12)?, field(12..14)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(secs.rem_euclid(1 << 32) as u32)
}

/// Appends `secs` as `YYYYMMDDHHmmSS`.
pub(crate) fn time_to_text(secs: u32, out: &mut String) {
    let secs = i64::from(secs);
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let _ = write!(
        out,
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_search_finds_the_first_dot_or_escape_at_every_offset() {
        for len in 0..24usize {
            for at in 0..=len {
                for b in 0u8..=255 {
                    let mut text = vec![b'x'; len];
                    if at < len {
                        text[at] = b;
                    }
                    for from in 0..=len {
                        let want = text[from..]
                            .iter()
                            .position(|&c| c == b'.' || c == b'\\')
                            .map_or(len, |k| from + k);
                        assert_eq!(dot_or_escape(&text, from), want, "{text:?} from {from}");
                    }
                }
            }
        }
    }

    /// Wire form of `text` relative to `origin` (itself given as text, absolute).
    fn wire(text: &str, origin: Option<&str>) -> Result<Vec<u8>, NameError> {
        let origin = origin.map(|o| {
            let mut w = Vec::new();
            name_to_wire(o.as_bytes(), None, &mut w).expect("origin");
            w
        });
        let mut out = Vec::new();
        name_to_wire(text.as_bytes(), origin.as_deref(), &mut out).map(|()| out)
    }

    #[test]
    fn names_without_escapes_encode_as_the_escape_decoding_path_encodes_them() {
        // Every name of up to 6 characters over a small alphabet with dots, plus long labels
        // and long names around the limits, with and without an origin: the plain path must
        // give the same bytes or the same error as the label-by-label path.
        let origin = b"\x07example\x00".as_slice();
        let mut texts: Vec<Vec<u8>> = Vec::new();
        let alphabet = [b'a', b'B', b'.', b'-'];
        let mut frontier: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..6 {
            let mut next = Vec::new();
            for t in &frontier {
                for &c in &alphabet {
                    let mut u = t.clone();
                    u.push(c);
                    next.push(u);
                }
            }
            texts.extend(next.iter().cloned());
            frontier = next;
        }
        for len in [62usize, 63, 64, 65] {
            for tail in ["", ".", ".x", ".x.", "..x"] {
                texts.push(format!("{}{tail}", "a".repeat(len)).into_bytes());
                texts.push(format!("x.{}{tail}", "a".repeat(len)).into_bytes());
            }
        }
        for n in 60..70usize {
            let long = vec!["abc"; n].join(".");
            texts.push(long.clone().into_bytes());
            texts.push(format!("{long}.").into_bytes());
        }
        for text in texts
            .iter()
            .filter(|t| !t.is_empty() && *t != b"." && *t != b"@")
        {
            for o in [Some(origin), None] {
                let (mut a, mut b) = (vec![9u8], vec![9u8]);
                let plain = plain_name_to_wire(text, o, &mut a).map(|()| a);
                let general = escaped_name_to_wire(text, o, &mut b).map(|()| b);
                assert_eq!(
                    plain,
                    general,
                    "{:?} origin {o:?}",
                    String::from_utf8_lossy(text)
                );
            }
        }
    }

    #[test]
    fn absolute_names_become_length_prefixed_labels() {
        assert_eq!(
            wire("www.example.", None),
            Ok(b"\x03www\x07example\x00".to_vec())
        );
    }

    #[test]
    fn relative_names_get_the_origin_appended() {
        assert_eq!(
            wire("www", Some("example.")),
            Ok(b"\x03www\x07example\x00".to_vec())
        );
    }

    #[test]
    fn at_sign_is_the_origin() {
        assert_eq!(wire("@", Some("example.")), Ok(b"\x07example\x00".to_vec()));
    }

    #[test]
    fn a_single_dot_is_the_root() {
        assert_eq!(wire(".", None), Ok(vec![0]));
    }

    #[test]
    fn relative_names_without_origin_are_refused() {
        assert_eq!(wire("www", None), Err(NameError::NoOrigin));
        assert_eq!(wire("@", None), Err(NameError::NoOrigin));
    }

    #[test]
    fn escaped_dots_stay_inside_a_label() {
        assert_eq!(wire(r"a\.b.", None), Ok(b"\x03a.b\x00".to_vec()));
    }

    #[test]
    fn decimal_escapes_give_any_byte() {
        assert_eq!(wire(r"\000\255x.", None), Ok(b"\x03\x00\xffx\x00".to_vec()));
    }

    #[test]
    fn decimal_escapes_above_255_are_refused() {
        assert_eq!(wire(r"\256.", None), Err(NameError::BadEscape));
        assert_eq!(wire(r"\12.", None), Err(NameError::BadEscape));
        assert_eq!(wire("a\\", None), Err(NameError::BadEscape));
    }

    #[test]
    fn empty_labels_are_refused() {
        assert_eq!(wire("a..b.", None), Err(NameError::EmptyLabel));
        assert_eq!(wire(".a.", None), Err(NameError::EmptyLabel));
    }

    #[test]
    fn labels_over_63_bytes_are_refused() {
        let ok = format!("{}.", "a".repeat(63));
        assert!(wire(&ok, None).is_ok());
        let long = format!("{}.", "a".repeat(64));
        assert_eq!(wire(&long, None), Err(NameError::LabelTooLong));
    }

    #[test]
    fn names_over_255_bytes_are_refused() {
        let label = "a".repeat(63);
        let ok = format!("{label}.{label}.{label}.{}.", "a".repeat(61));
        assert!(wire(&ok, None).is_ok());
        let long = format!("{label}.{label}.{label}.{}.", "a".repeat(62));
        assert_eq!(wire(&long, None), Err(NameError::NameTooLong));
    }

    #[test]
    fn wire_names_become_hickory_names() {
        let name = name_from_wire(b"\x03www\x07example\x00").expect("name");
        assert_eq!(name, Name::from_ascii("www.example.").expect("name"));
        assert!(name.is_fqdn());
    }

    #[test]
    fn special_bytes_are_escaped_when_written() {
        let mut out = String::new();
        let mut at = 0;
        wire_name_to_text(b"\x04a.b\x20\x02@;\x00", &mut at, &mut out).expect("name");
        assert_eq!(out, r"a\.b\032.\@\;.");
        assert_eq!(at, 9);
        let again = wire(&out, None).expect("reparse");
        assert_eq!(again, b"\x04a.b\x20\x02@;\x00");
    }

    #[test]
    fn ttls_accept_plain_seconds_and_units() {
        assert_eq!(parse_ttl(b"3600"), Some(3600));
        assert_eq!(parse_ttl(b"1h30m"), Some(5400));
        assert_eq!(parse_ttl(b"1W"), Some(604_800));
        assert_eq!(parse_ttl(b"2d1s"), Some(172_801));
        assert_eq!(parse_ttl(b"4294967295"), Some(u32::MAX));
    }

    #[test]
    fn ttls_refuse_garbage_and_overflow() {
        assert_eq!(parse_ttl(b"4294967296"), None);
        assert_eq!(parse_ttl(b"1x"), None);
        assert_eq!(parse_ttl(b"h"), None);
        assert_eq!(parse_ttl(b"1hh"), None);
        assert_eq!(parse_ttl(b"100000w"), None);
    }

    #[test]
    fn char_strings_decode_escapes_and_carry_their_length() {
        let mut out = Vec::new();
        char_string_to_wire(br#"a\"b\065"#, &mut out).expect("string");
        assert_eq!(out, b"\x04a\"bA");
    }

    #[test]
    fn char_strings_over_255_bytes_are_refused() {
        let mut out = Vec::new();
        let long = vec![b'x'; 256];
        assert_eq!(
            char_string_to_wire(&long, &mut out),
            Err(CharStringError::TooLong)
        );
    }

    #[test]
    fn types_parse_by_mnemonic_in_any_case_or_number() {
        assert_eq!(parse_type(b"cname"), Some(RecordType::CNAME));
        assert_eq!(parse_type(b"Https"), Some(RecordType::HTTPS));
        assert_eq!(parse_type(b"TYPE65534"), Some(RecordType::Unknown(65534)));
        assert_eq!(parse_type(b"type1"), Some(RecordType::A));
        assert_eq!(parse_type(b"NOTATYPE"), None);
        assert_eq!(parse_type(b"300"), None);
    }

    #[test]
    fn classes_parse_by_mnemonic_or_number() {
        assert_eq!(parse_class(b"in"), Some(DNSClass::IN));
        assert_eq!(parse_class(b"CH"), Some(DNSClass::CH));
        assert_eq!(parse_class(b"CLASS1"), Some(DNSClass::IN));
        assert_eq!(parse_class(b"CLASS4000"), Some(DNSClass::Unknown(4000)));
        assert_eq!(parse_class(b"A"), None);
    }

    #[test]
    fn rrsig_times_convert_both_ways() {
        assert_eq!(parse_time(b"19700101000000"), Some(0));
        assert_eq!(parse_time(b"20240229123456"), Some(1_709_210_096));
        let mut out = String::new();
        time_to_text(1_709_210_096, &mut out);
        assert_eq!(out, "20240229123456");
        assert_eq!(parse_time(b"1709210096"), Some(1_709_210_096));
        assert_eq!(parse_time(b"20241301000000"), None);
    }
}
