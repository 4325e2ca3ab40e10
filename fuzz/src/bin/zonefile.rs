//! Fuzz target `zonefile`: arbitrary bytes as a master file through the lenient
//! `sekisho_zonefile::ZoneReader`, both as hickory records (the iterator) and in wire
//! form (`read_into` with a `WireBatch`).
//!
//! Properties: nothing panics and reading ends; every error carries a line number
//! inside the input; the two reading modes agree record for record; and the records
//! round-trip: written with `Writer`, the text parses back to the same records.

use sekisho_zonefile::{parse_str, ParseOptions, WireBatch, Writer, ZoneReader};

/// Most items read from one input (records and errors).
const MAX_ITEMS: usize = 5000;

fn main() {
    afl::fuzz!(|data: &[u8]| check(data));
}

/// Bounds that keep one input fast: `$GENERATE 0-4294967295` would otherwise run
/// for hours.
fn options() -> ParseOptions {
    ParseOptions::default()
        .max_records(Some(1000))
        .max_line_len(4096)
        .max_entry_len(8192)
}

/// All properties for one input.
fn check(data: &[u8]) {
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;

    // Hickory records through the iterator.
    let items: Vec<_> = ZoneReader::new(data, options()).take(MAX_ITEMS).collect();
    for err in items.iter().filter_map(|r| r.as_ref().err()) {
        let line = err.position().line;
        assert!(
            (1..=lines).contains(&line),
            "error at line {line} of a {lines}-line input: {err}"
        );
        assert!(err.position().file.is_none());
        assert!(!err.to_string().is_empty());
    }

    // The same input in wire form: one item per iterator item, the same records.
    let mut reader = ZoneReader::new(data, options());
    let mut batch = WireBatch::default();
    for (i, item) in items.iter().enumerate() {
        let before = batch.len();
        match reader.read_into(&mut batch) {
            Some(Ok(())) => {
                assert_eq!(batch.len(), before + 1);
                let wire = batch.get(before).expect("the record just added");
                match (item, wire.to_record()) {
                    (Ok(record), Ok(again)) => assert_eq!(record, &again, "item {i}"),
                    // The iterator reports an undecodable record as an error.
                    (Err(_), Err(_)) => {}
                    (a, b) => panic!("item {i}: iterator {a:?}, wire form {b:?}"),
                }
            }
            Some(Err(err)) => {
                assert_eq!(batch.len(), before);
                let Err(same) = item else {
                    panic!("item {i}: iterator gave a record, read_into {err}");
                };
                assert_eq!(err.position(), same.position(), "item {i}");
                assert_eq!(err.kind().as_label(), same.kind().as_label(), "item {i}");
            }
            None => panic!("read_into ended before the iterator at item {i}"),
        }
    }

    // Round trip of every record through the writer.
    let records: Vec<_> = items.into_iter().filter_map(Result::ok).collect();
    if records.is_empty() {
        return;
    }
    let mut writer = Writer::new(Vec::new());
    for record in &records {
        writer
            .write(record)
            .expect("writing to memory does not fail");
    }
    let text = String::from_utf8(writer.into_inner()).expect("the writer emits ASCII");
    let again = parse_str(&text, ParseOptions::default())
        .unwrap_or_else(|err| panic!("written text does not parse: {err}\n{text}"));
    assert_eq!(again, records, "{text}");
}
