//! Address access lists (`allow-query`, `allow-recursion`, `allow-notify`).
//!
//! A dual-stack socket reports IPv4 clients as IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`,
//! RFC 4291 section 2.5.5.2). Operators write IPv4 prefixes, so [`allows`] compares such a
//! client with the IPv4 prefixes as well; it also matches a plain IPv4 client against a
//! prefix written in mapped form (`::ffff:10.0.0.0/104`).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

/// True when `ip` falls inside any prefix in `list`. An empty list allows nobody.
pub fn allows(list: &[IpNet], ip: IpAddr) -> bool {
    let mapped: Option<Ipv4Addr> = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        IpAddr::V4(_) => None,
    };
    list.iter().any(|net| {
        net.contains(&ip)
            || mapped.is_some_and(|v4| net.contains(&IpAddr::V4(v4)))
            || match (ip, mapped_prefix(net)) {
                (IpAddr::V4(v4), Some(v4net)) => v4net.contains(&v4),
                _ => false,
            }
    })
}

/// The IPv4 prefix that an IPv4-mapped IPv6 prefix (`::ffff:a.b.c.d/96..=128`) stands for.
fn mapped_prefix(net: &IpNet) -> Option<Ipv4Net> {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => {
            let v4 = v6.network().to_ipv4_mapped()?;
            Ipv4Net::new(v4, v6.prefix_len() - 96).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn addresses_inside_a_prefix_are_allowed_and_others_are_not() {
        let list = nets(&["127.0.0.0/8", "::1/128"]);
        assert!(allows(&list, "127.0.0.1".parse().unwrap()));
        assert!(allows(&list, "::1".parse().unwrap()));
        assert!(!allows(&list, "192.0.2.1".parse().unwrap()));
        assert!(!allows(&list, "::2".parse().unwrap()));
    }

    #[test]
    fn an_empty_list_allows_nobody() {
        assert!(!allows(&[], "127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn ipv4_mapped_clients_match_ipv4_prefixes() {
        let list = nets(&["10.0.0.0/8"]);
        assert!(allows(&list, "::ffff:10.1.2.3".parse().unwrap()));
        assert!(!allows(&list, "::ffff:11.1.2.3".parse().unwrap()));
    }

    #[test]
    fn ipv4_clients_match_prefixes_written_in_mapped_form() {
        let list = nets(&["::ffff:10.0.0.0/104"]);
        assert!(allows(&list, "10.9.9.9".parse().unwrap()));
        assert!(!allows(&list, "11.0.0.1".parse().unwrap()));
    }
}
