//! Prints the parse rate on an RPZ-shaped zone of one million records made in memory,
//! without criterion (the bench `benches/benches/zonefile_parse.rs` measures the same input
//! with statistics): `cargo run --release -p sekisho-zonefile --example parse_rate`.

use std::io::Write as _;
use std::time::Instant;

use sekisho_zonefile::{ParseOptions, ZoneReader};

fn main() {
    let records: u64 = 1_000_000;
    let mut text = Vec::with_capacity(40 * records as usize);
    text.extend_from_slice(b"$ORIGIN rpz.example.\n$TTL 300\n");
    for i in 0..records / 2 {
        // Writing into a Vec cannot fail.
        let _ = writeln!(text, "bad{i}.example{}.test CNAME .", i % 97);
        let _ = writeln!(text, "x{i}.test 300 A 192.0.2.{}", i % 256);
    }
    for round in 0..5 {
        let start = Instant::now();
        let mut ok = 0u64;
        for record in ZoneReader::new(&text[..], ParseOptions::default()) {
            ok += u64::from(record.is_ok());
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "round {round}: {ok} records in {secs:.3} s = {:.2} M records/s",
            ok as f64 / secs / 1e6
        );
    }
}
