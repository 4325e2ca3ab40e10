//! Times loading one policy zone file the way the daemon does, split into
//! parsing and parse+compile, to see where a big load spends its time:
//! `cargo run --release -p sekisho-policy --example load_zone -- ZONE_NAME FILE`
//! (`LOAD_ONLY=1`: only the daemon's overlapped load, for profiling; `SPLIT=1`: parse and
//! compile one after the other, each in CPU time).

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
        // The index's own size accounting, beside the resident size now (the peak, from
        // `time`, also counts the build's scratch and freed heap).
        let rss_kb = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .unwrap_or(0);
        println!(
            "load_file: {total} rules in {secs:.3} s; index {} bytes ({:.1} B/rule); VmRSS {rss_kb} kB",
            rules.heap_bytes(),
            rules.heap_bytes() as f64 / total.max(1) as f64
        );
        return;
    }
    if std::env::var_os("SPLIT").is_some() {
        split(&origin, file);
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

/// `SPLIT=1`: the two sides of the daemon's load one after the other on this thread, each
/// timed in on-CPU time of the thread (`/proc/thread-self/schedstat`), which other work on a
/// shared machine disturbs less than wall time: parse to wire batches (kept in memory), then
/// compile them.
fn split(origin: &Name, file: &str) {
    let cpu = || -> f64 {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |ns| ns / 1e9)
    };
    let c0 = cpu();
    let mut reader =
        ZoneReader::open(file, ParseOptions::with_origin(origin.clone())).expect("open");
    let mut batches = Vec::new();
    let mut batch = sekisho_zonefile::WireBatch::with_capacity(4096);
    while let Some(r) = reader.read_into(&mut batch) {
        if r.is_ok() && batch.len() == 4096 {
            batches.push(std::mem::replace(
                &mut batch,
                sekisho_zonefile::WireBatch::with_capacity(4096),
            ));
        }
    }
    batches.push(batch);
    let c1 = cpu();
    let records: usize = batches.iter().map(sekisho_zonefile::WireBatch::len).sum();
    let mut compiler = sekisho_rpz::WireCompiler::new(ZoneSettings::new(origin.clone()), records);
    for b in &batches {
        for r in b.iter() {
            compiler.add(r.owner, r.rtype, r.class, r.ttl, r.rdata);
        }
    }
    let c2 = cpu();
    let t = Instant::now();
    let (rules, _) = compiler.finish();
    let finish_wall = t.elapsed().as_secs_f64();
    let c3 = cpu();
    println!(
        "split: {records} records, {} rules; CPU parse {:.3} s, compile add {:.3} s + finish {:.3} s (finish wall {finish_wall:.3} s)",
        rules.counts().total(),
        c1 - c0,
        c2 - c1,
        c3 - c2
    );
}
