//! Fuzz target `proxy`: octets as a load balancer's datagram or the start of
//! its connection into `sekisho_wire::proxy::parse_header` (PROXY protocol v2).
//!
//! Input layout: the octets as they arrive.
//!
//! Properties: nothing panics; an accepted header is at least the fixed 16
//! octets, at most `MAX_HEADER_LEN`, inside the input, parses the same from
//! its own octets alone, and carries addresses of one family that survive
//! `encode` and a second parse; `Incomplete` asks for more octets than were
//! given and never past `MAX_HEADER_LEN` (a stream reader's buffer); any
//! other refusal is decided by the octets seen, so appending more does not
//! change it.

use sekisho_wire::proxy::{encode, parse_header, ProxyError, FIXED_LEN, MAX_HEADER_LEN};

fn main() {
    afl::fuzz!(|data: &[u8]| check(data));
}

/// All properties for one input.
fn check(data: &[u8]) {
    match parse_header(data) {
        Ok(h) => {
            assert!(h.len >= FIXED_LEN && h.len <= MAX_HEADER_LEN && h.len <= data.len());
            assert_eq!(parse_header(&data[..h.len]), Ok(h), "the header alone");
            if let Some(a) = h.addresses {
                assert_eq!(a.source.is_ipv4(), a.destination.is_ipv4(), "one family");
                let again = parse_header(&encode(a.source, a.destination, a.transport))
                    .expect("an encoded header parses");
                assert_eq!(again.addresses, Some(a), "encode round trip");
            }
        }
        Err(ProxyError::Incomplete { needed }) => {
            assert!(needed > data.len() && needed <= MAX_HEADER_LEN, "{needed}");
        }
        Err(e) => {
            let mut longer = data.to_vec();
            longer.extend_from_slice(&[0u8; 64]);
            assert_eq!(parse_header(&longer), Err(e), "decided by the octets seen");
        }
    }
}
