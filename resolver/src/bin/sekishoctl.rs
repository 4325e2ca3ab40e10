//! `sekishoctl`: the control client, in the spirit of rndc and unbound-control.
//!
//! ```text
//! sekishoctl [--socket PATH] [--config FILE] [--json] VERB [ARGS]
//! verbs: status | reload [ZONE] | zones | refresh ZONE | retransfer ZONE | stats | querylog on|off | test NAME [TYPE] [--client IP]
//!        | flush | flushname NAME | flushtree NAME | stop
//! ```
//! Exit codes: 0 success, 1 the daemon reported an error, 2 usage error,
//! 3 the daemon is not running (as `unbound-control status`), 4 the socket
//! exists but may not be used (permissions).

use std::path::PathBuf;
use std::process::ExitCode;

use sekisho_resolver::control::{self, Reply, Request};

/// Usage text.
const USAGE: &str = "usage: sekishoctl [--socket PATH] [--config FILE] [--json] VERB [ARGS]
verbs:
  status             daemon state, cache, upstreams and policy zones
  reload [ZONE]      re-read policy zone files (all, or ZONE); a failed load keeps the old version
  zones              policy zones: serial, rules, last load/transfer, next refresh, expiry, last error
  refresh ZONE       check a transferred policy zone's primaries now (IXFR if newer)
  retransfer ZONE    transfer a policy zone whole (AXFR) now
  test NAME [TYPE] [--client IP]
                     which policy zone, rule, trigger and action apply to NAME (exit 0 match, 1 none)
  stats              counters and gauges, one per line (read-only, never reset)
  querylog on|off    log every query (off by default)
  flush              drop the whole cache
  flushname NAME     drop cached answers for NAME
  flushtree NAME     drop cached answers at or below NAME
  stop               stop the daemon gracefully";

/// Parsed command line.
struct Args {
    /// Control socket.
    socket: PathBuf,
    /// Machine-readable output.
    json: bool,
    /// The request.
    request: Request,
}

fn parse() -> Result<Args, String> {
    let mut socket: Option<PathBuf> = None;
    let mut json = false;
    let mut client: Option<String> = None;
    let mut rest = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--socket" | "-s" => socket = Some(it.next().ok_or("--socket needs a path")?.into()),
            "--config" | "-c" => {
                let f: PathBuf = it.next().ok_or("--config needs a file")?.into();
                let cfg = sekisho_conf::Config::load(&f).map_err(|e| e.to_string())?;
                socket = Some(cfg.control.socket);
            }
            "--json" | "-j" => json = true,
            "--client" => client = Some(it.next().ok_or("--client needs an address")?),
            "--help" | "-h" => return Err(String::new()),
            _ => rest.push(a),
        }
    }
    let socket = socket.unwrap_or_else(|| sekisho_conf::default_runtime_dir().join("control.sock"));
    let words: Vec<&str> = rest.iter().map(String::as_str).collect();
    let request = match words.as_slice() {
        ["status"] => Request::Status,
        ["reload"] => Request::Reload { zone: None },
        ["reload", z] => Request::Reload {
            zone: Some((*z).into()),
        },
        ["zones"] => Request::Zones,
        ["refresh", z] => Request::Refresh { zone: (*z).into() },
        ["retransfer", z] => Request::Retransfer { zone: (*z).into() },
        ["stats"] => Request::Stats,
        ["querylog", "on"] => Request::Querylog { on: true },
        ["querylog", "off"] => Request::Querylog { on: false },
        ["querylog"] => return Err("querylog needs on or off".into()),
        ["test", n] => Request::Test {
            name: (*n).into(),
            qtype: None,
            client,
        },
        ["test", n, t] => Request::Test {
            name: (*n).into(),
            qtype: Some((*t).into()),
            client,
        },
        ["flush"] => Request::Flush,
        ["flushname", n] => Request::Flushname { name: (*n).into() },
        ["flushtree", n] => Request::Flushtree { name: (*n).into() },
        ["stop"] => Request::Stop,
        [] => return Err("no verb given".into()),
        [verb @ ("flushname" | "flushtree" | "test")] => {
            return Err(format!("{verb} needs a NAME"))
        }
        [verb @ ("refresh" | "retransfer")] => return Err(format!("{verb} needs a ZONE")),
        [verb, ..] => return Err(format!("unknown verb or wrong arguments: {verb}")),
    };
    Ok(Args {
        socket,
        json,
        request,
    })
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("sekishoctl: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sekishoctl: {e}");
            return ExitCode::from(1);
        }
    };
    let reply = match rt.block_on(control::call(&args.socket, &args.request)) {
        Ok(r) => r,
        Err(e) => {
            use std::io::ErrorKind::*;
            return match e.kind() {
                NotFound | ConnectionRefused => {
                    eprintln!(
                        "sekishoctl: sekisho is not running (no daemon on {})",
                        args.socket.display()
                    );
                    ExitCode::from(3)
                }
                PermissionDenied => {
                    eprintln!(
                        "sekishoctl: permission denied on {} (run as the daemon's user)",
                        args.socket.display()
                    );
                    ExitCode::from(4)
                }
                _ => {
                    eprintln!("sekishoctl: {}: {e}", args.socket.display());
                    ExitCode::from(1)
                }
            };
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reply).unwrap_or_default()
        );
    }
    match reply {
        Reply::Status(s) => {
            if !args.json {
                print!("{s}");
            }
            ExitCode::SUCCESS
        }
        Reply::Stats { lines } => {
            if !args.json {
                for l in &lines {
                    println!("{l}");
                }
            }
            ExitCode::SUCCESS
        }
        Reply::Zones { zones } => {
            if !args.json {
                if zones.is_empty() {
                    println!("no policy zones configured");
                }
                for z in &zones {
                    println!("{z}");
                }
            }
            ExitCode::SUCCESS
        }
        Reply::Test { lines, matched } => {
            if !args.json {
                for l in &lines {
                    println!("{l}");
                }
            }
            if matched {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Reply::Done { message } => {
            if !args.json {
                println!("{message}");
            }
            ExitCode::SUCCESS
        }
        Reply::Error { message } => {
            eprintln!("sekishoctl: {message}");
            ExitCode::from(1)
        }
    }
}
