//! RPZ policy index benches: compiling a 1M-rule zone, QNAME lookups at 1M rules, and the
//! resident memory the compiled index costs per rule.
//!
//! The rule mix is the one the targets are stated for: 85% exact `bad<i>.example<i%100>.test
//! CNAME .`, 10% local data (A + AAAA), 5% wildcard `*.evil<i>.test CNAME .`.
//!
//! Run: `cargo bench -p sekisho-benches --bench rpz`. The memory figure is printed before
//! the criterion groups run (`rpz memory: ... bytes/rule`).

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use criterion::{criterion_main, BatchSize, Criterion};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sekisho_rpz::{PolicyQuery, PolicySet, ResponseFacts, SetOptions, ZoneRules, ZoneSettings};

/// Number of rules in the big zone.
const RULES: usize = 1_000_000;

/// The policy zone apex.
fn apex() -> Name {
    Name::from_ascii("rpz.bench.").expect("apex")
}

/// The records of rule `i` (one or two records).
fn rule_records(i: usize, apex: &Name) -> Vec<Record> {
    let owner = |s: String| {
        let mut n = Name::from_ascii(&s).expect("owner");
        n.set_fqdn(false);
        n.append_domain(apex).expect("owner fits")
    };
    match i % 20 {
        // 5%: wildcard NXDOMAIN.
        0 => vec![Record::from_rdata(
            owner(format!("*.evil{i}.test")),
            300,
            RData::CNAME(CNAME(Name::root())),
        )],
        // 10%: local data, A + AAAA.
        1 | 2 => {
            let o = owner(format!("bad{i}.example{}.test", i % 100));
            vec![
                Record::from_rdata(
                    o.clone(),
                    300,
                    RData::A(A(Ipv4Addr::new(192, 0, 2, (i % 250) as u8))),
                ),
                Record::from_rdata(
                    o,
                    300,
                    RData::AAAA(AAAA(Ipv6Addr::new(
                        0x2001,
                        0xdb8,
                        0,
                        0,
                        0,
                        0,
                        0,
                        (i % 65000) as u16,
                    ))),
                ),
            ]
        }
        // 85%: exact NXDOMAIN.
        _ => vec![Record::from_rdata(
            owner(format!("bad{i}.example{}.test", i % 100)),
            300,
            RData::CNAME(CNAME(Name::root())),
        )],
    }
}

/// All records of the zone, generated lazily (SOA first).
fn zone_records(n: usize) -> impl Iterator<Item = Record> {
    let apex = apex();
    let soa = Record::from_rdata(
        apex.clone(),
        3600,
        RData::SOA(SOA::new(
            Name::from_ascii("ns.invalid.").expect("mname"),
            Name::from_ascii("hostmaster.invalid.").expect("rname"),
            1,
            3600,
            600,
            86400,
            60,
        )),
    );
    std::iter::once(soa).chain((0..n).flat_map(move |i| rule_records(i, &apex)))
}

/// Resident set size of this process in bytes (Linux `VmRSS`).
/// Lower-cased uncompressed wire form of a name, as the resolver's cache key holds it.
fn lower_wire(name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 1);
    for l in name.iter() {
        out.push(l.len() as u8);
        out.extend(l.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
    out
}

fn rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Compiles the 1M-rule zone.
fn compile(records: Vec<Record>) -> ZoneRules {
    ZoneRules::compile(ZoneSettings::new(apex()), records).0
}

/// Prints the resident memory of the compiled index per rule (records generated on the fly,
/// so only the index stays resident).
fn report_memory() {
    let before = rss_bytes().unwrap_or(0);
    let (zone, warnings) = ZoneRules::compile(ZoneSettings::new(apex()), zone_records(RULES));
    let after = rss_bytes().unwrap_or(0);
    assert!(warnings.is_empty());
    let counts = zone.counts();
    println!(
        "rpz memory: {} rules, RSS +{} bytes = {:.1} bytes/rule (index heap {:.1} bytes/rule)",
        counts.total(),
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / counts.total() as f64,
        zone.heap_bytes() as f64 / counts.total() as f64,
    );
    drop(zone);
}

fn benches(c: &mut Criterion) {
    report_memory();

    let records: Vec<Record> = zone_records(RULES).collect();
    let mut g = c.benchmark_group("rpz");
    g.sample_size(10);
    g.bench_function("compile_1m_rules", |b| {
        b.iter_batched(
            || records.clone(),
            |r| black_box(compile(r)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("parse_and_compile_1m_rules", |b| {
        b.iter(|| {
            black_box(ZoneRules::compile(
                ZoneSettings::new(apex()),
                zone_records(RULES),
            ))
        })
    });
    g.finish();

    let zone = Arc::new(compile(records));
    // IXFR-sized delta: 500 removals and 500 additions against the 1M-rule zone.
    let apex = apex();
    let removed: Vec<Record> = (0..500)
        .flat_map(|k| rule_records(k * 1999 + 3, &apex))
        .collect();
    let added: Vec<Record> = (RULES..RULES + 500)
        .flat_map(|i| rule_records(i, &apex))
        .collect();
    let mut g = c.benchmark_group("rpz");
    g.sample_size(20);
    g.bench_function("apply_delta_1000_changes_to_1m", |b| {
        b.iter(|| black_box(zone.apply_delta(&removed, &added)))
    });
    g.finish();
    let set = PolicySet::new(vec![zone], SetOptions::default());
    // Query names spread over the whole zone, so the table is not all in cache.
    let hits: Vec<Name> = (0..4096usize)
        .map(|k| {
            let i = (k * 7919 * 31 + 3) % RULES;
            let i = if i % 20 == 0 { i + 3 } else { i };
            Name::from_ascii(format!("bad{i}.example{}.test.", i % 100)).expect("name")
        })
        .collect();
    let wild: Vec<Name> = (0..4096usize)
        .map(|k| {
            Name::from_ascii(format!("www.evil{}.test.", (k * 7919 * 20) % RULES)).expect("name")
        })
        .collect();
    let misses: Vec<Name> = (0..4096usize)
        .map(|k| Name::from_ascii(format!("www.good{k}.example{}.test.", k % 100)).expect("name"))
        .collect();
    // Misses whose exact probe lands on a random slot (the names above share their wildcard
    // probe `*.example<k%100>.test`, whose 100 slots stay cached).
    let cold_misses: Vec<Name> = (0..4096usize)
        .map(|k| {
            Name::from_ascii(format!("good{}.example{}.test.", k * 7919, k % 100)).expect("name")
        })
        .collect();
    let client = "198.51.100.1".parse().expect("addr");
    let facts = ResponseFacts::default();
    let mut g = c.benchmark_group("rpz_qname_1m");
    for (label, names) in [
        ("hit_exact", &hits),
        ("hit_wildcard", &wild),
        ("miss", &misses),
        ("miss_random_slot", &cold_misses),
    ] {
        // The resolver probes the index from the query name's lower-cased wire form (its
        // cache key) and keeps the hickory name for logging and rewriting.
        let wires: Vec<Vec<u8>> = names.iter().map(lower_wire).collect();
        let query = |k: usize, by_wire: bool| PolicyQuery {
            client,
            qname: &names[k],
            qname_wire: by_wire.then(|| wires[k].as_slice()),
            qtype: RecordType::A,
            recursion_desired: true,
            dnssec_ok: false,
        };
        // What the resolver's packet-cache fast path asks: "does anything match?" (the hit
        // is not materialised).
        let mut k = 0usize;
        g.bench_function(label, |b| {
            b.iter(|| {
                k = (k + 1) & 4095;
                black_box(
                    set.check_response_quick(&query(k, true), &facts)
                        .is_no_match(),
                )
            })
        });
        // The same, probing from the hickory name (callers without the wire form).
        let mut k = 0usize;
        g.bench_function(format!("{label}_from_name"), |b| {
            b.iter(|| {
                k = (k + 1) & 4095;
                black_box(
                    set.check_response_quick(&query(k, false), &facts)
                        .is_no_match(),
                )
            })
        });
        // The full decision (owner name, trigger and action built), as for a rewrite.
        let mut k = 0usize;
        g.bench_function(format!("{label}_materialised"), |b| {
            b.iter(|| {
                k = (k + 1) & 4095;
                black_box(set.check_response(&query(k, true), &facts).verdict)
            })
        });
    }
    g.finish();
}

/// The group `criterion_main!` runs (what `criterion_group!` would write,
/// documented).
fn rpz() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
}
criterion_main!(rpz);
