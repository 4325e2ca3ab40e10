//! Man pages and shell completions for Sekisho, generated from the sources that `--help` and
//! the documentation are made from, so that the Debian package's pages never disagree with them.
//!
//! ```text
//!   clap Command (sekisho, sekishoctl) --+--> man_page        -> sekisho(8), sekishoctl(8)
//!                                        +--> bash_completion -> /usr/share/bash-completion/completions/
//!   docs/config.md ------------------------> config_page     -> sekisho.toml(5)
//! ```
//!
//! Modules, one concern each:
//! - `roff`: escaping (`\e`, `\&`, `\-`, `\[uXXXX]`) and the man(7) writer every page goes
//!   through.
//! - `markdown`: the Markdown subset of docs/ (headings, paragraphs, lists, fenced code, pipe
//!   tables, inline code and links) as man(7) blocks.
//! - `man`: a command's page (NAME, SYNOPSIS, DESCRIPTION, OPTIONS, COMMANDS, caller's sections).
//! - `bash`: the completion script.
//! - `config`: sekisho.toml(5).
//!
//! Nothing here does I/O: the callers (a packaging step, the tests) decide where text goes.
//! There is no clap_mangen, clap_complete or roff crate in the build, so the roff and the bash
//! are written here, against clap's public introspection API.

mod bash;
mod config;
mod man;
mod markdown;
mod roff;

use clap::Command;

/// The man page of `cmd` (a clap Command, e.g. `<Cli as clap::CommandFactory>::command()`) in
/// roff (man(7) macros): `.TH NAME SECTION DATE "sekisho VERSION" "Sekisho Manual"`; NAME
/// (`name \- about`); SYNOPSIS (usage); DESCRIPTION (long_about or about); OPTIONS (every
/// non-hidden argument: flags with value names, help text, defaults and possible values when
/// clap knows them); COMMANDS (every non-hidden subcommand, recursively, with its own arguments
/// indented: "sekisho rpz build" etc.); then the `extra` sections given by the caller, such as
/// EXIT STATUS and SEE ALSO, each a `(title, body)` whose body is Markdown rendered as
/// [`config_page`] renders docs/config.md (a `| code | meaning |` table becomes `.TP` entries).
pub fn man_page(
    cmd: &Command,
    section: &str,
    date: &str,
    version: &str,
    extra: &[(&str, &str)],
) -> String {
    man::man_page(cmd, section, date, version, extra)
}

/// A bash completion script for `cmd`: completes subcommand names at each level (recursively)
/// and the long/short flags of the current (sub)command, possible values (else file names) after
/// an option that takes a value; `complete -F _name name`. Pure bash, no bash-completion helpers
/// required (but works with them).
pub fn bash_completion(cmd: &Command) -> String {
    bash::bash_completion(cmd)
}

/// sekisho.toml(5) from the Markdown of docs/config.md: headings become .SH/.SS, paragraphs .PP,
/// fenced code blocks .nf/.fi, Markdown tables become one .TP entry per row (first column = key,
/// the rest joined as "type; default; meaning"), inline `code` becomes `\fB..\fR`, links keep
/// their text. Everything roff-escaped (backslashes, leading dots/apostrophes, hyphens as `\-`
/// where they are options).
pub fn config_page(markdown: &str, date: &str, version: &str) -> String {
    config::config_page(markdown, date, version)
}
