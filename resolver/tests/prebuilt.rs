//! Policy answers kept for the fast path: the second query for a blocked
//! name is answered inline with exactly the bytes the async path would
//! build, logged and counted as a hit, and never once its policy set or its
//! real answer has changed. No network: the real answers are put in the
//! packet cache as the resolver stores them.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sekisho_cache::{CacheLimits, PacketCache, Prepared};
use sekisho_resolver::dispatch::Dispatch;
use sekisho_resolver::metrics::{Metrics, Proto};
use sekisho_resolver::pipeline::{Pipeline, PipelineConfig, Step};
use sekisho_rpz::{PolicySet, ResponseFacts, SetOptions, ZoneRules, ZoneSettings};
use sekisho_upstream::ForwardTable;

const LIMITS: CacheLimits = CacheLimits {
    max_entries: 1000,
    min_ttl: 0,
    max_ttl: 86400,
    max_negative_ttl: 3600,
    servfail_ttl: 1,
    max_bytes: 1 << 24,
    max_stale: sekisho_cache::MAX_STALE,
};

fn name(s: &str) -> Name {
    Name::from_str(s).expect("name")
}

/// A query for `qname`, with EDNS (and DO) when asked.
fn query(id: u16, qname: &str, edns: bool) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name(qname), RecordType::A));
    if edns {
        m.set_edns(Edns::new());
    }
    m.to_vec().expect("encode")
}

/// The policy set of one zone `rpz.local.` with these rules (owner, data).
fn policy_set(rules: &[(&str, RData)]) -> PolicySet {
    let apex = name("rpz.local.");
    let mut records = vec![Record::from_rdata(
        apex.clone(),
        300,
        RData::SOA(SOA::new(
            name("localhost."),
            name("hostmaster.localhost."),
            7,
            3600,
            600,
            86400,
            60,
        )),
    )];
    records.extend(rules.iter().map(|(owner, data)| {
        Record::from_rdata(name(&format!("{owner}.rpz.local.")), 300, data.clone())
    }));
    let (zone, warnings) = ZoneRules::compile(ZoneSettings::new(apex), records);
    assert!(warnings.is_empty(), "{warnings:?}");
    PolicySet::new(vec![Arc::new(zone)], SetOptions::default())
}

fn nxdomain_rule(owner: &str) -> (&str, RData) {
    (owner, RData::CNAME(CNAME(Name::root())))
}

fn local_a(owner: &str, a: [u8; 4]) -> (&str, RData) {
    (owner, RData::A(A::new(a[0], a[1], a[2], a[3])))
}

struct Rig {
    pipeline: Arc<Pipeline>,
    dispatch: Dispatch,
    policy: Arc<ArcSwap<PolicySet>>,
    client: SocketAddr,
}

impl Rig {
    fn new(set: PolicySet) -> Rig {
        let policy = Arc::new(ArcSwap::from_pointee(set));
        let pipeline = Arc::new(Pipeline::new(
            PipelineConfig {
                allow_query: vec!["127.0.0.0/8".parse().expect("net")],
                allow_recursion: vec!["127.0.0.0/8".parse().expect("net")],
                edns_buffer_size: 1232,
                query_timeout: Duration::from_secs(1),
                recursive_clients: 100,
                clients_per_query: 10,
                stale_answer_ttl: None,
                prefetch: false,
                zone_quota_drop: true,
                server_quota_drop: false,
            },
            PacketCache::new(LIMITS),
            ForwardTable::default(),
            Arc::new(Metrics::new().expect("metrics")),
            policy.clone(),
            None,
        ));
        let dispatch = Dispatch::new(
            pipeline.clone(),
            None,
            None,
            sekisho_resolver::chaos::ChaosConfig::default(),
            Arc::new(sekisho_resolver::ratelimit::RateLimiter::new(
                &sekisho_conf::RateLimit::default(),
                pipeline.metrics.limits.clone(),
            )),
        );
        Rig {
            pipeline,
            dispatch,
            policy,
            client: "127.0.0.1:40000".parse().expect("addr"),
        }
    }

    /// Store the real answer for `qname` (A 198.51.100.1) as the resolver
    /// does while a policy is loaded: with its policy facts.
    fn cache_real_answer(&self, qname: &str) {
        let mut m = Message::new(0, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(name(qname), RecordType::A));
        m.add_answer(Record::from_rdata(
            name(qname),
            3600,
            RData::A(A::new(198, 51, 100, 1)),
        ));
        let wire = m.to_vec().expect("encode");
        let mut prepared = Prepared::new(&wire, &LIMITS).expect("prepared");
        prepared.facts = Some(Arc::new(ResponseFacts::from_response(&name(qname), &m)));
        let q = query(0, qname, false);
        let parsed = sekisho_wire::parse_query(&q).expect("query");
        let mut key = Vec::new();
        PacketCache::key_into(parsed.qname_wire(), 1, 1, false, false, &mut key);
        assert!(self.pipeline.cache.insert(&key, prepared, Instant::now()));
    }

    /// The fast path's step and answer for `packet`.
    fn fast(&self, packet: &[u8], proto: Proto) -> (Step, Vec<u8>) {
        let mut out = Vec::new();
        let mut key = Vec::new();
        let local: SocketAddr = "127.0.0.1:53".parse().expect("addr");
        let step = self
            .dispatch
            .handle_fast(packet, self.client, local, proto, &mut out, &mut key);
        (step, out)
    }

    /// The async path's answer for `packet`.
    fn slow(&self, packet: &[u8], proto: Proto) -> Vec<u8> {
        self.slow_or_nothing(packet, proto).expect("an answer")
    }

    /// The async path's answer for `packet`, if it sends one.
    fn slow_or_nothing(&self, packet: &[u8], proto: Proto) -> Option<Vec<u8>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ip: IpAddr = self.client.ip();
        rt.block_on(self.pipeline.resolve(packet, ip, proto))
    }

    fn hits(&self) -> u64 {
        let text = String::from_utf8(self.pipeline.metrics.render()).expect("utf-8");
        text.lines()
            .filter(|l| l.starts_with("sekisho_rpz_hits_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

fn rcode(answer: &[u8]) -> ResponseCode {
    Message::from_vec(answer)
        .expect("decode")
        .metadata
        .response_code
}

fn first_a(answer: &[u8]) -> Option<String> {
    let m = Message::from_vec(answer).expect("decode");
    m.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(a.0.to_string()),
        _ => None,
    })
}

#[test]
fn a_blocked_name_is_answered_inline_with_the_async_paths_bytes_after_the_first_query() {
    let rig = Rig::new(policy_set(&[nxdomain_rule("blocked.test")]));
    rig.cache_real_answer("blocked.test.");

    // First query: the rewrite is built on the async path, and kept.
    let first = query(0x1111, "blocked.test.", true);
    assert_eq!(rig.fast(&first, Proto::Udp).0, Step::Resolve);
    let built = rig.slow(&first, Proto::Udp);
    assert_eq!(rcode(&built), ResponseCode::NXDomain);
    assert_eq!(rig.pipeline.prebuilt().len(), 1);
    assert_eq!(rig.hits(), 1);

    // Another client, ID and letter case: answered inline, byte for byte what
    // the async path builds for it, and logged as a hit.
    let second = query(0x2222, "BLocked.TEST.", true);
    let (step, inline) = rig.fast(&second, Proto::Udp);
    assert_eq!(step, Step::Reply);
    assert_eq!(inline, rig.slow(&second, Proto::Udp));
    assert_eq!(rig.hits(), 3);

    // Without EDNS the answer has no OPT: another shape, built once more.
    let plain = query(0x3333, "blocked.test.", false);
    assert_eq!(rig.fast(&plain, Proto::Udp).0, Step::Resolve);
    let built_plain = rig.slow(&plain, Proto::Udp);
    let (step, inline_plain) = rig.fast(&plain, Proto::Udp);
    assert_eq!(step, Step::Reply);
    assert_eq!(inline_plain, built_plain);
    assert!(Message::from_vec(&inline_plain)
        .expect("decode")
        .edns
        .is_none());

    // Over TCP: its own shape too (`rpz-tcp-only` answers differ by transport).
    assert_eq!(rig.fast(&second, Proto::Tcp).0, Step::Resolve);
}

#[test]
fn a_policy_change_or_a_new_real_answer_is_never_answered_from_a_kept_rewrite() {
    let rig = Rig::new(policy_set(&[local_a("blocked.test", [192, 0, 2, 10])]));
    rig.cache_real_answer("blocked.test.");
    let q = query(0x1111, "blocked.test.", true);
    assert_eq!(rig.fast(&q, Proto::Udp).0, Step::Resolve);
    rig.slow(&q, Proto::Udp);
    let (step, out) = rig.fast(&q, Proto::Udp);
    assert_eq!(step, Step::Reply);
    assert_eq!(first_a(&out).as_deref(), Some("192.0.2.10"));

    // The rule now points elsewhere: the kept answer is not served.
    rig.policy.store(Arc::new(policy_set(&[local_a(
        "blocked.test",
        [192, 0, 2, 99],
    )])));
    assert_eq!(rig.fast(&q, Proto::Udp).0, Step::Resolve);
    assert_eq!(
        first_a(&rig.slow(&q, Proto::Udp)).as_deref(),
        Some("192.0.2.99")
    );
    let (step, out) = rig.fast(&q, Proto::Udp);
    assert_eq!(step, Step::Reply);
    assert_eq!(first_a(&out).as_deref(), Some("192.0.2.99"));

    // The real answer was flushed and stored again: the post-check's decision
    // read the old one's facts, so the rewrite is built again.
    rig.pipeline.cache.flush();
    rig.cache_real_answer("blocked.test.");
    assert_eq!(rig.fast(&q, Proto::Udp).0, Step::Resolve);

    // The rule is gone: the real answer, from the cache.
    rig.policy
        .store(Arc::new(policy_set(&[nxdomain_rule("other.test")])));
    let (step, out) = rig.fast(&q, Proto::Udp);
    assert_eq!(step, Step::Reply);
    assert_eq!(first_a(&out).as_deref(), Some("198.51.100.1"));

    // A swapped set empties the table (the kept hits hold their zones).
    rig.pipeline.prebuilt().follow(&rig.policy.load_full());
    assert!(rig.pipeline.prebuilt().is_empty());
}

#[test]
fn a_set_with_client_ip_rules_keeps_nothing() {
    let rig = Rig::new(policy_set(&[
        nxdomain_rule("blocked.test"),
        nxdomain_rule("32.9.0.0.10.rpz-client-ip"),
    ]));
    rig.cache_real_answer("blocked.test.");
    let q = query(0x1111, "blocked.test.", true);
    for _ in 0..2 {
        assert_eq!(rig.fast(&q, Proto::Udp).0, Step::Resolve);
        let built = rig.slow(&q, Proto::Udp);
        assert_eq!(rcode(&built), ResponseCode::NXDomain);
    }
    assert!(rig.pipeline.prebuilt().is_empty());
}

#[test]
fn drop_and_passthru_decisions_are_kept_too_and_still_logged() {
    let rig = Rig::new(policy_set(&[
        ("dropped.test", RData::CNAME(CNAME(name("rpz-drop.")))),
        ("allowed.test", RData::CNAME(CNAME(name("rpz-passthru.")))),
    ]));
    rig.cache_real_answer("dropped.test.");
    rig.cache_real_answer("allowed.test.");

    // DROP: nothing sent, on either path; the second time without a task.
    let dropped = query(0x1111, "dropped.test.", true);
    assert_eq!(rig.fast(&dropped, Proto::Udp).0, Step::Resolve);
    assert_eq!(rig.slow_or_nothing(&dropped, Proto::Udp), None);
    assert_eq!(rig.fast(&dropped, Proto::Udp).0, Step::Drop);
    assert_eq!(rig.hits(), 2);

    // PASSTHRU: the real answer, byte for byte what the async path sends.
    let allowed = query(0x2222, "allowed.test.", true);
    assert_eq!(rig.fast(&allowed, Proto::Udp).0, Step::Resolve);
    let real = rig.slow(&allowed, Proto::Udp);
    assert_eq!(first_a(&real).as_deref(), Some("198.51.100.1"));
    let (step, inline) = rig.fast(&allowed, Proto::Udp);
    assert_eq!(step, Step::Reply);
    assert_eq!(inline, real);
    assert_eq!(rig.hits(), 4);
    assert_eq!(rig.pipeline.prebuilt().len(), 2);
}

/// The future of a query that needs the network is moved into a box once per
/// query (a UDP worker's task), all of it whatever the query awaits, so what
/// few queries await is boxed where it is awaited (docs/architecture.md, the
/// hot path). A large future awaited inline again (a forwarder's connection
/// set-up made it 14 KB) fails here.
#[test]
fn the_future_of_a_miss_stays_small() {
    let rig = Rig::new(policy_set(&[]));
    let packet = query(1, "www.example.", false);
    let local: SocketAddr = "127.0.0.1:53".parse().expect("addr");
    let resolving = rig.dispatch.resolve(&packet, rig.client, local, Proto::Udp);
    let size = std::mem::size_of_val(&resolving);
    assert!(size <= 4096, "Dispatch::resolve's future is {size} bytes");
}
