//! Tests of the whole pipeline, text to [`Config`]: defaults, every validation message,
//! path resolution, inheritance and redaction. Parser edge cases live next to the parsers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};
use ipnet::IpNet;

use super::*;

/// Parses `text` as if read from `/etc/sekisho/sekisho.toml`.
fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, Path::new("/etc/sekisho/sekisho.toml"))
}

/// Parses `text`, expecting failure, and returns the error's display.
fn fail(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("expected an error for\n{text}\ngot {config:#?}"),
        Err(err) => err.to_string(),
    }
}

/// Asserts that `text` fails with a line containing `expected`.
#[track_caller]
fn assert_fails_with(text: &str, expected: &str) {
    let err = fail(text);
    assert!(
        err.lines().any(|line| line.contains(expected)),
        "expected a line containing\n  {expected}\ngot\n{err}"
    );
}

/// A unique scratch directory for tests that need files; removed by the caller.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sekisho-conf-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

// ---- Defaults ---------------------------------------------------------------------------

#[test]
fn an_empty_file_yields_the_default_config() {
    assert_eq!(parse("").unwrap(), Config::default());
}

#[test]
fn every_default_matches_the_documented_value() {
    let c = parse("").unwrap();

    let s = &c.server;
    let listen: Vec<SocketAddr> = vec![
        "127.0.0.1:5300".parse().unwrap(),
        "[::1]:5300".parse().unwrap(),
    ];
    assert_eq!(s.listen, listen);
    assert_eq!(s.allow_query, nets(&["127.0.0.0/8", "::1/128"]));
    assert_eq!(s.allow_recursion, nets(&["127.0.0.0/8", "::1/128"]));
    assert_eq!(s.directory, PathBuf::from("/var/lib/sekisho"));
    assert_eq!(s.root_hints, None);
    assert_eq!(s.edns_buffer_size, 1232);
    assert_eq!(s.tcp_idle_timeout, Duration::from_secs(10));
    assert_eq!(s.tcp_max_connections, 1024);
    assert_eq!(s.tcp_max_pipelined, 100);
    assert_eq!(s.query_timeout, Duration::from_secs(4));
    assert_eq!(s.udp_workers, 0);
    assert_eq!(s.threads, 0);
    assert_eq!(s.identity, "");
    assert_eq!(s.version, "");
    assert!(!s.hide_identity);
    assert!(!s.hide_version);
    assert!(s.listen_tls.is_empty());
    assert!(s.listen_https.is_empty());
    assert_eq!(s.https_path, "/dns-query");
    assert_eq!(s.tls_cert_file, None);
    assert_eq!(s.tls_key_file, None);
    assert_eq!(s.tls_handshake_timeout, Duration::from_secs(5));
    assert!(s.proxy_protocol_from.is_empty(), "PROXY protocol off");

    let cache = &c.cache;
    assert_eq!(cache.max_entries, 1_000_000);
    assert_eq!(cache.min_ttl, Duration::ZERO);
    assert_eq!(cache.max_ttl, Duration::from_secs(86_400));
    assert_eq!(cache.max_negative_ttl, Duration::from_secs(3600));
    assert_eq!(cache.servfail_ttl, Duration::from_secs(1));

    assert_eq!(c.dnssec.validation, Validation::Auto);
    assert!(c.dnssec.domain_insecure.is_empty());
    assert_eq!(c.dnssec.trust_anchor_file, None);
    assert!(c.dnssec.aggressive_nsec, "RFC 8198 is on by default");

    assert!(c.forward_zones.is_empty());
    assert!(c.keys.is_empty());

    let rp = &c.response_policy;
    assert_eq!(rp.max_policy_ttl, Duration::from_secs(5));
    assert!(!rp.break_dnssec);
    assert!(!rp.servfail_until_ready);
    assert!(rp.recursive_only);
    assert!(rp.qname_wait_recurse);
    assert!(rp.add_soa);
    assert!(rp.nsip_enable);
    assert!(rp.nsdname_enable);
    assert_eq!(rp.min_ns_dots, 1);
    assert_eq!(rp.ede, Ede::Blocked);
    assert!(rp.zones.is_empty());

    assert_eq!(c.control.socket, PathBuf::from("/run/sekisho/control.sock"));
    assert_eq!(c.metrics.listen, None);
    assert_eq!(c.logging.format, LogFormat::Text);
    assert_eq!(c.logging.level, "info");
    assert_eq!(c.logging.log_client_ip, ClientIpLog::Masked);
    assert_eq!(c.logging.log_client_ipv4_prefix, 24);
    assert_eq!(c.logging.log_client_ipv6_prefix, 56);
    assert_eq!(c.logging.log_client_key_rotate, Duration::from_secs(86_400));
    assert_eq!(c.logging.rotate_size, 100 * 1024 * 1024);
    assert_eq!(c.logging.rotate_keep, 10);
    assert_eq!(c.logging.rpz_log_format, RpzLogFormat::Json);
    assert!(!c.logging.query_log);
}

#[test]
fn forward_zone_and_health_check_defaults_match_the_documented_values() {
    let c = parse("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]").unwrap();
    let z = &c.forward_zones[0];
    assert!(z.name.is_root());
    assert_eq!(z.forward_addr[0].port, 53);
    assert!(!z.forward_tls_upstream);
    assert!(!z.forward_tcp_upstream);
    assert_eq!(z.tls_ca_file, None);
    assert_eq!(z.tls_auth_name, None);
    assert_eq!(z.selection, Selection::Ordered);
    assert_eq!(z.timeout, Duration::from_millis(1500));

    let h = &z.health_check;
    assert_eq!(h.mode, HealthMode::Lazy);
    assert_eq!(h.check_interval, Duration::from_secs(1));
    assert_eq!(h.failed_interval, Duration::from_secs(30));
    assert_eq!(h.rise, 2);
    assert_eq!(h.max_failures, 3);
    assert_eq!(h.threshold, 30);
    assert_eq!(h.sample_size, 100);
    assert_eq!(h.min_sample_count, 10);
    assert_eq!(h.lazy_mode, LazyMode::TimeoutOnly);
    assert_eq!(h.check_name, name("a.root-servers.net."));
    assert_eq!(h.check_type, RecordType::A);
    assert_eq!(h.check_timeout, Duration::from_secs(1));
    // An empty health-check table gives the same defaults.
    let empty =
        parse("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nhealth-check = {}")
            .unwrap();
    assert_eq!(&empty.forward_zones[0].health_check, h);
}

#[test]
fn primary_role_keys_parse_prefixes_keys_and_notify_targets() {
    let c = parse(
        "[[key]]\nname = \"block-tsig-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"Zm9v\"\n\
         [[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nkey = \"block-tsig-key\"\n\
         allow-transfer = [\"192.0.2.0/24\", \"key block-tsig-key\"]\n\
         also-notify = [\"192.0.2.10\", \"192.0.2.11@5300\"]\njournal-size = \"1MiB\"",
    )
    .unwrap();
    let z = &c.response_policy.zones[0];
    assert_eq!(z.allow_transfer, nets(&["192.0.2.0/24"]));
    assert_eq!(z.allow_transfer_keys, vec![name("block-tsig-key.")]);
    assert_eq!(
        z.also_notify,
        vec![
            "192.0.2.10:53".parse().unwrap(),
            "192.0.2.11:5300".parse().unwrap()
        ]
    );
    assert_eq!(z.journal_size, 1024 * 1024);
    assert!(z.is_served());
    let plain = parse("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"").unwrap();
    assert!(
        !plain.response_policy.zones[0].is_served(),
        "nobody may transfer by default"
    );
    assert!(
        !plain.response_policy.zones[0].takes_updates(),
        "nobody may update by default"
    );
    let upd = parse(
        "[[key]]\nname = \"upd\"\nalgorithm = \"hmac-sha256\"\nsecret = \"Zm9v\"\n\
         [[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\n\
         allow-update = [\"key upd\", \"192.0.2.7\"]",
    )
    .unwrap();
    let z = &upd.response_policy.zones[0];
    assert_eq!(z.allow_update_keys, vec![name("upd.")]);
    assert_eq!(z.allow_update, nets(&["192.0.2.7/32"]));
    assert!(
        z.takes_updates() && z.is_served(),
        "a zone taken updates is served"
    );
}

#[test]
fn policy_zone_defaults_match_the_documented_values() {
    let c =
        parse("[[response-policy.zone]]\nname = \"block\"\nprimaries = [\"192.0.2.200\"]").unwrap();
    let z = &c.response_policy.zones[0];
    assert_eq!(z.name, name("block."));
    assert_eq!(z.file, None);
    assert_eq!(z.primaries[0].port, 53);
    assert_eq!(z.key, None);
    assert_eq!(
        z.allow_notify,
        nets(&["192.0.2.200/32"]),
        "defaults to the primaries"
    );
    assert_eq!(z.policy, PolicyOverride::Given);
    assert!(z.log);
    assert_eq!(z.max_policy_ttl, Duration::from_secs(5));
    assert!(!z.break_dnssec);
    assert!(z.recursive_only);
    assert!(z.add_soa);
    assert_eq!(z.ede, Ede::Blocked);
    assert_eq!(z.max_transfer_size, 512 * 1024 * 1024);
    assert_eq!(z.max_transfer_time, Duration::from_secs(60));
    assert_eq!(z.min_refresh, Duration::from_secs(60));
    assert_eq!(z.max_refresh, Duration::from_secs(86_400));
    assert_eq!(z.on_expire, ExpireAction::Keep);
}

#[test]
fn the_embedded_default_parses_and_uses_the_runtime_dir() {
    let config = Config::embedded_default();
    let runtime = default_runtime_dir();
    assert_eq!(config.server.directory, runtime);
    assert_eq!(config.control.socket, runtime.join("control.sock"));
    assert_eq!(
        config.metrics.listen,
        Some("127.0.0.1:9153".parse().unwrap())
    );
    assert_eq!(Config::EMBEDDED_DEFAULT_TOML, EMBEDDED_DEFAULT_TOML);
}

#[test]
fn the_embedded_default_differs_from_an_empty_file_only_in_paths_metrics_and_the_sample_policy() {
    let mut embedded = Config::embedded_default();
    let empty = Config::default();
    embedded.server.directory = empty.server.directory.clone();
    embedded.control.socket = empty.control.socket.clone();
    embedded.cache.save_file = empty.cache.save_file.clone();
    embedded.metrics.listen = None;
    embedded.response_policy.zones.clear();
    assert!(
        !embedded.response_policy.qname_wait_recurse,
        "the offline demo answers QNAME hits without resolving"
    );
    embedded.response_policy.qname_wait_recurse = true;
    assert_eq!(embedded, empty);
}

#[test]
fn the_embedded_default_enforces_the_sample_policy_zone_from_the_runtime_dir() {
    assert!(EMBEDDED_DEFAULT_TOML.contains("--- Sample policy zone"));
    assert!(EMBEDDED_DEFAULT_TOML.contains("--- End of the sample policy zone"));
    let config = Config::embedded_default();
    let zones = &config.response_policy.zones;
    assert_eq!(zones.len(), 1);
    assert_eq!(zones[0].name.to_ascii(), "rpz.sample.");
    assert_eq!(
        zones[0].file.as_deref(),
        Some(default_runtime_dir().join("sample.rpz").as_path())
    );
}

#[test]
fn the_runtime_dir_is_per_user() {
    let dir = default_runtime_dir();
    let last = dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(last == "sekisho" || last.starts_with("sekisho-"), "{dir:?}");
}

// ---- Error reporting ----------------------------------------------------------------------

#[test]
fn a_bad_upstream_port_names_the_path_and_the_value() {
    let err = fail(
        "[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\n\
         [[forward-zone]]\nname = \"example.jp\"\nforward-addr = [\"1.2.3.4@99999\"]",
    );
    assert_eq!(
        err,
        "/etc/sekisho/sekisho.toml: forward-zone[1].forward-addr[0]: \"1.2.3.4@99999\": port out of range"
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let err = parse("[server]\nedns-buffer-size = 1\nthreads = -1\n[cache]\nmax-entries = 0")
        .unwrap_err();
    let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "server.edns-buffer-size",
            "server.threads",
            "cache.max-entries"
        ]
    );
    assert_eq!(err.to_string().lines().count(), 3);
}

#[test]
fn an_unknown_key_is_reported_with_line_column_and_path() {
    let err = parse("[server]\nthreads = 2\nlisten-on = []\n").unwrap_err();
    let problem = &err.problems()[0];
    assert_eq!(problem.path, "server.listen-on");
    assert_eq!((problem.line, problem.column), (Some(3), Some(1)));
    assert!(err
        .to_string()
        .starts_with("/etc/sekisho/sekisho.toml:3:1: server.listen-on: unknown field `listen-on`"));
}

#[test]
fn an_unknown_top_level_table_is_rejected() {
    assert_fails_with(
        "[forward-zones]\nname = \".\"",
        "unknown field `forward-zones`",
    );
}

#[test]
fn a_wrong_value_type_is_reported_at_its_key() {
    assert_fails_with(
        "[cache]\nmin-ttl = true",
        "cache.min-ttl: invalid type: boolean `true`",
    );
    assert_fails_with(
        "[server]\nlisten = \"127.0.0.1\"",
        "server.listen: invalid type: string",
    );
}

#[test]
fn a_toml_syntax_error_keeps_its_line_and_column() {
    let err = parse("[server]\nthreads = \n").unwrap_err();
    let problem = &err.problems()[0];
    assert_eq!(problem.line, Some(2));
    assert!(problem.column.is_some());
}

#[test]
fn loading_a_missing_file_names_the_file() {
    let err = Config::load(Path::new("/nonexistent/sekisho.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/sekisho.toml: cannot read:"),
        "{err}"
    );
    assert_eq!(err.origin(), Path::new("/nonexistent/sekisho.toml"));
}

/// One row per validation rule: the text, and the line the error must contain.
const VALIDATION_CASES: &[(&str, &str)] = &[
    ("version = 2", "version: 2: unsupported format version"),
    ("[server]\nlisten = []", "server.listen: []: at least one address is needed"),
    ("[server]\nlisten = [\"::1\", \"[::1]:53\"]", "server.listen[1]: \"[::1]:53\": [::1]:53 is listed twice"),
    ("[server]\nlisten = [\"nope\"]", "server.listen[0]: \"nope\": `nope` is not an IP address"),
    ("[server]\nlisten-tls = [\"::1\", \"[::1]:853\"]\ntls-cert-file = \"c\"\ntls-key-file = \"k\"", "server.listen-tls[1]: \"[::1]:853\": [::1]:853 is listed twice"),
    ("[server]\nlisten-tls = [\"127.0.0.1\"]\ntls-key-file = \"k\"", "server.tls-cert-file: missing: listen-tls and listen-https need a certificate chain (PEM)"),
    ("[server]\nlisten-https = [\"127.0.0.1\"]\ntls-cert-file = \"c\"", "server.tls-key-file: missing: listen-tls and listen-https need a private key (PEM)"),
    ("[server]\nhttps-path = \"dns-query\"", "server.https-path: \"dns-query\": an absolute URL path is needed"),
    ("[server]\ntls-handshake-timeout = \"0s\"", "server.tls-handshake-timeout: \"0s\": must be longer than zero"),
    ("[server]\nproxy-protocol-from = [\"192.0.2.1/33\"]", "server.proxy-protocol-from[0]: \"192.0.2.1/33\": not an address or prefix"),
    ("[server]\nhttp-proxy-from = [\"127.0.0.1\", \"proxy\"]", "server.http-proxy-from[1]: \"proxy\": not an address or prefix"),
    ("[server]\nallow-query = [\"10.0.0.0/40\"]", "server.allow-query[0]: \"10.0.0.0/40\": not an address or prefix"),
    ("[server]\nallow-recursion = [\"10.0.0.1/8\"]", "server.allow-recursion[0]: \"10.0.0.1/8\": host bits set"),
    ("[server]\ndirectory = \"\"", "server.directory: \"\": empty path"),
    ("[server]\nroot-hints = \" \"", "server.root-hints: \" \": empty path"),
    ("[server]\nedns-buffer-size = 4097", "server.edns-buffer-size: 4097: must be between 512 and 4096"),
    ("[server]\ntcp-idle-timeout = \"0s\"", "server.tcp-idle-timeout: \"0s\": must be longer than zero"),
    ("[server]\ntcp-max-connections = 0", "server.tcp-max-connections: 0: must be between 1 and"),
    ("[server]\ntcp-max-pipelined = 0", "server.tcp-max-pipelined: 0: must be between 1 and 65535"),
    ("[server]\nquery-timeout = -4", "server.query-timeout: -4: durations cannot be negative"),
    ("[server]\nudp-workers = 5000", "server.udp-workers: 5000: must be between 0 and 1024"),
    ("[server]\nthreads = -1", "server.threads: -1: must be between 0 and 1024"),
    ("[cache]\nmax-entries = 0", "cache.max-entries: 0: must be between 1 and"),
    ("[cache]\nmin-ttl = \"1x\"", "cache.min-ttl: \"1x\": unknown unit `x`"),
    ("[cache]\nmax-ttl = 0", "cache.max-ttl: 0: must be longer than zero"),
    ("[cache]\nmax-negative-ttl = \"1.5h\"", "cache.max-negative-ttl: \"1.5h\": fractions are not accepted"),
    ("[cache]\nservfail-ttl = \"-1s\"", "cache.servfail-ttl: \"-1s\": durations cannot be negative"),
    ("[cache]\nmin-ttl = \"2d\"", "cache.min-ttl: \"2d\": larger than cache.max-ttl (default 1d)"),
    ("[dnssec]\nvalidation = \"maybe\"", "dnssec.validation: \"maybe\": expected one of \"auto\", \"yes\" or \"no\""),
    ("[dnssec]\nvalidation = \"yes\"", "dnssec.trust-anchor-file: missing: validation = \"yes\" needs a trust anchor file"),
    ("[dnssec]\ndomain-insecure = [\"a..b\"]", "dnssec.domain-insecure[0]: \"a..b\": invalid domain name"),
    ("[[forward-zone]]\nforward-addr = [\"192.0.2.1\"]", "forward-zone[0].name: missing"),
    ("[[forward-zone]]\nname = \".\"", "forward-zone[0].forward-addr: missing: at least one upstream address is needed"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = []", "forward-zone[0].forward-addr: []: at least one upstream address is needed"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\", \"192.0.2.1@53\"]", "forward-zone[0].forward-addr[1]: \"192.0.2.1@53\": listed twice"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [{ address = \"x\" }]", "forward-zone[0].forward-addr[0].address: \"x\": not an IP address"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [{ address = \"192.0.2.1\", port = 0 }]", "forward-zone[0].forward-addr[0].port: 0: port out of range"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [{ address = \"192.0.2.1\", auth-name = \"a b\" }]", "forward-zone[0].forward-addr[0].auth-name: \"a b\": invalid TLS authentication name"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\ntls-auth-name = \"\"", "forward-zone[0].tls-auth-name: \"\": empty TLS authentication name"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\ntls-ca-file = \"\"", "forward-zone[0].tls-ca-file: \"\": empty path"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nforward-tls-upstream = true", "forward-zone[0].forward-addr[0]: \"192.0.2.1@853\": DNS over TLS needs the server's certificate name"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"https://dns.example.net/dns-query\"]", "forward-zone[0].forward-addr[0]: \"https://dns.example.net/dns-query\": `dns.example.net` is not an IP address: Sekisho does not resolve the names of its own upstreams; write the address and put the name after `#`, e.g. \"https://192.0.2.9/dns-query#dns.example.net\""),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"https://dns.example.net:8443/dns-query#dns.example.net\"]", "forward-zone[0].forward-addr[0]: \"https://dns.example.net:8443/dns-query#dns.example.net\": `dns.example.net:8443` is not an IP address"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"https://192.0.2.9/dns-query\"]", "forward-zone[0].forward-addr[0]: \"https://192.0.2.9:443/dns-query\": DNS over HTTPS needs the server's certificate name: write \"https://192.0.2.9:443/dns-query#dns.example\" or set tls-auth-name"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"tls://192.0.2.9\"]", "forward-zone[0].forward-addr[0]: \"tls://192.0.2.9@853\": DNS over TLS needs the server's certificate name"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"https://192.0.2.9/dns-query?dns=x#d.example\"]", "forward-zone[0].forward-addr[0]: \"https://192.0.2.9/dns-query?dns=x#d.example\": a query string is not used: queries are sent with POST"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"https://192.0.2.9:0/dns-query#d.example\"]", "forward-zone[0].forward-addr[0]: \"https://192.0.2.9:0/dns-query#d.example\": port 0 is not a valid upstream port"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"https:///dns-query#d.example\"]", "forward-zone[0].forward-addr[0]: \"https:///dns-query#d.example\": no host in the URL"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"quic://192.0.2.9#d.example\"]", "forward-zone[0].forward-addr[0]: \"quic://192.0.2.9#d.example\": unknown scheme"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"https://192.0.2.9/q#d.example\", \"https://192.0.2.9:443/q#d.example\"]", "forward-zone[0].forward-addr[1]: \"https://192.0.2.9:443/q#d.example\": listed twice"),
    ("[[response-policy.zone]]\nname = \"block\"\nprimaries = [\"https://192.0.2.1/dns-query#d.example\"]", "response-policy.zone[0].primaries[0]: \"https://192.0.2.1:443/dns-query#d.example\": transfers run over plain DNS"),
    ("[[response-policy.zone]]\nname = \"block\"\nalso-notify = [\"tls://192.0.2.1#d.example\"]", "response-policy.zone[0].also-notify[0]: \"tls://192.0.2.1@853#d.example\": NOTIFY run over plain DNS"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nselection = \"fastest\"", "forward-zone[0].selection: \"fastest\": expected one of"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\ntimeout = \"0ms\"", "forward-zone[0].timeout: \"0ms\": must be longer than zero"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\n[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.2\"]", "forward-zone[1].name: \".\": already used by forward-zone[0]"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nhealth-check = { mode = \"passive\" }", "forward-zone[0].health-check.mode: \"passive\": expected one of \"lazy\", \"active\" or \"none\""),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nhealth-check = { check-interval = \"0s\" }", "forward-zone[0].health-check.check-interval: \"0s\": must be longer than zero"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nhealth-check = { failed-interval = \"x\" }", "forward-zone[0].health-check.failed-interval: \"x\": expected a number"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nhealth-check = { rise = 0 }", "forward-zone[0].health-check.rise: 0: must be between 1 and 1000"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nhealth-check = { max-failures = 0 }", "forward-zone[0].health-check.max-failures: 0: must be between 1 and 1000"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nhealth-check = { threshold = 101 }", "forward-zone[0].health-check.threshold: 101: must be between 1 and 100"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nhealth-check = { sample-size = 0 }", "forward-zone[0].health-check.sample-size: 0: must be between 1 and"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nhealth-check = { min-sample-count = 101 }", "forward-zone[0].health-check.min-sample-count: 101: larger than sample-size (100)"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nhealth-check = { lazy-mode = \"servfail\" }", "forward-zone[0].health-check.lazy-mode: \"servfail\": expected one of"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nhealth-check = { check-name = \"\" }", "forward-zone[0].health-check.check-name: \"\": empty domain name"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nhealth-check = { check-type = \"BOGUS\" }", "forward-zone[0].health-check.check-type: \"BOGUS\": not a record type"),
    ("[[forward-zone]]\nname = \".\"\nforward-addr = [\"192.0.2.1\"]\nhealth-check = { check-timeout = 0 }", "forward-zone[0].health-check.check-timeout: 0: must be longer than zero"),
    ("[[key]]\nalgorithm = \"hmac-sha256\"\nsecret = \"Zm9v\"", "key[0].name: missing: every key needs a name"),
    ("[[key]]\nname = \"k\"\nsecret = \"Zm9v\"", "key[0].algorithm: missing"),
    ("[[key]]\nname = \"k\"\nalgorithm = \"hmac-md5\"\nsecret = \"Zm9v\"", "key[0].algorithm: \"hmac-md5\": expected one of \"hmac-sha1\", \"hmac-sha256\", \"hmac-sha384\" or \"hmac-sha512\""),
    ("[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"", "key[0].secret-file: missing"),
    ("[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"Zm9v\"\nsecret-file = \"k.key\"", "key[0].secret: <redacted>: give either secret-file or secret, not both"),
    ("[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"not base64!\"", "key[0].secret: <redacted>: not valid base64"),
    ("[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret-file = \"/nonexistent/k.key\"", "key[0].secret-file: \"/nonexistent/k.key\": cannot read:"),
    ("[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"Zm9v\"\n[[key]]\nname = \"K.\"\nalgorithm = \"hmac-sha256\"\nsecret = \"Zm9v\"", "key[1].name: \"k.\": already used by key[0]"),
    ("[response-policy]\nmax-policy-ttl = \"5 min\"", "response-policy.max-policy-ttl: \"5 min\": expected a number"),
    ("[response-policy]\nmin-ns-dots = 200", "response-policy.min-ns-dots: 200: must be between 0 and 127"),
    ("[response-policy]\nede = \"forged\"", "response-policy.ede: \"forged\": expected one of \"off\", \"blocked\", \"censored\", \"filtered\" or \"prohibited\""),
    ("[[response-policy.zone]]\nfile = \"a.rpz\"", "response-policy.zone[0].name: missing"),
    ("[[response-policy.zone]]\nname = \"block\"", "response-policy.zone[0]: neither file nor primaries"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"\"", "response-policy.zone[0].file: \"\": empty path"),
    ("[[response-policy.zone]]\nname = \"block\"\nprimaries = [\"192.0.2.1@0\"]", "response-policy.zone[0].primaries[0]: \"192.0.2.1@0\": port 0 is not a valid upstream port"),
    ("[[response-policy.zone]]\nname = \"block\"\nprimaries = [\"192.0.2.1#tls.example\"]", "response-policy.zone[0].primaries[0]: \"192.0.2.1@53#tls.example\": a TLS name is not used for transfers"),
    ("[[response-policy.zone]]\nname = \"block\"\nprimaries = [\"192.0.2.1\"]\nkey = \"missing\"", "response-policy.zone[0].key: \"missing\": no [[key]] has this name"),
    ("[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"Zm9v\"\n[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nkey = \"k\"", "response-policy.zone[0].key: \"k\": a key signs transfers and NOTIFYs, but this zone has neither primaries nor also-notify"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nallow-transfer = [\"key nokey\"]", "response-policy.zone[0].allow-transfer[0]: \"key nokey\": no [[key]] has this name"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nallow-transfer = [\"everyone\"]", "response-policy.zone[0].allow-transfer[0]: \"everyone\": not an address or prefix"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nalso-notify = [\"192.0.2.1@0\"]", "response-policy.zone[0].also-notify[0]: \"192.0.2.1@0\": port 0"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nallow-update = [\"key nokey\"]", "response-policy.zone[0].allow-update[0]: \"key nokey\": no [[key]] has this name"),
    ("[[response-policy.zone]]\nname = \"block\"\nprimaries = [\"192.0.2.1\"]\nfile = \"b.rpz\"\nallow-update = [\"192.0.2.9\"]", "response-policy.zone[0].allow-update: a zone taken from primaries cannot be changed by UPDATE here"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\njournal-size = 0", "response-policy.zone[0].journal-size: 0: must be more than zero"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nallow-notify = [\"x\"]", "response-policy.zone[0].allow-notify[0]: \"x\": not an address or prefix"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\npolicy = \"deny\"", "response-policy.zone[0].policy: \"deny\": expected one of \"given\""),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\npolicy = \"nxdomain now\"", "response-policy.zone[0].policy: \"nxdomain now\": `nxdomain` takes no argument"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\npolicy = \"cname a b\"", "response-policy.zone[0].policy: \"cname a b\": `cname` takes exactly one target name"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nmax-policy-ttl = \"1y\"", "response-policy.zone[0].max-policy-ttl: \"1y\": unknown unit `y`"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nede = \"loud\"", "response-policy.zone[0].ede: \"loud\": expected one of"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nmax-transfer-size = \"0\"", "response-policy.zone[0].max-transfer-size: \"0\": must be more than zero"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nmax-transfer-size = -1", "response-policy.zone[0].max-transfer-size: -1: sizes cannot be negative"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nmax-transfer-time = 0", "response-policy.zone[0].max-transfer-time: 0: must be longer than zero"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nmin-refresh = \"2d\"", "response-policy.zone[0].min-refresh: \"2d\": longer than max-refresh (default 1d)"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nmax-refresh = \"0s\"", "response-policy.zone[0].max-refresh: \"0s\": must be longer than zero"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\non-expire = \"drop\"", "response-policy.zone[0].on-expire: \"drop\": expected one of \"keep\" or \"stop\""),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\n[[response-policy.zone]]\nname = \"BLOCK.\"\nfile = \"c.rpz\"", "response-policy.zone[1].name: \"block.\": already used by response-policy.zone[0]"),
    ("[server]\nidentity = \"a\\nb\"", "server.identity: \"a\\nb\": control characters are not allowed"),
    ("[server]\nversion = \"1.0\\t(beta)\"", "server.version: \"1.0\\t(beta)\": control characters are not allowed"),
    ("[control]\nsocket = \"\"", "control.socket: \"\": empty path"),
    ("[metrics]\nlisten = \"127.0.0.1:99999\"", "metrics.listen: \"127.0.0.1:99999\": port out of range"),
    ("[logging]\nformat = \"xml\"", "logging.format: \"xml\": expected one of \"text\" or \"json\""),
    ("[logging]\nlevel = \"loud\"", "logging.level: \"loud\": `loud` is not a level"),
    ("[logging]\nlog-client-ip = \"partial\"", "logging.log-client-ip: \"partial\": expected one of \"none\", \"masked\", \"keyed-hash\" or \"full\""),
    ("[logging]\nlog-client-ipv4-prefix = 33", "logging.log-client-ipv4-prefix: 33: must be between 0 and 32"),
    ("[logging]\nlog-client-ipv6-prefix = -1", "logging.log-client-ipv6-prefix: -1: must be between 0 and 128"),
    ("[logging]\nlog-client-key-rotate = \"0s\"", "logging.log-client-key-rotate: \"0s\": must be longer than zero"),
    ("[logging]\nrpz-log-format = \"csv\"", "logging.rpz-log-format: \"csv\": expected one of \"json\" or \"bind\""),
    ("[logging]\nrotate-size = 0", "logging.rotate-size: 0: must be more than zero"),
    ("[logging]\nrotate-keep = 0", "logging.rotate-keep: 0: must be between 1 and 1000"),
    ("[logging]\nrotate-interval = \"1y\"", "logging.rotate-interval: \"1y\": unknown unit `y`"),
    ("[dnstap]\nsocket = \"/run/t.sock\"\naddress = \"127.0.0.1:6000\"", "dnstap: both socket and address: name one collector"),
    ("[dnstap]\naddress = \"127.0.0.1\"", "dnstap.address: \"127.0.0.1\": needs a port"),
    ("[dnstap]\nmessages = [\"client-query\", \"auth-query\"]", "dnstap.messages[1]: \"auth-query\": expected one of"),
    ("[[response-policy.zone]]\nname = \"block\"\nfile = \"b.rpz\"\nlog-client-ip = \"hashed\"", "response-policy.zone[0].log-client-ip: \"hashed\": expected one of"),
];

#[test]
fn hit_output_keys_parse_and_zones_inherit_the_client_address_policy() {
    let c = parse(
        "[logging]\nlog-client-ip = \"keyed-hash\"\nlog-client-ipv4-prefix = 16\nlog-client-key-file = \"keys/hit.key\"\n\
         log-client-key-rotate = \"6h\"\nrpz-log = \"log/rpz.jsonl\"\nrotate-size = \"1MiB\"\nrotate-keep = 3\nrotate-interval = \"1d\"\n\
         [dnstap]\naddress = \"127.0.0.1:6000\"\nmessages = [\"client-response\", \"resolver-query\"]\n\
         [[response-policy.zone]]\nname = \"abuse\"\nfile = \"a.rpz\"\nlog-client-ip = \"none\"\n\
         [[response-policy.zone]]\nname = \"malware\"\nfile = \"m.rpz\"\n",
    )
    .unwrap();
    let l = &c.logging;
    assert_eq!(l.log_client_ip, ClientIpLog::KeyedHash);
    assert_eq!(
        (l.log_client_ipv4_prefix, l.log_client_ipv6_prefix),
        (16, 56)
    );
    assert!(l
        .log_client_key_file
        .as_ref()
        .unwrap()
        .ends_with("keys/hit.key"));
    assert_eq!(l.log_client_key_rotate, Duration::from_secs(6 * 3600));
    match &l.rpz_log {
        Some(RpzLog::File(path)) => assert!(path.ends_with("log/rpz.jsonl"), "{path:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!((l.rotate_size, l.rotate_keep), (1 << 20, 3));
    assert_eq!(l.rotate_interval, Some(Duration::from_secs(86_400)));
    assert_eq!(
        c.dnstap.destination,
        Some(DnstapDestination::Tcp("127.0.0.1:6000".parse().unwrap()))
    );
    assert_eq!(
        c.dnstap.messages,
        [DnstapMessage::ClientResponse, DnstapMessage::ResolverQuery]
    );
    let zones = &c.response_policy.zones;
    assert_eq!(zones[0].log_client_ip, ClientIpLog::None);
    assert_eq!(zones[1].log_client_ip, ClientIpLog::KeyedHash, "inherited");
    let syslog = parse("[logging]\nrpz-log = \"syslog\"").unwrap();
    assert_eq!(syslog.logging.rpz_log, Some(RpzLog::Syslog));
    let d = parse("").unwrap();
    assert_eq!(d.logging.rpz_log, None);
    assert_eq!(d.dnstap.destination, None);
    assert_eq!(d.logging.rotate_interval, None);
}

#[test]
fn each_validation_error_names_the_key_path_and_the_value() {
    for (text, expected) in VALIDATION_CASES {
        let err = fail(text);
        assert!(
            err.lines().any(|line| line.contains(expected)),
            "for\n{text}\nexpected a line containing\n  {expected}\ngot\n{err}"
        );
        // Every line carries the file name and a key path.
        for line in err.lines() {
            assert!(line.starts_with("/etc/sekisho/sekisho.toml: "), "{line}");
        }
    }
}

// ---- Secrets ------------------------------------------------------------------------------

#[test]
fn a_secret_never_appears_in_the_debug_output_of_the_config() {
    // "c2VjcmV0LXNhdWNl" is base64 for "secret-sauce".
    let config =
        parse("[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0LXNhdWNl\"")
            .unwrap();
    assert_eq!(config.keys[0].secret.as_bytes(), b"secret-sauce");
    for shown in [format!("{config:?}"), format!("{config:#?}")] {
        assert!(!shown.contains("secret-sauce"), "{shown}");
        assert!(!shown.contains("c2VjcmV0LXNhdWNl"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}

#[test]
fn a_zone_naming_an_invalid_key_reports_only_the_key() {
    let err = parse(
        "[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"!!\"\n\
         [[response-policy.zone]]\nname = \"block\"\nprimaries = [\"192.0.2.1\"]\nkey = \"k\"",
    )
    .unwrap_err();
    let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["key[0].secret"]);
}

#[test]
fn a_bad_inline_secret_is_not_echoed_in_the_error() {
    let err = fail("[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"hunter2!!\"");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn key_files_are_read_relative_to_the_state_directory() {
    let dir = scratch_dir("keyfile");
    std::fs::create_dir_all(dir.join("state/keys")).unwrap();
    std::fs::write(
        dir.join("state/keys/k.key"),
        "key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret \"Zm9vYmFy\";\n};\n",
    )
    .unwrap();
    std::fs::write(dir.join("state/keys/bad.key"), "%%%\n").unwrap();
    let text = "[server]\ndirectory = \"state\"\n\
                [[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret-file = \"keys/k.key\"";
    let config = Config::from_toml_str(text, &dir.join("sekisho.toml")).unwrap();
    assert_eq!(config.keys[0].secret.as_bytes(), b"foobar");
    assert_eq!(
        config.keys[0].secret_file,
        Some(dir.join("state/keys/k.key"))
    );
    assert_eq!(config.key("K.").map(|k| &k.name), Some(&name("k.")));

    let bad = text.replace("k.key", "bad.key");
    let err = Config::from_toml_str(&bad, &dir.join("sekisho.toml")).unwrap_err();
    let problem = &err.problems()[0];
    assert_eq!(problem.path, "key[0].secret-file");
    assert!(
        problem.message.contains("bad.key\": not valid base64"),
        "{err}"
    );
    assert!(!problem.message.contains("%%%"));
    std::fs::remove_dir_all(dir).unwrap();
}

// ---- Paths --------------------------------------------------------------------------------

#[test]
fn relative_paths_resolve_against_the_directory_and_it_against_the_config_folder() {
    let text = "[server]\ndirectory = \"state\"\nroot-hints = \"root.hints\"\n\
                [dnssec]\ntrust-anchor-file = \"/etc/sekisho/root.key\"\n\
                [[response-policy.zone]]\nname = \"block\"\nfile = \"zones/block.rpz\"\n\
                [control]\nsocket = \"control.sock\"";
    let c = Config::from_toml_str(text, Path::new("/etc/sekisho/sekisho.toml")).unwrap();
    assert_eq!(c.server.directory, PathBuf::from("/etc/sekisho/state"));
    assert_eq!(
        c.server.root_hints,
        Some(PathBuf::from("/etc/sekisho/state/root.hints"))
    );
    assert_eq!(
        c.dnssec.trust_anchor_file,
        Some(PathBuf::from("/etc/sekisho/root.key"))
    );
    assert_eq!(
        c.response_policy.zones[0].file,
        Some(PathBuf::from("/etc/sekisho/state/zones/block.rpz"))
    );
    assert_eq!(
        c.control.socket,
        PathBuf::from("/etc/sekisho/state/control.sock")
    );
}

#[test]
fn dot_components_are_dropped_from_resolved_paths() {
    let text = "[server]\ndirectory = \"./state/.\"\nroot-hints = \"./root.hints\"";
    let c = Config::from_toml_str(text, Path::new("/etc/sekisho/sekisho.toml")).unwrap();
    assert_eq!(c.server.directory, PathBuf::from("/etc/sekisho/state"));
    assert_eq!(
        c.server.root_hints,
        Some(PathBuf::from("/etc/sekisho/state/root.hints"))
    );
}

#[test]
fn a_config_named_without_a_folder_resolves_against_the_working_directory() {
    let c =
        Config::from_toml_str("[server]\ndirectory = \".\"", Path::new("sekisho.toml")).unwrap();
    assert_eq!(c.server.directory, PathBuf::from("."));
    let c = Config::from_toml_str("[server]\ndirectory = \"state\"", Path::new("sekisho.toml"))
        .unwrap();
    assert_eq!(c.server.directory, PathBuf::from("state"));
}

#[test]
fn an_absolute_directory_ignores_the_config_folder() {
    let text = "[server]\ndirectory = \"/var/lib/sekisho\"\nroot-hints = \"root.hints\"";
    let c = Config::from_toml_str(text, Path::new("/etc/sekisho/sekisho.toml")).unwrap();
    assert_eq!(
        c.server.root_hints,
        Some(PathBuf::from("/var/lib/sekisho/root.hints"))
    );
}

// ---- Values and inheritance ------------------------------------------------------------

#[test]
fn dot_upstreams_default_to_port_853_and_inherit_the_zone_auth_name() {
    let c = parse(
        "[[forward-zone]]\nname = \".\"\nforward-tls-upstream = true\ntls-auth-name = \"dns.example.\"\n\
         forward-addr = [\"192.0.2.1\", \"192.0.2.2@8853#other.example\", \"2001:db8::1\"]",
    )
    .unwrap();
    let shown: Vec<String> = c.forward_zones[0]
        .forward_addr
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        [
            "192.0.2.1@853#dns.example",
            "192.0.2.2@8853#other.example",
            "2001:db8::1@853#dns.example"
        ]
    );
    assert_eq!(
        c.forward_zones[0].tls_auth_name.as_deref(),
        Some("dns.example")
    );
    assert_eq!(
        c.forward_zones[0].forward_addr[0].socket_addr(),
        "192.0.2.1:853".parse::<SocketAddr>().unwrap()
    );
}

#[test]
fn proxy_protocol_sources_are_prefixes_or_single_addresses() {
    let c =
        parse("[server]\nproxy-protocol-from = [\"192.0.2.1\", \"10.1.0.0/16\", \"2001:db8::1\"]")
            .unwrap();
    let shown: Vec<String> = c
        .server
        .proxy_protocol_from
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown, ["192.0.2.1/32", "10.1.0.0/16", "2001:db8::1/128"]);
}

#[test]
fn plain_http_doh_needs_no_certificate_and_defaults_to_port_80() {
    let c = parse("[server]\nlisten-http = [\"127.0.0.1\", \"127.0.0.1:8053\"]").unwrap();
    assert_eq!(
        c.server.listen_http,
        vec![
            "127.0.0.1:80".parse::<SocketAddr>().unwrap(),
            "127.0.0.1:8053".parse::<SocketAddr>().unwrap()
        ]
    );
    // Without http-proxy-from every forwarding header is ignored.
    assert!(c.server.http_proxy_from.is_empty());
    assert!(c.server.tls_cert_file.is_none());
    let c = parse("[server]\nlisten-http = [\"127.0.0.1:8053\"]\nhttp-proxy-from = [\"127.0.0.2\", \"10.0.0.0/8\"]").unwrap();
    let shown: Vec<String> = c
        .server
        .http_proxy_from
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(shown, ["127.0.0.2/32", "10.0.0.0/8"]);
}

#[test]
fn encrypted_listen_addresses_default_to_their_own_ports() {
    let c = parse("[server]\nlisten-tls = [\"192.0.2.53\"]\nlisten-https = [\"192.0.2.53\"]\ntls-cert-file = \"c.pem\"\ntls-key-file = \"k.pem\"").unwrap();
    assert_eq!(
        c.server.listen_tls,
        vec!["192.0.2.53:853".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(
        c.server.listen_https,
        vec!["192.0.2.53:443".parse::<SocketAddr>().unwrap()]
    );
    assert!(c
        .server
        .tls_cert_file
        .as_deref()
        .is_some_and(|p| p.ends_with("c.pem")));
}

#[test]
fn listen_addresses_accept_every_written_form() {
    let c = parse("[server]\nlisten = [\"192.0.2.53\", \"192.0.2.54@5353\", \"192.0.2.55:5354\", \"[2001:db8::53]:5355\", \"2001:db8::54\"]").unwrap();
    let shown: Vec<String> = c.server.listen.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "192.0.2.53:53",
            "192.0.2.54:5353",
            "192.0.2.55:5354",
            "[2001:db8::53]:5355",
            "[2001:db8::54]:53"
        ]
    );
}

#[test]
fn durations_and_sizes_accept_bare_integers() {
    let c = parse(
        "[cache]\nmax-ttl = 3600\n[[response-policy.zone]]\nname = \"b\"\nfile = \"b.rpz\"\nmax-transfer-size = 4096",
    )
    .unwrap();
    assert_eq!(c.cache.max_ttl, Duration::from_secs(3600));
    assert_eq!(c.response_policy.zones[0].max_transfer_size, 4096);
}

#[test]
fn policy_zones_inherit_unset_settings_from_response_policy() {
    let c = parse(
        "[response-policy]\nmax-policy-ttl = \"1m\"\nbreak-dnssec = true\nrecursive-only = false\n\
         add-soa = false\nede = \"filtered\"\n\
         [[response-policy.zone]]\nname = \"inherits\"\nfile = \"a.rpz\"\n\
         [[response-policy.zone]]\nname = \"overrides\"\nfile = \"b.rpz\"\nmax-policy-ttl = \"10s\"\n\
         break-dnssec = false\nrecursive-only = true\nadd-soa = true\nede = \"off\"",
    )
    .unwrap();
    let [inherits, overrides] = &c.response_policy.zones[..] else {
        panic!("two zones expected")
    };
    assert_eq!(inherits.max_policy_ttl, Duration::from_secs(60));
    assert!(inherits.break_dnssec);
    assert!(!inherits.recursive_only);
    assert!(!inherits.add_soa);
    assert_eq!(inherits.ede, Ede::Filtered);
    assert_eq!(overrides.max_policy_ttl, Duration::from_secs(10));
    assert!(!overrides.break_dnssec);
    assert!(overrides.recursive_only);
    assert!(overrides.add_soa);
    assert_eq!(overrides.ede, Ede::Off);
}

#[test]
fn policy_overrides_parse_every_word_and_a_cname_target() {
    for (text, want) in [
        ("given", PolicyOverride::Given),
        ("disabled", PolicyOverride::Disabled),
        ("passthru", PolicyOverride::Passthru),
        ("drop", PolicyOverride::Drop),
        ("tcp-only", PolicyOverride::TcpOnly),
        ("NXDOMAIN", PolicyOverride::Nxdomain),
        ("nodata", PolicyOverride::Nodata),
        (
            "cname warn.example.jp",
            PolicyOverride::Cname(name("warn.example.jp.")),
        ),
    ] {
        let parsed: PolicyOverride = text.parse().unwrap();
        assert_eq!(parsed, want);
        // Display gives back a form that parses to the same value.
        assert_eq!(parsed.to_string().parse::<PolicyOverride>().unwrap(), want);
    }
}

#[test]
fn ede_values_map_to_rfc8914_info_codes() {
    assert_eq!(Ede::Off.info_code(), None);
    assert_eq!(Ede::Blocked.info_code(), Some(15));
    assert_eq!(Ede::Censored.info_code(), Some(16));
    assert_eq!(Ede::Filtered.info_code(), Some(17));
    assert_eq!(Ede::Prohibited.info_code(), Some(18));
}

#[test]
fn word_values_ignore_case_and_round_trip_through_display() {
    let c = parse("[dnssec]\nvalidation = \"NO\"\n[logging]\nformat = \"Json\"").unwrap();
    assert_eq!(c.dnssec.validation, Validation::No);
    assert_eq!(c.logging.format, LogFormat::Json);
    for word in TsigAlgorithm::WORDS {
        assert_eq!(word.parse::<TsigAlgorithm>().unwrap().as_str(), *word);
    }
    for word in Selection::WORDS {
        assert_eq!(word.parse::<Selection>().unwrap().to_string(), *word);
    }
}

#[test]
fn metrics_can_be_disabled_or_given_an_address_without_a_port() {
    assert_eq!(
        parse("[metrics]\nlisten = \"none\"")
            .unwrap()
            .metrics
            .listen,
        None
    );
    assert_eq!(
        parse("[metrics]\nlisten = \"::1\"").unwrap().metrics.listen,
        Some("[::1]:9153".parse().unwrap())
    );
}

#[test]
fn one_zone_mixes_plain_dot_and_doh_entries_each_with_its_own_default_port() {
    let c = parse(
        "[[forward-zone]]\nname = \".\"\ntls-auth-name = \"zone.example\"\n\
         forward-addr = [\"192.0.2.1\", \"tls://192.0.2.2\", \"192.0.2.3@853#dot.example\", \
         \"https://192.0.2.4/dns-query#doh.example\", \"HTTPS://[2001:db8::4]:8443#doh.example\", \
         \"https://192.0.2.5/q\"]",
    )
    .unwrap();
    let z = &c.forward_zones[0];
    assert!(!z.forward_tls_upstream);
    let got: Vec<String> = z.forward_addr.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            // Without a scheme the zone decides: plain here, and no name is filled in.
            "192.0.2.1@53",
            "tls://192.0.2.2@853#zone.example",
            "192.0.2.3@853#dot.example",
            "https://192.0.2.4:443/dns-query#doh.example",
            "https://[2001:db8::4]:8443/dns-query#doh.example",
            "https://192.0.2.5:443/q#zone.example",
        ]
    );
    assert_eq!(
        z.forward_addr[3].scheme,
        UpstreamScheme::Https {
            path: "/dns-query".into()
        }
    );
    assert_eq!(z.forward_addr[0].scheme, UpstreamScheme::Zone);
    assert_eq!(z.forward_addr[1].scheme, UpstreamScheme::Tls);
}

#[test]
fn with_forward_tls_upstream_entries_without_a_scheme_stay_dot_beside_doh_entries() {
    let c = parse(
        "[[forward-zone]]\nname = \".\"\nforward-tls-upstream = true\n\
         forward-addr = [\"192.0.2.1#dot.example\", \"https://192.0.2.4#doh.example\"]",
    )
    .unwrap();
    let z = &c.forward_zones[0];
    assert_eq!(z.forward_addr[0].to_string(), "192.0.2.1@853#dot.example");
    assert_eq!(
        z.forward_addr[1].to_string(),
        "https://192.0.2.4:443/dns-query#doh.example"
    );
}

#[test]
fn upstream_addresses_display_in_unbound_form() {
    let plain = UpstreamAddr {
        ip: "2001:db8::1".parse().unwrap(),
        port: 53,
        auth_name: None,
        scheme: UpstreamScheme::Zone,
    };
    assert_eq!(plain.to_string(), "2001:db8::1@53");
    let dot = UpstreamAddr {
        auth_name: Some("dns.example".into()),
        port: 853,
        ..plain
    };
    assert_eq!(dot.to_string(), "2001:db8::1@853#dns.example");
}

#[test]
fn the_check_helper_loads_like_load() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/configs/minimal.toml");
    assert_eq!(check(&path).unwrap(), Config::load(&path).unwrap());
}

// ---- CHAOS answers ----------------------------------------------------------------------

#[test]
fn chaos_identity_and_version_are_kept_as_written_and_bounded_to_one_txt_string() {
    let c = parse(
        "[server]\nidentity = \"resolver-7.example\"\nversion = \"ISP DNS\"\nhide-identity = true\nhide-version = true",
    )
    .unwrap();
    assert_eq!(c.server.identity, "resolver-7.example");
    assert_eq!(c.server.version, "ISP DNS");
    assert!(c.server.hide_identity);
    assert!(c.server.hide_version);
    // 255 bytes is one TXT character-string; 256 is not.
    let ok = format!("[server]\nversion = \"{}\"", "v".repeat(255));
    assert_eq!(parse(&ok).unwrap().server.version.len(), 255);
    let long = format!("[server]\nidentity = \"{}\"", "i".repeat(256));
    assert_fails_with(&long, "server.identity: \"iiii");
    assert_fails_with(&long, ": 256 bytes, at most 255 fit in one TXT string");
}
