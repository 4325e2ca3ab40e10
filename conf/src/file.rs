//! The file format: serde structs that mirror the TOML text, one per table.
//!
//! These types only say which keys exist and roughly what shape their values have. Every
//! field is optional and every leaf with a syntax of its own (durations, addresses, names,
//! enum words) stays a raw string here; [`crate::validate`] turns a [`Spec`] into the runtime
//! [`Config`](crate::Config), applying defaults and collecting every problem with its key path.
//! Keeping the two apart means the runtime types never carry `Option`s that only mean "not
//! written", and a problem found in validation can name the key and the value as written.
//!
//! Every struct denies unknown fields, and none uses `#[serde(flatten)]`, which would silently
//! switch that off (a test adds `bogus-key` to every table of `full.toml` to prove it).
//!
//! The format is versioned by an optional top-level `version = 1`; a future incompatible
//! format gets a new number and its own module.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The whole configuration file.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct Spec {
    /// Format version; only 1 exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<i64>,
    /// `[server]`.
    pub(crate) server: ServerSpec,
    /// `[cache]`.
    pub(crate) cache: CacheSpec,
    /// `[dnssec]`.
    pub(crate) dnssec: DnssecSpec,
    /// `[rate-limit]`.
    pub(crate) rate_limit: RateLimitSpec,
    /// `[[forward-zone]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) forward_zone: Vec<ForwardZoneSpec>,
    /// `[[key]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) key: Vec<KeySpec>,
    /// `[response-policy]` and its `[[response-policy.zone]]`s.
    pub(crate) response_policy: ResponsePolicySpec,
    /// `[control]`.
    pub(crate) control: ControlSpec,
    /// `[metrics]`.
    pub(crate) metrics: MetricsSpec,
    /// `[logging]`.
    pub(crate) logging: LoggingSpec,
    /// `[dnstap]`.
    pub(crate) dnstap: DnstapSpec,
}

/// `[server]`: listeners, access lists, paths and transport limits.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct ServerSpec {
    /// Addresses to answer on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) listen: Option<Vec<String>>,
    /// Prefixes that may query at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) allow_query: Option<Vec<String>>,
    /// Prefixes that may get recursion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) allow_recursion: Option<Vec<String>>,
    /// State directory; base of relative paths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) directory: Option<String>,
    /// Root hints file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) root_hints: Option<String>,
    /// Advertised EDNS UDP payload size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) edns_buffer_size: Option<i64>,
    /// Idle TCP connection timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tcp_idle_timeout: Option<TextOrInt>,
    /// Concurrent TCP connection limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tcp_max_connections: Option<i64>,
    /// In-flight queries per TCP connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tcp_max_pipelined: Option<i64>,
    /// Overall client deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) query_timeout: Option<TextOrInt>,
    /// UDP worker count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) udp_workers: Option<i64>,
    /// Runtime worker threads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) threads: Option<i64>,
    /// Text of the hostname.bind / id.server answer ("" = the host name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) identity: Option<String>,
    /// Text of the version.bind / version.server answer ("" = "sekisho VERSION").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    /// REFUSED for hostname.bind / id.server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hide_identity: Option<bool>,
    /// REFUSED for version.bind / version.server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hide_version: Option<bool>,
    /// Recursions in flight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) recursive_clients: Option<i64>,
    /// Clients waiting on one identical fetch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) clients_per_query: Option<i64>,
    /// Fetches in flight to the servers of one zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fetches_per_zone: Option<i64>,
    /// What a query refused by `fetches-per-zone` gets: drop | fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fetches_per_zone_response: Option<String>,
    /// Fetches in flight to one server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fetches_per_server: Option<i64>,
    /// What a query refused by `fetches-per-server` gets: drop | fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fetches_per_server_response: Option<String>,
    /// Queries sent for one client query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_recursion_queries: Option<i64>,
    /// Name-server names of one referral whose addresses are looked up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_ns_address_queries: Option<i64>,
    /// TCP connections from one client address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tcp_clients_per_ip: Option<i64>,
    /// Longest wait for a client to take an answer off a TCP connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tcp_write_timeout: Option<TextOrInt>,
    /// Addresses to answer DNS over TLS on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) listen_tls: Option<Vec<String>>,
    /// Addresses to answer DNS over HTTPS on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) listen_https: Option<Vec<String>>,
    /// Addresses to answer DNS over HTTP (no TLS; behind a TLS-terminating proxy) on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) listen_http: Option<Vec<String>>,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers name the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) http_proxy_from: Option<Vec<String>>,
    /// The URL path of DNS over HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) https_path: Option<String>,
    /// PEM certificate chain of the TLS listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_cert_file: Option<String>,
    /// PEM private key of the TLS listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_key_file: Option<String>,
    /// Longest TLS handshake of a client connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_handshake_timeout: Option<TextOrInt>,
    /// Load balancers whose datagrams and connections start with a PROXY v2 header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) proxy_protocol_from: Option<Vec<String>>,
}

/// `[rate-limit]`: per client prefix.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct RateLimitSpec {
    /// Queries a second per prefix; 0 = off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) queries_per_second: Option<i64>,
    /// IPv4 prefix length clients are grouped by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ipv4_prefix_length: Option<i64>,
    /// IPv6 prefix length clients are grouped by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ipv6_prefix_length: Option<i64>,
    /// Every n-th limited reply is a TC=1 answer; 0 = drop all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) slip: Option<i64>,
    /// Prefixes never limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) exempt: Option<Vec<String>>,
}

/// `[cache]`: size and TTL clamps.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct CacheSpec {
    /// Entry limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_entries: Option<i64>,
    /// Lower TTL clamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) min_ttl: Option<TextOrInt>,
    /// Upper TTL clamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_ttl: Option<TextOrInt>,
    /// Upper clamp for negative answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_negative_ttl: Option<TextOrInt>,
    /// How long a SERVFAIL is cached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) servfail_ttl: Option<TextOrInt>,
    /// Bytes all caches together may hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_cache_size: Option<TextOrInt>,
    /// Serve expired answers while authorities fail (RFC 8767).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stale_answer_enable: Option<bool>,
    /// TTL of a stale answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stale_answer_ttl: Option<TextOrInt>,
    /// Refresh popular names before they expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) prefetch: Option<bool>,
    /// Cache dump written on stop, read on start (`""` = off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) save_file: Option<String>,
    /// Oldest dump read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) save_max_age: Option<TextOrInt>,
}

/// `[dnssec]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct DnssecSpec {
    /// `auto`, `yes` or `no`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) validation: Option<String>,
    /// Names below which no validation happens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) domain_insecure: Option<Vec<String>>,
    /// Trust anchor file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) trust_anchor_file: Option<String>,
    /// Signature checks for one client query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_validations_per_query: Option<i64>,
    /// NSEC3 hash computations for one client query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_nsec3_hashes_per_query: Option<i64>,
    /// How long a bogus answer is cached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bogus_ttl: Option<TextOrInt>,
    /// RFC 8198: answer from validated NSEC/NSEC3 records in the cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) aggressive_nsec: Option<bool>,
}

/// One `[[forward-zone]]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct ForwardZoneSpec {
    /// Zone name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// Upstream servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) forward_addr: Option<Vec<AddrSpec>>,
    /// DNS over TLS to the upstreams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) forward_tls_upstream: Option<bool>,
    /// TCP only to the upstreams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) forward_tcp_upstream: Option<bool>,
    /// PEM CA bundle for DoT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_ca_file: Option<String>,
    /// Zone-wide TLS name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_auth_name: Option<String>,
    /// Upstream selection policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) selection: Option<String>,
    /// Per-attempt timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) timeout: Option<TextOrInt>,
    /// Upstream health checking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) health_check: Option<HealthCheckSpec>,
}

/// `health-check` of a forward zone (dnsdist's words).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct HealthCheckSpec {
    /// `lazy`, `active` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mode: Option<String>,
    /// Interval between active checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) check_interval: Option<TextOrInt>,
    /// Interval between checks of a server marked down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) failed_interval: Option<TextOrInt>,
    /// Successes needed to mark a server up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rise: Option<i64>,
    /// Failures needed to mark a server down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_failures: Option<i64>,
    /// Lazy mode failure percentage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) threshold: Option<i64>,
    /// Lazy mode sample window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sample_size: Option<i64>,
    /// Lazy mode minimum samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) min_sample_count: Option<i64>,
    /// What counts as a failure in lazy mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) lazy_mode: Option<String>,
    /// Probe query name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) check_name: Option<String>,
    /// Probe query type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) check_type: Option<String>,
    /// Probe timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) check_timeout: Option<TextOrInt>,
}

/// One `[[key]]` (a TSIG key).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct KeySpec {
    /// Key name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// HMAC algorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) algorithm: Option<String>,
    /// File holding the base64 secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) secret_file: Option<String>,
    /// Inline base64 secret (tests only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) secret: Option<String>,
}

/// `[response-policy]`: defaults for every policy zone plus the zone list.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct ResponsePolicySpec {
    /// TTL ceiling for rewritten answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_policy_ttl: Option<TextOrInt>,
    /// Rewrite even DNSSEC-signed answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) break_dnssec: Option<bool>,
    /// SERVFAIL until every zone has loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) servfail_until_ready: Option<bool>,
    /// Apply policy only to recursive queries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) recursive_only: Option<bool>,
    /// Recurse before applying QNAME rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) qname_wait_recurse: Option<bool>,
    /// Add the policy zone's SOA to rewritten answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) add_soa: Option<bool>,
    /// Enable NSIP triggers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) nsip_enable: Option<bool>,
    /// Enable NSDNAME triggers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) nsdname_enable: Option<bool>,
    /// Minimum labels for NS triggers to apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) min_ns_dots: Option<i64>,
    /// Extended DNS Error on rewritten answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ede: Option<String>,
    /// `[[response-policy.zone]]`, in precedence order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) zone: Vec<PolicyZoneSpec>,
}

/// One `[[response-policy.zone]]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct PolicyZoneSpec {
    /// Zone name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// Zone file (seed and persisted copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) file: Option<String>,
    /// Primary servers to transfer from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) primaries: Option<Vec<AddrSpec>>,
    /// TSIG key name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) key: Option<String>,
    /// Sources of NOTIFY that are honoured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) allow_notify: Option<Vec<String>>,
    /// Policy override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) policy: Option<String>,
    /// Log hits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) log: Option<bool>,
    /// Per-zone client address policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) log_client_ip: Option<String>,
    /// Per-zone `max-policy-ttl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_policy_ttl: Option<TextOrInt>,
    /// Per-zone `break-dnssec`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) break_dnssec: Option<bool>,
    /// Per-zone `recursive-only`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) recursive_only: Option<bool>,
    /// Per-zone `add-soa`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) add_soa: Option<bool>,
    /// Per-zone `ede`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ede: Option<String>,
    /// Transfer size limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_transfer_size: Option<TextOrInt>,
    /// Transfer time limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_transfer_time: Option<TextOrInt>,
    /// Lower clamp of the SOA refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) min_refresh: Option<TextOrInt>,
    /// Upper clamp of the SOA refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_refresh: Option<TextOrInt>,
    /// What happens when the zone expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) on_expire: Option<String>,
    /// Primary role: who may transfer the zone (prefixes and `key NAME` entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) allow_transfer: Option<Vec<String>>,
    /// Primary role: secondaries sent a NOTIFY on every change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) also_notify: Option<Vec<AddrSpec>>,
    /// Primary role: bound of the IXFR journal in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) journal_size: Option<TextOrInt>,
    /// Primary role: who may change the zone by DNS UPDATE (prefixes and `key NAME`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) allow_update: Option<Vec<String>>,
}

/// `[control]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct ControlSpec {
    /// Control socket path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) socket: Option<String>,
}

/// `[metrics]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct MetricsSpec {
    /// HTTP address, or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) listen: Option<String>,
}

/// `[logging]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct LoggingSpec {
    /// `text` or `json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) format: Option<String>,
    /// tracing level or filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) level: Option<String>,
    /// `none`, `masked`, `keyed-hash` or `full`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) log_client_ip: Option<String>,
    /// `masked`: IPv4 bits kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) log_client_ipv4_prefix: Option<i64>,
    /// `masked`: IPv6 bits kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) log_client_ipv6_prefix: Option<i64>,
    /// `keyed-hash`: secret file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) log_client_key_file: Option<String>,
    /// `keyed-hash`: key period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) log_client_key_rotate: Option<TextOrInt>,
    /// Log every query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) query_log: Option<bool>,
    /// Hit records: a file path, `"syslog"` or `""` (off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rpz_log: Option<String>,
    /// `json` or `bind`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rpz_log_format: Option<String>,
    /// Syslog socket path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) syslog_socket: Option<String>,
    /// Rotation size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rotate_size: Option<TextOrInt>,
    /// Rotated files kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rotate_keep: Option<i64>,
    /// Rotation interval (`0` = off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rotate_interval: Option<TextOrInt>,
}

/// `[dnstap]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub(crate) struct DnstapSpec {
    /// Unix socket of the collector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) socket: Option<String>,
    /// TCP address of the collector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) address: Option<String>,
    /// Message types written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) messages: Option<Vec<String>>,
}

/// A value that may be written as a string with a unit (`"30s"`, `"512MiB"`) or as a bare
/// integer (seconds or bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TextOrInt {
    /// Written as a string.
    Text(String),
    /// Written as an integer.
    Int(i64),
}

impl fmt::Display for TextOrInt {
    /// Shows the value as written: strings quoted, integers bare.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextOrInt::Text(text) => write!(f, "{text:?}"),
            TextOrInt::Int(n) => write!(f, "{n}"),
        }
    }
}

impl<'de> Deserialize<'de> for TextOrInt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Accepts a string or an integer and nothing else.
        struct TextOrIntVisitor;

        impl Visitor<'_> for TextOrIntVisitor {
            type Value = TextOrInt;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string with a unit like \"30s\" or \"512MiB\", or an integer")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<TextOrInt, E> {
                Ok(TextOrInt::Text(v.to_owned()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TextOrInt, E> {
                Ok(TextOrInt::Int(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TextOrInt, E> {
                i64::try_from(v)
                    .map(TextOrInt::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
        }

        deserializer.deserialize_any(TextOrIntVisitor)
    }
}

impl Serialize for TextOrInt {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            TextOrInt::Text(text) => serializer.serialize_str(text),
            TextOrInt::Int(n) => serializer.serialize_i64(*n),
        }
    }
}

/// An upstream or primary address: the Unbound string form (`"192.0.2.1@853#dns.example"`)
/// or a table `{ address = "192.0.2.1", port = 853, auth-name = "dns.example" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AddrSpec {
    /// The string form.
    Text(String),
    /// The table form.
    Table(AddrTable),
}

/// The table form of an upstream address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct AddrTable {
    /// An IP address (no port, no name).
    pub(crate) address: String,
    /// The port; the zone's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) port: Option<i64>,
    /// The TLS authentication name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) auth_name: Option<String>,
}

impl<'de> Deserialize<'de> for AddrSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Accepts a string or a table; the table goes through [`AddrTable`]'s derive so it
        /// denies unknown keys like every other table.
        struct AddrVisitor;

        impl<'de> Visitor<'de> for AddrVisitor {
            type Value = AddrSpec;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an address string like \"192.0.2.1@853#dns.example\" or a table \
                     { address, port, auth-name }",
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<AddrSpec, E> {
                Ok(AddrSpec::Text(v.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AddrSpec, A::Error> {
                AddrTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(AddrSpec::Table)
            }
        }

        deserializer.deserialize_any(AddrVisitor)
    }
}

impl Serialize for AddrSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AddrSpec::Text(text) => serializer.serialize_str(text),
            AddrSpec::Table(table) => table.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_may_be_strings_or_integers() {
        let spec: CacheSpec = toml::from_str("min-ttl = 30\nmax-ttl = \"1d\"").unwrap();
        assert_eq!(spec.min_ttl, Some(TextOrInt::Int(30)));
        assert_eq!(spec.max_ttl, Some(TextOrInt::Text("1d".into())));
    }

    #[test]
    fn a_duration_of_the_wrong_type_says_what_was_expected() {
        let err = toml::from_str::<CacheSpec>("min-ttl = true").unwrap_err();
        assert!(err.message().contains("a string with a unit"), "{err}");
    }

    #[test]
    fn upstream_addresses_may_be_strings_or_tables() {
        let spec: ForwardZoneSpec = toml::from_str(
            "forward-addr = [\"192.0.2.1\", { address = \"192.0.2.2\", port = 853, auth-name = \"a.example\" }]",
        )
        .unwrap();
        let addrs = spec.forward_addr.unwrap();
        assert_eq!(addrs[0], AddrSpec::Text("192.0.2.1".into()));
        assert_eq!(
            addrs[1],
            AddrSpec::Table(AddrTable {
                address: "192.0.2.2".into(),
                port: Some(853),
                auth_name: Some("a.example".into()),
            })
        );
    }

    #[test]
    fn an_upstream_table_with_an_unknown_key_is_rejected() {
        let err = toml::from_str::<ForwardZoneSpec>(
            "forward-addr = [{ address = \"192.0.2.2\", bogus-key = 1 }]",
        )
        .unwrap_err();
        assert!(err.message().contains("bogus-key"), "{err}");
    }
}
