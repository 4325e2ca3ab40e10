//! SVCB and HTTPS parameters ([RFC 9460 section 2.1](https://www.rfc-editor.org/rfc/rfc9460#section-2.1)):
//! `key=value` pairs in text, `key u16, length u16, value` in wire format, sorted by key.
//!
//! Keys known here: `mandatory` (0), `alpn` (1), `no-default-alpn` (2), `port` (3),
//! `ipv4hint` (4), `ech` (5), `ipv6hint` (6), `dohpath` (7, RFC 9461) and `keyNNNNN` for
//! any other. Values may be quoted (`alpn="h2,h3"`). A comma inside one ALPN id
//! (RFC 9460 Appendix A.1 double escaping) is not supported; such records still load through
//! the generic `\#` form.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use data_encoding::BASE64;

use crate::error::{ErrorKind, Expected, Found, Located};
use crate::rdata::{parse_ipv4, parse_ipv6, unexpected, Cursor};
use crate::scanner::Token;
use crate::text;

/// Key names by number, for keys 0 to 7.
const KEY_NAMES: [&str; 8] = [
    "mandatory",
    "alpn",
    "no-default-alpn",
    "port",
    "ipv4hint",
    "ech",
    "ipv6hint",
    "dohpath",
];

/// The number of the key written as `name`.
fn key_number(name: &[u8]) -> Option<u16> {
    if let Some(n) = KEY_NAMES.iter().position(|k| k.as_bytes() == name) {
        return Some(n as u16);
    }
    let digits = name.strip_prefix(b"key")?;
    // Leading zeros are not allowed (RFC 9460 section 2.1: "key65535" style, no padding).
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    text::parse_uint(digits, u16::MAX.into()).map(|n| n as u16)
}

/// Appends the presentation name of key `key`.
fn key_name(key: u16, out: &mut String) {
    match KEY_NAMES.get(usize::from(key)) {
        Some(name) => out.push_str(name),
        None => {
            let _ = write!(out, "key{key}");
        }
    }
}

/// Reads the remaining tokens of `cursor` as SvcParams and appends their wire form.
pub(crate) fn encode_params(cursor: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<(), Located> {
    let mut params: Vec<(u16, Vec<u8>)> = Vec::new();
    while let Some((token, text)) = cursor.peek() {
        cursor.take(Expected::SvcParam)?;
        let bad = || unexpected(&token, text, Expected::SvcParam);
        if token.quoted {
            return Err(bad());
        }
        let (key_text, value_text, value_token): (&[u8], Option<&[u8]>, Token) =
            match text.iter().position(|&b| b == b'=') {
                None => (text, None, token),
                Some(eq) if eq + 1 == text.len() => {
                    // `key="quoted value"`: the scanner split the quoted part off.
                    match cursor.peek() {
                        Some((next, value)) if next.quoted => {
                            cursor.take(Expected::SvcParam)?;
                            (&text[..eq], Some(value), next)
                        }
                        _ => (&text[..eq], Some(&[][..]), token),
                    }
                }
                Some(eq) => (&text[..eq], Some(&text[eq + 1..]), token),
            };
        let key = key_number(key_text).ok_or_else(bad)?;
        let mut raw = Vec::new();
        if let Some(value) = value_text {
            text::unescape_into(value, &mut raw).map_err(|_| Located {
                line: value_token.line,
                column: value_token.column,
                kind: ErrorKind::BadEscape {
                    found: Found::token(value),
                },
            })?;
        }
        let value = encode_value(key, value_text.map(|_| raw.as_slice())).ok_or_else(bad)?;
        if params.iter().any(|(k, _)| *k == key) {
            return Err(bad());
        }
        params.push((key, value));
    }
    params.sort_unstable_by_key(|(key, _)| *key);
    for (key, value) in params {
        let len = u16::try_from(value.len()).map_err(|_| cursor.missing(Expected::SvcParam))?;
        out.extend_from_slice(&key.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&value);
    }
    Ok(())
}

/// The wire value of key `key` given its unescaped text `value` (`None`: no `=`).
fn encode_value(key: u16, value: Option<&[u8]>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let list = |v: &[u8]| {
        v.split(|&b| b == b',')
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>()
    };
    match key {
        0 => {
            for item in list(value?) {
                out.extend_from_slice(&key_number(&item)?.to_be_bytes());
            }
        }
        1 => {
            for id in list(value?) {
                if id.is_empty() || id.len() > 255 {
                    return None;
                }
                out.push(id.len() as u8);
                out.extend_from_slice(&id);
            }
        }
        2 => {
            if value.is_some_and(|v| !v.is_empty()) {
                return None;
            }
        }
        3 => {
            let port = text::parse_uint(value?, u16::MAX.into())? as u16;
            out.extend_from_slice(&port.to_be_bytes());
        }
        4 => {
            for addr in list(value?) {
                out.extend_from_slice(&parse_ipv4(&addr)?.octets());
            }
        }
        5 => out = BASE64.decode(value?).ok()?,
        6 => {
            for addr in list(value?) {
                out.extend_from_slice(&parse_ipv6(&addr)?.octets());
            }
        }
        _ => out.extend_from_slice(value.unwrap_or_default()),
    }
    Some(out)
}

/// Appends the presentation form of wire SvcParams, each preceded by a blank; `None` when
/// they are malformed or hold values this module cannot write back exactly.
pub(crate) fn render_params(wire: &[u8], out: &mut String) -> Option<()> {
    // The caller put a blank before this field; each parameter brings its own.
    if out.ends_with(' ') {
        out.pop();
    }
    let mut at = 0;
    let mut last: Option<u16> = None;
    while at < wire.len() {
        let key = u16::from_be_bytes(wire.get(at..at + 2)?.try_into().ok()?);
        let len = u16::from_be_bytes(wire.get(at + 2..at + 4)?.try_into().ok()?) as usize;
        let value = wire.get(at + 4..at + 4 + len)?;
        at += 4 + len;
        if last.is_some_and(|l| l >= key) {
            return None;
        }
        last = Some(key);
        out.push(' ');
        key_name(key, out);
        render_value(key, value, out)?;
    }
    Some(())
}

/// Appends `=value` for key `key` (nothing for a valueless key).
fn render_value(key: u16, value: &[u8], out: &mut String) -> Option<()> {
    match key {
        0 => {
            if value.is_empty() || value.len() % 2 != 0 {
                return None;
            }
            out.push('=');
            for (i, pair) in value.chunks(2).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                key_name(u16::from_be_bytes([pair[0], pair[1]]), out);
            }
        }
        1 => {
            out.push('=');
            let mut at = 0;
            let mut first = true;
            while at < value.len() {
                let len = value[at] as usize;
                let id = value.get(at + 1..at + 1 + len)?;
                at += 1 + len;
                // Bytes the scanner treats specially (`(`, `)`, `;`, `"`, `\`) or the
                // list separator would change the meaning unquoted: generic form instead.
                let plain = |b: &u8| {
                    b.is_ascii_graphic() && !matches!(b, b',' | b'\\' | b'"' | b';' | b'(' | b')')
                };
                if id.is_empty() || !id.iter().all(plain) {
                    return None;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(std::str::from_utf8(id).ok()?);
            }
            if first {
                return None;
            }
        }
        2 => {
            if !value.is_empty() {
                return None;
            }
        }
        3 => {
            let port: [u8; 2] = value.try_into().ok()?;
            let _ = write!(out, "={}", u16::from_be_bytes(port));
        }
        4 | 6 => {
            let size = if key == 4 { 4 } else { 16 };
            if value.is_empty() || value.len() % size != 0 {
                return None;
            }
            out.push('=');
            for (i, chunk) in value.chunks(size).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if size == 4 {
                    let _ = write!(
                        out,
                        "{}",
                        Ipv4Addr::new(chunk[0], chunk[1], chunk[2], chunk[3])
                    );
                } else {
                    let octets: [u8; 16] = chunk.try_into().ok()?;
                    let _ = write!(out, "{}", Ipv6Addr::from(octets));
                }
            }
        }
        5 => {
            // `ech=` with nothing after it would read the next token as its value.
            if value.is_empty() {
                return None;
            }
            out.push('=');
            BASE64.encode_append(value, out);
        }
        _ => {
            if !value.is_empty() {
                out.push('=');
                text::quoted_to_text(value, out);
            }
        }
    }
    Some(())
}
