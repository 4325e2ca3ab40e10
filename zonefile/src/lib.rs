//! Sekisho zone files: a streaming parser and a writer for DNS master files.
//!
//! ```text
//!            ┌──────────── reader (I/O, limits, $INCLUDE, $GENERATE) ─────────────┐
//!  BufRead ──┤ line ──▶ scanner (sans-I/O tokens) ──▶ builder (context, RDATA) ──┼──▶ Record
//!            └─────────────────────────────────────────────────────────────────────┘
//!  Record ──▶ writer ──▶ master-file text (absolute names, explicit TTL and class)
//! ```
//!
//! The format is the one of [RFC 1035 section 5](https://www.rfc-editor.org/rfc/rfc1035#section-5)
//! with the additions every server reads today: `$TTL`
//! ([RFC 2308 section 4](https://www.rfc-editor.org/rfc/rfc2308#section-4)), unknown types and
//! classes as `TYPEnnn`/`CLASSnnn` with `\# len hex` data
//! ([RFC 3597 section 5](https://www.rfc-editor.org/rfc/rfc3597#section-5)), TTL units
//! (`1h30m`) and BIND's `$GENERATE`.
//!
//! Which module owns what:
//! - `scanner` (private) splits lines into tokens: blanks, comments,
//!   parentheses, quotes. Pure, no I/O.
//! - `builder` (private) turns an entry's tokens into a record or a
//!   directive, applying the owner/TTL/class inheritance rules. Pure, no I/O.
//! - `rdata` and `svcb` (private) convert RDATA between text and wire form
//!   from one schema per type; hickory-proto builds its [`RData`](hickory_proto::rr::RData)
//!   from the wire form, so records are the same values a transfer would produce.
//! - [`reader`] does the I/O: [`ZoneReader`] streams records from a `BufRead` or a file with
//!   bounded memory, follows `$INCLUDE` within the zone's folder and expands `$GENERATE`.
//! - [`wire`]: the same records in wire form ([`WireBatch`]), for bulk consumers that
//!   need no hickory records (the RPZ compiler).
//! - [`writer`] writes records back as text.
//! - [`error`] and [`options`]: the typed [`Error`] with `file:line:column`, and
//!   [`ParseOptions`] with the limits.
//!
//! Names and records are hickory-proto's; this crate has no record model of its own.
//! It knows nothing of RPZ or networking.
//!
//! ```
//! use sekisho_zonefile::{parse_str, ParseOptions};
//!
//! let zone = "$ORIGIN rpz.example.\n$TTL 300\nbad.test CNAME .\nx.test A 192.0.2.10\n";
//! let records = parse_str(zone, ParseOptions::default())?;
//! assert_eq!(records.len(), 2);
//! assert_eq!(records[0].name.to_string(), "bad.test.rpz.example.");
//! # Ok::<(), sekisho_zonefile::Error>(())
//! ```

mod builder;
pub mod error;
mod generate;
pub mod options;
mod rdata;
pub mod reader;
mod scanner;
mod svcb;
mod text;
pub mod wire;
mod words;
pub mod writer;

use std::path::Path;

use hickory_proto::rr::Record;

pub use error::{Error, ErrorKind, Expected, Found, NameError, Position};
pub use options::ParseOptions;
pub use reader::ZoneReader;
pub use wire::{WireBatch, WireRecord};
pub use writer::{write_record, Writer};

/// Parses zone text held in memory, failing at the first error. Meant for tests and small
/// inputs; `$INCLUDE` is refused.
pub fn parse_str(text: &str, options: ParseOptions) -> Result<Vec<Record>, Error> {
    ZoneReader::new(text.as_bytes(), options).collect()
}

/// Reads a whole zone file, failing at the first error. `$INCLUDE` is allowed within the
/// file's folder. For large files or lenient loading, iterate a [`ZoneReader`] instead.
pub fn read_file(path: impl AsRef<Path>, options: ParseOptions) -> Result<Vec<Record>, Error> {
    ZoneReader::open(path, options)?.collect()
}

#[cfg(test)]
mod tests;
