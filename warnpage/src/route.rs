//! Which answer a request gets, decided from its Host alone (sans-I/O, so a
//! fuzz target or a unit test can drive it without a socket).
//!
//! ```text
//!                 ┌ no --redirect ───────────────────────────▶ Blocked      (page, 403)
//!  Host ─ parse ─┤
//!                 └ --redirect URL ─┬ Host = URL's host ──────▶ WarningHost  (page, 200)
//!                                   └ other / none / invalid ─▶ Redirect     (307 / 303)
//! ```
//!
//! The Japanese ISP guideline serves the redirect and the warning page from
//! one web server under two virtual hosts: every blocked name redirects to
//! the canonical warning URL, and that URL's host serves the page. Comparing
//! hosts ignores the port, ASCII case and a trailing dot, and compares IP
//! literals as addresses (`[::1]` and `[0:0::1]` are one host), so a request
//! that already is for the warning host is never redirected to itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

/// A host as compared: a DNS name or an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKey {
    /// A name in lower case without a trailing dot.
    Name(String),
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
}

/// The host part of a Host header value or URI authority, as sent: the port
/// removed, brackets of an IPv6 literal kept; `None` unless it is a plausible
/// name or address (so it can be shown on the page and logged as is).
pub fn host_part(raw: &str) -> Option<&str> {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix('[') {
        let close = rest.find(']')?;
        let after = &rest[close + 1..];
        if !(after.is_empty() || is_port(after.strip_prefix(':')?)) {
            return None;
        }
        rest[..close].parse::<Ipv6Addr>().ok()?;
        return Some(&raw[..close + 2]);
    }
    let host = match raw.split_once(':') {
        // One colon: name or IPv4 with a port.
        Some((h, port)) if !port.contains(':') => {
            if !is_port(port) {
                return None;
            }
            h
        }
        // Several: an IPv6 literal sent without brackets (not valid in a
        // Host header, but unambiguous).
        Some(_) => {
            raw.parse::<Ipv6Addr>().ok()?;
            return Some(raw);
        }
        None => raw,
    };
    let plausible = !host.is_empty()
        && host.len() <= 254
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    plausible.then_some(host)
}

/// `""` (`host:` with nothing after it is allowed by RFC 3986) or decimal digits.
fn is_port(s: &str) -> bool {
    s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

impl HostKey {
    /// The comparable form of a Host header value or URI authority (port,
    /// case and trailing dot removed); `None` if it is not a plausible host.
    pub fn parse(raw: &str) -> Option<HostKey> {
        let host = host_part(raw)?;
        if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return v6.parse::<Ipv6Addr>().ok().map(|a| HostKey::Ip(a.into()));
        }
        if let Ok(a) = host.parse::<Ipv6Addr>() {
            return Some(HostKey::Ip(a.into()));
        }
        if let Ok(a) = host.parse::<Ipv4Addr>() {
            return Some(HostKey::Ip(a.into()));
        }
        let name = host.strip_suffix('.').unwrap_or(host);
        if name.is_empty() {
            return None;
        }
        Some(HostKey::Name(name.to_ascii_lowercase()))
    }
}

/// The canonical warning URL (`--redirect`) and its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUrl {
    /// The URL, sent verbatim in `Location`.
    url: Arc<str>,
    /// Its host, to recognise requests for the warning host itself.
    host: HostKey,
}

/// Why a `--redirect` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectError {
    /// Not an absolute `http://` or `https://` URL of printable ASCII.
    #[error("expected an http:// or https:// URL without blanks")]
    Scheme,
    /// The URL's host is missing or not a name or address.
    #[error("the URL has no usable host")]
    Host,
}

impl FromStr for RedirectUrl {
    type Err = RedirectError;

    fn from_str(s: &str) -> Result<Self, RedirectError> {
        // The URL goes into a header verbatim: no line breaks or blanks.
        let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://"))
            || !s.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(RedirectError::Scheme);
        }
        let uri: http::Uri = s.parse().map_err(|_| RedirectError::Host)?;
        let host = uri
            .host()
            .and_then(HostKey::parse)
            .ok_or(RedirectError::Host)?;
        Ok(RedirectUrl {
            url: s.into(),
            host,
        })
    }
}

impl RedirectUrl {
    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL's host.
    pub fn host(&self) -> &HostKey {
        &self.host
    }
}

/// What the server answers, from the command line.
#[derive(Debug, Clone)]
pub struct Routes {
    /// The operator's page (`--page`); the built-in page when `None`.
    pub page: Option<Arc<[u8]>>,
    /// The canonical warning URL (`--redirect`).
    pub redirect: Option<RedirectUrl>,
}

/// The answer a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The page, to a request for a blocked name: `403 Forbidden`.
    Blocked,
    /// The page, to a request for the warning URL's own host: `200 OK`.
    WarningHost,
    /// A redirect to the warning URL.
    Redirect,
}

/// The answer to a request whose Host header (or URI authority) is `host`.
pub fn route(host: Option<&str>, routes: &Routes) -> Route {
    let Some(redirect) = &routes.redirect else {
        return Route::Blocked;
    };
    match host.and_then(HostKey::parse) {
        Some(h) if h == redirect.host => Route::WarningHost,
        _ => Route::Redirect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Routes with `--redirect url`.
    fn redirecting(url: &str) -> Routes {
        Routes {
            page: None,
            redirect: Some(url.parse().expect("url")),
        }
    }

    #[test]
    fn without_a_redirect_everyone_gets_the_page() {
        let r = Routes {
            page: Some(Arc::from(&b"x"[..])),
            redirect: None,
        };
        for host in [None, Some("a.example"), Some("[::1]:80"), Some("<bad>")] {
            assert_eq!(route(host, &r), Route::Blocked, "{host:?}");
        }
    }

    #[test]
    fn the_warning_host_gets_the_page_with_any_port_case_or_trailing_dot() {
        let r = redirecting("http://Warning.Example.NET/blocked.html");
        for host in [
            "warning.example.net",
            "WARNING.EXAMPLE.NET",
            "warning.example.net:80",
            "warning.example.net:8080",
            "warning.example.net.",
            "warning.example.net.:443",
            " warning.example.net ",
        ] {
            assert_eq!(route(Some(host), &r), Route::WarningHost, "{host}");
        }
        for host in [
            "blocked.example1.jp",
            "warning.example.net.evil.example",
            "xwarning.example.net",
            "example.net",
            "warning.example.net:http",
            "warning.example.net:80:80",
        ] {
            assert_eq!(route(Some(host), &r), Route::Redirect, "{host}");
        }
    }

    #[test]
    fn a_request_without_a_host_is_redirected() {
        let r = redirecting("https://warning.example.net/");
        assert_eq!(route(None, &r), Route::Redirect);
        assert_eq!(route(Some(""), &r), Route::Redirect);
    }

    #[test]
    fn ipv6_literals_compare_as_addresses() {
        let r = redirecting("http://[2001:db8::1]:8080/warn");
        for host in [
            "[2001:db8::1]",
            "[2001:db8::1]:80",
            "[2001:DB8:0:0:0:0:0:1]:8080",
            "2001:db8::1",
        ] {
            assert_eq!(route(Some(host), &r), Route::WarningHost, "{host}");
        }
        for host in [
            "[2001:db8::2]",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "2001:db8::1:80",
        ] {
            assert_eq!(route(Some(host), &r), Route::Redirect, "{host}");
        }
        let r4 = redirecting("http://192.0.2.7/");
        assert_eq!(route(Some("192.0.2.7:81"), &r4), Route::WarningHost);
        assert_eq!(route(Some("192.0.2.70"), &r4), Route::Redirect);
    }

    #[test]
    fn host_part_keeps_what_was_sent_without_the_port() {
        assert_eq!(
            host_part("Blocked.Example1.JP:8080"),
            Some("Blocked.Example1.JP")
        );
        assert_eq!(host_part("[2001:db8::1]:80"), Some("[2001:db8::1]"));
        assert_eq!(host_part("a.example:"), Some("a.example"));
        assert_eq!(host_part("<script>alert(1)</script>"), None);
        assert_eq!(host_part("a b"), None);
        assert_eq!(host_part(""), None);
    }

    #[test]
    fn redirect_urls_must_be_http_with_a_host() {
        for bad in [
            "javascript:alert(1)",
            "ftp://warning.example/",
            "http://",
            "http://warn example/",
            "http://warn.example/\r\nX: y",
            "/relative",
        ] {
            assert!(bad.parse::<RedirectUrl>().is_err(), "{bad}");
        }
        let u: RedirectUrl = "HTTPS://Warn.Example:8443/p?q=1".parse().expect("url");
        assert_eq!(u.as_str(), "HTTPS://Warn.Example:8443/p?q=1");
        assert_eq!(u.host(), &HostKey::Name("warn.example".into()));
    }
}
