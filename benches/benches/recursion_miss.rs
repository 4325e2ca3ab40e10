//! The recursor's own work for one cache miss: a unique name under a zone
//! whose cut is cached (`rN.wild.corp.example`, as the side-by-side
//! recursion benchmark asks), from the step cache lookup through the query
//! to the zone's server, the answer's checks and classification, to the
//! caches' updates. The authorities answer in process (an `Exchange` that
//! returns bytes at once), so what is measured is the recursor's CPU, not
//! the network's; validation is off (the scripted hierarchy is unsigned).
//!
//! `cargo bench -p sekisho-benches --bench recursion_miss`

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion, Throughput};
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sekisho_limits::Limits;
use sekisho_recursor::{
    Exchange, ExchangeError, ExchangeFuture, Recursor, RecursorConfig, Transport,
};

const ROOT: Ipv4Addr = Ipv4Addr::new(127, 0, 97, 1);
const EXAMPLE: Ipv4Addr = Ipv4Addr::new(127, 0, 97, 2);
const CORP: Ipv4Addr = Ipv4Addr::new(127, 0, 97, 3);

fn name(s: &str) -> Name {
    Name::from_str(s).expect("name")
}

/// Three scripted servers: the root refers `example.`, `example.` refers
/// `corp.example.`, and `corp.example.` answers A for every name below
/// `wild.corp.example.` (a wildcard) and NODATA for the rest.
struct Tree {
    /// Queries answered from the prepared bytes (the measured path).
    fast: AtomicU64,
}

impl Tree {
    /// The wildcard's answer built from the query's bytes: the header and
    /// question kept, QR and AA set, the OPT record dropped, one A record
    /// whose owner points at the question. `None` when the query is not an
    /// A question below `wild.corp.example.`.
    fn wildcard(query: &[u8]) -> Option<Vec<u8>> {
        let mut at = 12;
        let mut labels = Vec::new();
        loop {
            let len = usize::from(*query.get(at)?);
            if len == 0 {
                at += 1;
                break;
            }
            labels.push(query.get(at + 1..at + 1 + len)?);
            at += 1 + len;
        }
        let qtype = query.get(at..at + 2)?;
        let end = at + 4;
        let below = labels.len() == 4
            && labels[1].eq_ignore_ascii_case(b"wild")
            && labels[2].eq_ignore_ascii_case(b"corp")
            && labels[3].eq_ignore_ascii_case(b"example");
        if !below || qtype != [0, 1] {
            return None;
        }
        let mut out = Vec::with_capacity(end + 16);
        out.extend_from_slice(query.get(..end)?);
        out[2] = 0x84 | (query[2] & 0x01); // QR, AA, RD copied
        out[3] = 0;
        out[6..12].copy_from_slice(&[0, 1, 0, 0, 0, 0]);
        out.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1]);
        Some(out)
    }

    /// Any other answer, built with hickory (warm-up only).
    fn slow(server: IpAddr, query: &[u8]) -> Result<Vec<u8>, ExchangeError> {
        let q = Message::from_vec(query).map_err(|_| ExchangeError::Malformed)?;
        let question = q.queries.first().ok_or(ExchangeError::Malformed)?.clone();
        let mut m = Message::response(q.metadata.id, OpCode::Query);
        m.add_query(question.clone());
        let referral = |m: &mut Message, zone: &str, ns: &str, addr: Ipv4Addr| {
            m.add_authority(Record::from_rdata(
                name(zone),
                3600,
                RData::NS(NS(name(ns))),
            ));
            m.add_additional(Record::from_rdata(name(ns), 3600, RData::A(A(addr))));
        };
        match server {
            IpAddr::V4(ROOT) => referral(&mut m, "example.", "ns.example.", EXAMPLE),
            IpAddr::V4(EXAMPLE) => referral(&mut m, "corp.example.", "ns.corp.example.", CORP),
            _ => {
                m.metadata.authoritative = true;
                let apex = name("corp.example.");
                let qn = question.name();
                if *qn == apex && question.query_type() == RecordType::NS {
                    m.add_answer(Record::from_rdata(
                        apex,
                        3600,
                        RData::NS(NS(name("ns.corp.example."))),
                    ));
                } else if *qn == name("ns.corp.example.") && question.query_type() == RecordType::A
                {
                    m.add_answer(Record::from_rdata(qn.clone(), 3600, RData::A(A(CORP))));
                } else if *qn == apex || name("wild.corp.example.").zone_of(qn) {
                    let soa = SOA::new(
                        name("ns.corp.example."),
                        name("h.corp.example."),
                        1,
                        3600,
                        600,
                        86400,
                        300,
                    );
                    m.add_authority(Record::from_rdata(apex, 300, RData::SOA(soa)));
                } else {
                    m.metadata.response_code = ResponseCode::NXDomain;
                }
            }
        }
        m.to_vec().map_err(|_| ExchangeError::Malformed)
    }
}

impl Exchange for Tree {
    fn exchange<'a>(
        &'a self,
        server: SocketAddr,
        query: &'a [u8],
        _transport: Transport,
        _timeout: Duration,
    ) -> ExchangeFuture<'a> {
        let answer = match (server.ip(), Tree::wildcard(query)) {
            (IpAddr::V4(CORP), Some(a)) => {
                self.fast.fetch_add(1, Ordering::Relaxed);
                Ok(a)
            }
            (ip, _) => Tree::slow(ip, query),
        };
        Box::pin(std::future::ready(answer))
    }
}

/// The daemon's recursor settings (QNAME minimisation on, its defaults for
/// the bounds) over the scripted root, without validation.
fn config() -> RecursorConfig {
    RecursorConfig {
        root_hints: vec![(name("a.root."), vec![IpAddr::V4(ROOT)])],
        anchors: Vec::new(),
        validate: false,
        domain_insecure: Vec::new(),
        qname_minimisation: true,
        allow_ipv6: false,
        port: 53,
        max_queries: 100,
        fetches_per_zone: 0,
        fetches_per_server: 0,
        max_ns_address_queries: 5,
        limits: Arc::new(Limits::new()),
        max_ttl: Duration::from_secs(86_400),
        max_cache_bytes: 64 << 20,
        max_validations: 64,
        validation_threads: 2,
        max_nsec3_hashes: 150,
        bogus_ttl: Duration::from_secs(60),
        aggressive_nsec: true,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tree = Arc::new(Tree {
        fast: AtomicU64::new(0),
    });
    let r = Recursor::with_exchange(config(), tree.clone());
    let resolve = |n: u64| {
        let qname = name(&format!("r{n}.wild.corp.example."));
        let deadline = Instant::now() + Duration::from_secs(5);
        let out = rt
            .block_on(r.resolve(&qname, RecordType::A, false, false, false, deadline))
            .expect("resolved");
        assert_eq!(out.wire[3] & 0x0f, 0, "NOERROR");
    };
    // Warm: the cuts, the NS addresses and the non-cut mark of `wild`.
    for n in 0..3 {
        resolve(n);
    }
    let before = tree.fast.load(Ordering::Relaxed);
    resolve(3);
    assert_eq!(
        tree.fast.load(Ordering::Relaxed),
        before + 1,
        "one query per miss once warm"
    );

    let mut g = c.benchmark_group("recursion_miss");
    g.throughput(Throughput::Elements(1));
    let mut n = 4u64;
    g.bench_function("unsigned_wildcard_miss_cut_cached", |b| {
        b.iter(|| {
            n += 1;
            resolve(n);
        })
    });
    g.finish();
}

/// The group `criterion_main!` runs (what `criterion_group!` would write,
/// documented).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}
criterion_main!(benches);
