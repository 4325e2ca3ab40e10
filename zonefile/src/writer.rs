//! Master-file writer: hickory [`Record`]s → text the parser reads back to equal records.
//!
//! Every line is self-contained (fields separated by tabs): absolute owner, explicit TTL,
//! class and type, so lines can
//! be written in any order and no `$ORIGIN` or `$TTL` is needed:
//!
//! ```text
//! www.example.    3600    IN    A    192.0.2.1
//! ```
//!
//! RDATA is written by the same per-type schemas the parser reads (the private `rdata` module),
//! from hickory's wire encoding of the record, so the two cannot disagree. Data a schema
//! cannot express exactly (unknown types, odd SvcParams, empty strings lists) is written in
//! the generic form of [RFC 3597 section 5](https://www.rfc-editor.org/rfc/rfc3597#section-5),
//! `\# len hex`, which every RFC 3597 parser reads.

use std::fmt::Write as _;
use std::io::{self, Write};

use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use crate::rdata;
use crate::text;

/// Writes `record` as one master-file line to `out`.
///
/// For many records, a [`Writer`] reuses its buffers.
pub fn write_record<W: Write + ?Sized>(out: &mut W, record: &Record) -> io::Result<()> {
    let mut line = String::new();
    let mut wire = Vec::new();
    format_record(record, &mut line, &mut wire)?;
    out.write_all(line.as_bytes())
}

/// Writes records as master-file lines, reusing its buffers between records.
#[derive(Debug)]
pub struct Writer<W> {
    /// Destination.
    out: W,
    /// The line being formatted.
    line: String,
    /// The wire RDATA being rendered.
    wire: Vec<u8>,
}

impl<W: Write> Writer<W> {
    /// A writer into `out`. Wrap files in a `BufWriter`: each record is one `write_all`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            line: String::with_capacity(256),
            wire: Vec::with_capacity(512),
        }
    }

    /// Writes one record as a line.
    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        self.line.clear();
        format_record(record, &mut self.line, &mut self.wire)?;
        self.out.write_all(self.line.as_bytes())
    }

    /// Writes a comment line (`; ` and `text`; line breaks in `text` start new comments).
    pub fn comment(&mut self, text: &str) -> io::Result<()> {
        for line in text.lines() {
            writeln!(self.out, "; {line}")?;
        }
        Ok(())
    }

    /// Flushes the destination.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The destination.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Appends the line for `record` to `line`, using `wire` as scratch.
fn format_record(record: &Record, line: &mut String, wire: &mut Vec<u8>) -> io::Result<()> {
    text::name_to_text(&record.name, line);
    let _ = write!(line, "\t{}\t", record.ttl);
    text::class_to_text(record.dns_class, line);
    line.push('\t');
    let rtype = record.record_type();
    text::type_to_text(rtype, line);
    line.push('\t');

    wire.clear();
    {
        let mut encoder = BinEncoder::new(wire);
        // Names in RDATA must be complete in the text: no compression pointers.
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        record
            .data
            .emit(&mut encoder)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
    }
    let rdata_start = line.len();
    let rendered = rdata::schema(rtype).and_then(|fields| rdata::render(fields, wire, line));
    if rendered.is_none() {
        line.truncate(rdata_start);
        rdata::render_generic(wire, line);
    }
    line.push('\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use hickory_proto::rr::rdata::{A, CNAME, TXT};
    use hickory_proto::rr::{Name, RData};

    use super::*;

    /// The line written for `record`.
    fn line(record: &Record) -> String {
        let mut out = Vec::new();
        write_record(&mut out, record).expect("writes");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn a_records_are_written_with_absolute_owner_ttl_and_class() {
        let name = Name::from_str("www.example.").expect("name");
        let record = Record::from_rdata(name, 300, RData::A(A::new(192, 0, 2, 1)));
        assert_eq!(line(&record), "www.example.\t300\tIN\tA\t192.0.2.1\n");
    }

    #[test]
    fn cname_to_root_is_written_as_a_dot() {
        let name = Name::from_str("bad.example.rpz.").expect("name");
        let record = Record::from_rdata(name, 60, RData::CNAME(CNAME(Name::root())));
        assert_eq!(line(&record), "bad.example.rpz.\t60\tIN\tCNAME\t.\n");
    }

    #[test]
    fn txt_strings_are_quoted_and_escaped() {
        let name = Name::from_str("t.example.").expect("name");
        let txt = TXT::new(vec!["a \"b\"".into(), "c\\d".into()]);
        let record = Record::from_rdata(name, 1, RData::TXT(txt));
        assert_eq!(
            line(&record),
            "t.example.\t1\tIN\tTXT\t\"a \\\"b\\\"\" \"c\\\\d\"\n"
        );
    }
}
