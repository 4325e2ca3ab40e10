//! The `sekisho warn-page` command line (clap derive) and its errors.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use sekisho_conf::ClientIpLog;

use crate::route::RedirectUrl;

/// Connections served at once unless `--max-connections` says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// `sekisho warn-page`: the warning page blocked clients land on.
#[derive(Debug, Clone, clap::Args)]
pub struct WarnArgs {
    /// Address to serve on: ip:port, [v6]:port or ip@port; port 0 picks a free
    /// port (logged). Repeat for several.
    #[arg(long, value_name = "ADDR", required = true, value_parser = parse_addr)]
    pub listen: Vec<SocketAddr>,

    /// The canonical warning URL (http:// or https://). Requests for its host
    /// get the page; every other request is redirected to it.
    #[arg(long, value_name = "URL", value_parser = RedirectUrl::from_str)]
    pub redirect: Option<RedirectUrl>,

    /// The operator's HTML page (at most 1 MiB), instead of the built-in one.
    /// With --redirect: served on the URL's host only.
    #[arg(long, value_name = "FILE")]
    pub page: Option<PathBuf>,

    /// Address of the Prometheus endpoint (GET /metrics).
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    pub metrics: Option<SocketAddr>,

    /// Client addresses in the access log: none, masked (/24, /56) or full.
    #[arg(long, value_name = "WORD", default_value = "none", value_parser = parse_client_ip)]
    pub log_client_ip: ClientIpLog,

    /// Connections served at once over all listeners; more are closed at once
    /// and counted.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS,
        value_parser = parse_max_connections)]
    pub max_connections: usize,
}

/// Parses an address as `ip:port`, `[v6]:port` or Unbound's `ip@port`.
fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    s.split_once('@')
        .and_then(|(ip, port)| Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?)))
        .ok_or_else(|| "not ip:port, [v6]:port or ip@port".to_owned())
}

/// A connection count of at least 1.
/// `--log-client-ip`: the resolver's words but `keyed-hash`, whose key and period are
/// resolver settings; the page's log keeps no pseudonyms.
fn parse_client_ip(s: &str) -> Result<ClientIpLog, String> {
    match ClientIpLog::from_str(s)? {
        ClientIpLog::KeyedHash => Err("expected one of \"none\", \"masked\" or \"full\" (keyed-hash is for the resolver's logs)".into()),
        mode => Ok(mode),
    }
}

fn parse_max_connections(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("expected a whole number of at least 1".to_owned()),
    }
}

impl WarnArgs {
    /// Checks what the parser cannot (for values built in code rather than parsed).
    pub fn validate(&self) -> Result<(), WarnError> {
        if self.listen.is_empty() {
            return Err(WarnError::Usage(
                "at least one --listen ADDR is required".into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(WarnError::Usage(
                "--max-connections must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Why `sekisho warn-page` could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WarnError {
    /// The arguments are unusable (exit 2).
    #[error("{0}")]
    Usage(String),
    /// `--page` cannot be read.
    #[error("--page {}: {source}", path.display())]
    Page {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `--page` is over the size limit.
    #[error("--page {}: larger than {limit} octets", path.display())]
    PageTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// A listener cannot be bound.
    #[error("cannot listen on {addr}{}: {source}", if *metrics { " for metrics" } else { "" })]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The metrics listener rather than a page listener.
        metrics: bool,
        /// Why.
        source: std::io::Error,
    },
    /// The metrics registry refused a metric (a bug).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The async runtime or the signal handlers cannot start.
    #[error("cannot start: {0}")]
    Runtime(std::io::Error),
}

impl WarnError {
    /// A usage error (the binary exits 2) rather than a start-up failure (3).
    pub fn is_usage(&self) -> bool {
        matches!(self, WarnError::Usage(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The subcommand alone, as a parser.
    #[derive(Debug, clap::Parser)]
    struct Cli {
        /// The arguments.
        #[command(flatten)]
        args: WarnArgs,
    }

    /// Parses `args` after the program name.
    fn parse(args: &[&str]) -> Result<WarnArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("warn-page").chain(args.iter().copied()))
            .map(|c| c.args)
    }

    #[test]
    fn both_flags_together_are_accepted() {
        let a = parse(&[
            "--listen",
            "127.0.0.1:80",
            "--listen",
            "::1@8080",
            "--page",
            "/etc/page.html",
            "--redirect",
            "http://warning.example.net/",
            "--log-client-ip",
            "masked",
            "--metrics=127.0.0.1:9100",
        ])
        .expect("parses");
        assert_eq!(a.listen.len(), 2);
        assert_eq!(a.listen[1], "[::1]:8080".parse().expect("addr"));
        assert!(a.page.is_some() && a.redirect.is_some());
        assert_eq!(a.log_client_ip, ClientIpLog::Masked);
        assert_eq!(a.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert!(a.validate().is_ok());
    }

    #[test]
    fn defaults_and_errors_name_the_flag() {
        let a = parse(&["--listen", "127.0.0.1:0"]).expect("parses");
        assert_eq!(
            a.log_client_ip,
            ClientIpLog::None,
            "stricter than the resolver"
        );
        for (args, flag) in [
            (&["--redirect", "http://a.example/"][..], "--listen"),
            (&["--listen", "localhost:80"][..], "--listen"),
            (
                &["--listen", "127.0.0.1:0", "--redirect", "javascript:x"][..],
                "--redirect",
            ),
            (
                &["--listen", "127.0.0.1:0", "--log-client-ip", "some"][..],
                "--log-client-ip",
            ),
            (
                &["--listen", "127.0.0.1:0", "--log-client-ip", "keyed-hash"][..],
                "--log-client-ip",
            ),
            (
                &["--listen", "127.0.0.1:0", "--max-connections", "0"][..],
                "--max-connections",
            ),
            (&["--listen", "127.0.0.1:0", "--bogus"][..], "--bogus"),
        ] {
            let e = parse(args).expect_err("refused").to_string();
            assert!(e.contains(flag), "{args:?}: {e}");
        }
    }
}
