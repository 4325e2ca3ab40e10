//! The cache-hit path as a listener runs it: parse the query, ACL, packet
//! cache lookup, ID/case/TTL patching, OPT, counting. No network.
//!
//! `cargo bench -p sekisho-benches --bench cache_hit`

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion, Throughput};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sekisho_cache::{CacheLimits, PacketCache, Prepared};
use sekisho_resolver::dispatch::Dispatch;
use sekisho_resolver::metrics::{Metrics, Proto};
use sekisho_resolver::pipeline::{Pipeline, PipelineConfig, Step};
use sekisho_rpz::{PolicySet, ResponseFacts, SetOptions, ZoneRules, ZoneSettings};
use sekisho_upstream::ForwardTable;

/// A query for `name` with EDNS.
fn query(name: &str) -> Vec<u8> {
    let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(
        Name::from_str(name).expect("name"),
        RecordType::A,
    ));
    m.set_edns(Edns::new());
    m.to_vec().expect("encode")
}

/// An upstream-style answer for `name`.
fn answer(name: &str) -> Vec<u8> {
    let mut m = Message::new(0, MessageType::Response, OpCode::Query);
    m.add_query(Query::query(
        Name::from_str(name).expect("name"),
        RecordType::A,
    ));
    m.add_answer(Record::from_rdata(
        Name::from_str(name).expect("name"),
        86400,
        RData::A(A::new(192, 0, 2, 1)),
    ));
    m.to_vec().expect("encode")
}

/// A policy set with one zone of `n` QNAME rules that the benchmark's names never hit.
fn policy(n: usize) -> Arc<arc_swap::ArcSwap<PolicySet>> {
    let apex = Name::from_str("rpz.local.").expect("apex");
    let zones = if n == 0 {
        Vec::new()
    } else {
        let rules = (0..n).map(|i| {
            Record::from_rdata(
                Name::from_str(&format!("bad{i}.example{}.test.rpz.local.", i % 100))
                    .expect("owner"),
                300,
                RData::CNAME(hickory_proto::rr::rdata::CNAME(Name::root())),
            )
        });
        vec![Arc::new(
            ZoneRules::compile(ZoneSettings::new(apex), rules).0,
        )]
    };
    Arc::new(arc_swap::ArcSwap::from_pointee(PolicySet::new(
        zones,
        SetOptions::default(),
    )))
}

/// Store an answer for each of `names` in the pipeline's packet cache; `with_facts`: as
/// the resolver stores answers while a policy is loaded, with the facts the policy
/// post-check reads on every hit.
fn cache_answers(pipeline: &Pipeline, limits: &CacheLimits, names: &[String], with_facts: bool) {
    let mut key = Vec::new();
    for n in names {
        let q = query(n);
        let parsed = sekisho_wire::parse_query(&q).expect("query");
        PacketCache::key_into(parsed.qname_wire(), 1, 1, false, false, &mut key);
        let wire = answer(n);
        let mut prepared = Prepared::new(&wire, limits).expect("answer");
        if with_facts {
            let m = Message::from_vec(&wire).expect("decode");
            let facts = ResponseFacts::from_response(&Name::from_str(n).expect("name"), &m);
            prepared.facts = Some(Arc::new(facts));
        }
        pipeline.cache.insert(&key, prepared, Instant::now());
    }
}

fn bench(c: &mut Criterion) {
    bench_with_rules(c, 0, "handle_fast_udp");
    bench_with_rules(c, 1_000_000, "handle_fast_udp_1m_rules");
}

/// Cache hits through the whole fast path, with a policy zone of `rules` rules loaded.
fn bench_with_rules(c: &mut Criterion, rules: usize, label: &str) {
    let limits = CacheLimits {
        max_entries: 100_000,
        min_ttl: 0,
        max_ttl: 86400,
        max_negative_ttl: 3600,
        servfail_ttl: 1,
        max_bytes: 1 << 30,
        max_stale: sekisho_cache::MAX_STALE,
    };
    let pipeline = Arc::new(Pipeline::new(
        PipelineConfig {
            allow_query: vec!["127.0.0.0/8".parse().expect("net")],
            allow_recursion: vec!["127.0.0.0/8".parse().expect("net")],
            edns_buffer_size: 1232,
            query_timeout: Duration::from_secs(4),
            recursive_clients: 10_000,
            clients_per_query: 100,
            stale_answer_ttl: Some(30),
            prefetch: true,
            zone_quota_drop: true,
            server_quota_drop: false,
        },
        PacketCache::new(limits),
        ForwardTable::default(),
        Arc::new(Metrics::new().expect("metrics")),
        policy(rules),
        None,
    ));
    // As the listeners call it: the dispatch layer in front of the pipeline (no
    // zone-transfer roles here, so it adds only the decode it does for the pipeline).
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
    let names: Vec<String> = (0..1000).map(|i| format!("host{i}.test.")).collect();
    let mut key = Vec::new();
    cache_answers(&pipeline, &limits, &names, rules > 0);
    let queries: Vec<Vec<u8>> = names.iter().map(|n| query(n)).collect();
    let client: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let server: SocketAddr = "127.0.0.1:53".parse().expect("addr");
    let mut out = Vec::with_capacity(4096);
    let mut g = c.benchmark_group("cache_hit");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function(label, |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            let step =
                dispatch.handle_fast(&queries[i], client, server, Proto::Udp, &mut out, &mut key);
            assert_eq!(step, Step::Reply);
        })
    });
    if rules > 0 {
        // Queries for 100 listed names whose real answers are cached (the policy mix
        // of benches/peers): the rewrite built by the async path for every query (as
        // before rewrites were kept), and served from the kept answer on the fast path.
        let listed: Vec<String> = (0..100)
            .map(|i| format!("bad{i}.example{}.test.", i % 100))
            .collect();
        cache_answers(&pipeline, &limits, &listed, true);
        let blocked: Vec<Vec<u8>> = listed.iter().map(|n| query(n)).collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        g.bench_function("policy_hit_async_path_1m_rules", |b| {
            b.iter(|| {
                i = (i + 1) % blocked.len();
                let answer = rt.block_on(pipeline.resolve(&blocked[i], client.ip(), Proto::Udp));
                assert!(answer.is_some());
            })
        });
        g.bench_function("policy_hit_kept_1m_rules", |b| {
            b.iter(|| {
                i = (i + 1) % blocked.len();
                let step = dispatch.handle_fast(
                    &blocked[i],
                    client,
                    server,
                    Proto::Udp,
                    &mut out,
                    &mut key,
                );
                assert_eq!(step, Step::Reply);
            })
        });
    }
    g.finish();
}

/// The group `criterion_main!` runs (what `criterion_group!` would write,
/// documented).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}
criterion_main!(benches);
