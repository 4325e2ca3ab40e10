//! The binary PROXY protocol, version 2: the header a load balancer (dnsdist,
//! HAProxy) puts in front of a datagram or at the start of a connection to
//! say which client it forwards for.
//!
//! Specification: <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>,
//! section 2.2. The header is
//!
//! ```text
//!  0                 12      13      14              16
//!  ├─ signature ─────┼─ver/cmd┼─fam/tp┼─ length (BE) ─┼─ addresses ─┼─ TLVs ─┤
//!  \r\n\r\n\0\r\nQUIT\n  0x2_   0x__                  └──────── length octets ────────┘
//! ```
//!
//! - version (high nibble of octet 12) is 2; command (low nibble) is LOCAL
//!   (0: the proxy speaks for itself, e.g. a health check; "the receiver must
//!   accept this connection as valid and must use the real connection
//!   endpoints and discard the protocol block including the family which is
//!   ignored") or PROXY (1: the addresses that follow are the client's);
//! - family (high nibble of octet 13) AF_INET (1: 4+4+2+2 octets of
//!   addresses) or AF_INET6 (2: 16+16+2+2), transport (low nibble) STREAM (1)
//!   or DGRAM (2). AF_UNSPEC with PROXY means "unknown": the real endpoints
//!   are used, as for LOCAL. AF_UNIX and unknown values are refused;
//! - TLVs (type, 16-bit length, value) may follow the addresses inside
//!   `length`; they are walked (each must fit) and skipped.
//!
//! Only the binary version 2 is read; the text version 1 (`PROXY TCP4 ...`)
//! is not, as dnsdist sends version 2 only.
//!
//! Sans-I/O: [`parse_header`] takes the octets received so far and returns
//! the header with its length, [`ProxyError::Incomplete`] saying how many
//! octets it needs (a stream reader reads the 16 fixed octets, then exactly
//! the rest, never into the data behind), or a typed error. It never panics,
//! whatever the input; `fuzz/` feeds it arbitrary octets.
//!
//! A header is at most [`MAX_HEADER_LEN`] octets (PowerDNS Recursor's
//! `proxy-protocol-maximum-size` default): addresses plus a few TLVs fit
//! well within it, and a reader never buffers more for a header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12 octets every version 2 header starts with.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The fixed part: signature, version and command, family and transport, length.
pub const FIXED_LEN: usize = 16;
/// The longest header accepted, fixed part included.
pub const MAX_HEADER_LEN: usize = 512;

/// Octets of the AF_INET address block.
const INET_LEN: usize = 12;
/// Octets of the AF_INET6 address block.
const INET6_LEN: usize = 36;

/// What the proxy says the connection or datagram is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// The proxy speaks for itself (a health check): use the real endpoints.
    Local,
    /// Relayed for a client: the addresses (when given) are the client's.
    Proxy,
}

/// The client's transport as the proxy received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// STREAM (TCP).
    Stream,
    /// DGRAM (UDP).
    Dgram,
}

/// The client's addresses carried by a PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    /// How the client reached the proxy.
    pub transport: Transport,
    /// The client.
    pub source: SocketAddr,
    /// Where the client sent to (the proxy's own listening address).
    pub destination: SocketAddr,
}

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// LOCAL or PROXY.
    pub command: Command,
    /// The client's addresses; `None` for LOCAL and for AF_UNSPEC, where the
    /// real endpoints stand.
    pub addresses: Option<Addresses>,
    /// Octets of the whole header: the DNS data starts here.
    pub len: usize,
    /// TLVs walked and skipped.
    pub tlvs: usize,
}

impl Header {
    /// The client address to use for a datagram or connection that came from `peer`
    /// with this header: the carried source, or `peer` itself for LOCAL and AF_UNSPEC.
    pub fn client(&self, peer: SocketAddr) -> SocketAddr {
        self.addresses.map_or(peer, |a| a.source)
    }
}

/// Why octets are not a PROXY version 2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// Too few octets yet: a header needs `needed` in all (a datagram that
    /// says so is truncated; a stream reader reads up to `needed`).
    #[error("incomplete PROXY header: {needed} octets needed")]
    Incomplete {
        /// Octets the header needs from its start.
        needed: usize,
    },
    /// The first 12 octets are not the version 2 signature.
    #[error("no PROXY v2 signature")]
    BadSignature,
    /// A version other than 2.
    #[error("PROXY protocol version {version} (only 2 is read)")]
    BadVersion {
        /// The high nibble of octet 12.
        version: u8,
    },
    /// A command other than LOCAL and PROXY.
    #[error("PROXY command {command} unknown")]
    BadCommand {
        /// The low nibble of octet 12.
        command: u8,
    },
    /// A header longer than [`MAX_HEADER_LEN`].
    #[error("PROXY header of {len} octets, over the {MAX_HEADER_LEN} accepted")]
    TooLong {
        /// Octets the header says it has, fixed part included.
        len: usize,
    },
    /// A family other than AF_UNSPEC, AF_INET and AF_INET6 (AF_UNIX among them).
    #[error("PROXY address family {family} not supported")]
    UnsupportedFamily {
        /// The high nibble of octet 13.
        family: u8,
    },
    /// An IP family with a transport other than STREAM or DGRAM.
    #[error("PROXY transport {transport} not supported")]
    UnsupportedTransport {
        /// The low nibble of octet 13.
        transport: u8,
    },
    /// The length leaves no room for the family's addresses.
    #[error("PROXY length {len} too short for the addresses ({needed} octets)")]
    ShortAddresses {
        /// The length field.
        len: usize,
        /// Octets the family's addresses take.
        needed: usize,
    },
    /// A TLV runs past the end of the header.
    #[error("PROXY TLV at octet {offset} runs past the header")]
    BadTlv {
        /// Where the TLV starts, from the start of the header.
        offset: usize,
    },
}

impl ProxyError {
    /// A bounded label for metrics and logs.
    pub fn as_label(&self) -> &'static str {
        match self {
            ProxyError::Incomplete { .. } => "incomplete",
            ProxyError::BadSignature => "bad-signature",
            ProxyError::BadVersion { .. } => "bad-version",
            ProxyError::BadCommand { .. } => "bad-command",
            ProxyError::TooLong { .. } => "too-long",
            ProxyError::UnsupportedFamily { .. } => "unsupported-family",
            ProxyError::UnsupportedTransport { .. } => "unsupported-transport",
            ProxyError::ShortAddresses { .. } => "short-addresses",
            ProxyError::BadTlv { .. } => "bad-tlv",
        }
    }
}

/// Whether `octets` start with the version 2 signature (the cheap test of
/// whether a datagram is a PROXY header at all).
pub fn has_signature(octets: &[u8]) -> bool {
    octets.get(..SIGNATURE.len()) == Some(&SIGNATURE[..])
}

/// Parses the PROXY version 2 header at the start of `octets`; the data it
/// precedes starts at [`Header::len`]. Octets past the header are not looked at.
pub fn parse_header(octets: &[u8]) -> Result<Header, ProxyError> {
    // The signature as far as it has come: a stranger is told apart at once.
    let seen = octets.len().min(SIGNATURE.len());
    if octets[..seen] != SIGNATURE[..seen] {
        return Err(ProxyError::BadSignature);
    }
    let Some(fixed) = octets.get(..FIXED_LEN) else {
        return Err(ProxyError::Incomplete { needed: FIXED_LEN });
    };
    let (version, command) = (fixed[12] >> 4, fixed[12] & 0x0f);
    if version != 2 {
        return Err(ProxyError::BadVersion { version });
    }
    let command = match command {
        0 => Command::Local,
        1 => Command::Proxy,
        command => return Err(ProxyError::BadCommand { command }),
    };
    let body_len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    let len = FIXED_LEN + body_len;
    if len > MAX_HEADER_LEN {
        return Err(ProxyError::TooLong { len });
    }
    let Some(body) = octets.get(FIXED_LEN..len) else {
        return Err(ProxyError::Incomplete { needed: len });
    };
    if command == Command::Local {
        // Section 2.2: the protocol block, family included, is ignored.
        return Ok(Header {
            command,
            addresses: None,
            len,
            tlvs: 0,
        });
    }
    let (family, transport) = (fixed[13] >> 4, fixed[13] & 0x0f);
    let needed = match family {
        // AF_UNSPEC: unknown addresses, the real endpoints stand; the rest is skipped.
        0 => {
            return Ok(Header {
                command,
                addresses: None,
                len,
                tlvs: 0,
            })
        }
        1 => INET_LEN,
        2 => INET6_LEN,
        family => return Err(ProxyError::UnsupportedFamily { family }),
    };
    let transport = match transport {
        1 => Transport::Stream,
        2 => Transport::Dgram,
        transport => return Err(ProxyError::UnsupportedTransport { transport }),
    };
    let (Some(block), Some(rest)) = (body.get(..needed), body.get(needed..)) else {
        return Err(ProxyError::ShortAddresses {
            len: body_len,
            needed,
        });
    };
    let addresses = ip_addresses(block, transport);
    let tlvs = walk_tlvs(rest, FIXED_LEN + needed)?;
    Ok(Header {
        command,
        addresses: Some(addresses),
        len,
        tlvs,
    })
}

/// The address block of AF_INET (12 octets) or AF_INET6 (36 octets):
/// source address, destination address, source port, destination port.
fn ip_addresses(block: &[u8], transport: Transport) -> Addresses {
    let half = (block.len() - 4) / 2;
    let (addrs, ports) = block.split_at(2 * half);
    // 4 or 16 octets by the family; `ip_addresses` is given no other block.
    let ip = |octets: &[u8]| -> IpAddr {
        match (<[u8; 4]>::try_from(octets), <[u8; 16]>::try_from(octets)) {
            (Ok(v4), _) => IpAddr::V4(Ipv4Addr::from(v4)),
            (_, Ok(v6)) => IpAddr::V6(Ipv6Addr::from(v6)),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    };
    let port = |at: usize| u16::from_be_bytes([ports[at], ports[at + 1]]);
    Addresses {
        transport,
        source: SocketAddr::new(ip(&addrs[..half]), port(0)),
        destination: SocketAddr::new(ip(&addrs[half..]), port(2)),
    }
}

/// Walks the TLVs in `rest` (which starts `offset` octets into the header):
/// each is one octet of type, two of length and the value, and must end
/// inside the header. Returns how many there were.
fn walk_tlvs(mut rest: &[u8], mut offset: usize) -> Result<usize, ProxyError> {
    let mut count = 0;
    while !rest.is_empty() {
        let Some(&[_kind, hi, lo]) = rest.get(..3) else {
            return Err(ProxyError::BadTlv { offset });
        };
        let end = 3 + usize::from(u16::from_be_bytes([hi, lo]));
        let Some(next) = rest.get(end..) else {
            return Err(ProxyError::BadTlv { offset });
        };
        rest = next;
        offset += end;
        count += 1;
    }
    Ok(count)
}

/// A PROXY version 2 header relaying `source` to `destination` over
/// `transport` (both addresses of one family; an IPv4 and an IPv6 address
/// are both written as IPv6, the IPv4 one mapped). For tests, seeds and tools.
pub fn encode(source: SocketAddr, destination: SocketAddr, transport: Transport) -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    out.push(0x21);
    let tp = match transport {
        Transport::Stream => 1,
        Transport::Dgram => 2,
    };
    match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.push(0x10 | tp);
            out.extend_from_slice(&(INET_LEN as u16).to_be_bytes());
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (s, d) => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            out.push(0x20 | tp);
            out.extend_from_slice(&(INET6_LEN as u16).to_be_bytes());
            out.extend_from_slice(&v6(s).octets());
            out.extend_from_slice(&v6(d).octets());
        }
    }
    out.extend_from_slice(&source.port().to_be_bytes());
    out.extend_from_slice(&destination.port().to_be_bytes());
    out
}

/// A LOCAL header (the proxy speaking for itself, as a health check does).
pub fn encode_local() -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    out.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn an_ipv4_proxy_header_carries_the_client_and_ends_where_the_query_starts() {
        let mut d = encode(
            addr("192.0.2.7:40000"),
            addr("198.51.100.1:53"),
            Transport::Dgram,
        );
        assert_eq!(d.len(), 28);
        d.extend_from_slice(b"query follows");
        let h = parse_header(&d).expect("valid");
        assert_eq!(h.command, Command::Proxy);
        assert_eq!(h.len, 28);
        assert_eq!(&d[h.len..], b"query follows");
        let a = h.addresses.expect("addresses");
        assert_eq!(a.transport, Transport::Dgram);
        assert_eq!(a.source, addr("192.0.2.7:40000"));
        assert_eq!(a.destination, addr("198.51.100.1:53"));
        assert_eq!(h.client(addr("127.0.0.1:5")), addr("192.0.2.7:40000"));
    }

    #[test]
    fn an_ipv6_proxy_header_carries_the_client() {
        let d = encode(
            addr("[2001:db8::7]:1234"),
            addr("[2001:db8::53]:853"),
            Transport::Stream,
        );
        assert_eq!(d.len(), 52);
        let h = parse_header(&d).expect("valid");
        let a = h.addresses.expect("addresses");
        assert_eq!(a.transport, Transport::Stream);
        assert_eq!(a.source, addr("[2001:db8::7]:1234"));
        assert_eq!(a.destination, addr("[2001:db8::53]:853"));
    }

    #[test]
    fn a_local_header_keeps_the_real_endpoints_and_ignores_its_block() {
        let h = parse_header(&encode_local()).expect("valid");
        assert_eq!(h.command, Command::Local);
        assert_eq!(h.addresses, None);
        assert_eq!(h.len, FIXED_LEN);
        assert_eq!(h.client(addr("127.0.0.1:5")), addr("127.0.0.1:5"));
        // LOCAL with a family and garbage in its block: the block is ignored.
        let mut d = SIGNATURE.to_vec();
        d.extend_from_slice(&[0x20, 0x31, 0x00, 0x02, 0xff, 0xff]);
        let h = parse_header(&d).expect("valid");
        assert_eq!((h.command, h.len, h.addresses), (Command::Local, 18, None));
    }

    #[test]
    fn a_proxy_header_of_family_unspec_keeps_the_real_endpoints() {
        let mut d = SIGNATURE.to_vec();
        d.extend_from_slice(&[0x21, 0x00, 0x00, 0x03, 1, 2, 3]);
        let h = parse_header(&d).expect("valid");
        assert_eq!((h.command, h.len, h.addresses), (Command::Proxy, 19, None));
    }

    #[test]
    fn truncated_headers_say_how_many_octets_they_need() {
        let d = encode(addr("192.0.2.7:1"), addr("192.0.2.8:2"), Transport::Stream);
        for cut in 0..FIXED_LEN {
            assert_eq!(
                parse_header(&d[..cut]),
                Err(ProxyError::Incomplete { needed: FIXED_LEN }),
                "cut at {cut}"
            );
        }
        for cut in FIXED_LEN..d.len() {
            assert_eq!(
                parse_header(&d[..cut]),
                Err(ProxyError::Incomplete { needed: 28 }),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_bad_signature_is_seen_in_the_first_octet_that_differs() {
        assert_eq!(
            parse_header(b"\x12\x34\x01\x00"),
            Err(ProxyError::BadSignature)
        );
        assert_eq!(parse_header(b"\r\n\r\nX"), Err(ProxyError::BadSignature));
        // The text version 1 is not read.
        assert_eq!(
            parse_header(b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n"),
            Err(ProxyError::BadSignature)
        );
        assert!(!has_signature(b"\r\n\r\n\0\r\nQUIT"));
        assert!(has_signature(&encode_local()));
    }

    #[test]
    fn other_versions_commands_families_and_transports_are_refused() {
        let with = |b12: u8, b13: u8| {
            let mut d = SIGNATURE.to_vec();
            d.extend_from_slice(&[b12, b13, 0x00, 0x0c]);
            d.extend_from_slice(&[0; 12]);
            parse_header(&d)
        };
        assert_eq!(with(0x11, 0x11), Err(ProxyError::BadVersion { version: 1 }));
        assert_eq!(with(0x22, 0x11), Err(ProxyError::BadCommand { command: 2 }));
        assert_eq!(
            with(0x21, 0x31),
            Err(ProxyError::UnsupportedFamily { family: 3 })
        );
        assert_eq!(
            with(0x21, 0x10),
            Err(ProxyError::UnsupportedTransport { transport: 0 })
        );
        assert_eq!(
            with(0x21, 0x13),
            Err(ProxyError::UnsupportedTransport { transport: 3 })
        );
        assert!(with(0x21, 0x12).is_ok());
    }

    #[test]
    fn an_oversized_length_is_refused_before_anything_is_read() {
        let mut d = SIGNATURE.to_vec();
        d.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(
            parse_header(&d),
            Err(ProxyError::TooLong {
                len: FIXED_LEN + 0xffff
            })
        );
        let mut d = SIGNATURE.to_vec();
        let body = (MAX_HEADER_LEN - FIXED_LEN) as u16;
        d.extend_from_slice(&[0x21, 0x11]);
        d.extend_from_slice(&body.to_be_bytes());
        assert_eq!(
            parse_header(&d),
            Err(ProxyError::Incomplete {
                needed: MAX_HEADER_LEN
            })
        );
    }

    #[test]
    fn a_length_too_short_for_the_addresses_is_refused() {
        let mut d = SIGNATURE.to_vec();
        d.extend_from_slice(&[0x21, 0x21, 0x00, 0x0c]);
        d.extend_from_slice(&[0; 12]);
        assert_eq!(
            parse_header(&d),
            Err(ProxyError::ShortAddresses {
                len: 12,
                needed: 36
            })
        );
    }

    #[test]
    fn tlvs_are_walked_and_skipped_and_one_that_overruns_is_refused() {
        let mut d = encode(addr("192.0.2.7:1"), addr("192.0.2.8:2"), Transport::Dgram);
        // PP2_TYPE_AUTHORITY "a.example", PP2_TYPE_NOOP empty, a custom 0xee.
        let tlvs: &[u8] = b"\x02\x00\x09a.example\x04\x00\x00\xee\x00\x02xy";
        let body = (12 + tlvs.len()) as u16;
        d[14..16].copy_from_slice(&body.to_be_bytes());
        d.extend_from_slice(tlvs);
        d.extend_from_slice(b"DNS");
        let h = parse_header(&d).expect("valid");
        assert_eq!(h.tlvs, 3);
        assert_eq!(&d[h.len..], b"DNS");
        assert_eq!(h.addresses.map(|a| a.source), Some(addr("192.0.2.7:1")));
        // The last TLV claims 3 octets of value but has 2 inside the length.
        let at = d.len() - 3 - 2 - 1;
        d[at] = 3;
        assert_eq!(
            parse_header(&d),
            Err(ProxyError::BadTlv {
                offset: 28 + 12 + 3
            })
        );
        // A TLV of one octet (no room for its length).
        let mut d = encode(addr("192.0.2.7:1"), addr("192.0.2.8:2"), Transport::Dgram);
        d[14..16].copy_from_slice(&13u16.to_be_bytes());
        d.push(0x04);
        assert_eq!(parse_header(&d), Err(ProxyError::BadTlv { offset: 28 }));
    }

    #[test]
    fn mixed_families_are_written_as_ipv6_and_read_back() {
        let d = encode(
            addr("192.0.2.7:1"),
            addr("[2001:db8::1]:2"),
            Transport::Stream,
        );
        let a = parse_header(&d).expect("valid").addresses.expect("addrs");
        assert_eq!(a.source, addr("[::ffff:192.0.2.7]:1"));
    }
}
