//! man(7) pages of a clap [`Command`]: the page says what `--help` says, because both read
//! the same definitions.
//!
//! ```text
//!   .TH NAME SECTION DATE "sekisho VERSION" "Sekisho Manual"
//!   NAME          name \- about
//!   SYNOPSIS      the usage lines clap renders
//!   DESCRIPTION   long_about, else about
//!   OPTIONS       every visible argument: positionals, then flags with their value names,
//!                 help, [default: ..] and possible values
//!   COMMANDS      every visible subcommand, depth first, as ".SS sekisho rpz build" with
//!                 its about, usage and own arguments indented
//!   (extra)       the caller's sections (EXIT STATUS, SEE ALSO, ...) from Markdown
//! ```
//!
//! Arguments that a parent declares `global` are listed once, where they are declared, and the
//! `-h`/`-V` flags clap adds are listed on the top-level command only.

use clap::{Arg, ArgAction, Command};

use crate::markdown;
use crate::roff::{self, Roff};

/// The man page of `cmd` in roff, with the caller's `extra` sections (title, Markdown body).
pub(crate) fn man_page(
    cmd: &Command,
    section: &str,
    date: &str,
    version: &str,
    extra: &[(&str, &str)],
) -> String {
    let cmd = built(cmd);
    let mut out = Roff::new();
    title_header(
        &mut out,
        &cmd.get_name().to_uppercase(),
        section,
        date,
        version,
    );

    out.section("NAME");
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    let summary = about.lines().next().unwrap_or_default();
    if summary.is_empty() {
        out.text(&roff::literal(cmd.get_name()));
    } else {
        out.text(&format!(
            "{} \\- {}",
            roff::literal(cmd.get_name()),
            roff::text(summary)
        ));
    }

    out.section("SYNOPSIS");
    usage(&mut out, &cmd);

    let description = cmd.get_long_about().or(cmd.get_about());
    if let Some(description) = description {
        out.section("DESCRIPTION");
        paragraphs(&mut out, &description.to_string(), "PP");
    }

    let args = visible_args(&cmd, None);
    if !args.is_empty() {
        out.section("OPTIONS");
        for arg in args {
            argument(&mut out, arg);
        }
    }

    if visible_subcommands(&cmd).next().is_some() {
        out.section("COMMANDS");
        commands(&mut out, &cmd);
    }

    for (title, body) in extra {
        out.section(&roff::text(title));
        markdown::render(body, &mut out, None);
    }
    out.finish()
}

/// Writes the `.TH` line shared by every page of the manual.
pub(crate) fn title_header(out: &mut Roff, name: &str, section: &str, date: &str, version: &str) {
    out.control(
        "TH",
        &[
            &roff::quote_arg(&roff::literal(name)),
            &roff::quote_arg(&roff::text(section)),
            &roff::quote_arg(&roff::text(date)),
            &roff::quote_arg(&roff::text(&format!("sekisho {version}"))),
            &roff::quote_arg("Sekisho Manual"),
        ],
    );
}

/// A copy of `cmd` after clap's own `build`: help and version flags added, global arguments
/// propagated, and each subcommand's bin name set to its full path ("sekisho rpz build").
fn built(cmd: &Command) -> Command {
    let mut cmd = cmd.clone();
    if cmd.get_bin_name().is_none() {
        let name = cmd.get_name().to_owned();
        cmd = cmd.bin_name(name);
    }
    cmd.build();
    cmd
}

/// The subcommands `--help` lists.
fn visible_subcommands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands().filter(|sub| !sub.is_hide_set())
}

/// The arguments of `cmd` to list: not hidden, positionals first. With a `parent`, arguments
/// inherited from it as `global` and clap's own help and version flags are left out (they are
/// listed once, on the command that declares them).
fn visible_args<'a>(cmd: &'a Command, parent: Option<&Command>) -> Vec<&'a Arg> {
    let inherited = |arg: &Arg| {
        parent.is_some_and(|parent| {
            let own = matches!(
                arg.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            );
            own || (arg.is_global_set()
                && parent.get_arguments().any(|p| p.get_id() == arg.get_id()))
        })
    };
    let shown = |arg: &&Arg| !arg.is_hide_set() && !inherited(arg);
    let positionals = cmd.get_positionals().filter(shown);
    let options = cmd
        .get_arguments()
        .filter(|a| !a.is_positional())
        .filter(shown);
    positionals.chain(options).collect()
}

/// Writes the usage lines of `cmd` (clap's text without "Usage:"), the command path in bold.
fn usage(out: &mut Roff, cmd: &Command) {
    let mut cmd = cmd.clone();
    let rendered = cmd.render_usage().to_string();
    let path = cmd.get_bin_name().unwrap_or(cmd.get_name()).to_owned();
    for (i, line) in rendered.lines().enumerate() {
        let line = line.trim();
        let line = line.strip_prefix("Usage:").unwrap_or(line).trim();
        if line.is_empty() {
            continue;
        }
        if i > 0 {
            out.control("br", &[]);
        }
        let text = match line.strip_prefix(path.as_str()) {
            Some(rest) => format!("\\fB{}\\fR{}", roff::literal(&path), roff::literal(rest)),
            None => roff::literal(line),
        };
        out.text(&text);
    }
}

/// Writes `text` as paragraphs (split at blank lines), the first one opened by `first` (`PP`
/// at the top level, `IP` inside a tagged paragraph keeps the indentation).
fn paragraphs(out: &mut Roff, text: &str, first: &str) {
    let mut opener = first;
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        if !opener.is_empty() {
            out.control(opener, &[]);
        }
        out.text(&roff::text(para));
        opener = if first == "PP" { "PP" } else { "IP" };
    }
}

/// Writes one argument as a tagged paragraph: its flags and value names, its help, default
/// and possible values.
fn argument(out: &mut Roff, arg: &Arg) {
    out.control("TP", &[]);
    out.text(&tag(arg));
    let help = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|h| h.to_string());
    // The first paragraph follows the tag line directly; `.TP` already started it.
    paragraphs(out, help.as_deref().unwrap_or_default(), "");
    if !arg.get_action().takes_values() {
        return;
    }
    let defaults = arg.get_default_values();
    if !defaults.is_empty() && !arg.is_hide_default_value_set() {
        let values: Vec<String> = defaults
            .iter()
            .map(|v| roff::literal(&v.to_string_lossy()))
            .collect();
        out.control("IP", &[]);
        out.text(&format!("[default: {}]", values.join(", ")));
    }
    let possible: Vec<_> = arg
        .get_possible_values()
        .into_iter()
        .filter(|v| !v.is_hide_set())
        .collect();
    if possible.is_empty() || arg.is_hide_possible_values_set() {
        return;
    }
    out.control("IP", &[]);
    if possible.iter().any(|v| v.get_help().is_some()) {
        out.text("Possible values:");
        for value in possible {
            out.control("br", &[]);
            let help = value.get_help().map(|h| h.to_string()).unwrap_or_default();
            let name = roff::literal(value.get_name());
            if help.is_empty() {
                out.text(&format!("\\fB{name}\\fR"));
            } else {
                out.text(&format!("\\fB{name}\\fR: {}", roff::text(&help)));
            }
        }
    } else {
        let names: Vec<String> = possible
            .iter()
            .map(|v| roff::literal(v.get_name()))
            .collect();
        out.text(&format!("[possible values: {}]", names.join(", ")));
    }
}

/// The tag line of an argument: `\fB\-c\fR, \fB\-\-config\fR \fIFILE\fR`, or `\fIFILE\fR`
/// for a positional one.
fn tag(arg: &Arg) -> String {
    let mut flags = Vec::new();
    if let Some(short) = arg.get_short() {
        flags.push(format!("\\fB\\-{}\\fR", roff::literal(&short.to_string())));
    }
    for short in arg.get_visible_short_aliases().unwrap_or_default() {
        flags.push(format!("\\fB\\-{}\\fR", roff::literal(&short.to_string())));
    }
    if let Some(long) = arg.get_long() {
        flags.push(format!("\\fB\\-\\-{}\\fR", roff::literal(long)));
    }
    for long in arg.get_visible_aliases().unwrap_or_default() {
        flags.push(format!("\\fB\\-\\-{}\\fR", roff::literal(long)));
    }
    let mut tag = flags.join(", ");
    if arg.is_positional() || arg.get_action().takes_values() {
        let names: Vec<String> = match arg.get_value_names() {
            Some(names) => names.iter().map(|n| n.to_string()).collect(),
            // As `--help` writes them: `<input>` for a positional, `--out <OUT>` for an option.
            None if arg.is_positional() => vec![arg.get_id().as_str().to_owned()],
            None => vec![arg.get_id().as_str().to_uppercase()],
        };
        let range = arg.get_num_args();
        let optional = range.is_some_and(|r| r.min_values() == 0);
        let many = range.is_some_and(|r| r.max_values() > names.len())
            || matches!(arg.get_action(), ArgAction::Append);
        let mut value = names
            .iter()
            .map(|n| format!("\\fI{}\\fR", roff::literal(n)))
            .collect::<Vec<_>>()
            .join(" ");
        if many {
            value.push_str("...");
        }
        if optional {
            value = format!("[{value}]");
        }
        if !tag.is_empty() {
            tag.push(' ');
        }
        tag.push_str(&value);
    }
    tag
}

/// Writes every visible subcommand of `cmd`, depth first, each under its full path with its
/// own arguments indented. The children of clap's `help` subcommand only mirror the tree and
/// are left out.
fn commands(out: &mut Roff, cmd: &Command) {
    for sub in visible_subcommands(cmd) {
        let path = sub.get_bin_name().unwrap_or(sub.get_name());
        out.subsection(&format!("\\fB{}\\fR", roff::literal(path)));
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            paragraphs(out, &about.to_string(), "PP");
        }
        let aliases = sub.get_visible_aliases().collect::<Vec<_>>();
        if !aliases.is_empty() {
            out.control("PP", &[]);
            let aliases: Vec<String> = aliases.iter().map(|a| roff::literal(a)).collect();
            out.text(&format!("Aliases: {}", aliases.join(", ")));
        }
        out.control("PP", &[]);
        usage(out, sub);
        let args = visible_args(sub, Some(cmd));
        if !args.is_empty() {
            out.control("RS", &["4"]);
            for arg in args {
                argument(out, arg);
            }
            out.control("RE", &[]);
        }
        if sub.get_name() != "help" {
            commands(out, sub);
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{Arg, ArgAction, Command};

    use super::*;

    /// A small command line like Sekisho's: options with defaults and possible values, a
    /// hidden option, nested and hidden subcommands.
    fn cli() -> Command {
        Command::new("demo")
            .about("A demo resolver")
            .long_about("A demo resolver.\n\nIt answers queries.")
            .arg(
                Arg::new("config")
                    .short('c')
                    .long("config")
                    .value_name("FILE")
                    .help("The configuration file")
                    .default_value("/etc/demo.toml"),
            )
            .arg(
                Arg::new("format")
                    .long("log-format")
                    .help("The log line format")
                    .value_parser(["text", "json"])
                    .default_value("text"),
            )
            .arg(
                Arg::new("weird")
                    .long("weird")
                    .action(ArgAction::SetTrue)
                    .help(".starts with a dot and has a \\ backslash"),
            )
            .arg(
                Arg::new("secret")
                    .long("secret-knob")
                    .hide(true)
                    .help("Not for you"),
            )
            .subcommand(
                Command::new("rpz").about("Policy zones").subcommand(
                    Command::new("build")
                        .about("Builds a policy zone from lists")
                        .arg(Arg::new("input").required(true).help("The list to read"))
                        .arg(Arg::new("out").long("out").help("Where to write the zone")),
                ),
            )
            .subcommand(Command::new("internal-debug").hide(true).about("Hidden"))
    }

    /// The page of [`cli`].
    fn page() -> String {
        man_page(
            &cli(),
            "8",
            "2026-12-06",
            "0.1.0",
            &[(
                "EXIT STATUS",
                "| code | meaning |\n|---|---|\n| `0` | Success. |",
            )],
        )
    }

    #[test]
    fn the_page_starts_with_the_title_header_and_name() {
        let page = page();
        assert!(
            page.starts_with(
                ".TH \"DEMO\" \"8\" \"2026-12-06\" \"sekisho 0.1.0\" \"Sekisho Manual\"\n"
            ),
            "{page}"
        );
        assert!(
            page.contains(".SH\nNAME\ndemo \\- A demo resolver\n"),
            "{page}"
        );
        assert!(
            page.contains(".SH\nSYNOPSIS\n\\fBdemo\\fR [OPTIONS] [COMMAND]\n"),
            "{page}"
        );
        assert!(
            page.contains(".SH\nDESCRIPTION\n.PP\nA demo resolver.\n.PP\nIt answers queries.\n"),
            "{page}"
        );
    }

    #[test]
    fn every_visible_option_has_its_flags_help_default_and_values() {
        let page = page();
        assert!(
            page.contains(
                ".TP\n\\fB\\-c\\fR, \\fB\\-\\-config\\fR \\fIFILE\\fR\nThe configuration file\n.IP\n[default: /etc/demo.toml]\n"
            ),
            "{page}"
        );
        assert!(
            page.contains("\\fB\\-\\-log\\-format\\fR \\fIFORMAT\\fR\nThe log line format\n"),
            "{page}"
        );
        assert!(
            page.contains("[default: text]\n.IP\n[possible values: text, json]\n"),
            "{page}"
        );
        assert!(
            page.contains("\\fB\\-h\\fR, \\fB\\-\\-help\\fR\n"),
            "{page}"
        );
    }

    #[test]
    fn hidden_options_and_commands_are_left_out() {
        let page = page();
        assert!(!page.contains("secret"), "{page}");
        assert!(!page.contains("Not for you"), "{page}");
        assert!(!page.contains("internal"), "{page}");
    }

    #[test]
    fn help_text_starting_with_a_dot_and_holding_a_backslash_is_escaped() {
        let page = page();
        assert!(
            page.contains("\\fB\\-\\-weird\\fR\n\\&.starts with a dot and has a \\e backslash\n"),
            "{page}"
        );
        // No line of the page may start with a dot unless it is one of our macros.
        for line in page.lines().filter(|l| l.starts_with('.')) {
            let name = line[1..].split(' ').next().unwrap_or_default();
            assert!(
                ["TH", "SH", "SS", "PP", "IP", "TP", "RS", "RE", "br", "nf", "fi"].contains(&name),
                "unexpected control line {line:?}"
            );
        }
    }

    #[test]
    fn subcommands_are_listed_recursively_with_their_arguments() {
        let page = page();
        assert!(
            page.contains(".SH\nCOMMANDS\n.SS\n\\fBdemo rpz\\fR\n.PP\nPolicy zones\n"),
            "{page}"
        );
        assert!(
            page.contains(".SS\n\\fBdemo rpz build\\fR\n.PP\nBuilds a policy zone from lists\n.PP\n\\fBdemo rpz build\\fR [OPTIONS] <input>\n"),
            "{page}"
        );
        assert!(
            page.contains(".RS 4\n.TP\n\\fIinput\\fR\nThe list to read\n"),
            "{page}"
        );
        assert!(
            page.contains("\\fB\\-\\-out\\fR \\fIOUT\\fR\nWhere to write the zone\n"),
            "{page}"
        );
        // The auto-generated help flags are not repeated under every subcommand.
        assert_eq!(page.matches("\\fB\\-\\-help\\fR").count(), 1, "{page}");
    }

    #[test]
    fn extra_sections_come_from_markdown() {
        let page = page();
        assert!(
            page.contains(".SH\nEXIT STATUS\n.TP\n\\fB\\%0\\fR\nSuccess.\n"),
            "{page}"
        );
    }
}
