//! `sekisho rpz build`: blocking lists → a response policy zone.
//!
//! ```text
//!  argv ─clap─▶ BuildArgs ─into_options()─▶ BuildOptions            (args.rs)
//!  --csv / --domains / --hosts files (or `-` for stdin)
//!        │  BufReader, one bounded record at a time (lines.rs)
//!        ▼
//!  Converter (convert.rs, sans-I/O): extract ─▶ normalise (name.rs) ─▶ dedupe ─▶ records
//!        │  sekisho_zonefile::Writer
//!        ▼
//!  OUT.tmp in OUT's folder ─fsync─▶ rename to OUT ─fsync folder   (or stdout for `-o -`)
//! ```
//!
//! The guideline that motivates Sekisho turns the list organisation's CSV
//! into a zone with awk and a shell template; this is the same step with
//! per-line error reports, dedupe and an atomic replace. Records follow the
//! RPZ draft ([draft-vixie-dnsop-dns-rpz](https://datatracker.ietf.org/doc/draft-vixie-dnsop-dns-rpz/)):
//! local data (`A`/`AAAA` of the warning page), `CNAME .` (NXDOMAIN),
//! `CNAME *.` (NODATA) or `CNAME rpz-drop.` (DROP), optionally repeated on
//! `*.name` for the names below.
//!
//! The SOA timers default to the guideline's `make_block_zone.sh` values
//! (refresh 1h, retry 15m, expire 30d, minimum 2h): a BIND secondary keeps
//! enforcing its copy for 30 days without its primary, not one.
//!
//! Only this file touches the file system; the converter works on any
//! `BufRead` and `Write`.

mod args;
mod convert;
mod lines;
mod name;

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::rr::{Name, RData};
use sekisho_zonefile::{ParseOptions, ZoneReader};

pub use args::{ActionArg, BuildArgs, InputArgs, InputKind};
pub use convert::{
    Action, Converter, CsvColumns, Diagnostic, FeedError, Format, LineError, SoaSettings, Summary,
    ZoneSpec, DEFAULT_EXPIRE, DEFAULT_MBOX, DEFAULT_MINIMUM, DEFAULT_NS, DEFAULT_REFRESH,
    DEFAULT_RETRY, DEFAULT_TTL, MAX_SECONDS,
};
pub use name::{normalise, NameError};

/// Skipped lines printed before only counting the rest.
const MAX_REPORTS: u64 = 1000;
/// Read buffer per input.
const READ_BUFFER: usize = 256 * 1024;

/// Where the zone goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Standard output (`-o -`): no atomic replace, no previous serial.
    Stdout,
    /// A file, replaced atomically.
    File(PathBuf),
}

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Path, or `-` for stdin.
    pub path: PathBuf,
    /// How it is read.
    pub format: Format,
}

/// A parsed `sekisho rpz build` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// `--zone`.
    pub zone: Name,
    /// Inputs in command-line order.
    pub inputs: Vec<Input>,
    /// `--warn-a`/`--warn-aaaa` or `--action` (default NXDOMAIN).
    pub action: Action,
    /// `--wildcard`.
    pub wildcard: bool,
    /// `--serial`.
    pub serial: Option<u32>,
    /// `--refresh`, `--retry`, `--expire`, `--minimum`, `--ttl`, `--ns`, `--mbox`.
    pub soa: SoaSettings,
    /// `-o`.
    pub output: Output,
}

/// Why the build stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The command line is wrong (exit 2): the message names the options.
    #[error("{0}")]
    Usage(String),
    /// An input cannot be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The input.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// An input cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The input.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The zone cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The output (or `-`).
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// No name survived: replacing a zone with an empty one would lift every block.
    #[error("no names to write ({rows} rows read); refusing to replace the output (check --host-column, --flag-column and --flag-value)")]
    Empty {
        /// Rows read.
        rows: u64,
    },
}

impl BuildError {
    /// Whether the command line is at fault (exit status 2) rather than the
    /// files (exit status 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, BuildError::Usage(_))
    }
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Counts.
    pub summary: Summary,
    /// The SOA serial written.
    pub serial: u32,
}

/// Runs `sekisho rpz build` from its parsed command line: reports and the
/// summary go to stderr, the zone to `-o`. The caller prints the error and
/// maps it to an exit status ([`BuildError::is_usage`]: 2, else 1).
pub fn run(args: BuildArgs) -> Result<Outcome, BuildError> {
    let opts = args.into_options()?;
    let stderr = io::stderr();
    let mut diag = stderr.lock();
    build(&opts, &mut diag)
}

/// Builds the zone `opts` describes: reports and the summary are written to `diag`.
pub fn build(opts: &BuildOptions, diag: &mut dyn Write) -> Result<Outcome, BuildError> {
    let serial = choose_serial(opts, diag);
    let spec = ZoneSpec {
        zone: opts.zone.clone(),
        action: opts.action.clone(),
        wildcard: opts.wildcard,
        serial,
        soa: opts.soa.clone(),
    };
    let (summary, shown) = match &opts.output {
        Output::Stdout => {
            let stdout = io::stdout();
            let out = BufWriter::with_capacity(READ_BUFFER, stdout.lock());
            let write_err = |source| BuildError::Write {
                path: "-".into(),
                source,
            };
            let mut conv = Converter::new(spec, out).map_err(write_err)?;
            let shown = feed_all(&mut conv, &opts.inputs, Path::new("-"), diag)?;
            let (_, summary) = conv.finish().map_err(write_err)?;
            (summary, shown)
        }
        Output::File(path) => match target_kind(path).map_err(|source| BuildError::Write {
            path: path.clone(),
            source,
        })? {
            Target::Regular(target) => write_atomically(&target, spec, &opts.inputs, diag)?,
            Target::Special => write_in_place(path, spec, &opts.inputs, diag)?,
        },
    };
    let not_shown = summary.invalid.saturating_sub(shown);
    let _ = writeln!(
        diag,
        "sekisho rpz build: {} rows read, {} names written, {} duplicates, {} invalid{}, {} not flagged, {} local names ignored; zone {} serial {serial} -> {}",
        summary.rows,
        summary.names,
        summary.duplicates,
        summary.invalid,
        if not_shown > 0 { format!(" ({not_shown} not shown)") } else { String::new() },
        summary.not_flagged,
        summary.local_names,
        opts.zone,
        match &opts.output {
            Output::Stdout => "stdout".to_owned(),
            Output::File(p) => p.display().to_string(),
        },
    );
    Ok(Outcome { summary, serial })
}

/// Feeds every input into `conv`; returns how many skipped lines were printed.
fn feed_all<W: Write>(
    conv: &mut Converter<W>,
    inputs: &[Input],
    out_path: &Path,
    diag: &mut dyn Write,
) -> Result<u64, BuildError> {
    let mut shown = 0u64;
    for input in inputs {
        let source = input.path.display().to_string();
        let mut report = |d: &Diagnostic<'_>| {
            if shown < MAX_REPORTS {
                let _ = writeln!(diag, "{d}");
            }
            shown += 1;
        };
        let result = if input.path.as_os_str() == "-" {
            let stdin = io::stdin();
            let lock = stdin.lock();
            conv.feed(&source, &input.format, lock, &mut report)
        } else {
            let file = File::open(&input.path).map_err(|source| BuildError::Open {
                path: input.path.clone(),
                source,
            })?;
            let reader = BufReader::with_capacity(READ_BUFFER, file);
            conv.feed(&source, &input.format, reader, &mut report)
        };
        match result {
            Ok(()) => {}
            Err(FeedError::Read(source)) => {
                return Err(BuildError::Read {
                    path: input.path.clone(),
                    source,
                })
            }
            Err(FeedError::Write(source)) => {
                return Err(BuildError::Write {
                    path: out_path.to_owned(),
                    source,
                })
            }
        }
    }
    if conv.summary().names == 0 {
        return Err(BuildError::Empty {
            rows: conv.summary().rows,
        });
    }
    Ok(shown.min(MAX_REPORTS))
}

/// Writes the zone to a temporary file beside `path`, syncs it and renames it
/// over `path`, so readers (and a daemon reloading) see the old or the new zone,
/// never half of one. The temporary file is removed on any failure.
fn write_atomically(
    path: &Path,
    spec: ZoneSpec,
    inputs: &[Input],
    diag: &mut dyn Write,
) -> Result<(Summary, u64), BuildError> {
    let write_err = |source| BuildError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| BuildError::Usage(format!("-o {}: not a file name", path.display())))?;
    let tmp = TempFile {
        path: dir.join(format!(
            ".{}.tmp-{}",
            file_name.to_string_lossy(),
            std::process::id()
        )),
    };
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(&tmp.path)
        .map_err(write_err)?;
    let out = BufWriter::with_capacity(READ_BUFFER, file);
    let mut conv = Converter::new(spec, out).map_err(write_err)?;
    let shown = feed_all(&mut conv, inputs, path, diag)?;
    let (out, summary) = conv.finish().map_err(write_err)?;
    let file = out.into_inner().map_err(|e| write_err(e.into_error()))?;
    file.sync_all().map_err(write_err)?;
    drop(file);
    std::fs::rename(&tmp.path, path).map_err(write_err)?;
    std::mem::forget(tmp);
    // Make the rename itself durable; a failure here leaves a complete file either way.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok((summary, shown))
}

/// What `-o` names.
#[derive(Debug)]
enum Target {
    /// A regular file, existing or not, to replace atomically (symbolic links
    /// resolved, so the link stays and its target is replaced).
    Regular(PathBuf),
    /// A device or FIFO (`/dev/stdout`, `/dev/null`, a pipe): written in place.
    /// Renaming over it would replace the device node itself.
    Special,
}

/// Classifies the output path.
fn target_kind(path: &Path) -> io::Result<Target> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(Target::Regular(std::fs::canonicalize(path)?)),
        Ok(m) if m.is_dir() => Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        )),
        Ok(_) => Ok(Target::Special),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Target::Regular(path.to_owned())),
        Err(e) => Err(e),
    }
}

/// Writes the zone straight into a device or FIFO.
fn write_in_place(
    path: &Path,
    spec: ZoneSpec,
    inputs: &[Input],
    diag: &mut dyn Write,
) -> Result<(Summary, u64), BuildError> {
    let write_err = |source| BuildError::Write {
        path: path.to_owned(),
        source,
    };
    let file = File::options().write(true).open(path).map_err(write_err)?;
    let mut conv =
        Converter::new(spec, BufWriter::with_capacity(READ_BUFFER, file)).map_err(write_err)?;
    let shown = feed_all(&mut conv, inputs, path, diag)?;
    let (out, summary) = conv.finish().map_err(write_err)?;
    out.into_inner().map_err(|e| write_err(e.into_error()))?;
    Ok((summary, shown))
}

/// A temporary output, removed when dropped (that is, unless renamed into place).
struct TempFile {
    /// Where it is.
    path: PathBuf,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The serial to write: `--serial` as given, else the Unix time, or the
/// previous zone's serial + 1 when that is not lower (several builds in one
/// second, or a zone numbered as `YYYYMMDDnn`), so secondaries always see an
/// increase.
fn choose_serial(opts: &BuildOptions, diag: &mut dyn Write) -> u32 {
    let previous = match &opts.output {
        Output::File(p) if p.is_file() => previous_serial(p),
        _ => None,
    };
    if let Some(s) = opts.serial {
        if previous.is_some_and(|p| p >= s) {
            let _ = writeln!(
                diag,
                "sekisho rpz build: warning: --serial {s} is not above the current serial {}; secondaries will not transfer it",
                previous.unwrap_or_default()
            );
        }
        return s;
    }
    // Unix time fits a u32 until 2106.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0);
    match previous {
        Some(p) if p >= now => p.wrapping_add(1),
        _ => now,
    }
}

/// The SOA serial of an existing zone file (its first records only).
fn previous_serial(path: &Path) -> Option<u32> {
    let reader = ZoneReader::open(path, ParseOptions::default()).ok()?;
    reader
        .take(16)
        .filter_map(Result::ok)
        .find_map(|r| match r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
}
