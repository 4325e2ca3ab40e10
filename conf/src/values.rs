//! Parsers for the scalar value syntaxes of the configuration file.
//!
//! Each parser takes the raw text an operator wrote and returns the typed value or a short
//! reason. The reason never repeats the value or the key path: the validator adds both
//! (`forward-zone[1].forward-addr[0]: "1.2.3.4@99999": port out of range`), so every message
//! in the crate has the same shape.
//!
//! | syntax | examples | parser |
//! |---|---|---|
//! | duration | `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"`, `"1w"`, `"1h30m"`, `"30"` | [`parse_duration`] |
//! | size | `"4096"`, `"64KiB"`, `"512MiB"`, `"1GB"` | [`parse_size`] |
//! | socket address | `"ip"`, `"ip@port"`, `"ip:port"`, `"[v6]:port"` | [`parse_socket_addr`] |
//! | upstream address | the above plus `"#auth-name"` (Unbound `forward-addr`); `"tls://…"`; `"https://ip[:port]/path#auth-name"` | [`parse_upstream`] |
//! | prefix | `"10.0.0.0/8"`, `"2001:db8::/32"`, `"192.0.2.1"` | [`parse_prefix`] |
//! | domain name | `"example.jp"`, `"example.jp."`, `"."` | [`parse_name`] |

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::Name;
use ipnet::IpNet;

use crate::model::{defaults::DOH_PATH, UpstreamScheme};

/// Parses a duration: one or more `<number><unit>` groups (`"1h30m"`), or a bare number of
/// seconds.
///
/// Units are `ms`, `s`, `m`, `h`, `d` and `w`, case-insensitive (BIND writes TTL units in
/// either case; `M` is minutes there too, never months). Fractions are refused rather than
/// rounded: `"1.5s"` is better written `"1500ms"`.
///
/// Public so that command-line tools (`sekisho rpz build --expire 30d`) read durations
/// exactly as the configuration file does.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; write e.g. \"30s\"".into());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| "duration too large".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(duration_syntax_error(rest));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| String::from("duration too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        if unit_len == 0 {
            return Err(duration_syntax_error(rest));
        }
        let unit = rest[..unit_len].to_ascii_lowercase();
        rest = &rest[unit_len..];
        let millis_per_unit: u64 = match unit.as_str() {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return Err(format!("unknown unit `{unit}`; use ms, s, m, h, d or w")),
        };
        let millis = number
            .checked_mul(millis_per_unit)
            .ok_or_else(|| String::from("duration too large"))?;
        total = total
            .checked_add(Duration::from_millis(millis))
            .ok_or_else(|| String::from("duration too large"))?;
    }
    Ok(total)
}

/// Explains a malformed duration, pointing at the part that failed.
fn duration_syntax_error(at: &str) -> String {
    if at.starts_with('.') || at.starts_with(',') {
        "fractions are not accepted; use a smaller unit, e.g. \"1500ms\"".into()
    } else if at.starts_with('-') {
        "durations cannot be negative".into()
    } else {
        format!("expected a number followed by a unit (ms, s, m, h, d, w) at `{at}`")
    }
}

/// Parses a byte size: a bare number of bytes, or a number with a decimal (`kB`, `MB`, `GB`,
/// `TB`) or binary (`KiB`, `MiB`, `GiB`, `TiB`) unit; `B` is bytes.
///
/// A lone `K`, `M` or `G` is refused: BIND reads `512M` as binary and most other tools as
/// decimal, and a config file should not leave the reader guessing.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err("expected a number of bytes, optionally with a unit like \"512MiB\"".into());
    }
    let number: u64 = text[..digits]
        .parse()
        .map_err(|_| String::from("size too large"))?;
    let unit = text[digits..].trim_start();
    let multiplier: u64 = match unit {
        "" | "B" | "b" => 1,
        "kB" | "KB" | "kb" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" | "kiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "K" | "k" | "M" | "m" | "G" | "g" | "T" | "t" => {
            return Err(format!(
                "ambiguous unit `{unit}`; write {unit_up}iB (binary) or {unit_up}B (decimal)",
                unit_up = unit.to_ascii_uppercase()
            ))
        }
        _ if unit.starts_with('.') => {
            return Err("fractions are not accepted; use a smaller unit".into())
        }
        _ => {
            return Err(format!(
                "unknown unit `{unit}`; use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB"
            ))
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| "size too large".into())
}

/// Parses a port number, refusing values outside `0..=65535` with "port out of range".
fn parse_port(text: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port `{text}`"));
    }
    text.parse::<u16>()
        .map_err(|_| String::from("port out of range"))
}

/// Splits `ip`, `ip@port`, `ip:port` (IPv4 only), `[v6]` or `[v6]:port` into the address
/// and the port, if one was written.
///
/// A bare IPv6 address is never split at its last colon: `::1:53` is the address `::1:53`,
/// which is why Unbound invented the `@` separator. Write `[::1]:53` or `::1@53`.
fn split_host_port(text: &str) -> Result<(IpAddr, Option<u16>), String> {
    if let Some((host, port)) = text.split_once('@') {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let ip = parse_ip(host)?;
        return Ok((ip, Some(parse_port(port)?)));
    }
    if let Ok(ip) = IpAddr::from_str(text) {
        return Ok((ip, None));
    }
    if let Some(inner) = text.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| String::from("missing `]` after the IPv6 address"))?;
        let ip = host
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("invalid IPv6 address `{host}`"))?;
        return match after {
            "" => Ok((IpAddr::V6(ip), None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((IpAddr::V6(ip), Some(parse_port(port)?))),
                None => Err(format!("unexpected `{after}` after `]`")),
            },
        };
    }
    if let Some((host, port)) = text.rsplit_once(':') {
        if !host.contains(':') {
            let ip = host.parse::<std::net::Ipv4Addr>().map_err(|_| {
                format!("`{host}` is not an IP address (host names are not resolved here)")
            })?;
            return Ok((IpAddr::V4(ip), Some(parse_port(port)?)));
        }
    }
    Err(format!(
        "`{text}` is not an IP address; write \"ip\", \"ip@port\", \"ip:port\" or \"[v6]:port\""
    ))
}

/// Parses a plain IP address, naming the part that failed.
fn parse_ip(text: &str) -> Result<IpAddr, String> {
    IpAddr::from_str(text).map_err(|_| format!("`{text}` is not an IP address"))
}

/// Parses a listening or HTTP address (`ip`, `ip@port`, `ip:port`, `[v6]:port`), using
/// `default_port` when none is written. Port 0 is allowed: it asks the kernel for a free port,
/// which tests use.
pub(crate) fn parse_socket_addr(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    let (ip, port) = split_host_port(text.trim())?;
    Ok(SocketAddr::new(ip, port.unwrap_or(default_port)))
}

/// An upstream address as written, before zone-wide defaults are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawUpstream {
    /// The address of the upstream server.
    pub(crate) ip: IpAddr,
    /// The port, if one was written.
    pub(crate) port: Option<u16>,
    /// The name after `#`, if one was written.
    pub(crate) auth_name: Option<String>,
    /// The transport the entry names itself (`tls://`, `https://`), if any.
    pub(crate) scheme: UpstreamScheme,
}

/// Parses an upstream address in Unbound's `forward-addr` form: `ip`, `ip@port`,
/// `ip@port#name`, `ip#name`, plus `ip:port` and `[v6]:port` (each also with `#name`);
/// `tls://` before any of these names DNS over TLS whatever the zone says; and a DNS over
/// HTTPS URL, `https://ip[:port][/path][#name]` (see [`parse_https_upstream`]).
///
/// Port 0 is refused here: nobody serves DNS on it.
pub(crate) fn parse_upstream(text: &str) -> Result<RawUpstream, String> {
    let text = text.trim();
    if let Some(rest) = strip_scheme(text, "https://") {
        return parse_https_upstream(rest);
    }
    let (text, scheme) = match strip_scheme(text, "tls://") {
        Some(rest) => (rest, UpstreamScheme::Tls),
        None => (text, UpstreamScheme::Zone),
    };
    if text.contains("://") {
        return Err(
            "unknown scheme; write \"ip@port\", \"tls://ip@port#name\" or \
                    \"https://ip/path#name\""
                .into(),
        );
    }
    let (addr, auth_name) = match text.split_once('#') {
        Some((addr, name)) => (addr, Some(parse_auth_name(name)?)),
        None => (text, None),
    };
    let (ip, port) = split_host_port(addr)?;
    if port == Some(0) {
        return Err("port 0 is not a valid upstream port".into());
    }
    Ok(RawUpstream {
        ip,
        port,
        auth_name,
        scheme,
    })
}

/// `text` without its leading `scheme` (compared case-insensitively, as RFC 3986 says).
fn strip_scheme<'a>(text: &'a str, scheme: &str) -> Option<&'a str> {
    let head = text.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &text[scheme.len()..])
}

/// Parses what follows `https://` in a DNS over HTTPS upstream: `ip[:port][/path][#name]`,
/// the IPv6 address in brackets as in any URL.
///
/// The host must be an IP address. A resolver that had to resolve its own upstream's name
/// would ask that upstream (or itself) first, a loop; so, as in a DoT entry, the address is
/// where to connect and the name after `#` is what the certificate must carry (it is also the
/// HTTP `:authority`). The path defaults to `/dns-query`, RFC 8484's example and the common
/// choice. A query string is refused: queries are sent with POST and the body is the message.
fn parse_https_upstream(rest: &str) -> Result<RawUpstream, String> {
    let (rest, auth_name) = match rest.split_once('#') {
        Some((rest, name)) => (rest, Some(parse_auth_name(name)?)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, DOH_PATH),
    };
    if authority.is_empty() {
        return Err("no host in the URL".into());
    }
    let (ip, port) = match split_url_authority(authority) {
        Some(parts) => parts,
        None => {
            return Err(format!(
                "`{authority}` is not an IP address: Sekisho does not resolve the names of its \
                 own upstreams; write the address and put the name after `#`, e.g. \
                 \"https://192.0.2.9/dns-query#{host}\"",
                host = authority.split(':').next().unwrap_or(authority)
            ))
        }
    };
    let port = match port {
        None => None,
        Some(p) => match parse_port(p)? {
            0 => return Err("port 0 is not a valid upstream port".into()),
            p => Some(p),
        },
    };
    if path.contains('?') {
        return Err("a query string is not used: queries are sent with POST".into());
    }
    if !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("invalid URL path `{path}`"));
    }
    Ok(RawUpstream {
        ip,
        port,
        auth_name,
        scheme: UpstreamScheme::Https {
            path: path.to_owned(),
        },
    })
}

/// Splits a URL authority `ip`, `ip:port`, `[v6]` or `[v6]:port` into the address and the
/// port text; `None` when the host is not an IP address.
fn split_url_authority(authority: &str) -> Option<(IpAddr, Option<&str>)> {
    if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner.split_once(']')?;
        let ip = host.parse::<std::net::Ipv6Addr>().ok()?;
        return match after {
            "" => Some((IpAddr::V6(ip), None)),
            _ => Some((IpAddr::V6(ip), Some(after.strip_prefix(':')?))),
        };
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    Some((IpAddr::V4(host.parse().ok()?), port))
}

/// Checks a TLS authentication name (the name in the upstream's certificate) and returns it
/// without a trailing dot, the form certificate checks use.
pub(crate) fn parse_auth_name(text: &str) -> Result<String, String> {
    let name = text.trim().trim_end_matches('.');
    if name.is_empty() {
        return Err("empty TLS authentication name".into());
    }
    let valid = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if !valid || name.len() > 253 {
        return Err(format!("invalid TLS authentication name `{name}`"));
    }
    Ok(name.to_ascii_lowercase())
}

/// Parses an address prefix for an access list. A bare address means that one host
/// (`/32` or `/128`). Host bits set below the prefix length are refused, because
/// `10.0.0.1/8` is more often a typo than a wish to allow all of 10/8.
pub(crate) fn parse_prefix(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(ip) = IpAddr::from_str(text) {
        return Ok(IpNet::from(ip));
    }
    let net = IpNet::from_str(text)
        .map_err(|_| String::from("not an address or prefix; write e.g. \"10.0.0.0/8\""))?;
    if net.trunc() != net {
        return Err(format!(
            "host bits set below the prefix length; did you mean \"{}\"?",
            net.trunc()
        ));
    }
    Ok(net)
}

/// Parses a domain name and makes it fully qualified: `example.jp` and `example.jp.` are the
/// same name here, as they are in BIND's `zone` and Unbound's `name:` options.
pub(crate) fn parse_name(text: &str) -> Result<Name, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty domain name; write \".\" for the root".into());
    }
    if text.contains(char::is_whitespace) {
        return Err("a domain name cannot contain spaces".into());
    }
    let mut name = Name::from_str(text).map_err(|e| format!("invalid domain name: {e}"))?;
    name.set_fqdn(true);
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_each_unit_and_bare_seconds() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(" 10s "), Ok(Duration::from_secs(10)));
    }

    #[test]
    fn durations_combine_groups_and_ignore_unit_case() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1M"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn durations_reject_empty_fractions_negatives_and_unknown_units() {
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("1.5s").unwrap_err().contains("fractions"));
        assert!(parse_duration("-1s").unwrap_err().contains("negative"));
        assert!(parse_duration("10y")
            .unwrap_err()
            .contains("unknown unit `y`"));
        assert!(parse_duration("10").is_ok());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10 s").is_err());
    }

    #[test]
    fn durations_that_overflow_are_rejected_not_wrapped() {
        assert!(parse_duration("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_duration("18446744073709551615w")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn sizes_accept_decimal_and_binary_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4096B"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("512MiB"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("1 GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2kB"), Ok(2000));
    }

    #[test]
    fn sizes_reject_ambiguous_fractional_and_unknown_units() {
        assert!(parse_size("512M").unwrap_err().contains("ambiguous"));
        assert!(parse_size("1.5GiB").unwrap_err().contains("fractions"));
        assert!(parse_size("1PiB").unwrap_err().contains("unknown unit"));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("20000000TiB").unwrap_err().contains("too large"));
    }

    #[test]
    fn socket_addresses_take_every_written_form() {
        let v4 = |s| parse_socket_addr(s, 53);
        assert_eq!(v4("127.0.0.1"), Ok("127.0.0.1:53".parse().unwrap()));
        assert_eq!(v4("127.0.0.1@5300"), Ok("127.0.0.1:5300".parse().unwrap()));
        assert_eq!(v4("127.0.0.1:5300"), Ok("127.0.0.1:5300".parse().unwrap()));
        assert_eq!(v4("::1"), Ok("[::1]:53".parse().unwrap()));
        assert_eq!(v4("::1@5300"), Ok("[::1]:5300".parse().unwrap()));
        assert_eq!(v4("[::1]:5300"), Ok("[::1]:5300".parse().unwrap()));
        assert_eq!(v4("[::1]"), Ok("[::1]:53".parse().unwrap()));
        assert_eq!(v4("0.0.0.0:0"), Ok("0.0.0.0:0".parse().unwrap()));
    }

    #[test]
    fn socket_addresses_reject_bad_ports_and_hosts() {
        assert_eq!(
            parse_socket_addr("1.2.3.4@99999", 53),
            Err("port out of range".into())
        );
        assert!(parse_socket_addr("1.2.3.4@", 53).is_err());
        assert!(parse_socket_addr("1.2.3.4:x", 53).is_err());
        assert!(parse_socket_addr("localhost", 53).is_err());
        assert!(parse_socket_addr("[::1", 53).is_err());
        assert!(parse_socket_addr("[::1]53", 53).is_err());
        assert!(parse_socket_addr("300.1.1.1", 53).is_err());
    }

    #[test]
    fn a_bare_ipv6_address_is_never_split_at_its_last_colon() {
        // `::1:53` is a valid IPv6 address on its own; the port must be written with @ or [].
        assert_eq!(
            parse_socket_addr("::1:53", 853),
            Ok(SocketAddr::new("::1:53".parse().unwrap(), 853))
        );
    }

    #[test]
    fn upstreams_parse_unbound_forms_with_auth_names() {
        let up = parse_upstream("103.2.57.5@853#public.dns.iij.jp").unwrap();
        assert_eq!(up.ip, "103.2.57.5".parse::<IpAddr>().unwrap());
        assert_eq!(up.port, Some(853));
        assert_eq!(up.auth_name.as_deref(), Some("public.dns.iij.jp"));

        let up = parse_upstream("2001:db8::1#dns.example.").unwrap();
        assert_eq!(up.port, None);
        assert_eq!(up.auth_name.as_deref(), Some("dns.example"));

        let up = parse_upstream("[2001:db8::1]:853#dns.example").unwrap();
        assert_eq!(up.port, Some(853));

        let up = parse_upstream("192.0.2.1").unwrap();
        assert_eq!((up.port, up.auth_name), (None, None));
    }

    #[test]
    fn upstreams_reject_port_zero_and_bad_auth_names() {
        assert!(parse_upstream("192.0.2.1@0")
            .unwrap_err()
            .contains("port 0"));
        assert!(parse_upstream("192.0.2.1#").unwrap_err().contains("empty"));
        assert!(parse_upstream("192.0.2.1#bad name").is_err());
        assert!(parse_upstream("192.0.2.1@99999#x.example")
            .unwrap_err()
            .contains("port out of range"));
    }

    #[test]
    fn https_upstreams_take_an_ip_host_an_optional_port_and_path_and_the_name_after_the_hash() {
        let up = parse_upstream("https://192.0.2.9/dns-query#dns.example.net").unwrap();
        assert_eq!(up.ip, "192.0.2.9".parse::<IpAddr>().unwrap());
        assert_eq!(up.port, None);
        assert_eq!(up.auth_name.as_deref(), Some("dns.example.net"));
        assert_eq!(
            up.scheme,
            UpstreamScheme::Https {
                path: "/dns-query".into()
            }
        );

        let up = parse_upstream("https://[2001:db8::9]:8443/resolve#DNS.example.").unwrap();
        assert_eq!(up.port, Some(8443));
        assert_eq!(up.auth_name.as_deref(), Some("dns.example"));
        assert_eq!(
            up.scheme,
            UpstreamScheme::Https {
                path: "/resolve".into()
            }
        );

        // No path: RFC 8484's example path.
        let up = parse_upstream("https://192.0.2.9:8443").unwrap();
        assert_eq!((up.port, up.auth_name), (Some(8443), None));
        assert_eq!(
            up.scheme,
            UpstreamScheme::Https {
                path: DOH_PATH.into()
            }
        );
    }

    #[test]
    fn https_upstreams_reject_host_names_query_strings_and_bad_ports() {
        let err = parse_upstream("https://dns.example.net/dns-query").unwrap_err();
        assert!(err.contains("not an IP address"), "{err}");
        assert!(
            err.contains("https://192.0.2.9/dns-query#dns.example.net"),
            "{err}"
        );
        assert!(parse_upstream("https://[2001:db8::9/q#a.example").is_err());
        assert!(parse_upstream("https://[2001:db8::9]x/q#a.example").is_err());
        assert!(parse_upstream("https://192.0.2.9:/q#a.example").is_err());
        assert!(parse_upstream("https://192.0.2.9:70000/q#a.example")
            .unwrap_err()
            .contains("port out of range"));
        assert!(parse_upstream("https://192.0.2.9/q?dns=AAAB#a.example")
            .unwrap_err()
            .contains("query string"));
        assert!(parse_upstream("https://192.0.2.9/a b#a.example").is_err());
        assert!(parse_upstream("https://192.0.2.9/q#").is_err());
    }

    #[test]
    fn tls_scheme_marks_an_entry_dot_and_other_schemes_are_refused() {
        let up = parse_upstream("TLS://192.0.2.1@853#dns.example").unwrap();
        assert_eq!(up.scheme, UpstreamScheme::Tls);
        assert_eq!(up.port, Some(853));
        assert_eq!(
            parse_upstream("192.0.2.1").unwrap().scheme,
            UpstreamScheme::Zone
        );
        assert!(parse_upstream("udp://192.0.2.1")
            .unwrap_err()
            .contains("unknown scheme"));
    }

    #[test]
    fn prefixes_accept_hosts_and_reject_host_bits() {
        assert_eq!(
            parse_prefix("10.0.0.0/8"),
            Ok("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            parse_prefix("192.0.2.1"),
            Ok("192.0.2.1/32".parse().unwrap())
        );
        assert_eq!(parse_prefix("::1"), Ok("::1/128".parse().unwrap()));
        assert!(parse_prefix("10.0.0.1/8")
            .unwrap_err()
            .contains("10.0.0.0/8"));
        assert!(parse_prefix("10.0.0.0/33").is_err());
        assert!(parse_prefix("ten").is_err());
    }

    #[test]
    fn names_are_made_fully_qualified() {
        assert_eq!(parse_name("example.jp").unwrap().to_string(), "example.jp.");
        assert_eq!(
            parse_name("example.jp.").unwrap().to_string(),
            "example.jp."
        );
        assert!(parse_name(".").unwrap().is_root());
        assert!(parse_name("").is_err());
        assert!(parse_name("a b").is_err());
        assert!(parse_name("a..b").is_err());
    }
}
