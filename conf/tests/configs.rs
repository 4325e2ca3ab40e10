//! Fixture tests over `testdata/configs/` (see its README): every valid file loads, every
//! bad file fails with the messages it expects, and an unknown key is refused in every table
//! of `full.toml`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sekisho_conf::Config;

/// `testdata/configs/` at the repository root.
fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/configs")
}

/// The `.toml` files directly in `dir`, sorted.
fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_config_loads() {
    let files = toml_files(&configs_dir());
    assert!(
        files.len() >= 3,
        "expected example configs, found {files:?}"
    );
    for file in files {
        if let Err(err) = Config::load(&file) {
            panic!("{} should load:\n{err}", file.display());
        }
    }
}

#[test]
fn every_bad_config_fails_with_its_expected_messages() {
    let files = toml_files(&configs_dir().join("bad"));
    assert!(files.len() >= 5, "expected bad configs, found {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        let err = match Config::load(&file) {
            Ok(_) => panic!("{} should fail to load", file.display()),
            Err(err) => err.to_string(),
        };
        for want in expected {
            assert!(
                err.contains(want),
                "{}: expected\n  {want}\nin\n{err}",
                file.display()
            );
        }
    }
}

#[test]
fn the_full_example_sets_every_value_as_written() {
    let config = Config::load(&configs_dir().join("full.toml")).unwrap();
    assert_eq!(config.server.edns_buffer_size, 1400);
    assert_eq!(config.forward_zones.len(), 2);
    assert_eq!(
        config.forward_zones[0].forward_addr[1].to_string(),
        "103.2.57.6@853#public.dns.iij.jp"
    );
    assert_eq!(
        config.keys[0].secret.as_bytes(),
        b"sekisho-test-key-not-a-real-secret!"
    );
    assert_eq!(config.keys[1].secret.as_bytes(), b"sekisho-inline-test-key");
    assert!(!config.dnssec.aggressive_nsec);
    assert_eq!(config.response_policy.zones.len(), 3);
    assert_eq!(
        config.response_policy.zones[1].policy.to_string(),
        "cname warn.example.jp."
    );
    // Relative paths resolve against `directory = "."`, i.e. the fixtures folder.
    let key_file = config.keys[0].secret_file.as_ref().unwrap();
    assert!(key_file.ends_with("keys/block-tsig-key"), "{key_file:?}");
    assert!(key_file.starts_with(configs_dir()), "{key_file:?}");
}

/// One step from a table to a nested table.
#[derive(Debug, Clone)]
enum Step {
    /// A key of a table.
    Key(String),
    /// An index of an array.
    Index(usize),
}

/// Every table reachable from `value` (standard, inline, and in arrays), as step paths.
fn table_paths(value: &toml::Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match value {
        toml::Value::Table(table) => {
            out.push(here.clone());
            for (key, child) in table {
                here.push(Step::Key(key.clone()));
                table_paths(child, here, out);
                here.pop();
            }
        }
        toml::Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                here.push(Step::Index(i));
                table_paths(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

/// The table at `path` inside `value`.
fn table_at<'v>(value: &'v mut toml::Value, path: &[Step]) -> &'v mut toml::Table {
    let mut here = value;
    for step in path {
        here = match step {
            Step::Key(key) => here.get_mut(key.as_str()).unwrap(),
            Step::Index(i) => here.get_mut(*i).unwrap(),
        };
    }
    here.as_table_mut().unwrap()
}

#[test]
fn an_unknown_key_in_any_table_of_the_full_example_is_rejected() {
    let origin = configs_dir().join("full.toml");
    let text = std::fs::read_to_string(&origin).unwrap();
    let document: toml::Value = toml::from_str(&text).unwrap();
    let mut paths = Vec::new();
    table_paths(&document, &mut Vec::new(), &mut paths);
    // root, server, cache, dnssec, 2 forward zones + health check + table-form address,
    // 2 keys, response-policy + 3 zones + a table-form primary, control, metrics, logging.
    assert!(paths.len() >= 18, "only {} tables found", paths.len());

    // The unmodified document still loads after a round trip through toml's writer.
    let unmodified = toml::to_string(&document).unwrap();
    Config::from_toml_str(&unmodified, &origin).unwrap();

    // serde lists the keys each table accepts in its unknown-field message; the union of the
    // keys that full.toml writes in tables with the same list must cover it, so a key added
    // to the file model without being added to full.toml (and so to the docs test) fails.
    let mut accepted: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();

    for path in paths {
        let mut mutated = document.clone();
        let written: Vec<String> = table_at(&mut mutated, &path).keys().cloned().collect();
        table_at(&mut mutated, &path).insert("bogus-key".into(), toml::Value::Integer(1));
        let mutated_text = toml::to_string(&mutated).unwrap();
        match Config::from_toml_str(&mutated_text, &origin) {
            Ok(_) => panic!("bogus-key accepted in the table at {path:?}"),
            Err(err) => {
                let shown = err.to_string();
                assert!(shown.contains("bogus-key"), "at {path:?}: {shown}");
                assert!(
                    err.problems()[0].path.ends_with("bogus-key"),
                    "at {path:?}: path {:?}",
                    err.problems()[0].path
                );
                let message = &err.problems()[0].message;
                if let Some((_, list)) = message.split_once("expected one of ") {
                    let expected: Vec<String> = list
                        .split(", ")
                        .map(|item| item.trim().trim_matches('`').to_owned())
                        .collect();
                    accepted.entry(expected).or_default().extend(written);
                }
            }
        }
    }
    assert!(
        accepted.len() >= 10,
        "only {} distinct tables",
        accepted.len()
    );
    for (expected, written) in accepted {
        // `[dnstap]` takes `socket` or `address`, never both: full.toml writes `socket`,
        // and `address` is parsed by the conf unit tests.
        let exclusive = |key: &str| expected.contains(&"socket".to_owned()) && key == "address";
        let unused: Vec<&String> = expected
            .iter()
            .filter(|key| !written.contains(*key) && !exclusive(key))
            .collect();
        assert!(
            unused.is_empty(),
            "full.toml never sets {unused:?} (of {expected:?})"
        );
    }
}

/// Every key name and table name used anywhere in `value`.
fn key_names(value: &toml::Value, out: &mut BTreeSet<String>) {
    match value {
        toml::Value::Table(table) => {
            for (key, child) in table {
                out.insert(key.clone());
                key_names(child, out);
            }
        }
        toml::Value::Array(items) => items.iter().for_each(|item| key_names(item, out)),
        _ => {}
    }
}

#[test]
fn the_reference_documents_every_key_of_the_full_example() {
    let text = std::fs::read_to_string(configs_dir().join("full.toml")).unwrap();
    let document: toml::Value = toml::from_str(&text).unwrap();
    let mut keys = BTreeSet::new();
    key_names(&document, &mut keys);
    let docs_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md");
    let docs = std::fs::read_to_string(docs_path).unwrap();
    let missing: Vec<&String> = keys
        .iter()
        .filter(|key| {
            !docs.contains(&format!("`{key}`"))
                && !docs.contains(&format!("[{key}]"))
                && !docs.contains(&format!("[[{key}]]"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/config.md does not mention {missing:?}"
    );
}

/// The configuration the Debian package installs as /etc/sekisho/sekisho.toml loads.
#[test]
fn the_packaged_configuration_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../resolver/dist/debian/sekisho.toml");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.server.directory, Path::new("/var/lib/sekisho"));
    assert_eq!(c.control.socket, Path::new("/run/sekisho/control.sock"));
    assert!(c
        .server
        .listen
        .iter()
        .all(|a| a.ip().is_loopback() && a.port() == 53));
}
