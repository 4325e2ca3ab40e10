//! Resolution and validation cases without servers: every scenario file in
//! `testdata/recursor/` (format: its README.md) is run against scripted
//! authorities that answer in process, through the recursor's
//! [`sekisho_recursor::Exchange`] trait.
//!
//! One test runs every file, so a new file needs no Rust change: it is
//! picked up by the folder listing, run, and reported by file name with
//! each unmet expectation and the queries the servers saw. All failures are
//! collected before the test fails. `SCENARIO=part-of-a-file-name` runs the
//! matching files only. (Scenarios take milliseconds; one test per file
//! would need a build script for no gain in time.)
//!
//! The real-server counterpart is `resolver/tests/recursion.rs` (BIND on
//! loopback); the cases here must agree with what it observes.

mod scenario;

use std::path::{Path, PathBuf};

/// The scenario folder.
fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/recursor")
}

#[test]
fn every_scenario_in_testdata_recursor_passes() {
    let filter = std::env::var("SCENARIO").ok();
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder())
        .expect("testdata/recursor is readable")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "scn"))
        .filter(|p| {
            filter
                .as_deref()
                .is_none_or(|f| p.to_string_lossy().contains(f))
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no scenario file (*.scn) in {} matches {filter:?}",
        folder().display()
    );
    let mut failed = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match scenario::run_file(f) {
            Ok(summary) => eprintln!("ok   {name}: {summary}"),
            Err(e) => {
                eprintln!("FAIL {name}\n{e}");
                failed.push(format!("{name}:\n{e}"));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} scenarios failed:\n\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}

/// A minimal unsigned hierarchy, for the harness's own tests.
const TINY: &str = "
config
    validate no
end
hints
    . NS a.root.test.
    a.root.test. A 127.0.99.1
end
zone .
    @ SOA a.root.test. h.test. 1 3600 600 86400 300
    @ NS a.root.test.
    a.root.test. A 127.0.99.1
    example. NS ns.example.
    ns.example. A 127.0.99.2
end
zone example.
    @ SOA ns h 1 3600 600 86400 300
    @ NS ns
    ns A 127.0.99.2
    www A 192.0.2.1
end
server 127.0.99.1 .
server 127.0.99.2 example.
";

#[test]
fn a_wrong_expectation_fails_and_names_its_line() {
    let ok = format!(
        "{TINY}query www.example. A\n    rcode NOERROR\n    answer www.example. A 192.0.2.1\nend\n"
    );
    scenario::run_text(&ok).expect("the right expectation passes");
    let wrong = format!("{TINY}query www.example. A\n    rcode NOERROR\n    answer www.example. A 192.0.2.99\nend\n");
    let err = scenario::run_text(&wrong).expect_err("a wrong answer must fail");
    let line = TINY.lines().count() + 3; // the `answer` line of the query block
    assert!(
        err.contains(&format!(
            "line {line}: expected answer www.example. A 192.0.2.99"
        )),
        "{err}"
    );
    let wrong_log = format!(
        "{TINY}query www.example. A\n    rcode NOERROR\n    log 127.0.99.2 www.example. A\nend\n"
    );
    let err = scenario::run_text(&wrong_log).expect_err("an incomplete log must fail");
    assert!(
        err.contains("127.0.99.1 example. A udp edns DO"),
        "the log is shown: {err}"
    );
}

#[test]
fn a_malformed_scenario_is_refused_with_its_line() {
    let bad = format!(
        "{TINY}query www.example. A\n    rcode NOERROR\n    answr www.example. A 192.0.2.1\nend\n"
    );
    let err = scenario::run_text(&bad).expect_err("unknown expectation");
    let line = TINY.lines().count() + 3;
    assert!(
        err.contains(&format!("line {line}: unknown expectation")),
        "{err}"
    );
    let bad_zone = TINY.replace("www A 192.0.2.1", "www A 192.0.2");
    let err = scenario::run_text(&format!(
        "{bad_zone}query www.example. A\n    rcode NOERROR\nend\n"
    ))
    .expect_err("bad address in zone data");
    let line = TINY
        .lines()
        .position(|l| l.contains("www A"))
        .map_or(0, |i| i + 1);
    assert!(
        err.contains(&format!("line {line}:")),
        "zone-file errors point into the scenario: {err}"
    );
    let err = scenario::run_text(TINY).expect_err("nothing asked");
    assert!(err.contains("no query block"), "{err}");
}
