//! The client address of a DNS-over-HTTP request that came through a
//! TLS-terminating proxy (`listen-http`, `http-proxy-from`): sans-I/O, the
//! request's headers and the TCP peer in, the client address out.
//!
//! Only a peer listed in `http-proxy-from` is believed. A proxy appends the
//! address it received the request from to the end of `X-Forwarded-For`
//! (nginx `$proxy_add_x_forwarded_for`, HAProxy `option forwardfor`), or
//! adds an RFC 7239 `Forwarded: for=` element; whatever comes before that
//! last entry was written by the client or by proxies we know nothing about,
//! so only the last entry is read. `X-Forwarded-For` wins when both are
//! present, as it is what most proxies set while passing a client's own
//! `Forwarded` through untouched; a proxy that sets only `Forwarded` must
//! remove `X-Forwarded-For`.
//!
//! From any other peer both headers are ignored: the peer is the client.
//! A trusted request without either header (the proxy's own health check)
//! or whose last entry is not an address (`unknown`, an obfuscated
//! identifier) is the proxy's own.

use std::net::{IpAddr, SocketAddr};

use http::header::{HeaderMap, FORWARDED};
use ipnet::IpNet;

/// `X-Forwarded-For` (not in the `http` crate's constants: never standardised).
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Where a request's client address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSource {
    /// The TCP peer (no trusted proxy, or the proxy named no address).
    Peer,
    /// The last `X-Forwarded-For` entry of a trusted proxy.
    XForwardedFor,
    /// The last `Forwarded: for=` of a trusted proxy.
    Forwarded,
}

/// The client of a request from `peer` with `headers`, given the trusted
/// proxies `trusted`, and where it came from. A forwarded client keeps the
/// peer's port unless the `Forwarded` entry names one.
pub fn client_address(
    headers: &HeaderMap,
    peer: SocketAddr,
    trusted: &[IpNet],
) -> (SocketAddr, ClientSource) {
    let peer_ip = peer.ip().to_canonical();
    if !trusted.iter().any(|net| net.contains(&peer_ip)) {
        return (peer, ClientSource::Peer);
    }
    let xff = last_entry(headers, X_FORWARDED_FOR);
    if let Some(entry) = xff {
        return match parse_node(entry) {
            Some(addr) => (with_port(addr, peer), ClientSource::XForwardedFor),
            None => (peer, ClientSource::Peer),
        };
    }
    let forwarded = last_entry(headers, FORWARDED.as_str())
        .and_then(forwarded_for)
        .and_then(parse_node);
    match forwarded {
        Some(addr) => (with_port(addr, peer), ClientSource::Forwarded),
        None => (peer, ClientSource::Peer),
    }
}

/// A node with or without a port, with `peer`'s port when it has none.
fn with_port((ip, port): (IpAddr, Option<u16>), peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(ip.to_canonical(), port.unwrap_or(peer.port()))
}

/// The last comma-separated entry of the last `name` header, trimmed;
/// `None` when there is no such header or it is not text.
fn last_entry<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    let entry = value.rsplit(',').next()?.trim();
    (!entry.is_empty()).then_some(entry)
}

/// The `for=` parameter of one `Forwarded` element (RFC 7239 section 4),
/// without its quotes.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// An address in the forms proxies write: `192.0.2.1`, `192.0.2.1:4711`,
/// `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn parse_node(text: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some((ip, None));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some((addr.ip(), Some(addr.port())));
    }
    let ip = text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()?;
    Some((ip, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_static(value));
        }
        h
    }

    fn trusted() -> Vec<IpNet> {
        vec!["127.0.0.1/32".parse().expect("net")]
    }

    const PROXY: &str = "127.0.0.1:40000";
    const STRANGER: &str = "127.0.0.2:40000";

    fn client(pairs: &[(&'static str, &'static str)], peer: &str) -> (String, ClientSource) {
        let (addr, source) =
            client_address(&headers(pairs), peer.parse().expect("peer"), &trusted());
        (addr.to_string(), source)
    }

    #[test]
    fn the_last_x_forwarded_for_entry_of_a_trusted_proxy_is_the_client() {
        assert_eq!(
            client(&[("x-forwarded-for", "203.0.113.9, 192.0.2.7")], PROXY),
            ("192.0.2.7:40000".into(), ClientSource::XForwardedFor)
        );
        // Several header lines are one list, in order.
        assert_eq!(
            client(
                &[
                    ("x-forwarded-for", "203.0.113.9"),
                    ("x-forwarded-for", "2001:db8::7")
                ],
                PROXY
            ),
            ("[2001:db8::7]:40000".into(), ClientSource::XForwardedFor)
        );
    }

    #[test]
    fn a_forwarded_for_is_read_in_its_quoted_and_bracketed_forms() {
        assert_eq!(
            client(
                &[("forwarded", "for=203.0.113.9, for=192.0.2.7;proto=https")],
                PROXY
            ),
            ("192.0.2.7:40000".into(), ClientSource::Forwarded)
        );
        assert_eq!(
            client(
                &[("forwarded", "proto=https;For=\"[2001:db8::7]:4711\"")],
                PROXY
            ),
            ("[2001:db8::7]:4711".into(), ClientSource::Forwarded)
        );
    }

    #[test]
    fn x_forwarded_for_wins_over_forwarded() {
        assert_eq!(
            client(
                &[
                    ("forwarded", "for=203.0.113.9"),
                    ("x-forwarded-for", "192.0.2.7")
                ],
                PROXY
            ),
            ("192.0.2.7:40000".into(), ClientSource::XForwardedFor)
        );
    }

    #[test]
    fn headers_from_anyone_else_are_ignored() {
        assert_eq!(
            client(
                &[
                    ("x-forwarded-for", "192.0.2.7"),
                    ("forwarded", "for=192.0.2.8")
                ],
                STRANGER
            ),
            (STRANGER.into(), ClientSource::Peer)
        );
    }

    #[test]
    fn a_trusted_request_naming_no_address_is_the_proxys_own() {
        assert_eq!(client(&[], PROXY), (PROXY.into(), ClientSource::Peer));
        assert_eq!(
            client(&[("x-forwarded-for", "192.0.2.7, unknown")], PROXY),
            (PROXY.into(), ClientSource::Peer)
        );
        assert_eq!(
            client(&[("forwarded", "for=_hidden")], PROXY),
            (PROXY.into(), ClientSource::Peer)
        );
        assert_eq!(
            client(&[("x-forwarded-for", "")], PROXY),
            (PROXY.into(), ClientSource::Peer)
        );
    }

    #[test]
    fn an_ipv4_mapped_proxy_address_is_matched_as_ipv4() {
        assert_eq!(
            client(
                &[("x-forwarded-for", "192.0.2.7")],
                "[::ffff:127.0.0.1]:40000"
            ),
            ("192.0.2.7:40000".into(), ClientSource::XForwardedFor)
        );
    }
}
