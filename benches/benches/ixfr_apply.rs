//! Time to live of an IXFR delta on a 1M-rule policy zone: `ZoneRules::apply_delta`
//! (once per delta, with the new SOA among the additions, as the distribution
//! does) plus `PolicyStore::install` (the ArcSwap publication queries read).
//!
//! Deltas of 10, 1,000 and 100,000 changes; half removals of existing rules, half
//! additions of new ones. Every size runs several times from the same base and the
//! minimum, median and maximum are printed. The target: 1,000 changes
//! live within 50 ms.
//!
//! Run: `cargo bench -p sekisho-benches --bench ixfr_apply`.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::rr::rdata::{A, CNAME, SOA};
use hickory_proto::rr::{Name, RData, Record};
use sekisho_conf::Config;
use sekisho_policy::{zone_settings, PolicyStore};
use sekisho_rpz::ZoneRules;

/// Rules in the base zone.
const RULES: usize = 1_000_000;

/// The policy zone apex.
fn apex() -> Name {
    Name::from_ascii("rpz.bench.").expect("apex")
}

/// An owner `label` under the apex.
fn owner(label: &str) -> Name {
    Name::from_ascii(format!("{label}.rpz.bench.")).expect("owner")
}

/// The SOA at `serial`.
fn soa(serial: u32) -> Record {
    Record::from_rdata(
        apex(),
        300,
        RData::SOA(SOA::new(
            owner("ns"),
            owner("hostmaster"),
            serial,
            3600,
            600,
            86400,
            60,
        )),
    )
}

/// The record of rule `i`: mostly `CNAME .` (NXDOMAIN), every 10th local data,
/// every 20th a wildcard.
fn rule(i: usize) -> Record {
    match i % 20 {
        0 => Record::from_rdata(
            owner(&format!("*.evil{i}.test")),
            300,
            RData::CNAME(CNAME(Name::root())),
        ),
        1 | 2 => Record::from_rdata(
            owner(&format!("bad{i}.example{}.test", i % 100)),
            300,
            RData::A(A(Ipv4Addr::new(192, 0, 2, (i % 250) as u8))),
        ),
        _ => Record::from_rdata(
            owner(&format!("bad{i}.example{}.test", i % 100)),
            300,
            RData::CNAME(CNAME(Name::root())),
        ),
    }
}

/// A delta of `changes` records: removes rules 0, 2, 4, ... and adds new rules
/// past the base, plus the new SOA.
fn delta(changes: usize) -> (Vec<Record>, Vec<Record>) {
    let half = changes / 2;
    let removed = (0..half).map(|k| rule(k * 2)).collect();
    let mut added: Vec<Record> = (0..changes - half).map(|k| rule(RULES + k)).collect();
    added.push(soa(2));
    (removed, added)
}

/// Median of sorted durations.
fn median(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

fn main() {
    let dir = std::env::temp_dir();
    let config = Config::from_toml_str(
        "[[response-policy.zone]]\nname = \"rpz.bench\"\nfile = \"rpz.bench.db\"\n",
        &dir.join("ixfr-bench.toml"),
    )
    .expect("config");
    let rp = &config.response_policy;
    let store = PolicyStore::new(rp, Path::new(&dir), None);
    let settings = zone_settings(&rp.zones[0], rp);

    let started = Instant::now();
    let records = std::iter::once(soa(1)).chain((0..RULES).map(rule));
    let (base, warnings) = ZoneRules::compile(settings, records);
    assert!(warnings.is_empty(), "{} warnings", warnings.len());
    let base = Arc::new(base);
    println!(
        "ixfr_apply: base zone {} rules compiled in {:.2?}",
        base.counts().total(),
        started.elapsed()
    );
    store.install(base.clone(), |_| {});

    for (changes, runs) in [(10usize, 20usize), (1_000, 20), (100_000, 5)] {
        let (removed, added) = delta(changes);
        let mut apply = Vec::with_capacity(runs);
        let mut live = Vec::with_capacity(runs);
        for _ in 0..runs {
            // Start from the base each time (as a fresh IXFR on the base version).
            store.install(base.clone(), |_| {});
            let t0 = Instant::now();
            let (next, _) = base.apply_delta(&removed, &added);
            let t1 = Instant::now();
            let next = Arc::new(next);
            store.install(next.clone(), |_| {});
            let t2 = Instant::now();
            apply.push(t1 - t0);
            live.push(t2 - t0);
            assert_eq!(next.serial(), Some(2));
            assert_eq!(
                next.counts().total(),
                RULES - changes / 2 + (changes - changes / 2)
            );
        }
        apply.sort();
        live.sort();
        println!(
            "ixfr_apply: {changes:>7} changes on {RULES} rules: time to live (apply_delta + publish) \
             min {:.2?} median {:.2?} max {:.2?} (apply_delta median {:.2?}; {runs} runs)",
            live[0],
            median(&live),
            live[runs - 1],
            median(&apply),
        );
    }
}
