//! The command line of `sekishoctl` without a daemon: help, version, usage
//! errors and "not running", each with its documented exit status and stream.

use std::process::Command;

/// Run `sekishoctl ARGS`: (status, stdout, stderr).
fn ctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sekishoctl"))
        .args(args)
        .output()
        .expect("sekishoctl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_and_version_go_to_stdout_with_status_0() {
    let (code, out, err) = ctl(&["--help"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("flushtree"), "{out}");
    assert!(err.is_empty(), "{err}");
    let (code, out, _) = ctl(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("sekishoctl "), "{out}");
    let (code, out, _) = ctl(&["test", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--client"), "{out}");
}

#[test]
fn usage_errors_go_to_stderr_with_status_2() {
    for args in [
        &["frobnicate"][..],
        &["flushname"],
        &["querylog"],
        &["querylog", "maybe"],
        &[],
    ] {
        let (code, out, err) = ctl(args);
        assert_eq!(code, 2, "{args:?}: {out} {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(!err.is_empty(), "{args:?}");
    }
}

#[test]
fn options_take_the_equals_form_and_a_missing_daemon_is_status_3() {
    let dir = std::env::temp_dir().join(format!("sekishoctl-cli-{}", std::process::id()));
    let socket = dir.join("control.sock");
    let (code, _, err) = ctl(&[&format!("--socket={}", socket.display()), "status"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not running"), "{err}");
    let (code, _, err) = ctl(&["--json", "--socket", &socket.display().to_string(), "zones"]);
    assert_eq!(code, 3, "{err}");
}

#[test]
fn a_bad_config_file_names_the_problem_with_status_2() {
    let dir = std::env::temp_dir().join(format!("sekishoctl-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "[server]\nno-such-key = 1\n").expect("write");
    let (code, _, err) = ctl(&["--config", &cfg.display().to_string(), "status"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no-such-key"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
