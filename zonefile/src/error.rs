//! Typed parse errors with a `file:line:column` position.
//!
//! Every error the parser reports is an [`Error`]: a [`Position`] (file, line, byte column,
//! all 1-based) plus an [`ErrorKind`] saying what went wrong, usually in the form
//! "expected X, found Y". Displayed, it reads like a compiler diagnostic:
//!
//! ```text
//! block.rpz:17:24: expected an IPv4 address, found "1.2.3"
//! ```
//!
//! [`Error::is_fatal`] splits the kinds in two. A *record* error (bad syntax or data in one
//! entry) lets a lenient caller skip that entry and go on; a *fatal* error (I/O, a size limit,
//! an `$INCLUDE` problem) ends the stream, because what follows it cannot be trusted or read.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::rr::RecordType;
use hickory_proto::serialize::binary::DecodeError;

/// Where in the input an error was found.
///
/// Lines and columns count from 1; the column counts bytes, not characters, because zone
/// files are bytes (RFC 1035 does not define an encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The file being read, or `None` for in-memory input (shown as `<input>`).
    pub file: Option<Arc<Path>>,
    /// Line number, 1-based.
    pub line: u64,
    /// Byte column, 1-based; 0 when the error concerns a whole line or the whole input.
    pub column: u32,
}

impl Position {
    /// A position in `file` at `line` and `column`.
    pub fn new(file: Option<Arc<Path>>, line: u64, column: u32) -> Self {
        Self { file, line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(path) => write!(f, "{}", path.display())?,
            None => f.write_str("<input>")?,
        }
        write!(f, ":{}:{}", self.line, self.column)
    }
}

/// A zone-file error: what went wrong and where.
#[derive(Debug, thiserror::Error)]
#[error("{position}: {kind}")]
pub struct Error {
    /// Where the problem is.
    position: Position,
    /// What the problem is.
    kind: ErrorKind,
}

impl Error {
    /// An error of `kind` at `position`.
    pub fn new(position: Position, kind: ErrorKind) -> Self {
        Self { position, kind }
    }

    /// Where the problem is.
    pub fn position(&self) -> &Position {
        &self.position
    }

    /// What the problem is.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Whether reading cannot go on after this error.
    ///
    /// Record errors are not fatal: a [`ZoneReader`](crate::ZoneReader) skips the entry and
    /// continues with the next one. I/O errors, exceeded limits and `$INCLUDE` problems are
    /// fatal: the reader yields the error and then ends.
    pub fn is_fatal(&self) -> bool {
        self.kind.is_fatal()
    }
}

/// An error with its line and column but not yet its file: what the sans-I/O layers
/// (scanner, builder) return; the reader adds the file.
#[derive(Debug)]
pub(crate) struct Located {
    /// Physical line of the problem.
    pub(crate) line: u64,
    /// Byte column, 1-based.
    pub(crate) column: u32,
    /// What went wrong.
    pub(crate) kind: ErrorKind,
}

impl Located {
    /// Adds the file to make a public [`Error`].
    pub(crate) fn into_error(self, file: Option<Arc<Path>>) -> Error {
        Error::new(Position::new(file, self.line, self.column), self.kind)
    }
}

/// What the parser expected to read, used in [`ErrorKind::Expected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expected {
    /// A dotted-quad IPv4 address.
    Ipv4,
    /// An IPv6 address in RFC 4291 text form.
    Ipv6,
    /// A domain name.
    Name,
    /// A TTL: seconds, or a number with units like `1h30m`.
    Ttl,
    /// A TTL, a class or a record type after the owner name.
    TtlClassOrType,
    /// A record type mnemonic or `TYPEnnn`.
    Type,
    /// An unsigned 8-bit integer.
    U8,
    /// An unsigned 16-bit integer.
    U16,
    /// An unsigned 32-bit integer.
    U32,
    /// A character string (RFC 1035 section 5.1), at most 255 bytes.
    CharString,
    /// Hexadecimal digits (an even number of them).
    Hex,
    /// Base64 data (RFC 4648).
    Base64,
    /// Base32 with the extended hex alphabet (RFC 4648 section 7), as in NSEC3.
    Base32Hex,
    /// A salt: hex digits or `-` for none (RFC 5155).
    Salt,
    /// An RRSIG time: `YYYYMMDDHHmmSS` or seconds since the epoch (RFC 4034 section 3.2).
    Time,
    /// The data length after `\#` (RFC 3597 section 5).
    GenericLength,
    /// A CAA property tag: letters and digits (RFC 8659 section 4.1).
    CaaTag,
    /// An SvcParam `key[=value]` (RFC 9460 section 2.1).
    SvcParam,
    /// A `$GENERATE` range `start-stop[/step]`.
    GenerateRange,
    /// A `$GENERATE` template with well-formed `${offset,width,base}` modifiers.
    GenerateTemplate,
    /// A file name after `$INCLUDE`.
    FileName,
    /// The generic form `\# len hex`, the only one for types without a text format here.
    GenericRdata,
    /// The end of the entry (nothing more on the line or in the parentheses).
    EndOfEntry,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ipv4 => "an IPv4 address",
            Self::Ipv6 => "an IPv6 address",
            Self::Name => "a domain name",
            Self::Ttl => "a TTL (seconds, or units like 1h30m)",
            Self::TtlClassOrType => "a TTL, class or record type",
            Self::Type => "a record type",
            Self::U8 => "an integer from 0 to 255",
            Self::U16 => "an integer from 0 to 65535",
            Self::U32 => "an integer from 0 to 4294967295",
            Self::CharString => "a character string of at most 255 bytes",
            Self::Hex => "hex digits",
            Self::Base64 => "base64 data",
            Self::Base32Hex => "base32hex data",
            Self::Salt => "a hex salt or -",
            Self::Time => "a time as YYYYMMDDHHmmSS",
            Self::GenericLength => "the RDATA length after \\#",
            Self::CaaTag => "a CAA tag of letters and digits",
            Self::SvcParam => "an SvcParam key=value",
            Self::GenerateRange => "a range start-stop[/step]",
            Self::GenerateTemplate => "a template with ${offset,width,base} modifiers",
            Self::FileName => "a file name",
            Self::GenericRdata => "the generic form \\# len hex for this type",
            Self::EndOfEntry => "the end of the record",
        })
    }
}

/// What the parser found instead of what it expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A token, shown quoted and shortened to 64 bytes.
    Token(String),
    /// Nothing: the entry ended.
    EndOfEntry,
}

impl Found {
    /// Longest token text kept in an error, so errors stay small for huge tokens.
    const MAX_SHOWN: usize = 64;

    /// The text of `token`, lossily decoded and shortened for display.
    pub(crate) fn token(token: &[u8]) -> Self {
        let shown = &token[..token.len().min(Self::MAX_SHOWN)];
        let mut text = String::from_utf8_lossy(shown).into_owned();
        if token.len() > Self::MAX_SHOWN {
            text.push('…');
        }
        Self::Token(text)
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(text) => write!(f, "{text:?}"),
            Self::EndOfEntry => f.write_str("end of record"),
        }
    }
}

/// Why a domain name is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// A label is longer than 63 bytes (RFC 1035 section 2.3.4).
    #[error("a label is longer than 63 bytes")]
    LabelTooLong,
    /// The name is longer than 255 bytes in wire form (RFC 1035 section 2.3.4).
    #[error("the name is longer than 255 bytes")]
    NameTooLong,
    /// Two dots in a row, or a leading dot.
    #[error("empty label")]
    EmptyLabel,
    /// A backslash not followed by a character or by three decimal digits up to 255.
    #[error("bad escape (use \\X or \\DDD with DDD at most 255)")]
    BadEscape,
    /// A relative name with no `$ORIGIN` or origin option to complete it.
    #[error("relative name and no $ORIGIN to complete it")]
    NoOrigin,
}

/// What went wrong. Marked `#[non_exhaustive]`: new checks add variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A token did not have the expected form, or the entry ended too early.
    #[error("expected {expected}, found {found}")]
    Expected {
        /// What the grammar needs here.
        expected: Expected,
        /// What the input has here.
        found: Found,
    },
    /// A domain name could not be used.
    #[error("invalid domain name {found}: {reason}")]
    BadName {
        /// The name as written.
        found: Found,
        /// Why it is invalid.
        reason: NameError,
    },
    /// A character string or quoted string contains a bad escape.
    #[error("bad escape in {found} (use \\X or \\DDD with DDD at most 255)")]
    BadEscape {
        /// The string as written.
        found: Found,
    },
    /// A `)` without a matching `(`.
    #[error("unbalanced closing parenthesis")]
    UnbalancedClose,
    /// A `(` still open at the end of the file.
    #[error("parenthesis opened here is never closed")]
    UnclosedParen,
    /// A quoted string not closed on its line.
    #[error("quoted string not closed before the end of the line")]
    UnterminatedString,
    /// A `$` directive this parser does not know.
    #[error("unknown directive {found}")]
    UnknownDirective {
        /// The directive as written.
        found: Found,
    },
    /// The first record of a file has no owner name to inherit.
    #[error("no owner name: the line starts with a blank and no record precedes it")]
    NoOwner,
    /// No TTL could be found for a record (RFC 2308 section 4).
    #[error("no TTL: the record has none, there is no $TTL and no earlier record")]
    NoTtl,
    /// The record data is well-formed text but hickory rejects its wire form.
    #[error("invalid {rtype} record data: {source}")]
    InvalidRdata {
        /// The record type.
        rtype: RecordType,
        /// hickory's decoding error.
        source: DecodeError,
    },
    /// The RDATA is longer than the 65535 bytes a record can hold.
    #[error("record data longer than 65535 bytes")]
    RdataTooLong,
    /// `\# len hex` where `len` does not match the data (RFC 3597 section 5).
    #[error("\\# length {declared} does not match the {actual} bytes of data")]
    GenericLengthMismatch {
        /// The declared length.
        declared: u16,
        /// The number of bytes in the hex data.
        actual: usize,
    },
    /// This record type cannot appear in a zone file (OPT, TSIG, AXFR, ...).
    #[error("record type {rtype} cannot appear in a zone file")]
    UnsupportedType {
        /// The record type.
        rtype: RecordType,
    },
    /// A `$GENERATE` range whose start is after its stop or whose step is 0.
    #[error("$GENERATE range {start}-{stop}/{step} is empty or has step 0")]
    BadGenerateRange {
        /// First value.
        start: u32,
        /// Last value.
        stop: u32,
        /// Step between values.
        step: u32,
    },
    /// A `$GENERATE` offset took the value below 0.
    #[error("$GENERATE offset makes the value negative")]
    NegativeGenerateValue,
    /// A physical line is longer than [`ParseOptions::max_line_len`](crate::ParseOptions).
    #[error("line longer than {limit} bytes")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// An entry (lines joined by parentheses) is longer than
    /// [`ParseOptions::max_entry_len`](crate::ParseOptions).
    #[error("record text longer than {limit} bytes")]
    EntryTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// More records than [`ParseOptions::max_records`](crate::ParseOptions).
    #[error("more than {limit} records")]
    TooManyRecords {
        /// The limit in force.
        limit: u64,
    },
    /// More input than [`ParseOptions::max_bytes`](crate::ParseOptions).
    #[error("input larger than {limit} bytes")]
    TooManyBytes {
        /// The limit in force.
        limit: u64,
    },
    /// Reading failed.
    #[error("read failed: {source}")]
    Io {
        /// The I/O error.
        source: io::Error,
    },
    /// `$INCLUDE` names a file outside the zone file's folder.
    #[error("$INCLUDE {path} is outside the zone folder {root}")]
    IncludeOutsideRoot {
        /// The file as resolved.
        path: PathBuf,
        /// The folder includes are confined to.
        root: PathBuf,
    },
    /// `$INCLUDE` nested deeper than [`ParseOptions::max_include_depth`](crate::ParseOptions).
    #[error("$INCLUDE nested deeper than {limit} levels")]
    IncludeTooDeep {
        /// The limit in force.
        limit: usize,
    },
    /// `$INCLUDE` of a file that is already being read.
    #[error("$INCLUDE loop: {path} is already being read")]
    IncludeLoop {
        /// The file that would be read twice.
        path: PathBuf,
    },
    /// `$INCLUDE` in input that is not a file, so there is no folder to confine it to.
    #[error("$INCLUDE is not allowed: the input has no zone folder")]
    IncludeNotAllowed,
    /// The `$INCLUDE` file could not be opened.
    #[error("cannot open $INCLUDE file {path}: {source}")]
    IncludeOpen {
        /// The file as resolved.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

impl ErrorKind {
    /// Whether reading cannot go on after this error; see [`Error::is_fatal`].
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::LineTooLong { .. }
                | Self::EntryTooLong { .. }
                | Self::TooManyRecords { .. }
                | Self::TooManyBytes { .. }
                | Self::Io { .. }
                | Self::IncludeOutsideRoot { .. }
                | Self::IncludeTooDeep { .. }
                | Self::IncludeLoop { .. }
                | Self::IncludeNotAllowed
                | Self::IncludeOpen { .. }
                | Self::UnclosedParen
        )
    }

    /// A short constant name for this kind, fit for a bounded metrics label.
    pub fn as_label(&self) -> &'static str {
        match self {
            Self::Expected { .. } => "expected",
            Self::BadName { .. } => "bad_name",
            Self::BadEscape { .. } => "bad_escape",
            Self::UnbalancedClose => "unbalanced_close",
            Self::UnclosedParen => "unclosed_paren",
            Self::UnterminatedString => "unterminated_string",
            Self::UnknownDirective { .. } => "unknown_directive",
            Self::NoOwner => "no_owner",
            Self::NoTtl => "no_ttl",
            Self::InvalidRdata { .. } => "invalid_rdata",
            Self::RdataTooLong => "rdata_too_long",
            Self::GenericLengthMismatch { .. } => "generic_length_mismatch",
            Self::UnsupportedType { .. } => "unsupported_type",
            Self::BadGenerateRange { .. } => "bad_generate_range",
            Self::NegativeGenerateValue => "negative_generate_value",
            Self::LineTooLong { .. } => "line_too_long",
            Self::EntryTooLong { .. } => "entry_too_long",
            Self::TooManyRecords { .. } => "too_many_records",
            Self::TooManyBytes { .. } => "too_many_bytes",
            Self::Io { .. } => "io",
            Self::IncludeOutsideRoot { .. } => "include_outside_root",
            Self::IncludeTooDeep { .. } => "include_too_deep",
            Self::IncludeLoop { .. } => "include_loop",
            Self::IncludeNotAllowed => "include_not_allowed",
            Self::IncludeOpen { .. } => "include_open",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_displays_file_line_column_and_expectation() {
        let err = Error::new(
            Position::new(Some(Arc::from(Path::new("block.rpz"))), 17, 24),
            ErrorKind::Expected {
                expected: Expected::Ipv4,
                found: Found::token(b"1.2.3"),
            },
        );
        assert_eq!(
            err.to_string(),
            "block.rpz:17:24: expected an IPv4 address, found \"1.2.3\""
        );
    }

    #[test]
    fn in_memory_input_is_shown_as_input() {
        let err = Error::new(Position::new(None, 3, 1), ErrorKind::NoTtl);
        assert!(err.to_string().starts_with("<input>:3:1: no TTL"));
    }

    #[test]
    fn long_tokens_are_shortened_in_errors() {
        let long = vec![b'a'; 1000];
        let Found::Token(text) = Found::token(&long) else {
            panic!("token expected")
        };
        assert!(text.len() < 100);
    }

    #[test]
    fn limits_and_includes_are_fatal_but_record_errors_are_not() {
        assert!(ErrorKind::TooManyRecords { limit: 1 }.is_fatal());
        assert!(ErrorKind::IncludeNotAllowed.is_fatal());
        assert!(!ErrorKind::NoTtl.is_fatal());
        assert!(!ErrorKind::UnterminatedString.is_fatal());
    }
}
