//! `sekisho`: the resolver daemon.
//!
//! ```text
//! sekisho                       run with the embedded default configuration
//! sekisho --config FILE         run with FILE
//! sekisho check-config FILE     validate FILE, print every problem, exit 0/1
//! sekisho --print-default-config
//! sekisho --version
//! sekisho rpz build ...         blocking lists → policy zone (see `sekisho rpz build --help`)
//! sekisho warn-page ...         the warning page server (see `sekisho warn-page --help`)
//! ```
//! Exit codes: 0 clean stop, 1 configuration error, 2 usage error,
//! 3 start-up failure (cannot bind, cannot open the control socket...).

use std::path::PathBuf;
use std::process::ExitCode;

use sekisho_conf::Config;
use sekisho_resolver::logging;

/// Parsed command line.
enum Command {
    /// Run the daemon.
    Run(Option<PathBuf>),
    /// Validate a file.
    Check(PathBuf),
    /// Print the embedded default configuration.
    PrintDefault,
    /// Print the version.
    Version,
    /// `rpz build ARGS`.
    RpzBuild(Vec<String>),
    /// `warn-page ARGS`.
    WarnPage(Vec<String>),
}

/// Usage text.
const USAGE: &str = "usage: sekisho [--config FILE] | check-config FILE | --print-default-config | --version\n       \
     sekisho rpz build --zone NAME ... -o OUT | sekisho warn-page --listen ADDR ...";

fn parse_args() -> Result<Command, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("rpz") if args.get(1).map(String::as_str) == Some("build") => {
            return Ok(Command::RpzBuild(args[2..].to_vec()))
        }
        Some("warn-page") => return Ok(Command::WarnPage(args[1..].to_vec())),
        _ => {}
    }
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => Ok(Command::Run(None)),
        ["--config" | "-c", f] => Ok(Command::Run(Some(PathBuf::from(f)))),
        ["check-config", f] => Ok(Command::Check(PathBuf::from(f))),
        ["--print-default-config"] => Ok(Command::PrintDefault),
        ["--version" | "-V"] => Ok(Command::Version),
        ["--help" | "-h"] => Err(String::new()),
        other => Err(format!("unexpected arguments: {}", other.join(" "))),
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

fn main() -> ExitCode {
    let command = match parse_args() {
        Ok(c) => c,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("sekisho: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (config, path) = match command {
        Command::RpzBuild(args) => return sekisho_listbuild::command(&args),
        Command::WarnPage(args) => {
            logging::init(&sekisho_conf::Logging::default());
            return sekisho_warnpage::command(&args);
        }
        Command::Version => {
            println!("sekisho {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::PrintDefault => {
            print!("{}", sekisho_conf::EMBEDDED_DEFAULT_TOML);
            return ExitCode::SUCCESS;
        }
        Command::Check(path) => {
            return match Config::load(&path) {
                Ok(_) => {
                    println!("{}: ok", path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            };
        }
        Command::Run(None) => {
            let config = Config::embedded_default();
            if let Err(e) = write_sample_zone(&config) {
                eprintln!("sekisho: cannot write the sample policy zone: {e}");
                return ExitCode::from(3);
            }
            (config, None)
        }
        Command::Run(Some(path)) => match Config::load(&path) {
            Ok(c) => (c, Some(path)),
            Err(e) => {
                eprintln!("sekisho: refusing to start: invalid configuration\n{e}");
                return ExitCode::from(1);
            }
        },
    };
    logging::init(&config.logging);
    let threads = match config.server.threads {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sekisho: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(sekisho_resolver::daemon::run(config, path, true)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "start-up failed");
            eprintln!("sekisho: {e}");
            ExitCode::from(3)
        }
    }
}
