//! Unit tests of the distribution pieces that need no primary: owner grouping,
//! control-verb lookups, the NOTIFY decisions, and expiry (`on-expire`) on
//! tokio's paused clock, so an hour of SOA expire passes in milliseconds.

use std::net::SocketAddr;
use std::path::Path;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use sekisho_xfr::{TsigAlgorithm, TsigKey};

use super::*;

fn record(owner: &str) -> Record {
    Record::from_rdata(
        Name::from_ascii(owner).expect("name"),
        60,
        RData::A(A::new(192, 0, 2, 1)),
    )
}

/// The secret of key `k` (and of `other`, with another name).
const SECRET: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";

fn config(extra: &str) -> Config {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:5300\"]\ndirectory = \"/tmp\"\n\
         [[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\
         [[key]]\nname = \"other\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\
         [[response-policy.zone]]\nname = \"rpz.test\"\nprimaries = [\"192.0.2.53\"]\n{extra}\n\
         [[response-policy.zone]]\nname = \"local.test\"\nfile = \"local.db\"\n"
    );
    Config::from_toml_str(&text, Path::new("/tmp/sekisho.toml")).expect("valid config")
}

fn distribution(extra: &str) -> Arc<Distribution> {
    let c = config(extra);
    let store = Arc::new(PolicyStore::new(
        &c.response_policy,
        &c.server.directory,
        None,
    ));
    let registry = prometheus::Registry::new();
    Distribution::new(&c, store, &registry).expect("distribution")
}

fn notify_packet(zone: &str) -> Vec<u8> {
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.add_query(Query::query(
        Name::from_ascii(zone).expect("name"),
        RecordType::SOA,
    ));
    m.to_vec().expect("encode")
}

fn rcode_of(answer: &[u8]) -> ResponseCode {
    Message::from_vec(answer)
        .expect("answer decodes")
        .metadata
        .response_code
}

#[test]
fn owners_split_by_another_owner_are_noticed() {
    let ok = [
        record("a.rpz.test."),
        record("a.rpz.test."),
        record("b.rpz.test."),
    ];
    assert!(owners_contiguous(&ok));
    let split = [
        record("a.rpz.test."),
        record("b.rpz.test."),
        record("A.rpz.test."),
    ];
    assert!(!owners_contiguous(&split));
}

#[test]
fn refresh_of_an_unknown_or_file_only_zone_says_why() {
    let d = distribution("");
    assert_eq!(
        d.request_check("nope.test", false),
        Err("no policy zone named nope.test".into())
    );
    let e = d.request_check("local.test.", true).expect_err("file zone");
    assert!(e.contains("has no primaries"), "{e}");
    assert_eq!(
        d.request_check("RPZ.test", false),
        Ok("refresh of rpz.test. queued".into())
    );
}

#[test]
fn a_notify_from_a_listed_primary_is_accepted() {
    let d = distribution("");
    let mut out = Vec::new();
    let from: SocketAddr = "192.0.2.53:4000".parse().expect("addr");
    assert!(d.handle_notify(&notify_packet("rpz.test."), from, &mut out));
    assert_eq!(rcode_of(&out), ResponseCode::NoError);
    assert_eq!(
        d.notify_total
            .with_label_values(&["rpz.test.", "accepted"])
            .get(),
        1
    );
}

#[test]
fn a_notify_from_a_stranger_is_refused_and_counted() {
    let d = distribution("");
    let mut out = Vec::new();
    let from: SocketAddr = "198.51.100.7:4000".parse().expect("addr");
    for _ in 0..3 {
        assert!(d.handle_notify(&notify_packet("rpz.test."), from, &mut out));
        assert_eq!(rcode_of(&out), ResponseCode::Refused);
    }
    assert_eq!(
        d.notify_total
            .with_label_values(&["rpz.test.", "refused"])
            .get(),
        3
    );
}

#[test]
fn an_unsigned_notify_from_the_primary_of_a_keyed_zone_is_accepted() {
    // BIND 9.18 as a secondary does the same: the guideline's list master sends
    // its NOTIFY unsigned, and only the transfer is signed.
    let d = distribution("key = \"k\"");
    let mut out = Vec::new();
    let from: SocketAddr = "192.0.2.53:4000".parse().expect("addr");
    assert!(d.handle_notify(&notify_packet("rpz.test."), from, &mut out));
    assert_eq!(rcode_of(&out), ResponseCode::NoError);
    assert!(
        Message::from_vec(&out)
            .expect("decode")
            .metadata
            .authoritative
    );
    assert_eq!(count(&d, "rpz.test.", "accepted"), 1);
}

fn count(d: &Distribution, zone: &str, result: &str) -> u64 {
    d.notify_total.with_label_values(&[zone, result]).get()
}

fn key(name: &str, secret: &[u8]) -> TsigKey {
    TsigKey::new(
        Name::from_ascii(name).expect("name"),
        TsigAlgorithm::HmacSha256,
        secret.to_vec(),
    )
}

fn signed(packet: &[u8], key: &TsigKey) -> Vec<u8> {
    sekisho_xfr::tsig::sign_request(key, packet, unix_now())
        .expect("sign")
        .0
}

#[test]
fn a_signed_notify_with_the_zones_key_is_accepted_and_answered_signed() {
    let d = distribution("key = \"k\"");
    let mut out = Vec::new();
    let from: SocketAddr = "192.0.2.53:4000".parse().expect("addr");
    let k = key("k.", b"secretsecretsecretsecret");
    let (request, mac) =
        sekisho_xfr::tsig::sign_request(&k, &notify_packet("rpz.test."), unix_now()).expect("sign");
    assert!(d.handle_notify(&request, from, &mut out));
    assert_eq!(rcode_of(&out), ResponseCode::NoError);
    sekisho_xfr::tsig::ResponseVerifier::new(k, mac)
        .verify(&out, unix_now())
        .expect("the answer is signed with the request's key");
}

#[test]
fn a_notify_signed_with_a_wrong_secret_or_unknown_key_is_notauth() {
    let d = distribution("key = \"k\"");
    let from: SocketAddr = "192.0.2.53:4000".parse().expect("addr");
    for (k, label) in [
        (key("k.", b"not-the-secret-not-the-secret-00"), "badsig"),
        (key("nobody.", b"secretsecretsecretsecret"), "badkey"),
    ] {
        let mut out = Vec::new();
        assert!(d.handle_notify(&signed(&notify_packet("rpz.test."), &k), from, &mut out));
        assert_eq!(rcode_of(&out), ResponseCode::NotAuth, "{label}");
        assert_eq!(count(&d, "rpz.test.", label), 1, "counted under the zone");
    }
    assert_eq!(count(&d, "rpz.test.", "accepted"), 0);
}

#[test]
fn a_notify_signed_with_another_configured_key_is_refused() {
    let d = distribution("key = \"k\"");
    let mut out = Vec::new();
    let from: SocketAddr = "192.0.2.53:4000".parse().expect("addr");
    let other = key("other.", b"secretsecretsecretsecret");
    assert!(d.handle_notify(&signed(&notify_packet("rpz.test."), &other), from, &mut out));
    assert_eq!(rcode_of(&out), ResponseCode::Refused);
    assert_eq!(count(&d, "rpz.test.", "wrong_key"), 1);
}

#[test]
fn allow_notify_adds_sources_and_never_removes_the_primaries() {
    // BIND: "allow-notify can be used to expand the list of permitted hosts,
    // not to reduce it."
    let d = distribution("allow-notify = [\"198.51.100.0/24\"]");
    for (from, rcode) in [
        ("192.0.2.53:53", ResponseCode::NoError),
        ("198.51.100.7:4000", ResponseCode::NoError),
        ("[::ffff:192.0.2.53]:4000", ResponseCode::NoError),
        ("203.0.113.1:4000", ResponseCode::Refused),
        ("192.0.2.54:4000", ResponseCode::Refused),
    ] {
        let mut out = Vec::new();
        let from: SocketAddr = from.parse().expect("addr");
        assert!(d.handle_notify(&notify_packet("rpz.test."), from, &mut out));
        assert_eq!(rcode_of(&out), rcode, "from {from}");
    }
}

fn notify_with_serial(zone: &str, serial: u32) -> Vec<u8> {
    let mut m = Message::from_vec(&notify_packet(zone)).expect("decode");
    let soa = SOA::new(Name::root(), Name::root(), serial, 1, 1, 1, 1);
    m.add_answer(Record::from_rdata(
        Name::from_ascii(zone).expect("name"),
        60,
        RData::SOA(soa),
    ));
    m.to_vec().expect("encode")
}

#[test]
fn a_notify_flood_is_answered_in_full_and_schedules_one_check() {
    let d = distribution("");
    let from: SocketAddr = "192.0.2.53:4000".parse().expect("addr");
    let packet = notify_with_serial("rpz.test.", 7);
    for _ in 0..2000 {
        let mut out = Vec::new();
        assert!(d.handle_notify(&packet, from, &mut out));
        assert_eq!(rcode_of(&out), ResponseCode::NoError);
    }
    assert_eq!(count(&d, "rpz.test.", "accepted"), 1);
    assert_eq!(count(&d, "rpz.test.", "coalesced"), 1999);
    let zone = d.zone_named("rpz.test").expect("zone");
    assert!(zone.gate().queued_at().is_some(), "one check queued");
    assert!(zone.gate().flooding());
}

#[test]
fn a_notify_for_a_zone_we_do_not_transfer_is_notauth() {
    let d = distribution("");
    let mut out = Vec::new();
    let from: SocketAddr = "192.0.2.53:4000".parse().expect("addr");
    assert!(d.handle_notify(&notify_packet("local.test."), from, &mut out));
    assert_eq!(rcode_of(&out), ResponseCode::NotAuth);
}

/// The policy zone `rpz.test.` at serial 5 with one rule, SOA refresh, retry and
/// expire of 60 s. The expire is clamped up to `RefreshClamps::min_expire` (1 h).
const EXPIRING_ZONE: &str = "$ORIGIN rpz.test.\n$TTL 60\n\
    @ SOA ns.rpz.test. hostmaster.rpz.test. 5 60 60 60 60\n@ NS localhost.\n\
    blocked.example.jp A 192.0.2.1\n";

/// Runs zone `rpz.test.` from a saved copy with `on-expire = action` against a
/// primary that never answers, on tokio's paused clock; returns the zone's
/// (status, rule count) at 30 minutes, then at 62 minutes.
async fn expire_run(action: &str) -> [(ZoneStatus, usize); 2] {
    let dir = std::env::temp_dir().join(format!(
        "sekisho-secondary-expire-{action}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("block.rpz"), EXPIRING_ZONE).expect("saved copy");
    // A bound socket nobody reads: every SOA query times out.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:5300\"]\ndirectory = \"{}\"\n\
         [[response-policy.zone]]\nname = \"rpz.test\"\nprimaries = [\"127.0.0.1@{port}\"]\n\
         file = \"block.rpz\"\nmin-refresh = \"1s\"\non-expire = \"{action}\"\n",
        dir.display()
    );
    let c = Config::from_toml_str(&text, &dir.join("sekisho.toml")).expect("valid config");
    let store = Arc::new(PolicyStore::new(
        &c.response_policy,
        &c.server.directory,
        None,
    ));
    store.load(None).await.expect("saved copy loads");
    let name = Name::from_ascii("rpz.test.").expect("name");
    assert_eq!(store.zone_rules(&name).and_then(|r| r.serial()), Some(5));
    let d = Distribution::new(&c, store.clone(), &prometheus::Registry::new()).expect("dist");
    let (stop_tx, stop_rx) = watch::channel(false);
    d.spawn(&stop_rx);
    let snapshot = |store: &PolicyStore| {
        let st = store
            .status()
            .into_iter()
            .find(|s| s.name == "rpz.test.")
            .expect("status");
        let rules = store
            .zone_rules(&name)
            .map(|r| r.counts().total())
            .unwrap_or(0);
        (st, rules)
    };
    tokio::time::sleep(Duration::from_secs(30 * 60)).await;
    let half = snapshot(&store);
    tokio::time::sleep(Duration::from_secs(32 * 60)).await;
    let after = snapshot(&store);
    let _ = stop_tx.send(true);
    drop(silent);
    let _ = std::fs::remove_dir_all(&dir);
    [half, after]
}

#[tokio::test(start_paused = true)]
async fn on_expire_stop_stops_enforcing_an_expired_zone() {
    let [(half, half_rules), (after, after_rules)] = expire_run("stop").await;
    // Retried every SOA retry (60 s), still enforced before the expire.
    assert!(half.failures >= 20, "{half:?}");
    assert!(!half.expired, "{half:?}");
    assert_eq!(half.serial, Some(5));
    assert!(half_rules >= 1);
    // Past the (clamped) one-hour expire: the zone is empty and says so.
    assert!(after.expired, "{after:?}");
    assert_eq!(after.serial, None, "{after:?}");
    assert_eq!(after_rules, 0);
    assert!(after.last_error.is_some());
}

#[tokio::test(start_paused = true)]
async fn on_expire_keep_goes_on_enforcing_an_expired_zone() {
    let [(half, half_rules), (after, after_rules)] = expire_run("keep").await;
    assert!(!half.expired, "{half:?}");
    assert!(after.expired, "{after:?}");
    assert_eq!(after.serial, Some(5), "{after:?}");
    assert_eq!(after_rules, half_rules);
    assert!(after_rules >= 1);
}

#[tokio::test(start_paused = true)]
async fn a_reload_keeps_unchanged_zones_restarts_changed_ones_and_retires_removed_ones() {
    let d = distribution("key = \"k\"");
    let first = d.zone_named("rpz.test").expect("zone");

    // The same configuration: the task and its zone are kept.
    let same = d.reconfigure(&config("key = \"k\""));
    assert_eq!(same.unchanged, ["rpz.test."]);
    assert!(Arc::ptr_eq(
        &first,
        &d.zone_named("rpz.test").expect("zone")
    ));

    // Another key: a new task with it; the old one is retired.
    let rekeyed = d.reconfigure(&config("key = \"other\""));
    assert_eq!(rekeyed.restarted, ["rpz.test."]);
    assert!(first.is_retired());
    let second = d.zone_named("rpz.test").expect("zone");
    assert_eq!(
        second.key.as_ref().map(|k| k.name.to_ascii()),
        Some("other.".into())
    );
    assert!(
        second.requested.load(Ordering::Relaxed),
        "it checks at once"
    );

    // The zone removed: retired, and a NOTIFY for it is not ours any more.
    let text = "[server]\nlisten = [\"127.0.0.1:5300\"]\ndirectory = \"/tmp\"\n";
    let none = Config::from_toml_str(text, Path::new("/tmp/sekisho.toml")).expect("config");
    let removed = d.reconfigure(&none);
    assert_eq!(removed.removed, ["rpz.test."]);
    assert!(second.is_retired());
    let mut out = Vec::new();
    let from: SocketAddr = "192.0.2.53:4000".parse().expect("addr");
    assert!(d.handle_notify(&notify_packet("rpz.test."), from, &mut out));
    assert_eq!(rcode_of(&out), ResponseCode::NotAuth);

    // Added back: a task again.
    let added = d.reconfigure(&config(""));
    assert_eq!(added.added, ["rpz.test."]);
}
