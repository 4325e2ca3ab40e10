//! The validated runtime configuration: what the resolver reads.
//!
//! Every value here has been parsed, range-checked and defaulted; paths are absolute or
//! relative to the process's working directory exactly as they will be opened; per-zone
//! settings inherited from `[response-policy]` are already resolved. Defaults live in
//! [`defaults`] as named constants, and the `Default` impls use them, so
//! `Config::default()` is the configuration of an empty file.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};
use ipnet::IpNet;

use crate::secret::Secret;

/// Default values of every key, in one place. The embedded default file and
/// `docs/config.md` show the same values; a unit test checks that an empty file yields them.
pub mod defaults {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::time::Duration;

    use ipnet::{IpNet, Ipv4Net, Ipv6Net};

    /// `server.listen`: loopback on port 5300, so a first run needs no privileges and does
    /// not collide with a system resolver on 53.
    pub fn listen() -> Vec<SocketAddr> {
        vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5300),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5300),
        ]
    }

    /// `server.allow-query` and `server.allow-recursion`: loopback only (127.0.0.0/8, ::1),
    /// so a resolver started without thought is never an open resolver.
    pub fn loopback_acl() -> Vec<IpNet> {
        vec![
            IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
            IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
        ]
    }

    /// `server.directory` when a configuration file does not set it: systemd's
    /// `StateDirectory=sekisho`. [`crate::Config::embedded_default`] uses
    /// [`crate::default_runtime_dir`] instead.
    pub const DIRECTORY: &str = "/var/lib/sekisho";
    /// `server.edns-buffer-size`: 1232 bytes, the DNS Flag Day 2020 value that avoids IP
    /// fragmentation on almost every path.
    pub const EDNS_BUFFER_SIZE: u16 = 1232;
    /// Smallest accepted `server.edns-buffer-size` (RFC 6891 section 6.2.5).
    pub const EDNS_BUFFER_SIZE_MIN: u16 = 512;
    /// Largest accepted `server.edns-buffer-size`.
    pub const EDNS_BUFFER_SIZE_MAX: u16 = 4096;
    /// `server.tcp-idle-timeout` (RFC 7766 section 6.2.3 suggests seconds, not minutes).
    pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
    /// `server.tcp-max-connections`.
    pub const TCP_MAX_CONNECTIONS: usize = 1024;
    /// `server.tcp-max-pipelined`: in-flight queries per TCP connection.
    pub const TCP_MAX_PIPELINED: usize = 100;
    /// `server.query-timeout`: the overall deadline for answering a client.
    pub const QUERY_TIMEOUT: Duration = Duration::from_secs(4);
    /// `server.udp-workers`: 0 means one per CPU.
    pub const UDP_WORKERS: usize = 0;
    /// `server.threads`: 0 means one per CPU.
    pub const THREADS: usize = 0;
    /// Longest `server.identity` / `server.version`: one TXT character-string (RFC 1035
    /// section 3.3), so the CHAOS answer is a single string as BIND and Unbound send it.
    pub const CHAOS_TEXT_MAX: usize = 255;

    /// `server.recursive-clients` (BIND's default is 1000; an ISP resolver needs more,
    /// and each costs a task and at most one socket at a time).
    pub const RECURSIVE_CLIENTS: usize = 10_000;
    /// `server.clients-per-query` (BIND's default is 10 with an adaptive ceiling of 100).
    pub const CLIENTS_PER_QUERY: usize = 100;
    /// `server.fetches-per-zone` (BIND's default is 0, off; Unbound has no equivalent and
    /// relies on its query table).
    pub const FETCHES_PER_ZONE: usize = 200;
    /// `server.fetches-per-server` (BIND's default is 0, off).
    pub const FETCHES_PER_SERVER: usize = 400;
    /// `server.max-recursion-queries` (BIND 9.18: 100; PowerDNS `max-qperq`: 60).
    pub const MAX_RECURSION_QUERIES: u32 = 200;
    /// `server.max-ns-address-queries` (PowerDNS `max-ns-address-qperq`: 10).
    pub const MAX_NS_ADDRESS_QUERIES: u32 = 10;
    /// `server.tcp-clients-per-ip`.
    pub const TCP_CLIENTS_PER_IP: usize = 16;
    /// `server.tcp-write-timeout`: how long an answer may wait for the client to read.
    pub const TCP_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
    /// Port of a `server.listen-https` address when none is written.
    pub const HTTPS_PORT: u16 = 443;
    /// Port of a `server.listen-http` address when none is written.
    pub const HTTP_PORT: u16 = 80;
    /// `server.https-path`: the path RFC 8484's examples use (section 4.1.1).
    pub const HTTPS_PATH: &str = "/dns-query";
    /// `server.tls-handshake-timeout`: a TLS handshake is two round trips, so a few
    /// seconds are generous; a client that takes longer holds a connection slot for nothing.
    pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

    /// `rate-limit.ipv4-prefix-length` (Unbound groups by address; BIND RRL by /24).
    pub const RATE_LIMIT_IPV4_PREFIX: u8 = 24;
    /// `rate-limit.ipv6-prefix-length` (BIND RRL: /56).
    pub const RATE_LIMIT_IPV6_PREFIX: u8 = 56;
    /// `rate-limit.slip` (BIND RRL's default).
    pub const RATE_LIMIT_SLIP: u32 = 2;

    /// `cache.max-cache-size`: bytes of all caches together.
    pub const MAX_CACHE_SIZE: u64 = 2 << 30;
    /// `cache.stale-answer-ttl` (RFC 8767 suggests 30 seconds).
    pub const STALE_ANSWER_TTL: Duration = Duration::from_secs(30);

    /// `dnssec.max-validations-per-query` (PowerDNS `max-signature-validations-per-query`
    /// is 30).
    pub const MAX_VALIDATIONS_PER_QUERY: u32 = 32;
    /// `dnssec.max-nsec3-hashes-per-query` (PowerDNS
    /// `max-nsec3-hash-computations-per-query` is 600; 150 iterations is RFC 9276's ceiling
    /// for one hash).
    pub const MAX_NSEC3_HASHES_PER_QUERY: u32 = 150;
    /// `dnssec.bogus-ttl` (Unbound `val-bogus-ttl`).
    pub const BOGUS_TTL: Duration = Duration::from_secs(60);
    /// `dnssec.aggressive-nsec` (BIND `synth-from-dnssec`, Unbound `aggressive-nsec`):
    /// on, as BIND 9.18 ships it; see docs/config.md for why.
    pub const AGGRESSIVE_NSEC: bool = true;

    /// `cache.max-entries`.
    pub const CACHE_MAX_ENTRIES: usize = 1_000_000;
    /// `cache.min-ttl` (Unbound `cache-min-ttl`).
    pub const CACHE_MIN_TTL: Duration = Duration::ZERO;
    /// `cache.max-ttl` (Unbound `cache-max-ttl`, BIND `max-cache-ttl`): one day.
    pub const CACHE_MAX_TTL: Duration = Duration::from_secs(86_400);
    /// `cache.max-negative-ttl` (Unbound `cache-max-negative-ttl`, BIND `max-ncache-ttl`).
    pub const CACHE_MAX_NEGATIVE_TTL: Duration = Duration::from_secs(3600);
    /// `cache.servfail-ttl` (BIND `servfail-ttl`).
    pub const CACHE_SERVFAIL_TTL: Duration = Duration::from_secs(1);

    /// `forward-zone.timeout`: per attempt to one upstream.
    pub const FORWARD_TIMEOUT: Duration = Duration::from_millis(1500);
    /// Upstream port for plain DNS.
    pub const DNS_PORT: u16 = 53;
    /// Upstream port for DNS over TLS (RFC 7858).
    pub const DOT_PORT: u16 = 853;
    /// Upstream port for DNS over HTTPS (RFC 8484): the HTTPS port.
    pub const DOH_PORT: u16 = 443;
    /// URL path of a DNS over HTTPS upstream written without one (RFC 8484's example).
    pub const DOH_PATH: &str = "/dns-query";

    /// `health-check.check-interval`.
    pub const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(1);
    /// `health-check.failed-interval` (dnsdist `lazyHealthCheckFailedInterval`).
    pub const HEALTH_FAILED_INTERVAL: Duration = Duration::from_secs(30);
    /// `health-check.rise`.
    pub const HEALTH_RISE: u32 = 2;
    /// `health-check.max-failures` (dnsdist `maxCheckFailures`).
    pub const HEALTH_MAX_FAILURES: u32 = 3;
    /// `health-check.threshold`, percent.
    pub const HEALTH_THRESHOLD: u8 = 30;
    /// `health-check.sample-size`.
    pub const HEALTH_SAMPLE_SIZE: usize = 100;
    /// `health-check.min-sample-count`.
    pub const HEALTH_MIN_SAMPLE_COUNT: usize = 10;
    /// `health-check.check-name`.
    pub const HEALTH_CHECK_NAME: &str = "a.root-servers.net.";
    /// `health-check.check-timeout`.
    pub const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

    /// `response-policy.max-policy-ttl`: BIND's default of 5 seconds.
    pub const MAX_POLICY_TTL: Duration = Duration::from_secs(5);
    /// `response-policy.min-ns-dots`: BIND's default.
    pub const MIN_NS_DOTS: u8 = 1;
    /// `response-policy.zone.max-transfer-size`: 512 MiB.
    pub const MAX_TRANSFER_SIZE: u64 = 512 * 1024 * 1024;
    /// `response-policy.zone.journal-size`: the IXFR journal's bound in bytes (BIND's
    /// `max-journal-size` defaults to twice the zone; a fixed bound is easier to plan).
    pub const JOURNAL_SIZE: u64 = 16 * 1024 * 1024;
    /// `response-policy.zone.max-transfer-time` (BIND `max-transfer-time-in` is 2 hours;
    /// a policy feed that takes a minute is broken or hostile).
    pub const MAX_TRANSFER_TIME: Duration = Duration::from_secs(60);
    /// `response-policy.zone.min-refresh` (BIND `min-refresh-time`, 300 s there; policy feeds
    /// change faster than ordinary zones, so the floor is lower).
    pub const MIN_REFRESH: Duration = Duration::from_secs(60);
    /// `response-policy.zone.max-refresh` (BIND `max-refresh-time`, 4 weeks there; a block
    /// list not checked for a day is stale).
    pub const MAX_REFRESH: Duration = Duration::from_secs(86_400);

    /// `control.socket` when a configuration file does not set it: systemd's
    /// `RuntimeDirectory=sekisho`.
    pub const CONTROL_SOCKET: &str = "/run/sekisho/control.sock";
    /// Port of `metrics.listen` when only an address is written.
    pub const METRICS_PORT: u16 = 9153;
    /// `logging.level`.
    pub const LOG_LEVEL: &str = "info";
    /// `cache.save-file`, in the state directory.
    pub const CACHE_SAVE_FILE: &str = "cache.dump";
    /// `cache.save-max-age`: a day; answers older than that are mostly
    /// expired anyway, and an old dump is more likely a forgotten one.
    pub const CACHE_SAVE_MAX_AGE: Duration = Duration::from_secs(86_400);
    /// `logging.log-client-ipv4-prefix`: a /24 names a network, not a subscriber.
    pub const LOG_CLIENT_IPV4_PREFIX: u8 = 24;
    /// `logging.log-client-ipv6-prefix`: a /56 is one subscriber's delegation at most ISPs.
    pub const LOG_CLIENT_IPV6_PREFIX: u8 = 56;
    /// `logging.log-client-key-rotate`: one day.
    pub const LOG_CLIENT_KEY_ROTATE: Duration = Duration::from_secs(86_400);
    /// `logging.syslog-socket`.
    pub const SYSLOG_SOCKET: &str = "/dev/log";
    /// `logging.rotate-size`: 100 MiB.
    pub const ROTATE_SIZE: u64 = 100 * 1024 * 1024;
    /// `logging.rotate-keep`.
    pub const ROTATE_KEEP: usize = 10;
}

/// Declares an enum whose values are written as fixed words in the file, with `as_str`,
/// `FromStr` (case-insensitive, error lists the words) and `Display`.
macro_rules! word_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $word:literal ),+ $(,)? }
        default $default:ident;
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[doc = concat!("Written `\"", $word, "\"`.")]
                $variant,
            )+
        }

        impl $name {
            /// Every word accepted in the file, in declaration order.
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            /// The word written in the file for this value.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $( $name::$variant => $word, )+
                }
            }
        }

        impl FromStr for $name {
            type Err = String;

            /// Parses the file's word, ignoring case.
            fn from_str(text: &str) -> Result<Self, String> {
                $(
                    if text.eq_ignore_ascii_case($word) {
                        return Ok($name::$variant);
                    }
                )+
                Err(format!("expected one of {}", quote_words(Self::WORDS)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }
    };
}

/// `"a", "b" or "c"`, for error messages.
pub(crate) fn quote_words(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// The whole runtime configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// `[server]`: listeners, access lists, paths, transport limits.
    pub server: Server,
    /// `[cache]`: size and TTL clamps.
    pub cache: Cache,
    /// `[dnssec]`: validation mode, exceptions, trust anchor.
    pub dnssec: Dnssec,
    /// `[rate-limit]`: queries per second per client prefix.
    pub rate_limit: RateLimit,
    /// `[[forward-zone]]`: zones sent to upstream resolvers instead of recursed; the longest
    /// matching suffix wins. Empty means full recursion from the root.
    pub forward_zones: Vec<ForwardZone>,
    /// `[[key]]`: TSIG keys, referenced by name from policy zones.
    pub keys: Vec<Key>,
    /// `[response-policy]` and its `[[response-policy.zone]]`s.
    pub response_policy: ResponsePolicy,
    /// `[control]`: the `sekishoctl` socket.
    pub control: Control,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: Metrics,
    /// `[logging]`: log format, level and privacy.
    pub logging: Logging,
    /// `[dnstap]`: dnstap output.
    pub dnstap: Dnstap,
}

impl Config {
    /// The `[[key]]` with this name (compared as DNS names: case and a trailing dot do not
    /// matter), as referenced by [`PolicyZone::key`].
    pub fn key(&self, name: &str) -> Option<&Key> {
        let wanted = crate::values::parse_name(name).ok()?;
        self.keys.iter().find(|key| key.name == wanted)
    }
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Addresses to answer queries on, UDP and TCP (BIND `listen-on`, Unbound `interface`).
    pub listen: Vec<SocketAddr>,
    /// Clients that may query at all; others get REFUSED (BIND `allow-query`).
    pub allow_query: Vec<IpNet>,
    /// Clients that may get answers needing recursion or cache (BIND `allow-recursion`,
    /// Unbound `access-control: allow`).
    pub allow_recursion: Vec<IpNet>,
    /// State directory (transferred policy zones, persisted copies). Relative paths elsewhere
    /// in the file resolve against it (BIND `directory`).
    pub directory: PathBuf,
    /// Root hints file; `None` uses the built-in IANA hints (Unbound `root-hints`).
    pub root_hints: Option<PathBuf>,
    /// EDNS UDP payload size advertised and accepted, 512..=4096 (Unbound
    /// `edns-buffer-size`).
    pub edns_buffer_size: u16,
    /// Close a client TCP connection after this long without a query (Unbound
    /// `tcp-idle-timeout`).
    pub tcp_idle_timeout: Duration,
    /// Most client TCP connections open at once (BIND `tcp-clients`).
    pub tcp_max_connections: usize,
    /// Most queries in flight on one client TCP connection.
    pub tcp_max_pipelined: usize,
    /// Overall deadline for answering one client query; SERVFAIL after it.
    pub query_timeout: Duration,
    /// UDP sockets/workers (one `SO_REUSEPORT` socket each); 0 = one per CPU.
    pub udp_workers: usize,
    /// Runtime worker threads; 0 = one per CPU ([`Server::runtime_threads`]).
    pub threads: usize,
    /// Text of the CHAOS `hostname.bind` / `id.server` TXT answer; empty means the host
    /// name, read when the answer is set up (BIND `hostname`/`server-id`, Unbound `identity`).
    pub identity: String,
    /// Text of the CHAOS `version.bind` / `version.server` TXT answer; empty means
    /// `sekisho <version>` (BIND `version`, Unbound `version`).
    pub version: String,
    /// REFUSED for `hostname.bind` / `id.server` (Unbound `hide-identity`).
    pub hide_identity: bool,
    /// REFUSED for `version.bind` / `version.server` (Unbound `hide-version`).
    pub hide_version: bool,
    /// Most recursions in flight; past it the oldest waiting one is dropped (BIND
    /// `recursive-clients`, Unbound `num-queries-per-thread`).
    pub recursive_clients: usize,
    /// Most clients waiting on one identical fetch (BIND `clients-per-query`).
    pub clients_per_query: usize,
    /// Most fetches in flight to the servers of one zone; 0 = no limit (BIND
    /// `fetches-per-zone`).
    pub fetches_per_zone: usize,
    /// What a query refused by `fetches-per-zone` gets (BIND's `drop`/`fail`
    /// modifier of `fetches-per-zone`).
    pub fetches_per_zone_response: QuotaResponse,
    /// Most fetches in flight to one authoritative server; 0 = no limit (BIND
    /// `fetches-per-server`).
    pub fetches_per_server: usize,
    /// What a query refused by `fetches-per-server` gets (BIND's modifier of
    /// `fetches-per-server`; its default is `fail`).
    pub fetches_per_server_response: QuotaResponse,
    /// Most queries sent to authorities for one client query (BIND
    /// `max-recursion-queries`).
    pub max_recursion_queries: u32,
    /// Most name-server names of one referral whose addresses are looked up
    /// (PowerDNS `max-ns-address-qperq`; NXNSAttack, CVE-2020-12662).
    pub max_ns_address_queries: u32,
    /// Most TCP connections from one client address.
    pub tcp_clients_per_ip: usize,
    /// Close a TCP connection whose client has not taken an answer within this long.
    pub tcp_write_timeout: Duration,
    /// Addresses to answer DNS over TLS on (RFC 7858; port 853 when none is written).
    pub listen_tls: Vec<SocketAddr>,
    /// Addresses to answer DNS over HTTPS on (RFC 8484; port 443 when none is written).
    pub listen_https: Vec<SocketAddr>,
    /// Addresses to answer DNS over HTTP on, without TLS (HTTP/1.1 and h2c
    /// prior knowledge, on `https_path`), for a TLS-terminating proxy in
    /// front (port 80 when none is written).
    pub listen_http: Vec<SocketAddr>,
    /// The proxies in front of `listen_http`: only requests from these
    /// addresses have their `X-Forwarded-For` or `Forwarded: for=` header
    /// taken as the client address; empty = the headers are never trusted.
    pub http_proxy_from: Vec<IpNet>,
    /// The URL path DNS over HTTPS (and over HTTP) answers on.
    pub https_path: String,
    /// PEM certificate chain of the TLS listeners; set when `listen_tls` or
    /// `listen_https` is not empty. Re-read on reload.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the TLS listeners; set with `tls_cert_file`. Re-read on reload.
    pub tls_key_file: Option<PathBuf>,
    /// Close a TLS client connection whose handshake has not finished within this long.
    pub tls_handshake_timeout: Duration,
    /// Load balancers (dnsdist, HAProxy) whose UDP datagrams and TCP and DoT
    /// connections start with a PROXY protocol v2 header naming the client;
    /// empty = off.
    pub proxy_protocol_from: Vec<IpNet>,
}

impl Server {
    /// The runtime worker threads `threads` stands for: itself, or one per
    /// CPU for 0 (2 when the CPUs cannot be counted).
    pub fn runtime_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: defaults::listen(),
            allow_query: defaults::loopback_acl(),
            allow_recursion: defaults::loopback_acl(),
            directory: PathBuf::from(defaults::DIRECTORY),
            root_hints: None,
            edns_buffer_size: defaults::EDNS_BUFFER_SIZE,
            tcp_idle_timeout: defaults::TCP_IDLE_TIMEOUT,
            tcp_max_connections: defaults::TCP_MAX_CONNECTIONS,
            tcp_max_pipelined: defaults::TCP_MAX_PIPELINED,
            query_timeout: defaults::QUERY_TIMEOUT,
            udp_workers: defaults::UDP_WORKERS,
            threads: defaults::THREADS,
            identity: String::new(),
            version: String::new(),
            hide_identity: false,
            hide_version: false,
            recursive_clients: defaults::RECURSIVE_CLIENTS,
            clients_per_query: defaults::CLIENTS_PER_QUERY,
            fetches_per_zone: defaults::FETCHES_PER_ZONE,
            fetches_per_zone_response: QuotaResponse::default(),
            fetches_per_server: defaults::FETCHES_PER_SERVER,
            fetches_per_server_response: QuotaResponse::Fail,
            max_recursion_queries: defaults::MAX_RECURSION_QUERIES,
            max_ns_address_queries: defaults::MAX_NS_ADDRESS_QUERIES,
            tcp_clients_per_ip: defaults::TCP_CLIENTS_PER_IP,
            tcp_write_timeout: defaults::TCP_WRITE_TIMEOUT,
            listen_tls: Vec::new(),
            listen_https: Vec::new(),
            listen_http: Vec::new(),
            http_proxy_from: Vec::new(),
            https_path: defaults::HTTPS_PATH.to_string(),
            tls_cert_file: None,
            tls_key_file: None,
            tls_handshake_timeout: defaults::TLS_HANDSHAKE_TIMEOUT,
            proxy_protocol_from: Vec::new(),
        }
    }
}

/// `[cache]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    /// Most cached entries; the least recently used go first.
    pub max_entries: usize,
    /// TTLs below this are raised to it (Unbound `cache-min-ttl`).
    pub min_ttl: Duration,
    /// TTLs above this are lowered to it (BIND `max-cache-ttl`).
    pub max_ttl: Duration,
    /// Negative answers are kept at most this long (BIND `max-ncache-ttl`).
    pub max_negative_ttl: Duration,
    /// SERVFAIL answers are kept this long (BIND `servfail-ttl`); zero disables.
    pub servfail_ttl: Duration,
    /// Bytes all caches together may hold (BIND `max-cache-size`).
    pub max_cache_size: u64,
    /// Serve an expired answer when no authority answers (RFC 8767; BIND
    /// `stale-answer-enable`, Unbound `serve-expired`).
    pub stale_answer_enable: bool,
    /// TTL given to a stale answer (BIND `stale-answer-ttl`).
    pub stale_answer_ttl: Duration,
    /// Refresh a name asked for in the last tenth of its TTL (Unbound `prefetch`).
    pub prefetch: bool,
    /// Where the answer cache is saved on stop and read on start (a restart
    /// or an upgrade does not start cold); `None` = neither.
    pub save_file: Option<PathBuf>,
    /// A saved cache older than this is not read.
    pub save_max_age: Duration,
}

/// `[rate-limit]`: per client prefix (Unbound `ip-ratelimit`, dnsdist `MaxQPSIPRule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Queries a second one prefix may send; 0 = no limit.
    pub queries_per_second: u32,
    /// IPv4 clients are grouped by this prefix length.
    pub ipv4_prefix_length: u8,
    /// IPv6 clients are grouped by this prefix length.
    pub ipv6_prefix_length: u8,
    /// Every `slip`-th limited query gets a truncated (TC=1) answer, so a real client
    /// retries over TCP; the rest get nothing. 0 = all dropped (BIND RRL `slip`).
    pub slip: u32,
    /// Prefixes never limited.
    pub exempt: Vec<IpNet>,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            queries_per_second: 0,
            ipv4_prefix_length: defaults::RATE_LIMIT_IPV4_PREFIX,
            ipv6_prefix_length: defaults::RATE_LIMIT_IPV6_PREFIX,
            slip: defaults::RATE_LIMIT_SLIP,
            exempt: defaults::loopback_acl(),
        }
    }
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            max_entries: defaults::CACHE_MAX_ENTRIES,
            min_ttl: defaults::CACHE_MIN_TTL,
            max_ttl: defaults::CACHE_MAX_TTL,
            max_negative_ttl: defaults::CACHE_MAX_NEGATIVE_TTL,
            servfail_ttl: defaults::CACHE_SERVFAIL_TTL,
            max_cache_size: defaults::MAX_CACHE_SIZE,
            stale_answer_enable: true,
            stale_answer_ttl: defaults::STALE_ANSWER_TTL,
            prefetch: true,
            save_file: Some(Path::new(defaults::DIRECTORY).join(defaults::CACHE_SAVE_FILE)),
            save_max_age: defaults::CACHE_SAVE_MAX_AGE,
        }
    }
}

word_enum! {
    /// `server.fetches-per-zone-response` and `server.fetches-per-server-response`:
    /// what a client query refused by a fetch quota gets (BIND's modifier of
    /// `fetches-per-zone` and `fetches-per-server`).
    pub enum QuotaResponse {
        /// No answer at all, as BIND's default: a flood of random names under a
        /// slow zone gets nothing back, and costs no reply.
        Drop = "drop",
        /// SERVFAIL with EDE 0 ("fetch limit for zone NAME", "fetch limit
        /// for the servers of NAME"): BIND's default for `fetches-per-server`.
        Fail = "fail",
    }
    default Drop;
}

word_enum! {
    /// `dnssec.validation` (BIND `dnssec-validation`).
    pub enum Validation {
        /// Validate with the built-in root trust anchor (or `trust-anchor-file`).
        Auto = "auto",
        /// Validate with the anchor in `trust-anchor-file`, which is then required.
        Yes = "yes",
        /// Do not validate.
        No = "no",
    }
    default Auto;
}

/// `[dnssec]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dnssec {
    /// Validation mode.
    pub validation: Validation,
    /// Names at and below which answers are not validated (Unbound `domain-insecure`, BIND
    /// `validate-except`).
    pub domain_insecure: Vec<Name>,
    /// RFC 5011-style trust anchor file; `None` uses the built-in root anchor.
    pub trust_anchor_file: Option<PathBuf>,
    /// Most signature checks for one client query; past it SERVFAIL with EDE 0
    /// (PowerDNS `max-signature-validations-per-query`; KeyTrap, CVE-2023-50387).
    pub max_validations_per_query: u32,
    /// Most NSEC3 hash computations for one client query (PowerDNS
    /// `max-nsec3-hash-computations-per-query`; CVE-2023-50868).
    pub max_nsec3_hashes_per_query: u32,
    /// How long a bogus answer is cached (Unbound `val-bogus-ttl`).
    pub bogus_ttl: Duration,
    /// RFC 8198: answer NXDOMAIN and NODATA from validated NSEC/NSEC3 records
    /// already in the cache, without asking (Unbound `aggressive-nsec`, BIND
    /// `synth-from-dnssec`).
    pub aggressive_nsec: bool,
}

impl Default for Dnssec {
    fn default() -> Self {
        Dnssec {
            validation: Validation::default(),
            domain_insecure: Vec::new(),
            trust_anchor_file: None,
            max_validations_per_query: defaults::MAX_VALIDATIONS_PER_QUERY,
            max_nsec3_hashes_per_query: defaults::MAX_NSEC3_HASHES_PER_QUERY,
            bogus_ttl: defaults::BOGUS_TTL,
            aggressive_nsec: defaults::AGGRESSIVE_NSEC,
        }
    }
}

word_enum! {
    /// `forward-zone.selection`: how the next upstream is picked.
    pub enum Selection {
        /// The first healthy address in the order written (BIND `forward first` order).
        Ordered = "ordered",
        /// Healthy addresses in turn.
        RoundRobin = "round-robin",
        /// The healthy address with the fewest queries in flight.
        LeastOutstanding = "least-outstanding",
    }
    default Ordered;
}

/// One `[[forward-zone]]` (Unbound `forward-zone:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardZone {
    /// The zone, fully qualified; `.` forwards everything.
    pub name: Name,
    /// Upstream servers, at least one, with ports and TLS names resolved.
    pub forward_addr: Vec<UpstreamAddr>,
    /// DNS over TLS to the upstreams (Unbound `forward-tls-upstream`); default port 853.
    pub forward_tls_upstream: bool,
    /// Plain DNS over TCP only (Unbound `forward-tcp-upstream`); otherwise UDP, retried on
    /// TCP when truncated.
    pub forward_tcp_upstream: bool,
    /// PEM bundle of CAs for DoT; `None` uses the webpki (Mozilla) roots.
    pub tls_ca_file: Option<PathBuf>,
    /// Zone-wide TLS name, as written (without the trailing dot). Already copied into each
    /// [`UpstreamAddr::auth_name`] that had none.
    pub tls_auth_name: Option<String>,
    /// How the next upstream is picked.
    pub selection: Selection,
    /// Timeout of one attempt to one upstream.
    pub timeout: Duration,
    /// Upstream health checking.
    pub health_check: HealthCheck,
}

/// An upstream or primary server: address, port, optional TLS name and the transport the
/// entry names itself.
///
/// Displays as written in the configuration's canonical form: Unbound's `ip@port` or
/// `ip@port#name`, `tls://ip@port#name`, or `https://ip:port/path#name`. The display is also
/// the upstream's metric label, so the label shows the transport of an explicit entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpstreamAddr {
    /// The server's address.
    pub ip: IpAddr,
    /// The server's port (53, 853 under DoT or 443 under DoH, unless written).
    pub port: u16,
    /// Name the server's TLS certificate must carry; for DoT and DoH always set after
    /// validation.
    pub auth_name: Option<String>,
    /// The transport named by the entry itself; [`UpstreamScheme::Zone`] follows the zone's
    /// `forward-tls-upstream` and `forward-tcp-upstream`.
    pub scheme: UpstreamScheme,
}

/// The transport an upstream entry names by its scheme.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum UpstreamScheme {
    /// No scheme: the zone's `forward-tls-upstream` / `forward-tcp-upstream` decide, as in
    /// Unbound.
    #[default]
    Zone,
    /// `tls://`: DNS over TLS (RFC 7858) whatever the zone says.
    Tls,
    /// `https://`: DNS over HTTPS (RFC 8484), POSTed to `path`.
    Https {
        /// The URL path, starting with `/` (`/dns-query` unless written).
        path: String,
    },
}

impl UpstreamAddr {
    /// The address and port as one socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }
}

impl fmt::Display for UpstreamAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scheme {
            UpstreamScheme::Zone => write!(f, "{}@{}", self.ip, self.port)?,
            UpstreamScheme::Tls => write!(f, "tls://{}@{}", self.ip, self.port)?,
            UpstreamScheme::Https { path } => {
                write!(f, "https://{}{path}", self.socket_addr())?;
            }
        }
        if let Some(name) = &self.auth_name {
            write!(f, "#{name}")?;
        }
        Ok(())
    }
}

word_enum! {
    /// `health-check.mode` (dnsdist `healthCheckMode`).
    pub enum HealthMode {
        /// Judge upstreams by the outcome of real queries; probe only those marked down.
        Lazy = "lazy",
        /// Probe every upstream every `check-interval`.
        Active = "active",
        /// Never mark an upstream down.
        None = "none",
    }
    default Lazy;
}

word_enum! {
    /// `health-check.lazy-mode` (dnsdist `lazyHealthCheckMode`).
    pub enum LazyMode {
        /// Only timeouts count as failures.
        TimeoutOnly = "timeout-only",
        /// Timeouts and SERVFAIL answers count as failures.
        TimeoutOrServfail = "timeout-or-servfail",
    }
    default TimeoutOnly;
}

/// `forward-zone.health-check` (dnsdist vocabulary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// How health is judged.
    pub mode: HealthMode,
    /// Interval between probes in active mode.
    pub check_interval: Duration,
    /// Interval between probes of an upstream marked down (dnsdist
    /// `lazyHealthCheckFailedInterval`).
    pub failed_interval: Duration,
    /// Consecutive successful probes that mark an upstream up again.
    pub rise: u32,
    /// Consecutive failed probes that mark an upstream down (dnsdist `maxCheckFailures`).
    pub max_failures: u32,
    /// Lazy mode: failure percentage over the sample window that marks an upstream down,
    /// 1..=100.
    pub threshold: u8,
    /// Lazy mode: number of recent queries in the sample window.
    pub sample_size: usize,
    /// Lazy mode: fewest samples before the threshold applies; at most `sample_size`.
    pub min_sample_count: usize,
    /// Lazy mode: what counts as a failure.
    pub lazy_mode: LazyMode,
    /// Name queried by probes.
    pub check_name: Name,
    /// Type queried by probes.
    pub check_type: RecordType,
    /// Timeout of one probe.
    pub check_timeout: Duration,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            mode: HealthMode::default(),
            check_interval: defaults::HEALTH_CHECK_INTERVAL,
            failed_interval: defaults::HEALTH_FAILED_INTERVAL,
            rise: defaults::HEALTH_RISE,
            max_failures: defaults::HEALTH_MAX_FAILURES,
            threshold: defaults::HEALTH_THRESHOLD,
            sample_size: defaults::HEALTH_SAMPLE_SIZE,
            min_sample_count: defaults::HEALTH_MIN_SAMPLE_COUNT,
            lazy_mode: LazyMode::default(),
            check_name: health_check_name(),
            check_type: RecordType::A,
            check_timeout: defaults::HEALTH_CHECK_TIMEOUT,
        }
    }
}

/// [`defaults::HEALTH_CHECK_NAME`] as a [`Name`].
fn health_check_name() -> Name {
    // A literal, valid name: covered by `every_default_matches_the_documented_value`.
    #[allow(clippy::expect_used)]
    Name::from_ascii(defaults::HEALTH_CHECK_NAME).expect("the default check name is valid")
}

word_enum! {
    /// `key.algorithm`: the TSIG HMAC (RFC 8945 section 6).
    pub enum TsigAlgorithm {
        /// HMAC-SHA1; legacy, for old primaries only.
        HmacSha1 = "hmac-sha1",
        /// HMAC-SHA256, the mandatory-to-implement algorithm.
        HmacSha256 = "hmac-sha256",
        /// HMAC-SHA384.
        HmacSha384 = "hmac-sha384",
        /// HMAC-SHA512.
        HmacSha512 = "hmac-sha512",
    }
    default HmacSha256;
}

/// One `[[key]]`: a TSIG key (BIND `key` statement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The key's name, as both sides must spell it.
    pub name: Name,
    /// The HMAC algorithm.
    pub algorithm: TsigAlgorithm,
    /// Where the secret was read from; `None` when it was written inline.
    pub secret_file: Option<PathBuf>,
    /// The decoded secret. Prints as `<redacted>`.
    pub secret: Secret,
}

word_enum! {
    /// Extended DNS Error (RFC 8914) attached to answers rewritten by policy (BIND `ede`).
    pub enum Ede {
        /// No EDE option.
        Off = "off",
        /// INFO-CODE 15, Blocked: the operator's own block list.
        Blocked = "blocked",
        /// INFO-CODE 16, Censored: blocked because an external authority requires it.
        Censored = "censored",
        /// INFO-CODE 17, Filtered: blocked at the client's request (e.g. parental filter).
        Filtered = "filtered",
        /// INFO-CODE 18, Prohibited: the client may not use this resolver for this name.
        Prohibited = "prohibited",
    }
    default Blocked;
}

impl Ede {
    /// The RFC 8914 INFO-CODE, or `None` for [`Ede::Off`].
    pub fn info_code(&self) -> Option<u16> {
        match self {
            Ede::Off => None,
            Ede::Blocked => Some(15),
            Ede::Censored => Some(16),
            Ede::Filtered => Some(17),
            Ede::Prohibited => Some(18),
        }
    }
}

/// `[response-policy]`: global RPZ switches and the defaults every zone inherits (BIND
/// `response-policy { ... }` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsePolicy {
    /// Default TTL ceiling for rewritten answers (BIND `max-policy-ttl`).
    pub max_policy_ttl: Duration,
    /// Default: rewrite even answers that validated as secure (BIND `break-dnssec`).
    pub break_dnssec: bool,
    /// Answer SERVFAIL until every policy zone has loaded once (BIND
    /// `servfail-until-ready`).
    pub servfail_until_ready: bool,
    /// Default: apply policy only to queries with RD set (BIND `recursive-only`).
    pub recursive_only: bool,
    /// Resolve the query before applying QNAME rules, so no upstream learns which names are
    /// blocked from timing (BIND `qname-wait-recurse`).
    pub qname_wait_recurse: bool,
    /// Default: put the policy zone's SOA in the additional section of rewritten answers,
    /// as BIND's `add-soa` does, so clients can tell which list blocked them.
    pub add_soa: bool,
    /// Honour NSIP triggers (BIND `nsip-enable`).
    pub nsip_enable: bool,
    /// Honour NSDNAME triggers (BIND `nsdname-enable`).
    pub nsdname_enable: bool,
    /// NS-based triggers apply only to names with at least this many labels (BIND
    /// `min-ns-dots`).
    pub min_ns_dots: u8,
    /// Default Extended DNS Error on rewritten answers (BIND `ede`).
    pub ede: Ede,
    /// Policy zones in precedence order: the first zone with a matching rule wins.
    pub zones: Vec<PolicyZone>,
}

impl Default for ResponsePolicy {
    fn default() -> Self {
        ResponsePolicy {
            max_policy_ttl: defaults::MAX_POLICY_TTL,
            break_dnssec: false,
            servfail_until_ready: false,
            recursive_only: true,
            qname_wait_recurse: true,
            add_soa: true,
            nsip_enable: true,
            nsdname_enable: true,
            min_ns_dots: defaults::MIN_NS_DOTS,
            ede: Ede::default(),
            zones: Vec::new(),
        }
    }
}

/// `policy` of a policy zone: overrides the action of every rule in it (BIND `policy`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PolicyOverride {
    /// Use the action each rule gives (`"given"`).
    #[default]
    Given,
    /// Evaluate and log rules but do not act on them (`"disabled"`).
    Disabled,
    /// Answer as if no rule matched (`"passthru"`).
    Passthru,
    /// Send no answer at all (`"drop"`).
    Drop,
    /// Answer UDP queries with TC=1 so the client retries over TCP (`"tcp-only"`).
    TcpOnly,
    /// Answer NXDOMAIN (`"nxdomain"`).
    Nxdomain,
    /// Answer NOERROR with no data (`"nodata"`).
    Nodata,
    /// Answer with a CNAME to this name (`"cname warn.example.jp"`).
    Cname(Name),
}

impl PolicyOverride {
    /// The words accepted by `policy` (`cname` takes a name after it).
    pub const WORDS: &'static [&'static str] = &[
        "given",
        "disabled",
        "passthru",
        "drop",
        "tcp-only",
        "nxdomain",
        "nodata",
        "cname NAME",
    ];
}

impl fmt::Display for PolicyOverride {
    /// Formats as written in the file: `given`, ..., `cname warn.example.jp.`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyOverride::Given => f.write_str("given"),
            PolicyOverride::Disabled => f.write_str("disabled"),
            PolicyOverride::Passthru => f.write_str("passthru"),
            PolicyOverride::Drop => f.write_str("drop"),
            PolicyOverride::TcpOnly => f.write_str("tcp-only"),
            PolicyOverride::Nxdomain => f.write_str("nxdomain"),
            PolicyOverride::Nodata => f.write_str("nodata"),
            PolicyOverride::Cname(target) => write!(f, "cname {target}"),
        }
    }
}

impl FromStr for PolicyOverride {
    type Err = String;

    /// Parses `given`, ..., `nodata` (case-insensitive) or `cname NAME`.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut words = text.split_whitespace();
        let first = words.next().unwrap_or("").to_ascii_lowercase();
        let rest: Vec<&str> = words.collect();
        let simple = match first.as_str() {
            "given" => PolicyOverride::Given,
            "disabled" => PolicyOverride::Disabled,
            "passthru" => PolicyOverride::Passthru,
            "drop" => PolicyOverride::Drop,
            "tcp-only" => PolicyOverride::TcpOnly,
            "nxdomain" => PolicyOverride::Nxdomain,
            "nodata" => PolicyOverride::Nodata,
            "cname" => {
                return match rest.as_slice() {
                    [target] => crate::values::parse_name(target)
                        .map(PolicyOverride::Cname)
                        .map_err(|e| format!("cname target: {e}")),
                    [] => Err("`cname` needs a target name: \"cname warn.example.jp\"".into()),
                    _ => Err("`cname` takes exactly one target name".into()),
                }
            }
            _ => {
                return Err(format!(
                    "expected one of {}",
                    quote_words(PolicyOverride::WORDS)
                ))
            }
        };
        if rest.is_empty() {
            Ok(simple)
        } else {
            Err(format!("`{first}` takes no argument"))
        }
    }
}

word_enum! {
    /// `response-policy.zone.on-expire`: what a zone does once its SOA expire time passes
    /// without a successful refresh.
    pub enum ExpireAction {
        /// Keep enforcing the last copy: a stale block list beats none.
        Keep = "keep",
        /// Stop enforcing the zone until a transfer succeeds (BIND's behaviour for an
        /// expired secondary).
        Stop = "stop",
    }
    default Keep;
}

/// One `[[response-policy.zone]]` (BIND `response-policy { zone ...; }` plus its `zone`
/// statement). Inheritable settings hold the resolved value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyZone {
    /// The policy zone's name (as in its SOA), fully qualified.
    pub name: Name,
    /// Zone file: loaded at start-up and, with primaries, rewritten after each transfer.
    pub file: Option<PathBuf>,
    /// Primaries to transfer the zone from (BIND `primaries`), port 53 unless written.
    pub primaries: Vec<UpstreamAddr>,
    /// Name of the `[[key]]` signing transfers, as written; see [`Config::key`].
    pub key: Option<String>,
    /// Sources whose NOTIFY triggers a refresh; defaults to the primaries' addresses.
    /// The primaries may always notify, whatever this lists (BIND `allow-notify`).
    pub allow_notify: Vec<IpNet>,
    /// Action override for every rule in the zone.
    pub policy: PolicyOverride,
    /// Log a line for each rewrite by this zone (BIND `log`).
    pub log: bool,
    /// How this zone's hits show the client (default `logging.log-client-ip`).
    pub log_client_ip: ClientIpLog,
    /// TTL ceiling for answers rewritten by this zone.
    pub max_policy_ttl: Duration,
    /// Rewrite even DNSSEC-secure answers.
    pub break_dnssec: bool,
    /// Apply only to recursive (RD=1) queries.
    pub recursive_only: bool,
    /// Add this zone's SOA to rewritten answers.
    pub add_soa: bool,
    /// Extended DNS Error on answers rewritten by this zone.
    pub ede: Ede,
    /// Largest accepted transfer in bytes; bigger ones are aborted (BIND
    /// `max-records`-like guard, but by size).
    pub max_transfer_size: u64,
    /// Longest accepted transfer (BIND `max-transfer-time-in`).
    pub max_transfer_time: Duration,
    /// Floor of the SOA refresh interval (BIND `min-refresh-time`).
    pub min_refresh: Duration,
    /// Ceiling of the SOA refresh interval (BIND `max-refresh-time`).
    pub max_refresh: Duration,
    /// What happens once the zone expires.
    pub on_expire: ExpireAction,
    /// Primary role: sources allowed to transfer the zone (BIND `allow-transfer`).
    /// A transfer is allowed when its source is in this list or it is signed by a
    /// key in [`PolicyZone::allow_transfer_keys`]; both empty = nobody.
    pub allow_transfer: Vec<IpNet>,
    /// Primary role: names of the `[[key]]`s whose signed transfers are allowed from
    /// anywhere (`"key NAME"` entries of `allow-transfer`).
    pub allow_transfer_keys: Vec<Name>,
    /// Primary role: secondaries sent a NOTIFY on every change (BIND `also-notify`),
    /// signed with the zone's `key` when it has one.
    pub also_notify: Vec<SocketAddr>,
    /// Primary role: the IXFR journal keeps the differences between versions up to
    /// this many bytes (oldest dropped first; BIND `max-journal-size`).
    pub journal_size: u64,
    /// Primary role: sources allowed to change the zone by DNS UPDATE (RFC 2136;
    /// BIND `allow-update`). An UPDATE is allowed when its source is in this list or
    /// it is signed by a key in [`PolicyZone::allow_update_keys`]; both empty =
    /// nobody (BIND's default).
    pub allow_update: Vec<IpNet>,
    /// Primary role: names of the `[[key]]`s whose signed UPDATEs are allowed from
    /// anywhere (`"key NAME"` entries of `allow-update`).
    pub allow_update_keys: Vec<Name>,
}

impl PolicyZone {
    /// Whether Sekisho serves this zone to secondaries (primary role).
    pub fn is_served(&self) -> bool {
        !self.allow_transfer.is_empty()
            || !self.allow_transfer_keys.is_empty()
            || !self.also_notify.is_empty()
            || self.takes_updates()
    }

    /// Whether anyone may change this zone by DNS UPDATE.
    pub fn takes_updates(&self) -> bool {
        !self.allow_update.is_empty() || !self.allow_update_keys.is_empty()
    }
}

/// `[control]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// Unix socket `sekishoctl` connects to (Unbound `control-interface`).
    pub socket: PathBuf,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            socket: PathBuf::from(defaults::CONTROL_SOCKET),
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metrics {
    /// HTTP address of the Prometheus endpoint; `None` (the file says `"none"` or nothing)
    /// disables it.
    pub listen: Option<SocketAddr>,
}

word_enum! {
    /// `logging.format`.
    pub enum LogFormat {
        /// Human-readable lines.
        Text = "text",
        /// One JSON object per line.
        Json = "json",
    }
    default Text;
}

word_enum! {
    /// `logging.log-client-ip`: how much of a client's address goes into logs.
    pub enum ClientIpLog {
        /// Never log client addresses.
        None = "none",
        /// Log the network only: `log-client-ipv4-prefix` and `log-client-ipv6-prefix`
        /// bits (/24 and /56 by default).
        Masked = "masked",
        /// A pseudonym: HMAC-SHA256 of the address with a key that changes every
        /// `log-client-key-rotate`; one client can be followed within a period and
        /// identified only by whoever holds `log-client-key-file`.
        KeyedHash = "keyed-hash",
        /// Log full addresses.
        Full = "full",
    }
    default Masked;
}

word_enum! {
    /// `logging.rpz-log-format`: what one policy hit record looks like.
    pub enum RpzLogFormat {
        /// One JSON object per hit, one field per fact.
        Json = "json",
        /// BIND's `rpz` log line.
        Bind = "bind",
    }
    default Json;
}

/// `logging.rpz-log`: where policy hit records go besides the main log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpzLog {
    /// Appended to this file, rotated by size and time.
    File(PathBuf),
    /// Sent to syslog (RFC 5424) on `logging.syslog-socket`.
    Syslog,
}

word_enum! {
    /// `dnstap.messages`: which dnstap message types are written.
    pub enum DnstapMessage {
        /// A query as a client sent it.
        ClientQuery = "client-query",
        /// The answer sent to a client (with the policy hit, if any).
        ClientResponse = "client-response",
        /// A query sent to an authority while recursing.
        ResolverQuery = "resolver-query",
        /// An authority's answer.
        ResolverResponse = "resolver-response",
        /// A query sent to a forwarder.
        ForwarderQuery = "forwarder-query",
        /// A forwarder's answer.
        ForwarderResponse = "forwarder-response",
    }
    default ClientQuery;
}

/// `dnstap.socket` or `dnstap.address`: the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnstapDestination {
    /// A Unix stream socket (`fstrm_capture -u`, `dnstap-ldns -u`).
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
}

/// `[dnstap]`: dnstap output, off unless a collector is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dnstap {
    /// The collector; `None` = no dnstap.
    pub destination: Option<DnstapDestination>,
    /// The message types written.
    pub messages: Vec<DnstapMessage>,
}

impl Default for Dnstap {
    fn default() -> Self {
        Dnstap {
            destination: None,
            messages: vec![DnstapMessage::ClientQuery, DnstapMessage::ClientResponse],
        }
    }
}

/// `[logging]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logging {
    /// Line format.
    pub format: LogFormat,
    /// A tracing level (`trace`..`error`, `off`) or an `EnvFilter`-style list of
    /// `target=level` directives.
    pub level: String,
    /// How client addresses appear in logs, hit records, dnstap and `rpz top-clients`;
    /// policy zones may override it.
    pub log_client_ip: ClientIpLog,
    /// `masked`: the IPv4 prefix length kept.
    pub log_client_ipv4_prefix: u8,
    /// `masked`: the IPv6 prefix length kept.
    pub log_client_ipv6_prefix: u8,
    /// `keyed-hash`: the secret the period keys derive from; `None` = random per process
    /// (pseudonyms then cannot be traced back by anyone).
    pub log_client_key_file: Option<PathBuf>,
    /// `keyed-hash`: how long one key (and so one pseudonym per client) lasts.
    pub log_client_key_rotate: Duration,
    /// Log every query (switchable at run time with `sekishoctl querylog`).
    pub query_log: bool,
    /// Structured policy hit records; `None` = only the main log's line.
    pub rpz_log: Option<RpzLog>,
    /// Format of `rpz-log` records.
    pub rpz_log_format: RpzLogFormat,
    /// The syslog socket `rpz-log = "syslog"` writes to.
    pub syslog_socket: PathBuf,
    /// `rpz-log` file: rotated past this many bytes.
    pub rotate_size: u64,
    /// `rpz-log` file: rotated files kept (`FILE.1` .. `FILE.N`).
    pub rotate_keep: usize,
    /// `rpz-log` file: also rotated at multiples of this interval; `None` = by size only.
    pub rotate_interval: Option<Duration>,
}

impl Default for Logging {
    fn default() -> Self {
        Logging {
            format: LogFormat::default(),
            level: defaults::LOG_LEVEL.to_owned(),
            log_client_ip: ClientIpLog::default(),
            log_client_ipv4_prefix: defaults::LOG_CLIENT_IPV4_PREFIX,
            log_client_ipv6_prefix: defaults::LOG_CLIENT_IPV6_PREFIX,
            log_client_key_file: None,
            log_client_key_rotate: defaults::LOG_CLIENT_KEY_ROTATE,
            query_log: false,
            rpz_log: None,
            rpz_log_format: RpzLogFormat::default(),
            syslog_socket: PathBuf::from(defaults::SYSLOG_SOCKET),
            rotate_size: defaults::ROTATE_SIZE,
            rotate_keep: defaults::ROTATE_KEEP,
            rotate_interval: None,
        }
    }
}
