//! Operating the daemon: the Prometheus endpoint checked by a real parser
//! (`promtool check metrics`), counters that move, the query log, the
//! read-only stats verb, SIGHUP with a broken configuration, and the shipped
//! alert rules (`promtool check rules`, `promtool test rules`).
//! Each test owns 127.0.37.0/24.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use hickory_proto::rr::RecordType;

const ZONE: &str = "$TTL 300\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n@ NS localhost.\nbad.example1.jp A 192.0.2.10\n";

fn config(s: &Scratch, ip: &str, extra_server: &str) -> String {
    format!(
        r#"[server]
listen = ["{ip}:5300"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "{d}"
{extra_server}
[[response-policy.zone]]
name = "block."
file = "block.rpz"
[control]
socket = "{d}/control.sock"
[metrics]
listen = "{ip}:9153"
"#,
        d = s.path.display()
    )
}

fn get(addr: &str, path: &str) -> (String, String) {
    let s = http_get(addr, path);
    let (head, body) = s.split_once("\r\n\r\n").unwrap_or((&s, ""));
    (head.to_owned(), body.to_owned())
}

/// Writes `first.rpz` (NXDOMAIN for bad.example1.jp) beside the shared config's
/// `block.rpz`, and returns the config of `ip` without and with zone `first.`
/// in front of `block.` (so that `first.` decides when it is there).
fn with_first_zone(s: &Scratch, ip: &str) -> (String, String) {
    s.file("block.rpz", ZONE);
    s.file(
        "first.rpz",
        "$TTL 300\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n@ NS localhost.\nbad.example1.jp CNAME .\n",
    );
    let base = config(s, ip, "");
    let with_first = base.replace(
        "[[response-policy.zone]]\nname = \"block.\"",
        "[[response-policy.zone]]\nname = \"first.\"\nfile = \"first.rpz\"\n[[response-policy.zone]]\nname = \"block.\"",
    );
    assert_ne!(base, with_first);
    (base, with_first)
}

#[test]
fn the_metrics_endpoint_parses_with_promtool_and_its_counters_move() {
    let s = Scratch::new("ops-metrics");
    s.file("block.rpz", ZONE);
    let listen: SocketAddr = "127.0.37.1:5300".parse().expect("addr");
    let sk = start_sekisho(&s.path, "metrics", &config(&s, "127.0.37.1", ""), listen);
    let (head, before) = get("127.0.37.1:9153", "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"));
    let (head404, _) = get("127.0.37.1:9153", "/other");
    assert!(head404.starts_with("HTTP/1.1 404"));

    for _ in 0..3 {
        query(listen, "bad.example1.jp.", RecordType::A);
        query(listen, "clean.example1.jp.", RecordType::AAAA);
    }
    let (code, _, _) = ctl(&s.path.join("control.sock"), &["reload"]);
    assert_eq!(code, 0);
    let (_, after) = get("127.0.37.1:9153", "/metrics");
    let q = r#"sekisho_queries_total{family="ipv4",proto="udp",qtype="A"}"#;
    assert_eq!(metric_sample(&after, q) - metric_sample(&before, q), 3.0);
    let hits = r#"sekisho_rpz_hits_total{action="Local-Data",trigger="QNAME",zone="block."}"#;
    assert_eq!(metric_sample(&after, hits), 3.0);
    assert_eq!(
        metric_sample(&after, r#"sekisho_rpz_zone_rules{zone="block."}"#),
        1.0
    );
    assert_eq!(
        metric_sample(&after, r#"sekisho_rpz_zone_serial{zone="block."}"#),
        1.0
    );
    assert!(
        metric_sample(
            &after,
            r#"sekisho_rpz_zone_last_success_timestamp_seconds{zone="block."}"#
        ) > 1.7e9
    );
    assert!(metric_sample(&after, "process_resident_memory_bytes") > 1e6);
    assert!(metric_sample(&after, "sekisho_request_duration_seconds_count") >= 6.0);
    assert!(
        !after.contains("bad.example1.jp"),
        "no query name ever becomes a label"
    );
    assert!(
        !after.contains("127.0.0.1"),
        "no client address ever becomes a label"
    );

    // A real Prometheus parser agrees with the exposition (Debian's prometheus package).
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus) must be installed");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), after.as_bytes())
        .expect("feed");
    let out = child.wait_with_output().expect("promtool ran");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool rejected the exposition:\n{report}"
    );
    drop(sk);
}

#[test]
fn stats_querylog_and_the_verbs_scripts_rely_on() {
    let s = Scratch::new("ops-verbs");
    s.file("block.rpz", ZONE);
    let listen: SocketAddr = "127.0.37.11:5300".parse().expect("addr");
    let sk = start_sekisho(&s.path, "verbs", &config(&s, "127.0.37.11", ""), listen);
    let sock = s.path.join("control.sock");
    query(listen, "quiet.example1.jp.", RecordType::A);
    assert!(
        !sk.log_text().contains("query: quiet.example1.jp"),
        "query log is off by default"
    );
    let (code, out, _) = ctl(&sock, &["querylog", "on"]);
    assert_eq!((code, out.trim()), (0, "query log on"));
    query(listen, "Loud.Example1.JP.", RecordType::MX);
    assert!(
        eventually(Duration::from_secs(2), || sk
            .log_text()
            .contains("query: Loud.Example1.JP. IN MX udp +RD")),
        "{}",
        sk.log_text()
    );
    let (code, _, _) = ctl(&sock, &["querylog", "off"]);
    assert_eq!(code, 0);
    let (code, _, err) = ctl(&sock, &["querylog"]);
    assert_eq!(code, 2, "{err}");

    let (code, out, _) = ctl(&sock, &["stats"]);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.starts_with("sekisho_queries_total{") && l.ends_with(" 1")),
        "{out}"
    );
    let (_, again, _) = ctl(&sock, &["stats"]);
    let count = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with("sekisho_responses_total"))
            .map(|l| l.to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(count(&out), count(&again), "stats never resets counters");

    let (code, out, _) = ctl(&sock, &["zones"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("policy zone block.: serial 1, 1 rules"),
        "{out}"
    );
    let (code, out, _) = ctl(&sock, &["--json", "zones"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["zones"][0]["serial"], 1);
    let (code, _, err) = ctl(&sock, &["reload", "no-such-zone"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no policy zone named no-such-zone"), "{err}");
    let (code, out, _) = ctl(
        &sock,
        &["test", "bad.example1.jp", "AAAA", "--client", "192.0.2.7"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "rpz QNAME Local-Data rewrite bad.example1.jp/AAAA/IN via bad.example1.jp.block"
        ),
        "{out}"
    );
    let (code, _, err) = ctl(&sock, &["test", "x.jp", "BOGUSTYPE"]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn sighup_with_a_broken_config_keeps_the_running_one() {
    let s = Scratch::new("ops-sighup");
    s.file("block.rpz", ZONE);
    let listen: SocketAddr = "127.0.37.21:5300".parse().expect("addr");
    let good = config(&s, "127.0.37.21", "");
    let mut sk = start_sekisho(&s.path, "sighup", &good, listen);
    let cfg_path = s.path.join("sekisho-sighup.toml");
    std::fs::write(
        &cfg_path,
        good.replace(
            "[server]\n",
            "[server]\nedns-buffer-size = \"lots\"\nbogus-key = 1\n",
        ),
    )
    .expect("write");
    sk.signal("HUP");
    assert!(
        eventually(Duration::from_secs(5), || sk
            .log_text()
            .contains("reload refused")),
        "the broken config is refused: {}",
        sk.log_text()
    );
    assert!(
        sk.log_text().contains("server.edns-buffer-size") || sk.log_text().contains("bogus-key"),
        "the log names the key"
    );
    assert!(sk.is_running());
    let m = query(listen, "bad.example1.jp.", RecordType::A);
    assert_eq!(
        m.answers.len(),
        1,
        "still serving with the old configuration and policy"
    );
    let (_, metrics) = get("127.0.37.21:9153", "/metrics");
    assert_eq!(
        metric_sample(
            &metrics,
            r#"sekisho_config_reloads_total{result="failure"}"#
        ),
        1.0
    );

    // A good config is applied: the access lists at once (this client is no
    // longer admitted), while a changed TCP bound is named as needing a
    // restart and the old listener keeps serving.
    std::fs::write(
        &cfg_path,
        good.replace(
            "allow-query = [\"127.0.0.0/8\"]",
            "allow-query = [\"127.0.37.99/32\"]",
        )
        .replace("[server]\n", "[server]\ntcp-max-pipelined = 7\n"),
    )
    .expect("write");
    sk.signal("HUP");
    assert!(
        eventually(Duration::from_secs(5), || sk
            .log_text()
            .contains("configuration reloaded")),
        "the good config is applied: {}",
        sk.log_text()
    );
    let log = sk.log_text();
    assert!(
        log.contains("take effect only after a restart")
            && log.contains("server.tcp-max-pipelined"),
        "the restart-only key is named: {log}"
    );
    let m = query(listen, "bad.example1.jp.", RecordType::A);
    assert_eq!(
        m.metadata.response_code,
        hickory_proto::op::ResponseCode::Refused,
        "the new allow-query refuses 127.0.0.1"
    );
    let (_, metrics) = get("127.0.37.21:9153", "/metrics");
    assert_eq!(
        metric_sample(
            &metrics,
            r#"sekisho_config_reloads_total{result="success"}"#
        ),
        1.0
    );
    assert_eq!(sk.stop(), Some(0), "SIGTERM still drains and exits 0");
}

#[test]
fn idle_or_slow_clients_on_metrics_and_control_do_not_block_queries_or_each_other() {
    let s = Scratch::new("ops-hostile");
    s.file("block.rpz", ZONE);
    let listen: SocketAddr = "127.0.37.31:5300".parse().expect("addr");
    let _sk = start_sekisho(&s.path, "hostile", &config(&s, "127.0.37.31", ""), listen);
    // Connections that never finish their request: half a request line on
    // metrics, nothing at all on the control socket.
    let mut held = Vec::new();
    for _ in 0..50 {
        let mut c = std::net::TcpStream::connect("127.0.37.31:9153").expect("connect metrics");
        std::io::Write::write_all(&mut c, b"GET /metr").expect("partial request");
        held.push(c);
    }
    let mut held_ctl = Vec::new();
    for _ in 0..20 {
        held_ctl.push(
            std::os::unix::net::UnixStream::connect(s.path.join("control.sock"))
                .expect("connect control"),
        );
    }
    // Queries, a scrape and a control verb from well-behaved clients still go through.
    for _ in 0..20 {
        let m = query(listen, "bad.example1.jp.", RecordType::A);
        assert_eq!(m.answers.len(), 1);
    }
    let (head, body) = get("127.0.37.31:9153", "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains("sekisho_queries_total"));
    let (code, out, _) = ctl(&s.path.join("control.sock"), &["status"]);
    assert_eq!(code, 0, "{out}");
    drop(held);
    drop(held_ctl);
}

#[test]
fn an_upstream_removed_by_sighup_is_no_longer_exported() {
    let s = Scratch::new("ops-upstream-gone");
    s.file("block.rpz", ZONE);
    let answer = |_: &str, _| {
        (
            Canned::A {
                addr: "192.0.2.37".parse().expect("ip"),
                ttl: 300,
            },
            Duration::ZERO,
        )
    };
    let first = start_responder("127.0.37.42:5353", "fwd.test.", answer);
    let second = start_responder("127.0.37.43:5353", "fwd.test.", answer);
    let listen: SocketAddr = "127.0.37.41:5300".parse().expect("addr");
    let forward = |addrs: &str| {
        format!(
            "{}\n[[forward-zone]]\nname = \"fwd.test.\"\nforward-addr = [{addrs}]\n\n[dnssec]\nvalidation = \"no\"\n",
            config(&s, "127.0.37.41", "")
        )
    };
    let mut sk = start_sekisho(
        &s.path,
        "upstream-gone",
        &forward("\"127.0.37.42@5353\", \"127.0.37.43@5353\""),
        listen,
    );
    let m = query(listen, "a.fwd.test.", RecordType::A);
    assert_eq!(m.answers.len(), 1, "{}", sk.log_text());
    assert_eq!(first.count("a.fwd.test."), 1, "ordered: the first upstream");

    let up = |body: &str, label: &str| {
        metric_value(
            body,
            "sekisho_upstream_up",
            &[&format!("upstream=\"{label}\"")],
        )
    };
    let (_, before) = get("127.0.37.41:9153", "/metrics");
    assert_eq!(up(&before, "127.0.37.42@5353"), Some(1.0), "{before}");
    assert_eq!(up(&before, "127.0.37.43@5353"), Some(1.0), "{before}");

    std::fs::write(
        s.path.join("sekisho-upstream-gone.toml"),
        forward("\"127.0.37.43@5353\""),
    )
    .expect("write");
    sk.signal("HUP");
    assert!(
        eventually(Duration::from_secs(5), || sk
            .log_text()
            .contains("configuration reloaded")),
        "the new config is applied: {}",
        sk.log_text()
    );
    let (_, after) = get("127.0.37.41:9153", "/metrics");
    assert_eq!(
        up(&after, "127.0.37.42@5353"),
        None,
        "the removed upstream's up series is gone:\n{after}"
    );
    assert!(
        !after.contains("127.0.37.42@5353"),
        "no series of the removed upstream is left:\n{after}"
    );
    assert_eq!(
        up(&after, "127.0.37.43@5353"),
        Some(1.0),
        "the kept one is still exported:\n{after}"
    );
    let m = query(listen, "b.fwd.test.", RecordType::A);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(
        (first.count("b.fwd.test."), second.count("b.fwd.test.")),
        (0, 1),
        "the zone now forwards to the kept upstream only"
    );
    assert_eq!(sk.stop(), Some(0));
}

/// The alert rules shipped in `resolver/dist/prometheus`: promtool accepts
/// them, their rule tests (for every alert a series that must raise it and
/// one that must not) pass, and every metric they use is one the code
/// exports under that name.
#[test]
fn the_shipped_alert_rules_check_and_their_promtool_tests_pass() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/prometheus");
    let promtool = |args: &[&str]| {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool (apt-get install prometheus) must be installed");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = promtool(&["check", "rules", "sekisho-alerts.yml"]);
    assert!(ok && text.contains("SUCCESS: 7 rules found"), "{text}");
    let (ok, text) = promtool(&["test", "rules", "sekisho-alerts.test.yml"]);
    assert!(ok && text.contains("SUCCESS"), "{text}");

    let rules = std::fs::read_to_string(dir.join("sekisho-alerts.yml")).expect("rules");
    assert_registered("the alert rules", &rules);
}

/// Every `sekisho_*` metric `text` names (a histogram by its `_bucket`
/// series too) is registered under that name by the code.
fn assert_registered(what: &str, text: &str) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sources: String = ["resolver/src/metrics.rs", "upstream/src/metrics.rs"]
        .iter()
        .map(|p| std::fs::read_to_string(root.join(p)).expect("metrics source"))
        .collect();
    let mut names: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("sekisho_"))
        .map(|w| w.strip_suffix("_bucket").unwrap_or(w))
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 6, "{what}: {names:?}");
    for n in names {
        assert!(
            sources.contains(&format!("\"{n}\"")),
            "{what} use {n}, which no metrics source registers"
        );
    }
}

/// The Grafana dashboard in `resolver/dist/grafana`: valid JSON, every
/// panel query valid PromQL (promtool checks them as recording rules, with
/// Grafana's variables filled in) over metrics the code registers.
#[test]
fn the_shipped_dashboard_queries_parse_with_promtool_and_name_registered_metrics() {
    let s = Scratch::new("ops-dashboard");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dist/grafana/sekisho-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("dashboard");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let panels = dash["panels"].as_array().expect("panels");
    let exprs: Vec<String> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    assert!(exprs.len() >= panels.len(), "a query per panel: {exprs:?}");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        let filled = e
            .replace("$__rate_interval", "5m")
            .replace("$instance", ".*");
        rules.push_str(&format!(
            "      - record: sekisho_dashboard_panel_{i}\n        expr: '{}'\n",
            filled.replace('\'', "''")
        ));
    }
    let file = s.file("dashboard-rules.yml", &rules);
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool (apt-get install prometheus) must be installed");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}\n{rules}");
    assert_registered("the dashboard's queries", &exprs.join("\n"));
}

/// `sekishoctl rpz list`: a zone's rules as served, filtered and paged, in
/// text and JSON; an unknown zone is an error. 127.0.37.51.
#[test]
fn rpz_list_shows_a_zones_rules_filtered_and_paged() {
    let s = Scratch::new("ops-rpz-list");
    let mut zone = String::from(
        "$TTL 300\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n@ NS localhost.\n",
    );
    for i in 0..25 {
        zone.push_str(&format!("n{i}.bad.example CNAME .\n"));
    }
    zone.push_str("warn.example A 192.0.2.10\nok.example CNAME rpz-passthru.\n");
    s.file("block.rpz", &zone);
    let listen: SocketAddr = "127.0.37.51:5300".parse().expect("addr");
    let _sk = start_sekisho(&s.path, "rpzlist", &config(&s, "127.0.37.51", ""), listen);
    let sock = s.path.join("control.sock");

    let (code, out, err) = ctl(&sock, &["rpz", "list", "block", "warn"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![
            "warn.example.block. QNAME Local-Data A 192.0.2.10",
            "rules 1-1 of 1 in block."
        ]
    );
    let (_, out, _) = ctl(&sock, &["rpz", "list", "block", "OK.example"]);
    assert!(
        out.starts_with("ok.example.block. QNAME PASSTHRU\n"),
        "{out}"
    );

    // 25 bad ones, 10 a page: three pages, every rule once.
    let mut seen = Vec::new();
    for offset in ["0", "10", "20"] {
        let (code, out, _) = ctl(
            &sock,
            &[
                "--json", "rpz", "list", "block.", ".bad.", "--offset", offset, "--limit", "10",
            ],
        );
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["total"], 25, "{out}");
        for r in v["rules"].as_array().expect("rules") {
            assert_eq!(
                (r["trigger"].as_str(), r["action"].as_str()),
                (Some("QNAME"), Some("NXDOMAIN"))
            );
            seen.push(r["owner"].as_str().expect("owner").to_owned());
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 25, "{seen:?}");
    let (_, out, _) = ctl(&sock, &["rpz", "list", "block"]);
    assert!(out.ends_with("rules 1-27 of 27 in block.\n"), "{out}");

    let (code, _, err) = ctl(&sock, &["rpz", "list", "nonesuch"]);
    assert_eq!(code, 1);
    assert!(err.contains("no policy zone nonesuch."), "{err}");
}

/// `sekishoctl rpz disable|enable ZONE`: a switched-off zone takes no part
/// (the next zone decides), `zones` says so, a reload keeps it off, enable
/// brings it back; an unknown zone is an error. 127.0.37.61.
#[test]
fn rpz_disable_and_enable_switch_a_zone_at_run_time() {
    let s = Scratch::new("ops-rpz-enable");
    // "first" comes before "block" (the shared config's zone) in precedence.
    let (_, cfg) = with_first_zone(&s, "127.0.37.61");
    let listen: SocketAddr = "127.0.37.61:5300".parse().expect("addr");
    let _sk = start_sekisho(&s.path, "rpzenable", &cfg, listen);
    let sock = s.path.join("control.sock");
    let answer = || {
        let m = query(listen, "bad.example1.jp.", RecordType::A);
        (
            m.metadata.response_code,
            m.answers
                .iter()
                .map(|r| r.data.to_string())
                .collect::<Vec<_>>(),
        )
    };
    use hickory_proto::op::ResponseCode;
    assert_eq!(answer(), (ResponseCode::NXDomain, vec![]), "first. decides");

    let (code, out, err) = ctl(&sock, &["rpz", "disable", "first"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("policy zone first disabled"), "{out}");
    assert_eq!(
        answer(),
        (ResponseCode::NoError, vec!["192.0.2.10".to_owned()]),
        "block. decides once first. is off"
    );
    let (_, zones, _) = ctl(&sock, &["zones"]);
    assert!(
        zones
            .lines()
            .any(|l| l.starts_with("policy zone first.") && l.contains("DISABLED")),
        "{zones}"
    );
    // A reload of the zone does not switch it back on.
    let (code, _, err) = ctl(&sock, &["reload", "first"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(answer().0, ResponseCode::NoError);
    let (_, again, _) = ctl(&sock, &["rpz", "disable", "first."]);
    assert!(again.contains("already disabled"), "{again}");

    let (code, _, err) = ctl(&sock, &["rpz", "enable", "FIRST"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(answer(), (ResponseCode::NXDomain, vec![]));
    let (code, _, err) = ctl(&sock, &["rpz", "disable", "nonesuch"]);
    assert_eq!(code, 1);
    assert!(err.contains("no policy zone nonesuch"), "{err}");
}

/// SIGHUP adds, reorders and removes policy zones loaded from files: a zone
/// added in front decides at once, `zones` lists the new order, removing it
/// gives the decision back; nothing restarts. 127.0.37.71.
#[test]
fn sighup_adds_and_removes_policy_zones_from_files() {
    let s = Scratch::new("ops-rpz-reload");
    let (base, with_first) = with_first_zone(&s, "127.0.37.71");
    let listen: SocketAddr = "127.0.37.71:5300".parse().expect("addr");
    let sk = start_sekisho(&s.path, "rpzreload", &base, listen);
    let cfg_path = s.path.join("sekisho-rpzreload.toml");
    let sock = s.path.join("control.sock");
    use hickory_proto::op::ResponseCode;
    let rcode = || {
        query(listen, "bad.example1.jp.", RecordType::A)
            .metadata
            .response_code
    };
    assert_eq!(rcode(), ResponseCode::NoError, "block.'s local data");

    std::fs::write(&cfg_path, &with_first).expect("config");
    sk.signal("HUP");
    assert!(
        eventually(Duration::from_secs(10), || rcode()
            == ResponseCode::NXDomain),
        "the zone added in front decides"
    );
    let (_, zones, _) = ctl(&sock, &["zones"]);
    let order: Vec<&str> = zones
        .lines()
        .filter_map(|l| l.strip_prefix("policy zone "))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(order, ["first.", "block."], "{zones}");

    std::fs::write(&cfg_path, &base).expect("config");
    sk.signal("HUP");
    assert!(
        eventually(Duration::from_secs(10), || rcode() == ResponseCode::NoError),
        "removed: block. decides again"
    );
    let (_, zones, _) = ctl(&sock, &["zones"]);
    assert!(!zones.contains("first."), "{zones}");
    assert!(
        !sk.log_text().contains("take effect only after a restart"),
        "{}",
        sk.log_text()
    );
}

#[test]
fn sekishoctl_reload_reads_the_configuration_as_sighup_does_and_says_why_it_refuses() {
    let s = Scratch::new("ops-ctl-reload");
    let (base, with_first) = with_first_zone(&s, "127.0.37.81");
    let listen: SocketAddr = "127.0.37.81:5300".parse().expect("addr");
    let sk = start_sekisho(&s.path, "ctlreload", &base, listen);
    let cfg_path = s.path.join("sekisho-ctlreload.toml");
    let sock = s.path.join("control.sock");
    use hickory_proto::op::ResponseCode;
    let rcode = || {
        query(listen, "bad.example1.jp.", RecordType::A)
            .metadata
            .response_code
    };
    assert_eq!(rcode(), ResponseCode::NoError, "block.'s local data");

    // A zone added in the file decides as soon as the verb has answered.
    std::fs::write(&cfg_path, &with_first).expect("config");
    let (code, out, err) = ctl(&sock, &["reload"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("configuration reloaded") && out.contains("first."),
        "{out}"
    );
    assert_eq!(
        rcode(),
        ResponseCode::NXDomain,
        "the zone added in front decides"
    );

    // A broken file: refused with the key named, exit 1, nothing changed.
    std::fs::write(
        &cfg_path,
        base.replace("[server]\n", "[server]\nedns-buffer-size = \"lots\"\n"),
    )
    .expect("config");
    let (code, out, err) = ctl(&sock, &["reload"]);
    assert_eq!(code, 1, "{out}{err}");
    let said = format!("{out}{err}");
    assert!(
        said.contains("reload refused") && said.contains("edns-buffer-size"),
        "{said}"
    );
    assert_eq!(rcode(), ResponseCode::NXDomain, "first. still decides");

    // Back to the base file: the zone leaves.
    std::fs::write(&cfg_path, &base).expect("config");
    let (code, out, err) = ctl(&sock, &["reload"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(rcode(), ResponseCode::NoError, "block. decides again");
    assert!(
        sk.log_text().contains("reload refused"),
        "the refusal is in the log too"
    );
}
