//! From the file model ([`Spec`]) to the runtime [`Config`]: defaults, parsing, range checks
//! and cross-references, collecting every problem instead of stopping at the first.
//!
//! ```text
//! TOML text ──toml/serde──▶ Spec (file.rs) ──validate──▶ Config (model.rs)
//!            syntax, types,                 values, ranges, paths,
//!            unknown keys                   references, key files
//! ```
//!
//! Each check that fails records a [`Problem`] with the key path as written in the file
//! (`response-policy.zone[2].key`) and a message that starts with the bad value, then puts a
//! placeholder (the default) in its place so the remaining checks still run.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};
use ipnet::IpNet;

use crate::error::Problem;
use crate::file::{
    AddrSpec, CacheSpec, ControlSpec, DnssecSpec, DnstapSpec, ForwardZoneSpec, HealthCheckSpec,
    KeySpec, LoggingSpec, MetricsSpec, PolicyZoneSpec, RateLimitSpec, ResponsePolicySpec,
    ServerSpec, Spec, TextOrInt,
};
use crate::model::{
    defaults, Cache, ClientIpLog, Config, Control, Dnssec, Dnstap, DnstapDestination,
    DnstapMessage, ForwardZone, HealthCheck, Key, Logging, Metrics, PolicyOverride, PolicyZone,
    RateLimit, ResponsePolicy, RpzLog, Server, UpstreamAddr, UpstreamScheme, Validation,
};
use crate::secret::Secret;
use crate::values::{
    parse_auth_name, parse_duration, parse_name, parse_prefix, parse_size, parse_socket_addr,
    parse_upstream,
};

/// The highest (and only) file format version this crate reads.
pub(crate) const FORMAT_VERSION: i64 = 1;

/// Defaults that depend on how the file was found rather than on the file.
#[derive(Debug, Clone)]
pub(crate) struct Base {
    /// Folder that a relative `server.directory` resolves against: the config file's folder.
    pub(crate) config_dir: PathBuf,
    /// `server.directory` when the file does not set it.
    pub(crate) directory: PathBuf,
    /// `control.socket` when the file does not set it.
    pub(crate) control_socket: PathBuf,
}

/// Validates a parsed file, returning the runtime configuration or every problem found.
pub(crate) fn validate(spec: Spec, base: &Base) -> Result<Config, Vec<Problem>> {
    let mut v = Validator {
        problems: Vec::new(),
        directory: PathBuf::new(),
    };
    if let Some(version) = spec.version {
        if version != FORMAT_VERSION {
            v.problem(
                "version",
                format!("{version}: unsupported format version; this Sekisho reads version {FORMAT_VERSION}"),
            );
        }
    }
    let server = v.server(&spec.server, base);
    let cache = v.cache(&spec.cache);
    let dnssec = v.dnssec(&spec.dnssec);
    let rate_limit = v.rate_limit(&spec.rate_limit);
    let forward_zones = v.forward_zones(&spec.forward_zone);
    let keys = v.keys(&spec.key);
    // References are checked against every key written, valid or not, so a key with a bad
    // secret is reported once, not again at each zone that names it.
    let key_names: Vec<Name> = spec
        .key
        .iter()
        .filter_map(|key| parse_name(key.name.as_deref()?).ok())
        .collect();
    let logging = v.logging(&spec.logging);
    let response_policy =
        v.response_policy(&spec.response_policy, &key_names, logging.log_client_ip);
    let control = v.control(&spec.control, base);
    let metrics = v.metrics(&spec.metrics);
    let dnstap = v.dnstap(&spec.dnstap);
    if v.problems.is_empty() {
        Ok(Config {
            server,
            cache,
            dnssec,
            rate_limit,
            forward_zones,
            keys,
            response_policy,
            control,
            metrics,
            logging,
            dnstap,
        })
    } else {
        Err(v.problems)
    }
}

/// Collects problems while converting; holds the resolved state directory for paths.
struct Validator {
    /// Problems found so far.
    problems: Vec<Problem>,
    /// The resolved `server.directory`, base of every other relative path.
    directory: PathBuf,
}

impl Validator {
    /// Records a problem at `path`.
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    /// A duration key: absent gives `default`; a bad value is reported.
    fn duration(&mut self, path: &str, value: &Option<TextOrInt>, default: Duration) -> Duration {
        let parsed = match value {
            None => return default,
            Some(TextOrInt::Int(n)) => u64::try_from(*n)
                .map(Duration::from_secs)
                .map_err(|_| "durations cannot be negative".to_owned()),
            Some(TextOrInt::Text(text)) => parse_duration(text),
        };
        parsed.unwrap_or_else(|reason| {
            self.problem(path, format!("{}: {reason}", show(value)));
            default
        })
    }

    /// A duration key that must be above zero.
    fn positive_duration(
        &mut self,
        path: &str,
        value: &Option<TextOrInt>,
        default: Duration,
    ) -> Duration {
        let duration = self.duration(path, value, default);
        if duration.is_zero() {
            self.problem(path, format!("{}: must be longer than zero", show(value)));
            return default;
        }
        duration
    }

    /// A size key in bytes.
    fn size(&mut self, path: &str, value: &Option<TextOrInt>, default: u64) -> u64 {
        let parsed = match value {
            None => return default,
            Some(TextOrInt::Int(n)) => {
                u64::try_from(*n).map_err(|_| "sizes cannot be negative".to_owned())
            }
            Some(TextOrInt::Text(text)) => parse_size(text),
        };
        match parsed {
            Ok(0) => {
                self.problem(path, format!("{}: must be more than zero", show(value)));
                default
            }
            Ok(size) => size,
            Err(reason) => {
                self.problem(path, format!("{}: {reason}", show(value)));
                default
            }
        }
    }

    /// An integer key that must lie in `min..=max` and fit `T`.
    fn int<T>(&mut self, path: &str, value: Option<i64>, default: T, min: i64, max: i64) -> T
    where
        T: TryFrom<i64>,
    {
        let Some(n) = value else { return default };
        if n < min || n > max {
            self.problem(path, format!("{n}: must be between {min} and {max}"));
            return default;
        }
        T::try_from(n).unwrap_or_else(|_| {
            self.problem(path, format!("{n}: out of range"));
            default
        })
    }

    /// A key whose value is one of a fixed set of words.
    fn word<T>(&mut self, path: &str, value: &Option<String>, default: T) -> T
    where
        T: FromStr<Err = String>,
    {
        let Some(text) = value else { return default };
        T::from_str(text.trim()).unwrap_or_else(|reason| {
            self.problem(path, format!("{text:?}: {reason}"));
            default
        })
    }

    /// A domain name; `None` (after reporting) when it does not parse.
    fn name(&mut self, path: &str, text: &str) -> Option<Name> {
        match parse_name(text) {
            Ok(name) => Some(name),
            Err(reason) => {
                self.problem(path, format!("{text:?}: {reason}"));
                None
            }
        }
    }

    /// A path, resolved against the state directory when relative.
    fn path(&mut self, path: &str, value: &Option<String>) -> Option<PathBuf> {
        let text = value.as_ref()?;
        if text.trim().is_empty() {
            self.problem(path, format!("{text:?}: empty path"));
            return None;
        }
        Some(join_clean(&self.directory, text))
    }

    /// A list of address prefixes.
    fn prefixes(
        &mut self,
        path: &str,
        value: &Option<Vec<String>>,
        default: Vec<IpNet>,
    ) -> Vec<IpNet> {
        let Some(list) = value else { return default };
        let mut nets = Vec::with_capacity(list.len());
        for (i, text) in list.iter().enumerate() {
            match parse_prefix(text) {
                Ok(net) => nets.push(net),
                Err(reason) => self.problem(format!("{path}[{i}]"), format!("{text:?}: {reason}")),
            }
        }
        nets
    }

    /// A list of upstream addresses with `default_port` for those written without one.
    fn upstreams(&mut self, path: &str, list: &[AddrSpec], default_port: u16) -> Vec<UpstreamAddr> {
        let mut addrs = Vec::with_capacity(list.len());
        for (i, spec) in list.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            if let Some(addr) = self.upstream(&item_path, spec, default_port) {
                if addrs.contains(&addr) {
                    self.problem(item_path, format!("\"{addr}\": listed twice"));
                } else {
                    addrs.push(addr);
                }
            }
        }
        addrs
    }

    /// One upstream address in string or table form.
    fn upstream(&mut self, path: &str, spec: &AddrSpec, default_port: u16) -> Option<UpstreamAddr> {
        match spec {
            AddrSpec::Text(text) => match parse_upstream(text) {
                Ok(raw) => Some(UpstreamAddr {
                    ip: raw.ip,
                    // An explicit scheme brings its own default port.
                    port: raw.port.unwrap_or(match raw.scheme {
                        UpstreamScheme::Zone => default_port,
                        UpstreamScheme::Tls => defaults::DOT_PORT,
                        UpstreamScheme::Https { .. } => defaults::DOH_PORT,
                    }),
                    auth_name: raw.auth_name,
                    scheme: raw.scheme,
                }),
                Err(reason) => {
                    self.problem(path, format!("{text:?}: {reason}"));
                    None
                }
            },
            AddrSpec::Table(table) => {
                let ip = match IpAddr::from_str(table.address.trim()) {
                    Ok(ip) => Some(ip),
                    Err(_) => {
                        self.problem(
                            format!("{path}.address"),
                            format!("{:?}: not an IP address", table.address),
                        );
                        None
                    }
                };
                let port = match table.port {
                    None => Some(default_port),
                    Some(n) if (1..=65535).contains(&n) => u16::try_from(n).ok(),
                    Some(n) => {
                        self.problem(format!("{path}.port"), format!("{n}: port out of range"));
                        None
                    }
                };
                let auth_name = match &table.auth_name {
                    None => Some(None),
                    Some(text) => match parse_auth_name(text) {
                        Ok(name) => Some(Some(name)),
                        Err(reason) => {
                            self.problem(
                                format!("{path}.auth-name"),
                                format!("{text:?}: {reason}"),
                            );
                            None
                        }
                    },
                };
                Some(UpstreamAddr {
                    ip: ip?,
                    port: port?,
                    auth_name: auth_name?,
                    scheme: UpstreamScheme::Zone,
                })
            }
        }
    }

    /// `[server]`; also fixes the state directory used by every later relative path.
    fn server(&mut self, spec: &ServerSpec, base: &Base) -> Server {
        let d = Server::default();
        self.directory = match &spec.directory {
            None => base.directory.clone(),
            Some(text) if text.trim().is_empty() => {
                self.problem("server.directory", format!("{text:?}: empty path"));
                base.directory.clone()
            }
            Some(text) => join_clean(&base.config_dir, text),
        };
        let listen = match &spec.listen {
            None => d.listen,
            Some(list) => {
                if list.is_empty() {
                    self.problem("server.listen", "[]: at least one address is needed");
                }
                self.listen_addrs("server.listen", list, defaults::DNS_PORT)
            }
        };
        let listen_tls = match &spec.listen_tls {
            None => d.listen_tls,
            Some(list) => self.listen_addrs("server.listen-tls", list, defaults::DOT_PORT),
        };
        let listen_https = match &spec.listen_https {
            None => d.listen_https,
            Some(list) => self.listen_addrs("server.listen-https", list, defaults::HTTPS_PORT),
        };
        let listen_http = match &spec.listen_http {
            None => d.listen_http,
            Some(list) => self.listen_addrs("server.listen-http", list, defaults::HTTP_PORT),
        };
        let https_path = match &spec.https_path {
            None => d.https_path,
            Some(text)
                if !text.starts_with('/')
                    || text.contains(['?', '#'])
                    || text.contains(char::is_whitespace) =>
            {
                self.problem(
                    "server.https-path",
                    format!("{text:?}: an absolute URL path is needed (starting with /, no query, fragment or spaces)"),
                );
                d.https_path
            }
            Some(text) => text.clone(),
        };
        let tls_cert_file = self.path("server.tls-cert-file", &spec.tls_cert_file);
        let tls_key_file = self.path("server.tls-key-file", &spec.tls_key_file);
        if !listen_tls.is_empty() || !listen_https.is_empty() {
            // Checked here so `--check-config` says so; the files are read at start and reload.
            if tls_cert_file.is_none() {
                self.problem(
                    "server.tls-cert-file",
                    "missing: listen-tls and listen-https need a certificate chain (PEM)",
                );
            }
            if tls_key_file.is_none() {
                self.problem(
                    "server.tls-key-file",
                    "missing: listen-tls and listen-https need a private key (PEM)",
                );
            }
        }
        Server {
            listen,
            allow_query: self.prefixes("server.allow-query", &spec.allow_query, d.allow_query),
            allow_recursion: self.prefixes(
                "server.allow-recursion",
                &spec.allow_recursion,
                d.allow_recursion,
            ),
            directory: self.directory.clone(),
            root_hints: self.path("server.root-hints", &spec.root_hints),
            edns_buffer_size: self.int(
                "server.edns-buffer-size",
                spec.edns_buffer_size,
                d.edns_buffer_size,
                defaults::EDNS_BUFFER_SIZE_MIN.into(),
                defaults::EDNS_BUFFER_SIZE_MAX.into(),
            ),
            tcp_idle_timeout: self.positive_duration(
                "server.tcp-idle-timeout",
                &spec.tcp_idle_timeout,
                d.tcp_idle_timeout,
            ),
            tcp_max_connections: self.int(
                "server.tcp-max-connections",
                spec.tcp_max_connections,
                d.tcp_max_connections,
                1,
                1_000_000,
            ),
            tcp_max_pipelined: self.int(
                "server.tcp-max-pipelined",
                spec.tcp_max_pipelined,
                d.tcp_max_pipelined,
                1,
                65_535,
            ),
            query_timeout: self.positive_duration(
                "server.query-timeout",
                &spec.query_timeout,
                d.query_timeout,
            ),
            udp_workers: self.int(
                "server.udp-workers",
                spec.udp_workers,
                d.udp_workers,
                0,
                1024,
            ),
            threads: self.int("server.threads", spec.threads, d.threads, 0, 1024),
            identity: self.chaos_text("server.identity", &spec.identity),
            version: self.chaos_text("server.version", &spec.version),
            hide_identity: spec.hide_identity.unwrap_or(d.hide_identity),
            hide_version: spec.hide_version.unwrap_or(d.hide_version),
            recursive_clients: self.int(
                "server.recursive-clients",
                spec.recursive_clients,
                d.recursive_clients,
                1,
                1_000_000,
            ),
            clients_per_query: self.int(
                "server.clients-per-query",
                spec.clients_per_query,
                d.clients_per_query,
                1,
                1_000_000,
            ),
            fetches_per_zone: self.int(
                "server.fetches-per-zone",
                spec.fetches_per_zone,
                d.fetches_per_zone,
                0,
                1_000_000,
            ),
            fetches_per_zone_response: self.word(
                "server.fetches-per-zone-response",
                &spec.fetches_per_zone_response,
                d.fetches_per_zone_response,
            ),
            fetches_per_server: self.int(
                "server.fetches-per-server",
                spec.fetches_per_server,
                d.fetches_per_server,
                0,
                1_000_000,
            ),
            fetches_per_server_response: self.word(
                "server.fetches-per-server-response",
                &spec.fetches_per_server_response,
                d.fetches_per_server_response,
            ),
            max_recursion_queries: self.int(
                "server.max-recursion-queries",
                spec.max_recursion_queries,
                d.max_recursion_queries,
                1,
                10_000,
            ),
            max_ns_address_queries: self.int(
                "server.max-ns-address-queries",
                spec.max_ns_address_queries,
                d.max_ns_address_queries,
                1,
                1_000,
            ),
            tcp_clients_per_ip: self.int(
                "server.tcp-clients-per-ip",
                spec.tcp_clients_per_ip,
                d.tcp_clients_per_ip,
                1,
                1_000_000,
            ),
            tcp_write_timeout: self.positive_duration(
                "server.tcp-write-timeout",
                &spec.tcp_write_timeout,
                d.tcp_write_timeout,
            ),
            listen_tls,
            listen_https,
            listen_http,
            http_proxy_from: self.prefixes(
                "server.http-proxy-from",
                &spec.http_proxy_from,
                d.http_proxy_from,
            ),
            https_path,
            tls_cert_file,
            tls_key_file,
            tls_handshake_timeout: self.positive_duration(
                "server.tls-handshake-timeout",
                &spec.tls_handshake_timeout,
                d.tls_handshake_timeout,
            ),
            proxy_protocol_from: self.prefixes(
                "server.proxy-protocol-from",
                &spec.proxy_protocol_from,
                d.proxy_protocol_from,
            ),
        }
    }

    /// A list of listen addresses at `path`; `default_port` when none is written.
    fn listen_addrs(&mut self, path: &str, list: &[String], default_port: u16) -> Vec<SocketAddr> {
        let mut addrs: Vec<SocketAddr> = Vec::with_capacity(list.len());
        for (i, text) in list.iter().enumerate() {
            let path = format!("{path}[{i}]");
            match parse_socket_addr(text, default_port) {
                Ok(addr) if addrs.contains(&addr) && addr.port() != 0 => {
                    self.problem(path, format!("{text:?}: {addr} is listed twice"));
                }
                Ok(addr) => addrs.push(addr),
                Err(reason) => self.problem(path, format!("{text:?}: {reason}")),
            }
        }
        addrs
    }

    /// `[rate-limit]`.
    fn rate_limit(&mut self, spec: &RateLimitSpec) -> RateLimit {
        let d = RateLimit::default();
        RateLimit {
            queries_per_second: self.int(
                "rate-limit.queries-per-second",
                spec.queries_per_second,
                d.queries_per_second,
                0,
                100_000_000,
            ),
            ipv4_prefix_length: self.int(
                "rate-limit.ipv4-prefix-length",
                spec.ipv4_prefix_length,
                d.ipv4_prefix_length,
                1,
                32,
            ),
            ipv6_prefix_length: self.int(
                "rate-limit.ipv6-prefix-length",
                spec.ipv6_prefix_length,
                d.ipv6_prefix_length,
                1,
                128,
            ),
            slip: self.int("rate-limit.slip", spec.slip, d.slip, 0, 10),
            exempt: self.prefixes("rate-limit.exempt", &spec.exempt, d.exempt),
        }
    }

    /// `server.identity` / `server.version`: the text of a CHAOS TXT answer, one
    /// character-string of printable text ("" = the built-in value).
    fn chaos_text(&mut self, path: &str, value: &Option<String>) -> String {
        let Some(text) = value else {
            return String::new();
        };
        if text.len() > defaults::CHAOS_TEXT_MAX {
            self.problem(
                path,
                format!(
                    "{text:?}: {} bytes, at most {} fit in one TXT string",
                    text.len(),
                    defaults::CHAOS_TEXT_MAX
                ),
            );
            return String::new();
        }
        if text.chars().any(char::is_control) {
            self.problem(
                path,
                format!("{text:?}: control characters are not allowed"),
            );
            return String::new();
        }
        text.clone()
    }

    /// `[cache]`.
    fn cache(&mut self, spec: &CacheSpec) -> Cache {
        let d = Cache::default();
        let cache = Cache {
            max_entries: self.int(
                "cache.max-entries",
                spec.max_entries,
                d.max_entries,
                1,
                i64::MAX,
            ),
            min_ttl: self.duration("cache.min-ttl", &spec.min_ttl, d.min_ttl),
            max_ttl: self.positive_duration("cache.max-ttl", &spec.max_ttl, d.max_ttl),
            max_negative_ttl: self.duration(
                "cache.max-negative-ttl",
                &spec.max_negative_ttl,
                d.max_negative_ttl,
            ),
            servfail_ttl: self.duration("cache.servfail-ttl", &spec.servfail_ttl, d.servfail_ttl),
            max_cache_size: self.size(
                "cache.max-cache-size",
                &spec.max_cache_size,
                d.max_cache_size,
            ),
            stale_answer_enable: spec.stale_answer_enable.unwrap_or(d.stale_answer_enable),
            stale_answer_ttl: self.positive_duration(
                "cache.stale-answer-ttl",
                &spec.stale_answer_ttl,
                d.stale_answer_ttl,
            ),
            prefetch: spec.prefetch.unwrap_or(d.prefetch),
            save_file: match spec.save_file.as_deref().map(str::trim) {
                None => Some(join_clean(&self.directory, defaults::CACHE_SAVE_FILE)),
                Some("") => None,
                Some(_) => self.path("cache.save-file", &spec.save_file),
            },
            save_max_age: self.positive_duration(
                "cache.save-max-age",
                &spec.save_max_age,
                d.save_max_age,
            ),
        };
        if cache.min_ttl > cache.max_ttl {
            self.problem(
                "cache.min-ttl",
                format!(
                    "{}: larger than cache.max-ttl ({})",
                    show(&spec.min_ttl),
                    show_or(&spec.max_ttl, d.max_ttl)
                ),
            );
        }
        cache
    }

    /// `[dnssec]`.
    fn dnssec(&mut self, spec: &DnssecSpec) -> Dnssec {
        let validation = self.word("dnssec.validation", &spec.validation, Validation::default());
        let mut domain_insecure = Vec::new();
        for (i, text) in spec.domain_insecure.iter().flatten().enumerate() {
            if let Some(name) = self.name(&format!("dnssec.domain-insecure[{i}]"), text) {
                domain_insecure.push(name);
            }
        }
        let trust_anchor_file = self.path("dnssec.trust-anchor-file", &spec.trust_anchor_file);
        if validation == Validation::Yes && trust_anchor_file.is_none() {
            self.problem(
                "dnssec.trust-anchor-file",
                "missing: validation = \"yes\" needs a trust anchor file (\"auto\" uses the built-in root anchor)",
            );
        }
        let d = Dnssec::default();
        Dnssec {
            validation,
            domain_insecure,
            trust_anchor_file,
            max_validations_per_query: self.int(
                "dnssec.max-validations-per-query",
                spec.max_validations_per_query,
                d.max_validations_per_query,
                1,
                1_000_000,
            ),
            max_nsec3_hashes_per_query: self.int(
                "dnssec.max-nsec3-hashes-per-query",
                spec.max_nsec3_hashes_per_query,
                d.max_nsec3_hashes_per_query,
                1,
                1_000_000,
            ),
            bogus_ttl: self.duration("dnssec.bogus-ttl", &spec.bogus_ttl, d.bogus_ttl),
            aggressive_nsec: spec.aggressive_nsec.unwrap_or(d.aggressive_nsec),
        }
    }

    /// Every `[[forward-zone]]`, checking that names are unique.
    fn forward_zones(&mut self, specs: &[ForwardZoneSpec]) -> Vec<ForwardZone> {
        let mut zones = Vec::with_capacity(specs.len());
        let mut seen: HashMap<Name, usize> = HashMap::new();
        for (i, spec) in specs.iter().enumerate() {
            let path = format!("forward-zone[{i}]");
            let Some(zone) = self.forward_zone(&path, spec) else {
                continue;
            };
            if let Some(first) = seen.get(&zone.name) {
                self.problem(
                    format!("{path}.name"),
                    format!("\"{}\": already used by forward-zone[{first}]", zone.name),
                );
            } else {
                seen.insert(zone.name.clone(), i);
            }
            zones.push(zone);
        }
        zones
    }

    /// One `[[forward-zone]]`; `None` when its name is missing or bad (after reporting).
    fn forward_zone(&mut self, path: &str, spec: &ForwardZoneSpec) -> Option<ForwardZone> {
        let name = match &spec.name {
            Some(text) => self.name(&format!("{path}.name"), text),
            None => {
                self.problem(
                    format!("{path}.name"),
                    "missing: every forward-zone needs a name (\".\" for all)",
                );
                None
            }
        };
        let tls = spec.forward_tls_upstream.unwrap_or(false);
        let default_port = if tls {
            defaults::DOT_PORT
        } else {
            defaults::DNS_PORT
        };
        let tls_auth_name = match &spec.tls_auth_name {
            None => None,
            Some(text) => match parse_auth_name(text) {
                Ok(name) => Some(name),
                Err(reason) => {
                    self.problem(
                        format!("{path}.tls-auth-name"),
                        format!("{text:?}: {reason}"),
                    );
                    None
                }
            },
        };
        let addr_path = format!("{path}.forward-addr");
        let mut forward_addr = match &spec.forward_addr {
            Some(list) if !list.is_empty() => self.upstreams(&addr_path, list, default_port),
            Some(_) => {
                self.problem(addr_path, "[]: at least one upstream address is needed");
                Vec::new()
            }
            None => {
                self.problem(
                    addr_path,
                    "missing: at least one upstream address is needed",
                );
                Vec::new()
            }
        };
        // Sekisho authenticates DoT and DoH upstreams by name; Unbound without `#name` and
        // PowerDNS without `validate_certificate` would accept any certificate. Entries
        // without a scheme are DoT when the zone says so; `tls://` and `https://` entries
        // always are TLS, whatever the zone says.
        for (i, addr) in forward_addr.iter_mut().enumerate() {
            let what = match addr.scheme {
                UpstreamScheme::Zone if !tls => continue,
                UpstreamScheme::Zone | UpstreamScheme::Tls => "DNS over TLS",
                UpstreamScheme::Https { .. } => "DNS over HTTPS",
            };
            if addr.auth_name.is_none() {
                addr.auth_name.clone_from(&tls_auth_name);
            }
            if addr.auth_name.is_none() {
                self.problem(
                    format!("{path}.forward-addr[{i}]"),
                    format!(
                        "\"{addr}\": {what} needs the server's certificate name: \
                         write \"{addr}#dns.example\" or set tls-auth-name"
                    ),
                );
            }
        }
        let health_check =
            self.health_check(&format!("{path}.health-check"), spec.health_check.as_ref());
        Some(ForwardZone {
            name: name?,
            forward_addr,
            forward_tls_upstream: tls,
            forward_tcp_upstream: spec.forward_tcp_upstream.unwrap_or(false),
            tls_ca_file: self.path(&format!("{path}.tls-ca-file"), &spec.tls_ca_file),
            tls_auth_name,
            selection: self.word(
                &format!("{path}.selection"),
                &spec.selection,
                Default::default(),
            ),
            timeout: self.positive_duration(
                &format!("{path}.timeout"),
                &spec.timeout,
                defaults::FORWARD_TIMEOUT,
            ),
            health_check,
        })
    }

    /// A forward zone's `health-check` table.
    fn health_check(&mut self, path: &str, spec: Option<&HealthCheckSpec>) -> HealthCheck {
        let d = HealthCheck::default();
        let Some(spec) = spec else { return d };
        let key = |k: &str| format!("{path}.{k}");
        let check_name = match &spec.check_name {
            None => d.check_name.clone(),
            Some(text) => self
                .name(&key("check-name"), text)
                .unwrap_or_else(|| d.check_name.clone()),
        };
        let check_type = match &spec.check_type {
            None => d.check_type,
            Some(text) => match RecordType::from_str(&text.trim().to_ascii_uppercase()) {
                Ok(rtype) if !matches!(rtype, RecordType::Unknown(_)) => rtype,
                _ => {
                    self.problem(
                        key("check-type"),
                        format!("{text:?}: not a record type; write e.g. \"A\" or \"NS\""),
                    );
                    d.check_type
                }
            },
        };
        let health = HealthCheck {
            mode: self.word(&key("mode"), &spec.mode, d.mode),
            check_interval: self.positive_duration(
                &key("check-interval"),
                &spec.check_interval,
                d.check_interval,
            ),
            failed_interval: self.positive_duration(
                &key("failed-interval"),
                &spec.failed_interval,
                d.failed_interval,
            ),
            rise: self.int(&key("rise"), spec.rise, d.rise, 1, 1000),
            max_failures: self.int(
                &key("max-failures"),
                spec.max_failures,
                d.max_failures,
                1,
                1000,
            ),
            threshold: self.int(&key("threshold"), spec.threshold, d.threshold, 1, 100),
            sample_size: self.int(
                &key("sample-size"),
                spec.sample_size,
                d.sample_size,
                1,
                100_000,
            ),
            min_sample_count: self.int(
                &key("min-sample-count"),
                spec.min_sample_count,
                d.min_sample_count,
                1,
                100_000,
            ),
            lazy_mode: self.word(&key("lazy-mode"), &spec.lazy_mode, d.lazy_mode),
            check_name,
            check_type,
            check_timeout: self.positive_duration(
                &key("check-timeout"),
                &spec.check_timeout,
                d.check_timeout,
            ),
        };
        if health.min_sample_count > health.sample_size {
            self.problem(
                key("min-sample-count"),
                format!(
                    "{}: larger than sample-size ({})",
                    health.min_sample_count, health.sample_size
                ),
            );
        }
        health
    }

    /// Every `[[key]]`, checking that names are unique.
    fn keys(&mut self, specs: &[KeySpec]) -> Vec<Key> {
        let mut keys: Vec<Key> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let path = format!("key[{i}]");
            let Some(key) = self.key(&path, spec) else {
                continue;
            };
            if let Some(first) = keys.iter().position(|k| k.name == key.name) {
                self.problem(
                    format!("{path}.name"),
                    format!("\"{}\": already used by key[{first}]", key.name),
                );
                continue;
            }
            keys.push(key);
        }
        keys
    }

    /// One `[[key]]`, reading its secret file.
    fn key(&mut self, path: &str, spec: &KeySpec) -> Option<Key> {
        let name = match &spec.name {
            Some(text) => self.name(&format!("{path}.name"), text),
            None => {
                self.problem(format!("{path}.name"), "missing: every key needs a name");
                None
            }
        };
        let algorithm = match &spec.algorithm {
            Some(_) => Some(self.word(
                &format!("{path}.algorithm"),
                &spec.algorithm,
                Default::default(),
            )),
            None => {
                // BIND requires it too: guessing wrong only shows up as BADKEY at transfer time.
                self.problem(
                    format!("{path}.algorithm"),
                    "missing: write e.g. algorithm = \"hmac-sha256\"",
                );
                None
            }
        };
        let secret_file = self.path(&format!("{path}.secret-file"), &spec.secret_file);
        let secret = match (&secret_file, &spec.secret) {
            (Some(file), None) => self.read_secret(&format!("{path}.secret-file"), file),
            (None, Some(inline)) => match Secret::from_base64(inline) {
                Ok(secret) => Some(secret),
                Err(reason) => {
                    // The value is a secret: never echo it.
                    self.problem(format!("{path}.secret"), format!("<redacted>: {reason}"));
                    None
                }
            },
            (Some(_), Some(_)) => {
                self.problem(
                    format!("{path}.secret"),
                    "<redacted>: give either secret-file or secret, not both",
                );
                None
            }
            (None, None) if spec.secret_file.is_some() => None, // empty path, reported
            (None, None) => {
                self.problem(
                    format!("{path}.secret-file"),
                    "missing: a key needs secret-file (or an inline secret)",
                );
                None
            }
        };
        Some(Key {
            name: name?,
            algorithm: algorithm?,
            secret_file,
            secret: secret?,
        })
    }

    /// Reads and decodes a key file.
    fn read_secret(&mut self, path: &str, file: &Path) -> Option<Secret> {
        let shown = file.display();
        match std::fs::read_to_string(file) {
            Ok(content) => match Secret::from_key_file(&content) {
                Ok(secret) => Some(secret),
                Err(reason) => {
                    self.problem(path, format!("\"{shown}\": {reason}"));
                    None
                }
            },
            Err(err) => {
                self.problem(path, format!("\"{shown}\": cannot read: {err}"));
                None
            }
        }
    }

    /// `[response-policy]` and its zones; `keys` are the names of the `[[key]]`s.
    /// `client_ip` is `logging.log-client-ip`, which zones inherit.
    fn response_policy(
        &mut self,
        spec: &ResponsePolicySpec,
        keys: &[Name],
        client_ip: ClientIpLog,
    ) -> ResponsePolicy {
        let d = ResponsePolicy::default();
        let mut policy = ResponsePolicy {
            max_policy_ttl: self.duration(
                "response-policy.max-policy-ttl",
                &spec.max_policy_ttl,
                d.max_policy_ttl,
            ),
            break_dnssec: spec.break_dnssec.unwrap_or(d.break_dnssec),
            servfail_until_ready: spec.servfail_until_ready.unwrap_or(d.servfail_until_ready),
            recursive_only: spec.recursive_only.unwrap_or(d.recursive_only),
            qname_wait_recurse: spec.qname_wait_recurse.unwrap_or(d.qname_wait_recurse),
            add_soa: spec.add_soa.unwrap_or(d.add_soa),
            nsip_enable: spec.nsip_enable.unwrap_or(d.nsip_enable),
            nsdname_enable: spec.nsdname_enable.unwrap_or(d.nsdname_enable),
            min_ns_dots: self.int(
                "response-policy.min-ns-dots",
                spec.min_ns_dots,
                d.min_ns_dots,
                0,
                127,
            ),
            ede: self.word("response-policy.ede", &spec.ede, d.ede),
            zones: Vec::new(),
        };
        let mut seen: HashMap<Name, usize> = HashMap::new();
        for (i, zone_spec) in spec.zone.iter().enumerate() {
            let path = format!("response-policy.zone[{i}]");
            let Some(zone) = self.policy_zone(&path, zone_spec, &policy, keys, client_ip) else {
                continue;
            };
            if let Some(first) = seen.get(&zone.name) {
                self.problem(
                    format!("{path}.name"),
                    format!(
                        "\"{}\": already used by response-policy.zone[{first}]",
                        zone.name
                    ),
                );
            } else {
                seen.insert(zone.name.clone(), i);
            }
            policy.zones.push(zone);
        }
        policy
    }

    /// One `[[response-policy.zone]]`, inheriting from `global`.
    fn policy_zone(
        &mut self,
        path: &str,
        spec: &PolicyZoneSpec,
        global: &ResponsePolicy,
        keys: &[Name],
        client_ip: ClientIpLog,
    ) -> Option<PolicyZone> {
        let key_path = |k: &str| format!("{path}.{k}");
        let name = match &spec.name {
            Some(text) => self.name(&key_path("name"), text),
            None => {
                self.problem(key_path("name"), "missing: every policy zone needs a name");
                None
            }
        };
        let primaries = match &spec.primaries {
            None => Vec::new(),
            Some(list) => {
                let addrs = self.upstreams(&key_path("primaries"), list, defaults::DNS_PORT);
                for (i, addr) in addrs.iter().enumerate() {
                    if addr.scheme != UpstreamScheme::Zone {
                        self.problem(
                            format!("{path}.primaries[{i}]"),
                            format!("\"{addr}\": transfers run over plain DNS; write the address without a scheme"),
                        );
                        continue;
                    }
                    if addr.auth_name.is_some() {
                        self.problem(
                            format!("{path}.primaries[{i}]"),
                            format!("\"{addr}\": a TLS name is not used for transfers (no XFR over TLS yet)"),
                        );
                    }
                }
                addrs
            }
        };
        let file = self.path(&key_path("file"), &spec.file);
        if file.is_none() && primaries.is_empty() && spec.file.is_none() {
            self.problem(
                path,
                "neither file nor primaries: a policy zone needs a file to load, primaries to transfer from, or both",
            );
        }
        let key = match &spec.key {
            None => None,
            Some(text) => {
                let found = parse_name(text)
                    .ok()
                    .is_some_and(|wanted| keys.contains(&wanted));
                if !found {
                    self.problem(
                        key_path("key"),
                        format!("{text:?}: no [[key]] has this name"),
                    );
                } else if spec.primaries.as_ref().is_none_or(Vec::is_empty)
                    && spec.also_notify.as_ref().is_none_or(Vec::is_empty)
                {
                    // Primary role: the key also signs the NOTIFYs sent to `also-notify`.
                    self.problem(
                        key_path("key"),
                        format!("{text:?}: a key signs transfers and NOTIFYs, but this zone has neither primaries nor also-notify"),
                    );
                }
                Some(text.clone())
            }
        };
        let allow_notify = match &spec.allow_notify {
            Some(_) => self.prefixes(&key_path("allow-notify"), &spec.allow_notify, Vec::new()),
            // BIND's default: NOTIFY is accepted from the zone's primaries.
            None => primaries.iter().map(|p| IpNet::from(p.ip)).collect(),
        };
        let (allow_transfer, allow_transfer_keys) =
            self.allow_transfer(&key_path("allow-transfer"), &spec.allow_transfer, keys);
        let (allow_update, allow_update_keys) =
            self.allow_transfer(&key_path("allow-update"), &spec.allow_update, keys);
        if spec.allow_update.as_ref().is_some_and(|v| !v.is_empty()) {
            // The changes are written back to the file (as BIND writes a dynamic
            // zone's file); a zone taken from primaries is theirs to change.
            if spec.file.is_none() {
                self.problem(
                    key_path("allow-update"),
                    "a zone changed by UPDATE needs a file to write the changes to",
                );
            }
            if spec.primaries.as_ref().is_some_and(|v| !v.is_empty()) {
                self.problem(
                    key_path("allow-update"),
                    "a zone taken from primaries cannot be changed by UPDATE here; send the UPDATE to the primary",
                );
            }
        }
        let also_notify = match &spec.also_notify {
            None => Vec::new(),
            Some(list) => {
                let addrs = self.upstreams(&key_path("also-notify"), list, defaults::DNS_PORT);
                for (i, addr) in addrs.iter().enumerate() {
                    if addr.scheme != UpstreamScheme::Zone {
                        self.problem(
                            format!("{path}.also-notify[{i}]"),
                            format!("\"{addr}\": NOTIFY run over plain DNS; write the address without a scheme"),
                        );
                        continue;
                    }
                    if addr.auth_name.is_some() {
                        self.problem(
                            format!("{path}.also-notify[{i}]"),
                            format!("\"{addr}\": a TLS name is not used for NOTIFY"),
                        );
                    }
                }
                addrs.iter().map(UpstreamAddr::socket_addr).collect()
            }
        };
        let policy = self.word(&key_path("policy"), &spec.policy, PolicyOverride::Given);
        let zone = PolicyZone {
            name: name?,
            file,
            primaries,
            key,
            allow_notify,
            policy,
            log: spec.log.unwrap_or(true),
            log_client_ip: self.word(&key_path("log-client-ip"), &spec.log_client_ip, client_ip),
            max_policy_ttl: self.duration(
                &key_path("max-policy-ttl"),
                &spec.max_policy_ttl,
                global.max_policy_ttl,
            ),
            break_dnssec: spec.break_dnssec.unwrap_or(global.break_dnssec),
            recursive_only: spec.recursive_only.unwrap_or(global.recursive_only),
            add_soa: spec.add_soa.unwrap_or(global.add_soa),
            ede: self.word(&key_path("ede"), &spec.ede, global.ede),
            max_transfer_size: self.size(
                &key_path("max-transfer-size"),
                &spec.max_transfer_size,
                defaults::MAX_TRANSFER_SIZE,
            ),
            max_transfer_time: self.positive_duration(
                &key_path("max-transfer-time"),
                &spec.max_transfer_time,
                defaults::MAX_TRANSFER_TIME,
            ),
            min_refresh: self.positive_duration(
                &key_path("min-refresh"),
                &spec.min_refresh,
                defaults::MIN_REFRESH,
            ),
            max_refresh: self.positive_duration(
                &key_path("max-refresh"),
                &spec.max_refresh,
                defaults::MAX_REFRESH,
            ),
            on_expire: self.word(&key_path("on-expire"), &spec.on_expire, Default::default()),
            allow_transfer,
            allow_transfer_keys,
            also_notify,
            journal_size: self.size(
                &key_path("journal-size"),
                &spec.journal_size,
                defaults::JOURNAL_SIZE,
            ),
            allow_update,
            allow_update_keys,
        };
        if zone.min_refresh > zone.max_refresh {
            self.problem(
                key_path("min-refresh"),
                format!(
                    "{}: longer than max-refresh ({})",
                    show_or(&spec.min_refresh, defaults::MIN_REFRESH),
                    show_or(&spec.max_refresh, defaults::MAX_REFRESH)
                ),
            );
        }
        Some(zone)
    }

    /// `allow-transfer` and `allow-update`: prefixes and `key NAME` entries (BIND
    /// `allow-transfer { key "k"; 192.0.2.0/24; }`); every named key must exist.
    fn allow_transfer(
        &mut self,
        path: &str,
        value: &Option<Vec<String>>,
        keys: &[Name],
    ) -> (Vec<IpNet>, Vec<Name>) {
        let (mut nets, mut names) = (Vec::new(), Vec::new());
        for (i, text) in value.iter().flatten().enumerate() {
            let item = format!("{path}[{i}]");
            let trimmed = text.trim();
            if let Some(rest) = trimmed
                .strip_prefix("key ")
                .or_else(|| trimmed.strip_prefix("key\t"))
            {
                let rest = rest.trim().trim_matches('"');
                match parse_name(rest) {
                    Ok(name) if keys.contains(&name) => names.push(name),
                    Ok(_) => self.problem(item, format!("{text:?}: no [[key]] has this name")),
                    Err(reason) => self.problem(item, format!("{text:?}: {reason}")),
                }
                continue;
            }
            match parse_prefix(trimmed) {
                Ok(net) => nets.push(net),
                Err(reason) => self.problem(
                    item,
                    format!("{text:?}: {reason} (write a key as \"key NAME\")"),
                ),
            }
        }
        (nets, names)
    }

    /// `[control]`.
    fn control(&mut self, spec: &ControlSpec, base: &Base) -> Control {
        Control {
            socket: self
                .path("control.socket", &spec.socket)
                .unwrap_or_else(|| base.control_socket.clone()),
        }
    }

    /// `[metrics]`.
    fn metrics(&mut self, spec: &MetricsSpec) -> Metrics {
        let listen = match spec.listen.as_deref() {
            None => None,
            Some(text) if text.trim().eq_ignore_ascii_case("none") => None,
            Some(text) => match parse_socket_addr(text, defaults::METRICS_PORT) {
                Ok(addr) => Some(addr),
                Err(reason) => {
                    self.problem(
                        "metrics.listen",
                        format!("{text:?}: {reason} (or \"none\")"),
                    );
                    None
                }
            },
        };
        Metrics { listen }
    }

    /// `[logging]`.
    fn logging(&mut self, spec: &LoggingSpec) -> Logging {
        let d = Logging::default();
        let level = match &spec.level {
            None => d.level.clone(),
            Some(text) => match check_log_filter(text) {
                Ok(()) => text.trim().to_owned(),
                Err(reason) => {
                    self.problem("logging.level", format!("{text:?}: {reason}"));
                    d.level.clone()
                }
            },
        };
        Logging {
            format: self.word("logging.format", &spec.format, d.format),
            level,
            log_client_ip: self.word(
                "logging.log-client-ip",
                &spec.log_client_ip,
                d.log_client_ip,
            ),
            log_client_ipv4_prefix: self.int(
                "logging.log-client-ipv4-prefix",
                spec.log_client_ipv4_prefix,
                d.log_client_ipv4_prefix,
                0,
                32,
            ),
            log_client_ipv6_prefix: self.int(
                "logging.log-client-ipv6-prefix",
                spec.log_client_ipv6_prefix,
                d.log_client_ipv6_prefix,
                0,
                128,
            ),
            log_client_key_file: self
                .path("logging.log-client-key-file", &spec.log_client_key_file),
            log_client_key_rotate: self.positive_duration(
                "logging.log-client-key-rotate",
                &spec.log_client_key_rotate,
                d.log_client_key_rotate,
            ),
            query_log: spec.query_log.unwrap_or(d.query_log),
            rpz_log: match spec.rpz_log.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(word) if word.eq_ignore_ascii_case("syslog") => Some(RpzLog::Syslog),
                Some(_) => self
                    .path("logging.rpz-log", &spec.rpz_log)
                    .map(RpzLog::File),
            },
            rpz_log_format: self.word(
                "logging.rpz-log-format",
                &spec.rpz_log_format,
                d.rpz_log_format,
            ),
            syslog_socket: self
                .path("logging.syslog-socket", &spec.syslog_socket)
                .unwrap_or(d.syslog_socket),
            rotate_size: self.size("logging.rotate-size", &spec.rotate_size, d.rotate_size),
            rotate_keep: self.int(
                "logging.rotate-keep",
                spec.rotate_keep,
                d.rotate_keep,
                1,
                1000,
            ),
            rotate_interval: Some(self.duration(
                "logging.rotate-interval",
                &spec.rotate_interval,
                Duration::ZERO,
            ))
            .filter(|interval| !interval.is_zero()),
        }
    }

    /// `[dnstap]`.
    fn dnstap(&mut self, spec: &DnstapSpec) -> Dnstap {
        let d = Dnstap::default();
        let socket = self.path("dnstap.socket", &spec.socket);
        let address = match &spec.address {
            None => None,
            Some(text) => match parse_socket_addr(text, 0) {
                Ok(addr) if addr.port() != 0 => Some(addr),
                Ok(_) => {
                    self.problem("dnstap.address", format!("{text:?}: needs a port"));
                    None
                }
                Err(reason) => {
                    self.problem("dnstap.address", format!("{text:?}: {reason}"));
                    None
                }
            },
        };
        let destination = match (socket, address) {
            (Some(_), Some(_)) => {
                self.problem("dnstap", "both socket and address: name one collector");
                None
            }
            (Some(path), None) => Some(DnstapDestination::Unix(path)),
            (None, Some(addr)) => Some(DnstapDestination::Tcp(addr)),
            (None, None) => None,
        };
        let messages = match &spec.messages {
            None => d.messages,
            Some(words) => {
                let mut kinds = Vec::with_capacity(words.len());
                for (i, word) in words.iter().enumerate() {
                    match DnstapMessage::from_str(word.trim()) {
                        Ok(kind) if !kinds.contains(&kind) => kinds.push(kind),
                        Ok(_) => {}
                        Err(reason) => self.problem(
                            format!("dnstap.messages[{i}]"),
                            format!("{word:?}: {reason}"),
                        ),
                    }
                }
                kinds
            }
        };
        Dnstap {
            destination,
            messages,
        }
    }
}

/// Joins `path` onto `base` (an absolute `path` replaces it) and drops `.` components, so
/// `directory = "."` does not show up as `/etc/sekisho/./keys` in logs and messages. `..`
/// stays: removing it would be wrong across symbolic links.
fn join_clean(base: &Path, path: &str) -> PathBuf {
    let cleaned: PathBuf = base
        .join(path)
        .components()
        .filter(|part| !matches!(part, std::path::Component::CurDir))
        .collect();
    if cleaned.as_os_str().is_empty() {
        // `"."` relative to a config given as a bare file name: the working directory.
        PathBuf::from(".")
    } else {
        cleaned
    }
}

/// Shows a duration or size value as written: strings quoted, integers bare.
fn show(value: &Option<TextOrInt>) -> String {
    value.as_ref().map_or_else(String::new, ToString::to_string)
}

/// Shows a value as written, or the default duration when it was not written.
fn show_or(value: &Option<TextOrInt>, default: Duration) -> String {
    match value {
        Some(v) => v.to_string(),
        None => format!("default {}", humanize(default)),
    }
}

/// Formats a duration in the file's own syntax, largest exact unit first (`"1h30m"`).
pub(crate) fn humanize(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if millis >= size {
            out.push_str(&format!("{}{unit}", millis / size));
            millis %= size;
        }
    }
    out
}

/// The levels tracing knows, plus `off`.
const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];

/// Checks a tracing level or a comma-separated list of `EnvFilter` directives
/// (`info`, `sekisho=debug,hickory_proto=warn`, `warn,sekisho_resolver::cache=trace`).
///
/// Span and field filters (`target[span{field=value}]=level`) are not accepted here: they are
/// rarely what an operator wants in a config file and easy to get subtly wrong.
fn check_log_filter(text: &str) -> Result<(), String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!(
            "empty; expected a level: {}",
            crate::model::quote_words(LOG_LEVELS)
        ));
    }
    let is_level = |s: &str| LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s));
    let is_target = |s: &str| {
        !s.is_empty()
            && s.split("::").all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            })
    };
    for directive in text.split(',').map(str::trim) {
        if directive.contains('[') || directive.contains('{') {
            return Err(format!("span filters are not supported: `{directive}`"));
        }
        let ok = match directive.split_once('=') {
            Some((target, level)) => is_target(target.trim()) && is_level(level.trim()),
            // A bare target is valid EnvFilter syntax, but `inf` would then pass as a target;
            // requiring `target=level` catches such typos.
            None => is_level(directive),
        };
        if !ok {
            return Err(format!(
                "`{directive}` is not a level ({}) or a target=level directive",
                crate::model::quote_words(LOG_LEVELS)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filters_accept_levels_and_target_directives() {
        for ok in [
            "info",
            "DEBUG",
            "off",
            "sekisho=debug,hickory_proto=warn",
            "sekisho_resolver::cache=trace",
            "warn, sekisho=trace",
        ] {
            assert_eq!(check_log_filter(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn log_filters_reject_unknown_levels_spans_and_empty_text() {
        assert!(check_log_filter("verbose=1").is_err());
        assert!(check_log_filter("inf").is_err());
        assert!(check_log_filter("sekisho=loud").is_err());
        assert!(check_log_filter("sekisho[conn]=debug")
            .unwrap_err()
            .contains("span"));
        assert!(check_log_filter("").unwrap_err().contains("empty"));
        assert!(check_log_filter("info,,debug").is_err());
    }

    #[test]
    fn durations_are_shown_in_the_file_syntax() {
        assert_eq!(humanize(Duration::ZERO), "0s");
        assert_eq!(humanize(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(humanize(Duration::from_secs(5400)), "1h30m");
        assert_eq!(humanize(Duration::from_secs(86_400)), "1d");
    }
}
