//! BIND's `$GENERATE` directive: a template expanded over a numeric range.
//!
//! ```text
//! $GENERATE start-stop[/step] lhs [ttl] [class] type rhs
//! $GENERATE 1-127 $.2.0.192.in-addr.arpa. PTR host-${0,3,d}.example.
//! ```
//!
//! In `lhs` and `rhs`, `$` is the current value; `${offset,width,base}` adds `offset`, pads to
//! `width` and prints in `base`: `d` decimal, `o` octal, `x`/`X` hex, `n`/`N` nibbles
//! (hex digits least significant first, dot-separated, as in `ip6.arpa`; `width` counts
//! nibbles). `$$` and `\$` give a literal `$`. Not an RFC: see the BIND 9 Administrator
//! Reference Manual, "BIND Primary File Extension: the $GENERATE Directive".
//!
//! Expansion is lazy: the reader asks for one line at a time, so a range of four billion
//! costs no memory, and `max_records` bounds it like any other record.

use std::io::Write as _;

use crate::error::{ErrorKind, Expected, Found, Located};
use crate::rdata::{unexpected, Cursor};
use crate::scanner::Token;

/// A parsed `$GENERATE` directive and how far its expansion has got.
#[derive(Debug, Clone)]
pub(crate) struct Generate {
    /// Next value to expand.
    next: u64,
    /// Last value (inclusive).
    stop: u64,
    /// Step between values.
    step: u64,
    /// Owner template.
    lhs: Vec<u8>,
    /// TTL, class and type, as written.
    middle: Vec<u8>,
    /// RDATA template.
    rhs: Vec<u8>,
    /// Line of the directive, for errors.
    line: u64,
    /// Column of the directive, for errors.
    column: u32,
}

/// A `${...}` modifier.
#[derive(Debug, Clone, Copy)]
struct Modifier {
    /// Added to the value.
    offset: i64,
    /// Minimum width, zero-padded.
    width: usize,
    /// Output base: `d`, `o`, `x`, `X`, `n` or `N`.
    base: u8,
}

/// Why a template could not be expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpandError {
    /// `${` without a well-formed modifier and closing `}`.
    Syntax,
    /// The offset made the value negative.
    Negative,
}

impl Generate {
    /// Parses the arguments after the `$GENERATE` token `directive`.
    pub(crate) fn parse(cursor: &mut Cursor<'_>, directive: &Token) -> Result<Self, Located> {
        let (range_token, range) = cursor.take(Expected::GenerateRange)?;
        let (start, stop, step) = parse_range(range)
            .ok_or_else(|| unexpected(&range_token, range, Expected::GenerateRange))?;
        if start > stop || step == 0 {
            return Err(Located {
                line: range_token.line,
                column: range_token.column,
                kind: ErrorKind::BadGenerateRange { start, stop, step },
            });
        }
        let (lhs_token, lhs) = cursor.take(Expected::Name)?;
        let mut rest: Vec<(Token, &[u8])> = Vec::new();
        while let Some(found) = cursor.peek() {
            cursor.take(Expected::Type)?;
            rest.push(found);
        }
        // At least a type and the RDATA template.
        if rest.len() < 2 {
            return Err(cursor.missing(if rest.is_empty() {
                Expected::Type
            } else {
                Expected::Name
            }));
        }
        let Some(((rhs_token, rhs), middle_tokens)) = rest.split_last() else {
            return Err(cursor.missing(Expected::Type));
        };
        let mut middle = Vec::new();
        for (token, text) in middle_tokens {
            if !middle.is_empty() {
                middle.push(b' ');
            }
            push_token(&mut middle, token, text);
        }
        let mut rhs_text = Vec::new();
        push_token(&mut rhs_text, rhs_token, rhs);
        // Check both templates once now, so syntax errors point at the directive's tokens.
        let mut probe = Vec::new();
        for (token, text) in [(lhs_token, lhs), (*rhs_token, *rhs)] {
            if expand(text, u64::from(start), &mut probe) == Err(ExpandError::Syntax) {
                return Err(unexpected(&token, text, Expected::GenerateTemplate));
            }
        }
        Ok(Self {
            next: u64::from(start),
            stop: u64::from(stop),
            step: u64::from(step),
            lhs: lhs.to_vec(),
            middle,
            rhs: rhs_text,
            line: directive.line,
            column: directive.column,
        })
    }

    /// Line of the directive.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// Writes the next record's text into `out` (cleared first); `None` when done.
    pub(crate) fn next_line(&mut self, out: &mut Vec<u8>) -> Option<Result<(), Located>> {
        if self.next > self.stop {
            return None;
        }
        let value = self.next;
        self.next += self.step;
        out.clear();
        let result = expand(&self.lhs, value, out)
            .and_then(|()| {
                out.push(b' ');
                out.extend_from_slice(&self.middle);
                out.push(b' ');
                expand(&self.rhs, value, out)
            })
            .map_err(|err| Located {
                line: self.line,
                column: self.column,
                kind: match err {
                    ExpandError::Negative => ErrorKind::NegativeGenerateValue,
                    ExpandError::Syntax => ErrorKind::Expected {
                        expected: Expected::GenerateTemplate,
                        found: Found::token(&self.rhs),
                    },
                },
            });
        Some(result)
    }
}

/// Appends `text` as a token, quoted again if it was quoted.
fn push_token(out: &mut Vec<u8>, token: &Token, text: &[u8]) {
    if token.quoted {
        out.push(b'"');
        out.extend_from_slice(text);
        out.push(b'"');
    } else {
        out.extend_from_slice(text);
    }
}

/// Parses `start-stop[/step]`.
fn parse_range(text: &[u8]) -> Option<(u32, u32, u32)> {
    let (range, step) = match text.iter().position(|&b| b == b'/') {
        Some(slash) => (&text[..slash], Some(&text[slash + 1..])),
        None => (text, None),
    };
    let dash = range.iter().position(|&b| b == b'-')?;
    let number = |t: &[u8]| crate::text::parse_uint(t, u32::MAX.into()).map(|v| v as u32);
    let start = number(&range[..dash])?;
    let stop = number(&range[dash + 1..])?;
    let step = match step {
        Some(step) => number(step)?,
        None => 1,
    };
    Some((start, stop, step))
}

/// Parses the inside of `${...}`.
fn parse_modifier(text: &[u8]) -> Option<Modifier> {
    let mut parts = text.split(|&b| b == b',');
    let offset_text = parts.next()?;
    let offset = match offset_text {
        [] => 0,
        [b'-', digits @ ..] => -(crate::text::parse_uint(digits, u32::MAX.into())? as i64),
        [b'+', digits @ ..] => crate::text::parse_uint(digits, u32::MAX.into())? as i64,
        digits => crate::text::parse_uint(digits, u32::MAX.into())? as i64,
    };
    let width = match parts.next() {
        None | Some([]) => 0,
        Some(digits) => crate::text::parse_uint(digits, 255)? as usize,
    };
    let base = match parts.next() {
        None => b'd',
        Some([base @ (b'd' | b'o' | b'x' | b'X' | b'n' | b'N')]) => *base,
        Some(_) => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Modifier {
        offset,
        width,
        base,
    })
}

/// Appends `template` with `$` forms replaced for `value`.
fn expand(template: &[u8], value: u64, out: &mut Vec<u8>) -> Result<(), ExpandError> {
    let mut i = 0;
    while i < template.len() {
        match template[i] {
            b'\\' => {
                let end = (i + 2).min(template.len());
                out.extend_from_slice(&template[i..end]);
                i = end;
            }
            b'$' => match template.get(i + 1) {
                Some(b'$') => {
                    // Escaped so a leading `$` cannot turn the line into a directive.
                    out.extend_from_slice(b"\\$");
                    i += 2;
                }
                Some(b'{') => {
                    let close = template[i..]
                        .iter()
                        .position(|&b| b == b'}')
                        .ok_or(ExpandError::Syntax)?;
                    let modifier =
                        parse_modifier(&template[i + 2..i + close]).ok_or(ExpandError::Syntax)?;
                    format_value(value, modifier, out)?;
                    i += close + 1;
                }
                _ => {
                    let _ = write!(out, "{value}");
                    i += 1;
                }
            },
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Ok(())
}

/// Appends `value` adjusted and formatted by `modifier`.
fn format_value(value: u64, modifier: Modifier, out: &mut Vec<u8>) -> Result<(), ExpandError> {
    let value = u64::try_from(value as i64 + modifier.offset).map_err(|_| ExpandError::Negative)?;
    let width = modifier.width;
    // Writing into a Vec cannot fail.
    let _ = match modifier.base {
        b'o' => write!(out, "{value:0width$o}"),
        b'x' => write!(out, "{value:0width$x}"),
        b'X' => write!(out, "{value:0width$X}"),
        b'n' | b'N' => {
            let mut hex = if modifier.base == b'n' {
                format!("{value:0width$x}")
            } else {
                format!("{value:0width$X}")
            };
            // Least significant nibble first, one label each.
            let nibbles: Vec<u8> = hex.bytes().rev().collect();
            hex.clear();
            for (n, nibble) in nibbles.iter().enumerate() {
                if n > 0 {
                    out.push(b'.');
                }
                out.push(*nibble);
            }
            Ok(())
        }
        _ => write!(out, "{value:0width$}"),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expands `template` for `value` into a string.
    fn run(template: &str, value: u64) -> Result<String, ExpandError> {
        let mut out = Vec::new();
        expand(template.as_bytes(), value, &mut out)
            .map(|()| String::from_utf8(out).expect("ascii"))
    }

    #[test]
    fn a_bare_dollar_is_the_value() {
        assert_eq!(run("host-$", 7), Ok("host-7".into()));
    }

    #[test]
    fn modifiers_apply_offset_width_and_base() {
        assert_eq!(run("${10}", 5), Ok("15".into()));
        assert_eq!(run("${0,3}", 5), Ok("005".into()));
        assert_eq!(run("${-1,2,d}", 5), Ok("04".into()));
        assert_eq!(run("${0,0,o}", 8), Ok("10".into()));
        assert_eq!(run("${0,4,x}", 255), Ok("00ff".into()));
        assert_eq!(run("${0,0,X}", 255), Ok("FF".into()));
    }

    #[test]
    fn nibble_mode_reverses_hex_digits_into_labels() {
        assert_eq!(run("${0,4,n}", 0x1ab), Ok("b.a.1.0".into()));
        assert_eq!(run("${0,0,N}", 0xab), Ok("B.A".into()));
    }

    #[test]
    fn double_dollar_and_backslash_dollar_are_literal() {
        assert_eq!(run("a$$b", 1), Ok(r"a\$b".into()));
        assert_eq!(run(r"a\$b", 1), Ok(r"a\$b".into()));
    }

    #[test]
    fn malformed_modifiers_are_refused() {
        assert_eq!(run("${1,2", 1), Err(ExpandError::Syntax));
        assert_eq!(run("${1,2,q}", 1), Err(ExpandError::Syntax));
        assert_eq!(run("${x}", 1), Err(ExpandError::Syntax));
        assert_eq!(run("${1,2,d,4}", 1), Err(ExpandError::Syntax));
    }

    #[test]
    fn offsets_below_zero_are_refused() {
        assert_eq!(run("${-5}", 3), Err(ExpandError::Negative));
    }

    #[test]
    fn ranges_parse_with_and_without_step() {
        assert_eq!(parse_range(b"1-10"), Some((1, 10, 1)));
        assert_eq!(parse_range(b"0-254/2"), Some((0, 254, 2)));
        assert_eq!(parse_range(b"1-"), None);
        assert_eq!(parse_range(b"a-b"), None);
    }
}
