//! Sans-I/O tokenizer: physical lines in, one entry's tokens out.
//!
//! ```text
//!   line bytes ──feed()──▶ Scanner ──Complete──▶ Entry { blank_start, tokens[] } ──▶ builder
//!                            │ NeedMore (inside parentheses)
//!                            ▼
//!                        next line
//! ```
//!
//! [RFC 1035 section 5.1](https://www.rfc-editor.org/rfc/rfc1035#section-5.1) defines the
//! lexical rules: fields are separated by blanks; `;` starts a comment to the end of the line;
//! `(` and `)` let an entry continue over line boundaries; `"` quotes a string that may hold
//! blanks; `\X` and `\DDD` escape a character. A line that begins with a blank has no owner
//! name and inherits the previous one.
//!
//! The scanner copies each line of the current entry into one reusable buffer and records
//! tokens as byte ranges into it, so a token costs no allocation. It does not decode escapes:
//! names and strings decode them differently, so each consumer does it for itself. It does no
//! I/O and knows nothing of record syntax; the reader feeds it lines and the builder reads it.

use crate::error::{ErrorKind, Located as ScanError};
use crate::words::{equal_to, first_flagged, word_at, HIGH};

/// Bytes that end a plain token (blanks, `;`, parentheses, quotes, the line end) or need a
/// look (`\`): one table lookup per byte in the hottest loop of the parser.
const SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    let special = b" \t\r\n;()\"\\";
    while i < special.len() {
        table[special[i] as usize] = true;
        i += 1;
    }
    table
};

/// The first offset at or after `i` (and at most `end`) that may hold a [`SPECIAL`] byte,
/// eight bytes at a time: a byte below `*` (blanks, line ends, `"`, parentheses), `;` or
/// `\\` stops the skip (some bytes that stop it are not special, e.g. `!`; the caller's
/// byte test decides). Plain names and numbers, nearly all of a big zone, pass a word per
/// step instead of a table lookup and a branch per byte.
#[inline]
fn skip_plain(buf: &[u8], mut i: usize, end: usize) -> usize {
    while i + 8 <= end {
        let w = word_at(buf, i);
        // Bytes below 0x2a ('*'): the top bit of (byte + 0x56) is clear for them, among
        // bytes below 0x80; bytes from 0x80 never stop the skip.
        let low = !(w & !HIGH).wrapping_add(0x5656_5656_5656_5656) & !w & HIGH;
        let stop = low | equal_to(w, b';') | equal_to(w, b'\\');
        if stop != 0 {
            return i + first_flagged(stop);
        }
        i += 8;
    }
    i
}

/// One token of an entry: a byte range in the entry buffer and where it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    /// Start offset in the entry buffer.
    pub(crate) start: u32,
    /// End offset (exclusive) in the entry buffer.
    pub(crate) end: u32,
    /// Physical line the token starts on.
    pub(crate) line: u64,
    /// Byte column the token starts at, 1-based (the opening quote for quoted tokens).
    pub(crate) column: u32,
    /// Whether the token was a quoted string (the range excludes the quotes).
    pub(crate) quoted: bool,
}

/// What [`Scanner::feed`] made of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// The line held no tokens (blank or only a comment); nothing to do.
    Empty,
    /// A parenthesis is open: the entry continues on the next line.
    NeedMore,
    /// The entry is complete; read it with [`Scanner::tokens`] and friends.
    Complete,
}

/// Tokenizer state across the lines of one entry.
#[derive(Debug)]
pub(crate) struct Scanner {
    /// The text of the current entry's lines, each followed by a `\n`.
    buf: Vec<u8>,
    /// Tokens of the current entry.
    tokens: Vec<Token>,
    /// Open parentheses.
    depth: u32,
    /// Where the outermost open parenthesis is, for the error at end of file.
    open_at: (u64, u32),
    /// Whether the entry's first line began with a blank (owner omitted).
    blank_start: bool,
    /// Whether the next `feed` starts a new entry.
    fresh: bool,
    /// Longest entry accepted, in bytes.
    max_entry_len: usize,
}

impl Scanner {
    /// A scanner that refuses entries longer than `max_entry_len` bytes.
    pub(crate) fn new(max_entry_len: usize) -> Self {
        Self {
            buf: Vec::with_capacity(256),
            tokens: Vec::with_capacity(16),
            depth: 0,
            open_at: (0, 0),
            blank_start: false,
            fresh: true,
            max_entry_len,
        }
    }

    /// The current entry's tokens.
    pub(crate) fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// The bytes of `token`, escapes still in place.
    pub(crate) fn text(&self, token: &Token) -> &[u8] {
        &self.buf[token.start as usize..token.end as usize]
    }

    /// Whether the entry's first line began with a blank, so the owner is omitted.
    pub(crate) fn blank_start(&self) -> bool {
        self.blank_start
    }

    /// Whether an unfinished entry (open parenthesis) is pending.
    pub(crate) fn pending(&self) -> bool {
        !self.fresh && self.depth > 0
    }

    /// Where the unclosed parenthesis of a pending entry is.
    pub(crate) fn open_paren_at(&self) -> (u64, u32) {
        self.open_at
    }

    /// Drops the current entry, e.g. after an error, so the next line starts afresh.
    pub(crate) fn reset(&mut self) {
        self.fresh = true;
        self.depth = 0;
        self.buf.clear();
        self.tokens.clear();
    }

    /// Tokenizes one physical line (without its line ending) numbered `line_no`.
    ///
    /// On error the entry is dropped, so the caller may go on with the next line.
    pub(crate) fn feed(&mut self, line: &[u8], line_no: u64) -> Result<Status, ScanError> {
        if self.fresh {
            self.buf.clear();
            self.tokens.clear();
            self.depth = 0;
            self.blank_start = matches!(line.first(), Some(b' ' | b'\t'));
        }
        if self.buf.len() + line.len() + 1 > self.max_entry_len {
            self.reset();
            return Err(ScanError {
                line: line_no,
                column: 0,
                kind: ErrorKind::EntryTooLong {
                    limit: self.max_entry_len,
                },
            });
        }
        let base = self.buf.len();
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
        if let Err(err) = self.tokenize(base, line_no) {
            self.reset();
            return Err(err);
        }
        if self.depth > 0 {
            self.fresh = false;
            return Ok(Status::NeedMore);
        }
        self.fresh = true;
        Ok(if self.tokens.is_empty() {
            Status::Empty
        } else {
            Status::Complete
        })
    }

    /// Splits the line at `buf[base..]` into tokens.
    fn tokenize(&mut self, base: usize, line_no: u64) -> Result<(), ScanError> {
        // The line ends with the `\n` pushed by `feed`, so every loop below stops at it.
        let buf = &self.buf;
        let end = buf.len() - 1;
        let mut i = base;
        let column = |i: usize| (i - base + 1) as u32;
        while i < end {
            match buf[i] {
                b' ' | b'\t' | b'\r' => i += 1,
                b';' => break,
                b'(' => {
                    if self.depth == 0 {
                        self.open_at = (line_no, column(i));
                    }
                    self.depth += 1;
                    i += 1;
                }
                b')' => {
                    if self.depth == 0 {
                        return Err(ScanError {
                            line: line_no,
                            column: column(i),
                            kind: ErrorKind::UnbalancedClose,
                        });
                    }
                    self.depth -= 1;
                    i += 1;
                }
                b'"' => {
                    let open = i;
                    i += 1;
                    let start = i;
                    loop {
                        match buf[i] {
                            b'"' => break,
                            b'\\' if i + 1 < end => i += 2,
                            _ if i >= end => {
                                return Err(ScanError {
                                    line: line_no,
                                    column: column(open),
                                    kind: ErrorKind::UnterminatedString,
                                });
                            }
                            _ => i += 1,
                        }
                    }
                    self.tokens.push(Token {
                        start: start as u32,
                        end: i as u32,
                        line: line_no,
                        column: column(open),
                        quoted: true,
                    });
                    i += 1;
                }
                _ => {
                    let start = i;
                    while i < end {
                        i = skip_plain(buf, i, end);
                        match buf[i] {
                            b if !SPECIAL[b as usize] => i += 1,
                            // An escape keeps the next byte in the token, whatever it is.
                            b'\\' => i = (i + 2).min(end),
                            _ => break,
                        }
                    }
                    self.tokens.push(Token {
                        start: start as u32,
                        end: i as u32,
                        line: line_no,
                        column: column(start),
                        quoted: false,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_skip_stops_exactly_at_the_first_byte_that_may_be_special() {
        // Every byte value at every position of a line of plain bytes: the skip must stop on
        // it when it is below '*', ';' or '\\' (so never past a special byte), and not
        // otherwise; the last partial word is left to the byte loop.
        for at in 0..24usize {
            for b in 0u8..=255 {
                let mut line = vec![b'a'; 24];
                line[at] = b;
                line.push(b'\n');
                let end = line.len() - 1;
                let stops = b < b'*' || b == b';' || b == b'\\';
                let got = skip_plain(&line, 0, end);
                let full_words = end / 8 * 8;
                let want = if stops && at < full_words {
                    at
                } else {
                    full_words
                };
                assert_eq!(got, want, "byte {b:#x} at {at}");
                assert!(!SPECIAL[b as usize] || got <= at, "skipped special {b:#x}");
            }
        }
    }

    /// Feeds `lines` and returns the texts of the completed entry's tokens.
    fn scan(lines: &[&str]) -> (Status, Vec<String>, bool) {
        let mut scanner = Scanner::new(1 << 16);
        let mut status = Status::Empty;
        for (n, line) in lines.iter().enumerate() {
            status = scanner.feed(line.as_bytes(), n as u64 + 1).expect("scans");
        }
        let texts = scanner
            .tokens()
            .iter()
            .map(|t| String::from_utf8_lossy(scanner.text(t)).into_owned())
            .collect();
        (status, texts, scanner.blank_start())
    }

    #[test]
    fn blanks_separate_tokens_and_comments_are_dropped() {
        let (status, tokens, blank) = scan(&["www  300\tIN A 192.0.2.1 ; web"]);
        assert_eq!(status, Status::Complete);
        assert_eq!(tokens, ["www", "300", "IN", "A", "192.0.2.1"]);
        assert!(!blank);
    }

    #[test]
    fn a_leading_blank_marks_an_omitted_owner() {
        let (_, tokens, blank) = scan(&["  A 192.0.2.1"]);
        assert_eq!(tokens, ["A", "192.0.2.1"]);
        assert!(blank);
    }

    #[test]
    fn comment_only_and_blank_lines_are_empty() {
        assert_eq!(scan(&["; nothing"]).0, Status::Empty);
        assert_eq!(scan(&[""]).0, Status::Empty);
        assert_eq!(scan(&["   \t "]).0, Status::Empty);
    }

    #[test]
    fn parentheses_join_lines_into_one_entry() {
        let (status, tokens, _) =
            scan(&["@ SOA ns. host. ( 1 ; serial", "  7200 3600", "  1w 300 )"]);
        assert_eq!(status, Status::Complete);
        assert_eq!(
            tokens,
            ["@", "SOA", "ns.", "host.", "1", "7200", "3600", "1w", "300"]
        );
    }

    #[test]
    fn an_open_parenthesis_asks_for_more_lines() {
        let mut scanner = Scanner::new(1 << 16);
        assert_eq!(
            scanner.feed(b"a TXT ( \"x\"", 1).expect("scans"),
            Status::NeedMore
        );
        assert!(scanner.pending());
        assert_eq!(scanner.open_paren_at(), (1, 7));
    }

    #[test]
    fn quoted_strings_keep_blanks_and_semicolons() {
        let (_, tokens, _) = scan(&[r#"a TXT "hello; world" "say \"hi\"""#]);
        assert_eq!(tokens, ["a", "TXT", "hello; world", r#"say \"hi\""#]);
    }

    #[test]
    fn an_escaped_blank_stays_inside_the_token() {
        let (_, tokens, _) = scan(&[r"a\ b\;c TXT x"]);
        assert_eq!(tokens, [r"a\ b\;c", "TXT", "x"]);
    }

    #[test]
    fn an_unclosed_quote_is_reported_at_the_quote() {
        let mut scanner = Scanner::new(1 << 16);
        let err = scanner.feed(b"a TXT \"abc", 4).expect_err("unterminated");
        assert!(matches!(err.kind, ErrorKind::UnterminatedString));
        assert_eq!((err.line, err.column), (4, 7));
    }

    #[test]
    fn a_stray_closing_parenthesis_is_reported_where_it_is() {
        let mut scanner = Scanner::new(1 << 16);
        let err = scanner.feed(b"a A 1.2.3.4 )", 2).expect_err("unbalanced");
        assert!(matches!(err.kind, ErrorKind::UnbalancedClose));
        assert_eq!(err.column, 13);
        // The scanner recovers for the next line.
        assert_eq!(
            scanner.feed(b"b A 1.2.3.4", 3).expect("scans"),
            Status::Complete
        );
    }

    #[test]
    fn token_columns_are_one_based_byte_offsets() {
        let mut scanner = Scanner::new(1 << 16);
        scanner.feed(b"ab  cd", 1).expect("scans");
        let cols: Vec<u32> = scanner.tokens().iter().map(|t| t.column).collect();
        assert_eq!(cols, [1, 5]);
    }

    #[test]
    fn entries_longer_than_the_limit_are_refused() {
        let mut scanner = Scanner::new(10);
        let err = scanner.feed(b"0123456789abc", 1).expect_err("too long");
        assert!(matches!(err.kind, ErrorKind::EntryTooLong { limit: 10 }));
    }
}
