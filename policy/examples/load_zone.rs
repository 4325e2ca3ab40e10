//! Times loading one policy zone file the way the daemon does, split into
//! parsing and parse+compile, to see where a big load spends its time:
//! `cargo run --release -p sekisho-policy --example load_zone -- ZONE_NAME FILE`
//! (`LOAD_ONLY=1`: only the daemon's overlapped load, for profiling).

use std::time::Instant;

use hickory_proto::rr::Name;
use sekisho_rpz::ZoneSettings;
use sekisho_zonefile::{ParseOptions, ZoneReader};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [zone, file] = args.as_slice() else {
        eprintln!("usage: load_zone ZONE_NAME FILE");
        std::process::exit(2);
    };
    let Ok(origin) = Name::from_ascii(zone) else {
        eprintln!("bad zone name {zone}");
        std::process::exit(2);
    };
    if std::env::var_os("LOAD_ONLY").is_some() {
        // For profiling the daemon's path alone.
        let t = Instant::now();
        let (rules, _) =
            sekisho_policy::load_file(ZoneSettings::new(origin), std::path::Path::new(file))
                .expect("load");
        let secs = t.elapsed().as_secs_f64();
        let total = rules.counts().total();
        // The index's own size accounting, beside RSS (which also counts freed heap).
        println!(
            "load_file: {total} rules in {secs:.3} s; index {} bytes ({:.1} B/rule)",
            rules.heap_bytes(),
            rules.heap_bytes() as f64 / total.max(1) as f64
        );
        return;
    }
    let t = Instant::now();
    let mut reader =
        ZoneReader::open(file, ParseOptions::with_origin(origin.clone())).expect("open");
    let mut batch = sekisho_zonefile::WireBatch::with_capacity(4096);
    let mut n = 0usize;
    while let Some(r) = reader.read_into(&mut batch) {
        if r.is_ok() && batch.len() == 4096 {
            n += batch.len();
            batch.clear();
        }
    }
    n += batch.len();
    let parse = t.elapsed().as_secs_f64();
    println!(
        "parse to wire form (the daemon's parser thread): {n} records in {parse:.3} s ({:.2} M/s)",
        n as f64 / parse / 1e6
    );
    if std::env::var_os("PARSE_ONLY").is_some() {
        return;
    }
    let t = Instant::now();
    let mut n = 0u64;
    for r in ZoneReader::open(file, ParseOptions::with_origin(origin.clone())).expect("open") {
        n += u64::from(r.is_ok());
    }
    let parse = t.elapsed().as_secs_f64();
    println!(
        "parse only: {n} records in {parse:.3} s ({:.2} M/s)",
        n as f64 / parse / 1e6
    );
    let t = Instant::now();
    let reader = ZoneReader::open(file, ParseOptions::with_origin(origin.clone())).expect("open");
    let (serial_rules, _) = sekisho_rpz::ZoneRules::compile(
        ZoneSettings::new(origin.clone()),
        reader.filter_map(Result::ok),
    );
    println!(
        "serial parse + compile: {} rules in {:.3} s",
        serial_rules.counts().total(),
        t.elapsed().as_secs_f64()
    );
    drop(serial_rules);
    let t = Instant::now();
    let (rules, skipped) =
        sekisho_policy::load_file(ZoneSettings::new(origin), std::path::Path::new(file))
            .expect("load");
    let total = t.elapsed().as_secs_f64();
    println!(
        "load_file (parse and compile overlapped): {} rules ({skipped} skipped) in {total:.3} s",
        rules.counts().total()
    );
    let _ = parse;
}
