//! Where recursion starts and what it trusts: root hints and trust anchors,
//! from files or built in, and the [`RecursorConfig`] built from `[server]`
//! and `[dnssec]` (validation, anchors, and the bounds on validation work).
//!
//! ```text
//!  server.root-hints  (zone file: NS + A/AAAA)  ── or ──  IANA root hints (built in)
//!  dnssec.trust-anchor-file (DS or DNSKEY, zone file) ── or ── root KSK-2017 + KSK-2024 DS
//!  dnssec.validation: auto = file or built-in anchor; yes = file required; no = off
//!  server.max-recursion-queries, fetches-per-zone, fetches-per-server,
//!  max-ns-address-queries: the bounds on the work of one query and one zone
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use hickory_proto::rr::{Name, RData, Record, RecordType};
use sekisho_conf::{Config, Validation};
use sekisho_limits::Limits;
use sekisho_zonefile::ParseOptions;

use super::RecursorConfig;

/// Built-in root hints (IANA named.root, 2024 edition): name, IPv4, IPv6.
const IANA_ROOTS: [(&str, &str, &str); 13] = [
    ("a.root-servers.net.", "198.41.0.4", "2001:503:ba3e::2:30"),
    ("b.root-servers.net.", "170.247.170.2", "2801:1b8:10::b"),
    ("c.root-servers.net.", "192.33.4.12", "2001:500:2::c"),
    ("d.root-servers.net.", "199.7.91.13", "2001:500:2d::d"),
    ("e.root-servers.net.", "192.203.230.10", "2001:500:a8::e"),
    ("f.root-servers.net.", "192.5.5.241", "2001:500:2f::f"),
    ("g.root-servers.net.", "192.112.36.4", "2001:500:12::d0d"),
    ("h.root-servers.net.", "198.97.190.53", "2001:500:1::53"),
    ("i.root-servers.net.", "192.36.148.17", "2001:7fe::53"),
    ("j.root-servers.net.", "192.58.128.30", "2001:503:c27::2:30"),
    ("k.root-servers.net.", "193.0.14.129", "2001:7fd::1"),
    ("l.root-servers.net.", "199.7.83.42", "2001:500:9f::42"),
    ("m.root-servers.net.", "202.12.27.33", "2001:dc3::35"),
];

/// Built-in root trust anchors: the DS of KSK-2017 (20326) and KSK-2024 (38696),
/// as published in IANA's root-anchors.xml.
const ROOT_ANCHORS: &str =
    ". 86400 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n\
. 86400 IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16\n";

/// Why the recursor cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// A file could not be read or parsed.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: sekisho_zonefile::Error,
    },
    /// The root hints name no address.
    #[error("{path}: no root server address in the root hints")]
    NoRoots {
        /// The file.
        path: PathBuf,
    },
    /// The trust anchor file holds no DS or DNSKEY for the root.
    #[error("{path}: no DS or DNSKEY record for the root")]
    NoAnchor {
        /// The file.
        path: PathBuf,
    },
    /// `validation = "yes"` without `trust-anchor-file`.
    #[error("dnssec.validation = \"yes\" needs dnssec.trust-anchor-file")]
    AnchorRequired,
}

/// The recursor settings for `config`.
pub fn recursor_config(config: &Config) -> Result<RecursorConfig, AnchorError> {
    let root_hints = match &config.server.root_hints {
        Some(p) => hints_from_file(p)?,
        None => builtin_hints(),
    };
    let validate = config.dnssec.validation != Validation::No;
    let anchors = match (&config.dnssec.trust_anchor_file, config.dnssec.validation) {
        (_, Validation::No) => Vec::new(),
        (Some(p), _) => anchors_from_file(p)?,
        (None, Validation::Yes) => return Err(AnchorError::AnchorRequired),
        (None, _) => builtin_anchors(),
    };
    Ok(RecursorConfig {
        root_hints,
        anchors,
        validate,
        domain_insecure: config.dnssec.domain_insecure.clone(),
        qname_minimisation: true,
        allow_ipv6: false,
        port: 53,
        max_queries: config.server.max_recursion_queries,
        fetches_per_zone: config.server.fetches_per_zone,
        fetches_per_server: config.server.fetches_per_server,
        max_ns_address_queries: config.server.max_ns_address_queries,
        // The daemon puts its own in (`metrics.limits`), so that the counts
        // reach the metrics and `sekishoctl limits`.
        limits: Arc::new(Limits::new()),
        max_ttl: config.cache.max_ttl,
        max_cache_bytes: usize::try_from(sekisho_cache::recursor_share(
            config.cache.max_cache_size,
        ))
        .unwrap_or(usize::MAX),
        max_validations: config.dnssec.max_validations_per_query,
        max_nsec3_hashes: config.dnssec.max_nsec3_hashes_per_query,
        bogus_ttl: config.dnssec.bogus_ttl,
        aggressive_nsec: config.dnssec.aggressive_nsec,
        validation_threads: config.server.runtime_threads(),
    })
}

/// The built-in IANA hints (IPv4 and IPv6 addresses).
pub fn builtin_hints() -> Vec<(Name, Vec<IpAddr>)> {
    IANA_ROOTS
        .iter()
        .filter_map(|(n, v4, v6)| {
            let name = Name::from_str(n).ok()?;
            let addrs = [v4, v6].iter().filter_map(|a| a.parse().ok()).collect();
            Some((name, addrs))
        })
        .collect()
}

/// The built-in root anchors.
pub fn builtin_anchors() -> Vec<Record> {
    sekisho_zonefile::parse_str(ROOT_ANCHORS, ParseOptions::with_origin(Name::root()))
        .unwrap_or_default()
}

/// Root hints from a zone file: the root's NS names with their A/AAAA records.
pub fn hints_from_file(path: &Path) -> Result<Vec<(Name, Vec<IpAddr>)>, AnchorError> {
    let records = read(path)?;
    let mut out: Vec<(Name, Vec<IpAddr>)> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(ns) if r.name.is_root() => Some((ns.0.clone(), Vec::new())),
            _ => None,
        })
        .collect();
    for (name, addrs) in &mut out {
        addrs.extend(
            records
                .iter()
                .filter(|r| r.name == *name)
                .filter_map(|r| r.data.ip_addr()),
        );
    }
    out.retain(|(_, a)| !a.is_empty());
    if out.is_empty() {
        return Err(AnchorError::NoRoots {
            path: path.to_owned(),
        });
    }
    Ok(out)
}

/// Root trust anchors (DS or DNSKEY records owned by `.`) from a zone file.
pub fn anchors_from_file(path: &Path) -> Result<Vec<Record>, AnchorError> {
    let anchors: Vec<Record> = read(path)?
        .into_iter()
        .filter(|r| {
            r.name.is_root() && matches!(r.record_type(), RecordType::DS | RecordType::DNSKEY)
        })
        .collect();
    if anchors.is_empty() {
        return Err(AnchorError::NoAnchor {
            path: path.to_owned(),
        });
    }
    Ok(anchors)
}

/// All records of a zone file with the root as origin.
fn read(path: &Path) -> Result<Vec<Record>, AnchorError> {
    sekisho_zonefile::read_file(
        path,
        ParseOptions::with_origin(Name::root()).default_ttl(3600),
    )
    .map_err(|source| AnchorError::File {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_anchors_are_the_two_root_ksk_ds_records() {
        let a = builtin_anchors();
        assert_eq!(a.len(), 2);
        assert!(a.iter().all(|r| r.record_type() == RecordType::DS));
    }

    #[test]
    fn the_builtin_hints_have_thirteen_servers_with_both_families() {
        let h = builtin_hints();
        assert_eq!(h.len(), 13);
        assert!(h.iter().all(|(_, a)| a.len() == 2));
    }
}
