//! The Markdown subset of Sekisho's docs, rendered as man(7) blocks.
//!
//! docs/config.md is the one reference of the configuration file; sekisho.toml(5) is made from it
//! so that the two cannot disagree. The subset is what the docs use, block by block:
//!
//! ```text
//!   # Title, ## Section          -> .SH            (### and deeper -> .SS)
//!   paragraph lines              -> .PP + filled text
//!   - item (+ indented lines)    -> .IP \(bu 2     (indented paragraphs -> .IP)
//!   ```lang fenced code ```      -> .nf ... .fi    (indented by .RS outside lists)
//!   | key | type | default | ... -> one .TP per row: tag = first cell,
//!                                   body = "type; default; meaning" (later columns on their
//!                                   own lines as "Header: cell")
//! ```
//!
//! and inline: `` `code` `` and `**bold**` become `\fB..\fR`, `[text](target)` keeps its text,
//! `\*` style Markdown escapes give the character. Anything else is plain text, escaped by
//! [`crate::roff`]. The caller's sections in [`crate::man_page`] use the same renderer.

use crate::roff::{self, Roff};

/// One block of a Markdown document.
#[derive(Debug, PartialEq)]
enum Block {
    /// A `#` heading: its level (number of `#`) and raw text.
    Heading(usize, String),
    /// A paragraph: its raw text lines and where it sits.
    Paragraph(Vec<String>, Place),
    /// A fenced code block: its lines (fence indentation removed), and whether it is inside a
    /// list item.
    Code(Vec<String>, bool),
    /// A pipe table: the header cells and the body rows' cells (raw Markdown).
    Table(Vec<String>, Vec<Vec<String>>),
}

/// Where a paragraph sits, which decides its paragraph macro.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    /// A top-level paragraph (`.PP`).
    Top,
    /// The first paragraph of a list item, which carries the bullet (`.IP \(bu 2`).
    Item,
    /// A later paragraph of a list item, indented like the item (`.IP`).
    InItem,
}

/// Renders `markdown` into `roff`.
///
/// `first_h1` replaces the text of level-1 headings (a man page's document title is its NAME
/// line, so config.md's `# Configuration reference` becomes `.SH DESCRIPTION`); `None` keeps them.
pub(crate) fn render(markdown: &str, out: &mut Roff, h1_title: Option<&str>) {
    for block in parse(markdown) {
        match block {
            Block::Heading(level, heading) => {
                let title = match (level, h1_title) {
                    (1, Some(title)) => roff::text(title),
                    // Headings are bold already; code spans in them need no font change.
                    _ => inline(&heading, false),
                };
                if level <= 2 {
                    out.section(&title);
                } else {
                    out.subsection(&title);
                }
            }
            Block::Paragraph(lines, place) => {
                match place {
                    Place::Top => out.control("PP", &[]),
                    Place::Item => out.control("IP", &["\\(bu", "2"]),
                    Place::InItem => out.control("IP", &[]),
                }
                out.text(&inline(&lines.join("\n"), true));
            }
            Block::Code(lines, in_item) => {
                if in_item {
                    out.control("IP", &[]);
                } else {
                    out.control("PP", &[]);
                    out.control("RS", &["4"]);
                }
                out.control("nf", &[]);
                out.verbatim(&roff::literal(&lines.join("\n")));
                out.control("fi", &[]);
                if !in_item {
                    out.control("RE", &[]);
                }
            }
            Block::Table(header, rows) => table(out, &header, &rows),
        }
    }
}

/// Renders a table as one `.TP` entry per row: the first cell is the tag, the next three cells
/// are joined as "type; default; meaning", and any further cell follows on a line of its own as
/// "Header: cell"
/// (config.md's "BIND / Unbound" column would mean nothing without its header).
fn table(out: &mut Roff, header: &[String], rows: &[Vec<String>]) {
    for row in rows {
        let Some((key, rest)) = row.split_first() else {
            continue;
        };
        let mut parts = Vec::new();
        let mut labelled = Vec::new();
        for (i, cell) in rest.iter().enumerate() {
            if cell.is_empty() {
                continue;
            }
            let column = i + 1;
            match header.get(column) {
                Some(name) if column > 3 && !name.is_empty() => {
                    labelled.push(format!("{}: {}", inline(name, true), inline(cell, true)));
                }
                _ => parts.push(inline(cell, true)),
            }
        }
        out.control("TP", &[]);
        out.text(&inline(key, true));
        out.text(&parts.join("; "));
        for line in labelled {
            out.control("br", &[]);
            out.text(&line);
        }
    }
}

/// Splits `markdown` into blocks.
fn parse(markdown: &str) -> Vec<Block> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut blocks = Vec::new();
    let mut para: Vec<String> = Vec::new();
    let mut place = Place::Top;
    // Inside a list: indented lines continue the current item.
    let mut in_list = false;
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        let trimmed = raw.trim_start();
        let indent = raw.len() - trimmed.len();
        i += 1;
        if trimmed.is_empty() {
            flush(&mut blocks, &mut para, place);
            continue;
        }
        if trimmed.starts_with("```") {
            flush(&mut blocks, &mut para, place);
            let in_item = in_list && indent > 0;
            let mut code = Vec::new();
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                code.push(strip_indent(lines[i], indent).to_owned());
                i += 1;
            }
            // Skip the closing fence (an unclosed block runs to the end, as in CommonMark).
            i += 1;
            blocks.push(Block::Code(code, in_item));
            place = Place::InItem;
            continue;
        }
        if indent == 0 {
            if let Some((level, heading)) = heading(trimmed) {
                flush(&mut blocks, &mut para, place);
                in_list = false;
                blocks.push(Block::Heading(level, heading.to_owned()));
                continue;
            }
            if trimmed.starts_with('|') {
                flush(&mut blocks, &mut para, place);
                in_list = false;
                let start = i - 1;
                while i < lines.len() && lines[i].trim_start().starts_with('|') {
                    i += 1;
                }
                blocks.push(parse_table(&lines[start..i]));
                continue;
            }
            if let Some(item) = trimmed.strip_prefix("- ").or(trimmed.strip_prefix("* ")) {
                flush(&mut blocks, &mut para, place);
                in_list = true;
                place = Place::Item;
                para.push(item.trim_start().to_owned());
                continue;
            }
        }
        if para.is_empty() {
            if in_list && indent > 0 {
                place = Place::InItem;
            } else {
                in_list = false;
                place = Place::Top;
            }
        }
        // A line without indentation right after an item's text continues it (CommonMark's
        // lazy continuation), as does any indented line.
        para.push(trimmed.to_owned());
    }
    flush(&mut blocks, &mut para, place);
    blocks
}

/// Ends the paragraph being collected, if any.
fn flush(blocks: &mut Vec<Block>, para: &mut Vec<String>, place: Place) {
    if !para.is_empty() {
        blocks.push(Block::Paragraph(std::mem::take(para), place));
    }
}

/// Removes up to `indent` leading spaces: code inside a list item is indented like its fence.
fn strip_indent(line: &str, indent: usize) -> &str {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    &line[spaces.min(indent)..]
}

/// The level and text of an ATX heading (`## Text`), if `line` is one.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.len() - line.trim_start_matches('#').len();
    let rest = &line[level..];
    if (1..=6).contains(&level) && rest.starts_with(' ') {
        Some((level, rest.trim().trim_end_matches('#').trim_end()))
    } else {
        None
    }
}

/// Parses the lines of a pipe table: a header row, a `|---|` delimiter row, body rows.
fn parse_table(lines: &[&str]) -> Block {
    let mut rows = lines.iter().map(|line| cells(line));
    let header = rows.next().unwrap_or_default();
    let body = rows
        .filter(|row| !row.iter().all(|cell| is_delimiter(cell)))
        .collect();
    Block::Table(header, body)
}

/// Whether `cell` is a cell of the delimiter row (`---`, `:---:`).
fn is_delimiter(cell: &str) -> bool {
    !cell.is_empty() && cell.chars().all(|c| matches!(c, '-' | ':' | ' '))
}

/// The trimmed cells of one table row. A `|` inside a code span or escaped as `\|` does not
/// split cells.
fn cells(line: &str) -> Vec<String> {
    let line = line.trim();
    let line = line.strip_prefix('|').unwrap_or(line);
    let line = line.strip_suffix('|').unwrap_or(line);
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut in_code = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '`' => {
                in_code = !in_code;
                cell.push(c);
            }
            '|' if !in_code => cells.push(std::mem::take(&mut cell).trim().to_owned()),
            c => cell.push(c),
        }
    }
    cells.push(cell.trim().to_owned());
    cells
}

/// Renders inline Markdown as escaped roff text. With `fonts`, code spans and `**bold**` are
/// set in bold (`\fB..\fR`); without, they are plain (for headings, which are bold already).
pub(crate) fn inline(s: &str, fonts: bool) -> String {
    let mut out = String::new();
    // Plain text waiting to be escaped in one piece, so that the hyphen rule sees the word.
    let mut plain = String::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '\\' {
            if let Some(next) = rest[1..].chars().next().filter(char::is_ascii_punctuation) {
                plain.push(next);
                rest = &rest[1 + next.len_utf8()..];
                continue;
            }
        }
        if c == '`' {
            let ticks = rest.len() - rest.trim_start_matches('`').len();
            let fence = &rest[..ticks];
            if let Some(end) = rest[ticks..].find(fence) {
                let code = &rest[ticks..ticks + end];
                let code = match code.strip_prefix(' ').and_then(|c| c.strip_suffix(' ')) {
                    Some(inner) if !inner.trim().is_empty() => inner,
                    _ => code,
                };
                out.push_str(&roff::text(&std::mem::take(&mut plain)));
                // `\%` keeps groff from hyphenating a key or a command at a line end.
                push_font(&mut out, &format!("\\%{}", roff::literal(code)), fonts);
                rest = &rest[2 * ticks + end..];
                continue;
            }
            plain.push_str(fence);
            rest = &rest[ticks..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("**") {
            if let Some(end) = after.find("**") {
                out.push_str(&roff::text(&std::mem::take(&mut plain)));
                push_font(&mut out, &inline(&after[..end], false), fonts);
                rest = &after[end + 2..];
                continue;
            }
        }
        if c == '[' {
            if let Some((text, consumed)) = link(rest) {
                out.push_str(&roff::text(&std::mem::take(&mut plain)));
                out.push_str(&inline(text, fonts));
                rest = &rest[consumed..];
                continue;
            }
        }
        plain.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.push_str(&roff::text(&plain));
    out
}

/// Writes escaped text in bold (or plain without `fonts`).
fn push_font(out: &mut String, escaped: &str, fonts: bool) {
    if fonts {
        out.push_str("\\fB");
        out.push_str(escaped);
        out.push_str("\\fR");
    } else {
        out.push_str(escaped);
    }
}

/// If `s` starts with a link `[text](target)`, its text and the length of the whole link. The
/// text may hold brackets and code spans (config.md links `` [`[[forward-zone]]`](#forward-zone) ``).
fn link(s: &str) -> Option<(&str, usize)> {
    let mut depth = 0usize;
    let mut in_code = false;
    for (i, c) in s.char_indices() {
        match c {
            '`' => in_code = !in_code,
            '[' if !in_code => depth += 1,
            ']' if !in_code => {
                depth -= 1;
                if depth == 0 {
                    let after = s[i + 1..].strip_prefix('(')?;
                    let close = after.find(')')?;
                    return Some((&s[1..i], i + 2 + close + 1));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders a whole document for the tests.
    fn page(md: &str) -> String {
        let mut out = Roff::new();
        render(md, &mut out, None);
        out.finish()
    }

    #[test]
    fn code_spans_become_bold_with_minus_hyphens() {
        assert_eq!(
            inline("set `tcp-idle-timeout` in kebab-case", true),
            r"set \fB\%tcp\-idle\-timeout\fR in kebab-case"
        );
    }

    #[test]
    fn links_keep_their_text_even_with_brackets_and_code_inside() {
        assert_eq!(
            inline(
                "see [`[[forward-zone]]`](#forward-zone) and [RFC](https://x/)",
                true
            ),
            r"see \fB\%[[forward\-zone]]\fR and RFC"
        );
        assert_eq!(inline("a [b] c", true), "a [b] c");
    }

    #[test]
    fn bold_and_markdown_escapes_are_rendered() {
        assert_eq!(
            inline(r"**Strict.** 2 \* 3 \\ x", true),
            r"\fBStrict.\fR 2 * 3 \e x"
        );
    }

    #[test]
    fn table_rows_become_tagged_paragraphs() {
        let md = "| key | type | default | meaning | BIND |\n|---|---|---|---|---|\n\
                  | `listen` | list | `[]` | Where to `listen`. | `listen-on` |\n";
        let out = page(md);
        assert!(out.contains(".TP\n\\fB\\%listen\\fR\nlist; \\fB\\%[]\\fR; Where to \\fB\\%listen\\fR.\n.br\nBIND: \\fB\\%listen\\-on\\fR\n"), "{out}");
    }

    #[test]
    fn a_pipe_inside_a_code_span_does_not_split_the_cell() {
        assert_eq!(cells("| `a|b` | c \\| d |"), vec!["`a|b`", "c | d"]);
    }

    #[test]
    fn lists_with_indented_code_and_continuations_stay_in_the_item() {
        let md = "Intro\ntext.\n\n- **One.** first\n  more\n  ```text\n  .code -x \\ y\n  ```\n  after\n- Two\n\nOut.\n";
        assert_eq!(
            page(md),
            ".PP\nIntro\ntext.\n.IP \\(bu 2\n\\fBOne.\\fR first\nmore\n.IP\n.nf\n\\&.code \\-x \\e y\n.fi\n\
             .IP\nafter\n.IP \\(bu 2\nTwo\n.PP\nOut.\n"
        );
    }

    #[test]
    fn headings_become_sections_and_subsections() {
        let out = page("# Title\n## `[server]`\n### Sub\n```toml\nname = \".\"\n```\n");
        assert_eq!(
            out,
            ".SH\nTitle\n.SH\n\\%[server]\n.SS\nSub\n.PP\n.RS 4\n.nf\nname = \".\"\n.fi\n.RE\n"
        );
    }
}
