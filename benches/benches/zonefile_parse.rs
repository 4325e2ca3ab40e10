//! Zone-file parse rate on RPZ-shaped input: one million `CNAME .` and `A` records made in
//! memory, parsed by `sekisho_zonefile::ZoneReader`. Target: at least 1.5M records/s on one
//! core in release.

use std::time::Duration;

use criterion::{criterion_main, Criterion, Throughput};
use sekisho_zonefile::{ParseOptions, ZoneReader};

/// Records in the generated zone.
const RECORDS: u64 = 1_000_000;

/// An RPZ-style zone: half `name CNAME .` (NXDOMAIN rules), half `name 300 A addr` (local data).
fn rpz_zone() -> Vec<u8> {
    use std::io::Write as _;
    let mut text = Vec::with_capacity(40 * RECORDS as usize);
    text.extend_from_slice(b"$ORIGIN rpz.example.\n$TTL 300\n");
    text.extend_from_slice(b"@ SOA ns.rpz.example. hostmaster.rpz.example. 1 3600 600 86400 60\n");
    text.extend_from_slice(b"@ NS ns.rpz.example.\n");
    for i in 0..RECORDS / 2 {
        // Writing into a Vec cannot fail.
        let _ = writeln!(text, "bad{i}.example{}.test CNAME .", i % 97);
        let _ = writeln!(text, "x{i}.test 300 A 192.0.2.{}", i % 256);
    }
    text
}

/// Parses the whole zone and returns the record count.
fn parse(zone: &[u8]) -> u64 {
    let mut count = 0;
    for record in ZoneReader::new(zone, ParseOptions::default()) {
        if record.is_ok() {
            count += 1;
        }
    }
    count
}

/// Parses the generated zone, counting throughput in records.
fn zonefile_parse(c: &mut Criterion) {
    let zone = rpz_zone();
    assert_eq!(parse(&zone), RECORDS + 2);
    let mut group = c.benchmark_group("zonefile");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(RECORDS + 2));
    group.bench_function("parse_rpz_1m", |b| b.iter(|| parse(&zone)));
    group.finish();
}

/// The group `criterion_main!` runs (what `criterion_group!` would write,
/// documented).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    zonefile_parse(&mut c);
}
criterion_main!(benches);
