//! Which settings a reload (SIGHUP, `sekishoctl reload`) applies, and which
//! take a restart.
//!
//! [`restart_only_changes`] destructures every table without `..`, so a key
//! added to the model does not compile until it is classified here: applied
//! in place by a reload, or named as needing a restart. The daemon applies
//! exactly the settings marked "reload" below (access lists, EDNS buffer,
//! query deadline, client-address logging (global and per zone), the query log, forward zones,
//! policy zones (added, removed, reordered, changed, with their transfer roles:
//! primaries, key, timers, `allow-transfer`, `also-notify`), the `[[key]]` tables, the
//! CHAOS identity and version, the recursion and waiting-client caps, the
//! rate limit, the TLS listeners' certificate and key, read again, and the
//! listen addresses of every kind: added ones bound and served, removed ones
//! stopped and drained, the others untouched).

use crate::model::{ClientIpLog, Config, Logging, PolicyZone, ResponsePolicy, Server};

/// Keys whose change between `old` (the running configuration) and `new`
/// a reload does not apply; empty when a reload applies everything.
pub fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    let Config {
        server,
        cache,
        dnssec,
        rate_limit: _,    // reload: the limiter's settings are swapped
        forward_zones: _, // reload: the forward-zone table is rebuilt and swapped
        keys: _,          // reload: transfers, NOTIFY and allow-transfer use the new secrets
        response_policy,
        control,
        metrics,
        logging,
        dnstap,
    } = new;
    let Server {
        listen: _, // reload: added addresses bound (or the reload refused), removed ones drained
        allow_query: _, // reload
        allow_recursion: _, // reload
        directory,
        root_hints,
        edns_buffer_size: _, // reload
        tcp_idle_timeout,
        tcp_max_connections,
        tcp_max_pipelined,
        query_timeout: _, // reload
        udp_workers,
        threads,
        identity: _,          // reload (CHAOS answers)
        version: _,           // reload
        hide_identity: _,     // reload
        hide_version: _,      // reload
        recursive_clients: _, // reload
        clients_per_query: _, // reload
        fetches_per_zone,
        fetches_per_zone_response: _, // reload
        fetches_per_server,
        fetches_per_server_response: _, // reload
        max_recursion_queries,
        max_ns_address_queries,
        tcp_clients_per_ip,
        tcp_write_timeout,
        listen_tls: _, // reload, as listen (the certificate must have been loaded at start)
        listen_https: _, // reload, as listen-tls
        listen_http: _, // reload, as listen
        http_proxy_from,
        https_path,
        tls_cert_file: _, // reload: the certificate and key are read again and swapped
        tls_key_file: _,  // reload
        tls_handshake_timeout,
        proxy_protocol_from,
    } = server;
    let mut check = |changed: bool, key: &'static str| {
        if changed {
            keys.push(key);
        }
    };
    let o = &old.server;
    check(*directory != o.directory, "server.directory");
    check(*root_hints != o.root_hints, "server.root-hints");
    check(
        *tcp_idle_timeout != o.tcp_idle_timeout,
        "server.tcp-idle-timeout",
    );
    check(
        *tcp_max_connections != o.tcp_max_connections,
        "server.tcp-max-connections",
    );
    check(
        *tcp_max_pipelined != o.tcp_max_pipelined,
        "server.tcp-max-pipelined",
    );
    check(*udp_workers != o.udp_workers, "server.udp-workers");
    check(*threads != o.threads, "server.threads");
    // The recursor's bounds are set when it is built.
    check(
        *fetches_per_zone != o.fetches_per_zone,
        "server.fetches-per-zone",
    );
    check(
        *fetches_per_server != o.fetches_per_server,
        "server.fetches-per-server",
    );
    check(
        *max_recursion_queries != o.max_recursion_queries,
        "server.max-recursion-queries",
    );
    check(
        *max_ns_address_queries != o.max_ns_address_queries,
        "server.max-ns-address-queries",
    );
    // The TCP listener's bounds, as tcp-max-connections.
    check(
        *tcp_clients_per_ip != o.tcp_clients_per_ip,
        "server.tcp-clients-per-ip",
    );
    check(
        *tcp_write_timeout != o.tcp_write_timeout,
        "server.tcp-write-timeout",
    );
    // The DoH-over-HTTP listeners are given their proxies when they start.
    check(
        *http_proxy_from != o.http_proxy_from,
        "server.http-proxy-from",
    );
    check(*https_path != o.https_path, "server.https-path");
    check(
        *tls_handshake_timeout != o.tls_handshake_timeout,
        "server.tls-handshake-timeout",
    );
    // The listeners are given the load balancers' addresses when they start.
    check(
        *proxy_protocol_from != o.proxy_protocol_from,
        "server.proxy-protocol-from",
    );
    // The CHAOS answers are set up once, when the query router is built.
    // Whole tables that a reload does not apply: any new key in them is restart-only too.
    check(*cache != old.cache, "cache");
    check(*dnssec != old.dnssec, "dnssec");
    // Policy zones are added, removed, reordered and changed by a reload, with
    // their transfer tasks and served lists (and so are the table's own settings);
    // only the journal of a zone served before and after keeps the size it was
    // built with.
    check(
        !policy_reloadable(response_policy, &old.response_policy),
        "response-policy.zone (journal-size of a served zone, or a zone taking UPDATE)",
    );
    check(*control != old.control, "control");
    check(*metrics != old.metrics, "metrics");
    check(*dnstap != old.dnstap, "dnstap");
    let Logging {
        format,
        level,
        log_client_ip: _,          // reload
        log_client_ipv4_prefix: _, // reload
        log_client_ipv6_prefix: _, // reload
        log_client_key_file,
        log_client_key_rotate,
        query_log: _, // reload
        rpz_log,
        rpz_log_format,
        syslog_socket,
        rotate_size,
        rotate_keep,
        rotate_interval,
    } = logging;
    let o = &old.logging;
    check(*format != o.format, "logging.format");
    check(*level != o.level, "logging.level");
    check(
        *log_client_key_file != o.log_client_key_file,
        "logging.log-client-key-file",
    );
    check(
        *log_client_key_rotate != o.log_client_key_rotate,
        "logging.log-client-key-rotate",
    );
    check(*rpz_log != o.rpz_log, "logging.rpz-log");
    check(
        *rpz_log_format != o.rpz_log_format,
        "logging.rpz-log-format",
    );
    check(*syslog_socket != o.syslog_socket, "logging.syslog-socket");
    check(*rotate_size != o.rotate_size, "logging.rotate-size");
    check(*rotate_keep != o.rotate_keep, "logging.rotate-keep");
    check(
        *rotate_interval != o.rotate_interval,
        "logging.rotate-interval",
    );
    keys
}

/// Whether a reload applies all of the change from `old` to `new`: every zone
/// served to secondaries in both keeps its `journal-size` (the journal is sized
/// when the zone is first served), and the zones taking DNS UPDATE
/// (`allow-update`) are the same, unchanged (their on-disk journal and zone-file
/// writer are set up at start). Everything else in the table reloads: zones
/// with or without primaries are added, removed, reordered and changed, and
/// served zones get their new `allow-transfer` and `also-notify`.
pub fn policy_reloadable(new: &ResponsePolicy, old: &ResponsePolicy) -> bool {
    // Zones taking DNS UPDATE keep their journal file and background writer
    // from the start: adding, removing or changing one needs a restart.
    let updated = |policy: &ResponsePolicy| -> Vec<PolicyZone> {
        policy
            .zones
            .iter()
            .filter(|z| z.takes_updates())
            .map(|z| PolicyZone {
                log_client_ip: ClientIpLog::default(),
                ..z.clone()
            })
            .collect()
    };
    updated(new) == updated(old)
        && new.zones.iter().filter(|z| z.is_served()).all(|z| {
            old.zones
                .iter()
                .find(|o| o.name == z.name && o.is_served())
                .is_none_or(|o| o.journal_size == z.journal_size)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_zones_change_by_reload_with_their_transfer_roles_and_keys() {
        let text = |zones: &str| {
            format!(
                "[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0c2VjcmV0c2VjcmV0\"\n{zones}"
            )
        };
        let file =
            |n: &str| format!("[[response-policy.zone]]\nname = \"{n}\"\nfile = \"{n}.rpz\"\n");
        let fed =
            "[[response-policy.zone]]\nname = \"fed\"\nprimaries = [\"192.0.2.1\"]\nkey = \"k\"\n";
        let load = |zones: &str| {
            Config::from_toml_str(
                &text(zones),
                std::path::Path::new("/etc/sekisho/sekisho.toml"),
            )
            .expect("config")
        };
        let old = load(&format!("{}{fed}", file("a")));
        let fed2 = fed.replace("\"fed\"", "\"fed2\"");
        // Added, reordered, removed file zones, a file zone's own settings: a reload.
        for new in [
            format!("{}{}{fed}", file("b"), file("a")),
            format!("{fed}{}", file("b")),
            fed.to_string(),
            format!("{}max-policy-ttl = \"1m\"\nlog = false\n{fed}", file("a")),
            // The transferred zone removed, another one added, its primaries, timers
            // or served lists changed, or its settings changed through the table it
            // inherits from: a reload too.
            file("a"),
            format!("{}{fed}{fed2}", file("a")),
            format!(
                "[response-policy]\nmax-policy-ttl = \"1m\"\n{}{fed}",
                file("a")
            ),
            format!(
                "{}{}",
                file("a"),
                fed.replace("192.0.2.1", "192.0.2.2")
            ),
            format!("{}{fed}min-refresh = \"1m\"\nallow-transfer = [\"192.0.2.9\"]\nalso-notify = [\"192.0.2.9\"]\n", file("a")),
        ] {
            let new = load(&new);
            assert!(policy_reloadable(
                &new.response_policy,
                &old.response_policy
            ));
            assert!(
                restart_only_changes(&old, &new).is_empty(),
                "{:?}",
                restart_only_changes(&old, &new)
            );
        }
        let mut new = old.clone();
        new.keys[0].secret = crate::Secret::new(b"another secret".to_vec());
        assert!(restart_only_changes(&old, &new).is_empty());
        // A served zone's journal keeps the size it was built with.
        let served = |size: &str| {
            load(&format!(
                "{fed}allow-transfer = [\"192.0.2.9\"]\njournal-size = \"{size}\"\n"
            ))
        };
        assert_eq!(
            restart_only_changes(&served("1MiB"), &served("2MiB")),
            ["response-policy.zone (journal-size of a served zone, or a zone taking UPDATE)"]
        );
        assert!(restart_only_changes(&old, &served("2MiB")).is_empty());
        // A zone taking UPDATE keeps the journal file and writer it started with.
        let updated = load(&format!(
            "{}allow-update = [\"192.0.2.9\"]\n{fed}",
            file("a")
        ));
        assert!(!policy_reloadable(
            &updated.response_policy,
            &old.response_policy
        ));
        assert_eq!(
            restart_only_changes(&old, &updated),
            ["response-policy.zone (journal-size of a served zone, or a zone taking UPDATE)"]
        );
    }

    #[test]
    fn a_reload_that_removes_a_key_a_zone_still_names_is_refused_with_the_key_path() {
        let zone =
            "[[response-policy.zone]]\nname = \"fed\"\nprimaries = [\"192.0.2.1\"]\nkey = \"k\"\n";
        let error = Config::from_toml_str(zone, std::path::Path::new("/etc/sekisho/sekisho.toml"))
            .expect_err("a zone names a key that is gone")
            .to_string();
        assert!(error.contains("response-policy.zone[0].key"), "{error}");
    }

    #[test]
    fn reloadable_keys_need_no_restart_and_the_others_are_named() {
        let old = Config::embedded_default();
        let mut new = old.clone();
        new.server.allow_query.clear();
        new.server.edns_buffer_size = 1400;
        new.logging.query_log = !old.logging.query_log;
        new.forward_zones.clear();
        assert!(restart_only_changes(&old, &new).is_empty());
        new.server.listen.clear();
        assert!(restart_only_changes(&old, &new).is_empty());
        new.server.tcp_max_pipelined += 1;
        new.cache.max_entries += 1;
        new.logging.level = "debug".into();
        assert_eq!(
            restart_only_changes(&old, &new),
            ["server.tcp-max-pipelined", "cache", "logging.level"]
        );
    }

    #[test]
    fn turning_aggressive_nsec_off_is_a_restart_only_dnssec_change() {
        let old = Config::embedded_default();
        let mut new = old.clone();
        new.dnssec.aggressive_nsec = !old.dnssec.aggressive_nsec;
        assert_eq!(restart_only_changes(&old, &new), ["dnssec"]);
    }

    #[test]
    fn the_tls_files_and_the_encrypted_listeners_reload_and_their_settings_need_a_restart() {
        let old = Config::embedded_default();
        let mut new = old.clone();
        new.server.tls_cert_file = Some("/etc/sekisho/new.pem".into());
        new.server.tls_key_file = Some("/etc/sekisho/new.key".into());
        assert!(restart_only_changes(&old, &new).is_empty());
        new.server
            .listen_tls
            .push("127.0.0.1:853".parse().expect("addr"));
        new.server
            .listen_https
            .push("127.0.0.1:443".parse().expect("addr"));
        new.server
            .listen_http
            .push("127.0.0.1:8053".parse().expect("addr"));
        assert!(restart_only_changes(&old, &new).is_empty());
        new.server
            .http_proxy_from
            .push("127.0.0.1/32".parse().expect("prefix"));
        new.server.https_path = "/q".into();
        new.server.tls_handshake_timeout += std::time::Duration::from_secs(1);
        assert_eq!(
            restart_only_changes(&old, &new),
            [
                "server.http-proxy-from",
                "server.https-path",
                "server.tls-handshake-timeout"
            ]
        );
    }

    #[test]
    fn the_load_balancers_of_the_proxy_protocol_need_a_restart() {
        let old = Config::embedded_default();
        let mut new = old.clone();
        new.server
            .proxy_protocol_from
            .push("192.0.2.1/32".parse().expect("prefix"));
        assert_eq!(
            restart_only_changes(&old, &new),
            ["server.proxy-protocol-from"]
        );
    }
}
