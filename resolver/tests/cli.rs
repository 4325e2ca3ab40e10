//! The command line of `sekisho` (no daemon started): help and version on
//! stdout with status 0, usage errors on stderr with status 2, configuration
//! errors with status 1 naming the key, and both option spellings.

use std::process::Command;

/// Run `sekisho ARGS`: (status, stdout, stderr).
fn sekisho(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sekisho"))
        .args(args)
        .output()
        .expect("sekisho runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_and_version_go_to_stdout_with_status_0() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["help"],
        &["run", "--help"],
        &["check-config", "--help"],
        &["rpz", "build", "--help"],
        &["warn-page", "--help"],
    ] {
        let (code, out, err) = sekisho(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.to_lowercase().contains("usage"), "{args:?}: {out}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
    let (code, out, _) = sekisho(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("sekisho {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_go_to_stderr_with_status_2() {
    for args in [
        &["frobnicate"][..],
        &["--no-such-flag"],
        &["check-config"],
        &["rpz"],
        &["rpz", "build", "--no-such-flag"],
        &["--config"],
    ] {
        let (code, out, err) = sekisho(args);
        assert_eq!(code, 2, "{args:?}: {out} {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(!err.is_empty(), "{args:?}");
    }
}

#[test]
fn a_bad_configuration_names_the_key_with_status_1_in_both_option_spellings() {
    let dir = std::env::temp_dir().join(format!("sekisho-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[server]\nedns-buffer-size = \"big\"\n").expect("write");
    let path = bad.display().to_string();
    for args in [
        vec!["check-config", path.as_str()],
        vec!["--config", path.as_str()],
        vec!["run", "--config", path.as_str()],
    ] {
        let (code, _, err) = sekisho(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains("edns-buffer-size"), "{args:?}: {err}");
    }
    let eq = format!("--config={path}");
    let (code, _, err) = sekisho(&[&eq]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("edns-buffer-size"), "{err}");
    let (code, out, _) = sekisho(&["print-default-config"]);
    assert_eq!(code, 0);
    let (code2, out2, _) = sekisho(&["--print-default-config"]);
    assert_eq!(code2, 0);
    assert_eq!(out, out2);
    assert!(out.contains("[server]"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
