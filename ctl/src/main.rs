//! `sekishoctl`: the control command, in the spirit of rndc and unbound-control.
//!
//! ```text
//!  sekishoctl [--socket PATH | --config FILE] [--json] VERB [ARGS]
//!     │ parse (clap) ──▶ sekisho_api::Request
//!     ▼
//!  control socket ──one JSON line each way──▶ sekisho_api::Reply ──▶ stdout / exit code
//! ```
//!
//! It links `sekisho-api` (serde types) and `sekisho-conf` (to find the
//! socket a configuration names), never the server. The exchange is
//! synchronous: one request, one reply, bounded by a timeout.
//!
//! Exit codes, decided in [`CtlError::exit_code`] only: 0 success, 1 the
//! daemon reported an error (or `test` found no rule), 2 usage error, 3 the
//! daemon is not running (as `unbound-control status`), 4 the socket exists
//! but may not be used (permissions).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use sekisho_api::{Reply, Request, MAX_REPLY};

/// Bound on one exchange with the daemon (a reload of a large zone takes a while).
const IO_TIMEOUT: Duration = Duration::from_secs(600);

/// Control a running Sekisho daemon.
#[derive(Debug, Parser)]
#[command(name = "sekishoctl", version, about, long_about = None)]
struct Cli {
    /// The daemon's control socket (default: `$XDG_RUNTIME_DIR/sekisho/control.sock`).
    #[arg(
        short,
        long,
        global = true,
        value_name = "PATH",
        conflicts_with = "config"
    )]
    socket: Option<PathBuf>,
    /// Find the control socket in this configuration file.
    #[arg(short, long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the reply as JSON.
    #[arg(short, long, global = true)]
    json: bool,
    /// What to do.
    #[command(subcommand)]
    verb: Verb,
}

/// The verbs.
#[derive(Debug, Subcommand)]
enum Verb {
    /// Daemon state, cache, upstreams and policy zones.
    Status,
    /// Re-read the configuration and every policy zone file, as SIGHUP (or only ZONE's file); a refused configuration or a failed load keeps what runs
    Reload {
        /// One zone only.
        zone: Option<String>,
    },
    /// Policy zones: serial, rules, last load/transfer, next refresh, expiry, last error.
    Zones,
    /// Check a transferred policy zone's primaries now (IXFR if newer).
    Refresh {
        /// The zone.
        zone: String,
    },
    /// Transfer a policy zone whole (AXFR) now.
    Retransfer {
        /// The zone.
        zone: String,
    },
    /// Which policy zone, rule, trigger and action apply to NAME (exit 0 match, 1 none).
    Test {
        /// The query name.
        name: String,
        /// The query type (default A).
        qtype: Option<String>,
        /// The client address the query comes from (default 127.0.0.1).
        #[arg(long, value_name = "IP")]
        client: Option<String>,
    },
    /// Counters and gauges, one per line (read-only, never reset).
    Stats,
    /// Log every query, or stop doing so (off by default).
    Querylog {
        /// on or off.
        state: OnOff,
    },
    /// Drop the whole cache.
    Flush,
    /// Drop cached answers for NAME.
    Flushname {
        /// The name.
        name: String,
    },
    /// Drop cached answers at or below NAME.
    Flushtree {
        /// The apex.
        name: String,
    },
    /// What each limit on hostile traffic holds now and has dropped, and the zones,
    /// servers and client prefixes limits engaged for.
    Limits,
    /// Policy zones: their rules, and who hit them.
    Rpz {
        /// list, top-clients, top-names, enable or disable.
        #[command(subcommand)]
        action: RpzVerb,
    },
    /// Negative trust anchors (RFC 7646): stop validating a zone whose DNSSEC is broken, for a while.
    Nta {
        /// add, remove or list.
        #[command(subcommand)]
        action: NtaVerb,
    },
    /// Close and reopen the policy hit record file (logging.rpz-log), after logrotate moved it.
    ReopenLogs,
    /// Write the answer cache's fresh entries to FILE (as on stop, cache.save-file).
    DumpCache {
        /// The file (written by the daemon, as its user).
        file: PathBuf,
    },
    /// Read a cache dump from FILE into the answer cache (TTLs lose the time since the dump).
    LoadCache {
        /// The file (read by the daemon, as its user).
        file: PathBuf,
    },
    /// Stop the daemon gracefully.
    Stop,
    /// Binary upgrade without lost queries: the daemon starts the binary now at its own path
    /// with `--take-over`, hands it every socket and its saved cache, and exits once the new
    /// process serves; if that fails, the running daemon goes on serving (exit 1, and why).
    Upgrade,
    /// Write sekishoctl.8 and a bash completion into DIR (packaging; needs no daemon).
    #[command(hide = true)]
    GenerateManual {
        /// Where the files go.
        dir: PathBuf,
        /// The date on the page (YYYY-MM-DD).
        #[arg(long, default_value = "")]
        date: String,
    },
}

/// What a command line asks for.
enum Action {
    /// A request to the daemon.
    Ask(Request),
    /// The manual page and completion, written to a directory.
    Manual {
        /// The directory.
        dir: PathBuf,
        /// The page's date.
        date: String,
    },
}

/// `rpz` actions.
#[derive(Debug, Subcommand)]
enum RpzVerb {
    /// One page of ZONE's rules now served (owner, trigger, action, data), those whose owner
    /// contains PATTERN (case-insensitive) when given.
    List {
        /// The policy zone.
        zone: String,
        /// A part of the owner name.
        pattern: Option<String>,
        /// Matching rules to skip.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Rules at most on the page.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// The clients with most hits in ZONE (as its log-client-ip shows them: none under "none").
    TopClients {
        /// The policy zone.
        zone: String,
        /// The window (e.g. 15m, 1h, 1d; at most 1d).
        #[arg(long, default_value = "1h")]
        since: String,
        /// Entries at most.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Stop applying ZONE's rules until `rpz enable` or a restart (Unbound's rpz_disable);
    /// its loads and transfers go on.
    Disable {
        /// The policy zone.
        zone: String,
    },
    /// Apply ZONE's rules again after `rpz disable`.
    Enable {
        /// The policy zone.
        zone: String,
    },
    /// The query names with most hits in ZONE.
    TopNames {
        /// The policy zone.
        zone: String,
        /// The window (e.g. 15m, 1h, 1d; at most 1d).
        #[arg(long, default_value = "1h")]
        since: String,
        /// Entries at most.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

/// `nta` actions.
#[derive(Debug, Subcommand)]
enum NtaVerb {
    /// Stop validating NAME and below for LIFETIME (default 1h, at most 1w); the caches forget the tree.
    Add {
        /// The name.
        name: String,
        /// How long, as in the configuration ("30m", "1h", "2d").
        lifetime: Option<String>,
    },
    /// Validate NAME again; the caches forget the tree.
    Remove {
        /// The name.
        name: String,
    },
    /// The anchors in force and the time each has left.
    List,
}

/// `querylog` argument.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum OnOff {
    /// Switch on.
    On,
    /// Switch off.
    Off,
}

impl Verb {
    /// What this verb does: a request to the daemon, or (packaging only) the
    /// manual.
    fn action(self) -> Action {
        if let Verb::GenerateManual { dir, date } = self {
            return Action::Manual { dir, date };
        }
        Action::Ask(self.request())
    }

    /// The request this verb sends.
    fn request(self) -> Request {
        match self {
            Verb::Status => Request::Status,
            Verb::Reload { zone } => Request::Reload { zone },
            Verb::Zones => Request::Zones,
            Verb::Refresh { zone } => Request::Refresh { zone },
            Verb::Retransfer { zone } => Request::Retransfer { zone },
            Verb::Test {
                name,
                qtype,
                client,
            } => Request::Test {
                name,
                qtype,
                client,
            },
            Verb::Stats => Request::Stats,
            Verb::Querylog { state } => Request::Querylog {
                on: matches!(state, OnOff::On),
            },
            Verb::Flush => Request::Flush,
            Verb::Flushname { name } => Request::Flushname { name },
            Verb::Flushtree { name } => Request::Flushtree { name },
            Verb::Limits => Request::Limits,
            Verb::Rpz { action } => match action {
                RpzVerb::List {
                    zone,
                    pattern,
                    offset,
                    limit,
                } => Request::RpzList {
                    zone,
                    pattern,
                    offset,
                    limit,
                },
                RpzVerb::TopClients { zone, since, limit } => Request::RpzTopClients {
                    zone,
                    since: Some(since),
                    limit,
                },
                RpzVerb::TopNames { zone, since, limit } => Request::RpzTopNames {
                    zone,
                    since: Some(since),
                    limit,
                },
                RpzVerb::Enable { zone } => Request::RpzEnable {
                    zone,
                    enabled: true,
                },
                RpzVerb::Disable { zone } => Request::RpzEnable {
                    zone,
                    enabled: false,
                },
            },
            Verb::ReopenLogs => Request::ReopenLogs,
            Verb::DumpCache { file } => Request::DumpCache {
                file: absolute(&file),
            },
            Verb::LoadCache { file } => Request::LoadCache {
                file: absolute(&file),
            },
            Verb::Nta { action } => match action {
                NtaVerb::Add { name, lifetime } => Request::NtaAdd { name, lifetime },
                NtaVerb::Remove { name } => Request::NtaRemove { name },
                NtaVerb::List => Request::NtaList,
            },
            Verb::Stop => Request::Stop,
            Verb::Upgrade => Request::Upgrade,
            // Never sent: `action` answers it without the daemon. The
            // harmless read-only request keeps this match total.
            Verb::GenerateManual { .. } => Request::Status,
        }
    }
}

/// Everything that ends `sekishoctl` with a non-zero status.
#[derive(Debug, thiserror::Error)]
enum CtlError {
    /// `--config FILE` does not load.
    #[error("{0}")]
    Config(String),
    /// Nobody answers on the socket.
    #[error("sekisho is not running (no daemon on {})", socket.display())]
    NotRunning {
        /// The socket tried.
        socket: PathBuf,
    },
    /// The socket may not be used by this user.
    #[error("permission denied on {} (run as the daemon's user)", socket.display())]
    Permission {
        /// The socket tried.
        socket: PathBuf,
    },
    /// Any other failure of the exchange.
    #[error("{}: {source}", socket.display())]
    Io {
        /// The socket tried.
        socket: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The daemon answered with an error.
    #[error("{0}")]
    Daemon(String),
    /// `test` found no rule (not an error message, only an exit status).
    #[error("")]
    NoMatch,
    /// `generate-manual` could not write its files.
    #[error("generate-manual: {0}")]
    Manual(std::io::Error),
}

impl CtlError {
    /// The exit status: the only place exit codes are decided.
    fn exit_code(&self) -> u8 {
        match self {
            CtlError::Daemon(_) | CtlError::NoMatch | CtlError::Io { .. } | CtlError::Manual(_) => {
                1
            }
            CtlError::Config(_) => 2,
            CtlError::NotRunning { .. } => 3,
            CtlError::Permission { .. } => 4,
        }
    }

    /// The error of a failed exchange on `socket`.
    fn of_io(socket: PathBuf, source: std::io::Error) -> CtlError {
        use std::io::ErrorKind::*;
        match source.kind() {
            NotFound | ConnectionRefused => CtlError::NotRunning { socket },
            PermissionDenied => CtlError::Permission { socket },
            _ => CtlError::Io { socket, source },
        }
    }
}

/// Send one request to the daemon at `socket` and read its reply.
fn call(socket: &std::path::Path, request: &Request) -> std::io::Result<Reply> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let line = sekisho_api::encode(request).map_err(std::io::Error::other)?;
    stream.write_all(&line)?;
    let mut reply = String::new();
    BufReader::new(stream.take(MAX_REPLY as u64)).read_line(&mut reply)?;
    sekisho_api::decode(&reply).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Print `reply` as the operator reads it; the error a failed verb ends with.
fn print(reply: Reply, json: bool) -> Result<(), CtlError> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reply).unwrap_or_default()
        );
    }
    match reply {
        Reply::Status(s) => {
            if !json {
                print!("{s}");
            }
            Ok(())
        }
        Reply::Stats { lines } => {
            if !json {
                lines.iter().for_each(|l| println!("{l}"));
            }
            Ok(())
        }
        Reply::Limits(report) => {
            if !json {
                print!("{report}");
            }
            Ok(())
        }
        Reply::Zones { zones } => {
            if !json {
                if zones.is_empty() {
                    println!("no policy zones configured");
                }
                zones.iter().for_each(|z| println!("{z}"));
            }
            Ok(())
        }
        Reply::Test { lines, matched } => {
            if !json {
                lines.iter().for_each(|l| println!("{l}"));
            }
            if matched {
                Ok(())
            } else {
                Err(CtlError::NoMatch)
            }
        }
        Reply::Rules {
            zone,
            total,
            offset,
            rules,
        } => {
            if !json {
                rules.iter().for_each(|r| println!("{r}"));
                match rules.len() {
                    0 => println!("no rules at {offset} of {total} in {zone}"),
                    n => println!("rules {}-{} of {total} in {zone}", offset + 1, offset + n),
                }
            }
            Ok(())
        }
        Reply::Top {
            zone,
            since_seconds,
            what,
            entries,
        } => {
            if !json {
                if entries.is_empty() {
                    println!("no {what} with hits in {zone} in the last {since_seconds} s");
                }
                for e in &entries {
                    match e.error {
                        0 => println!("{} {}", e.count, e.key),
                        err => println!("{} {} (may be over by {err})", e.count, e.key),
                    }
                }
            }
            Ok(())
        }
        Reply::Ntas { ntas } => {
            if !json {
                if ntas.is_empty() {
                    println!("no negative trust anchors");
                }
                for n in &ntas {
                    println!("{} expires in {} s", n.name, n.seconds_left);
                }
            }
            Ok(())
        }
        Reply::Done { message } => {
            if !json {
                println!("{message}");
            }
            Ok(())
        }
        Reply::Error { message } => Err(CtlError::Daemon(message)),
        // Only a new daemon asks for a hand-over.
        Reply::HandOver { .. } => Err(CtlError::Daemon(
            "unexpected hand-over reply from the daemon".into(),
        )),
    }
}

/// Run the parsed command line.
fn run(cli: Cli) -> Result<(), CtlError> {
    let request = match cli.verb.action() {
        Action::Ask(request) => request,
        Action::Manual { dir, date } => return write_manual(&dir, &date).map_err(CtlError::Manual),
    };
    let socket = match (cli.socket, cli.config) {
        (Some(s), _) => s,
        (None, Some(f)) => {
            sekisho_conf::Config::load(&f)
                .map_err(|e| CtlError::Config(e.to_string()))?
                .control
                .socket
        }
        (None, None) => sekisho_conf::default_runtime_dir().join("control.sock"),
    };
    let reply = call(&socket, &request).map_err(|e| CtlError::of_io(socket, e))?;
    print(reply, cli.json)
}

/// `path` made absolute against our working directory: the daemon runs
/// elsewhere. (Left as given when that fails; the daemon then says why.)
fn absolute(path: &std::path::Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// sekishoctl.8 and sekishoctl.bash in `dir`, from this command line's own
/// definitions (what `--help` shows).
fn write_manual(dir: &std::path::Path, date: &str) -> std::io::Result<()> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let page = sekisho_manual::man_page(
        &cmd,
        "8",
        date,
        env!("CARGO_PKG_VERSION"),
        &[
            (
                "EXIT STATUS",
                "0 success; 1 the daemon reported an error (unknown zone, bad name, failed reload) or test found no rule; 2 usage error; 3 the daemon is not running; 4 the socket may not be used (permissions).",
            ),
            ("SEE ALSO", "sekisho(8), sekisho.toml(5)"),
        ],
    );
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("sekishoctl.8"), page)?;
    std::fs::write(
        dir.join("sekishoctl.bash"),
        sekisho_manual::bash_completion(&cmd),
    )
}

fn main() -> ExitCode {
    // clap prints --help and --version to stdout with status 0, usage errors to
    // stderr with status 2.
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let text = e.to_string();
            if !text.is_empty() {
                eprintln!("sekishoctl: {text}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
