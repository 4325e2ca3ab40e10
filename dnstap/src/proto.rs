//! The dnstap protobuf encoder: one [`Event`] in, one Frame Streams data
//! frame (4-byte big-endian length, then a `dnstap.Dnstap` message) out.
//!
//! Hand-written because only three protobuf wire types are needed
//! (<https://protobuf.dev/programming-guides/encoding/>): varint (0) for
//! enums, ports and seconds, length-delimited (2) for bytes and nested
//! messages, and fixed32 (5) for the `*_time_nsec` fields. Field numbers are
//! those of `dnstap.proto` (<https://github.com/dnstap/dnstap.pb>):
//!
//! ```text
//! Dnstap  { identity=1 version=2 extra=3 message=14 type=15 (MESSAGE=1) }
//! Message { type=1 socket_family=2 socket_protocol=3 query_address=4
//!           response_address=5 query_port=6 response_port=7
//!           query_time_sec=8 query_time_nsec=9 query_message=10
//!           query_zone=11 response_time_sec=12 response_time_nsec=13
//!           response_message=14 policy=15 }
//! Policy  { type=1 ("RPZ") rule=2 action=3 match=4 value=5 }
//! ```
//!
//! Nested messages are length-prefixed, so each encoder writes into a
//! [`Sink`]: one pass into a byte counter gives the length, the second pass
//! writes into a buffer allocated once at its final size.

use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Event, PolicyHit};

/// Wire type of varint fields.
const VARINT: u8 = 0;
/// Wire type of length-delimited fields (bytes, strings, nested messages).
const LEN: u8 = 2;
/// Wire type of fixed32 fields.
const FIXED32: u8 = 5;

/// `Dnstap.Type.MESSAGE`, the only payload type dnstap defines.
const DNSTAP_TYPE_MESSAGE: u64 = 1;
/// `SocketFamily.INET`.
const FAMILY_INET: u64 = 1;
/// `SocketFamily.INET6`.
const FAMILY_INET6: u64 = 2;

/// Writes `v` as a base-128 varint, low group first.
fn varint(s: &mut Vec<u8>, mut v: u64) {
    loop {
        // Seven bits per byte; the high bit says another byte follows.
        let low = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            s.push(low);
            return;
        }
        s.push(low | 0x80);
    }
}

/// Writes a field key: field number shifted left by three, or'ed with the
/// wire type.
fn key(s: &mut Vec<u8>, field: u32, wire: u8) {
    varint(s, (u64::from(field) << 3) | u64::from(wire));
}

/// Writes a varint field.
fn field_varint(s: &mut Vec<u8>, field: u32, v: u64) {
    key(s, field, VARINT);
    varint(s, v);
}

/// Writes a length-delimited field (bytes, or a nested message encoded
/// before).
fn field_bytes(s: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(s, field, LEN);
    varint(s, bytes.len() as u64);
    s.extend_from_slice(bytes);
}

/// Writes a fixed32 field (little-endian, as protobuf says).
fn field_fixed32(s: &mut Vec<u8>, field: u32, v: u32) {
    key(s, field, FIXED32);
    s.extend_from_slice(&v.to_le_bytes());
}

/// The server's own fields of every frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header<'a> {
    /// `Dnstap.identity`; empty means not sent.
    pub(crate) identity: &'a [u8],
    /// `Dnstap.version`; empty means not sent.
    pub(crate) version: &'a [u8],
}

/// Encodes `event` as a Frame Streams data frame: the 4-byte big-endian
/// length of the `Dnstap` message, then the message. `extra` is the
/// `Dnstap.extra` text (see [`crate::extra`]).
///
/// Each part is encoded once: the `Message` body into a buffer of its own
/// (its length prefixes it in the frame), then the frame around it. (A first
/// version measured nested lengths by encoding every body twice more; on the
/// query path that and an allocation per address cost a few percent of the
/// cache-hit rate with dnstap on.)
pub(crate) fn encode_frame(header: Header<'_>, event: &Event<'_>, extra: Option<&[u8]>) -> Vec<u8> {
    let mut body = Vec::with_capacity(event.message.len() + 96);
    message(&mut body, event);
    let extra_len = extra.map_or(0, <[u8]>::len);
    let mut out = Vec::with_capacity(
        4 + header.identity.len() + header.version.len() + extra_len + body.len() + 24,
    );
    out.extend_from_slice(&[0; 4]);
    if !header.identity.is_empty() {
        field_bytes(&mut out, 1, header.identity);
    }
    if !header.version.is_empty() {
        field_bytes(&mut out, 2, header.version);
    }
    if let Some(extra) = extra {
        field_bytes(&mut out, 3, extra);
    }
    field_bytes(&mut out, 14, &body);
    field_varint(&mut out, 15, DNSTAP_TYPE_MESSAGE);
    // A DNS message is at most 64 KiB, so the frame is far below 4 GiB; the
    // writer's limit on frame size (`MAX_FRAME`) is checked by the caller.
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// Writes the `Message` body.
fn message(s: &mut Vec<u8>, event: &Event<'_>) {
    let (query_ip, response_ip) = addresses(event.query_address, event.response_address);
    field_varint(s, 1, event.kind.message_type());
    let family = if response_ip.is_ipv4() {
        FAMILY_INET
    } else {
        FAMILY_INET6
    };
    field_varint(s, 2, family);
    field_varint(s, 3, event.transport.socket_protocol());
    if let Some(ip) = query_ip {
        field_bytes(s, 4, IpBytes::of(ip).as_slice());
    }
    field_bytes(s, 5, IpBytes::of(response_ip).as_slice());
    if let Some(addr) = event.query_address {
        field_varint(s, 6, u64::from(addr.port()));
    }
    field_varint(s, 7, u64::from(event.response_address.port()));
    if let Some((sec, nsec)) = event.query_time.and_then(epoch) {
        field_varint(s, 8, sec);
        field_fixed32(s, 9, nsec);
    }
    if event.kind.is_query() {
        field_bytes(s, 10, event.message);
    }
    if let Some(zone) = event.query_zone {
        field_bytes(s, 11, zone);
    }
    if let Some((sec, nsec)) = event.response_time.and_then(epoch) {
        field_varint(s, 12, sec);
        field_fixed32(s, 13, nsec);
    }
    if !event.kind.is_query() {
        field_bytes(s, 14, event.message);
    }
    if let Some(policy) = &event.policy {
        let mut body = Vec::with_capacity(hit_size(policy));
        policy_body(&mut body, policy);
        field_bytes(s, 15, &body);
    }
}

/// Room for a `Policy` body.
fn hit_size(hit: &PolicyHit<'_>) -> usize {
    hit.rule.len() + hit.value.len() + 16
}

/// Writes the `Policy` body.
fn policy_body(s: &mut Vec<u8>, hit: &PolicyHit<'_>) {
    field_bytes(s, 1, b"RPZ");
    field_bytes(s, 2, hit.rule);
    field_varint(s, 3, hit.action.code());
    field_varint(s, 4, hit.trigger.code());
    field_bytes(s, 5, hit.value);
}

/// The two addresses in one family, as `socket_family` requires: when one
/// is IPv4 and the other IPv6, the IPv4 one is written IPv4-mapped.
fn addresses(query: Option<SocketAddr>, response: SocketAddr) -> (Option<IpAddr>, IpAddr) {
    let response_ip = response.ip();
    let Some(query) = query else {
        return (None, response_ip);
    };
    match (query.ip(), response_ip) {
        (IpAddr::V4(q), IpAddr::V6(r)) => (Some(IpAddr::V6(q.to_ipv6_mapped())), IpAddr::V6(r)),
        (IpAddr::V6(q), IpAddr::V4(r)) => (Some(IpAddr::V6(q)), IpAddr::V6(r.to_ipv6_mapped())),
        (q, r) => (Some(q), r),
    }
}

/// The 4 or 16 bytes of an address, without an allocation.
enum IpBytes {
    /// IPv4.
    V4([u8; 4]),
    /// IPv6.
    V6([u8; 16]),
}

impl IpBytes {
    /// The bytes of `ip`.
    fn of(ip: IpAddr) -> IpBytes {
        match ip {
            IpAddr::V4(v4) => IpBytes::V4(v4.octets()),
            IpAddr::V6(v6) => IpBytes::V6(v6.octets()),
        }
    }

    /// As a slice.
    fn as_slice(&self) -> &[u8] {
        match self {
            IpBytes::V4(b) => b,
            IpBytes::V6(b) => b,
        }
    }
}

/// Seconds and nanoseconds since the Unix epoch; `None` before it (a clock
/// set that far back gives no useful time, so the fields are left out).
fn epoch(t: SystemTime) -> Option<(u64, u32)> {
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    Some((d.as_secs(), d.subsec_nanos()))
}

/// A minimal protobuf reader for the tests: enough to check every field
/// the encoder writes.
#[cfg(test)]
pub(crate) mod decode {
    /// One decoded field value.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum Value<'a> {
        /// Wire type 0.
        Varint(u64),
        /// Wire type 2.
        Bytes(&'a [u8]),
        /// Wire type 5.
        Fixed32(u32),
    }

    /// Reads a varint at `*pos`.
    fn varint(buf: &[u8], pos: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = buf[*pos];
            *pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }

    /// All fields of one message, in order; panics on malformed input
    /// (test code: a panic is a failed test).
    pub(crate) fn fields(buf: &[u8]) -> Vec<(u32, Value<'_>)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            let k = varint(buf, &mut pos);
            let field = (k >> 3) as u32;
            let value = match k & 7 {
                0 => Value::Varint(varint(buf, &mut pos)),
                2 => {
                    let len = varint(buf, &mut pos) as usize;
                    let v = &buf[pos..pos + len];
                    pos += len;
                    Value::Bytes(v)
                }
                5 => {
                    let v =
                        u32::from_le_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]);
                    pos += 4;
                    Value::Fixed32(v)
                }
                w => panic!("unexpected wire type {w}"),
            };
            out.push((field, value));
        }
        out
    }

    /// The bytes of field `n`, which must be present once.
    pub(crate) fn bytes<'a>(fields: &[(u32, Value<'a>)], n: u32) -> &'a [u8] {
        let found: Vec<_> = fields.iter().filter(|(f, _)| *f == n).collect();
        assert_eq!(found.len(), 1, "field {n} present once");
        match found[0].1 {
            Value::Bytes(b) => b,
            ref other => panic!("field {n} is {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use super::decode::{bytes, fields, Value};
    use super::*;
    use crate::{Action, Kind, Transport, Trigger};

    /// A query for www.example.com A, ID 0x1234, RD set.
    const QUERY: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
        \x03www\x07example\x03com\x00\x00\x01\x00\x01";

    fn event(kind: Kind) -> Event<'static> {
        Event {
            kind,
            transport: Transport::Udp,
            query_address: Some(SocketAddr::from((Ipv4Addr::new(192, 0, 2, 7), 53000))),
            response_address: SocketAddr::from((Ipv4Addr::new(198, 51, 100, 1), 53)),
            query_time: Some(UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789)),
            response_time: None,
            query_zone: None,
            message: QUERY,
            policy: None,
            extra: None,
        }
    }

    #[test]
    fn varints_match_the_protobuf_examples() {
        // The protobuf encoding guide's examples: 1 is 01, 150 is 96 01.
        let mut v = Vec::new();
        varint(&mut v, 1);
        varint(&mut v, 150);
        varint(&mut v, u64::MAX);
        assert_eq!(&v[..3], &[0x01, 0x96, 0x01]);
        assert_eq!(v.len(), 3 + 10);
        assert_eq!(v[12], 0x01);
    }

    #[test]
    fn a_client_query_is_encoded_field_by_field() {
        let header = Header {
            identity: b"ns1",
            version: b"sekisho 0.1",
        };
        let frame = encode_frame(header, &event(Kind::ClientQuery), Some(b"note"));
        let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(len, frame.len() - 4, "length prefix is the payload length");

        let top = fields(&frame[4..]);
        let numbers: Vec<u32> = top.iter().map(|(f, _)| *f).collect();
        assert_eq!(numbers, [1, 2, 3, 14, 15]);
        assert_eq!(bytes(&top, 1), b"ns1");
        assert_eq!(bytes(&top, 2), b"sekisho 0.1");
        assert_eq!(bytes(&top, 3), b"note");
        assert_eq!(top[4].1, Value::Varint(1), "Dnstap.type = MESSAGE");

        let msg = fields(bytes(&top, 14));
        assert_eq!(
            msg,
            vec![
                (1, Value::Varint(5)), // CLIENT_QUERY
                (2, Value::Varint(1)), // INET
                (3, Value::Varint(1)), // UDP
                (4, Value::Bytes(&[192, 0, 2, 7])),
                (5, Value::Bytes(&[198, 51, 100, 1])),
                (6, Value::Varint(53000)),
                (7, Value::Varint(53)),
                (8, Value::Varint(1_700_000_000)),
                (9, Value::Fixed32(123_456_789)),
                (10, Value::Bytes(QUERY)),
            ]
        );
    }

    #[test]
    fn a_client_query_matches_bytes_derived_by_hand() {
        let mut ev = event(Kind::ClientQuery);
        ev.query_time = None;
        ev.message = b"\xab";
        let frame = encode_frame(
            Header {
                identity: b"",
                version: b"",
            },
            &ev,
            None,
        );
        #[rustfmt::skip]
        let message: &[u8] = &[
            0x08, 5,                         // type = CLIENT_QUERY
            0x10, 1,                         // socket_family = INET
            0x18, 1,                         // socket_protocol = UDP
            0x22, 4, 192, 0, 2, 7,           // query_address
            0x2a, 4, 198, 51, 100, 1,        // response_address
            0x30, 0x88, 0x9e, 0x03,          // query_port = 53000
            0x38, 53,                        // response_port
            0x52, 1, 0xab,                   // query_message
        ];
        let mut expected = vec![0, 0, 0, 0];
        expected.extend_from_slice(&[0x72, message.len() as u8]); // message = 14
        expected.extend_from_slice(message);
        expected.extend_from_slice(&[0x78, 1]); // type = 15, MESSAGE
        let len = (expected.len() - 4) as u32;
        expected[..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(frame, expected);
    }

    #[test]
    fn a_client_response_with_a_policy_hit_carries_the_policy_message() {
        let mut ev = event(Kind::ClientResponse);
        ev.transport = Transport::Dot;
        ev.query_address = None;
        ev.response_time = Some(UNIX_EPOCH + Duration::new(1_700_000_001, 5));
        ev.policy = Some(PolicyHit {
            zone: "rpz.example",
            rule: b"\x03bad\x07example\x03rpz\x00",
            trigger: Trigger::Qname,
            action: Action::Nxdomain,
            value: b"\x03bad\x07example\x00",
        });
        let frame = encode_frame(
            Header {
                identity: b"",
                version: b"",
            },
            &ev,
            None,
        );
        let top = fields(&frame[4..]);
        let msg = fields(bytes(&top, 14));
        let numbers: Vec<u32> = msg.iter().map(|(f, _)| *f).collect();
        // No query_address (4) or query_port (6): the client was withheld.
        assert_eq!(numbers, [1, 2, 3, 5, 7, 8, 9, 12, 13, 14, 15]);
        assert_eq!(msg[0].1, Value::Varint(6), "CLIENT_RESPONSE");
        assert_eq!(msg[2].1, Value::Varint(3), "DOT");
        assert_eq!(msg[7].1, Value::Varint(1_700_000_001));
        assert_eq!(msg[8].1, Value::Fixed32(5));
        assert_eq!(bytes(&msg, 14), QUERY, "message goes into response_message");
        let policy = fields(bytes(&msg, 15));
        assert_eq!(
            policy,
            vec![
                (1, Value::Bytes(b"RPZ")),
                (2, Value::Bytes(b"\x03bad\x07example\x03rpz\x00")),
                (3, Value::Varint(1)), // NXDOMAIN
                (4, Value::Varint(1)), // QNAME
                (5, Value::Bytes(b"\x03bad\x07example\x00")),
            ]
        );
    }

    #[test]
    fn mixed_families_are_written_as_ipv6() {
        let mut ev = event(Kind::ResolverQuery);
        ev.response_address = SocketAddr::from((Ipv6Addr::LOCALHOST, 53));
        ev.query_zone = Some(b"\x07example\x00");
        let frame = encode_frame(
            Header {
                identity: b"",
                version: b"",
            },
            &ev,
            None,
        );
        let top = fields(&frame[4..]);
        let msg = fields(bytes(&top, 14));
        assert_eq!(msg[0].1, Value::Varint(3), "RESOLVER_QUERY");
        assert_eq!(msg[1].1, Value::Varint(2), "INET6");
        assert_eq!(
            bytes(&msg, 4),
            &Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped().octets()
        );
        assert_eq!(bytes(&msg, 5), &Ipv6Addr::LOCALHOST.octets());
        assert_eq!(bytes(&msg, 11), b"\x07example\x00");
        assert_eq!(bytes(&msg, 10), QUERY);
    }
}
