//! Host names from lists → the one spelling a policy zone uses.
//!
//! Lists are typed by people and exported by spreadsheets, so the same host
//! arrives as `Example.JP`, `example.jp.` or ` example.jp `. Every source is
//! reduced to lower-case ASCII without the trailing dot, so the dedupe set
//! sees one key per host and the zone has one owner per host. Labels in
//! other scripts become their IDNA A-labels (`例え.jp` → `xn--r8jz45g.jp`,
//! [RFC 5891](https://www.rfc-editor.org/rfc/rfc5891)) through hickory-proto's
//! IDNA support, which is already in the tree: no new dependency.
//!
//! Pure: no I/O, no allocation beyond the caller's buffer (and IDNA's own
//! for non-ASCII input).

use std::fmt;
use std::net::IpAddr;

use hickory_proto::rr::Name;

/// The longest label, in octets ([RFC 1035 section 2.3.4](https://www.rfc-editor.org/rfc/rfc1035#section-2.3.4)).
const MAX_LABEL: usize = 63;
/// The longest name on the wire, in octets, root label included (RFC 1035 section 2.3.4).
pub(crate) const MAX_WIRE: usize = 255;

/// Why a list entry is not a host name a policy zone can hold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// Nothing but blanks (or a lone dot).
    Empty,
    /// An IP address: QNAME rules match names, and lists of addresses are not built here.
    IpAddress,
    /// A `*.` prefix: wildcards come from `--wildcard`, for every name alike.
    Wildcard,
    /// A character no host name has (`/`, `:`, a blank, `@`...).
    BadChar {
        /// The offending character.
        ch: char,
    },
    /// Two dots in a row, or a leading dot.
    EmptyLabel,
    /// A label longer than 63 octets.
    LabelTooLong,
    /// Longer than 255 octets once the policy zone's name is appended.
    TooLong,
    /// Non-ASCII text that IDNA (UTS #46) does not accept.
    Idna,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("empty name"),
            NameError::IpAddress => {
                f.write_str("an IP address, not a host name (IP triggers are not built from lists)")
            }
            NameError::Wildcard => {
                f.write_str("a wildcard entry; list the name itself and use --wildcard")
            }
            NameError::BadChar { ch } => {
                write!(f, "character {ch:?} is not allowed in a host name")
            }
            NameError::EmptyLabel => {
                f.write_str("empty label (two dots in a row or a leading dot)")
            }
            NameError::LabelTooLong => f.write_str("a label is longer than 63 octets"),
            NameError::TooLong => {
                f.write_str("longer than 255 octets once the policy zone's name is appended")
            }
            NameError::Idna => f.write_str("non-ASCII name that IDNA cannot convert to punycode"),
        }
    }
}

impl std::error::Error for NameError {}

/// Writes the normalised form of `raw` into `out` (cleared first): lower-case ASCII,
/// IDN labels as punycode, no trailing dot. `max_wire` is the longest wire length the
/// name itself may have so that, with the policy zone's name appended, the owner stays
/// within 255 octets.
pub fn normalise(raw: &str, max_wire: usize, out: &mut String) -> Result<(), NameError> {
    out.clear();
    let trimmed = raw.trim();
    if trimmed.is_ascii() {
        push_ascii(trimmed, out)?;
    } else {
        // IDNA maps case and full-width dots (UTS #46) before encoding, so the
        // result is already lower case; the ASCII pass below checks it all the same.
        let name = Name::from_utf8(trimmed).map_err(|_| NameError::Idna)?;
        push_ascii(&name.to_ascii(), out)?;
    }
    if out.starts_with("*.") || out == "*" {
        return Err(NameError::Wildcard);
    }
    if out.parse::<IpAddr>().is_ok() {
        return Err(NameError::IpAddress);
    }
    // Wire length: one length octet per label plus the label, plus the root label.
    if out.len() + 2 > max_wire {
        return Err(NameError::TooLong);
    }
    Ok(())
}

/// Lower-cases and checks an ASCII name into `out`, dropping one trailing dot.
fn push_ascii(name: &str, out: &mut String) -> Result<(), NameError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.parse::<IpAddr>().is_ok() {
        return Err(NameError::IpAddress);
    }
    let mut label = 0usize;
    for b in name.bytes() {
        match b {
            b'.' => {
                if label == 0 {
                    return Err(NameError::EmptyLabel);
                }
                label = 0;
                out.push('.');
                continue;
            }
            // Underscores appear in real lists (`_dmarc`, ad servers named `ad_x`);
            // DNS allows any octet, and they are harmless in a policy zone.
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'*' => out.push(char::from(b)),
            b'A'..=b'Z' => out.push(char::from(b.to_ascii_lowercase())),
            _ => return Err(NameError::BadChar { ch: char::from(b) }),
        }
        label += 1;
        if label > MAX_LABEL {
            return Err(NameError::LabelTooLong);
        }
    }
    if label == 0 {
        return Err(NameError::EmptyLabel);
    }
    // `*` is only meaningful as a whole leading label; anywhere else it is a typo.
    if let Some(pos) = out.find('*') {
        if !(pos == 0 && (out.len() == 1 || out.as_bytes().get(1) == Some(&b'.'))) {
            return Err(NameError::BadChar { ch: '*' });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Normalises with no zone-length limit beyond DNS's own.
    fn norm(raw: &str) -> Result<String, NameError> {
        let mut out = String::new();
        normalise(raw, MAX_WIRE, &mut out).map(|()| out)
    }

    #[test]
    fn case_blanks_and_the_trailing_dot_are_normalised_away() {
        assert_eq!(norm(" Bad.Example1.JP. ").as_deref(), Ok("bad.example1.jp"));
        assert_eq!(norm("a_b-c.example").as_deref(), Ok("a_b-c.example"));
    }

    #[test]
    fn idn_labels_become_punycode() {
        assert_eq!(norm("例え.jp").as_deref(), Ok("xn--r8jz45g.jp"));
        assert_eq!(norm("ÉCOLE.example").as_deref(), Ok("xn--cole-9oa.example"));
    }

    #[test]
    fn urls_addresses_and_wildcards_are_refused_with_a_reason() {
        assert_eq!(
            norm("http://x.example/"),
            Err(NameError::BadChar { ch: ':' })
        );
        assert_eq!(norm("x.example/path"), Err(NameError::BadChar { ch: '/' }));
        assert_eq!(norm("192.0.2.1"), Err(NameError::IpAddress));
        assert_eq!(norm("2001:db8::1"), Err(NameError::IpAddress));
        assert_eq!(norm("*.example"), Err(NameError::Wildcard));
        assert_eq!(norm("a.*.example"), Err(NameError::BadChar { ch: '*' }));
        assert_eq!(norm("a..example"), Err(NameError::EmptyLabel));
        assert_eq!(norm(".example"), Err(NameError::EmptyLabel));
        assert_eq!(norm("  "), Err(NameError::Empty));
        assert_eq!(norm("."), Err(NameError::Empty));
        assert_eq!(norm("a b.example"), Err(NameError::BadChar { ch: ' ' }));
    }

    #[test]
    fn label_and_name_lengths_are_bounded() {
        let long_label = format!("{}.example", "a".repeat(64));
        assert_eq!(norm(&long_label), Err(NameError::LabelTooLong));
        let ok_label = format!("{}.example", "a".repeat(63));
        assert!(norm(&ok_label).is_ok());
        // 4 labels of 63 = 255 octets of text, 257 on the wire.
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(norm(&long), Err(NameError::TooLong));
        let mut out = String::new();
        // A zone name of 20 wire octets leaves 236 for the name.
        assert_eq!(
            normalise(&"a.".repeat(118), 236, &mut out),
            Err(NameError::TooLong)
        );
        assert!(normalise(&"a.".repeat(117), 236, &mut out).is_ok());
    }
}
