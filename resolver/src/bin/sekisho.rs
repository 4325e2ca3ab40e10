//! `sekisho`: the resolver daemon and its offline tools.
//!
//! ```text
//! sekisho [run] [--config FILE]     run (the embedded default configuration without FILE)
//! sekisho ... --take-over           run, taking the sockets and cache of the daemon running
//!                                   on the same control socket (binary upgrade)
//! sekisho check-config FILE         validate FILE, print every problem
//! sekisho print-default-config      the embedded default, commented (also --print-default-config)
//! sekisho rpz build ...             blocking lists -> policy zone (sekisho-listbuild)
//! sekisho warn-page ...             the warning page server (sekisho-warnpage)
//! ```
//!
//! This file only parses arguments (clap), builds the runtime and maps
//! failures to exit codes, in one place ([`ExitError::code`]): 0 clean stop,
//! 1 configuration error (or a failed `rpz build`), 2 usage error,
//! 3 start-up failure (cannot bind, cannot open the control socket...).
//! `--help` and `--version` print to stdout and exit 0.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sekisho_conf::Config;
use sekisho_resolver::daemon::TAKE_OVER_WAIT;
use sekisho_resolver::{handover, logging};

/// An RPZ-capable caching and recursive DNS resolver.
#[derive(Debug, Parser)]
#[command(
    name = "sekisho",
    version,
    about = "Sekisho: an RPZ-capable caching and recursive DNS resolver",
    long_about = None,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Run with this configuration file instead of the embedded default.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the embedded default configuration and exit.
    #[arg(long)]
    print_default_config: bool,
    /// Replace the daemon running with this configuration without losing a query: take its
    /// saved cache and its sockets over its control socket, serve, then let it stop
    /// (what `sekishoctl upgrade` starts).
    #[arg(long)]
    take_over: bool,
    /// What to do (default: run).
    #[command(subcommand)]
    command: Option<Command>,
}

/// Subcommands.
// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the resolver (the default).
    Run {
        /// Run with this configuration file instead of the embedded default.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Replace the daemon running with this configuration (see `sekisho --help`).
        #[arg(long)]
        take_over: bool,
    },
    /// Validate a configuration file and print every problem with its key path.
    CheckConfig {
        /// The file.
        file: PathBuf,
    },
    /// Print the embedded default configuration.
    PrintDefaultConfig,
    /// Response policy zone tools.
    Rpz {
        /// The tool.
        #[command(subcommand)]
        tool: RpzTool,
    },
    /// Serve the warning page blocked clients land on.
    WarnPage(sekisho_warnpage::WarnArgs),
    /// Write sekisho.8, sekisho.toml.5 and a bash completion into DIR (packaging).
    #[command(hide = true)]
    GenerateManual {
        /// Where the files go.
        dir: PathBuf,
        /// The date on the pages (YYYY-MM-DD).
        #[arg(long, default_value = "")]
        date: String,
    },
    /// Print the keyed-hash pseudonym of each ADDRESS (log-client-ip = "keyed-hash"),
    /// to check whether a suspect address is behind one seen in the logs.
    ClientPseudonym {
        /// Take logging.log-client-key-file and log-client-key-rotate from this configuration.
        #[arg(short, long, value_name = "FILE", conflicts_with = "key_file")]
        config: Option<PathBuf>,
        /// The secret file (as logging.log-client-key-file).
        #[arg(long, value_name = "FILE")]
        key_file: Option<PathBuf>,
        /// The key period (as logging.log-client-key-rotate).
        #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = sekisho_conf::parse_duration)]
        rotate: std::time::Duration,
        /// The moment whose period is wanted, in seconds since the Unix epoch (default: now).
        #[arg(long, value_name = "SECONDS")]
        at: Option<u64>,
        /// Client addresses.
        #[arg(required = true, value_name = "ADDRESS")]
        addresses: Vec<std::net::IpAddr>,
    },
}

/// `sekisho rpz ...`.
#[derive(Debug, Subcommand)]
enum RpzTool {
    /// Turn blocking lists (CSV, domain lists, hosts files) into a response policy zone.
    Build(sekisho_listbuild::BuildArgs),
}

/// Everything that ends `sekisho` with a non-zero status.
#[derive(Debug, thiserror::Error)]
enum ExitError {
    /// The configuration is invalid (check-config, or at start).
    #[error("{0}")]
    Config(String),
    /// `rpz build` failed.
    #[error("rpz build: {0}")]
    Build(#[from] sekisho_listbuild::BuildError),
    /// `warn-page` failed.
    #[error("warn-page: {0}")]
    WarnPage(#[from] sekisho_warnpage::WarnError),
    /// The daemon could not start.
    #[error("{0}")]
    Start(String),
    /// `generate-manual` could not write its files.
    #[error("generate-manual: {0}")]
    Manual(std::io::Error),
    /// `client-pseudonym` has no usable key.
    #[error("client-pseudonym: {0}")]
    Pseudonym(String),
}

impl ExitError {
    /// The exit status: the only place exit codes are decided.
    fn code(&self) -> u8 {
        match self {
            ExitError::Config(_) | ExitError::Pseudonym(_) | ExitError::Manual(_) => 1,
            ExitError::Build(e) if e.is_usage() => 2,
            ExitError::Build(_) => 1,
            ExitError::WarnPage(e) if e.is_usage() => 2,
            ExitError::Start(_) | ExitError::WarnPage(_) => 3,
        }
    }
}

/// The sample policy zone the embedded default enforces.
const SAMPLE_ZONE: &str = include_str!("../../../testdata/policy/sample.rpz");

/// Write the sample zone where the embedded default looks for it.
fn write_sample_zone(config: &Config) -> std::io::Result<()> {
    for z in &config.response_policy.zones {
        if let Some(file) = &z.file {
            let path = config.server.directory.join(file);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, SAMPLE_ZONE)?;
            std::fs::rename(&tmp, &path)?;
        }
    }
    Ok(())
}

/// `sekisho [run]`: load the configuration, build the runtime, serve until
/// stopped; with `take_over`, first take the sockets of the daemon running
/// on the configuration's control socket.
fn run_daemon(path: Option<PathBuf>, take_over: bool) -> Result<(), ExitError> {
    let config = match &path {
        None => {
            let config = Config::embedded_default();
            write_sample_zone(&config).map_err(|e| {
                ExitError::Start(format!("cannot write the sample policy zone: {e}"))
            })?;
            config
        }
        Some(path) => Config::load(path).map_err(|e| {
            ExitError::Config(format!("refusing to start: invalid configuration\n{e}"))
        })?,
    };
    logging::init(&config.logging);
    let inherited = if take_over {
        let socket = config.control.socket.clone();
        let inherited = handover::take_over(&socket, TAKE_OVER_WAIT).map_err(|e| {
            ExitError::Start(format!(
                "cannot take over from the daemon on {}: {e}",
                socket.display()
            ))
        })?;
        tracing::info!(control = %socket.display(), "sockets taken from the running daemon");
        Some(inherited)
    } else {
        None
    };
    let threads = config.server.runtime_threads();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| ExitError::Start(format!("cannot start the runtime: {e}")))?;
    runtime
        .block_on(sekisho_resolver::daemon::run_taking(
            config, path, true, inherited,
        ))
        .map_err(|e| {
            tracing::error!(error = %e, "start-up failed");
            ExitError::Start(e.to_string())
        })
}

/// The reference of the configuration, docs/config.md, for sekisho.toml(5).
const CONFIG_REFERENCE: &str = include_str!("../../../docs/config.md");

/// sekisho.8, sekisho.toml.5 and sekisho.bash in `dir`: the commands' page
/// from the same clap definitions as `--help`, the configuration's from
/// docs/config.md.
fn write_manual(dir: &std::path::Path, date: &str) -> std::io::Result<()> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let version = env!("CARGO_PKG_VERSION");
    let page = sekisho_manual::man_page(
        &cmd,
        "8",
        date,
        version,
        &[
            (
                "EXIT STATUS",
                "0 success; 1 invalid configuration (every problem is printed with its key path); 2 usage error; 3 the daemon could not start (a port in use, an unreadable file).",
            ),
            (
                "SIGNALS",
                "SIGHUP reloads the configuration and the policy zones (a bad new configuration is refused and the running one kept) and reopens the rpz-log file; SIGTERM and SIGINT stop accepting queries, drain those in flight for up to 2 s and exit 0. A binary upgrade loses no query: sekishoctl upgrade starts the binary now on disk with --take-over, which takes the running daemon's sockets and saved cache over its control socket; the old process then drains and exits 0, or goes on serving if the new one fails.",
            ),
            ("FILES", "/etc/sekisho/sekisho.toml, /var/lib/sekisho, /var/log/sekisho, /run/sekisho/control.sock"),
            ("SEE ALSO", "sekishoctl(8), sekisho.toml(5), /usr/share/doc/sekisho/operations.md"),
        ],
    );
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("sekisho.8"), page)?;
    std::fs::write(
        dir.join("sekisho.toml.5"),
        sekisho_manual::config_page(CONFIG_REFERENCE, date, version),
    )?;
    std::fs::write(
        dir.join("sekisho.bash"),
        sekisho_manual::bash_completion(&cmd),
    )
}

/// Run the parsed command line.
fn run(cli: Cli) -> Result<(), ExitError> {
    if cli.print_default_config {
        print!("{}", sekisho_conf::EMBEDDED_DEFAULT_TOML);
        return Ok(());
    }
    match cli.command {
        None => run_daemon(cli.config, cli.take_over),
        Some(Command::Run { config, take_over }) => {
            run_daemon(config.or(cli.config), take_over || cli.take_over)
        }
        Some(Command::PrintDefaultConfig) => {
            print!("{}", sekisho_conf::EMBEDDED_DEFAULT_TOML);
            Ok(())
        }
        Some(Command::CheckConfig { file }) => match Config::load(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                Ok(())
            }
            Err(e) => Err(ExitError::Config(e.to_string())),
        },
        Some(Command::Rpz {
            tool: RpzTool::Build(args),
        }) => sekisho_listbuild::run(args)
            .map(|_| ())
            .map_err(ExitError::Build),
        Some(Command::GenerateManual { dir, date }) => {
            write_manual(&dir, &date).map_err(ExitError::Manual)
        }
        Some(Command::ClientPseudonym {
            config,
            key_file,
            rotate,
            at,
            addresses,
        }) => {
            let (key_file, rotate) = match config {
                Some(path) => {
                    let c = Config::load(&path).map_err(|e| ExitError::Config(e.to_string()))?;
                    (
                        c.logging.log_client_key_file,
                        c.logging.log_client_key_rotate,
                    )
                }
                None => (key_file, rotate),
            };
            let key_file = key_file.ok_or_else(|| {
                ExitError::Pseudonym(
                    "no key file: pseudonyms made with a random per-process key cannot be traced back (give --key-file or a --config with logging.log-client-key-file)".into(),
                )
            })?;
            let ring = sekisho_hitlog::KeyRing::from_file(&key_file, rotate)
                .map_err(|e| ExitError::Pseudonym(e.to_string()))?;
            let when = match at {
                Some(secs) => std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
                None => std::time::SystemTime::now(),
            };
            for ip in addresses {
                println!("{ip} {}", ring.pseudonym(ip, when));
            }
            Ok(())
        }
        Some(Command::WarnPage(args)) => {
            logging::init(&sekisho_conf::Logging::default());
            sekisho_warnpage::run_blocking(args).map_err(ExitError::WarnPage)
        }
    }
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
                eprintln!("sekisho: {text}");
            }
            ExitCode::from(e.code())
        }
    }
}
