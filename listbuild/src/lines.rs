//! Reading list files: bounded lines, CSV records, hosts and domain lines.
//!
//! ```text
//!  BufRead ──▶ LineReader (≤ MAX_RECORD octets, line numbers, CRLF and BOM stripped)
//!          ──▶ csv_fields / hosts_names / domain_name   (pure, per line)
//! ```
//!
//! Nothing here holds more than one record: a 10 GB list streams through in
//! `MAX_RECORD` plus the `BufReader`'s buffer. A line longer than the bound is
//! skipped to its end and reported, never buffered.
//!
//! CSV follows [RFC 4180](https://www.rfc-editor.org/rfc/rfc4180): fields in
//! double quotes may hold commas, line breaks and `""` for a quote. Spreadsheets
//! export it with CRLF and often a UTF-8 byte order mark; both are accepted.

use std::io::{self, BufRead};

/// The longest record (one line, or several for a CSV field with line breaks).
pub(crate) const MAX_RECORD: usize = 64 * 1024;

/// What one call to [`LineReader::next_record`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// A record is in the buffer; it started on this line.
    Line(u64),
    /// The record starting on this line was longer than [`MAX_RECORD`] and was skipped.
    TooLong(u64),
    /// The file ended inside a quoted CSV field that started on this line.
    UnclosedQuote(u64),
}

/// Splits a `BufRead` into records of bounded size, counting lines.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    /// Source.
    inner: R,
    /// Lines consumed so far.
    line: u64,
    /// Whether a UTF-8 byte order mark may still be stripped (first line only).
    at_start: bool,
}

impl<R: BufRead> LineReader<R> {
    /// A reader over `inner`.
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            line: 0,
            at_start: true,
        }
    }

    /// Reads the next record into `buf` (cleared first) without its line end.
    /// With `csv_quotes`, a line break inside double quotes continues the record
    /// (RFC 4180 section 2, rule 6). `None` at end of input.
    pub(crate) fn next_record(
        &mut self,
        buf: &mut Vec<u8>,
        csv_quotes: bool,
    ) -> io::Result<Option<Record>> {
        buf.clear();
        let first = self.line + 1;
        let mut in_quotes = false;
        loop {
            let start = buf.len();
            match self.read_line(buf)? {
                LineEnd::Eof if buf.is_empty() && start == 0 => return Ok(None),
                LineEnd::TooLong => {
                    if in_quotes || start > 0 {
                        // The rest of a multi-line record cannot be trusted either.
                        buf.clear();
                    }
                    return Ok(Some(Record::TooLong(first)));
                }
                end => {
                    if self.at_start {
                        self.at_start = false;
                        if buf.starts_with(b"\xEF\xBB\xBF") {
                            buf.drain(..3);
                        }
                    }
                    if buf.last() == Some(&b'\r') {
                        buf.pop();
                    }
                    if csv_quotes {
                        in_quotes ^= buf[start..].iter().filter(|&&b| b == b'"').count() % 2 == 1;
                    }
                    if !in_quotes {
                        return Ok(Some(Record::Line(first)));
                    }
                    if end == LineEnd::Eof {
                        return Ok(Some(Record::UnclosedQuote(first)));
                    }
                    buf.push(b'\n');
                }
            }
        }
    }

    /// Appends one line (without `\n`) to `buf`, stopping at [`MAX_RECORD`] octets
    /// in `buf`; past that the line is consumed and dropped.
    fn read_line(&mut self, buf: &mut Vec<u8>) -> io::Result<LineEnd> {
        let mut too_long = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                self.line += u64::from(!buf.is_empty() || too_long);
                return Ok(if too_long {
                    LineEnd::TooLong
                } else {
                    LineEnd::Eof
                });
            }
            let (take, newline) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                if buf.len() + take > MAX_RECORD {
                    too_long = true;
                } else {
                    buf.extend_from_slice(&chunk[..take]);
                }
            }
            self.inner.consume(take + usize::from(newline));
            if newline {
                self.line += 1;
                return Ok(if too_long {
                    LineEnd::TooLong
                } else {
                    LineEnd::Newline
                });
            }
        }
    }
}

/// How a line ended.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum LineEnd {
    /// At a `\n`.
    Newline,
    /// At the end of input.
    Eof,
    /// Past [`MAX_RECORD`]; the line was consumed to its end and dropped.
    TooLong,
}

/// Copies the fields numbered `want` (0-based) of the CSV `record` into `out`
/// (unquoted, `""` → `"`), stopping after the highest wanted field. Returns the
/// number of fields seen, so a short row can be reported; `out[i]` is valid only
/// when `want[i]` is below that count.
pub(crate) fn csv_fields<const N: usize>(
    record: &[u8],
    want: [usize; N],
    out: &mut [Vec<u8>; N],
) -> usize {
    for o in out.iter_mut() {
        o.clear();
    }
    let last = want.iter().copied().max().unwrap_or(0);
    let mut field = 0usize;
    let mut i = 0usize;
    loop {
        let slots: [bool; N] = std::array::from_fn(|k| want[k] == field);
        let mut put = |b: u8| {
            for (k, &s) in slots.iter().enumerate() {
                if s {
                    out[k].push(b);
                }
            }
        };
        // Leading blanks before an opening quote are tolerated (`1, "x"`).
        let mut j = i;
        while record.get(j).is_some_and(|&b| b == b' ' || b == b'\t') {
            j += 1;
        }
        if record.get(j) == Some(&b'"') {
            i = j + 1;
            while i < record.len() {
                match record[i] {
                    b'"' if record.get(i + 1) == Some(&b'"') => {
                        put(b'"');
                        i += 2;
                    }
                    b'"' => {
                        i += 1;
                        break;
                    }
                    b => {
                        put(b);
                        i += 1;
                    }
                }
            }
            // Text after the closing quote (not RFC 4180) is kept, as spreadsheets do.
            while i < record.len() && record[i] != b',' {
                put(record[i]);
                i += 1;
            }
        } else {
            while i < record.len() && record[i] != b',' {
                put(record[i]);
                i += 1;
            }
        }
        if field == last || i >= record.len() {
            return field + 1;
        }
        i += 1; // the comma
        field += 1;
    }
}

/// Host names that hosts files map for the machine itself, not as blocks.
const LOCAL_NAMES: [&str; 12] = [
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
    "0.0.0.0",
];

/// Whether a hosts-file name is one of the machine's own (`localhost`...).
pub(crate) fn is_local_name(name: &str) -> bool {
    LOCAL_NAMES.iter().any(|l| l.eq_ignore_ascii_case(name))
}

/// A hosts-file line after its comment is cut: the address and the names, or
/// `None` for a blank or comment-only line.
pub(crate) fn hosts_line(line: &[u8]) -> Option<&[u8]> {
    let line = match line.iter().position(|&b| b == b'#') {
        Some(i) => &line[..i],
        None => line,
    };
    let line = line.trim_ascii();
    (!line.is_empty()).then_some(line)
}

/// A domain-list line after its comment (`#` or `;` to the end) is cut, or
/// `None` for a blank or comment-only line.
pub(crate) fn domain_line(line: &[u8]) -> Option<&[u8]> {
    let line = match line.iter().position(|&b| b == b'#' || b == b';') {
        Some(i) => &line[..i],
        None => line,
    };
    let line = line.trim_ascii();
    (!line.is_empty()).then_some(line)
}

/// Whether the first hosts-file token is an address (`fe80::1%lo0` included).
pub(crate) fn is_hosts_address(token: &str) -> bool {
    let token = token.split('%').next().unwrap_or(token);
    token.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of `text` with its outcome and content.
    fn records(text: &[u8], csv: bool) -> Vec<(Record, String)> {
        let mut r = LineReader::new(text);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(rec) = r.next_record(&mut buf, csv).expect("read") {
            out.push((rec, String::from_utf8_lossy(&buf).into_owned()));
        }
        out
    }

    /// Fields 1 and 4 (0-based) of a CSV record, as text, with the field count.
    fn two(record: &str) -> (usize, String, String) {
        let mut out = [Vec::new(), Vec::new()];
        let n = csv_fields(record.as_bytes(), [1, 4], &mut out);
        (
            n,
            String::from_utf8_lossy(&out[0]).into_owned(),
            String::from_utf8_lossy(&out[1]).into_owned(),
        )
    }

    #[test]
    fn crlf_bom_and_a_missing_final_newline_are_handled() {
        let got = records(b"\xEF\xBB\xBFa\r\nb\r\n\r\nc", false);
        assert_eq!(
            got,
            vec![
                (Record::Line(1), "a".into()),
                (Record::Line(2), "b".into()),
                (Record::Line(3), String::new()),
                (Record::Line(4), "c".into()),
            ]
        );
    }

    #[test]
    fn a_quoted_line_break_continues_the_csv_record_and_keeps_its_first_line_number() {
        let got = records(b"h\n1,\"a\r\nb\",x\n2,y\n", true);
        assert_eq!(got[1], (Record::Line(2), "1,\"a\nb\",x".into()));
        assert_eq!(got[2], (Record::Line(4), "2,y".into()));
    }

    #[test]
    fn an_unclosed_quote_at_the_end_is_reported() {
        let got = records(b"1,\"open\n2,x\n", true);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, Record::UnclosedQuote(1));
    }

    #[test]
    fn an_overlong_line_is_skipped_to_its_end_without_being_buffered() {
        let mut text = vec![b'x'; MAX_RECORD + 10];
        text.extend_from_slice(b"\nok\n");
        let got = records(&text, false);
        assert_eq!(
            got,
            vec![
                (Record::TooLong(1), String::new()),
                (Record::Line(2), "ok".into())
            ]
        );
    }

    #[test]
    fn csv_fields_are_unquoted_and_stop_at_the_last_wanted_column() {
        assert_eq!(
            two("1,a.example,c,d,1"),
            (5, "a.example".into(), "1".into())
        );
        assert_eq!(
            two("1,\"a,b \"\"q\"\"\",c,d,\"1\",rest,\"unclosed"),
            (5, "a,b \"q\"".into(), "1".into())
        );
        assert_eq!(
            two("1, \"x.example\",c,d,1"),
            (5, "x.example".into(), "1".into())
        );
        assert_eq!(two("1,x.example,c").0, 3);
        assert_eq!(two("").0, 1);
    }

    #[test]
    fn hosts_and_domain_lines_lose_their_comments() {
        assert_eq!(hosts_line(b"0.0.0.0 a b # c"), Some(&b"0.0.0.0 a b"[..]));
        assert_eq!(hosts_line(b"   # only"), None);
        assert_eq!(domain_line(b"a.example ; why"), Some(&b"a.example"[..]));
        assert!(is_hosts_address("fe80::1%lo0"));
        assert!(!is_hosts_address("example"));
        assert!(is_local_name("LocalHost"));
    }
}
