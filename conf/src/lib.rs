//! Sekisho's configuration: the TOML file model, its defaults and its validation.
//!
//! ```text
//!  sekisho.toml ──▶ toml + serde ──▶ file::Spec ──▶ validate ──▶ Config ──▶ resolver
//!                   (syntax, types,   (raw strings,  (defaults,    (typed: SocketAddr,
//!                    unknown keys)     all optional)  ranges, refs, IpNet, Name, Duration)
//!                                                     key files)
//! ```
//!
//! This crate owns the step from a file on disk to a fully checked [`Config`], and nothing
//! after it: it opens no sockets, starts nothing and keeps no global state. The only I/O is
//! reading the configuration file and the TSIG secret files it names.
//!
//! Modules:
//! - `file`: serde structs mirroring the TOML tables, strict (`deny_unknown_fields`, no
//!   `flatten`), every key optional, leaves kept as written.
//! - `validate`: converts a `file::Spec` to a [`Config`], applying defaults and collecting
//!   *every* problem with its key path, e.g.
//!   `sekisho.toml: forward-zone[1].forward-addr[0]: "1.2.3.4@99999": port out of range`.
//! - [`model`]: the runtime types and, in [`defaults`], every default value as a named
//!   constant.
//! - `values`: parsers for durations (`"500ms"`, `"1h30m"`), sizes (`"512MiB"`), addresses
//!   (Unbound's `ip@port#name` and `[v6]:port`), prefixes and names.
//! - [`allows`]: access-list matching, IPv4-mapped IPv6 aware.
//! - [`Secret`]: TSIG secrets that print as `<redacted>`.
//!
//! Relative paths resolve against `server.directory`, which itself, when relative,
//! resolves against the folder of the configuration file (as routinator and BIND's
//! `directory` do). The key reference is `docs/config.md`; `testdata/configs/` holds example
//! files that the tests parse.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use std::path::{Path, PathBuf};

mod acl;
mod error;
mod file;
mod locate;
pub mod model;
mod reload;
mod secret;
mod validate;
mod values;

pub use acl::allows;
pub use error::{ConfigError, Problem};
pub use model::{
    defaults, Cache, ClientIpLog, Config, Control, Dnssec, Dnstap, DnstapDestination,
    DnstapMessage, Ede, ExpireAction, ForwardZone, HealthCheck, HealthMode, Key, LazyMode,
    LogFormat, Logging, Metrics, PolicyOverride, PolicyZone, QuotaResponse, RateLimit,
    ResponsePolicy, RpzLog, RpzLogFormat, Selection, Server, TsigAlgorithm, UpstreamAddr,
    UpstreamScheme, Validation,
};
pub use reload::{policy_reloadable, restart_only_changes};
pub use secret::Secret;
pub use values::parse_duration;

/// The embedded default configuration, as `sekisho --print-default-config` shows it.
pub const EMBEDDED_DEFAULT_TOML: &str = include_str!("default.toml");

impl Config {
    /// The embedded default configuration text (same as the crate-level
    /// [`EMBEDDED_DEFAULT_TOML`]).
    pub const EMBEDDED_DEFAULT_TOML: &'static str = EMBEDDED_DEFAULT_TOML;

    /// Reads and validates a configuration file. Relative paths in it resolve against
    /// `server.directory`, which resolves against the file's folder when relative.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            ConfigError::new(path, vec![Problem::new("", format!("cannot read: {err}"))])
        })?;
        Config::from_toml_str(&text, path)
    }

    /// Parses and validates configuration text. `origin` names the file in messages and its
    /// folder is the base for a relative `server.directory`.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let base = validate::Base {
            config_dir: origin.parent().map(Path::to_path_buf).unwrap_or_default(),
            directory: PathBuf::from(defaults::DIRECTORY),
            control_socket: PathBuf::from(defaults::CONTROL_SOCKET),
        };
        parse_with(text, origin, &base)
    }

    /// The embedded default configuration ([`EMBEDDED_DEFAULT_TOML`]) with the state
    /// directory and control socket in [`default_runtime_dir`], so it runs as any user.
    ///
    /// Never fails: the embedded text is fixed at build time and a unit test parses it.
    pub fn embedded_default() -> Config {
        let runtime = default_runtime_dir();
        let base = validate::Base {
            config_dir: runtime.clone(),
            control_socket: runtime.join("control.sock"),
            directory: runtime,
        };
        // Invariant: the embedded file is valid and reads no other file; the test
        // `the_embedded_default_parses_and_uses_the_runtime_dir` proves it for every build.
        #[allow(clippy::expect_used)]
        parse_with(
            EMBEDDED_DEFAULT_TOML,
            Path::new("<embedded default>"),
            &base,
        )
        .expect("the embedded default configuration is valid")
    }
}

/// Parses text into the file model, then validates it against `base`.
fn parse_with(text: &str, origin: &Path, base: &validate::Base) -> Result<Config, ConfigError> {
    let spec: file::Spec = toml::from_str(text).map_err(|err| parse_error(text, origin, &err))?;
    validate::validate(spec, base).map_err(|problems| ConfigError::new(origin, problems))
}

/// Turns a toml/serde error into a [`ConfigError`] with line, column and key path.
fn parse_error(text: &str, origin: &Path, err: &toml::de::Error) -> ConfigError {
    let mut problem = Problem::new("", err.message().trim().to_owned());
    if let Some(span) = err.span() {
        let (line, column) = error::line_column(text, span.start);
        problem.line = Some(line);
        problem.column = Some(column);
        problem.path = locate::key_path_at(text, span.start).unwrap_or_default();
    }
    ConfigError::new(origin, vec![problem])
}

/// Reads and validates a configuration file without starting anything; what
/// `sekisho check-config FILE` runs. Same as [`Config::load`].
pub fn check(path: &Path) -> Result<Config, ConfigError> {
    Config::load(path)
}

/// The per-user runtime directory used by [`Config::embedded_default`]:
/// `$XDG_RUNTIME_DIR/sekisho` when `XDG_RUNTIME_DIR` is set, else
/// `<temp dir>/sekisho-$USER` (`sekisho` when `USER` is unset).
pub fn default_runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("sekisho"),
        _ => {
            let user = std::env::var("USER")
                .ok()
                .filter(|u| !u.is_empty() && !u.contains(std::path::is_separator))
                .unwrap_or_else(|| "sekisho".to_owned());
            std::env::temp_dir().join(format!("sekisho-{user}"))
        }
    }
}

#[cfg(test)]
mod tests;
