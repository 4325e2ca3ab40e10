//! Fixture zones under `testdata/zones/`: each case is a zone file plus the expected result
//! of a lenient read (see `testdata/zones/README.md`).

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hickory_proto::rr::{Name, Record};

use sekisho_zonefile::{write_record, ErrorKind, ParseOptions, WireBatch, Writer, ZoneReader};

/// The cases: zone files (relative to `testdata/zones`) with a `.expected` file beside them,
/// and the origin to load them with (RPZ feeds carry no `$ORIGIN`: the zone name is given).
const CASES: &[(&str, Option<&str>)] = &[
    ("normal", None),
    ("rpz", Some("rpz.example.")),
    ("generate", None),
    ("include/main", None),
    ("include/loop-a", None),
    ("include/escape", None),
];

/// Options for a case with `origin`.
fn options(origin: Option<&str>) -> ParseOptions {
    let mut options = ParseOptions::default();
    if let Some(origin) = origin {
        options = options.origin(Name::from_str(origin).expect("origin"));
    }
    options
}

/// The fixture folder.
fn zones_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/zones")
}

/// Reads `zone` leniently and renders every item as the `.expected` format.
fn render(zone: &Path, options: ParseOptions) -> String {
    render_items(zone, options, false)
}

/// [`render`], reading through [`ZoneReader::read_into`] (wire form) when `wire` is set.
fn render_items(zone: &Path, options: ParseOptions, wire: bool) -> String {
    let dir = zones_dir();
    let canonical = dir.canonicalize().expect("fixture folder");
    let prefixes = [
        format!("{}/", canonical.display()),
        format!("{}/", dir.display()),
    ];
    let mut out = Vec::new();
    let reader = match ZoneReader::open(zone, options) {
        Ok(reader) => reader,
        Err(err) => panic!("cannot open {}: {err}", zone.display()),
    };
    let items: Vec<Result<Record, sekisho_zonefile::Error>> = if wire {
        let mut reader = reader;
        let mut batch = WireBatch::default();
        let mut items = Vec::new();
        while let Some(item) = reader.read_into(&mut batch) {
            items.push(item.map(|()| {
                let last = batch.get(batch.len() - 1).expect("the record just read");
                last.to_record().expect("wire records convert")
            }));
        }
        items
    } else {
        reader.collect()
    };
    for item in items {
        match item {
            Ok(record) => write_record(&mut out, &record).expect("writes"),
            Err(err) => {
                let mut shown = err.to_string();
                for prefix in &prefixes {
                    shown = shown.replace(prefix.as_str(), "");
                }
                out.extend_from_slice(format!("error: {shown}\n").as_bytes());
            }
        }
    }
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn every_fixture_zone_reads_as_expected() {
    let dir = zones_dir();
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for (case, origin) in CASES {
        let zone = dir.join(format!("{case}.zone"));
        let expected_path = dir.join(format!("{case}.expected"));
        let got = render(&zone, options(*origin));
        if update {
            fs::write(&expected_path, &got).expect("writes expectation");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!("--- {case}: expected\n{expected}--- got\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_wire_stream_carries_the_same_records_and_errors() {
    let dir = zones_dir();
    for (case, origin) in CASES {
        let zone = dir.join(format!("{case}.zone"));
        let records = render_items(&zone, options(*origin), false);
        let wire = render_items(&zone, options(*origin), true);
        assert!(records.contains("\tIN\t"), "{case}: no record read");
        assert_eq!(wire, records, "{case}");
    }
}

#[test]
fn every_expectation_file_belongs_to_a_case() {
    let mut stray = Vec::new();
    for sub in ["", "include"] {
        for entry in fs::read_dir(zones_dir().join(sub))
            .expect("fixture folder")
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "expected") {
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                let case = if sub.is_empty() {
                    stem.to_string()
                } else {
                    format!("{sub}/{stem}")
                };
                if !CASES.iter().any(|(c, _)| *c == case) {
                    stray.push(case);
                }
            }
        }
    }
    assert!(stray.is_empty(), "expectations without a case: {stray:?}");
}

#[test]
fn written_fixtures_read_back_to_the_same_records() {
    for (case, origin) in &CASES[..4] {
        let zone = zones_dir().join(format!("{case}.zone"));
        let records: Vec<_> = ZoneReader::open(&zone, options(*origin))
            .expect("opens")
            .filter_map(Result::ok)
            .collect();
        let mut writer = Writer::new(Vec::new());
        for record in &records {
            writer.write(record).expect("writes");
        }
        let text = String::from_utf8(writer.into_inner()).expect("utf-8");
        let again = sekisho_zonefile::parse_str(&text, ParseOptions::default()).expect("reparses");
        assert_eq!(again, records, "{case}");
        let ttls: Vec<u32> = again.iter().map(|r| r.ttl).collect();
        assert_eq!(
            ttls,
            records.iter().map(|r| r.ttl).collect::<Vec<_>>(),
            "{case}"
        );
    }
}

#[test]
fn include_depth_is_limited_by_the_option() {
    let zone = zones_dir().join("include/main.zone");
    let items: Vec<_> = ZoneReader::open(&zone, ParseOptions::default().max_include_depth(1))
        .expect("opens")
        .collect();
    let err = items.last().expect("items").as_ref().expect_err("too deep");
    assert!(
        matches!(err.kind(), ErrorKind::IncludeTooDeep { limit: 1 }),
        "{err}"
    );
    assert!(err.to_string().contains("branch.zone:3:10"), "{err}");
}

#[test]
fn a_depth_of_zero_forbids_include() {
    let zone = zones_dir().join("include/main.zone");
    let result = sekisho_zonefile::read_file(&zone, ParseOptions::default().max_include_depth(0));
    let err = result.expect_err("include forbidden");
    assert!(matches!(err.kind(), ErrorKind::IncludeTooDeep { limit: 0 }));
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let err = ZoneReader::open(zones_dir().join("no-such.zone"), ParseOptions::default())
        .expect_err("missing");
    assert!(err.is_fatal());
    assert!(err.to_string().contains("no-such.zone"));
}
