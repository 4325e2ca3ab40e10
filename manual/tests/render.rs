//! The generated pages and script, run through the real tools: groff (with every warning on, so
//! malformed roff fails), man-db's `man -l`, and bash.
//!
//! The tools are required, never skipped: a missing one fails the test and names the Debian
//! package that provides it.

use std::io::Write as _;
use std::process::{Command, Stdio};

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

/// A command line shaped like `sekisho`'s (clap's derive drops the final period of one-line
/// doc comments, as `--help` shows them): global options with defaults, possible values, a
/// hidden option, nested and hidden subcommands.
#[derive(Debug, Parser)]
#[command(
    name = "sekisho",
    about = "An RPZ-capable caching and recursive DNS resolver"
)]
struct Cli {
    /// The configuration file.
    #[arg(
        short,
        long,
        value_name = "FILE",
        default_value = "/etc/sekisho/sekisho.toml"
    )]
    config: std::path::PathBuf,
    /// The log line format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    log_format: Format,
    /// .Dotted help with a \ backslash.
    #[arg(long)]
    print_default_config: bool,
    /// Not documented.
    #[arg(long, hide = true)]
    secret_knob: bool,
    /// What to do.
    #[command(subcommand)]
    command: Option<Cmd>,
}

/// Log line formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Response policy zone tools.
    Rpz {
        /// The RPZ tool.
        #[command(subcommand)]
        command: RpzCmd,
    },
    /// Validates a configuration file without starting anything.
    CheckConfig {
        /// The file to check.
        file: std::path::PathBuf,
    },
    /// Internal.
    #[command(hide = true)]
    DumpInternals,
}

/// The `rpz` subcommands.
#[derive(Debug, Subcommand)]
enum RpzCmd {
    /// Builds a policy zone from blocking lists.
    Build {
        /// The lists to read.
        #[arg(required = true)]
        lists: Vec<std::path::PathBuf>,
        /// Where to write the zone.
        #[arg(long, value_name = "ZONEFILE")]
        out: Option<std::path::PathBuf>,
    },
}

/// Runs `program args` with `stdin` as input; returns (stdout, stderr). Panics, naming the
/// Debian package, when the program is not installed.
fn run(program: &str, package: &str, args: &[&str], stdin: &str) -> (String, String) {
    let mut child = Command::new(program)
        .args(args)
        .env("MANWIDTH", "200")
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{program} is needed for this test ({e}): apt-get install -y {package}")
        });
    let mut input = child.stdin.take().expect("stdin was piped");
    input
        .write_all(stdin.as_bytes())
        .expect("write to the tool");
    drop(input);
    let output = child.wait_with_output().expect("wait for the tool");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {stderr}"
    );
    (stdout, stderr)
}

/// Formats a page with groff, every warning enabled (`-ww`); fails on any warning. Returns the
/// plain text (`-P-cbou`: no overstriking or SGR).
fn groff(page: &str) -> String {
    let (text, warnings) = run(
        "groff",
        "groff-base",
        &["-man", "-Tutf8", "-ww", "-P-cbou"],
        page,
    );
    assert!(
        warnings.is_empty(),
        "groff warns:\n{warnings}\npage:\n{page}"
    );
    text
}

/// Formats a page the way `man` shows it (man-db's `man -l -`, plain text when piped).
fn man(page: &str) -> String {
    let (text, warnings) = run("man", "man-db", &["-l", "-"], page);
    assert!(warnings.is_empty(), "man warns:\n{warnings}");
    text
}

/// The page of [`Cli`] with Sekisho's extra sections.
fn sekisho_page() -> String {
    sekisho_manual::man_page(
        &Cli::command(),
        "8",
        "2026-12-06",
        "0.1.0",
        &[
            (
                "EXIT STATUS",
                "| status | meaning |\n|---|---|\n| `0` | Success. |\n| `2` | Bad configuration. |",
            ),
            ("SEE ALSO", "**sekishoctl**(8), **sekisho.toml**(5)"),
        ],
    )
}

#[test]
fn the_man_page_formats_without_warnings_and_shows_every_visible_option() {
    let page = sekisho_page();
    let text = groff(&page);
    let shown = man(&page);
    for expected in [
        "sekisho - An RPZ-capable caching and recursive DNS resolver",
        "-c, --config FILE",
        "The configuration file",
        "[default: /etc/sekisho/sekisho.toml]",
        "--log-format LOG_FORMAT",
        "text: Human-readable lines",
        "json: One JSON object per line",
        ".Dotted help with a \\ backslash",
        "sekisho rpz build",
        "sekisho rpz build [OPTIONS] <LISTS>...",
        "LISTS...",
        "--out ZONEFILE",
        "sekisho check-config",
        "EXIT STATUS",
        "Bad configuration.",
        "sekishoctl(8), sekisho.toml(5)",
    ] {
        assert!(
            text.contains(expected),
            "groff output lacks {expected:?}:\n{text}"
        );
        assert!(
            shown.contains(expected),
            "man output lacks {expected:?}:\n{shown}"
        );
    }
    for hidden in ["secret", "dump-internals", "Internal."] {
        assert!(!text.contains(hidden), "{hidden:?} is hidden:\n{text}");
    }
}

/// The first cell of every key row of a Markdown table (`| \`key\` | ...`), as written.
fn markdown_keys(markdown: &str) -> Vec<&str> {
    markdown
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once("` |").map(|(key, _)| key))
        .collect()
}

#[test]
fn config_page_has_a_tagged_entry_for_every_key_of_config_md() {
    let markdown = include_str!("../../docs/config.md");
    let page = sekisho_manual::config_page(markdown, "2026-12-06", "0.1.0");
    let keys = markdown_keys(markdown);
    assert!(keys.len() > 100, "config.md has {} key rows", keys.len());
    for key in &keys {
        let tag = format!(
            ".TP\n\\fB\\%{}\\fR\n",
            key.replace('\\', "\\e").replace('-', "\\-")
        );
        assert!(page.contains(&tag), "no .TP entry for {key:?}");
    }
    assert!(page.matches(".TP\n").count() >= keys.len());
}

#[test]
fn config_page_formats_without_warnings() {
    let markdown = include_str!("../../docs/config.md");
    let page = sekisho_manual::config_page(markdown, "2026-12-06", "0.1.0");
    let text = groff(&page);
    for expected in [
        "SEKISHO.TOML(5)",
        "sekisho.toml - configuration file of the Sekisho DNS resolver",
        "DESCRIPTION",
        "[server]",
        "tcp-idle-timeout",
        "forward-zone",
        "sekisho --print-default-config",
        "sekisho.toml: forward-zone[1].forward-addr[0]:",
        "—",
    ] {
        assert!(
            text.contains(expected),
            "config page lacks {expected:?}:\n{text}"
        );
    }
    for key in markdown_keys(markdown) {
        assert!(text.contains(key), "rendered page lacks {key:?}");
    }
}

/// Runs a bash snippet after sourcing the completion of [`Cli`]; returns its output.
fn bash(snippet: &str) -> String {
    let script = sekisho_manual::bash_completion(&Cli::command());
    let program = format!("{script}\n{snippet}\n");
    let (out, err) = run("bash", "bash", &["--norc", "--noprofile", "-s"], &program);
    assert!(err.is_empty(), "bash: {err}");
    out
}

/// The completions offered for `words`, the cursor on the last one.
fn complete(words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let snippet = format!(
        "COMP_WORDS=({})\nCOMP_CWORD={}\n_sekisho\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        quoted.join(" "),
        words.len() - 1
    );
    bash(&snippet).lines().map(str::to_owned).collect()
}

#[test]
fn the_completion_script_is_valid_bash() {
    let script = sekisho_manual::bash_completion(&Cli::command());
    let (_, err) = run("bash", "bash", &["-n"], &script);
    assert!(err.is_empty(), "bash -n: {err}");
    assert!(
        script.ends_with("complete -F _sekisho sekisho\n"),
        "{script}"
    );
}

#[test]
fn subcommand_names_are_completed_at_each_level() {
    assert_eq!(complete(&["sekisho", "rp"]), ["rpz"]);
    assert_eq!(complete(&["sekisho", ""]), ["rpz", "check-config", "help"]);
    assert_eq!(complete(&["sekisho", "rpz", "b"]), ["build"]);
    // The value of --config is skipped, not taken for a subcommand.
    assert_eq!(complete(&["sekisho", "--config", "rpz", "r"]), ["rpz"]);
    assert_eq!(
        complete(&["sekisho", "-c", "x.toml", "rpz", "b"]),
        ["build"]
    );
}

#[test]
fn flags_of_the_current_subcommand_are_completed() {
    assert_eq!(complete(&["sekisho", "--log"]), ["--log-format"]);
    assert_eq!(
        complete(&["sekisho", "rpz", "build", "--"]),
        ["--out", "--help"]
    );
    let top = complete(&["sekisho", "-"]);
    assert!(
        top.contains(&"--print-default-config".to_owned()),
        "{top:?}"
    );
    assert!(!top.iter().any(|f| f.contains("secret")), "{top:?}");
}

#[test]
fn possible_values_are_completed_after_their_option() {
    assert_eq!(complete(&["sekisho", "--log-format", "j"]), ["json"]);
    assert_eq!(complete(&["sekisho", "--log-format", "=", "t"]), ["text"]);
    assert_eq!(
        complete(&["sekisho", "--log-format", "="]),
        ["text", "json"]
    );
}
