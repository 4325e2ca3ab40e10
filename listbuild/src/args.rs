//! The command line of `sekisho rpz build`, on clap (derive), and its checks.
//!
//! ```text
//!  argv ──clap──▶ BuildArgs ──into_options()──▶ BuildOptions ──▶ build()
//!        (each value's syntax:     (what involves several options:
//!         names, IPs, durations)    --csv needs its columns, SOA timer order)
//! ```
//!
//! A value that cannot be read is a clap error naming the option
//! (`invalid value '1.5d' for '--expire <DURATION>': ...`); a combination that
//! makes no sense is a [`BuildError::Usage`] naming the options. Both exit 2.
//!
//! `--csv`, `--domains` and `--hosts` keep their command-line order across the
//! three kinds (names are deduplicated first come, first written), which a
//! derived struct of three lists would lose: [`InputArgs`] implements clap's
//! traits by hand and orders the values by their position on the line.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches, Parser, ValueEnum};
use hickory_proto::rr::Name;

use crate::convert::{
    Action, CsvColumns, Format, SoaSettings, DEFAULT_MBOX, DEFAULT_NS, MAX_SECONDS,
};
use crate::{BuildError, BuildOptions, Input, Output};

/// Text after the option list of `sekisho rpz build --help`.
const AFTER_HELP: &str = "\
Columns count from 1, as awk does. FILE or OUT `-` means stdin or stdout.
--csv, --domains and --hosts may be repeated and combined; a name listed twice is written once.
Durations: a number of seconds, or number-unit groups with s, m, h, d, w (\"1h30m\", \"30d\").
The SOA timer defaults are those of the blocking guideline's make_block_zone.sh; the 30-day
expire keeps a secondary enforcing its copy through a long outage of the list master.
Reports and the summary go to stderr. Exit status: 0 written, 1 failed (the old OUT stays),
2 usage error.";

/// The command line of `sekisho rpz build` (everything after `rpz build`).
///
/// Parse it with clap (`BuildArgs::try_parse_from`, or embedded as a subcommand),
/// then hand it to [`crate::run`].
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    about = "Blocking lists (CSV, domain lists, hosts files) -> a response policy zone",
    long_about = None,
    after_help = AFTER_HELP,
    disable_version_flag = true
)]
pub struct BuildArgs {
    /// The policy zone's name (the `name` of its [[response-policy.zone]])
    #[arg(long, value_name = "NAME", value_parser = zone_name)]
    pub zone: Name,

    /// The inputs, in command-line order.
    #[command(flatten)]
    pub inputs: InputArgs,

    /// CSV column of the host name (from 1); needed with --csv
    #[arg(long, value_name = "N", value_parser = column)]
    pub host_column: Option<usize>,

    /// CSV column of the blocking flag (from 1); needed with --csv
    #[arg(long, value_name = "N", value_parser = column)]
    pub flag_column: Option<usize>,

    /// The flag value that means "block", compared after trimming blanks [default: 1]
    #[arg(long, value_name = "V")]
    pub flag_value: Option<String>,

    /// Local data: every listed name answers this IPv4 address (the warning page)
    #[arg(long, value_name = "IP", conflicts_with = "action")]
    pub warn_a: Option<Ipv4Addr>,

    /// Local data: every listed name answers this IPv6 address (the warning page)
    #[arg(long, value_name = "IP", conflicts_with = "action")]
    pub warn_aaaa: Option<Ipv6Addr>,

    /// Instead of local data: CNAME . (nxdomain), CNAME *. (nodata) or CNAME rpz-drop. (drop)
    /// [default: nxdomain when no --warn-a/--warn-aaaa is given]
    #[arg(long, value_name = "ACTION")]
    pub action: Option<ActionArg>,

    /// Also write *.name with the same data, so names below a listed host are blocked too
    #[arg(long)]
    pub wildcard: bool,

    /// The SOA serial [default: the Unix time, or the existing OUT's serial + 1 when that is not lower]
    #[arg(long, value_name = "N")]
    pub serial: Option<u32>,

    /// SOA refresh: how often a secondary checks the primary for a new serial
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = positive_seconds)]
    pub refresh: u32,

    /// SOA retry: how soon a secondary tries again after a failed refresh (at most --refresh)
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = positive_seconds)]
    pub retry: u32,

    /// SOA expire: how long a secondary that cannot reach the primary keeps serving the zone
    /// (more than --refresh plus --retry)
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = positive_seconds)]
    pub expire: u32,

    /// SOA minimum: the zone's negative-caching TTL (RFC 2308)
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = seconds)]
    pub minimum: u32,

    /// TTL of every record written, SOA and NS included (max-policy-ttl caps rewritten answers)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = seconds)]
    pub ttl: u32,

    /// SOA MNAME and the target of the zone's NS record
    #[arg(long, value_name = "NAME", default_value = DEFAULT_NS, value_parser = ns_name)]
    pub ns: Name,

    /// SOA RNAME: the responsible mailbox written as a name (root@localhost is root.localhost.)
    #[arg(long, value_name = "NAME", default_value = DEFAULT_MBOX, value_parser = mbox_name)]
    pub mbox: Name,

    /// The zone file, replaced atomically; `-` writes to stdout
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: PathBuf,
}

/// `--action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActionArg {
    /// CNAME . (the name does not exist)
    Nxdomain,
    /// CNAME *. (the name exists, with no data)
    Nodata,
    /// CNAME rpz-drop. (no answer at all)
    Drop,
}

/// What kind of list an input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `--csv`.
    Csv,
    /// `--domains`.
    Domains,
    /// `--hosts`.
    Hosts,
}

impl InputKind {
    /// Every kind with its option (and clap argument id).
    const ALL: [(InputKind, &'static str); 3] = [
        (InputKind::Csv, "csv"),
        (InputKind::Domains, "domains"),
        (InputKind::Hosts, "hosts"),
    ];
}

/// `--csv`, `--domains` and `--hosts`, in command-line order across the three.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputArgs {
    /// Each input with its kind, in the order given.
    pub inputs: Vec<(InputKind, PathBuf)>,
}

impl FromArgMatches for InputArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut found: Vec<(usize, InputKind, PathBuf)> = Vec::new();
        for (kind, id) in InputKind::ALL {
            let (Some(positions), Some(paths)) =
                (matches.indices_of(id), matches.get_many::<PathBuf>(id))
            else {
                continue;
            };
            found.extend(
                positions
                    .zip(paths)
                    .map(|(pos, path)| (pos, kind, path.clone())),
            );
        }
        found.sort_by_key(|(pos, ..)| *pos);
        Ok(InputArgs {
            inputs: found
                .into_iter()
                .map(|(_, kind, path)| (kind, path))
                .collect(),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for InputArgs {
    fn augment_args(cmd: Command) -> Command {
        let input = |id: &'static str, help: &'static str| {
            Arg::new(id)
                .long(id)
                .value_name("FILE")
                .action(ArgAction::Append)
                .value_parser(clap::value_parser!(PathBuf))
                .help(help)
        };
        cmd.arg(input(
            "csv",
            "A CSV list (RFC 4180); needs --host-column and --flag-column",
        ))
        .arg(input(
            "domains",
            "A list of names, one per line; # and ; start comments",
        ))
        .arg(input(
            "hosts",
            "A hosts file (0.0.0.0 name name2 # comment); localhost and the like are ignored",
        ))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl BuildArgs {
    /// The checked build options: what involves several options is checked here
    /// (each value's own syntax was checked by clap).
    pub fn into_options(self) -> Result<BuildOptions, BuildError> {
        let usage = |m: &str| BuildError::Usage(m.to_owned());
        if self.inputs.inputs.is_empty() {
            return Err(usage("no input: give --csv, --domains or --hosts"));
        }
        let has_csv = self.inputs.inputs.iter().any(|(k, _)| *k == InputKind::Csv);
        let columns = if has_csv {
            let (Some(host), Some(flag)) = (self.host_column, self.flag_column) else {
                return Err(usage("--csv needs --host-column and --flag-column"));
            };
            Some(CsvColumns {
                host,
                flag,
                flag_value: self.flag_value.unwrap_or_else(|| "1".into()),
            })
        } else if self.host_column.is_some()
            || self.flag_column.is_some()
            || self.flag_value.is_some()
        {
            return Err(usage(
                "--host-column, --flag-column and --flag-value need --csv",
            ));
        } else {
            None
        };
        let inputs = self
            .inputs
            .inputs
            .into_iter()
            .map(|(kind, path)| Input {
                path,
                format: match (kind, &columns) {
                    (InputKind::Csv, Some(c)) => Format::Csv(c.clone()),
                    (InputKind::Hosts, _) => Format::Hosts,
                    _ => Format::Domains,
                },
            })
            .collect();
        let action = match (self.warn_a, self.warn_aaaa, self.action) {
            (None, None, a) => match a.unwrap_or(ActionArg::Nxdomain) {
                ActionArg::Nxdomain => Action::Nxdomain,
                ActionArg::Nodata => Action::Nodata,
                ActionArg::Drop => Action::Drop,
            },
            (a, aaaa, None) => Action::LocalData { a, aaaa },
            // clap refuses the combination already; kept for callers that build BuildArgs.
            (_, _, Some(_)) => {
                return Err(usage(
                    "--warn-a/--warn-aaaa (local data) and --action exclude each other",
                ))
            }
        };
        let soa = SoaSettings {
            ns: self.ns,
            mbox: self.mbox,
            refresh: self.refresh,
            retry: self.retry,
            expire: self.expire,
            minimum: self.minimum,
            ttl: self.ttl,
        };
        check_soa(&soa)?;
        Ok(BuildOptions {
            zone: self.zone,
            inputs,
            action,
            wildcard: self.wildcard,
            serial: self.serial,
            soa,
            output: if self.output.as_os_str() == "-" {
                Output::Stdout
            } else {
                Output::File(self.output)
            },
        })
    }
}

/// Refuses SOA timers that contradict each other (what BIND's zone checks warn
/// about, and what a secondary would silently clamp).
pub(crate) fn check_soa(soa: &SoaSettings) -> Result<(), BuildError> {
    for (option, value) in [
        ("--refresh", soa.refresh),
        ("--retry", soa.retry),
        ("--expire", soa.expire),
        ("--minimum", soa.minimum),
        ("--ttl", soa.ttl),
    ] {
        if value > MAX_SECONDS {
            return Err(BuildError::Usage(format!(
                "{option} {value}: at most {MAX_SECONDS} seconds (about 68 years)"
            )));
        }
    }
    for (option, value) in [
        ("--refresh", soa.refresh),
        ("--retry", soa.retry),
        ("--expire", soa.expire),
    ] {
        if value == 0 {
            return Err(BuildError::Usage(format!(
                "{option} must be more than 0 seconds"
            )));
        }
    }
    if soa.retry > soa.refresh {
        return Err(BuildError::Usage(format!(
            "--retry ({}) is longer than --refresh ({}): retry is the shorter wait after a failed refresh; make --retry at most --refresh",
            human(soa.retry),
            human(soa.refresh)
        )));
    }
    if u64::from(soa.expire) <= u64::from(soa.refresh) + u64::from(soa.retry) {
        return Err(BuildError::Usage(format!(
            "--expire ({}) must be longer than --refresh plus --retry ({} + {}): the zone would expire before a secondary has tried to refresh it",
            human(soa.expire),
            human(soa.refresh),
            human(soa.retry)
        )));
    }
    Ok(())
}

/// `3600` → `"3600 s = 1h"`, for messages.
fn human(seconds: u32) -> String {
    let mut rest = seconds;
    let mut text = String::new();
    for (unit, size) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3600),
        ("m", 60),
        ("s", 1),
    ] {
        if rest >= size {
            text.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if text.is_empty() {
        text.push_str("0s");
    }
    if text == format!("{seconds}s") {
        text
    } else {
        format!("{seconds}s = {text}")
    }
}

/// A duration in whole seconds, at most [`MAX_SECONDS`] (0 allowed).
fn seconds(text: &str) -> Result<u32, String> {
    let d = sekisho_conf::parse_duration(text).map_err(|e| {
        if e.starts_with("fractions") {
            "fractions are not accepted; use a smaller unit (\"1d12h\", not \"1.5d\")".into()
        } else {
            e
        }
    })?;
    if d.subsec_nanos() != 0 {
        return Err("not a whole number of seconds".into());
    }
    match u32::try_from(d.as_secs()) {
        Ok(s) if s <= MAX_SECONDS => Ok(s),
        _ => Err(format!(
            "more than {MAX_SECONDS} seconds (about 68 years), the largest a zone can hold"
        )),
    }
}

/// As [`seconds`], more than 0.
fn positive_seconds(text: &str) -> Result<u32, String> {
    match seconds(text)? {
        0 => Err("must be more than 0 seconds".into()),
        s => Ok(s),
    }
}

/// An absolute name from the command line (a missing final dot is added), lower-cased.
fn absolute_name(text: &str) -> Result<Name, String> {
    let mut n = Name::from_utf8(text)
        .map_err(|e| e.to_string())?
        .to_lowercase();
    n.set_fqdn(true);
    Ok(n)
}

/// `--zone`: not the root.
fn zone_name(text: &str) -> Result<Name, String> {
    let n = absolute_name(text)?;
    if n.is_root() {
        return Err("the policy zone cannot be the root".into());
    }
    Ok(n)
}

/// `--ns`: a host name, not the root.
fn ns_name(text: &str) -> Result<Name, String> {
    let n = absolute_name(text)?;
    if n.is_root() {
        return Err("the name server cannot be the root; write e.g. localhost.".into());
    }
    Ok(n)
}

/// `--mbox`: a mailbox written as a name (`hostmaster.example.jp.`), not an address.
fn mbox_name(text: &str) -> Result<Name, String> {
    if let Some((user, domain)) = text.split_once('@') {
        return Err(format!(
            "write the mailbox as a name: {user}.{}.",
            domain.trim_end_matches('.')
        ));
    }
    let n = absolute_name(text)?;
    if n.is_root() {
        return Err("the mailbox cannot be the root; write e.g. root.localhost.".into());
    }
    Ok(n)
}

/// A 1-based column number → 0-based index.
fn column(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n - 1),
        _ => Err("expected a column number from 1".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sekisho rpz build` + the words of `line`.
    fn parse(line: &str) -> Result<BuildArgs, clap::Error> {
        BuildArgs::try_parse_from(
            std::iter::once("sekisho rpz build").chain(line.split_whitespace()),
        )
    }

    /// Parses and checks `line`.
    fn options(line: &str) -> Result<BuildOptions, String> {
        parse(line)
            .map_err(|e| e.to_string())?
            .into_options()
            .map_err(|e| {
                assert!(e.is_usage(), "{e}");
                e.to_string()
            })
    }

    /// The message for `line`, which must be refused.
    fn refused(line: &str) -> String {
        match options(line) {
            Ok(o) => panic!("{line:?} accepted: {o:?}"),
            Err(e) => e,
        }
    }

    /// A minimal valid command line.
    const BASE: &str = "--zone block --domains d -o -";

    #[test]
    fn the_guideline_command_line_parses_with_columns_counted_from_one() {
        let o = options(
            "--zone Block --csv list.csv --host-column 2 --flag-column 5 --hosts h --warn-a 192.0.2.10 -o -",
        )
        .expect("parses");
        assert_eq!(o.zone.to_string(), "block.");
        assert_eq!(
            o.inputs[0].format,
            Format::Csv(CsvColumns {
                host: 1,
                flag: 4,
                flag_value: "1".into()
            })
        );
        assert_eq!(o.inputs[1].format, Format::Hosts);
        assert_eq!(o.output, Output::Stdout);
        assert_eq!(
            o.action,
            Action::LocalData {
                a: Some(Ipv4Addr::new(192, 0, 2, 10)),
                aaaa: None
            }
        );
        assert_eq!(o.serial, None);
        assert!(!o.wildcard);
    }

    #[test]
    fn inputs_keep_their_command_line_order_across_kinds() {
        let o = options(
            "--hosts h1 --zone z --csv c1 --domains d1 --host-column 2 --csv=c2 --flag-column=5 --hosts=h2 --domains d2 -o out.rpz",
        )
        .expect("parses");
        let got: Vec<(String, &str)> = o
            .inputs
            .iter()
            .map(|i| {
                let kind = match i.format {
                    Format::Csv(_) => "csv",
                    Format::Domains => "domains",
                    Format::Hosts => "hosts",
                };
                (i.path.display().to_string(), kind)
            })
            .collect();
        let want = [
            ("h1", "hosts"),
            ("c1", "csv"),
            ("d1", "domains"),
            ("c2", "csv"),
            ("h2", "hosts"),
            ("d2", "domains"),
        ];
        assert_eq!(
            got,
            want.map(|(p, k)| (p.to_owned(), k)).to_vec(),
            "inputs out of order"
        );
        assert_eq!(o.output, Output::File("out.rpz".into()));
    }

    #[test]
    fn equals_and_separate_values_are_the_same() {
        let a = options("--zone=block --domains=d --action=drop --serial=7 --expire=6w --output=-")
            .expect("= form");
        let b = options("--zone block --domains d --action drop --serial 7 --expire 6w -o -")
            .expect("separate form");
        assert_eq!(a, b);
        assert_eq!(a.action, Action::Drop);
        assert_eq!(a.serial, Some(7));
        assert_eq!(a.soa.expire, 6 * 604_800);
    }

    #[test]
    fn soa_options_default_to_the_guideline_values() {
        let o = options(BASE).expect("parses");
        assert_eq!(o.soa, SoaSettings::default());
        assert_eq!(
            (o.soa.refresh, o.soa.retry, o.soa.expire, o.soa.minimum),
            (3600, 900, 2_592_000, 7200)
        );
        assert_eq!(o.action, Action::Nxdomain);
    }

    #[test]
    fn soa_options_read_durations_and_plain_seconds() {
        let o = options(&format!(
            "{BASE} --refresh 7200 --retry 20m --expire 1w1d --minimum 1h30m --ttl 0 --ns NS1.Example.NET --mbox hostmaster.example.jp."
        ))
        .expect("parses");
        assert_eq!(
            o.soa,
            SoaSettings {
                ns: Name::from_ascii("ns1.example.net.").expect("name"),
                mbox: Name::from_ascii("hostmaster.example.jp.").expect("name"),
                refresh: 7200,
                retry: 1200,
                expire: 8 * 86_400,
                minimum: 5400,
                ttl: 0,
            }
        );
        assert!(o.soa.ns.is_fqdn());
    }

    #[test]
    fn bad_durations_are_refused_naming_the_option() {
        for (args, option, why) in [
            ("--expire 1.5d", "--expire", "fractions"),
            ("--refresh 0", "--refresh", "more than 0"),
            ("--retry 0s", "--retry", "more than 0"),
            ("--expire 0", "--expire", "more than 0"),
            ("--minimum 1500ms", "--minimum", "whole number of seconds"),
            ("--ttl 10y", "--ttl", "unknown unit"),
            ("--expire 70000d", "--expire", "2147483647 seconds"),
            ("--refresh=-1h", "--refresh", "negative"),
            ("--refresh", "--refresh", ""),
        ] {
            let e = refused(&format!("{BASE} {args}"));
            assert!(e.contains(option), "{args}: {e}");
            assert!(e.contains(why), "{args}: {e}");
        }
    }

    #[test]
    fn zero_is_a_valid_minimum_and_ttl() {
        let o = options(&format!("{BASE} --minimum 0 --ttl 0")).expect("parses");
        assert_eq!((o.soa.minimum, o.soa.ttl), (0, 0));
    }

    #[test]
    fn contradicting_timers_are_refused_naming_both_options() {
        let e = refused(&format!("{BASE} --refresh 1h --retry 2h"));
        assert!(
            e.contains("--retry (7200s = 2h) is longer than --refresh (3600s = 1h)"),
            "{e}"
        );
        let e = refused(&format!("{BASE} --refresh 1d --retry 1h --expire 1d"));
        assert!(
            e.contains("--expire (86400s = 1d) must be longer than --refresh plus --retry"),
            "{e}"
        );
        // The guideline's timers with the old one-day expire are still fine.
        let o = options(&format!("{BASE} --expire 1d")).expect("parses");
        assert_eq!(o.soa.expire, 86_400);
        // Equal retry and refresh are allowed; expire must exceed their sum.
        assert!(options(&format!("{BASE} --refresh 1h --retry 1h --expire 2h")).is_err());
        assert!(options(&format!("{BASE} --refresh 1h --retry 1h --expire 2h1s")).is_ok());
    }

    #[test]
    fn names_for_ns_and_mbox_are_checked() {
        let e = refused(&format!("{BASE} --mbox hostmaster@example.jp"));
        assert!(e.contains("--mbox"), "{e}");
        assert!(e.contains("hostmaster.example.jp."), "{e}");
        let e = refused(&format!("{BASE} --ns ."));
        assert!(e.contains("--ns"), "{e}");
        let e = refused(&format!("{BASE} --mbox ."));
        assert!(e.contains("--mbox"), "{e}");
        let e = refused("--zone . --domains d -o -");
        assert!(e.contains("--zone"), "{e}");
    }

    #[test]
    fn inconsistent_command_lines_are_usage_errors() {
        for (bad, says) in [
            (
                "--csv a --zone z -o -",
                "--csv needs --host-column and --flag-column",
            ),
            (
                "--csv a --host-column 0 --flag-column 5 --zone z -o -",
                "--host-column",
            ),
            ("--domains a --zone z", "--output"),
            ("--domains a -o -", "--zone"),
            ("--zone z -o -", "no input"),
            (
                "--domains a --zone z -o - --warn-a 192.0.2.1 --action drop",
                "cannot be used with",
            ),
            ("--domains a --zone z -o - --warn-a 2001:db8::1", "--warn-a"),
            ("--domains a --zone z -o - --action block", "--action"),
            ("--domains a --zone z -o - --host-column 2", "need --csv"),
            ("--domains a --zone z -o - --bogus", "--bogus"),
            ("--domains a --zone z -o - --serial 4294967296", "--serial"),
        ] {
            let e = refused(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn clap_errors_exit_2_and_help_exits_0() {
        let e = parse("--domains a --zone z -o - --bogus").expect_err("unknown flag");
        assert_eq!(e.exit_code(), 2);
        let e = parse("--help").expect_err("help is an early exit");
        assert_eq!(e.exit_code(), 0);
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        let help = e.to_string();
        for option in [
            "--expire <DURATION>",
            "[default: 30d]",
            "--mbox <NAME>",
            "-o, --output <OUT>",
        ] {
            assert!(help.contains(option), "{option} missing from help:\n{help}");
        }
    }

    #[test]
    fn messages_show_seconds_and_units() {
        assert_eq!(human(3600), "3600s = 1h");
        assert_eq!(human(90_061), "90061s = 1d1h1m1s");
        assert_eq!(human(59), "59s");
        assert_eq!(human(0), "0s");
    }
}
