//! roff(7) escaping and a small writer for man(7) documents.
//!
//! Every string that reaches a page goes through here, because roff gives meaning to
//! characters that are ordinary in help texts and Markdown:
//!
//! ```text
//!   \            the escape character       -> \e
//!   . or ' at the start of a line   control line  -> \& in front
//!   -            hyphen, not minus          -> \- in options and literal text
//!   non-ASCII    read as Latin-1 by groff   -> \[uXXXX]
//!   "            ends a macro argument      -> \(dq inside macro arguments
//! ```
//!
//! Hyphens follow Debian's convention (lintian's `hyphen-used-as-minus-sign`): in options,
//! code and other literal text every `-` is the ASCII minus `\-`, so that `--config` can be
//! copied from the rendered page; in prose a `-` inside a word ("kebab-case") stays a hyphen,
//! and one that starts a word ("-n", "--flag") is a minus.

use std::fmt::Write as _;

/// Escapes prose: `\` becomes `\e`, non-ASCII becomes `\[uXXXX]`, and a `-` that starts a word
/// (an option such as `--config`, a negative number) becomes `\-`.
pub(crate) fn text(s: &str) -> String {
    escape(s, false)
}

/// Escapes literal text (option names, values, code): like [`text`], but every `-` is `\-`.
pub(crate) fn literal(s: &str) -> String {
    escape(s, true)
}

/// The common escaper behind [`text`] and [`literal`].
fn escape(s: &str, all_hyphens: bool) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    let mut prev: Option<char> = None;
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => {
                // A hyphen glued to a word on its left ("kebab-case") is a hyphen; one after
                // a space, a bracket or another minus starts an option or a number.
                let in_word = prev.is_some_and(|p| p.is_alphanumeric() || p == '_');
                if all_hyphens || !in_word {
                    out.push_str("\\-");
                } else {
                    out.push('-');
                }
            }
            // Tabs mean something in roff text lines (tab stops); a space reads the same.
            '\t' => out.push(' '),
            // Line breaks are kept: the writer splits text into lines and guards each one.
            '\n' => out.push('\n'),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c if c.is_ascii_control() => {}
            // groff reads its input as Latin-1 unless preconv ran; the named Unicode escape
            // renders the same under man(1), plain groff and mandoc.
            c => {
                let _ = write!(out, "\\[u{:04X}]", u32::from(c));
            }
        }
        prev = Some(c);
    }
    out
}

/// Quotes an already escaped string as one macro argument (`"` itself becomes `\(dq`).
pub(crate) fn quote_arg(escaped: &str) -> String {
    format!("\"{}\"", escaped.replace('"', "\\(dq"))
}

/// A man(7) document under construction: control lines and guarded text lines.
#[derive(Debug, Default)]
pub(crate) struct Roff {
    /// The document so far; always ends with a newline when not empty.
    out: String,
}

impl Roff {
    /// An empty document.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Writes a control line: `.NAME` followed by the (already escaped and quoted) arguments.
    pub(crate) fn control(&mut self, name: &str, args: &[&str]) {
        self.out.push('.');
        self.out.push_str(name);
        for arg in args {
            self.out.push(' ');
            self.out.push_str(arg);
        }
        self.out.push('\n');
    }

    /// Writes a section heading `.SH` with the heading on the next line (so that it needs no
    /// quoting as a macro argument).
    pub(crate) fn section(&mut self, escaped_title: &str) {
        self.control("SH", &[]);
        self.text(escaped_title);
    }

    /// Writes a subsection heading `.SS`, as [`Roff::section`] does.
    pub(crate) fn subsection(&mut self, escaped_title: &str) {
        self.control("SS", &[]);
        self.text(escaped_title);
    }

    /// Writes filled text (already escaped): one output line per input line, leading blanks
    /// removed (a leading space would force a break) and blank lines dropped (a blank line in
    /// filled text is an unintended vertical space).
    pub(crate) fn text(&mut self, escaped: &str) {
        for line in escaped.lines() {
            let line = line.trim_start();
            if !line.is_empty() {
                self.line(line);
            }
        }
    }

    /// Writes lines of no-fill text (already escaped) verbatim, blank lines and indentation kept.
    pub(crate) fn verbatim(&mut self, escaped: &str) {
        for line in escaped.lines() {
            self.line(line.trim_end());
        }
    }

    /// Writes one text line, guarding a leading `.` or `'` with `\&` so that it is not read as
    /// a control line.
    fn line(&mut self, line: &str) {
        if line.starts_with('.') || line.starts_with('\'') {
            self.out.push_str("\\&");
        }
        self.out.push_str(line);
        self.out.push('\n');
    }

    /// The finished document.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backslashes_become_the_escape_escape() {
        assert_eq!(text(r"C:\dir\n"), r"C:\edir\en");
    }

    #[test]
    fn hyphens_are_minus_at_word_start_and_hyphens_inside_words() {
        assert_eq!(
            text("use --dry-run or -n, kebab-case"),
            r"use \-\-dry-run or \-n, kebab-case"
        );
        assert_eq!(literal("dry-run"), r"dry\-run");
    }

    #[test]
    fn non_ascii_becomes_a_unicode_escape() {
        assert_eq!(text("a — b ≥ 1"), r"a \[u2014] b \[u2265] 1");
    }

    #[test]
    fn lines_starting_with_a_dot_or_apostrophe_are_guarded() {
        let mut r = Roff::new();
        r.text(".hidden\n'quoted\n  .indented\nplain");
        assert_eq!(r.finish(), "\\&.hidden\n\\&'quoted\n\\&.indented\nplain\n");
    }

    #[test]
    fn quotes_inside_macro_arguments_are_escaped() {
        assert_eq!(quote_arg(r#"say "hi""#), r#""say \(dqhi\(dq""#);
    }
}
