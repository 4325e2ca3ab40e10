//! The `Dnstap.extra` text: the policy hit in words, for consumers that do
//! not decode `Message.policy` (added to dnstap.proto in 2021).
//!
//! ```text
//! rpz zone=<zone> rule=<owner> trigger=<MATCH> action=<ACTION> value=<value>[ <caller extra>]
//! ```
//!
//! - `<owner>` is the rule's owner name in presentation form with the
//!   trailing dot (`bad.example.rpz.example.`); bytes outside printable
//!   ASCII, spaces included, are written `\DDD` and `.`/`\` in a label are
//!   escaped, so each value is one space-free token.
//! - `<MATCH>` and `<ACTION>` are the dnstap `Policy.Match` and
//!   `Policy.Action` enum names (`QNAME`, `CLIENT_IP`, `RESPONSE_IP`,
//!   `NS_NAME`, `NS_IP`; `NXDOMAIN`, `NODATA`, `PASS`, `DROP`, `TRUNCATE`,
//!   `LOCAL_DATA`), so the text and the structured field read the same.
//! - `<value>` is a name for the name triggers and an address for the
//!   address triggers (4 or 16 bytes); anything else is written as hex.
//! - The caller's own text (`Event::extra`, for example
//!   `client=k:3fa2...`) follows after one space, verbatim; without a policy
//!   hit it is the whole extra field.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{Event, PolicyHit, Trigger};

/// The extra field for `event`, or `None` when it has neither a policy hit
/// nor caller text.
pub(crate) fn extra_text(event: &Event<'_>) -> Option<Vec<u8>> {
    let mut out = match &event.policy {
        Some(hit) => policy_text(hit).into_bytes(),
        None => Vec::new(),
    };
    if let Some(caller) = event.extra {
        if !out.is_empty() && !caller.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(caller);
    }
    (!out.is_empty()).then_some(out)
}

/// `rpz zone=... rule=... trigger=... action=... value=...`.
fn policy_text(hit: &PolicyHit<'_>) -> String {
    let mut s = String::with_capacity(128);
    s.push_str("rpz zone=");
    // The zone arrives as text; spaces would split the token, so escape them
    // (and anything unprintable) the same way as in names.
    for b in hit.zone.bytes() {
        push_byte(&mut s, b, false);
    }
    s.push_str(" rule=");
    push_name(&mut s, hit.rule);
    s.push_str(" trigger=");
    s.push_str(hit.trigger.word());
    s.push_str(" action=");
    s.push_str(hit.action.word());
    s.push_str(" value=");
    match hit.trigger {
        Trigger::Qname | Trigger::NsName => push_name(&mut s, hit.value),
        Trigger::ClientIp | Trigger::ResponseIp | Trigger::NsIp => push_address(&mut s, hit.value),
    }
    s
}

/// Appends one byte of a label or zone, escaped as in zone files.
fn push_byte(s: &mut String, b: u8, escape_dot: bool) {
    match b {
        b'.' if escape_dot => s.push_str("\\."),
        b'\\' => s.push_str("\\\\"),
        0x21..=0x7e => s.push(char::from(b)),
        _ => {
            // Writing to a String cannot fail.
            let _ = write!(s, "\\{b:03}");
        }
    }
}

/// Appends a wire-format name in presentation form; a malformed name (a
/// label running past the end, or no root label) is written as hex.
fn push_name(s: &mut String, wire: &[u8]) {
    let mark = s.len();
    let mut pos = 0;
    loop {
        let Some(&len) = wire.get(pos) else {
            s.truncate(mark);
            push_hex(s, wire);
            return;
        };
        let len = usize::from(len);
        if len == 0 {
            if pos == 0 {
                s.push('.');
            }
            return;
        }
        let Some(label) = wire.get(pos + 1..pos + 1 + len).filter(|_| len < 64) else {
            s.truncate(mark);
            push_hex(s, wire);
            return;
        };
        for &b in label {
            push_byte(s, b, true);
        }
        s.push('.');
        pos += 1 + len;
    }
}

/// Appends an IPv4 or IPv6 address, or hex for any other length.
fn push_address(s: &mut String, bytes: &[u8]) {
    let ip = if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        IpAddr::V4(Ipv4Addr::from(v4))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        IpAddr::V6(Ipv6Addr::from(v6))
    } else {
        push_hex(s, bytes);
        return;
    };
    // Writing to a String cannot fail.
    let _ = write!(s, "{ip}");
}

/// Appends `0x` and lower-case hex.
fn push_hex(s: &mut String, bytes: &[u8]) {
    s.push_str("0x");
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::{Action, Kind, Transport};

    fn event<'a>(policy: Option<PolicyHit<'a>>, extra: Option<&'a [u8]>) -> Event<'a> {
        Event {
            kind: Kind::ClientResponse,
            transport: Transport::Udp,
            query_address: None,
            response_address: SocketAddr::from(([127, 0, 0, 1], 53)),
            query_time: None,
            response_time: None,
            query_zone: None,
            message: b"",
            policy,
            extra,
        }
    }

    #[test]
    fn a_qname_hit_reads_as_key_value_words() {
        let hit = PolicyHit {
            zone: "rpz.example",
            rule: b"\x03bad\x07example\x03rpz\x07example\x00",
            trigger: Trigger::Qname,
            action: Action::Nxdomain,
            value: b"\x03bad\x07example\x00",
        };
        let text = extra_text(&event(Some(hit), Some(b"client=k:3fa2"))).expect("has text");
        assert_eq!(
            String::from_utf8(text).expect("ascii"),
            "rpz zone=rpz.example rule=bad.example.rpz.example. trigger=QNAME \
             action=NXDOMAIN value=bad.example. client=k:3fa2"
        );
    }

    #[test]
    fn address_values_and_odd_labels_are_one_token_each() {
        let hit = PolicyHit {
            zone: "my zone",
            rule: b"\x02a.\x03b c\x00",
            trigger: Trigger::ClientIp,
            action: Action::LocalData,
            value: &[192, 0, 2, 1],
        };
        let text = String::from_utf8(extra_text(&event(Some(hit), None)).expect("has text"))
            .expect("ascii");
        assert_eq!(
            text,
            "rpz zone=my\\032zone rule=a\\..b\\032c. trigger=CLIENT_IP action=LOCAL_DATA value=192.0.2.1"
        );
    }

    #[test]
    fn malformed_values_fall_back_to_hex() {
        let mut s = String::new();
        push_name(&mut s, b"\x05ab");
        assert_eq!(s, "0x056162");
        s.clear();
        push_address(&mut s, &[1, 2, 3]);
        assert_eq!(s, "0x010203");
        s.clear();
        push_name(&mut s, b"\x00");
        assert_eq!(s, ".");
    }

    #[test]
    fn without_policy_the_caller_text_is_the_whole_field() {
        assert_eq!(
            extra_text(&event(None, Some(b"client=k:1"))),
            Some(b"client=k:1".to_vec())
        );
        assert_eq!(extra_text(&event(None, None)), None);
    }
}
