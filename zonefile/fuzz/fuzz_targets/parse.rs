//! Arbitrary bytes into the lenient zone reader: it must never panic, and every record it
//! returns must survive the writer and parse back to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekisho_zonefile::{parse_str, write_record, ParseOptions, ZoneReader};

fuzz_target!(|data: &[u8]| {
    // Bounds keep one input fast: `$GENERATE 0-4294967295` would otherwise run for hours.
    let options = ParseOptions::default()
        .max_records(Some(1000))
        .max_line_len(4096)
        .max_entry_len(8192);
    for record in ZoneReader::new(data, options).take(5000).flatten() {
        let mut text = Vec::new();
        write_record(&mut text, &record).expect("writing to memory does not fail");
        let text = String::from_utf8(text).expect("the writer emits ASCII");
        let again = parse_str(&text, ParseOptions::default()).expect("written text parses");
        assert_eq!(again, vec![record], "{text}");
    }
});
